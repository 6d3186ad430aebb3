//! The comparison: per strategy, latency percentiles, failures, fallbacks, hedges, each
//! model's share, and the ratio of its tail to the oracle's. As an aligned table or JSON.
//!
//! A request that failed on every model never answered: it counts as infinitely slow.
//! A percentile that falls among such requests is shown as `fail` (`null` in JSON), and
//! so is its ratio to the oracle.

use std::fmt::Write as _;
use std::time::Duration;

use serde::Serialize;

use super::scenario::Scenario;
use super::{Contender, Run};

/// The whole comparison for one scenario and seed.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Report {
    pub scenario: String,
    pub description: String,
    pub seed: u64,
    pub requests: usize,
    pub strategies: Vec<StrategyReport>,
}

/// One strategy's figures. Times in milliseconds.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct StrategyReport {
    pub strategy: String,
    pub ttft_ms: Quantiles,
    pub total_ms: Quantiles,
    /// Requests every model failed.
    pub failures: u64,
    /// Requests answered by another model than the first tried.
    pub fallbacks: u64,
    /// Requests sent to a second model by hedging.
    pub hedges: u64,
    /// Share of answered requests per model, in configuration order.
    pub share: Vec<ModelShare>,
    /// This strategy's percentile over the oracle's (1.0 = as good as the oracle).
    pub vs_oracle: Ratios,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize)]
pub struct Quantiles {
    pub p50: Option<f64>,
    pub p95: Option<f64>,
    pub p99: Option<f64>,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ModelShare {
    pub model: String,
    pub share: f64,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize)]
pub struct Ratios {
    pub ttft_p95: Option<f64>,
    pub ttft_p99: Option<f64>,
    pub total_p95: Option<f64>,
    pub total_p99: Option<f64>,
}

/// Nearest-rank quantiles where `None` values (failures) rank above everything.
fn quantiles(values: impl Iterator<Item = Option<Duration>>) -> Quantiles {
    let mut n = 0usize;
    let mut finite: Vec<Duration> = Vec::new();
    for v in values {
        n += 1;
        finite.extend(v);
    }
    finite.sort_unstable();
    let at = |q: f64| {
        let rank = ((q * n as f64).ceil() as usize).clamp(1, n.max(1));
        finite
            .get(rank - 1)
            .map(|d| round(d.as_secs_f64() * 1000.0))
    };
    Quantiles {
        p50: at(0.50),
        p95: at(0.95),
        p99: at(0.99),
    }
}

/// Milliseconds to a tenth, so JSON stays short and stable.
fn round(ms: f64) -> f64 {
    (ms * 10.0).round() / 10.0
}

fn ratio(a: Option<f64>, oracle: Option<f64>) -> Option<f64> {
    match (a, oracle) {
        (Some(a), Some(o)) if o > 0.0 => Some((a / o * 1000.0).round() / 1000.0),
        _ => None,
    }
}

impl StrategyReport {
    fn new(scenario: &Scenario, run: &Run) -> StrategyReport {
        let outcomes = &run.outcomes;
        let answered = outcomes.iter().filter(|o| o.model.is_some()).count();
        let share = scenario
            .models
            .iter()
            .map(|m| {
                let n = outcomes
                    .iter()
                    .filter(|o| o.model.as_deref() == Some(m.name.as_str()))
                    .count();
                ModelShare {
                    model: m.name.clone(),
                    share: if answered == 0 {
                        0.0
                    } else {
                        (n as f64 / answered as f64 * 1000.0).round() / 1000.0
                    },
                }
            })
            .collect();
        StrategyReport {
            strategy: run.contender.to_string(),
            ttft_ms: quantiles(outcomes.iter().map(|o| o.model.as_ref().and(o.ttft))),
            total_ms: quantiles(outcomes.iter().map(|o| o.model.as_ref().map(|_| o.total))),
            failures: outcomes.iter().filter(|o| o.model.is_none()).count() as u64,
            fallbacks: outcomes.iter().filter(|o| o.fell_back).count() as u64,
            hedges: run.hedges,
            share,
            vs_oracle: Ratios::default(),
        }
    }
}

