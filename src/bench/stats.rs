//! What one path (routed or direct) measured: latency and first-token histograms, successes
//! and errors by kind, and the time it was under load.

use std::collections::BTreeMap;
use std::time::Duration;

use hdrhistogram::Histogram;
use serde::Serialize;

/// Longest latency a histogram holds: ten minutes, in nanoseconds. Longer ones are
/// recorded as this (every request is bounded by `--timeout` well below it).
const MAX_NANOS: u64 = 600_000_000_000;

/// A latency histogram in nanoseconds, 3 significant digits: constant memory (a few
/// hundred KiB) however many requests it records.
pub fn latency_histogram() -> Histogram<u64> {
    // The bounds are constants that hdrhistogram accepts (low ≥ 1, high ≥ 2 × low).
    Histogram::new_with_bounds(1, MAX_NANOS, 3)
        .unwrap_or_else(|_| unreachable!("constant bounds are valid"))
}

/// Record `d` in `h`, clamped into the histogram's range.
pub fn record(h: &mut Histogram<u64>, d: Duration) {
    let nanos = d.as_nanos().clamp(1, u128::from(MAX_NANOS)) as u64;
    h.saturating_record(nanos);
}

/// Everything one path measured.
#[derive(Clone, Debug)]
pub struct PathStats {
    /// From the send (or, open-loop, the scheduled send) to the answer's end.
    pub latency: Histogram<u64>,
    /// From the send itself to the answer's end: latency less any wait before sending
    /// (the load generator's own timer lateness, or a wait for an in-flight slot).
    pub service: Histogram<u64>,
    /// From the send (or scheduled send) to the first token.
    pub ttft: Histogram<u64>,
    pub ok: u64,
    pub errors: BTreeMap<String, u64>,
    /// Time spent running this path's blocks.
    pub busy: Duration,
}

impl Default for PathStats {
    fn default() -> Self {
        PathStats {
            latency: latency_histogram(),
            service: latency_histogram(),
            ttft: latency_histogram(),
            ok: 0,
            errors: BTreeMap::new(),
            busy: Duration::ZERO,
        }
    }
}

/// How one request ended.
#[derive(Clone, Debug, PartialEq)]
pub enum Outcome {
    /// Answered: total latency, service time and, if any text came, time to the first
    /// token.
    Ok {
        latency: Duration,
        service: Duration,
        ttft: Option<Duration>,
    },
    /// Failed, by kind (`timeout`, `http_503`, `circuit_open`, ...).
    Error(String),
}

impl PathStats {
    pub fn add(&mut self, outcome: Outcome) {
        match outcome {
            Outcome::Ok {
                latency,
                service,
                ttft,
            } => {
                self.ok += 1;
                record(&mut self.latency, latency);
                record(&mut self.service, service);
                if let Some(ttft) = ttft {
                    record(&mut self.ttft, ttft);
                }
            }
            Outcome::Error(kind) => *self.errors.entry(kind).or_insert(0) += 1,
        }
    }

    pub fn merge(&mut self, other: &PathStats) {
        // Both histograms have the same bounds, so adding cannot fail.
        let _ = self.latency.add(&other.latency);
        let _ = self.service.add(&other.service);
        let _ = self.ttft.add(&other.ttft);
        self.ok += other.ok;
        for (kind, n) in &other.errors {
            *self.errors.entry(kind.clone()).or_insert(0) += n;
        }
        self.busy += other.busy;
    }

    pub fn requests(&self) -> u64 {
        self.ok + self.errors.values().sum::<u64>()
    }

    /// Requests finished per second of this path's own time under load.
    pub fn throughput(&self) -> f64 {
        let secs = self.busy.as_secs_f64();
        if secs > 0.0 {
            self.requests() as f64 / secs
        } else {
            0.0
        }
    }
}

/// Percentiles of a latency histogram, in microseconds.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize)]
pub struct Quantiles {
    pub count: u64,
    pub p50_us: f64,
    pub p95_us: f64,
    pub p99_us: f64,
    pub max_us: f64,
}

