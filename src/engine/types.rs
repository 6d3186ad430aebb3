//! The engine's public vocabulary: requests, replies and snapshots.

use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::backend::{BackendError, FinalStats, Message};
use crate::events::ModelName;

/// Identifies one submitted request across all its attempts and events.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct RequestId(pub u64);

impl fmt::Display for RequestId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "#{}", self.0)
    }
}

/// Queue class: interactive requests are served before background ones.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum Priority {
    #[default]
    Interactive,
    Background,
}

/// Where a request came from, for the dashboard and the logs.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub enum Origin {
    /// Typed into the dashboard.
    #[default]
    Chat,
    /// `signalbox ask`.
    Cli,
    /// An HTTP client of the proxy, by its address.
    Proxy(String),
    /// The benchmark or simulator.
    Load,
}

/// Which models a request may go to.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum Target {
    /// Let the strategy choose, with fallback to the others.
    #[default]
    Routed,
    /// This model; with `fallback`, the others (in the strategy's order) after it.
    Model { name: String, fallback: bool },
}

/// A chat request as the engine takes it.
#[derive(Clone, Debug, Default)]
pub struct Request {
    pub messages: Vec<Message>,
    pub priority: Priority,
    pub target: Target,
    pub origin: Origin,
    /// Extra server options merged over the model's configured ones.
    pub options: serde_json::Map<String, serde_json::Value>,
    pub format: Option<serde_json::Value>,
}

impl Request {
    /// A one-question interactive chat request, routed.
    pub fn chat(messages: Vec<Message>) -> Self {
        Request {
            messages,
            ..Request::default()
        }
    }
}

/// Why one attempt at one model did not produce an answer.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum AttemptError {
    /// The breaker is open (or half-open with its probes taken).
    #[error("circuit open, next probe in {}", fmt_secs(*next_probe_in))]
    CircuitOpen { next_probe_in: Duration },
    /// The bulkhead is full and its queue too.
    #[error("bulkhead full ({in_flight} in flight, {queued} queued)")]
    BulkheadFull { in_flight: usize, queued: usize },
    /// Known not installed on its server.
    #[error("not installed; run `ollama pull {model}`")]
    NotInstalled { model: String },
    /// The backend failed, or a limit ran out.
    #[error("{0}")]
    Backend(BackendError),
    /// The request named a model that is not configured.
    #[error("{0}")]
    UnknownModel(UnknownModel),
}

impl AttemptError {
    /// Whether the attempt was refused before anything was sent.
    pub fn is_rejection(&self) -> bool {
        matches!(
            self,
            AttemptError::CircuitOpen { .. }
                | AttemptError::BulkheadFull { .. }
                | AttemptError::NotInstalled { .. }
                | AttemptError::UnknownModel(_)
        )
    }
}

/// Whole seconds, rounded up, as people read a countdown: `7 s`.
pub fn fmt_secs(d: Duration) -> String {
    let secs = d.as_secs() + u64::from(d.subsec_nanos() > 0);
    format!("{secs} s")
}

/// Every candidate failed; says why for each, in the order tried.
#[derive(Clone, Debug, PartialEq)]
pub struct AllFailed {
    pub attempts: Vec<(ModelName, AttemptError)>,
}

impl fmt::Display for AllFailed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.attempts.is_empty() {
            return f.write_str("no model is configured");
        }
        for (i, (model, error)) in self.attempts.iter().enumerate() {
            if i > 0 {
                f.write_str("; ")?;
            }
            write!(f, "{model}: {error}")?;
        }
        Ok(())
    }
}

impl std::error::Error for AllFailed {}

/// A finished answer.
#[derive(Clone, Debug, PartialEq)]
pub struct Answer {
    pub model: ModelName,
    /// The whole answer text.
    pub text: String,
    /// Attempts that failed before this one, with why.
    pub fallbacks: Vec<(ModelName, AttemptError)>,
    /// From submit to the first token of the answering attempt.
    pub time_to_first_token: Option<Duration>,
    /// From submit to done.
    pub total: Duration,
    pub tokens_per_sec: Option<f64>,
    pub stats: FinalStats,
}

