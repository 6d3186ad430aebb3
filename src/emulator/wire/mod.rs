//! The bytes on the wire: Ollama's NDJSON lines and OpenAI's SSE events, written by hand
//! in the exact field order and escaping of Ollama's Go encoder. Zero metrics are left
//! out, as Go's `omitempty` does.

mod json;

use std::time::Duration;

use time::OffsetDateTime;

pub(crate) use json::{json_str, push_json_str, push_timestamp, push_u64, timestamp};

/// Ollama's final-line metrics; a zero is left out.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Metrics {
    pub total: Duration,
    pub load: Duration,
    pub prompt_eval_count: u64,
    pub prompt_eval: Duration,
    pub eval_count: u64,
    pub eval: Duration,
}

impl Metrics {
    fn push(&self, out: &mut Vec<u8>) {
        let nanos = |d: Duration| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX);
        let fields = [
            ("total_duration", nanos(self.total)),
            ("load_duration", nanos(self.load)),
            ("prompt_eval_count", self.prompt_eval_count),
            ("prompt_eval_duration", nanos(self.prompt_eval)),
            ("eval_count", self.eval_count),
            ("eval_duration", nanos(self.eval)),
        ];
        for (name, value) in fields {
            if value != 0 {
                out.extend_from_slice(b",\"");
                out.extend_from_slice(name.as_bytes());
                out.extend_from_slice(b"\":");
                push_u64(out, value);
            }
        }
    }
}

/// Which protocol a response speaks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Dialect {
    /// Ollama `/api/chat`.
    Chat,
    /// Ollama `/api/generate`; `context` says whether the final line carries the token array.
    Generate { context: bool },
    /// OpenAI `/v1/chat/completions`.
    OpenAi,
}

/// How an answer ended, for the final line.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum DoneReason {
    Stop,
    Length,
    Load,
    Unload,
}

impl DoneReason {
    fn as_str(self) -> &'static str {
        match self {
            DoneReason::Stop => "stop",
            DoneReason::Length => "length",
            DoneReason::Load => "load",
            DoneReason::Unload => "unload",
        }
    }
}

/// Writes one response's lines: knows the dialect, the model name as sent and, for
/// OpenAI, the completion id and creation time shared by every chunk.
pub(crate) struct Writer {
    dialect: Dialect,
    model: Vec<u8>,
    id: u32,
    /// Unix seconds of the first chunk, shared by every later one.
    created: Option<i64>,
    role_sent: bool,
    include_usage: bool,
}

impl Writer {
    pub(crate) fn new(dialect: Dialect, model: &str, id: u32) -> Self {
        Writer {
            dialect,
            model: json_str(model),
            id,
            created: None,
            role_sent: false,
            include_usage: false,
        }
    }

    /// Ends an OpenAI stream with a usage chunk (`stream_options.include_usage`).
    pub(crate) fn with_usage(mut self, include_usage: bool) -> Self {
        self.include_usage = include_usage;
        self
    }

    pub(crate) fn dialect(&self) -> Dialect {
        self.dialect
    }

    /// A streamed token: one NDJSON line, or one SSE event (the first carries the role).
    pub(crate) fn token(&mut self, out: &mut Vec<u8>, text: &str) {
        match self.dialect {
            Dialect::Chat | Dialect::Generate { .. } => {
                self.ollama_head(out, OffsetDateTime::now_utc());
                self.ollama_text(out, text);
                out.extend_from_slice(b",\"done\":false}\n");
            }
            Dialect::OpenAi => {
                self.openai_head(out, b"chat.completion.chunk");
                out.extend_from_slice(b",\"choices\":[{\"index\":0,\"delta\":{");
                if !self.role_sent {
                    out.extend_from_slice(b"\"role\":\"assistant\",");
                    self.role_sent = true;
                }
                out.extend_from_slice(b"\"content\":");
                push_json_str(out, text);
                out.extend_from_slice(b"},\"finish_reason\":null}]}\n\n");
            }
        }
    }

