//! The Ollama backend: `POST {base}/api/chat`, answered as newline-delimited JSON.

use std::collections::VecDeque;
use std::fmt;
use std::time::Duration;

use bytes::Bytes;
use serde::{Deserialize, Serialize};
use url::Url;

use super::decode::{DecodeError, NdjsonDecoder};
use super::http::{self, BuildError, ChatEndpoint, Protocol};
use super::{Backend, BackendError, ChatRequest, Chunk, ChunkStream, FinalStats, Message};
use crate::config::ModelConfig;

/// Talks to one Ollama server. Holds one HTTP client, so connections are reused across
/// requests to it.
#[derive(Clone)]
pub struct OllamaBackend {
    endpoint: ChatEndpoint,
    defaults: Defaults,
}

/// What the configuration adds to every request, under the request's own values.
#[derive(Clone, Debug, Default)]
struct Defaults {
    model: String,
    options: serde_json::Map<String, serde_json::Value>,
    keep_alive: Option<serde_json::Value>,
}

impl fmt::Debug for OllamaBackend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OllamaBackend")
            .field("chat_url", &self.chat_url().as_str())
            .field("model", &self.defaults.model)
            .finish_non_exhaustive()
    }
}

impl OllamaBackend {
    /// A backend for a configured model: its server, connect limit, options and
    /// keep-alive. A request's own options and keep-alive win over the configured ones.
    pub fn new(model: &ModelConfig) -> Result<Self, BuildError> {
        Ok(OllamaBackend {
            endpoint: ChatEndpoint::new(model, &model.base_url, "api/chat", None)?,
            defaults: Defaults {
                model: model.server_model().to_string(),
                options: model.options.clone(),
                keep_alive: model.keep_alive.clone(),
            },
        })
    }

    /// Where chat requests go.
    pub fn chat_url(&self) -> &Url {
        self.endpoint.url()
    }
}

impl Backend for OllamaBackend {
    fn chat(&self, request: ChatRequest) -> ChunkStream {
        let body = ChatBody::new(&request, &self.defaults);
        self.endpoint
            .post(&body, body.model, OllamaStream::default())
    }
}

/// The body of `POST /api/chat`.
#[derive(Debug, Serialize)]
struct ChatBody<'a> {
    model: &'a str,
    messages: &'a [Message],
    stream: bool,
    #[serde(skip_serializing_if = "serde_json::Map::is_empty")]
    options: serde_json::Map<String, serde_json::Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    keep_alive: Option<&'a serde_json::Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    format: Option<&'a serde_json::Value>,
}

impl<'a> ChatBody<'a> {
    fn new(request: &'a ChatRequest, defaults: &'a Defaults) -> Self {
        ChatBody {
            model: http::model_for(request, &defaults.model),
            messages: &request.messages,
            stream: true,
            options: http::merged_options(&defaults.options, request),
            keep_alive: request.keep_alive.as_ref().or(defaults.keep_alive.as_ref()),
            format: request.format.as_ref(),
        }
    }
}

/// One NDJSON line of a streamed chat answer. Every metric may be missing: Ollama leaves
/// out zero values, and a missing one is unknown, not zero.
#[derive(Debug, Deserialize)]
struct Line {
    #[serde(default)]
    error: Option<serde_json::Value>,
    #[serde(default)]
    message: Option<LineMessage>,
    done: Option<bool>,
    done_reason: Option<String>,
    prompt_eval_count: Option<u64>,
    eval_count: Option<u64>,
    total_duration: Option<u64>,
    load_duration: Option<u64>,
    prompt_eval_duration: Option<u64>,
    eval_duration: Option<u64>,
}

#[derive(Debug, Deserialize)]
struct LineMessage {
    #[serde(default)]
    content: Option<String>,
}

/// Reads Ollama's chat stream. Success only on a `done: true` line; an `error` line is the
/// server failing mid-answer; the end of input without `done` is a stream cut short.
///
/// Thinking text (`message.thinking`) and tool calls are not passed on: [`Chunk`] carries
/// answer text only.
#[derive(Debug, Default)]
pub(crate) struct OllamaStream {
    lines: NdjsonDecoder,
    line_no: u64,
    /// A final item was given; anything after it is ignored.
    over: bool,
}

impl OllamaStream {
    fn line(&mut self, line: &[u8], out: &mut VecDeque<Result<Chunk, BackendError>>) {
        self.over = !self.interpret(line, out);
    }

    fn interpret(&mut self, line: &[u8], out: &mut VecDeque<Result<Chunk, BackendError>>) -> bool {
        self.line_no += 1;
        let parsed: Line = match serde_json::from_slice(line) {
            Ok(parsed) => parsed,
            Err(error) => {
                out.push_back(Err(BackendError::Malformed {
                    message: format!("line {} is not a chat chunk: {error}", self.line_no),
                }));
                return false;
            }
        };
        if let Some(message) = parsed.error.as_ref().and_then(http::message_of) {
            out.push_back(Err(BackendError::StreamError { message }));
            return false;
        }
        let Some(done) = parsed.done else {
            out.push_back(Err(BackendError::Malformed {
                message: format!("line {} has no `done` field", self.line_no),
            }));
            return false;
        };
        if let Some(content) = parsed.message.and_then(|m| m.content)
            && !content.is_empty()
        {
            out.push_back(Ok(Chunk::Delta(content)));
        }
        if done {
            out.push_back(Ok(Chunk::Done(FinalStats {
                done_reason: parsed.done_reason,
                prompt_tokens: parsed.prompt_eval_count,
                completion_tokens: parsed.eval_count,
                total_duration: parsed.total_duration.map(Duration::from_nanos),
                load_duration: parsed.load_duration.map(Duration::from_nanos),
                prompt_eval_duration: parsed.prompt_eval_duration.map(Duration::from_nanos),
                eval_duration: parsed.eval_duration.map(Duration::from_nanos),
            })));
            return false;
        }
        true
    }

