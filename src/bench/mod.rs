//! `signalbox bench`: what signalbox itself costs, measured under load.
//!
//! The same load goes two ways in one run: *routed* (through signalbox: the engine, or an
//! HTTP server such as `signalbox serve`) and *direct* (the same client straight to the
//! model server, without signalbox). Against zero-latency emulator models, the routed
//! path's latency minus the direct path's, percentile by percentile, is signalbox's own
//! cost. The two paths run in alternating blocks so that drift in the machine's load
//! falls on both alike; see [`measure`].

pub mod cli;
mod http;
mod load;
mod memory;
mod path;
mod progress;
mod report;
mod schedule;
mod setup;
mod stats;

pub use http::ChatClient;
pub use load::Mode;
pub use report::{ModeReport, PathReport, Report, Rss};
pub use schedule::Schedule;
pub use setup::{Setup, SetupOptions, TargetKind};
pub use stats::{Outcome, Overhead, PathStats, Quantiles, latency_histogram, record};

use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use tokio::time::Instant;

use load::Block;

/// How much load, and how.
#[derive(Clone, Debug)]
pub struct Plan {
    /// Measured requests on each path.
    pub requests: u64,
    pub mode: Mode,
    /// Requests sent first on each path and not counted: connections, caches, the routing
    /// warm-up.
    pub warmup: u64,
    /// Blocks per path; the paths alternate block by block.
    pub blocks: u32,
    /// Per request, on both paths alike.
    pub timeout: Duration,
    /// The whole run stops sending after this long.
    pub duration: Duration,
}

/// What the blocks measured.
pub struct Measured {
    pub routed: PathStats,
    pub direct: Option<PathStats>,
    pub rss: Rss,
    pub capped: bool,
    pub elapsed: Duration,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Side {
    Routed,
    Direct,
}

/// The order of the two paths in block pair `i`: R D, D R, R D, ... so each path goes first
/// in half the pairs and a steady drift (a neighbour's compile winding down, say) weighs on
/// both the same.
fn order(i: u32) -> [Side; 2] {
    if i.is_multiple_of(2) {
        [Side::Routed, Side::Direct]
    } else {
        [Side::Direct, Side::Routed]
    }
}

/// Requests in block `i` of `blocks`, spreading `requests` as evenly as possible.
fn block_size(requests: u64, blocks: u32, i: u32) -> u64 {
    let blocks = u64::from(blocks.max(1));
    let i = u64::from(i);
    requests * (i + 1) / blocks - requests * i / blocks
}

/// Warm both paths up, then run the plan's blocks, alternating the paths; `progress`
/// counts finished requests, warm-up included.
pub async fn measure(plan: &Plan, setup: &Setup, progress: &Arc<AtomicU64>) -> Measured {
    let started = Instant::now();
    let deadline = started + plan.duration;
    let block = |path, requests, stats| Block {
        path,
        mode: plan.mode,
        requests,
        timeout: plan.timeout,
        deadline,
        progress,
        stats,
    };
    let new_stats = || Arc::new(Mutex::new(PathStats::default()));

    // Warm-up, not counted.
    let warmup = new_stats();
    block(&setup.routed, plan.warmup, &warmup).run().await;
    if let Some(direct) = &setup.direct {
        block(direct, plan.warmup, &warmup).run().await;
    }

    let routed = new_stats();
    let direct = new_stats();
    let mut rss = Rss {
        start: memory::rss_kib(),
        ..Rss::default()
    };
    let blocks = plan.blocks.max(1);
    for i in 0..blocks {
        if Instant::now() >= deadline {
            break;
        }
        let n = block_size(plan.requests, blocks, i);
        for side in order(i) {
            match (side, &setup.direct) {
                (Side::Routed, _) => block(&setup.routed, n, &routed).run().await,
                (Side::Direct, Some(path)) => block(path, n, &direct).run().await,
                (Side::Direct, None) => {}
            }
        }
        if i + 1 == blocks.div_ceil(2) {
            rss.middle = memory::rss_kib();
        }
    }
    rss.end = memory::rss_kib();
    let take = |stats: &Mutex<PathStats>| std::mem::take(&mut *lock(stats));
    let routed = take(&routed);
    let direct = setup.direct.as_ref().map(|_| take(&direct));
    let capped = routed.requests() < plan.requests
        || direct
            .as_ref()
            .is_some_and(|d| d.requests() < plan.requests);
    Measured {
        routed,
        direct,
        rss,
        capped: capped && Instant::now() >= deadline,
        elapsed: started.elapsed(),
    }
}

fn lock(stats: &Mutex<PathStats>) -> MutexGuard<'_, PathStats> {
    // Figures only: a panic elsewhere cannot leave them unusable.
    stats.lock().unwrap_or_else(|e| e.into_inner())
}