    /// The end of a streamed answer: Ollama's `done` line, or OpenAI's finish chunk, the
    /// usage chunk when asked for, and `[DONE]`.
    pub(crate) fn done(
        &mut self,
        out: &mut Vec<u8>,
        reason: DoneReason,
        metrics: &Metrics,
        context: &[u32],
    ) {
        match self.dialect {
            Dialect::Chat | Dialect::Generate { .. } => {
                self.ollama_final(out, "", reason, metrics, context);
                out.push(b'\n');
            }
            Dialect::OpenAi => {
                self.openai_head(out, b"chat.completion.chunk");
                out.extend_from_slice(
                    b",\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":",
                );
                push_json_str(out, openai_finish(reason));
                out.extend_from_slice(b"}]}\n\n");
                if self.include_usage {
                    self.openai_head(out, b"chat.completion.chunk");
                    out.extend_from_slice(b",\"choices\":[]");
                    push_usage(out, metrics);
                    out.extend_from_slice(b"}\n\n");
                }
                out.extend_from_slice(b"data: [DONE]\n\n");
            }
        }
    }

    /// A whole answer as one JSON object (`stream:false`).
    pub(crate) fn whole(
        &mut self,
        out: &mut Vec<u8>,
        text: &str,
        reason: DoneReason,
        metrics: &Metrics,
        context: &[u32],
    ) {
        match self.dialect {
            Dialect::Chat | Dialect::Generate { .. } => {
                self.ollama_final(out, text, reason, metrics, context)
            }
            Dialect::OpenAi => {
                self.openai_head(out, b"chat.completion");
                out.extend_from_slice(
                    b",\"choices\":[{\"index\":0,\"message\":{\"role\":\"assistant\",\"content\":",
                );
                push_json_str(out, text);
                out.extend_from_slice(b"},\"finish_reason\":");
                push_json_str(out, openai_finish(reason));
                out.extend_from_slice(b"}]");
                push_usage(out, metrics);
                out.push(b'}');
            }
        }
        // The OpenAI head starts with "data: "; a whole object must not.
        if out.starts_with(b"data: ") {
            out.drain(..6);
        }
    }

    /// What `stream:false` returns when the answer stopped without `done`: the text so far
    /// with `done:false`, as Ollama does. OpenAI clients get the text with no finish reason.
    pub(crate) fn partial(&mut self, out: &mut Vec<u8>, text: &str) {
        match self.dialect {
            Dialect::Chat | Dialect::Generate { .. } => {
                self.ollama_head(out, OffsetDateTime::now_utc());
                self.ollama_text(out, text);
                out.extend_from_slice(b",\"done\":false}");
            }
            Dialect::OpenAi => {
                self.openai_head(out, b"chat.completion");
                out.extend_from_slice(
                    b",\"choices\":[{\"index\":0,\"message\":{\"role\":\"assistant\",\"content\":",
                );
                push_json_str(out, text);
                out.extend_from_slice(b"},\"finish_reason\":null}]}");
                out.drain(..6);
            }
        }
    }

    /// The line a stream ends with when the model fails mid-answer. Ollama's `/v1` layer
    /// reads the error as an empty chunk, so OpenAI clients only see an empty delta.
    pub(crate) fn error_line(&mut self, out: &mut Vec<u8>, message: &str) {
        match self.dialect {
            Dialect::Chat | Dialect::Generate { .. } => {
                out.extend_from_slice(b"{\"error\":");
                push_json_str(out, message);
                out.extend_from_slice(b"}\n");
            }
            Dialect::OpenAi => self.token(out, ""),
        }
    }

    /// A line that is not JSON: the start of a chunk, cut off.
    pub(crate) fn malformed(&mut self, out: &mut Vec<u8>) {
        match self.dialect {
            Dialect::Chat | Dialect::Generate { .. } => {
                out.extend_from_slice(b"{\"model\":");
                out.extend_from_slice(&self.model);
                out.extend_from_slice(b",\"created_at\":\n");
            }
            Dialect::OpenAi => out.extend_from_slice(b"data: {\"id\":\"chatcmpl-\n\n"),
        }
    }

    /// Filler a proxy might send while nothing happens: a blank line, or an SSE comment.
    pub(crate) fn keep_alive(&self, out: &mut Vec<u8>) {
        match self.dialect {
            Dialect::Chat | Dialect::Generate { .. } => out.push(b'\n'),
            Dialect::OpenAi => out.extend_from_slice(b": keep-alive\n\n"),
        }
    }

    fn ollama_head(&self, out: &mut Vec<u8>, at: OffsetDateTime) {
        out.extend_from_slice(b"{\"model\":");
        out.extend_from_slice(&self.model);
        out.extend_from_slice(b",\"created_at\":\"");
        push_timestamp(out, at);
        out.push(b'"');
    }

