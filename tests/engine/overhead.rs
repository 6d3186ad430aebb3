//! Engine overhead on the real clock: a figure to report, not a test that can fail on
//! speed. Run with
//! `cargo test --release --test engine overhead -- --ignored --nocapture`.

use std::time::Instant;

use signalbox::backend::fake::Script;

use super::*;

/// Submit-to-answer time against a backend that answers at once, at 2,000 requests a
/// second for 5 s: everything measured is the engine's own work.
#[test]
#[ignore = "a measurement; run by hand in release mode"]
fn engine_overhead_at_two_thousand_requests_a_second() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let mut cfg = config(2, limits(5, 5, 10));
        cfg.routing.warmup = 2;
        cfg.routing.probe_every = 20;
        for m in &mut cfg.models {
            m.bulkhead.max_in_flight = 64;
        }
        let (engine, _) = engine(&cfg, Script::answer("ok", 1));
        let mut tick = tokio::time::interval(Duration::from_micros(500));
        let mut tasks = Vec::with_capacity(10_000);
        for _ in 0..10_000 {
            tick.tick().await;
            let engine = engine.clone();
            tasks.push(tokio::spawn(async move {
                let start = Instant::now();
                engine.submit(ask()).answer().await.unwrap();
                start.elapsed()
            }));
        }
        let mut h = hdrhistogram::Histogram::<u64>::new(3).unwrap();
        for task in tasks {
            h.record(task.await.unwrap().as_nanos() as u64).unwrap();
        }
        let us = |q: f64| h.value_at_quantile(q) as f64 / 1000.0;
        println!(
            "engine overhead over {} requests: p50 {:.1} µs, p99 {:.1} µs, p99.9 {:.1} µs, max {:.1} µs",
            h.len(),
            us(0.5),
            us(0.99),
            us(0.999),
            h.max() as f64 / 1000.0
        );
    });
}
