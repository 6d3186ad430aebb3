//! Ollama's native API: `/api/chat` and `/api/generate` requests, their NDJSON lines and
//! final objects, and the listing endpoints.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::to_go_json;
use crate::backend::{FinalStats, Message, Role};

/// A request the proxy refuses before it reaches the engine: HTTP 400 with this message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BadRequest(pub String);

/// `POST /api/chat`. Unknown fields are ignored, as Ollama ignores them.
#[derive(Debug, Deserialize)]
pub struct ChatRequest {
    #[serde(default)]
    pub model: Option<String>,
    #[serde(default)]
    pub messages: Option<Vec<InMessage>>,
    #[serde(default)]
    pub stream: Option<bool>,
    #[serde(default)]
    pub format: Option<Value>,
    #[serde(default)]
    pub options: Option<Map<String, Value>>,
    #[serde(default)]
    pub keep_alive: Option<Value>,
    #[serde(default)]
    pub tools: Option<Vec<Value>>,
}

/// One message of a chat request.
#[derive(Debug, Deserialize)]
pub struct InMessage {
    pub role: String,
    #[serde(default)]
    pub content: Option<String>,
    #[serde(default)]
    pub images: Option<Vec<Value>>,
}

/// `POST /api/generate`.
#[derive(Debug, Deserialize)]
pub struct GenerateRequest {
    #[serde(default)]
    pub model: Option<String>,
    #[serde(default)]
    pub prompt: Option<String>,
    #[serde(default)]
    pub system: Option<String>,
    #[serde(default)]
    pub stream: Option<bool>,
    #[serde(default)]
    pub format: Option<Value>,
    #[serde(default)]
    pub options: Option<Map<String, Value>>,
    #[serde(default)]
    pub keep_alive: Option<Value>,
    #[serde(default)]
    pub images: Option<Vec<Value>>,
}

impl ChatRequest {
    /// The conversation in the engine's terms. Images and tools are refused: the engine
    /// routes plain text chat, and silently dropping them would give a wrong answer.
    pub fn to_messages(&self) -> Result<Vec<Message>, BadRequest> {
        if self.tools.as_ref().is_some_and(|t| !t.is_empty()) {
            return Err(BadRequest(format!(
                "{} does not support tools",
                self.model.as_deref().unwrap_or_default()
            )));
        }
        let Some(messages) = &self.messages else {
            return Ok(Vec::new());
        };
        messages
            .iter()
            .map(|m| {
                if m.images.as_ref().is_some_and(|i| !i.is_empty()) {
                    return Err(BadRequest("signalbox does not pass images on".to_string()));
                }
                Ok(Message {
                    role: parse_role(&m.role)?,
                    content: m.content.clone().unwrap_or_default(),
                })
            })
            .collect()
    }

    /// Whether the client asked to stream (Ollama's default).
    pub fn streams(&self) -> bool {
        self.stream.unwrap_or(true)
    }
}

impl GenerateRequest {
    /// The prompt (and system prompt) as a conversation.
    pub fn to_messages(&self) -> Result<Vec<Message>, BadRequest> {
        if self.images.as_ref().is_some_and(|i| !i.is_empty()) {
            return Err(BadRequest("signalbox does not pass images on".to_string()));
        }
        let mut messages = Vec::with_capacity(2);
        if let Some(system) = self.system.as_deref().filter(|s| !s.is_empty()) {
            messages.push(Message::system(system));
        }
        if let Some(prompt) = self.prompt.as_deref().filter(|p| !p.is_empty()) {
            messages.push(Message::user(prompt));
        }
        Ok(messages)
    }

    pub fn streams(&self) -> bool {
        self.stream.unwrap_or(true)
    }

    /// Ollama treats an empty prompt as "load the model".
    pub fn is_preload(&self) -> bool {
        self.prompt.as_deref().unwrap_or_default().is_empty()
    }
}

/// A role as Ollama takes it: lower-cased on input.
pub fn parse_role(role: &str) -> Result<Role, BadRequest> {
    match role.to_ascii_lowercase().as_str() {
        "system" => Ok(Role::System),
        "user" => Ok(Role::User),
        "assistant" => Ok(Role::Assistant),
        "tool" => Ok(Role::Tool),
        other => Err(BadRequest(format!(
            "invalid role '{other}': use system, user, assistant or tool"
        ))),
    }
}

/// `format` as the engine takes it: `""` and `null` mean none.
pub fn format_option(format: &Option<Value>) -> Option<Value> {
    match format {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) if s.is_empty() => None,
        Some(other) => Some(other.clone()),
    }
}