impl Report {
    pub fn new(scenario: &Scenario, seed: u64, requests: usize, runs: &[Run]) -> Report {
        let mut strategies: Vec<StrategyReport> = runs
            .iter()
            .map(|r| StrategyReport::new(scenario, r))
            .collect();
        let oracle = runs
            .iter()
            .position(|r| r.contender == Contender::ORACLE)
            .map(|i| (strategies[i].ttft_ms, strategies[i].total_ms));
        if let Some((ttft, total)) = oracle {
            for s in &mut strategies {
                s.vs_oracle = Ratios {
                    ttft_p95: ratio(s.ttft_ms.p95, ttft.p95),
                    ttft_p99: ratio(s.ttft_ms.p99, ttft.p99),
                    total_p95: ratio(s.total_ms.p95, total.p95),
                    total_p99: ratio(s.total_ms.p99, total.p99),
                };
            }
        }
        Report {
            scenario: scenario.name.clone(),
            description: scenario.description.clone(),
            seed,
            requests,
            strategies,
        }
    }

    /// An aligned text table.
    pub fn table(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "scenario {} (seed {}, {} requests){}",
            self.scenario,
            self.seed,
            self.requests,
            if self.description.is_empty() {
                String::new()
            } else {
                format!("\n  {}", self.description)
            }
        );
        let header = [
            "strategy",
            "ttft p50",
            "p95",
            "p99",
            "total p50",
            "p95",
            "p99",
            "failed",
            "fallback",
            "hedged",
            "ttft p95/or",
            "p99/or",
            "total p95/or",
            "p99/or",
            "share",
        ];
        let mut rows: Vec<Vec<String>> = vec![header.iter().map(|s| s.to_string()).collect()];
        for s in &self.strategies {
            let share = s
                .share
                .iter()
                .map(|m| format!("{} {:.0}%", m.model, m.share * 100.0))
                .collect::<Vec<_>>()
                .join(", ");
            rows.push(vec![
                s.strategy.clone(),
                secs(s.ttft_ms.p50),
                secs(s.ttft_ms.p95),
                secs(s.ttft_ms.p99),
                secs(s.total_ms.p50),
                secs(s.total_ms.p95),
                secs(s.total_ms.p99),
                s.failures.to_string(),
                s.fallbacks.to_string(),
                s.hedges.to_string(),
                times(s.vs_oracle.ttft_p95),
                times(s.vs_oracle.ttft_p99),
                times(s.vs_oracle.total_p95),
                times(s.vs_oracle.total_p99),
                share,
            ]);
        }
        let columns = header.len();
        let widths: Vec<usize> = (0..columns)
            .map(|c| rows.iter().map(|r| r[c].chars().count()).max().unwrap_or(0))
            .collect();
        for row in &rows {
            let mut line = String::new();
            for (c, cell) in row.iter().enumerate() {
                let pad = widths[c] - cell.chars().count();
                if c == 0 || c == columns - 1 {
                    line.push_str(cell);
                    line.push_str(&" ".repeat(pad));
                } else {
                    line.push_str(&" ".repeat(pad));
                    line.push_str(cell);
                }
                line.push_str("  ");
            }
            let _ = writeln!(out, "{}", line.trim_end());
        }
        out
    }
}

/// `1.23 s`, or `fail` when the percentile falls among failed requests.
fn secs(ms: Option<f64>) -> String {
    match ms {
        Some(ms) => format!("{:.2} s", ms / 1000.0),
        None => "fail".to_string(),
    }
}

fn times(r: Option<f64>) -> String {
    match r {
        Some(r) => format!("{r:.2}×"),
        None => "—".to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Option<Duration> {
        Some(Duration::from_millis(n))
    }

    #[test]
    fn failures_rank_above_every_answer() {
        let mut values: Vec<Option<Duration>> = (1..=97).map(ms).collect();
        values.extend([None, None, None]);
        let q = quantiles(values.into_iter());
        assert_eq!(q.p50, Some(50.0));
        assert_eq!(q.p95, Some(95.0));
        assert_eq!(q.p99, None, "the 99th request of 100 failed");
    }

    #[test]
    fn a_ratio_needs_both_sides() {
        assert_eq!(ratio(Some(300.0), Some(200.0)), Some(1.5));
        assert_eq!(ratio(None, Some(200.0)), None);
        assert_eq!(ratio(Some(1.0), None), None);
    }
}
