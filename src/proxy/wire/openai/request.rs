//! OpenAI's chat completion request, as the proxy reads it.

use serde::Deserialize;
use serde_json::{Map, Value};

use crate::backend::{Message, Role};
use crate::proxy::wire::ollama::BadRequest;

/// `POST /v1/chat/completions`. Unknown fields are ignored.
#[derive(Debug, Deserialize)]
pub struct ChatCompletionRequest {
    #[serde(default)]
    pub model: Option<String>,
    #[serde(default)]
    pub messages: Option<Vec<InMessage>>,
    #[serde(default)]
    pub stream: Option<bool>,
    #[serde(default)]
    pub stream_options: Option<StreamOptions>,
    #[serde(default)]
    pub max_tokens: Option<u64>,
    #[serde(default)]
    pub max_completion_tokens: Option<u64>,
    #[serde(default)]
    pub temperature: Option<f64>,
    #[serde(default)]
    pub top_p: Option<f64>,
    #[serde(default)]
    pub seed: Option<i64>,
    #[serde(default)]
    pub stop: Option<Value>,
    #[serde(default)]
    pub frequency_penalty: Option<f64>,
    #[serde(default)]
    pub presence_penalty: Option<f64>,
    #[serde(default)]
    pub response_format: Option<Value>,
    #[serde(default)]
    pub tools: Option<Vec<Value>>,
}

#[derive(Debug, Default, Deserialize)]
pub struct StreamOptions {
    #[serde(default)]
    pub include_usage: Option<bool>,
}

#[derive(Debug, Deserialize)]
pub struct InMessage {
    pub role: String,
    #[serde(default)]
    pub content: Option<Value>,
}

impl ChatCompletionRequest {
    /// OpenAI's default is not to stream.
    pub fn streams(&self) -> bool {
        self.stream.unwrap_or(false)
    }

    pub fn include_usage(&self) -> bool {
        self.stream_options
            .as_ref()
            .and_then(|o| o.include_usage)
            .unwrap_or(false)
    }

    /// The conversation in the engine's terms; text parts are joined, images and tools
    /// refused (the engine routes plain text chat).
    pub fn to_messages(&self) -> Result<Vec<Message>, BadRequest> {
        if self.tools.as_ref().is_some_and(|t| !t.is_empty()) {
            return Err(BadRequest("signalbox does not support tools".to_string()));
        }
        let messages = self.messages.as_deref().unwrap_or_default();
        if messages.is_empty() {
            return Err(BadRequest("[] is too short - 'messages'".to_string()));
        }
        messages
            .iter()
            .map(|m| {
                Ok(Message {
                    role: role(&m.role)?,
                    content: content(&m.content)?,
                })
            })
            .collect()
    }

    /// The sampling fields as Ollama options.
    pub fn to_options(&self) -> Map<String, Value> {
        let mut options = Map::new();
        let mut put = |key: &str, value: Option<Value>| {
            if let Some(value) = value {
                options.insert(key.to_string(), value);
            }
        };
        put(
            "num_predict",
            self.max_completion_tokens
                .or(self.max_tokens)
                .map(Value::from),
        );
        put("temperature", self.temperature.map(Value::from));
        put("top_p", self.top_p.map(Value::from));
        put("seed", self.seed.map(Value::from));
        put("frequency_penalty", self.frequency_penalty.map(Value::from));
        put("presence_penalty", self.presence_penalty.map(Value::from));
        put(
            "stop",
            match &self.stop {
                Some(Value::String(s)) => Some(Value::Array(vec![Value::String(s.clone())])),
                Some(Value::Array(a)) => Some(Value::Array(a.clone())),
                _ => None,
            },
        );
        options
    }

    /// `response_format` as Ollama's `format`: `json_object` is `"json"`, `json_schema`
    /// is its schema, `text` is none.
    pub fn to_format(&self) -> Result<Option<Value>, BadRequest> {
        let Some(format) = &self.response_format else {
            return Ok(None);
        };
        match format.get("type").and_then(Value::as_str) {
            None | Some("text") => Ok(None),
            Some("json_object") => Ok(Some(Value::String("json".to_string()))),
            Some("json_schema") => format
                .get("json_schema")
                .and_then(|s| s.get("schema"))
                .cloned()
                .map(Some)
                .ok_or_else(|| {
                    BadRequest("response_format.json_schema.schema is required".to_string())
                }),
            Some(other) => Err(BadRequest(format!(
                "unsupported response_format type '{other}'"
            ))),
        }
    }
}

fn role(role: &str) -> Result<Role, BadRequest> {
    match role {
        "system" | "developer" => Ok(Role::System),
        "user" => Ok(Role::User),
        "assistant" => Ok(Role::Assistant),
        "tool" => Ok(Role::Tool),
        other => Err(BadRequest(format!("invalid message role: {other}"))),
    }
}

fn content(content: &Option<Value>) -> Result<String, BadRequest> {
    match content {
        None | Some(Value::Null) => Ok(String::new()),
        Some(Value::String(s)) => Ok(s.clone()),
        Some(Value::Array(parts)) => {
            let mut texts = Vec::with_capacity(parts.len());
            for part in parts {
                match part.get("type").and_then(Value::as_str) {
                    Some("text") => {
                        texts.push(part.get("text").and_then(Value::as_str).unwrap_or_default())
                    }
                    Some(other) => {
                        return Err(BadRequest(format!(
                            "signalbox does not pass '{other}' content on"
                        )));
                    }
                    None => return Err(BadRequest("invalid message content part".to_string())),
                }
            }
            Ok(texts.join("\n"))
        }
        Some(_) => Err(BadRequest("invalid message content".to_string())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_messages_are_refused_with_ollamas_message() {
        let req: ChatCompletionRequest =
            serde_json::from_str(r#"{"model":"m","messages":[]}"#).unwrap();
        assert_eq!(
            req.to_messages().unwrap_err().0,
            "[] is too short - 'messages'"
        );
    }

    #[test]
    fn text_parts_are_joined_and_developer_is_system() {
        let req: ChatCompletionRequest = serde_json::from_str(
            r#"{"model":"m","messages":[{"role":"developer","content":"be brief"},
                {"role":"user","content":[{"type":"text","text":"a"},{"type":"text","text":"b"}]}]}"#,
        )
        .unwrap();
        assert_eq!(
            req.to_messages().unwrap(),
            vec![Message::system("be brief"), Message::user("a\nb")]
        );
    }

    #[test]
    fn sampling_fields_become_ollama_options() {
        let req: ChatCompletionRequest = serde_json::from_str(
            r#"{"model":"m","messages":[],"max_tokens":5,"temperature":0.5,"stop":"x"}"#,
        )
        .unwrap();
        let options = req.to_options();
        assert_eq!(options["num_predict"], 5);
        assert_eq!(options["temperature"], 0.5);
        assert_eq!(options["stop"], serde_json::json!(["x"]));
    }

    #[test]
    fn response_format_maps_to_ollama_format() {
        let req: ChatCompletionRequest =
            serde_json::from_str(r#"{"response_format":{"type":"json_object"}}"#).unwrap();
        assert_eq!(req.to_format().unwrap(), Some(Value::String("json".into())));
    }

    #[test]
    fn streaming_is_off_unless_asked() {
        let req: ChatCompletionRequest = serde_json::from_str(r#"{}"#).unwrap();
        assert!(!req.streams());
        assert!(!req.include_usage());
    }
}
