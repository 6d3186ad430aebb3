//! The OpenAI-compatible backend: `POST {root}/chat/completions` with `stream: true`,
//! answered as server-sent events (llama.cpp, vLLM, LM Studio, Ollama's `/v1`, OpenAI).
//!
//! The base URL may be given with or without its `/v1`: `http://127.0.0.1:8080` and
//! `http://127.0.0.1:8080/v1` both send to `http://127.0.0.1:8080/v1/chat/completions`.

use std::fmt;

use serde::Serialize;
use serde_json::{Map, Value};
use url::Url;

use super::http::{self, BuildError, ChatEndpoint};
use super::{Backend, ChatRequest, ChunkStream, Message};
use crate::config::ModelConfig;

mod stream;

use stream::OpenAiStream;

/// Talks to one OpenAI-compatible server. The API key, when configured, is read from its
/// environment variable once, here, and sent as `Authorization: Bearer` on every request;
/// it is never printed, `Debug` included.
#[derive(Clone)]
pub struct OpenAiBackend {
    endpoint: ChatEndpoint,
    defaults: Defaults,
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
            .field("chat_url", &self.chat_url().as_str())
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
        let root = api_root(&model.base_url).ok_or_else(|| http::bad_url(model))?;
        let bearer = http::bearer_from_env(model)?;
        let has_api_key = bearer.is_some();
        Ok(OpenAiBackend {
            endpoint: ChatEndpoint::new(model, &root, "chat/completions", bearer)?,
            defaults: Defaults {
                model: model.server_model().to_string(),
                options: model.options.clone(),
            },
            has_api_key,
        })
    }

    /// Where chat requests go.
    pub fn chat_url(&self) -> &Url {
        self.endpoint.url()
    }
}

impl Backend for OpenAiBackend {
    fn chat(&self, request: ChatRequest) -> ChunkStream {
        let body = ChatBody::new(&request, &self.defaults);
        self.endpoint
            .post(&body, body.model, OpenAiStream::default())
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
        ChatBody {
            model: http::model_for(request, &defaults.model),
            messages: &request.messages,
            stream: true,
            stream_options: StreamOptions {
                include_usage: true,
            },
            sampling: sampling_fields(http::merged_options(&defaults.options, request)),
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
}
