//! Running a block of requests on one path: closed loop (a fixed number of senders, each
//! sending again as soon as its answer ends) or open loop (arrivals on a schedule).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use tokio::sync::Semaphore;
use tokio::time::Instant;

use super::path::Path;
use super::schedule::Schedule;
use super::stats::PathStats;

/// The most open-loop requests in flight at once that a run accepts.
pub const MAX_IN_FLIGHT: usize = 1 << 20;

/// How requests arrive.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Mode {
    /// This many senders, each sending its next request when its last one ended.
    Closed { concurrency: usize },
    /// Arrivals at this rate per second, whatever the answers do; at most `max_in_flight`
    /// at once (a late arrival waits for a slot, and the wait counts in its latency).
    Open { rate: f64, max_in_flight: usize },
}

/// One block: `requests` on `path`.
pub struct Block<'a> {
    pub path: &'a Arc<Path>,
    pub mode: Mode,
    pub requests: u64,
    /// Per request, on both paths alike.
    pub timeout: Duration,
    /// No request starts at or after it.
    pub deadline: Instant,
    /// Counts finished requests, for the progress line.
    pub progress: &'a Arc<AtomicU64>,
    /// Where the block's figures go. One per path for the whole run, so that memory
    /// stays flat however many blocks and requests there are.
    pub stats: &'a Arc<Mutex<PathStats>>,
}

impl Block<'_> {
    /// Run the block to its end, adding its figures and the time it took to `stats`.
    pub async fn run(&self) {
        let started = Instant::now();
        match self.mode {
            Mode::Closed { concurrency } => self.closed(concurrency).await,
            Mode::Open {
                rate,
                max_in_flight,
            } => self.open(rate, max_in_flight).await,
        }
        lock(self.stats).busy += started.elapsed();
    }

    async fn closed(&self, concurrency: usize) {
        let claimed = Arc::new(AtomicU64::new(0));
        let senders = (concurrency as u64).clamp(1, self.requests.max(1));
        let mut tasks = Vec::new();
        for _ in 0..senders {
            let (path, claimed, progress, stats) = (
                self.path.clone(),
                claimed.clone(),
                self.progress.clone(),
                self.stats.clone(),
            );
            let (requests, timeout, deadline) = (self.requests, self.timeout, self.deadline);
            tasks.push(tokio::spawn(async move {
                while claimed.fetch_add(1, Ordering::Relaxed) < requests {
                    let start = Instant::now();
                    if start >= deadline {
                        break;
                    }
                    let outcome = path.send(start, timeout).await;
                    lock(&stats).add(outcome);
                    progress.fetch_add(1, Ordering::Relaxed);
                }
            }));
        }
        for task in tasks {
            // A sender cannot panic short of a bug; its figures are then simply missing.
            let _ = task.await;
        }
    }

    async fn open(&self, rate: f64, max_in_flight: usize) {
        let slots = max_in_flight.clamp(1, MAX_IN_FLIGHT);
        let in_flight = Arc::new(Semaphore::new(slots));
        let stats = self.stats;
        let mut schedule = Schedule::new(Instant::now(), rate);
        for _ in 0..self.requests {
            let due = schedule.tick().await;
            if due >= self.deadline {
                break;
            }
            // The semaphore is never closed, so acquiring fails only if it were.
            let Ok(slot) = in_flight.clone().acquire_owned().await else {
                break;
            };
            let (path, stats, progress) = (self.path.clone(), stats.clone(), self.progress.clone());
            let timeout = self.timeout;
            tokio::spawn(async move {
                let outcome = path.send(due, timeout).await;
                lock(&stats).add(outcome);
                progress.fetch_add(1, Ordering::Relaxed);
                drop(slot);
            });
        }
        // Every slot back: every request of the block has ended.
        let _all = in_flight.acquire_many(slots as u32).await;
    }
}

fn lock(stats: &Mutex<PathStats>) -> MutexGuard<'_, PathStats> {
    // Figures only: a panic elsewhere cannot leave them unusable.
    stats.lock().unwrap_or_else(|e| e.into_inner())
}
