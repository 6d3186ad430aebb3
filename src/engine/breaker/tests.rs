//! State-by-state tests of the breaker on a paused clock.

use std::sync::{Arc, Barrier};
use std::time::Duration;

use tokio::sync::broadcast;
use tokio::time::advance;

use super::*;
use crate::config::FailureRateConfig;

const MS: Duration = Duration::from_millis(1);

fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

/// The defaults: opens after 2 failures for 10 s, doubling to 40 s; 1 probe; 60 s probe limit.
fn breaker_with(config: BreakerConfig) -> (Breaker, broadcast::Receiver<Event>) {
    let bus = EventBus::new(1024);
    let rx = bus.subscribe();
    (Breaker::new(Arc::from("gemma3:1b"), config, bus), rx)
}

fn breaker() -> (Breaker, broadcast::Receiver<Event>) {
    breaker_with(BreakerConfig::default())
}

type Seen = (BreakerState, BreakerState, String, Option<Duration>);

/// The breaker transitions published since the last call.
fn transitions(rx: &mut broadcast::Receiver<Event>) -> Vec<Seen> {
    let mut seen = Vec::new();
    while let Ok(event) = rx.try_recv() {
        if let Event::Breaker {
            model,
            from,
            to,
            reason,
            open_for,
        } = event
        {
            assert_eq!(&*model, "gemma3:1b");
            seen.push((from, to, reason, open_for));
        }
    }
    seen
}

fn fail(b: &Breaker) {
    b.try_acquire()
        .expect("admitted")
        .failure("connection refused");
}

fn succeed(b: &Breaker) {
    b.try_acquire().expect("admitted").success();
}

/// Closed → open with two failures, at the current instant.
fn open_it(b: &Breaker) {
    fail(b);
    fail(b);
    assert_eq!(b.state(), BreakerState::Open);
}

/// From open: wait out `period`, then fail the probe.
async fn fail_recovery(b: &Breaker, period: Duration) {
    advance(period).await;
    let probe = b
        .try_acquire()
        .expect("probe admitted after the open period");
    assert!(probe.is_probe());
    probe.failure("timed out");
}

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
async fn manual_trip_opens_now_and_recovers_normally() {
    let (b, mut rx) = breaker();
    b.trip();

    let view = b.view();
    assert_eq!(view.state, BreakerState::Open);
    assert_eq!(view.times_opened, 1);
    assert_eq!(b.try_acquire().unwrap_err(), secs(10));
    assert_eq!(
        transitions(&mut rx),
        vec![(
            BreakerState::Closed,
            BreakerState::Open,
            "tripped by hand".into(),
            Some(secs(10))
        )]
    );

    advance(secs(10)).await;
    b.try_acquire().expect("probe").success();
    assert_eq!(b.state(), BreakerState::Closed);
}

#[tokio::test(start_paused = true)]
async fn tripping_an_open_breaker_restarts_its_period() {
    let (b, mut rx) = breaker();
    open_it(&b);
    advance(secs(6)).await;
    transitions(&mut rx);

    b.trip();

    assert_eq!(b.try_acquire().unwrap_err(), secs(10));
    assert_eq!(b.view().times_opened, 1);
    assert_eq!(
        transitions(&mut rx),
        vec![(
            BreakerState::Open,
            BreakerState::Open,
            "tripped by hand".into(),
            Some(secs(10))
        )]
    );
}

#[tokio::test(start_paused = true)]
async fn manual_trip_during_half_open_makes_the_probe_stale() {
    let (b, _rx) = breaker();
    open_it(&b);
    advance(secs(10)).await;
    let probe = b.try_acquire().expect("probe");
    b.trip();
    probe.success();
    assert_eq!(b.state(), BreakerState::Open);
}

#[tokio::test(start_paused = true)]
async fn manual_reset_closes_and_clears_counts_and_backoff() {
    let (b, mut rx) = breaker();
    open_it(&b);
    fail_recovery(&b, secs(10)).await;
    fail_recovery(&b, secs(20)).await;
    transitions(&mut rx);

    b.reset();

    let view = b.view();
    assert_eq!(view.state, BreakerState::Closed);
    assert_eq!(view.consecutive_failures, 0);
    assert_eq!(view.open_period, secs(10));
    assert_eq!(view.next_probe_in, None);
    assert_eq!(
        transitions(&mut rx),
        vec![(
            BreakerState::Open,
            BreakerState::Closed,
            "reset by hand".into(),
            None
        )]
    );
    fail(&b);
    assert_eq!(
        b.state(),
        BreakerState::Closed,
        "the failure count was cleared"
    );
    fail(&b);
    assert_eq!(
        b.try_acquire().unwrap_err(),
        secs(10),
        "the backoff was cleared"
    );
}

