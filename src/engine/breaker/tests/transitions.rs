//! Closed, open, half-open and back: thresholds, exact open periods and the backoff.

use std::time::Duration;

use tokio::time::advance;

use super::*;

#[tokio::test(start_paused = true)]
async fn opens_after_two_consecutive_failures() {
    let (b, mut rx) = breaker();

    fail(&b);
    assert_eq!(b.state(), BreakerState::Closed);
    assert_eq!(b.view().consecutive_failures, 1);
    fail(&b);

    let view = b.view();
    assert_eq!(view.state, BreakerState::Open);
    assert_eq!(view.consecutive_failures, 2);
    assert_eq!(view.next_probe_in, Some(secs(10)));
    assert_eq!(view.open_period, secs(10));
    assert_eq!(view.times_opened, 1);
    assert_eq!(b.try_acquire().unwrap_err(), secs(10));
    assert_eq!(
        transitions(&mut rx),
        vec![(
            BreakerState::Closed,
            BreakerState::Open,
            "2 consecutive failures; last: connection refused".to_string(),
            Some(secs(10)),
        )]
    );
}

#[tokio::test(start_paused = true)]
async fn a_success_resets_the_failure_count() {
    let (b, mut rx) = breaker();
    fail(&b);
    succeed(&b);
    assert_eq!(b.view().consecutive_failures, 0);
    fail(&b);
    assert_eq!(b.state(), BreakerState::Closed);
    assert_eq!(b.view().consecutive_failures, 1);
    assert!(transitions(&mut rx).is_empty());
}

#[tokio::test(start_paused = true)]
async fn open_rejects_for_exactly_the_open_period_then_goes_half_open() {
    let (b, mut rx) = breaker();
    open_it(&b);
    transitions(&mut rx);

    advance(secs(10) - MS).await;
    assert_eq!(b.try_acquire().unwrap_err(), MS);
    assert_eq!(b.view().next_probe_in, Some(MS));
    assert!(transitions(&mut rx).is_empty());

    advance(MS).await;
    let probe = b.try_acquire().expect("probe admitted");
    assert!(probe.is_probe());
    assert_eq!(b.state(), BreakerState::HalfOpen);
    assert_eq!(b.view().next_probe_in, None);
    assert_eq!(
        transitions(&mut rx),
        vec![(
            BreakerState::Open,
            BreakerState::HalfOpen,
            "open period of 10 s over".into(),
            None
        )]
    );
    probe.success();
}

#[tokio::test(start_paused = true)]
async fn half_open_turns_to_half_open_on_view_alone() {
    let (b, _rx) = breaker();
    open_it(&b);
    advance(secs(10)).await;
    assert_eq!(b.view().state, BreakerState::HalfOpen);
}

#[tokio::test(start_paused = true)]
async fn a_probe_success_closes_it() {
    let (b, mut rx) = breaker();
    open_it(&b);
    advance(secs(10)).await;
    transitions(&mut rx);

    b.try_acquire().expect("probe").success();

    let view = b.view();
    assert_eq!(view.state, BreakerState::Closed);
    assert_eq!(view.consecutive_failures, 0);
    assert_eq!(
        transitions(&mut rx),
        vec![
            (
                BreakerState::Open,
                BreakerState::HalfOpen,
                "open period of 10 s over".into(),
                None
            ),
            (
                BreakerState::HalfOpen,
                BreakerState::Closed,
                "probe succeeded".into(),
                None
            ),
        ]
    );
    assert!(!b.try_acquire().expect("closed admits").is_probe());
}

#[tokio::test(start_paused = true)]
async fn failed_recoveries_double_the_open_period_up_to_the_cap() {
    let (b, mut rx) = breaker();
    open_it(&b);

    for expected in [20, 40, 40, 40] {
        let before = b.view().open_period;
        assert_eq!(b.view().state, BreakerState::Open);
        fail_recovery(&b, before).await;
        let view = b.view();
        assert_eq!(view.state, BreakerState::Open);
        assert_eq!(view.open_period, secs(expected));
        assert_eq!(view.next_probe_in, Some(secs(expected)));
        assert_eq!(b.try_acquire().unwrap_err(), secs(expected));
        // Exactly that long: rejected a millisecond before the end, a probe at the end.
        advance(secs(expected) - MS).await;
        assert_eq!(b.try_acquire().unwrap_err(), MS);
        advance(MS).await;
        let probe = b.try_acquire().expect("probe at the end of the period");
        // Put it back in the same open period for the next round.
        drop(probe);
        b.trip();
        // Trip keeps the current period: the backoff only grows on failed recoveries.
        assert_eq!(b.view().open_period, secs(expected));
        // The loop's next round waits out this period and fails its probe.
    }

    let opened: Vec<Option<Duration>> = transitions(&mut rx)
        .into_iter()
        .filter(|(_, to, reason, _)| *to == BreakerState::Open && reason.starts_with("probe"))
        .map(|(_, _, _, open_for)| open_for)
        .collect();
    assert_eq!(
        opened,
        vec![
            Some(secs(20)),
            Some(secs(40)),
            Some(secs(40)),
            Some(secs(40))
        ]
    );
}

