//! Deterministic state for tests: fixed models, figures, clock.

use std::sync::Arc;
use std::time::{Duration, Instant};

use time::macros::datetime;

use super::app::{App, AppOptions, Now};
use crate::engine::{
    BreakerState, BreakerView, Counters, EngineSnapshot, ModelSnapshot, Percentiles,
};
use crate::events::{Event, Health, ModelName};

/// The bus event of gemma2:2b's breaker opening for 10 s after 2 failures.
pub fn breaker_opened() -> Event {
    Event::Breaker {
        model: name("gemma2:2b"),
        from: BreakerState::Closed,
        to: BreakerState::Open,
        reason: "2 failures in a row".into(),
        open_for: Some(Duration::from_secs(10)),
    }
}

pub fn name(s: &str) -> ModelName {
    Arc::from(s)
}

fn ms(n: u64) -> Option<Duration> {
    Some(Duration::from_millis(n))
}

fn pct(p50: u64, p95: u64, p99: u64, count: u64) -> Percentiles {
    Percentiles {
        count,
        p50: ms(p50),
        p95: ms(p95),
        p99: ms(p99),
        max: ms(p99 + 10),
    }
}

pub fn model(n: &str, fast: bool) -> ModelSnapshot {
    let k = if fast { 1 } else { 3 };
    ModelSnapshot {
        name: name(n),
        breaker: BreakerView {
            state: BreakerState::Closed,
            consecutive_failures: 0,
            next_probe_in: None,
            open_period: Duration::from_secs(10),
            times_opened: 0,
        },
        in_flight: 1,
        queued: 0,
        max_in_flight: 3,
        queue_capacity: 16,
        latency_recent: pct(420 * k, 900 * k, 1100 * k, 20),
        latency_all: pct(430 * k, 950 * k, 1200 * k, 40),
        ttft_recent: pct(120 * k, 210 * k, 260 * k, 20),
        ttft_all: pct(125 * k, 220 * k, 280 * k, 40),
        tokens_per_sec: Some(if fast { 48.0 } else { 21.0 }),
        counters: Counters {
            requests: 40,
            successes: 39,
            failures: 1,
            ..Counters::default()
        },
        recent_ms: (0..40).map(|i| (300 + (i * 37) % 500) * k).collect(),
        health: Some(Health::Ready {
            server_version: Some("0.12.0".into()),
            loaded: Some(fast),
            vram_bytes: None,
            expires_in: None,
        }),
    }
}

pub fn snapshot() -> EngineSnapshot {
    EngineSnapshot {
        models: vec![model("gemma3:1b", true), model("gemma2:2b", false)],
        strategy: "p95",
        routed: 12,
        warmup: 4,
        uptime: Duration::from_secs(125),
    }
}

/// A fixed moment: 12:00:00 UTC, 3 December 2026.
pub fn now(base: Instant) -> Now {
    Now {
        at: base,
        wall: datetime!(2026-12-03 12:00:00 UTC),
    }
}

/// `secs` after [`now`].
pub fn later(base: Instant, secs: u64) -> Now {
    let start = now(base);
    Now {
        at: start.at + Duration::from_secs(secs),
        wall: start.wall + Duration::from_secs(secs),
    }
}

/// An app with two models and their figures, colour on.
pub fn app(base: Instant) -> App {
    let snapshot = snapshot();
    let models = snapshot.models.iter().map(|m| m.name.clone()).collect();
    let mut app = App::new(
        models,
        AppOptions {
            log_path: Some("/tmp/signalbox.log".into()),
            ..AppOptions::default()
        },
    );
    app.board.apply_snapshot(snapshot, base);
    app
}
