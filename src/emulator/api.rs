//! Ollama's native endpoints: `POST /api/chat` and `POST /api/generate`.
//!
//! The body is read as JSON whatever its content type, as gin does. Only the fields the
//! emulator acts on are parsed; unknown fields are ignored.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

use super::generation::Ask;
use super::respond::{self, Job, error, not_found};
use super::state::Shared;
use super::wire::{Dialect, DoneReason};

#[derive(Deserialize)]
struct ChatBody {
    model: Option<String>,
    messages: Option<Vec<MessageBody>>,
    stream: Option<bool>,
    options: Option<Value>,
    keep_alive: Option<Value>,
}

#[derive(Deserialize)]
struct MessageBody {
    content: Option<String>,
}

#[derive(Deserialize)]
struct GenerateBody {
    model: Option<String>,
    prompt: Option<String>,
    system: Option<String>,
    images: Option<Vec<Value>>,
    raw: Option<bool>,
    stream: Option<bool>,
    options: Option<Value>,
    keep_alive: Option<Value>,
}

/// `POST /api/chat`.
pub(crate) async fn chat(State(shared): State<Arc<Shared>>, body: Bytes) -> Response {
    let dialect = Dialect::Chat;
    let req: ChatBody = match decode(&body) {
        Ok(req) => req,
        Err(message) => return error(dialect, StatusCode::BAD_REQUEST, &message),
    };
    let model = req.model.unwrap_or_default();
    if model.is_empty() {
        return error(dialect, StatusCode::BAD_REQUEST, "model is required");
    }
    let messages = req.messages.unwrap_or_default();
    let mut ask = ask_from_options(req.options.as_ref());
    for message in &messages {
        ask.add_text(message.content.as_deref().unwrap_or_default());
    }
    let preload = messages
        .is_empty()
        .then(|| preload_reason(req.keep_alive.as_ref()));
    let job = native_job(dialect, model, req.stream, ask, preload);
    respond::run(shared, job).await
}

/// `POST /api/generate`.
pub(crate) async fn generate(State(shared): State<Arc<Shared>>, body: Bytes) -> Response {
    let req: GenerateBody = match decode(&body) {
        Ok(req) => req,
        Err(message) => return error(Dialect::Chat, StatusCode::BAD_REQUEST, &message),
    };
    let model = req.model.unwrap_or_default();
    if model.is_empty() {
        return error(Dialect::Chat, StatusCode::NOT_FOUND, &not_found(""));
    }
    let raw = req.raw.unwrap_or(false);
    let dialect = Dialect::Generate { context: !raw };
    let prompt = req.prompt.unwrap_or_default();
    let mut ask = ask_from_options(req.options.as_ref());
    if let Some(system) = &req.system {
        ask.add_text(system);
    }
    ask.add_text(&prompt);
    let empty = prompt.is_empty() && req.images.as_ref().is_none_or(Vec::is_empty);
    let preload = empty.then(|| preload_reason(req.keep_alive.as_ref()));
    let job = native_job(dialect, model, req.stream, ask, preload);
    respond::run(shared, job).await
}

/// A native endpoint's job: streamed unless the request says otherwise, and without
/// OpenAI's usage chunk.
fn native_job(
    dialect: Dialect,
    model: String,
    stream: Option<bool>,
    ask: Ask,
    preload: Option<DoneReason>,
) -> Job {
    Job {
        dialect,
        model,
        stream: stream.unwrap_or(true),
        ask,
        include_usage: false,
        preload,
    }
}

/// `num_predict` and `seed` from Ollama's `options`; a negative `num_predict` means no cap.
fn ask_from_options(options: Option<&Value>) -> Ask {
    let get = |key: &str| options.and_then(|o| o.get(key)).and_then(Value::as_i64);
    Ask {
        limit: get("num_predict").and_then(|n| u32::try_from(n).ok()),
        seed: get("seed"),
        ..Ask::default()
    }
}

/// A preload loads the model, unless `keep_alive` is zero, which unloads it.
fn preload_reason(keep_alive: Option<&Value>) -> DoneReason {
    let zero = match keep_alive {
        Some(Value::Number(n)) => n.as_f64() == Some(0.0),
        Some(Value::String(s)) => {
            s == "0" || humantime::parse_duration(s).is_ok_and(|d| d.is_zero())
        }
        _ => false,
    };
    if zero {
        DoneReason::Unload
    } else {
        DoneReason::Load
    }
}

/// Decodes a request body, with Ollama's messages for an empty or malformed one.
pub(crate) fn decode<T: DeserializeOwned>(body: &[u8]) -> Result<T, String> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err("missing request body".to_string());
    }
    serde_json::from_slice(body).map_err(|e| go_decoder_message(body, &e))
}

/// Go's `encoding/json` wording for the common decode errors. Limitation: only the usual
/// cases (truncated input, a bad character, a wrong type) are worded as Go words them; the
/// rest fall back to serde's message.
fn go_decoder_message(body: &[u8], e: &serde_json::Error) -> String {
    use serde_json::error::Category;
    match e.classify() {
        Category::Eof => "unexpected EOF".to_string(),
        Category::Syntax => {
            let at = byte_offset(body, e.line(), e.column());
            match body.get(at.saturating_sub(1)) {
                Some(c) if c.is_ascii_graphic() => {
                    format!(
                        "invalid character '{}' looking for beginning of value",
                        *c as char
                    )
                }
                _ => e.to_string(),
            }
        }
        Category::Data => {
            let text = e.to_string();
            let what = text.split(" at line ").next().unwrap_or(&text);
            format!("json: cannot unmarshal {what}")
        }
        Category::Io => e.to_string(),
    }
}

/// The byte offset of serde's (1-based line, 1-based column) position.
fn byte_offset(body: &[u8], line: usize, column: usize) -> usize {
    let line_start: usize = body
        .split(|b| *b == b'\n')
        .take(line.saturating_sub(1))
        .map(|l| l.len() + 1)
        .sum();
    line_start + column
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decode_words_errors_as_ollama_does() {
        assert_eq!(
            decode::<ChatBody>(b"").err().unwrap(),
            "missing request body"
        );
        assert_eq!(
            decode::<ChatBody>(b"  \n").err().unwrap(),
            "missing request body"
        );
        assert_eq!(
            decode::<ChatBody>(b"{\"model\":").err().unwrap(),
            "unexpected EOF"
        );
        assert_eq!(
            decode::<ChatBody>(b"{\"model\": x}").err().unwrap(),
            "invalid character 'x' looking for beginning of value"
        );
    }

    #[test]
    fn keep_alive_zero_means_unload() {
        assert_eq!(preload_reason(Some(&Value::from(0))), DoneReason::Unload);
        assert_eq!(preload_reason(Some(&Value::from("0s"))), DoneReason::Unload);
        assert_eq!(preload_reason(Some(&Value::from("5m"))), DoneReason::Load);
        assert_eq!(preload_reason(None), DoneReason::Load);
    }
}
