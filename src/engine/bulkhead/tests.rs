//! Tests of the bulkhead: capacity, priority order, cancel safety and slot accounting.

use std::cell::Cell;
use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

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

/// Random arrivals, cancels (queued, or just handed a slot), grants taken late, try_acquire
/// and releases, each checked against a reference model of who should hold what; at the end
/// everything is back and a fresh acquire succeeds at once.
// Outside a runtime on purpose: tokio's cooperative budget would make a ready waiter report
// pending after many polls in one task, which is right for tasks but blurs this bookkeeping.
#[test]
fn no_slot_leaks_over_10_000_random_operations() {
    for seed in [1, 7, 42] {
        random_operations(seed, 10_000);
    }
}

/// Who should hold what: slots taken, the queue by class, and waiters handed a slot that
/// have not yet woken to take it.
#[derive(Default)]
struct Model {
    in_flight: usize,
    queues: [VecDeque<u64>; 2],
    granted: Vec<u64>,
    /// Background waiters turned away for an interactive arrival, not yet woken.
    evicted: Vec<u64>,
}

impl Model {
    const MAX: usize = 3;
    const QUEUE: usize = 8;

    fn queued(&self) -> usize {
        self.queues.iter().map(VecDeque::len).sum()
    }

    fn release(&mut self) {
        match self.queues.iter_mut().find_map(VecDeque::pop_front) {
            Some(next) => self.granted.push(next),
            None => self.in_flight -= 1,
        }
    }

    fn free_slot(&self) -> bool {
        self.in_flight < Self::MAX && self.queued() == 0
    }
}

fn random_operations(seed: u64, steps: usize) {
    let b = bulkhead(Model::MAX, Model::QUEUE);
    let mut model = Model::default();
    let mut rng = SmallRng::seed_from_u64(seed);
    let mut pending: Vec<(u64, Acquire<'_>)> = Vec::new();
    let mut held: Vec<BulkheadPermit> = Vec::new();
    let mut arrivals = 0u64;
    // How often the rare paths ran, so that the test shows it covered them.
    let (mut evictions, mut grants_given_up) = (0, 0);

    for step in 0..steps {
        match rng.random_range(0..6) {
            0 | 1 => {
                let priority = if rng.random_bool(0.5) {
                    Priority::Interactive
                } else {
                    Priority::Background
                };
                let mut waiter: Acquire<'_> = Box::pin(b.acquire(priority, |_| {}));
                let id = arrivals;
                arrivals += 1;
                match poll_once(waiter.as_mut()) {
                    Poll::Ready(Ok(permit)) => {
                        assert!(model.free_slot(), "step {step}: admitted past the queue");
                        model.in_flight += 1;
                        held.push(permit);
                    }
                    Poll::Ready(Err(full)) => {
                        assert!(
                            !model.free_slot() && model.queued() == Model::QUEUE,
                            "step {step}"
                        );
                        let no_background = model.queues[1].is_empty();
                        assert!(
                            priority == Priority::Background || no_background,
                            "step {step}"
                        );
                        assert_eq!(
                            full,
                            BulkheadFull {
                                in_flight: Model::MAX,
                                queued: Model::QUEUE
                            }
                        );
                    }
                    Poll::Pending => {
                        assert!(!model.free_slot(), "step {step}");
                        if model.queued() == Model::QUEUE {
                            assert_eq!(priority, Priority::Interactive, "step {step}");
                            let evicted = model.queues[1].pop_back();
                            model
                                .evicted
                                .push(evicted.expect("a background waiter to evict"));
                            evictions += 1;
                        }
                        model.queues[class(priority)].push_back(id);
                        pending.push((id, waiter));
                    }
                }
            }
            2 if !held.is_empty() => {
                drop(held.swap_remove(rng.random_range(0..held.len())));
                model.release();
            }
            3 if !pending.is_empty() => {
                let (id, waiter) = pending.remove(rng.random_range(0..pending.len()));
                drop(waiter);
                if let Some(at) = model.evicted.iter().position(|e| *e == id) {
                    model.evicted.remove(at);
                } else if let Some(at) = model.granted.iter().position(|g| *g == id) {
                    // Handed a slot it never took: the slot passes on.
                    model.granted.remove(at);
                    model.release();
                    grants_given_up += 1;
                } else {
                    for queue in &mut model.queues {
                        queue.retain(|q| *q != id);
                    }
                }
            }
            4 => {
                let taken = b.try_acquire();
                assert_eq!(taken.is_some(), model.free_slot(), "step {step}");
                if let Some(permit) = taken {
                    model.in_flight += 1;
                    held.push(permit);
                }
            }
            _ => {
                // Wake every waiter: exactly those handed a slot take it, and exactly those
                // turned away hear so.
                let (mut woke, mut refused, mut still) = (Vec::new(), Vec::new(), Vec::new());
                for (id, mut waiter) in pending.drain(..) {
                    match poll_once(waiter.as_mut()) {
                        Poll::Ready(Ok(permit)) => {
                            woke.push(id);
                            held.push(permit);
                        }
                        Poll::Ready(Err(_)) => refused.push(id),
                        Poll::Pending => still.push((id, waiter)),
                    }
                }
                pending = still;
                model.granted.sort_unstable();
                model.evicted.sort_unstable();
                assert_eq!(woke, model.granted, "step {step}");
                assert_eq!(refused, model.evicted, "step {step}");
                model.granted.clear();
                model.evicted.clear();
            }
        }
        assert_eq!(b.in_flight(), model.in_flight, "step {step}");
        assert_eq!(b.queued(), model.queued(), "step {step}");
        assert!(
            b.in_flight() <= Model::MAX && b.queued() <= Model::QUEUE,
            "step {step}"
        );
    }

    assert!(
        evictions > 0 && grants_given_up > 0,
        "seed {seed}: {evictions}, {grants_given_up}"
    );
    drop(pending);
    drop(held);
    assert_eq!((b.in_flight(), b.queued()), (0, 0), "seed {seed}");
    assert!(b.try_acquire().is_some(), "seed {seed}");
}

/// Real threads racing: tasks that take and release slots, some cancelled while queued.
#[test]
fn no_slot_leaks_under_contention_across_threads() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(4)
        .enable_time()
        .build()
        .expect("runtime");
    let b = Arc::new(bulkhead(3, 64));
    runtime.block_on(async {
        let mut tasks = Vec::new();
        for i in 0..200u32 {
            let b = Arc::clone(&b);
            tasks.push(tokio::spawn(async move {
                let priority = if i % 3 == 0 {
                    Priority::Background
                } else {
                    Priority::Interactive
                };
                for _ in 0..20 {
                    if let Ok(permit) = b.acquire(priority, |_| {}).await {
                        tokio::task::yield_now().await;
                        drop(permit);
                    }
                }
            }));
        }
        // Cancel every fourth task wherever it stands.
        for (i, task) in tasks.iter().enumerate() {
            if i % 4 == 0 {
                task.abort();
            }
        }
        for task in tasks {
            let _ = task.await;
        }
    });
    assert_eq!((b.in_flight(), b.queued()), (0, 0));
    assert!(b.try_acquire().is_some());
}
