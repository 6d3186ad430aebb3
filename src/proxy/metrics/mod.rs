//! `/metrics`: Prometheus text exposition of the engine's snapshot, latency histograms
//! recorded from the event bus, and the proxy's own request counts.

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::Response;
use tokio::sync::broadcast::{self, error::RecvError};
use tokio::task::JoinHandle;

use crate::engine::EngineSnapshot;
use crate::events::{Event, ModelName, Outcome};

mod exposition;

use exposition::{header, label, render_snapshot};

/// Histogram bucket bounds in seconds, from a fast first token to a slow long answer.
const BUCKETS: [f64; 14] = [
    0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 20.0, 30.0, 60.0, 120.0,
];

/// The endpoints counted by name; anything else is `other`.
const ENDPOINTS: [&str; 11] = [
    "/",
    "/api/chat",
    "/api/generate",
    "/api/tags",
    "/api/ps",
    "/api/show",
    "/api/version",
    "/v1/chat/completions",
    "/v1/models",
    "/metrics",
    "/healthz",
];

#[derive(Clone, Debug, Default)]
struct Histogram {
    counts: [u64; BUCKETS.len()],
    count: u64,
    sum: f64,
}

impl Histogram {
    fn observe(&mut self, value: Duration) {
        let secs = value.as_secs_f64();
        for (bound, count) in BUCKETS.iter().zip(self.counts.iter_mut()) {
            if secs <= *bound {
                *count += 1;
            }
        }
        self.count += 1;
        self.sum += secs;
    }
}

type PickHistogram = fn(&ModelHistograms) -> &Histogram;

#[derive(Clone, Debug, Default)]
struct ModelHistograms {
    attempt: Histogram,
    first_token: Histogram,
}

/// What the proxy records itself.
pub struct Metrics {
    models: Vec<ModelName>,
    histograms: Mutex<HashMap<ModelName, ModelHistograms>>,
    requests: Mutex<BTreeMap<(&'static str, u16), u64>>,
    in_flight: AtomicI64,
    stream_errors: AtomicU64,
    disconnects: AtomicU64,
    events_lost: AtomicU64,
}

impl Metrics {
    pub fn new(models: &[ModelName]) -> Self {
        Metrics {
            models: models.to_vec(),
            histograms: Mutex::new(
                models
                    .iter()
                    .map(|m| (m.clone(), ModelHistograms::default()))
                    .collect(),
            ),
            requests: Mutex::new(BTreeMap::new()),
            in_flight: AtomicI64::new(0),
            stream_errors: AtomicU64::new(0),
            disconnects: AtomicU64::new(0),
            events_lost: AtomicU64::new(0),
        }
    }

    pub fn request_started(&self) {
        self.in_flight.fetch_add(1, Ordering::Relaxed);
    }

    pub fn request_ended(&self) {
        self.in_flight.fetch_sub(1, Ordering::Relaxed);
    }

    pub fn stream_error(&self) {
        self.stream_errors.fetch_add(1, Ordering::Relaxed);
    }

    pub fn disconnect(&self) {
        self.disconnects.fetch_add(1, Ordering::Relaxed);
    }

    fn with_histograms(&self, model: &ModelName, f: impl FnOnce(&mut ModelHistograms)) {
        // A poisoned lock only means a panic elsewhere mid-update; the counts stay usable.
        let mut histograms = self.histograms.lock().unwrap_or_else(|e| e.into_inner());
        f(histograms.entry(model.clone()).or_default());
    }

    fn record(&self, event: &Event) {
        match event {
            Event::Finished {
                model,
                outcome: Outcome::Success,
                timings,
                ..
            } => {
                self.with_histograms(model, |h| h.attempt.observe(timings.total));
            }
            Event::FirstToken { model, after, .. } => {
                self.with_histograms(model, |h| h.first_token.observe(*after));
            }
            _ => {}
        }
    }

    fn count_response(&self, endpoint: &'static str, status: u16) {
        let mut requests = self.requests.lock().unwrap_or_else(|e| e.into_inner());
        *requests.entry((endpoint, status)).or_insert(0) += 1;
    }

    /// The whole exposition.
    pub fn render(&self, snapshot: &EngineSnapshot) -> String {
        let mut out = String::with_capacity(8 * 1024);
        render_snapshot(&mut out, snapshot);
        self.render_histograms(&mut out);
        self.render_proxy(&mut out, snapshot);
        out
    }

