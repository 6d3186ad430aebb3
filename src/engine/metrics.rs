//! Per-model latency figures and counters.
//!
//! Two views of each figure: a recent window that routing trusts (samples older than the
//! window age out, and at most [`RECENT_CAP`] are kept, so memory stays flat under load)
//! and since start (hdrhistogram, constant memory). Recent percentiles are exact over the
//! window and cached. Under load the cache is rebuilt at most every [`REFRESH`] for
//! routing (a routing decision then reads it without sorting), while snapshots always
//! get exact figures.

use std::collections::VecDeque;
use std::time::Duration;

use hdrhistogram::Histogram;
use tokio::time::Instant;

use super::types::{Counters, Percentiles};

/// Samples kept in the recent window at most.
pub const RECENT_CAP: usize = 256;
/// Under load, how stale the recent figures routing reads may be.
pub const REFRESH: Duration = Duration::from_millis(10);
/// Up to this many recent samples, routing always reads exact figures: sorting them is
/// cheap, and with few samples each one matters.
const ALWAYS_EXACT: usize = 32;
/// Latencies kept for the sparkline.
pub const SPARK_LEN: usize = 60;

/// One successful attempt's figures.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Sample {
    /// From the attempt's start (bulkhead queue included) to done.
    pub total: Duration,
    /// From the attempt's start to its first token.
    pub ttft: Option<Duration>,
    pub tokens_per_sec: Option<f64>,
}

/// A model's figures.
pub struct Metrics {
    window: Duration,
    recent: VecDeque<(Instant, Sample)>,
    /// Cached over `recent`, as of `built`; `dirty` once `recent` changed since.
    cache: RecentFigures,
    built: Option<Instant>,
    dirty: bool,
    /// Reused buffers for sorting, so a rebuild does not allocate.
    scratch: Vec<Duration>,
    scratch_rates: Vec<f64>,
    all_total: Histogram<u64>,
    all_ttft: Histogram<u64>,
    spark: VecDeque<u64>,
    pub counters: Counters,
}

/// Percentiles over the recent window.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct RecentFigures {
    pub total: Percentiles,
    pub ttft: Percentiles,
    /// Median tokens per second.
    pub tokens_per_sec: Option<f64>,
}

fn histogram() -> Histogram<u64> {
    // Microseconds from 1 µs to about an hour at 3 significant digits; cannot fail for
    // these constant bounds.
    Histogram::new_with_bounds(1, 3_600_000_000, 3).unwrap_or_else(|_| {
        Histogram::new(3).unwrap_or_else(|_| unreachable!("3 significant figures is valid"))
    })
}

impl Metrics {
    pub fn new(window: Duration) -> Metrics {
        Metrics {
            window,
            recent: VecDeque::with_capacity(RECENT_CAP),
            cache: RecentFigures::default(),
            built: None,
            dirty: false,
            scratch: Vec::with_capacity(RECENT_CAP),
            scratch_rates: Vec::with_capacity(RECENT_CAP),
            all_total: histogram(),
            all_ttft: histogram(),
            spark: VecDeque::with_capacity(SPARK_LEN),
            counters: Counters::default(),
        }
    }

    /// Record a successful attempt that finished `now`.
    pub fn record(&mut self, now: Instant, sample: Sample) {
        if self.recent.len() == RECENT_CAP {
            self.recent.pop_front();
        }
        self.recent.push_back((now, sample));
        self.all_total.saturating_record(micros(sample.total));
        if let Some(ttft) = sample.ttft {
            self.all_ttft.saturating_record(micros(ttft));
        }
        if self.spark.len() == SPARK_LEN {
            self.spark.pop_front();
        }
        self.spark
            .push_back(sample.total.as_millis().min(u128::from(u64::MAX)) as u64);
        self.dirty = true;
    }

