//! Tests of the bulkhead: capacity, priority order, cancel safety and slot accounting.

mod random;

use std::cell::Cell;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use super::*;

type Acquire<'a> = Pin<Box<dyn Future<Output = Result<BulkheadPermit, BulkheadFull>> + 'a>>;

fn bulkhead(max_in_flight: usize, queue_capacity: usize) -> Bulkhead {
    Bulkhead::new(BulkheadConfig {
        max_in_flight,
        queue_capacity,
    })
}

fn poll_once<F: Future + ?Sized>(future: Pin<&mut F>) -> Poll<F::Output> {
    future.poll(&mut Context::from_waker(Waker::noop()))
}

/// An acquire future that has been polled once, so that it stands in the queue; with the
/// position it was told.
fn queue_up(b: &Bulkhead, priority: Priority) -> (Acquire<'_>, usize) {
    let told = Rc::new(Cell::new(0));
    let tell = Rc::clone(&told);
    let mut waiter: Acquire<'_> = Box::pin(b.acquire(priority, move |p| tell.set(p)));
    assert!(poll_once(waiter.as_mut()).is_pending(), "expected to wait");
    (waiter, told.get())
}

fn granted(waiter: &mut Acquire<'_>) -> Option<BulkheadPermit> {
    match poll_once(waiter.as_mut()) {
        Poll::Ready(Ok(permit)) => Some(permit),
        Poll::Ready(Err(full)) => panic!("a queued waiter was refused: {full}"),
        Poll::Pending => None,
    }
}

#[tokio::test(start_paused = true)]
async fn admits_up_to_max_in_flight_at_once_without_queueing() {
    let b = bulkhead(3, 16);
    let mut permits = Vec::new();
    for _ in 0..3 {
        permits.push(
            b.acquire(Priority::Interactive, |_| panic!("must not queue"))
                .await
                .unwrap(),
        );
    }
    assert_eq!(b.in_flight(), 3);
    assert_eq!(b.queued(), 0);
    assert!(b.try_acquire().is_none());
    drop(permits);
    assert_eq!(b.in_flight(), 0);
}

#[tokio::test(start_paused = true)]
async fn capacity_reports_the_configured_limits() {
    assert_eq!(bulkhead(3, 16).capacity(), (3, 16));
    assert_eq!(
        bulkhead(0, 4).capacity(),
        (1, 4),
        "0 slots would park every request for good"
    );
}

#[tokio::test(start_paused = true)]
async fn a_full_queue_rejects_at_once() {
    let b = bulkhead(1, 2);
    let _held = b.try_acquire().expect("free slot");
    let (_first, _) = queue_up(&b, Priority::Interactive);
    let (_second, _) = queue_up(&b, Priority::Interactive);

    for priority in [Priority::Interactive, Priority::Background] {
        let mut refused = Box::pin(b.acquire(priority, |_| panic!("must not queue")));
        match poll_once(refused.as_mut()) {
            Poll::Ready(Err(full)) => assert_eq!(
                full,
                BulkheadFull {
                    in_flight: 1,
                    queued: 2
                }
            ),
            other => panic!(
                "expected an immediate rejection, got {:?}",
                other.map(|r| r.is_ok())
            ),
        }
    }
    assert_eq!(b.queued(), 2);
}

#[tokio::test(start_paused = true)]
async fn a_background_arrival_is_refused_by_a_full_queue_even_of_background_waiters() {
    let b = bulkhead(1, 1);
    let _held = b.try_acquire().expect("free slot");
    let (_waiting, _) = queue_up(&b, Priority::Background);
    let refused = b
        .acquire(Priority::Background, |_| panic!("must not queue"))
        .await;
    assert_eq!(
        refused.unwrap_err(),
        BulkheadFull {
            in_flight: 1,
            queued: 1
        }
    );
}

#[tokio::test(start_paused = true)]
async fn an_interactive_arrival_takes_the_place_of_the_newest_background_waiter() {
    let b = bulkhead(1, 2);
    let held = b.try_acquire().expect("free slot");
    let (mut older, _) = queue_up(&b, Priority::Background);
    let (mut newer, _) = queue_up(&b, Priority::Background);

    let (mut person, position) = queue_up(&b, Priority::Interactive);

    assert_eq!(position, 1, "served first");
    assert_eq!(b.queued(), 2);
    match poll_once(newer.as_mut()) {
        Poll::Ready(Err(full)) => assert_eq!(
            full,
            BulkheadFull {
                in_flight: 1,
                queued: 2
            }
        ),
        other => panic!(
            "the newest background waiter should be turned away: {:?}",
            other.is_ready()
        ),
    }
    assert!(
        poll_once(older.as_mut()).is_pending(),
        "the older one keeps its place"
    );
    drop(held);
    let _slot = granted(&mut person).expect("the interactive waiter is served first");
    assert!(granted(&mut older).is_none());
}

#[tokio::test(start_paused = true)]
async fn a_queue_of_zero_rejects_as_soon_as_the_slots_are_taken() {
    let b = bulkhead(1, 0);
    let _held = b.try_acquire().expect("free slot");
    let refused = b
        .acquire(Priority::Interactive, |_| panic!("must not queue"))
        .await;
    assert_eq!(
        refused.unwrap_err(),
        BulkheadFull {
            in_flight: 1,
            queued: 0
        }
    );
}

