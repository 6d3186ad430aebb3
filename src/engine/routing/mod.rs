//! Routing strategies: given what the engine knows of each model now, the candidates in
//! preference order, each with the reason it was placed there.
//!
//! A strategy sees a read-only [`ModelView`] per model and a [`RoutingContext`]; it owns
//! whatever memory it needs (counters, decaying estimates) and is called under a lock, so
//! a decision must stay in the microseconds. The engine tries the candidates in order,
//! skipping at once any whose breaker or bulkhead refuses, so a strategy may list every
//! model and leave admission to the engine.

pub mod ewma;
mod p95;
mod round_robin;
mod warm_up;

pub use ewma::Ewma;
pub use p95::P95;
pub use round_robin::RoundRobin;
pub use warm_up::WarmUp;

use std::time::Duration;

use tokio::time::Instant;

use super::metrics::Sample;
use crate::config::{RoutingConfig, StrategyKind};
use crate::events::ModelName;

/// One model as a strategy sees it at decision time.
#[derive(Clone, Debug)]
pub struct ModelView {
    pub name: ModelName,
    /// Position in the configuration; candidates refer to models by it.
    pub index: usize,
    /// The breaker would admit a request now (closed, or ready for a probe).
    pub admits: bool,
    /// Known not installed on its server: the engine will skip it.
    pub not_installed: bool,
    pub in_flight: usize,
    pub queued: usize,
    /// Bulkhead size and queue capacity.
    pub max_in_flight: usize,
    pub queue_capacity: usize,
    /// Recent total latency (queue included).
    pub p50: Option<Duration>,
    pub p95: Option<Duration>,
    /// Recent time to first token (queue included).
    pub ttft_p50: Option<Duration>,
    pub ttft_p95: Option<Duration>,
    /// Successful attempts in the recent window.
    pub samples: u64,
    /// The request number at which it was last put first, and when.
    pub last_chosen: Option<(u64, Instant)>,
    /// When an attempt at it last ended.
    pub last_finished: Option<Instant>,
}

impl ModelView {
    /// Whether the engine could send to it now.
    pub fn available(&self) -> bool {
        self.admits && !self.not_installed
    }
}

/// What a strategy knows about the request being routed.
#[derive(Clone, Copy, Debug)]
pub struct RoutingContext {
    /// Requests routed before this one since start (0 for the first).
    pub seq: u64,
    pub now: Instant,
}

/// A model to try, and why it is in this place.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Candidate {
    pub index: usize,
    pub reason: String,
}

/// How an attempt at a model ended, for strategies that learn from every attempt (a
/// decaying latency estimate, say) rather than from the windowed figures in the views.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Observation {
    pub index: usize,
    pub at: Instant,
    /// The answered attempt's figures; `None` when it gave no answer.
    pub sample: Option<Sample>,
    /// It counted against the model's breaker.
    pub failed: bool,
    /// From the attempt's start (bulkhead queue included) to its end; for a failure, how
    /// long the model kept the request before it failed.
    pub took: Duration,
}

/// Orders the models for one request.
pub trait Strategy: Send {
    /// Short name shown on screen and in events (`p95`).
    fn name(&self) -> &'static str;

    /// Every model worth trying, best first. May be empty only if `models` is.
    fn order(&mut self, models: &[ModelView], cx: RoutingContext) -> Vec<Candidate>;

    /// An attempt ended (cancelled ones excepted: they say nothing about the model).
    fn observe(&mut self, observation: &Observation) {
        let _ = observation;
    }
}

/// The strategy of this kind, configured.
pub fn build(kind: StrategyKind, config: &RoutingConfig) -> Box<dyn Strategy> {
    match kind {
        StrategyKind::P95 => Box::new(P95::new(config)),
        StrategyKind::RoundRobin => Box::new(RoundRobin),
        StrategyKind::PeakEwma => Box::new(WarmUp::new(config.warmup, Ewma::peak())),
        StrategyKind::TtftEwma => Box::new(WarmUp::new(config.warmup, Ewma::first_token())),
    }
}

/// Available models first, the rest after, each group keeping its order.
fn available_first(models: &[ModelView], order: &mut [usize]) {
    order.sort_by_key(|&i| !models[i].available());
}

#[cfg(test)]
pub(crate) mod test_support {
    use super::*;

    pub fn view(index: usize, p95_ms: Option<u64>) -> ModelView {
        let d = p95_ms.map(Duration::from_millis);
        ModelView {
            name: format!("m{index}").into(),
            index,
            admits: true,
            not_installed: false,
            in_flight: 0,
            queued: 0,
            max_in_flight: 3,
            queue_capacity: 16,
            p50: d,
            p95: d,
            ttft_p50: d,
            ttft_p95: d,
            samples: u64::from(p95_ms.is_some()) * 10,
            last_chosen: None,
            last_finished: None,
        }
    }

    pub fn cx(seq: u64) -> RoutingContext {
        RoutingContext {
            seq,
            now: Instant::now(),
        }
    }

    pub fn indices(c: &[Candidate]) -> Vec<usize> {
        c.iter().map(|c| c.index).collect()
    }
}
