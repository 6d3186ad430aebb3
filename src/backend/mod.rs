//! Backends: "send this chat, give me a stream of chunks".
//!
//! Each backend speaks one wire protocol. The engine wraps every stream with its own
//! first-token, stall and total limits, so a backend only has to report what the server
//! did. Dropping a [`ChunkStream`] drops the HTTP request, which makes the server stop
//! generating.

pub mod decode;
pub mod fake;
pub mod health;
mod http;
pub mod ollama;
pub mod openai;

pub use http::BuildError;
pub use ollama::OllamaBackend;
pub use openai::OpenAiBackend;

use std::fmt;
use std::pin::Pin;
use std::time::Duration;

use futures_util::Stream;
use serde::{Deserialize, Serialize};

/// Who wrote a message in a conversation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    System,
    User,
    Assistant,
    Tool,
}

/// One message of a conversation. The whole conversation is sent with every request.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Message {
    pub role: Role,
    pub content: String,
}

impl Message {
    pub fn user(content: impl Into<String>) -> Self {
        Message {
            role: Role::User,
            content: content.into(),
        }
    }

    pub fn assistant(content: impl Into<String>) -> Self {
        Message {
            role: Role::Assistant,
            content: content.into(),
        }
    }

    pub fn system(content: impl Into<String>) -> Self {
        Message {
            role: Role::System,
            content: content.into(),
        }
    }
}

/// A chat request as a backend sends it: the model's name on its server, the conversation,
/// and options passed through to the server untouched.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ChatRequest {
    /// The model's name as its server knows it (`gemma3:1b`).
    pub model: String,
    pub messages: Vec<Message>,
    /// Server options (Ollama's `options` object: temperature, num_predict, num_ctx, ...).
    /// For OpenAI-compatible servers the known keys are mapped to top-level fields.
    pub options: serde_json::Map<String, serde_json::Value>,
    /// Ollama's `keep_alive`, passed through as given (a duration string or seconds).
    pub keep_alive: Option<serde_json::Value>,
    /// Ollama's `format` / OpenAI's `response_format`, passed through.
    pub format: Option<serde_json::Value>,
}

/// What a server reported when the answer finished. Every field is optional: a missing
/// field is unknown, never zero.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FinalStats {
    /// Why generation stopped (`stop`, `length`, ...).
    pub done_reason: Option<String>,
    pub prompt_tokens: Option<u64>,
    pub completion_tokens: Option<u64>,
    /// Server-side timings (Ollama reports nanoseconds; OpenAI-compatible servers rarely do).
    pub total_duration: Option<Duration>,
    pub load_duration: Option<Duration>,
    pub prompt_eval_duration: Option<Duration>,
    pub eval_duration: Option<Duration>,
}

/// One item of a backend's answer stream.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Chunk {
    /// Generated text. An empty delta (a keep-alive or a role-only chunk) is never sent as
    /// a `Delta`: backends drop it so the engine's first-token clock is honest.
    Delta(String),
    /// The server said the answer is complete. Always the last item of a successful stream.
    Done(FinalStats),
}

/// Which limit ran out.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TimeoutKind {
    /// The TCP connection could not be made in time.
    Connect,
    /// No first token in time (queue, load and prompt evaluation included).
    FirstToken,
    /// Too long between two chunks after the first token.
    Stall,
    /// The whole request, bulkhead queue included.
    Total,
}

impl fmt::Display for TimeoutKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            TimeoutKind::Connect => "connect",
            TimeoutKind::FirstToken => "first token",
            TimeoutKind::Stall => "stall",
            TimeoutKind::Total => "total",
        })
    }
}

