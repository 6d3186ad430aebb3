//! OpenAI's `/v1/chat/completions`: SSE chunks when streaming (a role-only first chunk,
//! content chunks, a finish chunk, an optional usage chunk, `[DONE]`), one completion
//! object otherwise.

use std::net::SocketAddr;
use std::sync::atomic::Ordering;

use axum::body::Body;
use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Response};

use super::answer::{self, Tracker};
use super::error::{ApiError, Flavor};
use super::stream::{self, StreamFormat};
use super::wire::openai::{self, ChatCompletionRequest, StreamHead, Usage};
use super::wire::unix_now;
use super::{App, body};
use crate::engine::Answer;

const FLAVOR: Flavor = Flavor::OpenAi;
const ENDPOINT: &str = "/v1/chat/completions";

/// The content type of server-sent events.
pub const EVENT_STREAM: &str = "text/event-stream";

pub async fn chat_completions(
    State(app): State<App>,
    ConnectInfo(client): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    handle(app, client, headers, body)
        .await
        .unwrap_or_else(IntoResponse::into_response)
}

async fn handle(
    app: App,
    client: SocketAddr,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let bytes = body::read(body, &headers, app.max_body_bytes, FLAVOR).await?;
    let req: ChatCompletionRequest = body::parse(&bytes, FLAVOR)?;
    let bad = |e: super::wire::ollama::BadRequest| ApiError::bad_request(FLAVOR, e.0);
    let model = req.model.clone().unwrap_or_default();
    if model.is_empty() {
        return Err(ApiError::bad_request(FLAVOR, "model is required"));
    }
    let messages = req.to_messages().map_err(bad)?;
    let format = req.to_format().map_err(bad)?;
    let target = answer::target(&app, &model, &headers, FLAVOR)?;
    let priority = answer::priority(&headers, FLAVOR)?;

    let head = StreamHead {
        id: format!("chatcmpl-{}", app.next_id.fetch_add(1, Ordering::Relaxed)),
        created: unix_now(),
        model: model.clone(),
        include_usage: req.streams() && req.include_usage(),
    };
    let client = client.to_string();
    let tracker = Tracker::new(&app, ENDPOINT, &model, &client);
    let request = answer::request(
        &app,
        messages,
        target,
        priority,
        &client,
        req.to_options(),
        format,
    );

    if !req.streams() {
        let (answer, _tracker) = answer::collect(&app, request, tracker, FLAVOR).await?;
        let usage = Usage::new(&answer.stats, 0);
        let object = openai::completion(
            &head,
            &answer.text,
            openai::finish_reason(&answer.stats),
            usage,
        );
        return Ok(stream::whole_response(&answer, object));
    }

    let (first, following) = answer::start(&app, request, tracker, FLAVOR).await?;
    Ok(stream::response(
        Events(head),
        first,
        following,
        [
            (header::CONTENT_TYPE, EVENT_STREAM),
            (header::CACHE_CONTROL, "no-cache"),
        ],
    ))
}

/// The events that close a successful stream: finish, usage when asked, `[DONE]`.
fn closing(head: &StreamHead, answer: &Answer, chunks: u64) -> String {
    let mut out = openai::sse_event(&openai::finish_chunk(
        head,
        openai::finish_reason(&answer.stats),
    ));
    if head.include_usage {
        out += &openai::sse_event(&openai::usage_chunk(
            head,
            Usage::new(&answer.stats, chunks),
        ));
    }
    out + openai::SSE_DONE
}

/// An error after the stream started: one `data:` event with OpenAI's error object (the
/// official clients raise it) and no `[DONE]`.
fn error_event(message: &str) -> String {
    openai::sse_event(&openai::error_object(message, "api_error", None))
}

/// The event stream: a role-only chunk with the first token, a chunk per token after it,
/// then the closing events, or an error event if the reply fails after it started.
struct Events(StreamHead);

impl StreamFormat for Events {
    fn first_token(&self, text: &str) -> String {
        openai::sse_event(&openai::role_chunk(&self.0)) + &self.token(text)
    }

    fn token(&self, text: &str) -> String {
        openai::sse_event(&openai::content_chunk(&self.0, text))
    }

    fn whole(&self, answer: &Answer, _tracker: &Tracker) -> String {
        let mut out = openai::sse_event(&openai::role_chunk(&self.0));
        if !answer.text.is_empty() {
            out += &self.token(&answer.text);
        }
        out + &closing(&self.0, answer, 1)
    }

    fn done(&self, answer: &Answer, chunks: u64, _tracker: &Tracker) -> String {
        closing(&self.0, answer, chunks)
    }

    fn error(&self, message: &str) -> String {
        error_event(message)
    }
}