#[tokio::test(start_paused = true)]
async fn open_periods_are_10_20_40_seconds_on_successive_failed_probes() {
    let (b, mut rx) = breaker();
    open_it(&b);
    fail_recovery(&b, secs(10)).await;
    fail_recovery(&b, secs(20)).await;
    fail_recovery(&b, secs(40)).await;
    assert_eq!(b.view().next_probe_in, Some(secs(40)));

    let periods: Vec<_> = transitions(&mut rx)
        .into_iter()
        .filter(|(_, to, _, _)| *to == BreakerState::Open)
        .map(|(from, _, reason, open_for)| (from, reason, open_for.unwrap()))
        .collect();
    assert_eq!(
        periods,
        vec![
            (
                BreakerState::Closed,
                "2 consecutive failures; last: connection refused".into(),
                secs(10)
            ),
            (
                BreakerState::HalfOpen,
                "probe failed: timed out".into(),
                secs(20)
            ),
            (
                BreakerState::HalfOpen,
                "probe failed: timed out".into(),
                secs(40)
            ),
            (
                BreakerState::HalfOpen,
                "probe failed: timed out".into(),
                secs(40)
            ),
        ]
    );
}

#[tokio::test(start_paused = true)]
async fn a_clean_close_returns_the_open_period_to_the_base() {
    let (b, _rx) = breaker();
    open_it(&b);
    fail_recovery(&b, secs(10)).await;
    fail_recovery(&b, secs(20)).await;
    assert_eq!(b.view().open_period, secs(40));

    advance(secs(40)).await;
    b.try_acquire().expect("probe").success();
    assert_eq!(b.view().open_period, secs(10));

    open_it(&b);
    assert_eq!(b.try_acquire().unwrap_err(), secs(10));
}

#[tokio::test(start_paused = true)]
async fn a_reopening_sets_a_fresh_deadline() {
    let (b, _rx) = breaker();
    open_it(&b);
    advance(secs(10)).await;
    let probe = b.try_acquire().expect("probe");
    // The probe fails 7 s into its attempt: the new period runs from then.
    advance(secs(7)).await;
    probe.failure("stream cut");
    assert_eq!(b.try_acquire().unwrap_err(), secs(20));
}

#[tokio::test(start_paused = true)]
async fn half_open_reports_the_period_a_failing_probe_would_bring() {
    let (b, _rx) = breaker();
    open_it(&b);
    advance(secs(10)).await;
    let view = b.view();
    assert_eq!(view.state, BreakerState::HalfOpen);
    assert_eq!(view.open_period, secs(20));
}

#[tokio::test(start_paused = true)]
async fn times_opened_counts_each_opening() {
    let (b, _rx) = breaker();
    open_it(&b);
    fail_recovery(&b, secs(10)).await;
    b.trip();
    b.reset();
    b.trip();
    assert_eq!(b.view().times_opened, 3);
}

#[tokio::test(start_paused = true)]
async fn degenerate_settings_are_made_safe() {
    let config = BreakerConfig {
        failure_threshold: 0,
        half_open_probes: 0,
        open_max: secs(1),
        ..BreakerConfig::default()
    };
    let (b, _rx) = breaker_with(config);
    fail(&b);
    assert_eq!(b.state(), BreakerState::Open, "a threshold of 0 acts as 1");
    advance(secs(10)).await;
    let probe = b
        .try_acquire()
        .expect("one probe even when 0 are configured");
    probe.failure("refused");
    assert_eq!(
        b.view().open_period,
        secs(10),
        "the cap is never below the base"
    );
}
