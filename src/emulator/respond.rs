//! From a parsed request to a response, the same for `/api/chat`, `/api/generate` and
//! `/v1/chat/completions`: find the model, draw the request's fault, then answer whole or
//! as a stream whose headers wait for the first chunk, as Ollama's do.

use std::convert::Infallible;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use axum::body::{Body, Bytes};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::Response;
use futures_util::{StreamExt, stream};
use rand::Rng;

use super::fault::{BUSY_MESSAGE, Fault, RUNNER_STOPPED_MESSAGE};
use super::generation::{Ask, Event, Generation, draw};
use super::state::Shared;
use super::wire::{Dialect, DoneReason, Metrics, Writer, ollama_error, openai_error};

/// Marks a response that must not be sent: the connection is closed instead.
#[derive(Clone, Copy, Debug)]
pub(crate) struct RefuseConnection;

/// A chat or completion request, parsed.
pub(crate) struct Job {
    pub dialect: Dialect,
    /// The model exactly as the client sent it (echoed back).
    pub model: String,
    pub stream: bool,
    pub ask: Ask,
    /// OpenAI's `stream_options.include_usage`.
    pub include_usage: bool,
    /// `Some` for a preload (no messages / empty prompt): answer at once with this reason.
    pub preload: Option<DoneReason>,
}

/// Answers one chat or completion request.
pub(crate) async fn run(shared: Arc<Shared>, job: Job) -> Response {
    let dialect = job.dialect;
    let Some(entry) = shared.find(&job.model).cloned() else {
        shared.unknown_model.fetch_add(1, Ordering::Relaxed);
        return error(dialect, StatusCode::NOT_FOUND, &not_found(&job.model));
    };
    let mut draw = draw(&entry, shared.seed, &job.ask);

    // Faults that answer before any work is done.
    let early = match &draw.fault {
        Some(Fault::Refuse) => Some(refuse()),
        Some(Fault::Busy) => Some(error(
            dialect,
            StatusCode::SERVICE_UNAVAILABLE,
            BUSY_MESSAGE,
        )),
        Some(Fault::NotInstalled) => Some(error(
            dialect,
            StatusCode::NOT_FOUND,
            &not_found(&job.model),
        )),
        Some(Fault::ServerError { message }) => {
            let message = message.as_deref().unwrap_or(RUNNER_STOPPED_MESSAGE);
            Some(error(dialect, StatusCode::INTERNAL_SERVER_ERROR, message))
        }
        _ => None,
    };
    if let Some(response) = early {
        entry.counters.faulted.fetch_add(1, Ordering::Relaxed);
        return response;
    }

    let id = draw.rng.random_range(0..999);
    let mut writer = Writer::new(dialect, &job.model, id).with_usage(job.include_usage);
    if let Some(reason) = job.preload {
        if reason == DoneReason::Unload {
            entry.loaded.store(false, Ordering::Relaxed);
        }
        entry.counters.served.fetch_add(1, Ordering::Relaxed);
        let mut out = Vec::with_capacity(160);
        writer.whole(&mut out, "", reason, &Metrics::default(), &[]);
        return json(StatusCode::OK, out);
    }

    let generation = Generation::new(entry, draw, job.ask, shared.speed);
    if job.stream {
        stream_answer(generation, writer).await
    } else {
        whole_answer(generation, writer).await
    }
}

/// Streams the answer. The response (and so the status line) is ready only once the first
/// bytes are, so a client waiting for headers waits for the first token.
async fn stream_answer(mut generation: Generation, mut writer: Writer) -> Response {
    let content_type = match writer.dialect() {
        Dialect::OpenAi => "text/event-stream",
        _ => "application/x-ndjson",
    };
    let (first, ended) = next_bytes(&mut generation, &mut writer).await;
    let head = stream::iter((!first.is_empty()).then_some(Ok::<_, Infallible>(first)));
    let rest = stream::unfold(
        (!ended).then_some((generation, writer)),
        |state| async move {
            let (mut generation, mut writer) = state?;
            let (bytes, ended) = next_bytes(&mut generation, &mut writer).await;
            if bytes.is_empty() {
                return None;
            }
            Some((Ok(bytes), (!ended).then_some((generation, writer))))
        },
    );
    let mut response = Response::new(Body::from_stream(head.chain(rest)));
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    response
}

/// The next non-empty piece of the stream, and whether the stream ended with it.
async fn next_bytes(generation: &mut Generation, writer: &mut Writer) -> (Bytes, bool) {
    let mut out = Vec::with_capacity(192);
    let mut ended = false;
    while out.is_empty() && !ended {
        ended = generation.render_next(writer, &mut out).await;
    }
    (Bytes::from(out), ended)
}

/// Collects the whole answer into one JSON object (`stream:false`).
async fn whole_answer(mut generation: Generation, mut writer: Writer) -> Response {
    let mut text = String::new();
    let mut out = Vec::with_capacity(512);
    loop {
        match generation.next().await {
            Event::Token => text.push_str(generation.text()),
            Event::KeepAlive | Event::Empty | Event::Malformed => {}
            Event::Done(reason) => {
                let metrics = generation.metrics();
                let context = generation.context();
                writer.whole(&mut out, &text, reason, &metrics, &context);
                generation.finish(true);
                return json(StatusCode::OK, out);
            }
            Event::Error(message) => {
                generation.finish(false);
                return error(
                    writer.dialect(),
                    StatusCode::INTERNAL_SERVER_ERROR,
                    &message,
                );
            }
            Event::Truncated => {
                generation.finish(false);
                writer.partial(&mut out, &text);
                return json(StatusCode::OK, out);
            }
        }
    }
}

/// Ollama's 404 message, with the model as the client sent it.
pub(crate) fn not_found(model: &str) -> String {
    format!("model '{model}' not found")
}

/// An error response in the dialect's shape.
pub(crate) fn error(dialect: Dialect, status: StatusCode, message: &str) -> Response {
    let body = match dialect {
        Dialect::OpenAi => openai_error(status.as_u16(), message),
        _ => ollama_error(message),
    };
    json(status, body)
}

/// A JSON body as gin sends it.
pub(crate) fn json(status: StatusCode, body: Vec<u8>) -> Response {
    let mut response = Response::new(Body::from(body));
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json; charset=utf-8"),
    );
    response
}

fn refuse() -> Response {
    let mut response = Response::new(Body::empty());
    response.extensions_mut().insert(RefuseConnection);
    response
}