    /// The recent figures as of `now`, exact: old samples aged out, nothing stale.
    pub fn recent(&mut self, now: Instant) -> RecentFigures {
        self.dirty |= self.expire(now);
        if self.dirty {
            self.rebuild(now);
        }
        self.cache
    }

    /// The recent figures for a routing decision: exact with few samples, otherwise at
    /// most [`REFRESH`] old, so routing under load does not sort on every request.
    pub fn recent_for_routing(&mut self, now: Instant) -> RecentFigures {
        self.dirty |= self.expire(now);
        let fresh = self
            .built
            .is_some_and(|at| now.saturating_duration_since(at) < REFRESH);
        if self.dirty && (self.recent.len() <= ALWAYS_EXACT || !fresh) {
            self.rebuild(now);
        }
        self.cache
    }

    /// Since-start percentiles of total latency and time to first token.
    pub fn all(&self) -> (Percentiles, Percentiles) {
        (
            percentiles_of(&self.all_total),
            percentiles_of(&self.all_ttft),
        )
    }

    /// Recent total latencies in milliseconds, oldest first.
    pub fn sparkline(&self) -> Vec<u64> {
        self.spark.iter().copied().collect()
    }

    /// Drop samples older than the window; true if any went.
    fn expire(&mut self, now: Instant) -> bool {
        let before = self.recent.len();
        while let Some((at, _)) = self.recent.front() {
            if now.saturating_duration_since(*at) <= self.window {
                break;
            }
            self.recent.pop_front();
        }
        self.recent.len() != before
    }

    fn rebuild(&mut self, now: Instant) {
        let total = exact_percentiles(&mut self.scratch, self.recent.iter().map(|(_, s)| s.total));
        let ttft = exact_percentiles(
            &mut self.scratch,
            self.recent.iter().filter_map(|(_, s)| s.ttft),
        );
        let rates = &mut self.scratch_rates;
        rates.clear();
        rates.extend(self.recent.iter().filter_map(|(_, s)| s.tokens_per_sec));
        let tokens_per_sec = (!rates.is_empty()).then(|| {
            let mid = (rates.len() - 1) / 2;
            *rates.select_nth_unstable_by(mid, f64::total_cmp).1
        });
        self.cache = RecentFigures {
            total,
            ttft,
            tokens_per_sec,
        };
        self.built = Some(now);
        self.dirty = false;
    }
}

fn micros(d: Duration) -> u64 {
    d.as_micros().clamp(1, u128::from(u64::MAX)) as u64
}

/// Nearest-rank percentiles of a small set, selected in `buf`.
///
/// Selection rather than a full sort: the same order statistics at a fraction of the cost,
/// which routing pays on every refresh under load.
fn exact_percentiles(
    buf: &mut Vec<Duration>,
    values: impl Iterator<Item = Duration>,
) -> Percentiles {
    buf.clear();
    buf.extend(values);
    let n = buf.len();
    if n == 0 {
        return Percentiles::default();
    }
    let rank = |q: f64| ((q * n as f64).ceil() as usize).clamp(1, n) - 1;
    // From the top down: after placing index i, everything below it is no greater, so the
    // next (lower) index is selected among `buf[..i]` only.
    let mut below = n;
    let mut pick = |i: usize| {
        if i < below {
            buf[..below].select_nth_unstable(i);
            below = i;
        }
        Some(buf[i])
    };
    let max = pick(n - 1);
    let p99 = pick(rank(0.99));
    let p95 = pick(rank(0.95));
    let p50 = pick(rank(0.50));
    Percentiles {
        count: n as u64,
        p50,
        p95,
        p99,
        max,
    }
}

