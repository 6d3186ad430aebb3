//! `peak-ewma` and `ttft-ewma`: a decaying, peak-sensitive latency estimate per model,
//! multiplied by the model's load.
//!
//! Each model's estimate moves with every attempt that ends at it:
//! - a sample above the estimate replaces it at once (a spike is believed immediately);
//! - a sample below it pulls it down with weight `1 - exp(-Δt / DECAY)`, where `Δt` is
//!   the time since the last sample, so a burst of fast samples after a slow one does
//!   not erase the slow one in a blink;
//! - a failed attempt is a sample as slow as the longest of: the time the model kept the
//!   request (a first-token timeout after 15 s says "15 s at least"), double the estimate,
//!   and [`FAILURE_ESTIMATE`];
//! - while no attempt ends at a model its estimate decays with the time constant
//!   [`IDLE_DECAY`] toward a floor: the model's recent median (of the same latency, from
//!   the engine's window), or zero once it has no recent answers. A model that spiked and
//!   is left alone is therefore tried again by itself when its usual speed beats the
//!   others', and one request is enough to learn whether it recovered; a model that is
//!   always slow is not dragged back in just for being idle.
//!
//! The cost of a model is its estimate × (requests in flight or queued there + 1), as in
//! tower's PeakEWMA; the cheapest available model goes first. A model never measured
//! costs like the cheapest measured one, so it is tried early without being flooded.
//! (Counting load relative to the bulkhead width instead, since a model server works on
//! several requests at once, did worse in the simulator's overload scenario.)
//!
//! `ttft-ewma` estimates the time to first token instead of the total, and adds the time
//! to read [`TTFT_TOKENS_TERM`] tokens at the model's recent token rate, so of two models
//! equally quick to start, the one that streams faster wins.

use std::time::Duration;

use tokio::time::Instant;

use super::{Candidate, ModelView, Observation, RoutingContext, Strategy};
use crate::backend::fmt_duration as fmt_latency;

/// Time constant with which a lower sample pulls the estimate down.
pub const DECAY: Duration = Duration::from_secs(10);
/// Time constant with which an idle model's estimate decays toward zero.
pub const IDLE_DECAY: Duration = Duration::from_secs(30);
/// The estimate at least, after a failed attempt.
pub const FAILURE_ESTIMATE: Duration = Duration::from_secs(1);
/// The estimate never goes above this, however many failures in a row double it.
pub const MAX_ESTIMATE: Duration = Duration::from_secs(3600);
/// The estimate of a model when no model has been measured yet.
pub const DEFAULT_ESTIMATE: Duration = Duration::from_millis(500);
/// `ttft-ewma` adds the time to stream this many tokens at the model's token rate.
pub const TTFT_TOKENS_TERM: f64 = 10.0;

/// Which latency the estimate follows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Signal {
    Total,
    FirstToken,
}

/// One model's estimate, in seconds.
#[derive(Clone, Copy, Debug)]
struct Estimate {
    secs: f64,
    at: Instant,
    /// Where the idle decay leads: the recent median, 0 without one.
    floor: f64,
    /// Tokens per second, decayed the same way (ttft-ewma only).
    tokens_per_sec: Option<f64>,
}

impl Estimate {
    /// The estimate as of `now`, with the idle decay applied.
    fn at(&self, now: Instant) -> f64 {
        if self.secs <= self.floor {
            return self.secs;
        }
        let idle = now.saturating_duration_since(self.at).as_secs_f64();
        self.floor + (self.secs - self.floor) * (-idle / IDLE_DECAY.as_secs_f64()).exp()
    }
}

/// The estimate-times-load strategy; see the module documentation.
pub struct Ewma {
    signal: Signal,
    estimates: Vec<Option<Estimate>>,
}

impl Ewma {
    /// `peak-ewma`: the estimate follows total latency.
    pub fn peak() -> Ewma {
        Ewma {
            signal: Signal::Total,
            estimates: Vec::new(),
        }
    }

    /// `ttft-ewma`: the estimate follows time to first token.
    pub fn first_token() -> Ewma {
        Ewma {
            signal: Signal::FirstToken,
            estimates: Vec::new(),
        }
    }

    /// The load multiplier for a model with these figures.
    fn load(m: &ModelView) -> f64 {
        (m.in_flight + m.queued) as f64 + 1.0
    }

