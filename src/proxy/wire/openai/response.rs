//! OpenAI's answers: SSE chunks, the whole completion, errors and the model list.

use serde::Serialize;

use crate::backend::FinalStats;
use crate::proxy::wire::to_go_json;

/// `system_fingerprint` on every chunk and completion.
pub const FINGERPRINT: &str = "fp_signalbox";

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

/// A chunk with its one choice: `role` and `content` in the delta, and `finish_reason`.
fn choice_chunk(
    head: &StreamHead,
    role: Option<&'static str>,
    content: Option<&str>,
    finish_reason: Option<&str>,
) -> String {
    let choice = ChunkChoice {
        index: 0,
        delta: Delta { role, content },
        finish_reason,
    };
    chunk(head, Some(choice), None)
}

/// The first chunk: the role alone.
pub fn role_chunk(head: &StreamHead) -> String {
    choice_chunk(head, Some("assistant"), Some(""), None)
}

pub fn content_chunk(head: &StreamHead, text: &str) -> String {
    choice_chunk(head, None, Some(text), None)
}

/// The chunk with an empty delta and the finish reason.
pub fn finish_chunk(head: &StreamHead, reason: &str) -> String {
    choice_chunk(head, None, None, Some(reason))
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
    #[derive(Serialize)]
    struct Body<'a> {
        error: Detail<'a>,
    }
    #[derive(Serialize)]
    struct Detail<'a> {
        message: &'a str,
        #[serde(rename = "type")]
        kind: &'a str,
        param: Option<&'a str>,
        code: Option<&'a str>,
    }
    to_go_json(&Body {
        error: Detail {
            message,
            kind,
            param: None,
            code,
        },
    })
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
    fn error_object_keeps_openais_field_order() {
        assert_eq!(
            error_object("no", "api_error", None),
            r#"{"error":{"message":"no","type":"api_error","param":null,"code":null}}"#
        );
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
}
