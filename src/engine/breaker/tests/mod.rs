//! State-by-state tests of the breaker on a paused clock.

mod failure_rate;
mod manual;
mod probes;
mod transitions;

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::broadcast;
use tokio::time::advance;

use super::*;

const MS: Duration = Duration::from_millis(1);

fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

/// A breaker for one model, and a subscription to its events.
fn breaker_with(config: BreakerConfig) -> (Breaker, broadcast::Receiver<Event>) {
    let bus = EventBus::new(1024);
    let rx = bus.subscribe();
    (Breaker::new(Arc::from("gemma3:1b"), config, bus), rx)
}

/// The defaults: opens after 2 failures for 10 s, doubling to 40 s; 1 probe; 60 s probe limit.
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

#[test]
fn breaker_and_permits_can_be_shared_and_moved_across_tasks() {
    fn shareable<T: Send + Sync + 'static>() {}
    shareable::<Breaker>();
    shareable::<BreakerPermit>();
}