#[tokio::test(start_paused = true)]
async fn interactive_is_served_before_background_and_each_class_in_arrival_order() {
    let b = bulkhead(1, 16);
    let held = b.try_acquire().expect("free slot");
    let (mut bg1, bg1_at) = queue_up(&b, Priority::Background);
    let (mut int1, int1_at) = queue_up(&b, Priority::Interactive);
    let (mut bg2, bg2_at) = queue_up(&b, Priority::Background);
    let (mut int2, int2_at) = queue_up(&b, Priority::Interactive);
    // Positions as told on arrival: interactive waiters count ahead of background ones.
    assert_eq!((bg1_at, int1_at, bg2_at, int2_at), (1, 1, 3, 2));
    assert_eq!(b.queued(), 4);

    let mut order = Vec::new();
    let mut slot = held;
    for _ in 0..4 {
        drop(slot);
        let mut next = None;
        for (name, waiter) in [
            ("int1", &mut int1),
            ("int2", &mut int2),
            ("bg1", &mut bg1),
            ("bg2", &mut bg2),
        ] {
            if order.contains(&name) {
                continue;
            }
            if let Some(permit) = granted(waiter) {
                assert!(next.is_none(), "two waiters got one slot");
                order.push(name);
                next = Some(permit);
            }
        }
        slot = next.expect("a freed slot goes to a waiter");
        assert_eq!(b.in_flight(), 1);
    }
    assert_eq!(order, ["int1", "int2", "bg1", "bg2"]);
    drop(slot);
    assert_eq!((b.in_flight(), b.queued()), (0, 0));
}

#[tokio::test(start_paused = true)]
async fn a_waiter_cancelled_in_the_queue_leaves_no_trace() {
    let b = bulkhead(1, 16);
    let held = b.try_acquire().expect("free slot");
    let (mut first, _) = queue_up(&b, Priority::Interactive);
    let (middle, _) = queue_up(&b, Priority::Interactive);
    let (mut last, last_at) = queue_up(&b, Priority::Interactive);
    assert_eq!(last_at, 3);

    drop(middle);
    assert_eq!(b.queued(), 2);
    assert_eq!(b.in_flight(), 1);

    // The others keep their order.
    drop(held);
    assert!(granted(&mut last).is_none());
    let first_slot = granted(&mut first).expect("first in line");
    drop(first_slot);
    assert!(granted(&mut last).is_some());
    assert_eq!(b.queued(), 0);
}

#[tokio::test(start_paused = true)]
async fn a_slot_granted_to_a_waiter_that_gives_up_passes_to_the_next() {
    let b = bulkhead(1, 16);
    let held = b.try_acquire().expect("free slot");
    let (first, _) = queue_up(&b, Priority::Interactive);
    let (mut second, _) = queue_up(&b, Priority::Background);

    // The slot is handed to `first`, which is dropped before it ever wakes to take it.
    drop(held);
    assert_eq!(b.queued(), 1);
    drop(first);

    assert_eq!(b.in_flight(), 1);
    let permit = granted(&mut second).expect("the slot passed on");
    drop(permit);
    assert_eq!((b.in_flight(), b.queued()), (0, 0));
}

#[tokio::test(start_paused = true)]
async fn a_slot_granted_to_the_last_waiter_that_gives_up_is_freed() {
    let b = bulkhead(1, 16);
    let held = b.try_acquire().expect("free slot");
    let (only, _) = queue_up(&b, Priority::Interactive);
    drop(held);
    drop(only);
    assert_eq!((b.in_flight(), b.queued()), (0, 0));
    assert!(b.try_acquire().is_some());
}

#[tokio::test(start_paused = true)]
async fn a_newcomer_cannot_overtake_a_waiter_handed_a_slot() {
    let b = bulkhead(1, 16);
    let held = b.try_acquire().expect("free slot");
    let (mut waiter, _) = queue_up(&b, Priority::Background);
    drop(held);
    assert!(
        b.try_acquire().is_none(),
        "the freed slot belongs to the waiter"
    );
    let mut newcomer = Box::pin(b.acquire(Priority::Interactive, |_| {}));
    assert!(poll_once(newcomer.as_mut()).is_pending());
    assert!(granted(&mut waiter).is_some());
}

#[tokio::test(start_paused = true)]
async fn queue_time_runs_out_under_a_deadline_and_the_waiter_leaves() {
    let b = bulkhead(1, 16);
    let held = b.try_acquire().expect("free slot");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    let queued_at = Cell::new(0);

    let waited = tokio::time::timeout_at(
        deadline,
        b.acquire(Priority::Interactive, |p| queued_at.set(p)),
    )
    .await;

    assert!(waited.is_err(), "the deadline ran out while queued");
    assert_eq!(queued_at.get(), 1);
    assert_eq!((b.in_flight(), b.queued()), (1, 0));
    drop(held);
    assert!(b.try_acquire().is_some());
}

#[tokio::test(start_paused = true)]
async fn a_waiter_is_woken_when_a_slot_frees() {
    let b = Arc::new(bulkhead(1, 16));
    let held = b.try_acquire().expect("free slot");
    let waiting = {
        let b = Arc::clone(&b);
        tokio::spawn(async move { b.acquire(Priority::Interactive, |_| {}).await.is_ok() })
    };
    while b.queued() == 0 {
        tokio::task::yield_now().await;
    }
    tokio::time::advance(Duration::from_secs(5)).await;
    drop(held);
    assert!(waiting.await.expect("task"));
    assert_eq!(b.in_flight(), 0);
}

#[test]
fn bulkhead_permits_and_waiting_can_cross_threads() {
    fn shareable<T: Send + Sync + 'static>() {}
    fn sendable<T: Send>(_: &T) {}
    shareable::<Bulkhead>();
    shareable::<BulkheadPermit>();
    let b = bulkhead(1, 1);
    sendable(&b.acquire(Priority::Background, |_| {}));
}