/// Why a backend could not answer. Each variant says what the user can do about it.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum BackendError {
    /// The server could not be reached: refused, reset, DNS, or the connection dropped
    /// before any response.
    #[error("cannot connect to {url}: {message}")]
    Connect { url: String, message: String },
    /// A limit ran out. The engine produces the first-token, stall and total kinds.
    #[error("{}", timeout_text(*kind, *after))]
    Timeout { kind: TimeoutKind, after: Duration },
    /// The server answered with an error status and this message.
    #[error("HTTP {status}: {message}")]
    Status { status: u16, message: String },
    /// The server is overloaded and said so (Ollama's 503 "server busy"): back-pressure,
    /// not a failure of the model.
    #[error("server busy: {message}")]
    Busy { message: String },
    /// The model is not installed on the server (a 404 naming the model, from either
    /// protocol).
    ///
    /// Limitation: the text, and the engine's `AttemptError::NotInstalled` built from it,
    /// name `ollama pull` also for an OpenAI-compatible server, where the fix is to load the
    /// model in that server or correct `server_model`. Carrying the fix text (or the backend
    /// kind) in both variants would let them name the right one; the health check already
    /// does.
    #[error("model '{model}' is not installed; run `ollama pull {model}`")]
    NotInstalled { model: String },
    /// The server sent an error in the middle of the stream.
    #[error("server error mid-stream: {message}")]
    StreamError { message: String },
    /// The stream carried something that is not the protocol.
    #[error("malformed stream: {message}")]
    Malformed { message: String },
    /// The stream ended before the server said the answer was complete.
    #[error("stream ended before the answer was complete")]
    CutShort,
    /// The request itself was rejected (4xx other than 404/429): not the model's fault.
    #[error("bad request (HTTP {status}): {message}")]
    BadRequest { status: u16, message: String },
}

/// How a timeout reads: `timed out after 20 s waiting for the first token`.
fn timeout_text(kind: TimeoutKind, after: Duration) -> String {
    let after = fmt_duration(after);
    match kind {
        TimeoutKind::Connect => format!("timed out after {after} connecting"),
        TimeoutKind::FirstToken => format!("timed out after {after} waiting for the first token"),
        TimeoutKind::Stall => format!("stalled: no token for {after}"),
        TimeoutKind::Total => format!("timed out after {after} (whole request, queue included)"),
    }
}

/// `20 s`, `1.5 s`, `250 ms`.
pub fn fmt_duration(d: Duration) -> String {
    if d < Duration::from_secs(1) {
        format!("{} ms", d.as_millis())
    } else if d.subsec_millis() == 0 {
        format!("{} s", d.as_secs())
    } else {
        format!("{:.1} s", d.as_secs_f64())
    }
}

impl BackendError {
    /// Whether this error says the model cannot serve, and so counts against its breaker.
    ///
    /// A bad request, a busy server and a model that is not installed are not the model
    /// failing: the first is the caller's, the second is back-pressure, the third needs
    /// `ollama pull`, not a breaker.
    pub fn is_breaker_failure(&self) -> bool {
        !matches!(
            self,
            BackendError::BadRequest { .. }
                | BackendError::Busy { .. }
                | BackendError::NotInstalled { .. }
        )
    }
}

/// A backend's answer: chunks in order, ending with [`Chunk::Done`] or an error.
/// Dropping it cancels the request.
pub type ChunkStream = Pin<Box<dyn Stream<Item = Result<Chunk, BackendError>> + Send>>;

/// The wire protocol a backend speaks.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BackendKind {
    /// Ollama's `/api/chat`, streaming NDJSON.
    Ollama,
    /// `/v1/chat/completions`, streaming SSE (llama.cpp, vLLM, LM Studio, Ollama's `/v1`).
    #[serde(rename = "openai")]
    OpenAi,
}

impl fmt::Display for BackendKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            BackendKind::Ollama => "ollama",
            BackendKind::OpenAi => "openai",
        })
    }
}

/// Send a chat, get a stream of chunks.
///
/// `chat` returns at once; the connection is made when the stream is first polled, and a
/// connect failure arrives as the stream's first item.
pub trait Backend: Send + Sync + 'static {
    fn chat(&self, request: ChatRequest) -> ChunkStream;
}

/// The backend for a configured model, by its kind.
///
/// Fails when the HTTP client cannot be set up, the base URL cannot carry an API path, or
/// the configured API key variable is not set.
pub fn for_model(
    model: &crate::config::ModelConfig,
) -> Result<std::sync::Arc<dyn Backend>, BuildError> {
    Ok(match model.backend {
        BackendKind::Ollama => std::sync::Arc::new(OllamaBackend::new(model)?),
        BackendKind::OpenAi => std::sync::Arc::new(OpenAiBackend::new(model)?),
    })
}
