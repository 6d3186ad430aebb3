//! The engine's per-request hot paths, one at a time: a routing decision, breaker
//! admission, bulkhead acquire and release, and recording a latency.
//!
//! `cargo bench --bench hot_paths`; the whole-request cost is `signalbox bench -t fake`.

use std::hint::black_box;
use std::time::Duration;

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use futures_util::FutureExt;
use signalbox::config::{BreakerConfig, BulkheadConfig, RoutingConfig};
use signalbox::engine::Priority;
use signalbox::engine::breaker::Breaker;
use signalbox::engine::bulkhead::Bulkhead;
use signalbox::engine::metrics::{Metrics, Sample};
use signalbox::engine::routing::{ModelView, P95, RoutingContext, Strategy};
use signalbox::events::EventBus;
use tokio::time::Instant;

/// Models measured at 100 ms, 200 ms, ... p95, all available.
fn views(n: usize) -> Vec<ModelView> {
    (0..n)
        .map(|i| {
            let p95 = Some(Duration::from_millis(100 * (i as u64 + 1)));
            ModelView {
                name: format!("model-{i}").into(),
                index: i,
                admits: true,
                not_installed: false,
                in_flight: 1,
                queued: 0,
                max_in_flight: 3,
                queue_capacity: 16,
                p50: p95,
                p95,
                ttft_p50: p95,
                ttft_p95: p95,
                samples: 100,
                last_chosen: Some((i as u64, Instant::now())),
                last_finished: None,
            }
        })
        .collect()
}

/// `P95::order` past its warm-up, probe turns included (every 20th request by default).
fn routing(c: &mut Criterion) {
    let mut group = c.benchmark_group("routing p95");
    for n in [2, 8] {
        let models = views(n);
        let config = RoutingConfig::default();
        let mut strategy = P95::new(&config);
        let now = Instant::now();
        let mut seq = u64::from(config.warmup);
        group.bench_with_input(BenchmarkId::new("models", n), &models, |b, models| {
            b.iter(|| {
                seq += 1;
                black_box(strategy.order(models, RoutingContext { seq, now }))
            })
        });
    }
    group.finish();
}

/// A closed breaker admits, and the attempt succeeds.
fn breaker(c: &mut Criterion) {
    let breaker = Breaker::new(
        "model".into(),
        BreakerConfig::default(),
        EventBus::default(),
    );
    c.bench_function("breaker try_acquire + success", |b| {
        b.iter(|| match breaker.try_acquire() {
            Ok(permit) => permit.success(),
            Err(wait) => panic!("a closed breaker refused for {wait:?}"),
        })
    });
}

/// A free slot taken and given back, nobody else about.
fn bulkhead(c: &mut Criterion) {
    let bulkhead = Bulkhead::new(BulkheadConfig::default());
    c.bench_function("bulkhead try_acquire + release", |b| {
        b.iter(|| drop(black_box(bulkhead.try_acquire())))
    });
    c.bench_function("bulkhead acquire + release", |b| {
        b.iter(|| {
            let permit = bulkhead
                .acquire(Priority::Interactive, |_| {})
                .now_or_never();
            drop(black_box(permit))
        })
    });
}

/// One successful attempt's figures recorded: the recent window, the since-start
/// histograms and the sparkline; and a raw hdrhistogram record for comparison.
fn histogram(c: &mut Criterion) {
    let mut metrics = Metrics::new(Duration::from_secs(300));
    let now = Instant::now();
    let mut i = 0u64;
    c.bench_function("metrics record", |b| {
        b.iter(|| {
            i += 1;
            let total = Duration::from_micros(1000 + i % 5000);
            metrics.record(
                now,
                Sample {
                    total,
                    ttft: Some(total / 4),
                    tokens_per_sec: Some(40.0),
                },
            )
        })
    });
    let mut h = hdrhistogram::Histogram::<u64>::new_with_bounds(1, 3_600_000_000, 3)
        .expect("constant bounds");
    c.bench_function("hdrhistogram record", |b| {
        b.iter(|| {
            i += 1;
            h.saturating_record(black_box(1000 + i % 5000))
        })
    });
    c.bench_function("metrics recent_for_routing, cached", |b| {
        b.iter(|| black_box(metrics.recent_for_routing(now)))
    });
    // What a refresh costs: one sample in, the exact figures over 256 rebuilt. The samples
    // vary, as real latencies do (a window of equal ones would flatter a sort).
    c.bench_function("metrics record + rebuild over 256 samples", |b| {
        b.iter(|| {
            i = i
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let total = Duration::from_micros(1000 + (i >> 33) % 5000);
            let sample = Sample {
                total,
                ttft: Some(total / 4),
                tokens_per_sec: Some(total.as_secs_f64() * 10.0),
            };
            metrics.record(now, sample);
            black_box(metrics.recent(now))
        })
    });
}

criterion_group!(benches, routing, breaker, bulkhead, histogram);
criterion_main!(benches);
