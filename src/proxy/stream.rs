//! The streamed body of an answer, whichever API it is written for: the first token, the
//! ones after it, then the end or an in-stream error, each accounted on the tracker.

use std::convert::Infallible;

use axum::body::{Body, Bytes};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, IntoResponseParts, Response};
use futures_util::Stream;

use super::answer::{self, First, Following, Step, Tracker};
use super::error::JSON;
use crate::engine::Answer;

/// How one API writes the pieces of a streamed answer. Each method returns the bytes to
/// send as text.
pub trait StreamFormat: Send + 'static {
    /// The first token.
    fn first_token(&self, text: &str) -> String;
    /// A token after the first.
    fn token(&self, text: &str) -> String;
    /// The whole answer, which came without a token being streamed first.
    fn whole(&self, answer: &Answer, tracker: &Tracker) -> String;
    /// The end of an answer whose `chunks` tokens were streamed.
    fn done(&self, answer: &Answer, chunks: u64, tracker: &Tracker) -> String;
    /// The reply failed after the stream started.
    fn error(&self, message: &str) -> String;
}

enum State {
    First(First, Following),
    Running(Following),
    End,
}

/// The streamed body: `format`'s pieces in order. Dropping the body (the client went
/// away) drops the reply, which cancels the request upstream.
fn body<F: StreamFormat>(
    format: F,
    first: First,
    following: Following,
) -> impl Stream<Item = Result<Bytes, Infallible>> + Send + 'static {
    let start = (format, State::First(first, following));
    futures_util::stream::unfold(start, |(format, state)| async move {
        let (text, next) = match state {
            State::End => return None,
            State::First(First::Token(text), following) => {
                (format.first_token(&text), State::Running(following))
            }
            State::First(First::Done(answer), mut following) => {
                following.tracker.answered(&answer, 0);
                (format.whole(&answer, &following.tracker), State::End)
            }
            State::Running(mut following) => match following.next().await {
                Step::Token(text) => (format.token(&text), State::Running(following)),
                Step::Done(answer) => {
                    following.tracker.answered(&answer, following.chunks);
                    let text = format.done(&answer, following.chunks, &following.tracker);
                    (text, State::End)
                }
                Step::Error(message) => {
                    following.tracker.failed(&message, true);
                    (format.error(&message), State::End)
                }
            },
        };
        Some((Ok(Bytes::from(text)), (format, next)))
    })
}

/// The response for a streamed answer: the answering model's headers, then `parts` (the
/// content type and what else the API sends), then the body.
pub fn response<F: StreamFormat>(
    format: F,
    first: First,
    following: Following,
    parts: impl IntoResponseParts,
) -> Response {
    let headers = following.headers();
    let body = Body::from_stream(body(format, first, following));
    (StatusCode::OK, headers, parts, body).into_response()
}

/// The response for an answer sent whole: the answering model's headers and `object`.
pub fn whole_response(answer: &Answer, object: String) -> Response {
    let headers = answer::answer_headers(&answer.model, &answer::fallback_names(answer));
    (
        StatusCode::OK,
        headers,
        [(header::CONTENT_TYPE, JSON)],
        object,
    )
        .into_response()
}
