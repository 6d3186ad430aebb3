//! Ollama's chat and generate requests, as the proxy reads them.

use serde::Deserialize;
use serde_json::{Map, Value};

use crate::backend::{Message, Role};

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

#[cfg(test)]
mod tests {
    use super::*;

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
