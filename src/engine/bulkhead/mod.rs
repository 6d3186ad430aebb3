//! The per-model bulkhead: at most `max_in_flight` attempts at once; the rest wait in a
//! bounded priority queue, interactive before background and first come, first served within
//! a class. A full queue rejects at once.
//!
//! A freed slot is handed straight to the best waiter, so a newcomer can never overtake the
//! queue. Waiting is cancel-safe: dropping the [`Bulkhead::acquire`] future (a deadline ran
//! out, the caller went away) removes the waiter, and a slot handed to it in the same instant
//! passes on to the next waiter, so no slot is ever lost.
//!
//! When the queue is full, an interactive arrival takes the place of the newest background
//! waiter, which is turned away with [`BulkheadFull`]; so a burst of background work cannot
//! lock out the person at the keyboard.

#[cfg(test)]
mod tests;

use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll};

use tokio::sync::oneshot;

use crate::config::BulkheadConfig;
use crate::engine::Priority;

/// One model's concurrency limit and waiting room. `Send + Sync`; clones share one bulkhead;
/// every method takes `&self`.
#[derive(Clone)]
pub struct Bulkhead {
    shared: Arc<Shared>,
}

/// The bulkhead and its queue are full.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "bulkhead full ({in_flight} in flight, {queued} queued); wait for a request to finish or raise the model's bulkhead size"
)]
pub struct BulkheadFull {
    pub in_flight: usize,
    pub queued: usize,
}

struct Shared {
    max_in_flight: usize,
    queue_capacity: usize,
    state: Mutex<State>,
}

struct State {
    /// Slots taken: by permits, and by waiters that were handed a slot and have not yet
    /// woken to take it.
    in_flight: usize,
    /// Waiters by class: `[interactive, background]`, each oldest first.
    queues: [VecDeque<Waiter>; 2],
    next_waiter: u64,
}

struct Waiter {
    id: u64,
    grant: oneshot::Sender<Grant>,
}

/// What a waiter is sent.
enum Grant {
    /// A slot, now counted in `in_flight`.
    Slot,
    /// Turned away to make room for an interactive arrival.
    Evicted(BulkheadFull),
}

impl Bulkhead {
    /// A bulkhead with `max_in_flight` slots and room for `queue_capacity` waiters. A
    /// `max_in_flight` of 0 acts as 1, so that requests are never parked for good (the
    /// configuration's validation reports it to the user).
    pub fn new(config: BulkheadConfig) -> Bulkhead {
        let state = State {
            in_flight: 0,
            queues: Default::default(),
            next_waiter: 0,
        };
        Bulkhead {
            shared: Arc::new(Shared {
                max_in_flight: config.max_in_flight.max(1),
                queue_capacity: config.queue_capacity,
                state: Mutex::new(state),
            }),
        }
    }

    /// Take a slot, waiting in the queue if all are busy.
    ///
    /// Returns `Err(BulkheadFull)` at once when the queue is full, except that an interactive
    /// caller facing a full queue takes the place of the newest background waiter, whose
    /// `acquire` then returns `Err(BulkheadFull)`. `on_queued(position)` is called once,
    /// synchronously and before waiting, if the caller must wait; `position` is 1 for the
    /// next to be served (interactive waiters count ahead of background ones).
    ///
    /// Cancel-safe: dropping the future while it waits leaves no trace in the queue, and a
    /// slot handed to it at that instant goes on to the next waiter.
    pub async fn acquire(
        &self,
        priority: Priority,
        on_queued: impl FnOnce(usize),
    ) -> Result<BulkheadPermit, BulkheadFull> {
        let (id, grant, position) = {
            let mut state = self.shared.lock();
            if state.in_flight < self.shared.max_in_flight && state.queued() == 0 {
                state.in_flight += 1;
                return Ok(self.permit());
            }
            if state.queued() >= self.shared.queue_capacity
                && !(priority == Priority::Interactive && state.evict_newest_background())
            {
                return Err(BulkheadFull {
                    in_flight: state.in_flight,
                    queued: state.queued(),
                });
            }
            let (tx, rx) = oneshot::channel();
            let id = state.next_waiter;
            state.next_waiter += 1;
            let class = class(priority);
            state.queues[class].push_back(Waiter { id, grant: tx });
            let ahead: usize = state.queues[..=class].iter().map(VecDeque::len).sum();
            (id, rx, ahead)
        };
        // From here on, dropping `waiting` takes the waiter out again.
        let waiting = Waiting {
            shared: &self.shared,
            class: class(priority),
            id,
            grant: Some(grant),
        };
        on_queued(position);
        waiting.await
    }

    /// Take a slot if one is free and nobody waits; never waits.
    pub fn try_acquire(&self) -> Option<BulkheadPermit> {
        let mut state = self.shared.lock();
        if state.in_flight < self.shared.max_in_flight && state.queued() == 0 {
            state.in_flight += 1;
            drop(state);
            Some(self.permit())
        } else {
            None
        }
    }

