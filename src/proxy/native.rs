//! Ollama's `/api/chat` and `/api/generate`: NDJSON streams by default, one JSON object
//! with `"stream": false`, byte for byte as Ollama writes them.

use std::convert::Infallible;
use std::net::SocketAddr;

use axum::body::{Body, Bytes};
use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use futures_util::Stream;

use super::answer::{self, First, Following, Step, Tracker};
use super::error::{ApiError, Flavor, JSON};
use super::wire::now_rfc3339;
use super::wire::ollama::{self, DoneMetrics, Endpoint};
use super::{App, body};
use crate::backend::Message;
use crate::engine::Answer;

/// The content type of Ollama's streams.
pub const NDJSON: &str = "application/x-ndjson";

const FLAVOR: Flavor = Flavor::Ollama;

pub async fn chat(
    State(app): State<App>,
    ConnectInfo(client): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    handle(app, client, headers, body, Endpoint::Chat)
        .await
        .unwrap_or_else(IntoResponse::into_response)
}

pub async fn generate(
    State(app): State<App>,
    ConnectInfo(client): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    handle(app, client, headers, body, Endpoint::Generate)
        .await
        .unwrap_or_else(IntoResponse::into_response)
}

/// A native request, whichever endpoint it came to.
struct NativeAsk {
    model: String,
    messages: Vec<Message>,
    stream: bool,
    format: Option<serde_json::Value>,
    options: serde_json::Map<String, serde_json::Value>,
    /// No conversation: Ollama's "load the model" call.
    preload: bool,
    unload: bool,
}

fn parse(bytes: &[u8], endpoint: Endpoint) -> Result<NativeAsk, ApiError> {
    let bad = |e: ollama::BadRequest| ApiError::bad_request(FLAVOR, e.0);
    match endpoint {
        Endpoint::Chat => {
            let req: ollama::ChatRequest = body::parse(bytes, FLAVOR)?;
            let model = req.model.clone().unwrap_or_default();
            if model.is_empty() {
                return Err(ApiError::bad_request(FLAVOR, "model is required"));
            }
            let messages = req.to_messages().map_err(bad)?;
            Ok(NativeAsk {
                model,
                preload: messages.is_empty(),
                messages,
                stream: req.streams(),
                format: ollama::format_option(&req.format),
                options: req.options.unwrap_or_default(),
                unload: ollama::is_unload(&req.keep_alive),
            })
        }
        Endpoint::Generate => {
            let req: ollama::GenerateRequest = body::parse(bytes, FLAVOR)?;
            let model = req.model.clone().unwrap_or_default();
            if model.is_empty() {
                return Err(ApiError::model_not_found(FLAVOR, ""));
            }
            Ok(NativeAsk {
                model,
                messages: req.to_messages().map_err(bad)?,
                preload: req.is_preload(),
                stream: req.streams(),
                format: ollama::format_option(&req.format),
                options: req.options.clone().unwrap_or_default(),
                unload: ollama::is_unload(&req.keep_alive),
            })
        }
    }
}

async fn handle(
    app: App,
    client: SocketAddr,
    headers: HeaderMap,
    body: Body,
    endpoint: Endpoint,
) -> Result<Response, ApiError> {
    let bytes = body::read(body, &headers, app.max_body_bytes, FLAVOR).await?;
    let ask = parse(&bytes, endpoint)?;
    let target = answer::target(&app, &ask.model, &headers, FLAVOR)?;
    let priority = answer::priority(&headers, FLAVOR)?;

    // Loading and unloading are the model server's business; the router keeps its models
    // as configured, so these calls are answered at once, as Ollama answers them for a
    // model already loaded.
    if ask.preload {
        let reason = if ask.unload { "unload" } else { "load" };
        let object = ollama::done_object(
            endpoint,
            &ask.model,
            &now_rfc3339(),
            "",
            reason,
            DoneMetrics::default(),
        );
        return Ok(([(header::CONTENT_TYPE, JSON)], object).into_response());
    }

    let name = endpoint_name(endpoint);
    let client = client.to_string();
    let tracker = Tracker::new(&app, name, &ask.model, &client);
    let request = answer::request(
        &app,
        ask.messages,
        target,
        priority,
        &client,
        ask.options,
        ask.format,
    );

    if !ask.stream {
        let (answer, tracker) = answer::collect(&app, request, tracker, FLAVOR).await?;
        let object = done_object(endpoint, &ask.model, &answer, &answer.text, &tracker);
        let headers = answer::answer_headers(&answer.model, &answer::fallback_names(&answer));
        return Ok((
            StatusCode::OK,
            headers,
            [(header::CONTENT_TYPE, JSON)],
            object,
        )
            .into_response());
    }

    let (first, following) = answer::start(&app, request, tracker, FLAVOR).await?;
    let headers = following.headers();
    let body = Body::from_stream(lines(endpoint, ask.model, first, following));
    Ok((
        StatusCode::OK,
        headers,
        [(header::CONTENT_TYPE, NDJSON)],
        body,
    )
        .into_response())
}

fn endpoint_name(endpoint: Endpoint) -> &'static str {
    match endpoint {
        Endpoint::Chat => "/api/chat",
        Endpoint::Generate => "/api/generate",
    }
}

fn done_object(
    endpoint: Endpoint,
    model: &str,
    answer: &Answer,
    text: &str,
    tracker: &Tracker,
) -> String {
    let reason = answer.stats.done_reason.as_deref().unwrap_or("stop");
    let metrics = DoneMetrics::new(tracker.elapsed(), &answer.stats);
    ollama::done_object(endpoint, model, &now_rfc3339(), text, reason, metrics)
}

enum LineState {
    First(First, Following),
    Running(Following),
    End,
}

/// The NDJSON body: a line per token, then the `done` line, or an `{"error":…}` line if the
/// reply fails after it started. Dropping the body (the client went away) drops the
/// reply, which cancels the request upstream.
fn lines(
    endpoint: Endpoint,
    model: String,
    first: First,
    following: Following,
) -> impl Stream<Item = Result<Bytes, Infallible>> + Send + 'static {
    futures_util::stream::unfold(LineState::First(first, following), move |state| {
        let model = model.clone();
        async move {
            let (line, next) = match state {
                LineState::End => return None,
                LineState::First(First::Token(text), following) => (
                    ollama::token_object(endpoint, &model, &now_rfc3339(), &text),
                    LineState::Running(following),
                ),
                LineState::First(First::Done(answer), mut following) => {
                    following.tracker.answered(&answer, 0);
                    (
                        done_object(endpoint, &model, &answer, &answer.text, &following.tracker),
                        LineState::End,
                    )
                }
                LineState::Running(mut following) => match following.next().await {
                    Step::Token(text) => (
                        ollama::token_object(endpoint, &model, &now_rfc3339(), &text),
                        LineState::Running(following),
                    ),
                    Step::Done(answer) => {
                        following.tracker.answered(&answer, following.chunks);
                        (
                            done_object(endpoint, &model, &answer, "", &following.tracker),
                            LineState::End,
                        )
                    }
                    Step::Error(message) => {
                        following.tracker.failed(&message, true);
                        (ollama::error_object(&message), LineState::End)
                    }
                },
            };
            Some((Ok(Bytes::from(line + "\n")), next))
        }
    })
}