    fn ollama_text(&self, out: &mut Vec<u8>, text: &str) {
        match self.dialect {
            Dialect::Chat => {
                out.extend_from_slice(b",\"message\":{\"role\":\"assistant\",\"content\":");
                push_json_str(out, text);
                out.push(b'}');
            }
            _ => {
                out.extend_from_slice(b",\"response\":");
                push_json_str(out, text);
            }
        }
    }

    fn ollama_final(
        &self,
        out: &mut Vec<u8>,
        text: &str,
        reason: DoneReason,
        metrics: &Metrics,
        context: &[u32],
    ) {
        self.ollama_head(out, OffsetDateTime::now_utc());
        self.ollama_text(out, text);
        out.extend_from_slice(b",\"done\":true,\"done_reason\":");
        push_json_str(out, reason.as_str());
        if matches!(self.dialect, Dialect::Generate { context: true }) && !context.is_empty() {
            out.extend_from_slice(b",\"context\":[");
            for (i, token) in context.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                push_u64(out, u64::from(*token));
            }
            out.push(b']');
        }
        metrics.push(out);
        out.push(b'}');
    }

    fn openai_head(&mut self, out: &mut Vec<u8>, object: &[u8]) {
        let created = *self
            .created
            .get_or_insert_with(|| OffsetDateTime::now_utc().unix_timestamp());
        out.extend_from_slice(b"data: {\"id\":\"chatcmpl-");
        push_u64(out, u64::from(self.id));
        out.extend_from_slice(b"\",\"object\":\"");
        out.extend_from_slice(object);
        out.extend_from_slice(b"\",\"created\":");
        push_u64(out, u64::try_from(created).unwrap_or(0));
        out.extend_from_slice(b",\"model\":");
        out.extend_from_slice(&self.model);
        out.extend_from_slice(b",\"system_fingerprint\":\"fp_ollama\"");
    }
}

fn openai_finish(reason: DoneReason) -> &'static str {
    match reason {
        DoneReason::Length => "length",
        _ => "stop",
    }
}

fn push_usage(out: &mut Vec<u8>, metrics: &Metrics) {
    out.extend_from_slice(b",\"usage\":{\"prompt_tokens\":");
    push_u64(out, metrics.prompt_eval_count);
    out.extend_from_slice(b",\"completion_tokens\":");
    push_u64(out, metrics.eval_count);
    out.extend_from_slice(b",\"total_tokens\":");
    push_u64(out, metrics.prompt_eval_count + metrics.eval_count);
    out.push(b'}');
}

/// Ollama's error body: `{"error":"..."}`.
pub(crate) fn ollama_error(message: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(message.len() + 12);
    out.extend_from_slice(b"{\"error\":");
    push_json_str(&mut out, message);
    out.push(b'}');
    out
}

/// The error body of Ollama's `/v1` layer: `{"error":{"message","type","param","code"}}`.
pub(crate) fn openai_error(status: u16, message: &str) -> Vec<u8> {
    let kind = match status {
        400 => "invalid_request_error",
        404 => "not_found_error",
        _ => "api_error",
    };
    let mut out = Vec::with_capacity(message.len() + 64);
    out.extend_from_slice(b"{\"error\":{\"message\":");
    push_json_str(&mut out, message);
    out.extend_from_slice(b",\"type\":\"");
    out.extend_from_slice(kind.as_bytes());
    out.extend_from_slice(b"\",\"param\":null,\"code\":null}}");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zero_metrics_are_left_out_and_the_rest_keep_their_order() {
        let mut out = Vec::new();
        let m = Metrics {
            total: Duration::from_nanos(5),
            eval_count: 3,
            ..Metrics::default()
        };
        m.push(&mut out);
        assert_eq!(out, b",\"total_duration\":5,\"eval_count\":3");
    }

    #[test]
    fn openai_whole_answer_is_a_bare_object() {
        let mut w = Writer::new(Dialect::OpenAi, "m", 7);
        let mut out = Vec::new();
        w.whole(&mut out, "hi", DoneReason::Stop, &Metrics::default(), &[]);
        let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(v["object"], "chat.completion");
        assert_eq!(v["choices"][0]["message"]["content"], "hi");
    }
}