    /// Slots taken now.
    pub fn in_flight(&self) -> usize {
        self.shared.lock().in_flight
    }

    /// Waiters now.
    pub fn queued(&self) -> usize {
        self.shared.lock().queued()
    }

    /// `(max_in_flight, queue_capacity)`.
    pub fn capacity(&self) -> (usize, usize) {
        (self.shared.max_in_flight, self.shared.queue_capacity)
    }

    fn permit(&self) -> BulkheadPermit {
        BulkheadPermit {
            shared: Arc::clone(&self.shared),
        }
    }
}

impl std::fmt::Debug for Bulkhead {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let state = self.shared.lock();
        f.debug_struct("Bulkhead")
            .field("in_flight", &state.in_flight)
            .field("queued", &state.queued())
            .field("max_in_flight", &self.shared.max_in_flight)
            .field("queue_capacity", &self.shared.queue_capacity)
            .finish()
    }
}

fn class(priority: Priority) -> usize {
    match priority {
        Priority::Interactive => 0,
        Priority::Background => 1,
    }
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        // Nothing panics while holding this lock (no user code runs under it); should that
        // ever change, the counts are still whole, so carry on rather than wedge every caller.
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

impl State {
    fn queued(&self) -> usize {
        self.queues.iter().map(VecDeque::len).sum()
    }

    /// Give a slot back: straight to the best waiter if there is one, else free it.
    fn release(&mut self) {
        while let Some(waiter) = self.queues.iter_mut().find_map(VecDeque::pop_front) {
            // A waiter's receiver lives as long as its queue entry (its drop removes the entry
            // under this lock first), so this send succeeds; should it not, try the next one.
            if waiter.grant.send(Grant::Slot).is_ok() {
                return;
            }
        }
        self.in_flight = self.in_flight.saturating_sub(1);
    }

    /// Turn away the newest background waiter to make room; false when there is none.
    fn evict_newest_background(&mut self) -> bool {
        let Some(evicted) = self.queues[class(Priority::Background)].pop_back() else {
            return false;
        };
        // The queue it was counted in was full, so report it as such.
        let full = BulkheadFull {
            in_flight: self.in_flight,
            queued: self.queued() + 1,
        };
        // A failed send means the waiter is already gone; either way its place is free.
        let _ = evicted.grant.send(Grant::Evicted(full));
        true
    }
}

/// A slot in the bulkhead, freed (handed to the best waiter) when dropped.
#[must_use = "the slot is freed as soon as the permit is dropped"]
pub struct BulkheadPermit {
    shared: Arc<Shared>,
}

impl Drop for BulkheadPermit {
    fn drop(&mut self) {
        self.shared.lock().release();
    }
}

impl std::fmt::Debug for BulkheadPermit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("BulkheadPermit")
    }
}

/// A queued waiter; resolves when handed a slot. Dropping it unresolved leaves the queue.
struct Waiting<'a> {
    shared: &'a Arc<Shared>,
    class: usize,
    id: u64,
    /// `None` once the slot has been taken as a permit.
    grant: Option<oneshot::Receiver<Grant>>,
}

impl Future for Waiting<'_> {
    type Output = Result<BulkheadPermit, BulkheadFull>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let Some(grant) = self.grant.as_mut() else {
            // Polled after completion: report the state rather than panic.
            return Poll::Ready(Err(self.full_now()));
        };
        match Pin::new(grant).poll(cx) {
            Poll::Pending => Poll::Pending,
            Poll::Ready(result) => {
                self.grant = None;
                Poll::Ready(match result {
                    Ok(Grant::Evicted(full)) => Err(full),
                    Ok(Grant::Slot) => Ok(BulkheadPermit {
                        shared: Arc::clone(self.shared),
                    }),
                    // The sender is dropped only after sending or by our own removal, neither
                    // of which leaves us here; answer as a full bulkhead rather than panic.
                    Err(_) => Err(self.full_now()),
                })
            }
        }
    }
}

impl Waiting<'_> {
    fn full_now(&self) -> BulkheadFull {
        let state = self.shared.lock();
        BulkheadFull {
            in_flight: state.in_flight,
            queued: state.queued(),
        }
    }
}

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        let Some(mut grant) = self.grant.take() else {
            return;
        };
        let mut state = self.shared.lock();
        let queue = &mut state.queues[self.class];
        if let Some(at) = queue.iter().position(|w| w.id == self.id) {
            // Still waiting: leave without trace.
            queue.remove(at);
        } else if let Ok(Grant::Slot) = grant.try_recv() {
            // Handed a slot in the same instant it gave up: pass the slot on.
            state.release();
        }
    }
}