#[tokio::test(start_paused = true)]
async fn reset_of_a_closed_breaker_clears_its_count_without_an_event() {
    let (b, mut rx) = breaker();
    let earlier = b.try_acquire().expect("closed");
    fail(&b);
    b.reset();
    assert_eq!(b.view().consecutive_failures, 0);
    // A permit from before the reset no longer counts.
    earlier.failure("refused");
    fail(&b);
    assert_eq!(b.state(), BreakerState::Closed);
    assert!(transitions(&mut rx).is_empty());
}

#[tokio::test(start_paused = true)]
async fn half_open_admits_exactly_one_probe_by_default() {
    let (b, _rx) = breaker();
    open_it(&b);
    advance(secs(10)).await;
    let probe = b.try_acquire().expect("probe");
    // The others wait at most until the probe's time limit runs out.
    assert_eq!(b.try_acquire().unwrap_err(), secs(60));
    advance(secs(1)).await;
    assert_eq!(b.try_acquire().unwrap_err(), secs(59));
    probe.success();
}

/// 100 threads race for the probe slots of a half-open breaker with 3 of them.
#[tokio::test(start_paused = true)]
async fn half_open_admits_exactly_n_probes_among_100_racing_callers() {
    let config = BreakerConfig {
        half_open_probes: 3,
        ..BreakerConfig::default()
    };
    let (b, _rx) = breaker_with(config);
    open_it(&b);
    advance(secs(10)).await;

    let handle = tokio::runtime::Handle::current();
    let start = Barrier::new(100);
    let admitted: Vec<BreakerPermit> = std::thread::scope(|scope| {
        let racers: Vec<_> = (0..100)
            .map(|_| {
                scope.spawn(|| {
                    // The runtime's paused clock, not the wall clock, must drive the breaker.
                    let _clock = handle.enter();
                    start.wait();
                    b.try_acquire().ok()
                })
            })
            .collect();
        racers
            .into_iter()
            .filter_map(|r| r.join().expect("racer panicked"))
            .collect()
    });

    assert_eq!(admitted.len(), 3);
    assert!(admitted.iter().all(BreakerPermit::is_probe));
    assert_eq!(b.state(), BreakerState::HalfOpen);
    let mut admitted = admitted.into_iter();
    admitted.next().expect("three").success();
    assert_eq!(b.state(), BreakerState::Closed);
    // The other probes are from a phase that has ended: their reports change nothing.
    for late in admitted {
        late.failure("refused");
    }
    assert_eq!(b.view().consecutive_failures, 0);
}

#[tokio::test(start_paused = true)]
async fn a_cancelled_probe_returns_its_slot_to_the_next_caller() {
    let (b, mut rx) = breaker();
    open_it(&b);
    advance(secs(10)).await;
    let probe = b.try_acquire().expect("probe");
    assert!(b.try_acquire().is_err());
    transitions(&mut rx);

    drop(probe);

    // Neither a success nor a failure: still half-open, nothing counted, nothing published.
    let view = b.view();
    assert_eq!(view.state, BreakerState::HalfOpen);
    assert_eq!(view.consecutive_failures, 2);
    assert!(transitions(&mut rx).is_empty());
    let next = b.try_acquire().expect("the slot came back");
    assert!(next.is_probe());
    next.success();
    assert_eq!(b.state(), BreakerState::Closed);
}

#[tokio::test(start_paused = true)]
async fn a_dropped_closed_permit_counts_nothing() {
    let (b, _rx) = breaker();
    fail(&b);
    drop(b.try_acquire().expect("closed"));
    assert_eq!(b.view().consecutive_failures, 1);
    drop(b.try_acquire().expect("closed"));
    fail(&b);
    assert_eq!(b.state(), BreakerState::Open);
}

#[tokio::test(start_paused = true)]
async fn a_hung_probe_cannot_wedge_the_breaker() {
    let (b, mut rx) = breaker();
    open_it(&b);
    advance(secs(10)).await;
    let hung = b.try_acquire().expect("probe");
    transitions(&mut rx);

    advance(secs(60) - MS).await;
    assert_eq!(b.state(), BreakerState::HalfOpen);
    assert_eq!(b.try_acquire().unwrap_err(), MS);

    advance(MS).await;
    let view = b.view();
    assert_eq!(view.state, BreakerState::Open);
    assert_eq!(view.next_probe_in, Some(secs(20)));
    assert_eq!(view.consecutive_failures, 3);
    assert_eq!(
        transitions(&mut rx),
        vec![(
            BreakerState::HalfOpen,
            BreakerState::Open,
            "probe unfinished after 60 s".into(),
            Some(secs(20))
        )]
    );

    // Later it recovers through a fresh probe; the hung one's late word changes nothing.
    advance(secs(20)).await;
    let fresh = b.try_acquire().expect("fresh probe");
    hung.success();
    assert_eq!(
        b.state(),
        BreakerState::HalfOpen,
        "a stale success must not close it"
    );
    assert!(
        b.try_acquire().is_err(),
        "the fresh probe still holds the only slot"
    );
    fresh.success();
    assert_eq!(b.state(), BreakerState::Closed);
}

