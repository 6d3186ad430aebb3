//! Half-open probes: exactly N, racing callers, cancelled, hung and stale probes.

use std::sync::Barrier;

use tokio::time::advance;

use super::*;

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
