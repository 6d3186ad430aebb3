//! OpenAI's `/v1/chat/completions`: SSE chunks when streaming (a role-only first chunk,
//! content chunks, a finish chunk, an optional usage chunk, `[DONE]`), one completion
//! object otherwise.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::Ordering;

use axum::body::{Body, Bytes};
use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use futures_util::Stream;

use super::answer::{self, First, Following, Step, Tracker};
use super::error::{ApiError, Flavor, JSON};
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
    let body = Body::from_stream(events(head, first, following));
    Ok((
        StatusCode::OK,
        headers,
        [
            (header::CONTENT_TYPE, EVENT_STREAM),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        body,
    )
        .into_response())
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

enum EventState {
    First(First, Following),
    Running(Following),
    End,
}

fn events(
    head: StreamHead,
    first: First,
    following: Following,
) -> impl Stream<Item = Result<Bytes, Infallible>> + Send + 'static {
    futures_util::stream::unfold(EventState::First(first, following), move |state| {
        let head = head.clone();
        async move {
            let (data, next) = match state {
                EventState::End => return None,
                EventState::First(first, mut following) => {
                    let mut out = openai::sse_event(&openai::role_chunk(&head));
                    match first {
                        First::Token(text) => {
                            out += &openai::sse_event(&openai::content_chunk(&head, &text));
                            (out, EventState::Running(following))
                        }
                        First::Done(answer) => {
                            following.tracker.answered(&answer, 0);
                            if !answer.text.is_empty() {
                                out +=
                                    &openai::sse_event(&openai::content_chunk(&head, &answer.text));
                            }
                            (out + &closing(&head, &answer, 1), EventState::End)
                        }
                    }
                }
                EventState::Running(mut following) => match following.next().await {
                    Step::Token(text) => (
                        openai::sse_event(&openai::content_chunk(&head, &text)),
                        EventState::Running(following),
                    ),
                    Step::Done(answer) => {
                        following.tracker.answered(&answer, following.chunks);
                        (closing(&head, &answer, following.chunks), EventState::End)
                    }
                    Step::Error(message) => {
                        following.tracker.failed(&message, true);
                        (error_event(&message), EventState::End)
                    }
                },
            };
            Some((Ok(Bytes::from(data)), next))
        }
    })
}