    /// The latency part of a model's cost as of `now`, if it has been measured.
    fn latency(&self, index: usize, now: Instant) -> Option<f64> {
        let e = self.estimates.get(index).copied().flatten()?;
        let mut secs = e.at(now);
        if self.signal == Signal::FirstToken
            && let Some(rate) = e.tokens_per_sec.filter(|r| *r > 0.0)
        {
            secs += TTFT_TOKENS_TERM / rate;
        }
        Some(secs)
    }
}

impl Strategy for Ewma {
    fn name(&self) -> &'static str {
        match self.signal {
            Signal::Total => "peak-ewma",
            Signal::FirstToken => "ttft-ewma",
        }
    }

    fn order(&mut self, models: &[ModelView], cx: RoutingContext) -> Vec<Candidate> {
        for m in models {
            let median = match self.signal {
                Signal::Total => m.p50,
                Signal::FirstToken => m.ttft_p50,
            };
            if let Some(Some(e)) = self.estimates.get_mut(m.index) {
                e.floor = median
                    .filter(|_| m.samples > 0)
                    .map_or(0.0, |d| d.as_secs_f64());
            }
        }
        let latencies: Vec<Option<f64>> = models
            .iter()
            .map(|m| self.latency(m.index, cx.now))
            .collect();
        let unmeasured = latencies
            .iter()
            .flatten()
            .copied()
            .min_by(f64::total_cmp)
            .unwrap_or(DEFAULT_ESTIMATE.as_secs_f64());
        let costs: Vec<f64> = models
            .iter()
            .zip(&latencies)
            .map(|(m, l)| l.unwrap_or(unmeasured) * Ewma::load(m))
            .collect();
        let mut order: Vec<usize> = (0..models.len()).collect();
        // Stable: equal costs keep configuration order.
        order.sort_by(|&a, &b| {
            (!models[a].available())
                .cmp(&!models[b].available())
                .then(costs[a].total_cmp(&costs[b]))
        });
        let what = match self.signal {
            Signal::Total => "latency",
            Signal::FirstToken => "first token",
        };
        order
            .iter()
            .enumerate()
            .map(|(rank, &i)| {
                let m = &models[i];
                let load = m.in_flight + m.queued;
                let estimate = match latencies[i] {
                    Some(l) => {
                        let l = Duration::try_from_secs_f64(l).unwrap_or(MAX_ESTIMATE);
                        format!("{what} ~{}", fmt_latency(l))
                    }
                    None => "not measured".to_string(),
                };
                let reason = if !m.available() {
                    let why = if m.not_installed {
                        "not installed"
                    } else {
                        "circuit open"
                    };
                    format!("fallback: {why}")
                } else if rank == 0 {
                    format!("lowest cost: {estimate}, {load} busy")
                } else {
                    format!("fallback: {estimate}, {load} busy")
                };
                Candidate { index: i, reason }
            })
            .collect()
    }

    fn observe(&mut self, o: &Observation) {
        if self.estimates.len() <= o.index {
            self.estimates.resize(o.index + 1, None);
        }
        let previous = self.estimates[o.index];
        let now_estimate = previous.map(|e| e.at(o.at));
        let sample = o.sample.and_then(|s| match self.signal {
            Signal::Total => Some(s.total),
            Signal::FirstToken => s.ttft,
        });
        let secs = match (sample, now_estimate) {
            (Some(sample), Some(old)) => {
                let x = sample.as_secs_f64();
                if x >= old {
                    x
                } else {
                    let since = previous
                        .map_or(0.0, |e| o.at.saturating_duration_since(e.at).as_secs_f64());
                    let w = (-since / DECAY.as_secs_f64()).exp();
                    old * w + x * (1.0 - w)
                }
            }
            (Some(sample), None) => sample.as_secs_f64(),
            (None, old) if o.failed => (old.unwrap_or(0.0) * 2.0)
                .max(o.took.as_secs_f64())
                .max(FAILURE_ESTIMATE.as_secs_f64()),
            // Busy, bad request and the like say nothing about the model's speed.
            (None, _) => return,
        }
        .min(MAX_ESTIMATE.as_secs_f64());
        let rate = o.sample.and_then(|s| s.tokens_per_sec);
        let tokens_per_sec = match (rate, previous.and_then(|e| e.tokens_per_sec)) {
            (Some(new), Some(old)) => Some(old * 0.7 + new * 0.3),
            (new, old) => new.or(old),
        };
        self.estimates[o.index] = Some(Estimate {
            secs,
            at: o.at,
            floor: previous.map_or(0.0, |e| e.floor),
            tokens_per_sec,
        });
    }
}

#[cfg(test)]
mod tests;
