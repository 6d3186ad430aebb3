//! The `/metrics` table: one row per model, figures since start.

use std::fmt::Write;
use std::time::Duration;

use crate::engine::EngineSnapshot;

/// A duration in a few columns: `840ms`, `1.2s`, `14s`, or `-` when unknown.
pub fn short(d: Option<Duration>) -> String {
    match d {
        None => "-".to_string(),
        Some(d) if d < Duration::from_secs(1) => format!("{}ms", d.as_millis()),
        Some(d) if d < Duration::from_secs(10) => format!("{:.1}s", d.as_secs_f64()),
        Some(d) => format!("{}s", d.as_secs()),
    }
}

/// A success rate as `97%`, or `-` before any judged attempt.
pub fn rate(r: Option<f64>) -> String {
    r.map_or("-".to_string(), |r| format!("{:.0}%", r * 100.0))
}

/// The table, aligned in columns, with a heading line naming what it covers.
pub fn metrics_table(snapshot: &EngineSnapshot) -> String {
    let width = snapshot
        .models
        .iter()
        .map(|m| m.name.chars().count())
        .max()
        .unwrap_or(5)
        .max(5);
    let mut out = format!(
        "metrics since start · strategy {} · {} routed · up {}\n",
        snapshot.strategy,
        snapshot.routed,
        short(Some(Duration::from_secs(snapshot.uptime.as_secs())))
    );
    let _ = writeln!(
        out,
        "{:<width$}  {:>5} {:>5} {:>6} {:>6} {:>6} {:>7} {:>6}  breaker",
        "model", "reqs", "ok", "p50", "p95", "p99", "ttft95", "tok/s"
    );
    for m in &snapshot.models {
        let tps = m
            .tokens_per_sec
            .map_or("-".to_string(), |t| format!("{t:.0}"));
        let _ = writeln!(
            out,
            "{:<width$}  {:>5} {:>5} {:>6} {:>6} {:>6} {:>7} {:>6}  {}",
            m.name,
            m.counters.requests,
            rate(m.counters.success_rate()),
            short(m.latency_all.p50),
            short(m.latency_all.p95),
            short(m.latency_all.p99),
            short(m.ttft_all.p95),
            tps,
            m.breaker.state,
        );
    }
    out.truncate(out.trim_end().len());
    out
}
