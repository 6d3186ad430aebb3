//! The ways a benchmark request can travel: through the engine (routed), straight to a
//! backend (direct, the same client without the engine), or over HTTP with the lean client.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use bytes::Bytes;
use futures_util::StreamExt;
use tokio::time::Instant;

use super::http::ChatClient;
use super::stats::Outcome;
use crate::backend::{Backend, BackendError, ChatRequest, Chunk, TimeoutKind};
use crate::engine::{AllFailed, AttemptError, Engine, ReplyEvent, Request};

/// One way to send the benchmark's request.
pub enum Path {
    /// `Engine::submit`, the reply stream read to its end.
    Engine { engine: Engine, request: Request },
    /// `Backend::chat` on each backend in turn, its stream read to its end.
    Backend {
        backends: Vec<(Arc<dyn Backend>, ChatRequest)>,
        next: AtomicUsize,
    },
    /// `POST /api/chat` with the lean client, each body in turn.
    Http {
        client: ChatClient,
        bodies: Vec<Bytes>,
        next: AtomicUsize,
    },
}

impl Path {
    /// Send one request and read its answer to the end, within `timeout`. Latency and
    /// time to first token run from `due`: the send, or the due time of an open-loop
    /// arrival; service time runs from the send itself.
    pub async fn send(&self, due: Instant, timeout: Duration) -> Outcome {
        let sent = Instant::now();
        match tokio::time::timeout(timeout, self.answer()).await {
            Err(_) => Outcome::Error("timeout".into()),
            Ok(Err(kind)) => Outcome::Error(kind),
            Ok(Ok(first_token)) => {
                let done = Instant::now();
                Outcome::Ok {
                    latency: done.saturating_duration_since(due),
                    service: done.saturating_duration_since(sent),
                    ttft: first_token.map(|t| t.saturating_duration_since(due)),
                }
            }
        }
    }

    /// The answer's first-token time, or the error's kind.
    async fn answer(&self) -> Result<Option<Instant>, String> {
        match self {
            Path::Engine { engine, request } => routed(engine, request.clone()).await,
            Path::Backend { backends, next } => {
                let (backend, request) = &backends[turn(next, backends.len())];
                direct(backend.as_ref(), request.clone()).await
            }
            Path::Http {
                client,
                bodies,
                next,
            } => client.chat(bodies[turn(next, bodies.len())].clone()).await,
        }
    }
}

/// The next index in a round over `len` items.
fn turn(next: &AtomicUsize, len: usize) -> usize {
    next.fetch_add(1, Ordering::Relaxed) % len.max(1)
}

async fn routed(engine: &Engine, request: Request) -> Result<Option<Instant>, String> {
    let mut reply = engine.submit(request);
    let mut first_token = None;
    while let Some(event) = reply.next().await {
        match event {
            ReplyEvent::Token(text) if !text.is_empty() && first_token.is_none() => {
                first_token = Some(Instant::now());
            }
            // The answer that counts is the one after the fallback.
            ReplyEvent::Retrying { .. } => first_token = None,
            ReplyEvent::Done(_) => return Ok(first_token),
            ReplyEvent::Failed(failed) => return Err(failed_kind(&failed)),
            _ => {}
        }
    }
    Err("reply_ended".into())
}

async fn direct(backend: &dyn Backend, request: ChatRequest) -> Result<Option<Instant>, String> {
    let mut stream = backend.chat(request);
    let mut first_token = None;
    while let Some(item) = stream.next().await {
        match item {
            Ok(Chunk::Delta(text)) if !text.is_empty() && first_token.is_none() => {
                first_token = Some(Instant::now());
            }
            Ok(Chunk::Delta(_)) => {}
            Ok(Chunk::Done(_)) => return Ok(first_token),
            Err(error) => return Err(backend_kind(&error)),
        }
    }
    Err("cut_short".into())
}

/// The kind of a request every model failed: the last attempt's reason.
pub fn failed_kind(failed: &AllFailed) -> String {
    match failed.attempts.last() {
        None => "no_model".into(),
        Some((_, AttemptError::CircuitOpen { .. })) => "circuit_open".into(),
        Some((_, AttemptError::BulkheadFull { .. })) => "bulkhead_full".into(),
        Some((_, AttemptError::NotInstalled { .. })) => "not_installed".into(),
        Some((_, AttemptError::UnknownModel(_))) => "unknown_model".into(),
        Some((_, AttemptError::Backend(error))) => backend_kind(error),
    }
}

/// A backend error's kind, as the report counts it.
pub fn backend_kind(error: &BackendError) -> String {
    match error {
        BackendError::Connect { .. } => "connect".into(),
        BackendError::Timeout { kind, .. } => match kind {
            TimeoutKind::Connect => "timeout_connect".into(),
            TimeoutKind::FirstToken => "timeout_first_token".into(),
            TimeoutKind::Stall => "timeout_stall".into(),
            TimeoutKind::Total => "timeout_total".into(),
        },
        BackendError::Status { status, .. } | BackendError::BadRequest { status, .. } => {
            format!("http_{status}")
        }
        BackendError::Busy { .. } => "busy".into(),
        BackendError::NotInstalled { .. } => "not_installed".into(),
        BackendError::StreamError { .. } => "stream_error".into(),
        BackendError::Malformed { .. } => "malformed".into(),
        BackendError::CutShort => "cut_short".into(),
    }
}
