//! OpenAI's chat completions: the request, the SSE chunks and the whole completion, in the
//! shape Ollama's OpenAI-compatible endpoints send (which the official clients accept).

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::ollama::BadRequest;
use super::to_go_json;
use crate::backend::{FinalStats, Message, Role};

/// `system_fingerprint` on every chunk and completion.
pub const FINGERPRINT: &str = "fp_signalbox";

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

/// What every chunk of one stream shares.
#[derive(Clone, Debug)]
pub struct StreamHead {
    pub id: String,
    pub created: i64,
    /// As the client sent it.
    pub model: String,
    /// With `stream_options.include_usage`, chunks other than the usage chunk carry
    /// `"usage":null`, as OpenAI's specification says.
    pub include_usage: bool,
}

/// Token counts.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Usage {
    pub prompt_tokens: u64,
    pub completion_tokens: u64,
    pub total_tokens: u64,
}

impl Usage {
    /// From what the server reported; `chunks` stands in for an unreported completion count.
    pub fn new(stats: &FinalStats, chunks: u64) -> Self {
        let prompt_tokens = stats.prompt_tokens.unwrap_or(0);
        let completion_tokens = stats.completion_tokens.unwrap_or(chunks);
        Usage {
            prompt_tokens,
            completion_tokens,
            total_tokens: prompt_tokens + completion_tokens,
        }
    }
}

/// OpenAI's `finish_reason` from a server's `done_reason`.
pub fn finish_reason(stats: &FinalStats) -> &'static str {
    match stats.done_reason.as_deref() {
        Some("length") => "length",
        _ => "stop",
    }
}

#[derive(Serialize)]
struct Delta<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    role: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    content: Option<&'a str>,
}

#[derive(Serialize)]
struct ChunkChoice<'a> {
    index: u32,
    delta: Delta<'a>,
    finish_reason: Option<&'a str>,
}

#[derive(Serialize)]
struct Chunk<'a> {
    id: &'a str,
    object: &'static str,
    created: i64,
    model: &'a str,
    system_fingerprint: &'static str,
    choices: Vec<ChunkChoice<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    usage: Option<Option<Usage>>,
}

fn chunk(head: &StreamHead, choice: Option<ChunkChoice<'_>>, usage: Option<Usage>) -> String {
    to_go_json(&Chunk {
        id: &head.id,
        object: "chat.completion.chunk",
        created: head.created,
        model: &head.model,
        system_fingerprint: FINGERPRINT,
        choices: choice.into_iter().collect(),
        usage: if usage.is_some() || head.include_usage {
            Some(usage)
        } else {
            None
        },
    })
}

/// The first chunk: the role alone.
pub fn role_chunk(head: &StreamHead) -> String {
    let delta = Delta {
        role: Some("assistant"),
        content: Some(""),
    };
    chunk(
        head,
        Some(ChunkChoice {
            index: 0,
            delta,
            finish_reason: None,
        }),
        None,
    )
}

pub fn content_chunk(head: &StreamHead, text: &str) -> String {
    let delta = Delta {
        role: None,
        content: Some(text),
    };
    chunk(
        head,
        Some(ChunkChoice {
            index: 0,
            delta,
            finish_reason: None,
        }),
        None,
    )
}

/// The chunk with an empty delta and the finish reason.
pub fn finish_chunk(head: &StreamHead, reason: &str) -> String {
    let delta = Delta {
        role: None,
        content: None,
    };
    chunk(
        head,
        Some(ChunkChoice {
            index: 0,
            delta,
            finish_reason: Some(reason),
        }),
        None,
    )
}

/// The chunk with no choices and the token counts, sent before `[DONE]` when asked for.
pub fn usage_chunk(head: &StreamHead, usage: Usage) -> String {
    chunk(head, None, Some(usage))
}

/// One server-sent event carrying `data`.
pub fn sse_event(data: &str) -> String {
    format!("data: {data}\n\n")
}

/// The event that ends a successful stream.
pub const SSE_DONE: &str = "data: [DONE]\n\n";

