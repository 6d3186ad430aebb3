//! The OpenAI-compatible backend: `POST {root}/chat/completions` with `stream: true`,
//! answered as server-sent events (llama.cpp, vLLM, LM Studio, Ollama's `/v1`, OpenAI).
//!
//! The base URL may be given with or without its `/v1`: `http://127.0.0.1:8080` and
//! `http://127.0.0.1:8080/v1` both send to `http://127.0.0.1:8080/v1/chat/completions`.

use std::collections::VecDeque;
use std::fmt;
use std::time::Duration;

use bytes::Bytes;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use url::Url;

use super::decode::{DecodeError, SseDecoder};
use super::http::{self, BuildError, Exchange, Protocol};
use super::{Backend, BackendError, ChatRequest, Chunk, ChunkStream, FinalStats, Message};
use crate::config::ModelConfig;

/// Talks to one OpenAI-compatible server. The API key, when configured, is read from its
/// environment variable once, here, and sent as `Authorization: Bearer` on every request;
/// it is never printed, `Debug` included.
#[derive(Clone)]
pub struct OpenAiBackend {
    client: reqwest::Client,
    chat_url: Url,
    defaults: Defaults,
    connect: Duration,
    has_api_key: bool,
}

#[derive(Clone, Debug, Default)]
struct Defaults {
    model: String,
    options: Map<String, Value>,
}

impl fmt::Debug for OpenAiBackend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OpenAiBackend")
            .field("chat_url", &self.chat_url.as_str())
            .field("model", &self.defaults.model)
            .field(
                "api_key",
                &if self.has_api_key { "<set>" } else { "<none>" },
            )
            .finish_non_exhaustive()
    }
}

/// The API root of an OpenAI-compatible server: `base` when its path already ends in
/// `/v1`, else `base` + `/v1`.
pub fn api_root(base: &Url) -> Option<Url> {
    let ends_in_v1 = base
        .path_segments()
        .and_then(|mut segments| segments.rfind(|s| !s.is_empty()))
        .is_some_and(|last| last == "v1");
    if ends_in_v1 {
        Some(base.clone())
    } else {
        http::endpoint(base, "v1")
    }
}

impl OpenAiBackend {
    /// A backend for a configured model. Fails when `api_key_env` names a variable that is
    /// not set, or the HTTP client cannot be built.
    pub fn new(model: &ModelConfig) -> Result<Self, BuildError> {
        let bad_url = || BuildError::BadUrl {
            model: model.name.clone(),
            url: model.base_url.to_string(),
        };
        let root = api_root(&model.base_url).ok_or_else(bad_url)?;
        let chat_url = http::endpoint(&root, "chat/completions").ok_or_else(bad_url)?;
        let bearer = http::bearer_from_env(model)?;
        let has_api_key = bearer.is_some();
        let client = http::client(&model.name, &model.base_url, model.timeouts.connect, bearer)?;
        Ok(OpenAiBackend {
            client,
            chat_url,
            defaults: Defaults {
                model: model.server_model().to_string(),
                options: model.options.clone(),
            },
            connect: model.timeouts.connect,
            has_api_key,
        })
    }

    /// Where chat requests go.
    pub fn chat_url(&self) -> &Url {
        &self.chat_url
    }
}

impl Backend for OpenAiBackend {
    fn chat(&self, request: ChatRequest) -> ChunkStream {
        let body = ChatBody::new(&request, &self.defaults);
        let model = body.model.to_string();
        let sending = self.client.post(self.chat_url.clone()).json(&body).send();
        http::drive(Exchange {
            sending: Box::pin(sending),
            url: self.chat_url.clone(),
            model,
            connect: self.connect,
            protocol: OpenAiStream::default(),
        })
    }
}

/// The body of `POST /v1/chat/completions`.
#[derive(Debug, Serialize)]
struct ChatBody<'a> {
    model: &'a str,
    messages: &'a [Message],
    stream: bool,
    stream_options: StreamOptions,
    #[serde(flatten)]
    sampling: Map<String, Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    response_format: Option<Value>,
}

#[derive(Debug, Serialize)]
struct StreamOptions {
    include_usage: bool,
}