#[tokio::test(start_paused = true)]
async fn a_stale_probe_failure_does_not_reopen() {
    let (b, _rx) = breaker();
    open_it(&b);
    advance(secs(10)).await;
    let hung = b.try_acquire().expect("probe");
    advance(secs(60) + secs(20)).await;
    b.try_acquire().expect("fresh probe").success();
    assert_eq!(b.state(), BreakerState::Closed);

    hung.failure("finally timed out");
    let view = b.view();
    assert_eq!(view.state, BreakerState::Closed);
    assert_eq!(view.consecutive_failures, 0);
}

#[tokio::test(start_paused = true)]
async fn permits_from_before_opening_do_not_count_once_open() {
    let (b, mut rx) = breaker();
    let in_flight: Vec<_> = (0..3).map(|_| b.try_acquire().expect("closed")).collect();
    let mut in_flight = in_flight.into_iter();
    in_flight.next().unwrap().failure("refused");
    in_flight.next().unwrap().failure("refused");
    transitions(&mut rx);

    advance(secs(3)).await;
    in_flight.next().unwrap().failure("refused");

    let view = b.view();
    assert_eq!(
        view.next_probe_in,
        Some(secs(7)),
        "the deadline did not move"
    );
    assert_eq!(view.consecutive_failures, 2);
    assert!(transitions(&mut rx).is_empty());
}

#[tokio::test(start_paused = true)]
async fn a_hung_probe_noticed_late_reopens_from_when_it_ran_out() {
    let (b, mut rx) = breaker();
    open_it(&b);
    advance(secs(10)).await;
    let _hung = b.try_acquire().expect("probe");
    transitions(&mut rx);

    // Nobody asks until well after the probe limit and the following 20 s open period.
    advance(secs(60) + secs(20) + secs(5)).await;

    assert_eq!(b.state(), BreakerState::HalfOpen);
    let seen: Vec<_> = transitions(&mut rx)
        .into_iter()
        .map(|(f, t, _, o)| (f, t, o))
        .collect();
    assert_eq!(
        seen,
        vec![
            (BreakerState::HalfOpen, BreakerState::Open, Some(secs(20))),
            (BreakerState::Open, BreakerState::HalfOpen, None),
        ]
    );
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

fn rate_config() -> BreakerConfig {
    BreakerConfig {
        failure_threshold: 100,
        failure_rate: Some(FailureRateConfig {
            window: 10,
            min_calls: 5,
            threshold: 0.5,
        }),
        ..BreakerConfig::default()
    }
}

#[tokio::test(start_paused = true)]
async fn failure_rate_opens_once_enough_calls_are_judged() {
    let (b, mut rx) = breaker_with(rate_config());
    succeed(&b);
    fail(&b);
    succeed(&b);
    fail(&b);
    assert_eq!(
        b.state(),
        BreakerState::Closed,
        "4 calls are fewer than min_calls"
    );

    fail(&b);

    assert_eq!(b.state(), BreakerState::Open);
    assert_eq!(
        transitions(&mut rx),
        vec![(
            BreakerState::Closed,
            BreakerState::Open,
            "failure rate 60 % over the last 5 calls; last: connection refused".into(),
            Some(secs(10)),
        )]
    );
}

#[tokio::test(start_paused = true)]
async fn failure_rate_below_the_threshold_stays_closed() {
    let (b, _rx) = breaker_with(rate_config());
    for _ in 0..10 {
        succeed(&b);
        succeed(&b);
        fail(&b);
    }
    assert_eq!(b.state(), BreakerState::Closed);
}

#[tokio::test(start_paused = true)]
async fn failure_rate_counts_only_the_last_window_of_calls() {
    let (b, _rx) = breaker_with(rate_config());
    for _ in 0..10 {
        succeed(&b);
    }
    for _ in 0..4 {
        fail(&b);
    }
    assert_eq!(b.state(), BreakerState::Closed, "4 of the last 10 failed");
    // 5 of all 15 calls would be 33 %; 5 of the last 10 is 50 %.
    fail(&b);
    assert_eq!(b.state(), BreakerState::Open, "5 of the last 10 failed");
}

#[tokio::test(start_paused = true)]
async fn failure_rate_window_starts_afresh_after_a_clean_close() {
    let (b, _rx) = breaker_with(rate_config());
    for _ in 0..4 {
        succeed(&b);
    }
    fail(&b);
    fail(&b);
    fail(&b);
    fail(&b);
    assert_eq!(b.state(), BreakerState::Open);
    advance(secs(10)).await;
    succeed(&b);
    // Had the old window survived, this failure would make 5 of 9.
    fail(&b);
    assert_eq!(b.state(), BreakerState::Closed);
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
