//! Ollama's OpenAI-compatible chat endpoint, `POST /v1/chat/completions`.
//!
//! As on Ollama, `stream` defaults to false here, the first streamed chunk carries the
//! role with the first content, a separate chunk carries `finish_reason`, the usage chunk
//! comes only with `stream_options.include_usage`, and the stream ends with `[DONE]`.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use serde::Deserialize;
use serde_json::Value;

use super::api::decode;
use super::generation::Ask;
use super::respond::{self, Job, error};
use super::state::Shared;
use super::wire::Dialect;

#[derive(Deserialize)]
struct CompletionBody {
    model: Option<String>,
    messages: Option<Vec<MessageBody>>,
    stream: Option<bool>,
    stream_options: Option<StreamOptions>,
    max_tokens: Option<i64>,
    max_completion_tokens: Option<i64>,
    seed: Option<i64>,
}

#[derive(Deserialize)]
struct MessageBody {
    content: Option<Value>,
}

#[derive(Deserialize)]
struct StreamOptions {
    include_usage: Option<bool>,
}

/// `POST /v1/chat/completions`.
pub(crate) async fn chat_completions(State(shared): State<Arc<Shared>>, body: Bytes) -> Response {
    let dialect = Dialect::OpenAi;
    let req: CompletionBody = match decode(&body) {
        Ok(req) => req,
        // Ollama's /v1 layer decodes with json.Decoder, which calls an empty body "EOF".
        Err(message) if message == "missing request body" => {
            return error(dialect, StatusCode::BAD_REQUEST, "EOF");
        }
        Err(message) => return error(dialect, StatusCode::BAD_REQUEST, &message),
    };
    let messages = req.messages.unwrap_or_default();
    if messages.is_empty() {
        return error(
            dialect,
            StatusCode::BAD_REQUEST,
            "[] is too short - 'messages'",
        );
    }
    let model = req.model.unwrap_or_default();
    if model.is_empty() {
        return error(dialect, StatusCode::BAD_REQUEST, "model is required");
    }
    let limit = req.max_completion_tokens.or(req.max_tokens);
    let mut ask = Ask {
        limit: limit.and_then(|n| u32::try_from(n).ok()),
        seed: req.seed,
        ..Ask::default()
    };
    for message in &messages {
        add_content(&mut ask, message.content.as_ref());
    }
    let include_usage = req
        .stream_options
        .and_then(|o| o.include_usage)
        .unwrap_or(false);
    let job = Job {
        dialect,
        model,
        stream: req.stream.unwrap_or(false),
        ask,
        include_usage,
        preload: None,
    };
    respond::run(shared, job).await
}

/// Counts a message's text: a plain string, or the text parts of a content array.
fn add_content(ask: &mut Ask, content: Option<&Value>) {
    match content {
        Some(Value::String(text)) => ask.add_text(text),
        Some(Value::Array(parts)) => {
            for text in parts
                .iter()
                .filter_map(|p| p.get("text").and_then(Value::as_str))
            {
                ask.add_text(text);
            }
        }
        _ => ask.add_text(""),
    }
}
