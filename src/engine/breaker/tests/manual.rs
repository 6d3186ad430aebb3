//! Trip and reset by hand.

use tokio::time::advance;

use super::*;

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
