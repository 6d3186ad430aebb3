//! The bytes on the wire: Ollama's NDJSON lines and OpenAI's SSE events, written by hand
//! in the exact field order and escaping of Ollama's Go encoder.
//!
//! Go's `encoding/json` escapes `<`, `>` and `&` as `\u003c`, `\u003e`, `\u0026` and the
//! line separators U+2028/U+2029; so does [`push_json_str`], so fixtures compare byte for
//! byte. Zero metrics are left out, as Go's `omitempty` does.

use std::fmt::Write as _;
use std::time::Duration;

use time::OffsetDateTime;

/// Appends `s` as a JSON string, quotes included, escaped as Go does.
pub(crate) fn push_json_str(out: &mut Vec<u8>, s: &str) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    out.push(b'"');
    let bytes = s.as_bytes();
    let mut start = 0;
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        let escape: Option<&[u8]> = match b {
            b'"' => Some(b"\\\""),
            b'\\' => Some(b"\\\\"),
            b'\n' => Some(b"\\n"),
            b'\r' => Some(b"\\r"),
            b'\t' => Some(b"\\t"),
            0x08 => Some(b"\\b"),
            0x0c => Some(b"\\f"),
            b'<' | b'>' | b'&' | 0..0x20 => Some(b""),
            // U+2028 and U+2029 are E2 80 A8 / E2 80 A9 in UTF-8.
            0xE2 if bytes.get(i + 1) == Some(&0x80)
                && matches!(bytes.get(i + 2), Some(0xA8 | 0xA9)) =>
            {
                Some(b"")
            }
            _ => None,
        };
        let Some(escape) = escape else {
            i += 1;
            continue;
        };
        out.extend_from_slice(&bytes[start..i]);
        if escape.is_empty() {
            // \u00XX for < > & and control characters; \u202X for the line separators.
            let (code, width) = if b == 0xE2 {
                (0x2028 + u32::from(bytes[i + 2] - 0xA8), 3)
            } else {
                (u32::from(b), 1)
            };
            out.extend_from_slice(b"\\u");
            for shift in [12, 8, 4, 0] {
                out.push(HEX[((code >> shift) & 0xf) as usize]);
            }
            i += width;
        } else {
            out.extend_from_slice(escape);
            i += 1;
        }
        start = i;
    }
    out.extend_from_slice(&bytes[start..]);
    out.push(b'"');
}

/// A JSON string as its own bytes (for the model name, escaped once per request).
pub(crate) fn json_str(s: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(s.len() + 2);
    push_json_str(&mut out, s);
    out
}

/// Appends `t` as RFC 3339 with nanoseconds and trailing zeros dropped, in UTC (`...Z`),
/// as Go's `time.RFC3339Nano` writes it.
pub(crate) fn push_timestamp(out: &mut Vec<u8>, t: OffsetDateTime) {
    let t = t.to_offset(time::UtcOffset::UTC);
    let mut s = String::with_capacity(32);
    let _ = write!(
        s,
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    );
    let nanos = t.nanosecond();
    if nanos > 0 {
        let frac = format!("{nanos:09}");
        s.push('.');
        s.push_str(frac.trim_end_matches('0'));
    }
    s.push('Z');
    out.extend_from_slice(s.as_bytes());
}

/// RFC 3339 of `t`, as [`push_timestamp`] writes it (without quotes).
pub(crate) fn timestamp(t: OffsetDateTime) -> String {
    let mut out = Vec::with_capacity(32);
    push_timestamp(&mut out, t);
    String::from_utf8_lossy(&out).into_owned()
}

fn push_u64(out: &mut Vec<u8>, n: u64) {
    let mut buf = [0u8; 20];
    let mut i = buf.len();
    let mut n = n;
    loop {
        i -= 1;
        buf[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    out.extend_from_slice(&buf[i..]);
}

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

    fn escaped(s: &str) -> String {
        String::from_utf8(json_str(s)).unwrap()
    }

    #[test]
    fn strings_are_escaped_as_go_does() {
        assert_eq!(escaped("a<b>&c"), r#""a\u003cb\u003e\u0026c""#);
        assert_eq!(escaped("q\"\\\n\t\r"), r#""q\"\\\n\t\r""#);
        assert_eq!(escaped("\u{1}\u{8}\u{c}"), r#""\u0001\b\f""#);
        assert_eq!(escaped("x\u{2028}y\u{2029}é"), "\"x\\u2028y\\u2029é\"");
    }

    #[test]
    fn escaped_strings_parse_back_to_the_original() {
        let s = "<tag> & \"quote\" \u{2028} ünï\u{7}";
        let back: String = serde_json::from_slice(&json_str(s)).unwrap();
        assert_eq!(back, s);
    }

    #[test]
    fn timestamps_drop_trailing_zeros_as_rfc3339nano() {
        let t = time::macros::datetime!(2026-08-21 09:14:02.118200000 UTC);
        assert_eq!(timestamp(t), "2026-08-21T09:14:02.1182Z");
        let t = time::macros::datetime!(2026-08-21 09:14:02 UTC);
        assert_eq!(timestamp(t), "2026-08-21T09:14:02Z");
    }

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
