//! Many operations in random order, checked against a model; and threads racing.

use std::collections::VecDeque;
use std::sync::Arc;

use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

use super::*;

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
