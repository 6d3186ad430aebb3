//! Per-model bulkhead: a limit on requests in flight and a bounded waiting room.
//!
//! Stand-in with the agreed API so the engine compiles and its tests run: first come,
//! first served, priority ignored. The full bulkhead replaces this file when it lands.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::config::BulkheadConfig;
use crate::engine::Priority;

pub struct Bulkhead {
    config: BulkheadConfig,
    slots: Arc<Semaphore>,
    queued: Arc<AtomicUsize>,
}

/// A slot in flight; frees it on drop.
pub struct BulkheadPermit {
    _slot: OwnedSemaphorePermit,
}

/// The bulkhead and its queue are full.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BulkheadFull {
    pub in_flight: usize,
    pub queued: usize,
}

struct QueuedGuard(Arc<AtomicUsize>);

impl Drop for QueuedGuard {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

impl Bulkhead {
    pub fn new(config: BulkheadConfig) -> Bulkhead {
        Bulkhead {
            config,
            slots: Arc::new(Semaphore::new(config.max_in_flight)),
            queued: Arc::new(AtomicUsize::new(0)),
        }
    }

    /// A slot now, or after waiting in the queue; full queue rejects at once.
    /// Cancel-safe: a waiter dropped leaves the queue.
    pub async fn acquire(
        &self,
        _priority: Priority,
        on_queued: impl FnOnce(usize),
    ) -> Result<BulkheadPermit, BulkheadFull> {
        if let Some(permit) = self.try_acquire() {
            return Ok(permit);
        }
        let position = self.queued.fetch_add(1, Ordering::SeqCst);
        let guard = QueuedGuard(self.queued.clone());
        if position >= self.config.queue_capacity {
            drop(guard);
            return Err(BulkheadFull {
                in_flight: self.in_flight(),
                queued: self.queued(),
            });
        }
        on_queued(position + 1);
        let slot = self.slots.clone().acquire_owned().await;
        drop(guard);
        match slot {
            Ok(slot) => Ok(BulkheadPermit { _slot: slot }),
            // The semaphore is never closed.
            Err(_) => Err(BulkheadFull {
                in_flight: self.in_flight(),
                queued: self.queued(),
            }),
        }
    }

    pub fn try_acquire(&self) -> Option<BulkheadPermit> {
        if self.queued() > 0 {
            return None;
        }
        self.slots
            .clone()
            .try_acquire_owned()
            .ok()
            .map(|slot| BulkheadPermit { _slot: slot })
    }

    pub fn in_flight(&self) -> usize {
        self.config.max_in_flight - self.slots.available_permits()
    }

    pub fn queued(&self) -> usize {
        self.queued.load(Ordering::SeqCst)
    }

    /// (max in flight, queue capacity)
    pub fn capacity(&self) -> (usize, usize) {
        (self.config.max_in_flight, self.config.queue_capacity)
    }
}