    fn render_histograms(&self, out: &mut String) {
        let histograms = self
            .histograms
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        let families: [(&str, &str, PickHistogram); 2] = [
            (
                "signalbox_attempt_duration_seconds",
                "Time from sending an attempt to its last token, successful attempts only.",
                |h| &h.attempt,
            ),
            (
                "signalbox_first_token_seconds",
                "Time from sending an attempt to its first token.",
                |h| &h.first_token,
            ),
        ];
        for (name, help, pick) in families {
            header(out, name, help, "histogram");
            for model in &self.models {
                let empty = ModelHistograms::default();
                let h = pick(histograms.get(model).unwrap_or(&empty));
                let m = label(model);
                for (bound, count) in BUCKETS.iter().zip(h.counts) {
                    let _ = writeln!(out, "{name}_bucket{{model=\"{m}\",le=\"{bound}\"}} {count}");
                }
                let _ = writeln!(
                    out,
                    "{name}_bucket{{model=\"{m}\",le=\"+Inf\"}} {}",
                    h.count
                );
                let _ = writeln!(out, "{name}_sum{{model=\"{m}\"}} {}", h.sum);
                let _ = writeln!(out, "{name}_count{{model=\"{m}\"}} {}", h.count);
            }
        }
    }

    fn render_proxy(&self, out: &mut String, snapshot: &EngineSnapshot) {
        let requests = self
            .requests
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        header(
            out,
            "signalbox_http_requests_total",
            "HTTP requests answered by the proxy, by endpoint and status.",
            "counter",
        );
        for ((endpoint, status), count) in requests {
            let _ = writeln!(
                out,
                "signalbox_http_requests_total{{endpoint=\"{endpoint}\",status=\"{status}\"}} {count}"
            );
        }
        let simple: [(&str, &str, &str, String); 6] = [
            (
                "signalbox_http_in_flight",
                "Chat requests the proxy is answering now.",
                "gauge",
                self.in_flight.load(Ordering::Relaxed).to_string(),
            ),
            (
                "signalbox_http_stream_errors_total",
                "Streams that ended with an in-stream error line.",
                "counter",
                self.stream_errors.load(Ordering::Relaxed).to_string(),
            ),
            (
                "signalbox_http_disconnects_total",
                "Chat requests whose client went away before the answer ended.",
                "counter",
                self.disconnects.load(Ordering::Relaxed).to_string(),
            ),
            (
                "signalbox_metrics_events_lost_total",
                "Bus events the histograms missed because the recorder lagged.",
                "counter",
                self.events_lost.load(Ordering::Relaxed).to_string(),
            ),
            (
                "signalbox_routed_total",
                "Requests the router has ordered candidates for.",
                "counter",
                snapshot.routed.to_string(),
            ),
            (
                "signalbox_uptime_seconds",
                "Time since the engine started.",
                "gauge",
                snapshot.uptime.as_secs_f64().to_string(),
            ),
        ];
        for (name, help, kind, value) in simple {
            header(out, name, help, kind);
            let _ = writeln!(out, "{name} {value}");
        }
    }
}

/// Record latencies from the bus until it closes. A lagging recorder counts what it
/// missed instead of stalling the engine.
pub fn spawn_recorder(
    metrics: Arc<Metrics>,
    mut events: broadcast::Receiver<Event>,
) -> JoinHandle<()> {
    tokio::spawn(async move {
        loop {
            match events.recv().await {
                Ok(event) => metrics.record(&event),
                Err(RecvError::Lagged(missed)) => {
                    metrics.events_lost.fetch_add(missed, Ordering::Relaxed);
                }
                Err(RecvError::Closed) => break,
            }
        }
    })
}

/// Count every response by endpoint and status (a stream counts when its headers go out).
pub async fn count_requests(
    State(metrics): State<Arc<Metrics>>,
    request: Request,
    next: Next,
) -> Response {
    let path = request.uri().path();
    let endpoint = ENDPOINTS
        .iter()
        .copied()
        .find(|e| *e == path)
        .unwrap_or("other");
    let response = next.run(request).await;
    metrics.count_response(endpoint, response.status().as_u16());
    response
}
