//! The engine's snapshot in Prometheus text format: per-model counters and gauges.

use std::fmt::Write;

use crate::engine::{BreakerState, EngineSnapshot, ModelSnapshot};

/// The per-model counters and gauges, straight from the engine's snapshot.
pub(super) fn render_snapshot(out: &mut String, snapshot: &EngineSnapshot) {
    type Pick = fn(&ModelSnapshot) -> u64;
    let counters: [(&str, &str, Pick); 4] = [
        (
            "signalbox_attempts_total",
            "Attempts sent to the model.",
            |m| m.counters.requests,
        ),
        (
            "signalbox_timeouts_total",
            "Attempts that ran out of time (also counted as failures).",
            |m| m.counters.timeouts,
        ),
        (
            "signalbox_fallbacks_total",
            "Requests that left the model for another.",
            |m| m.counters.fallbacks_from,
        ),
        (
            "signalbox_breaker_opened_total",
            "Times the breaker opened.",
            |m| m.breaker.times_opened,
        ),
    ];
    for (name, help, pick) in counters {
        per_model(out, snapshot, (name, help, "counter"), pick);
    }

    by_label(
        out,
        snapshot,
        (
            "signalbox_attempt_outcomes_total",
            "Finished attempts by outcome.",
            "counter",
        ),
        "outcome",
        |m| {
            let c = &m.counters;
            [
                ("success", c.successes),
                ("failure", c.failures),
                ("cancelled", c.cancelled),
                ("busy", c.busy),
                ("bad_request", c.bad_requests),
            ]
        },
    );
    by_label(
        out,
        snapshot,
        (
            "signalbox_rejections_total",
            "Attempts refused before sending, by reason.",
            "counter",
        ),
        "reason",
        |m| {
            let c = &m.counters;
            [
                ("circuit_open", c.rejected_open),
                ("bulkhead_full", c.rejected_full),
                ("not_installed", c.rejected_not_installed),
            ]
        },
    );
    by_label(
        out,
        snapshot,
        (
            "signalbox_breaker_state",
            "1 for the breaker's current state, 0 for the others.",
            "gauge",
        ),
        "state",
        |m| {
            let on = |state| u64::from(m.breaker.state == state);
            [
                ("closed", on(BreakerState::Closed)),
                ("open", on(BreakerState::Open)),
                ("half_open", on(BreakerState::HalfOpen)),
            ]
        },
    );

    type Gauge = fn(&ModelSnapshot) -> usize;
    let gauges: [(&str, &str, Gauge); 4] = [
        (
            "signalbox_bulkhead_in_flight",
            "Requests in flight to the model.",
            |m| m.in_flight,
        ),
        (
            "signalbox_bulkhead_queued",
            "Requests waiting for a bulkhead slot.",
            |m| m.queued,
        ),
        (
            "signalbox_bulkhead_max_in_flight",
            "The bulkhead's size.",
            |m| m.max_in_flight,
        ),
        (
            "signalbox_bulkhead_queue_capacity",
            "The bulkhead queue's capacity.",
            |m| m.queue_capacity,
        ),
    ];
    for (name, help, pick) in gauges {
        per_model(out, snapshot, (name, help, "gauge"), pick);
    }

    header(
        out,
        "signalbox_latency_recent_seconds",
        "Total latency percentiles over the routing window, as the router sees them.",
        "gauge",
    );
    for m in &snapshot.models {
        let p = &m.latency_recent;
        for (q, value) in [("0.5", p.p50), ("0.95", p.p95), ("0.99", p.p99)] {
            if let Some(value) = value {
                let _ = writeln!(
                    out,
                    "signalbox_latency_recent_seconds{{model=\"{}\",quantile=\"{q}\"}} {}",
                    label(&m.name),
                    value.as_secs_f64()
                );
            }
        }
    }
}

/// A metric's name, help text and type.
type Family<'a> = (&'a str, &'a str, &'a str);

/// A family with one series per model.
fn per_model<T: std::fmt::Display>(
    out: &mut String,
    snapshot: &EngineSnapshot,
    (name, help, kind): Family<'_>,
    pick: impl Fn(&ModelSnapshot) -> T,
) {
    header(out, name, help, kind);
    for m in &snapshot.models {
        let _ = writeln!(out, "{name}{{model=\"{}\"}} {}", label(&m.name), pick(m));
    }
}

/// A family with one series per model and value of a second label, `key`, in the order
/// `pick` gives them.
fn by_label<const N: usize>(
    out: &mut String,
    snapshot: &EngineSnapshot,
    (name, help, kind): Family<'_>,
    key: &str,
    pick: impl Fn(&ModelSnapshot) -> [(&'static str, u64); N],
) {
    header(out, name, help, kind);
    for m in &snapshot.models {
        for (value, n) in pick(m) {
            let _ = writeln!(
                out,
                "{name}{{model=\"{}\",{key}=\"{value}\"}} {n}",
                label(&m.name)
            );
        }
    }
}

pub(super) fn header(out: &mut String, name: &str, help: &str, kind: &str) {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} {kind}");
}

/// A label value escaped as the text format requires.
pub(super) fn label(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}