impl<'a> ChatBody<'a> {
    fn new(request: &'a ChatRequest, defaults: &'a Defaults) -> Self {
        let mut options = defaults.options.clone();
        options.extend(request.options.iter().map(|(k, v)| (k.clone(), v.clone())));
        let model = if request.model.is_empty() {
            &defaults.model
        } else {
            &request.model
        };
        ChatBody {
            model,
            messages: &request.messages,
            stream: true,
            stream_options: StreamOptions {
                include_usage: true,
            },
            sampling: sampling_fields(options),
            response_format: request.format.as_ref().and_then(response_format),
        }
    }
}

/// Ollama-style options as OpenAI fields. `num_predict` becomes `max_tokens` (Ollama's
/// negative "no limit" values mean leaving it out); keys OpenAI has no field for are left
/// out, because strict servers reject unknown fields.
fn sampling_fields(options: Map<String, Value>) -> Map<String, Value> {
    const SAME_NAME: &[&str] = &[
        "temperature",
        "top_p",
        "seed",
        "stop",
        "presence_penalty",
        "frequency_penalty",
    ];
    let mut fields = Map::new();
    for (key, value) in options {
        if SAME_NAME.contains(&key.as_str()) || key == "max_tokens" {
            fields.insert(key, value);
        } else if key == "num_predict" {
            if value.as_i64().is_some_and(|n| n > 0) {
                fields.insert("max_tokens".into(), value);
            }
        } else {
            tracing::debug!(option = %key, "option has no OpenAI field; not sent");
        }
    }
    fields
}

/// Ollama's `format` as OpenAI's `response_format`: `"json"` is a JSON object; a schema
/// object is a JSON schema.
fn response_format(format: &Value) -> Option<Value> {
    match format {
        Value::String(kind) if kind == "json" => Some(serde_json::json!({"type": "json_object"})),
        Value::Object(schema) => Some(serde_json::json!({
            "type": "json_schema",
            "json_schema": {"name": "response", "schema": schema},
        })),
        _ => None,
    }
}