/// Whether `keep_alive` asks to unload the model now (`0`, `"0"`, `"0s"`, ...).
pub fn is_unload(keep_alive: &Option<Value>) -> bool {
    match keep_alive {
        Some(Value::Number(n)) => n.as_f64() == Some(0.0),
        Some(Value::String(s)) => {
            let digits = s.trim_end_matches(|c: char| c.is_ascii_alphabetic());
            !digits.is_empty() && digits.parse::<f64>().ok() == Some(0.0)
        }
        _ => false,
    }
}

/// The metrics of a final line, in Ollama's order; zeros are left out.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct DoneMetrics {
    #[serde(skip_serializing_if = "is_zero")]
    pub total_duration: u64,
    #[serde(skip_serializing_if = "is_zero")]
    pub load_duration: u64,
    #[serde(skip_serializing_if = "is_zero")]
    pub prompt_eval_count: u64,
    #[serde(skip_serializing_if = "is_zero")]
    pub prompt_eval_duration: u64,
    #[serde(skip_serializing_if = "is_zero")]
    pub eval_count: u64,
    #[serde(skip_serializing_if = "is_zero")]
    pub eval_duration: u64,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

fn nanos(d: Option<Duration>) -> u64 {
    d.map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
}

impl DoneMetrics {
    /// `total` is measured by the proxy (handler start to final line, as Ollama measures
    /// it); the rest is what the answering server reported, unknown left out.
    pub fn new(total: Duration, stats: &FinalStats) -> Self {
        DoneMetrics {
            total_duration: nanos(Some(total)),
            load_duration: nanos(stats.load_duration),
            prompt_eval_count: stats.prompt_tokens.unwrap_or(0),
            prompt_eval_duration: nanos(stats.prompt_eval_duration),
            eval_count: stats.completion_tokens.unwrap_or(0),
            eval_duration: nanos(stats.eval_duration),
        }
    }
}

#[derive(Serialize)]
struct AssistantMessage<'a> {
    role: &'static str,
    content: &'a str,
}

#[derive(Serialize)]
struct ChatLine<'a> {
    model: &'a str,
    created_at: &'a str,
    message: AssistantMessage<'a>,
    done: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    done_reason: Option<&'a str>,
    #[serde(flatten)]
    metrics: DoneMetrics,
}

#[derive(Serialize)]
struct GenerateLine<'a> {
    model: &'a str,
    created_at: &'a str,
    response: &'a str,
    done: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    done_reason: Option<&'a str>,
    #[serde(flatten)]
    metrics: DoneMetrics,
}

/// Which native endpoint a line belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Endpoint {
    Chat,
    Generate,
}

/// One `done:false` object carrying a piece of the answer (no newline).
pub fn token_object(endpoint: Endpoint, model: &str, created_at: &str, text: &str) -> String {
    object(
        endpoint,
        model,
        created_at,
        text,
        None,
        DoneMetrics::default(),
    )
}

/// The `done:true` object (no newline): the final streamed line, or the whole
/// non-streaming answer when `text` is all of it.
pub fn done_object(
    endpoint: Endpoint,
    model: &str,
    created_at: &str,
    text: &str,
    done_reason: &str,
    metrics: DoneMetrics,
) -> String {
    object(
        endpoint,
        model,
        created_at,
        text,
        Some(done_reason),
        metrics,
    )
}

fn object(
    endpoint: Endpoint,
    model: &str,
    created_at: &str,
    text: &str,
    done_reason: Option<&str>,
    metrics: DoneMetrics,
) -> String {
    let done = done_reason.is_some();
    match endpoint {
        Endpoint::Chat => to_go_json(&ChatLine {
            model,
            created_at,
            message: AssistantMessage {
                role: "assistant",
                content: text,
            },
            done,
            done_reason,
            metrics,
        }),
        Endpoint::Generate => to_go_json(&GenerateLine {
            model,
            created_at,
            response: text,
            done,
            done_reason,
            metrics,
        }),
    }
}

/// `{"error":"…"}`, the body of every native error and the in-stream error line.
pub fn error_object(message: &str) -> String {
    to_go_json(&serde_json::json!({ "error": message }))
}

/// `details` of a listed model. signalbox does not know the files behind a model, so the
/// strings are empty, as Ollama leaves unknown ones.
#[derive(Clone, Debug, Default, Serialize)]
pub struct ModelDetails {
    pub parent_model: String,
    pub format: String,
    pub family: String,
    pub families: Option<Vec<String>>,
    pub parameter_size: String,
    pub quantization_level: String,
}