#[derive(Serialize)]
struct OutMessage<'a> {
    role: &'static str,
    content: &'a str,
}

#[derive(Serialize)]
struct CompletionChoice<'a> {
    index: u32,
    message: OutMessage<'a>,
    finish_reason: &'a str,
}

#[derive(Serialize)]
struct Completion<'a> {
    id: &'a str,
    object: &'static str,
    created: i64,
    model: &'a str,
    system_fingerprint: &'static str,
    choices: [CompletionChoice<'a>; 1],
    usage: Usage,
}

/// A whole, non-streamed completion.
pub fn completion(head: &StreamHead, text: &str, reason: &str, usage: Usage) -> String {
    to_go_json(&Completion {
        id: &head.id,
        object: "chat.completion",
        created: head.created,
        model: &head.model,
        system_fingerprint: FINGERPRINT,
        choices: [CompletionChoice {
            index: 0,
            message: OutMessage {
                role: "assistant",
                content: text,
            },
            finish_reason: reason,
        }],
        usage,
    })
}

/// OpenAI's error body: `{"error":{"message","type","param","code"}}`.
pub fn error_object(message: &str, kind: &str, code: Option<&str>) -> String {
    to_go_json(&serde_json::json!({
        "error": { "message": message, "type": kind, "param": null, "code": code }
    }))
}

/// OpenAI's error type for a status, as Ollama chooses it.
pub fn error_type(status: u16) -> &'static str {
    match status {
        400 | 413 => "invalid_request_error",
        401 => "authentication_error",
        404 => "not_found_error",
        _ => "api_error",
    }
}

/// `/v1/models` entries.
#[derive(Clone, Debug, Serialize)]
pub struct ModelEntry {
    pub id: String,
    pub object: &'static str,
    pub created: i64,
    pub owned_by: &'static str,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn head(include_usage: bool) -> StreamHead {
        StreamHead {
            id: "chatcmpl-7".into(),
            created: 1787390042,
            model: "m".into(),
            include_usage,
        }
    }

    #[test]
    fn role_chunk_carries_role_and_empty_content() {
        assert_eq!(
            role_chunk(&head(false)),
            r#"{"id":"chatcmpl-7","object":"chat.completion.chunk","created":1787390042,"model":"m","system_fingerprint":"fp_signalbox","choices":[{"index":0,"delta":{"role":"assistant","content":""},"finish_reason":null}]}"#
        );
    }

    #[test]
    fn finish_chunk_has_empty_delta_and_reason() {
        assert_eq!(
            finish_chunk(&head(false), "stop"),
            r#"{"id":"chatcmpl-7","object":"chat.completion.chunk","created":1787390042,"model":"m","system_fingerprint":"fp_signalbox","choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}"#
        );
    }

    #[test]
    fn with_include_usage_other_chunks_carry_null_usage_and_the_last_counts() {
        let h = head(true);
        assert!(content_chunk(&h, "x").ends_with(r#""finish_reason":null}],"usage":null}"#));
        let usage = Usage {
            prompt_tokens: 27,
            completion_tokens: 3,
            total_tokens: 30,
        };
        assert!(usage_chunk(&h, usage).ends_with(
            r#""choices":[],"usage":{"prompt_tokens":27,"completion_tokens":3,"total_tokens":30}}"#
        ));
    }

    #[test]
    fn completion_has_message_reason_and_usage() {
        let usage = Usage {
            prompt_tokens: 1,
            completion_tokens: 2,
            total_tokens: 3,
        };
        assert_eq!(
            completion(&head(false), "Eleven.", "stop", usage),
            r#"{"id":"chatcmpl-7","object":"chat.completion","created":1787390042,"model":"m","system_fingerprint":"fp_signalbox","choices":[{"index":0,"message":{"role":"assistant","content":"Eleven."},"finish_reason":"stop"}],"usage":{"prompt_tokens":1,"completion_tokens":2,"total_tokens":3}}"#
        );
    }

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