/// One `data:` event of a streamed completion. Everything may be absent or null.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct StreamChunk {
    choices: Option<Vec<Choice>>,
    usage: Option<Usage>,
    error: Option<Value>,
    /// llama.cpp's server adds its own timings to the last chunk.
    timings: Option<Timings>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct Choice {
    delta: Option<Delta>,
    finish_reason: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct Delta {
    content: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct Usage {
    prompt_tokens: Option<u64>,
    completion_tokens: Option<u64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct Timings {
    prompt_ms: Option<f64>,
    predicted_ms: Option<f64>,
}

/// The most of a body kept while looking for a plain JSON error instead of events.
const MAX_PREAMBLE: usize = 64 * 1024;

/// Reads an OpenAI-style event stream. Success on `data: [DONE]`, or on the end of input
/// after a `finish_reason`; an `error` object is the server failing; the end of input with
/// neither is a stream cut short. A role-only or empty delta is not a token.
#[derive(Debug, Default)]
pub(crate) struct OpenAiStream {
    events: SseDecoder,
    stats: FinalStats,
    finished: bool,
    events_seen: u64,
    /// The body's first bytes while no event has come, in case it is a JSON error body
    /// sent with a success status.
    preamble: Vec<u8>,
    /// A final item was given; anything after it is ignored.
    over: bool,
}

type Out = VecDeque<Result<Chunk, BackendError>>;

impl OpenAiStream {
    /// Handles one event; false once the answer is over.
    fn event(&mut self, data: &[u8], out: &mut Out) -> bool {
        let more = self.interpret(data, out);
        self.over = !more;
        more
    }

    fn interpret(&mut self, data: &[u8], out: &mut Out) -> bool {
        self.events_seen += 1;
        self.preamble = Vec::new();
        if data.trim_ascii() == b"[DONE]" {
            out.push_back(Ok(Chunk::Done(std::mem::take(&mut self.stats))));
            return false;
        }
        let parsed: StreamChunk = match serde_json::from_slice(data) {
            Ok(parsed) => parsed,
            Err(error) => {
                out.push_back(Err(BackendError::Malformed {
                    message: format!(
                        "event {} is not a completion chunk: {error}",
                        self.events_seen
                    ),
                }));
                return false;
            }
        };
        if let Some(message) = parsed.error.as_ref().and_then(http::message_of) {
            out.push_back(Err(BackendError::StreamError { message }));
            return false;
        }
        for choice in parsed.choices.into_iter().flatten().take(1) {
            if let Some(content) = choice.delta.and_then(|d| d.content)
                && !content.is_empty()
            {
                out.push_back(Ok(Chunk::Delta(content)));
            }
            if let Some(reason) = choice.finish_reason {
                self.stats.done_reason = Some(reason);
                self.finished = true;
            }
        }
        if let Some(usage) = parsed.usage {
            self.stats.prompt_tokens = usage.prompt_tokens.or(self.stats.prompt_tokens);
            self.stats.completion_tokens = usage.completion_tokens.or(self.stats.completion_tokens);
        }
        if let Some(timings) = parsed.timings {
            let millis = |ms: Option<f64>| {
                ms.filter(|ms| ms.is_finite() && *ms >= 0.0)
                    .map(|ms| Duration::from_secs_f64(ms / 1e3))
            };
            self.stats.prompt_eval_duration =
                millis(timings.prompt_ms).or(self.stats.prompt_eval_duration);
            self.stats.eval_duration = millis(timings.predicted_ms).or(self.stats.eval_duration);
        }
        true
    }

    fn refused(&mut self, error: DecodeError, out: &mut Out) {
        self.over = true;
        out.push_back(Err(BackendError::Malformed {
            message: error.to_string(),
        }));
    }
}

impl Protocol for OpenAiStream {
    fn read(&mut self, bytes: Bytes, out: &mut Out) {
        if self.over {
            return;
        }
        if self.events_seen == 0 && self.preamble.len() + bytes.len() <= MAX_PREAMBLE {
            self.preamble.extend_from_slice(&bytes);
        }
        self.events.push(bytes);
        loop {
            match self.events.next_event() {
                Ok(Some(event)) => {
                    if !self.event(&event.data, out) {
                        return;
                    }
                }
                Ok(None) => return,
                Err(error) => return self.refused(error, out),
            }
        }
    }

    fn end(&mut self, out: &mut Out) {
        if self.over {
            return;
        }
        loop {
            match self.events.finish() {
                Ok(Some(event)) => {
                    if !self.event(&event.data, out) {
                        return;
                    }
                }
                Ok(None) => break,
                Err(error) => return self.refused(error, out),
            }
        }
        if self.finished {
            // Some servers close right after the finish chunk, without `[DONE]`.
            out.push_back(Ok(Chunk::Done(std::mem::take(&mut self.stats))));
        } else if self.events_seen == 0
            && let Ok(body) = serde_json::from_slice::<Value>(&self.preamble)
            && let Some(message) = body.get("error").and_then(http::message_of)
        {
            out.push_back(Err(BackendError::StreamError { message }));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn url(text: &str) -> Url {
        Url::parse(text).unwrap()
    }

    #[test]
    fn the_api_root_is_found_with_or_without_v1() {
        for base in [
            "http://h:8080",
            "http://h:8080/",
            "http://h:8080/v1",
            "http://h:8080/v1/",
        ] {
            let root = api_root(&url(base)).unwrap();
            let chat = http::endpoint(&root, "chat/completions").unwrap();
            assert_eq!(
                chat.as_str(),
                "http://h:8080/v1/chat/completions",
                "from {base}"
            );
        }
        let proxied = api_root(&url("http://h/openai")).unwrap();
        assert_eq!(proxied.as_str(), "http://h/openai/v1");
    }

    #[test]
    fn ollama_options_map_to_openai_fields() {
        let defaults = Defaults {
            model: "m".into(),
            options: serde_json::json!({"temperature": 0.2, "num_ctx": 4096, "top_k": 40})
                .as_object()
                .cloned()
                .unwrap(),
        };
        let request = ChatRequest {
            messages: vec![Message::user("hi")],
            options:
                serde_json::json!({"num_predict": 64, "top_p": 0.9, "seed": 7, "stop": ["\n"]})
                    .as_object()
                    .cloned()
                    .unwrap(),
            format: Some(serde_json::json!("json")),
            ..ChatRequest::default()
        };
        let body = serde_json::to_value(ChatBody::new(&request, &defaults)).unwrap();
        assert_eq!(
            body,
            serde_json::json!({
                "model": "m",
                "messages": [{"role": "user", "content": "hi"}],
                "stream": true,
                "stream_options": {"include_usage": true},
                "temperature": 0.2,
                "max_tokens": 64,
                "top_p": 0.9,
                "seed": 7,
                "stop": ["\n"],
                "response_format": {"type": "json_object"},
            })
        );
    }

    #[test]
    fn unlimited_num_predict_sends_no_max_tokens() {
        let fields = sampling_fields(
            serde_json::json!({"num_predict": -1})
                .as_object()
                .cloned()
                .unwrap(),
        );
        assert!(fields.is_empty());
    }

    #[test]
    fn a_schema_format_becomes_a_json_schema_response_format() {
        let schema = serde_json::json!({"type": "object"});
        assert_eq!(
            response_format(&schema),
            Some(
                serde_json::json!({"type": "json_schema", "json_schema": {"name": "response", "schema": {"type": "object"}}})
            )
        );
    }

    fn decode(body: &str) -> Vec<Result<Chunk, BackendError>> {
        let mut stream = OpenAiStream::default();
        let mut out = VecDeque::new();
        stream.read(Bytes::copy_from_slice(body.as_bytes()), &mut out);
        stream.end(&mut out);
        out.into_iter().collect()
    }

    #[test]
    fn llama_cpp_timings_fill_the_durations() {
        let out = decode(concat!(
            "data: {\"choices\":[{\"delta\":{},\"finish_reason\":\"stop\"}],",
            "\"timings\":{\"prompt_ms\":12.5,\"predicted_ms\":250.0}}\n\n",
            "data: [DONE]\n\n"
        ));
        let Ok(Chunk::Done(stats)) = &out[0] else {
            panic!("{out:?}")
        };
        assert_eq!(
            stats.prompt_eval_duration,
            Some(Duration::from_micros(12_500))
        );
        assert_eq!(stats.eval_duration, Some(Duration::from_millis(250)));
        assert_eq!(stats.total_duration, None);
    }

    #[test]
    fn a_finish_reason_then_the_end_of_input_is_done() {
        let out = decode(
            "data: {\"choices\":[{\"delta\":{\"content\":\"a\"},\"finish_reason\":\"length\"}]}\n\n",
        );
        assert_eq!(out[0], Ok(Chunk::Delta("a".into())));
        let Ok(Chunk::Done(stats)) = &out[1] else {
            panic!("{out:?}")
        };
        assert_eq!(stats.done_reason.as_deref(), Some("length"));
    }

    #[test]
    fn a_json_error_body_with_a_success_status_is_a_stream_error() {
        let out = decode("{\"error\":{\"message\":\"Loading model\",\"code\":503}}");
        assert_eq!(
            out,
            vec![Err(BackendError::StreamError {
                message: "Loading model".into()
            })]
        );
    }

    proptest::proptest! {
        #[test]
        fn every_split_of_an_answer_gives_the_same_chunks(
            words in proptest::collection::vec("[a-z \\n\"é]{0,6}", 0..8),
            cuts in proptest::collection::vec(proptest::num::usize::ANY, 0..10),
        ) {
            let mut body = String::from(": hello\r\n\r\n");
            for word in &words {
                let chunk = serde_json::json!({"choices": [{"delta": {"content": word}}]});
                body.push_str(&format!("data: {chunk}\r\n\r\n"));
            }
            body.push_str("data: [DONE]\n\n");
            let decode_split = |cuts: &[usize]| {
                let mut cuts: Vec<usize> = cuts.iter().map(|c| c % (body.len() + 1)).collect();
                cuts.sort_unstable();
                let mut stream = OpenAiStream::default();
                let mut out = VecDeque::new();
                let mut start = 0;
                for cut in cuts.into_iter().chain([body.len()]) {
                    stream.read(Bytes::copy_from_slice(&body.as_bytes()[start..cut]), &mut out);
                    start = cut;
                }
                stream.end(&mut out);
                out.into_iter().collect::<Vec<_>>()
            };
            let whole = decode_split(&[]);
            proptest::prop_assert_eq!(&decode_split(&cuts), &whole);
            let joined: String = whole.iter().filter_map(|c| match c {
                Ok(Chunk::Delta(text)) => Some(text.as_str()),
                _ => None,
            }).collect();
            proptest::prop_assert_eq!(joined, words.concat());
            proptest::prop_assert!(matches!(whole.last(), Some(Ok(Chunk::Done(_)))));
        }
    }
}