/// The method, in words, for the report's footnote.
fn method(plan: &Plan, direct: bool) -> String {
    let mut text = String::from("Method: ");
    if direct {
        text.push_str(&format!(
            "routed and direct requests ran in {} alternating blocks per path (R D, D R, \
             R D, ...: each path goes first in half the pairs, so drift in the machine's load \
             weighs on both alike), after {} uncounted warm-up requests per path. Overhead = \
             routed percentile minus direct percentile: a difference of two distributions, \
             not of paired requests, so it can come out negative within noise. ",
            plan.blocks.max(1),
            plan.warmup
        ));
    } else {
        text.push_str("no direct path was given, so no overhead is reported. ");
    }
    match plan.mode {
        Mode::Open { .. } => text.push_str(
            "Open loop: each latency runs from the request's scheduled arrival, so time spent \
             queueing behind slow answers is counted (no coordinated omission); it includes \
             the load generator's own lateness (tokio's timer wakes up to 1 ms late, more on \
             a busy machine), alike on both paths. Service time runs from the actual send and \
             leaves that lateness out.",
        ),
        Mode::Closed { .. } => text.push_str(
            "Closed loop: each sender sends its next request when the last one ends; latency \
             runs from the send.",
        ),
    }
    text.push_str(
        " Latencies in hdrhistogram at 3 significant digits; ttft is the time to the first \
         non-empty token.",
    );
    text
}

/// The report of a measured run.
pub fn report(plan: &Plan, setup: &Setup, measured: &Measured) -> Report {
    let direct = measured.direct.as_ref();
    let overhead = direct.and_then(|d| Overhead::between(&measured.routed.latency, &d.latency));
    let service_overhead =
        direct.and_then(|d| Overhead::between(&measured.routed.service, &d.service));
    Report {
        target: setup.target.clone(),
        paths: setup.paths.clone(),
        mode: plan.mode.into(),
        requests: plan.requests,
        warmup: plan.warmup,
        blocks: plan.blocks.max(1),
        duration_capped: measured.capped,
        elapsed_s: measured.elapsed.as_secs_f64(),
        routed: PathReport::from(&measured.routed),
        direct: measured.direct.as_ref().map(PathReport::from),
        overhead,
        service_overhead,
        rss_kib: measured.rss,
        method: method(plan, measured.direct.is_some()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_alternate_which_path_goes_first() {
        let firsts: Vec<Side> = (0..4).map(|i| order(i)[0]).collect();
        assert_eq!(
            firsts,
            [Side::Routed, Side::Direct, Side::Routed, Side::Direct]
        );
    }

    #[test]
    fn block_sizes_add_up_to_the_requests() {
        let sizes: Vec<u64> = (0..3).map(|i| block_size(10, 3, i)).collect();
        assert_eq!(sizes.iter().sum::<u64>(), 10);
        assert!(sizes.iter().all(|&n| n == 3 || n == 4), "{sizes:?}");
        assert_eq!(block_size(5, 0, 0), 5);
    }
}