/// What a submitted request's reply stream yields, in order: one `Routed`, then tokens
/// (with `Retrying` between attempts), then exactly one `Done` or `Failed`.
#[derive(Clone, Debug, PartialEq)]
pub enum ReplyEvent {
    /// Sent to this model, for this reason.
    Routed {
        id: RequestId,
        model: ModelName,
        reason: String,
    },
    Token(String),
    /// `failed` could not answer; now trying `next`. Tokens already shown from the failed
    /// attempt should be discarded by the viewer.
    Retrying {
        failed: ModelName,
        error: AttemptError,
        next: ModelName,
    },
    Done(Answer),
    Failed(AllFailed),
}

/// A breaker's state, as views show it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BreakerState {
    Closed,
    Open,
    HalfOpen,
}

impl fmt::Display for BreakerState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            BreakerState::Closed => "closed",
            BreakerState::Open => "open",
            BreakerState::HalfOpen => "half-open",
        })
    }
}

/// A breaker, seen from outside.
#[derive(Clone, Debug, PartialEq)]
pub struct BreakerView {
    pub state: BreakerState,
    pub consecutive_failures: u32,
    /// While open: time left before the next probe is admitted.
    pub next_probe_in: Option<Duration>,
    /// The open period that applies (or would apply) now.
    pub open_period: Duration,
    /// How many times it has opened since start.
    pub times_opened: u64,
}

/// Latency percentiles in one window.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Percentiles {
    pub count: u64,
    pub p50: Option<Duration>,
    pub p95: Option<Duration>,
    pub p99: Option<Duration>,
    pub max: Option<Duration>,
}

/// Counters since start.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counters {
    /// Attempts admitted by the breaker and the bulkhead (queued or sent), counted when
    /// they end. Each ends as exactly one of: success, failure, cancelled, busy,
    /// bad request, not installed.
    pub requests: u64,
    pub successes: u64,
    /// Attempts that counted against the breaker.
    pub failures: u64,
    pub timeouts: u64,
    pub cancelled: u64,
    /// Refused before sending, by kind.
    pub rejected_open: u64,
    pub rejected_full: u64,
    pub rejected_not_installed: u64,
    /// The server said busy (back-pressure, not a failure).
    pub busy: u64,
    /// Bad requests (the caller's fault).
    pub bad_requests: u64,
    /// Sent, and the server said the model is not installed.
    pub not_installed: u64,
    /// Requests that left this model for another.
    pub fallbacks_from: u64,
    /// Hedges sent here: requests that also went to this model because the first model
    /// was slow to its first token.
    pub hedges: u64,
}

impl Counters {
    /// Successes over finished attempts that were the model's to win or lose, if any.
    pub fn success_rate(&self) -> Option<f64> {
        let judged = self.successes + self.failures;
        (judged > 0).then(|| self.successes as f64 / judged as f64)
    }
}

/// One model's figures.
#[derive(Clone, Debug, PartialEq)]
pub struct ModelSnapshot {
    pub name: ModelName,
    pub breaker: BreakerView,
    pub in_flight: usize,
    pub queued: usize,
    pub max_in_flight: usize,
    pub queue_capacity: usize,
    /// Total latency over the recent window and since start.
    pub latency_recent: Percentiles,
    pub latency_all: Percentiles,
    /// Time to first token over the recent window and since start.
    pub ttft_recent: Percentiles,
    pub ttft_all: Percentiles,
    /// Median tokens per second over the recent window.
    pub tokens_per_sec: Option<f64>,
    pub counters: Counters,
    /// Recent total latencies in milliseconds, oldest first, for a sparkline.
    pub recent_ms: Vec<u64>,
    /// Last health check, if any.
    pub health: Option<crate::events::Health>,
}

/// The engine's whole state at one moment.
#[derive(Clone, Debug, PartialEq)]
pub struct EngineSnapshot {
    pub models: Vec<ModelSnapshot>,
    pub strategy: &'static str,
    /// Requests routed so far, and how many the warm-up takes.
    pub routed: u64,
    pub warmup: u32,
    /// Time since the engine started.
    pub uptime: Duration,
}

impl EngineSnapshot {
    /// Hedged requests so far, over all models.
    pub fn hedges(&self) -> u64 {
        self.models.iter().map(|m| m.counters.hedges).sum()
    }

    pub fn model(&self, name: &str) -> Option<&ModelSnapshot> {
        self.models.iter().find(|m| &*m.name == name)
    }
}

/// A name that is not a configured model.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("no model named '{name}'; configured: {known}")]
pub struct UnknownModel {
    pub name: String,
    pub known: String,
}