impl Quantiles {
    pub fn of(h: &Histogram<u64>) -> Option<Quantiles> {
        if h.is_empty() {
            return None;
        }
        let us = |nanos: u64| nanos as f64 / 1000.0;
        Some(Quantiles {
            count: h.len(),
            p50_us: us(h.value_at_quantile(0.50)),
            p95_us: us(h.value_at_quantile(0.95)),
            p99_us: us(h.value_at_quantile(0.99)),
            max_us: us(h.max()),
        })
    }
}

/// What routing costs: the routed path's latency percentile minus the direct path's, at
/// the same percentile. Negative when the routed path was faster (noise).
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct Overhead {
    pub p50_us: f64,
    pub p95_us: f64,
    pub p99_us: f64,
}

impl Overhead {
    /// Percentile by percentile, from the two paths' latency histograms; `None` unless
    /// both recorded something.
    ///
    /// Requests are not paired one to one (they run in separate blocks), so this is the
    /// difference of the two distributions' percentiles, not a percentile of differences.
    pub fn between(routed: &Histogram<u64>, direct: &Histogram<u64>) -> Option<Overhead> {
        let (routed, direct) = (Quantiles::of(routed)?, Quantiles::of(direct)?);
        Some(Overhead {
            p50_us: routed.p50_us - direct.p50_us,
            p95_us: routed.p95_us - direct.p95_us,
            p99_us: routed.p99_us - direct.p99_us,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn histogram_of(micros: impl IntoIterator<Item = u64>) -> Histogram<u64> {
        let mut h = latency_histogram();
        for us in micros {
            record(&mut h, Duration::from_micros(us));
        }
        h
    }

    /// Within hdrhistogram's 3 significant digits.
    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() <= b.abs() / 500.0 + 0.01
    }

    #[test]
    fn overhead_is_routed_minus_direct_at_each_percentile() {
        // Direct: 1..=100 µs. Routed: the same shifted by 30 µs, with a tail of 100 µs
        // more on the slowest two percent.
        let direct = histogram_of(1..=100);
        let routed = histogram_of((1..=100).map(|us| us + 30 + if us > 98 { 100 } else { 0 }));
        let o = Overhead::between(&routed, &direct).unwrap();
        assert!(close(o.p50_us, 30.0), "{o:?}");
        assert!(close(o.p95_us, 30.0), "{o:?}");
        assert!(close(o.p99_us, 130.0), "{o:?}");
    }

    #[test]
    fn overhead_can_be_negative_and_needs_both_paths() {
        let slow = histogram_of([500; 10]);
        let fast = histogram_of([400; 10]);
        let o = Overhead::between(&fast, &slow).unwrap();
        assert!(close(o.p50_us, -100.0) && close(o.p99_us, -100.0), "{o:?}");
        assert_eq!(Overhead::between(&fast, &latency_histogram()), None);
        assert_eq!(Overhead::between(&latency_histogram(), &fast), None);
    }

    #[test]
    fn stats_count_errors_by_kind_and_merge() {
        let mut a = PathStats::default();
        a.add(Outcome::Ok {
            latency: Duration::from_micros(10),
            service: Duration::from_micros(8),
            ttft: Some(Duration::from_micros(5)),
        });
        a.add(Outcome::Error("timeout".into()));
        let mut b = PathStats::default();
        b.add(Outcome::Error("timeout".into()));
        b.add(Outcome::Error("http_503".into()));
        b.busy = Duration::from_secs(2);
        a.merge(&b);
        assert_eq!((a.ok, a.requests()), (1, 4));
        assert_eq!(a.errors["timeout"], 2);
        assert_eq!(a.errors["http_503"], 1);
        assert_eq!(a.throughput(), 2.0);
        assert_eq!(Quantiles::of(&a.ttft).unwrap().count, 1);
    }
}