    /// Interprets every line `next` gives until it has no more or the answer is over.
    fn drain(
        &mut self,
        out: &mut VecDeque<Result<Chunk, BackendError>>,
        next: fn(&mut NdjsonDecoder) -> Result<Option<Bytes>, DecodeError>,
    ) {
        while !self.over {
            match next(&mut self.lines) {
                Ok(Some(line)) => self.line(&line, out),
                Ok(None) => return,
                Err(error) => {
                    self.over = true;
                    out.push_back(Err(BackendError::Malformed {
                        message: error.to_string(),
                    }));
                }
            }
        }
    }
}

impl Protocol for OllamaStream {
    fn read(&mut self, bytes: Bytes, out: &mut VecDeque<Result<Chunk, BackendError>>) {
        if self.over {
            return;
        }
        self.lines.push(bytes);
        self.drain(out, NdjsonDecoder::next_line);
    }

    fn end(&mut self, out: &mut VecDeque<Result<Chunk, BackendError>>) {
        self.drain(out, NdjsonDecoder::finish);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::http::check_split;

    fn decode(reads: &[&str]) -> Vec<Result<Chunk, BackendError>> {
        let mut stream = OllamaStream::default();
        let mut out = VecDeque::new();
        for read in reads {
            stream.read(Bytes::copy_from_slice(read.as_bytes()), &mut out);
        }
        stream.end(&mut out);
        out.into_iter().collect()
    }

    #[test]
    fn a_final_line_with_content_gives_a_last_delta_then_done() {
        let out = decode(&[
            r#"{"message":{"role":"assistant","content":"Hi"},"done":false}"#,
            "\n",
            r#"{"message":{"role":"assistant","content":"!"},"done":true,"done_reason":"stop","eval_count":2,"eval_duration":1000}"#,
        ]);
        assert_eq!(out[0], Ok(Chunk::Delta("Hi".into())));
        assert_eq!(out[1], Ok(Chunk::Delta("!".into())));
        let Ok(Chunk::Done(stats)) = &out[2] else {
            panic!("expected done, got {out:?}")
        };
        assert_eq!(stats.done_reason.as_deref(), Some("stop"));
        assert_eq!(stats.eval_duration, Some(Duration::from_micros(1)));
        assert_eq!(
            stats.load_duration, None,
            "a missing timing is unknown, not zero"
        );
        assert_eq!(stats.prompt_tokens, None);
    }

    #[test]
    fn empty_content_gives_no_delta() {
        let out = decode(&["{\"message\":{\"content\":\"\"},\"done\":false}\n{\"done\":true}\n"]);
        assert_eq!(out, vec![Ok(Chunk::Done(FinalStats::default()))]);
    }

    #[test]
    fn a_line_without_done_is_malformed() {
        let out = decode(&["{\"message\":{\"content\":\"x\"}}\n"]);
        assert!(
            matches!(out[0], Err(BackendError::Malformed { .. })),
            "{out:?}"
        );
    }

    #[test]
    fn nothing_after_the_final_line_is_read() {
        let out =
            decode(&["{\"done\":true}\n{\"message\":{\"content\":\"late\"},\"done\":false}\n"]);
        assert_eq!(out.len(), 1);
    }

    #[test]
    fn the_request_body_merges_configured_options_under_the_requests() {
        let defaults = Defaults {
            model: "gemma3:1b".into(),
            options: serde_json::json!({"temperature": 0.2, "num_ctx": 4096})
                .as_object()
                .cloned()
                .unwrap_or_default(),
            keep_alive: Some(serde_json::json!("10m")),
        };
        let request = ChatRequest {
            messages: vec![Message::system("Be brief."), Message::user("Hi")],
            options: serde_json::json!({"temperature": 0.7})
                .as_object()
                .cloned()
                .unwrap_or_default(),
            format: Some(serde_json::json!("json")),
            ..ChatRequest::default()
        };
        let body = serde_json::to_value(ChatBody::new(&request, &defaults)).unwrap();
        assert_eq!(
            body,
            serde_json::json!({
                "model": "gemma3:1b",
                "messages": [{"role":"system","content":"Be brief."},{"role":"user","content":"Hi"}],
                "stream": true,
                "options": {"temperature": 0.7, "num_ctx": 4096},
                "keep_alive": "10m",
                "format": "json",
            })
        );
    }

    proptest::proptest! {
        #[test]
        fn every_split_of_an_answer_gives_the_same_chunks(
            words in proptest::collection::vec("[a-z \\n\"é]{0,6}", 0..8),
            crlf in proptest::bool::ANY,
            cuts in proptest::collection::vec(proptest::num::usize::ANY, 0..10),
        ) {
            let newline = if crlf { "\r\n" } else { "\n" };
            let mut body = String::new();
            for word in &words {
                let line = serde_json::json!({"message": {"content": word}, "done": false});
                body.push_str(&format!("{line}{newline}"));
            }
            body.push_str(r#"{"done":true,"eval_count":3}"#);
            check_split::<OllamaStream>(body.as_bytes(), &cuts, &words.concat())?;
        }
    }
}