/// One entry of `/api/tags`.
#[derive(Clone, Debug, Serialize)]
pub struct TagsModel {
    pub name: String,
    pub model: String,
    pub modified_at: String,
    pub size: u64,
    pub digest: String,
    pub details: ModelDetails,
}

/// One entry of `/api/ps`.
#[derive(Clone, Debug, Serialize)]
pub struct PsModel {
    pub name: String,
    pub model: String,
    pub size: u64,
    pub digest: String,
    pub details: ModelDetails,
    pub expires_at: String,
    pub size_vram: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chat_token_line_matches_ollama_field_order() {
        let line = token_object(
            Endpoint::Chat,
            "granite3.3:2b",
            "2026-08-21T09:14:02.118Z",
            "Eleven",
        );
        assert_eq!(
            line,
            r#"{"model":"granite3.3:2b","created_at":"2026-08-21T09:14:02.118Z","message":{"role":"assistant","content":"Eleven"},"done":false}"#
        );
    }

    #[test]
    fn chat_done_line_has_reason_then_metrics_in_order() {
        let stats = FinalStats {
            done_reason: Some("stop".into()),
            prompt_tokens: Some(27),
            completion_tokens: Some(3),
            total_duration: None,
            load_duration: Some(Duration::from_nanos(1_502_119_844)),
            prompt_eval_duration: Some(Duration::from_nanos(211_003_000)),
            eval_duration: Some(Duration::from_nanos(41_882_000)),
        };
        let metrics = DoneMetrics::new(Duration::from_nanos(1_893_340_112), &stats);
        let line = done_object(Endpoint::Chat, "granite3.3:2b", "T", "", "stop", metrics);
        assert_eq!(
            line,
            r#"{"model":"granite3.3:2b","created_at":"T","message":{"role":"assistant","content":""},"done":true,"done_reason":"stop","total_duration":1893340112,"load_duration":1502119844,"prompt_eval_count":27,"prompt_eval_duration":211003000,"eval_count":3,"eval_duration":41882000}"#
        );
    }

    #[test]
    fn unknown_metrics_are_left_out_not_zero() {
        let metrics = DoneMetrics::new(Duration::from_nanos(5), &FinalStats::default());
        let line = done_object(Endpoint::Generate, "m", "T", "hi", "stop", metrics);
        assert_eq!(
            line,
            r#"{"model":"m","created_at":"T","response":"hi","done":true,"done_reason":"stop","total_duration":5}"#
        );
    }

    #[test]
    fn generate_token_line_uses_response_field() {
        let line = token_object(Endpoint::Generate, "m", "T", "<b>");
        assert_eq!(
            line,
            r#"{"model":"m","created_at":"T","response":"\u003cb\u003e","done":false}"#
        );
    }

    #[test]
    fn chat_request_defaults_to_streaming_and_lowercases_roles() {
        let req: ChatRequest = serde_json::from_str(
            r#"{"model":"m","messages":[{"role":"USER","content":"hi"}],"extra":1}"#,
        )
        .unwrap();
        assert!(req.streams());
        assert_eq!(req.to_messages().unwrap(), vec![Message::user("hi")]);
    }

    #[test]
    fn chat_request_with_tools_is_refused() {
        let req: ChatRequest =
            serde_json::from_str(r#"{"model":"m","messages":[],"tools":[{"type":"function"}]}"#)
                .unwrap();
        assert_eq!(req.to_messages().unwrap_err().0, "m does not support tools");
    }

    #[test]
    fn generate_request_puts_system_before_prompt() {
        let req: GenerateRequest = serde_json::from_str(
            r#"{"model":"m","prompt":"hi","system":"be brief","stream":false}"#,
        )
        .unwrap();
        assert!(!req.streams());
        assert_eq!(
            req.to_messages().unwrap(),
            vec![Message::system("be brief"), Message::user("hi")]
        );
    }

    #[test]
    fn keep_alive_zero_means_unload() {
        assert!(is_unload(&Some(serde_json::json!(0))));
        assert!(is_unload(&Some(serde_json::json!("0s"))));
        assert!(!is_unload(&Some(serde_json::json!("10m"))));
        assert!(!is_unload(&None));
    }

    #[test]
    fn empty_format_is_no_format() {
        assert_eq!(format_option(&Some(serde_json::json!(""))), None);
        assert_eq!(
            format_option(&Some(serde_json::json!("json"))),
            Some(serde_json::json!("json"))
        );
    }
}