fn percentiles_of(h: &Histogram<u64>) -> Percentiles {
    if h.is_empty() {
        return Percentiles::default();
    }
    let at = |q: f64| Some(Duration::from_micros(h.value_at_quantile(q)));
    Percentiles {
        count: h.len(),
        p50: at(0.50),
        p95: at(0.95),
        p99: at(0.99),
        max: Some(Duration::from_micros(h.max())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    fn sample(total: u64) -> Sample {
        Sample {
            total: ms(total),
            ttft: Some(ms(total / 4)),
            tokens_per_sec: Some(10.0),
        }
    }

    #[tokio::test(start_paused = true)]
    async fn recent_percentiles_are_exact_and_age_out() {
        let mut m = Metrics::new(Duration::from_secs(10));
        let t0 = Instant::now();
        for i in 1..=100 {
            m.record(t0, sample(i * 10));
        }
        let r = m.recent(t0);
        assert_eq!(r.total.count, 100);
        assert_eq!(r.total.p50, Some(ms(500)));
        assert_eq!(r.total.p95, Some(ms(950)));
        assert_eq!(r.total.p99, Some(ms(990)));
        assert_eq!(r.total.max, Some(ms(1000)));
        assert_eq!(r.ttft.p50, Some(ms(125)));

        // A later sample survives; the first hundred age out.
        m.record(t0 + Duration::from_secs(5), sample(42));
        let r = m.recent(t0 + Duration::from_secs(11));
        assert_eq!(r.total.count, 1);
        assert_eq!(r.total.p95, Some(ms(42)));
        // Since start keeps them all.
        assert_eq!(m.all().0.count, 101);
    }

    #[tokio::test(start_paused = true)]
    async fn routing_figures_are_exact_when_few_and_at_most_refresh_old_under_load() {
        let mut m = Metrics::new(Duration::from_secs(60));
        let t0 = Instant::now();
        m.record(t0, sample(100));
        assert_eq!(m.recent_for_routing(t0).total.p95, Some(ms(100)));
        m.record(t0, sample(300));
        assert_eq!(
            m.recent_for_routing(t0).total.p95,
            Some(ms(300)),
            "few samples: exact"
        );

        for _ in 0..100 {
            m.record(t0, sample(100));
        }
        let cached = m.recent_for_routing(t0).total.count;
        assert_eq!(cached, 2, "many samples within REFRESH: the cached figures");
        assert_eq!(m.recent(t0).total.count, 102, "snapshots: exact");
        m.record(t0, sample(100));
        assert_eq!(
            m.recent_for_routing(t0 + REFRESH).total.count,
            103,
            "REFRESH later: rebuilt"
        );
    }

    #[test]
    fn selected_percentiles_match_a_full_sort_at_every_size() {
        // A small linear congruential generator: varied values, duplicates included.
        let mut x = 12345u64;
        let mut next = || {
            x = x
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            Duration::from_micros((x >> 33) % 5000)
        };
        let mut buf = Vec::new();
        for n in 1..=300 {
            let values: Vec<Duration> = (0..n).map(|_| next()).collect();
            let mut sorted = values.clone();
            sorted.sort_unstable();
            let at = |q: f64| Some(sorted[((q * n as f64).ceil() as usize).clamp(1, n) - 1]);
            let expected = Percentiles {
                count: n as u64,
                p50: at(0.50),
                p95: at(0.95),
                p99: at(0.99),
                max: sorted.last().copied(),
            };
            assert_eq!(
                exact_percentiles(&mut buf, values.into_iter()),
                expected,
                "n = {n}"
            );
        }
    }

    #[tokio::test(start_paused = true)]
    async fn recent_window_and_sparkline_are_bounded_in_count() {
        let mut m = Metrics::new(Duration::from_secs(3600));
        let t0 = Instant::now();
        for i in 0..1000 {
            m.record(t0, sample(i));
        }
        assert_eq!(m.recent(t0).total.count, RECENT_CAP as u64);
        let spark = m.sparkline();
        assert_eq!(spark.len(), SPARK_LEN);
        assert_eq!(spark.last(), Some(&999));
        assert_eq!(spark.first(), Some(&(1000 - SPARK_LEN as u64)));
    }
}
