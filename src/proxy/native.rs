//! Ollama's `/api/chat` and `/api/generate`: NDJSON streams by default, one JSON object
//! with `"stream": false`, byte for byte as Ollama writes them.

use std::net::SocketAddr;

use axum::body::Body;
use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Response};

use super::answer::{self, Tracker};
use super::error::{ApiError, Flavor, JSON};
use super::stream::{self, StreamFormat};
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
        return Ok(stream::whole_response(&answer, object));
    }

    let (first, following) = answer::start(&app, request, tracker, FLAVOR).await?;
    let lines = Lines {
        endpoint,
        model: ask.model,
    };
    Ok(stream::response(
        lines,
        first,
        following,
        [(header::CONTENT_TYPE, NDJSON)],
    ))
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

/// The NDJSON body: a line per token, then the `done` line, or an `{"error":…}` line if the
/// reply fails after it started.
struct Lines {
    endpoint: Endpoint,
    model: String,
}

impl StreamFormat for Lines {
    fn first_token(&self, text: &str) -> String {
        self.token(text)
    }

    fn token(&self, text: &str) -> String {
        ollama::token_object(self.endpoint, &self.model, &now_rfc3339(), text) + "\n"
    }

    fn whole(&self, answer: &Answer, tracker: &Tracker) -> String {
        done_object(self.endpoint, &self.model, answer, &answer.text, tracker) + "\n"
    }

    fn done(&self, answer: &Answer, _chunks: u64, tracker: &Tracker) -> String {
        done_object(self.endpoint, &self.model, answer, "", tracker) + "\n"
    }

    fn error(&self, message: &str) -> String {
        ollama::error_object(message) + "\n"
    }
}
