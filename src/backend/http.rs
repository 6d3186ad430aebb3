//! What the HTTP backends share: one client per backend, sending, mapping statuses and
//! transport errors to [`BackendError`], and driving a response body through a protocol
//! decoder as a [`ChunkStream`].

use std::collections::VecDeque;
use std::error::Error as StdError;
use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use bytes::Bytes;
use futures_util::{Stream, StreamExt, stream};
use reqwest::header::{AUTHORIZATION, HeaderMap, HeaderValue};
use serde::Serialize;
use serde_json::{Map, Value};
use url::Url;

use super::{BackendError, ChatRequest, Chunk, ChunkStream, TimeoutKind};
use crate::config::ModelConfig;

/// Why a backend could not be built from its configuration.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum BuildError {
    /// The HTTP client could not be set up.
    #[error("cannot set up the HTTP client for {model}: {message}")]
    Client { model: String, message: String },
    /// The configured API key variable is not set in the environment, or is empty.
    #[error(
        "model {model}: environment variable {var} (api_key_env) is not set or empty; export it or remove api_key_env"
    )]
    MissingApiKey { model: String, var: String },
    /// The API key holds characters an HTTP header cannot carry.
    #[error(
        "model {model}: the API key in {var} is not a valid header value; check for stray spaces or newlines"
    )]
    BadApiKey { model: String, var: String },
    /// The base URL cannot carry an API path (for example `mailto:`).
    #[error(
        "model {model}: base URL {url} cannot be used for HTTP requests; give an http:// or \
         https:// URL"
    )]
    BadUrl { model: String, url: String },
}

/// Where one backend sends its chats: one client, so connections are reused across
/// requests, the chat URL, and the connect limit that client enforces.
#[derive(Clone)]
pub(crate) struct ChatEndpoint {
    client: reqwest::Client,
    url: Url,
    connect: Duration,
}

impl ChatEndpoint {
    /// `path` under `root` for a configured model, sending `bearer` (when given) on every
    /// request.
    pub(crate) fn new(
        model: &ModelConfig,
        root: &Url,
        path: &str,
        bearer: Option<HeaderValue>,
    ) -> Result<Self, BuildError> {
        let url = endpoint(root, path).ok_or_else(|| bad_url(model))?;
        let connect = model.timeouts.connect;
        let client = client(&model.name, &model.base_url, connect, bearer)?;
        Ok(ChatEndpoint {
            client,
            url,
            connect,
        })
    }

    /// Where chat requests go.
    pub(crate) fn url(&self) -> &Url {
        &self.url
    }

    /// POST `body` as JSON and read the answer through `protocol`. `model` is the name on
    /// the server, for the not-installed error.
    pub(crate) fn post<P: Protocol>(
        &self,
        body: &impl Serialize,
        model: &str,
        protocol: P,
    ) -> ChunkStream {
        let sending = self.client.post(self.url.clone()).json(body).send();
        drive(Exchange {
            sending: Box::pin(sending),
            url: self.url.clone(),
            model: model.to_string(),
            connect: self.connect,
            protocol,
        })
    }
}

/// The error for a model whose base URL cannot carry an API path.
pub(crate) fn bad_url(model: &ModelConfig) -> BuildError {
    BuildError::BadUrl {
        model: model.name.clone(),
        url: model.base_url.to_string(),
    }
}

/// The model a request names, or the configured one when it names none.
pub(crate) fn model_for<'a>(request: &'a ChatRequest, configured: &'a str) -> &'a str {
    if request.model.is_empty() {
        configured
    } else {
        &request.model
    }
}

/// The configured options with the request's own laid over them: a request's value wins.
pub(crate) fn merged_options(
    configured: &Map<String, Value>,
    request: &ChatRequest,
) -> Map<String, Value> {
    let mut options = configured.clone();
    options.extend(request.options.iter().map(|(k, v)| (k.clone(), v.clone())));
    options
}

/// The `Authorization: Bearer` value for a model whose configuration names an API key
/// variable, read from the environment now. The value is marked sensitive, so the HTTP
/// stack never prints it.
pub(crate) fn bearer_from_env(
    model: &crate::config::ModelConfig,
) -> Result<Option<HeaderValue>, BuildError> {
    let Some(var) = &model.api_key_env else {
        return Ok(None);
    };
    let missing = || BuildError::MissingApiKey {
        model: model.name.clone(),
        var: var.clone(),
    };
    let key = std::env::var(var)
        .ok()
        .filter(|key| !key.trim().is_empty())
        .ok_or_else(missing)?;
    let mut value = HeaderValue::try_from(format!("Bearer {}", key.trim())).map_err(|_| {
        BuildError::BadApiKey {
            model: model.name.clone(),
            var: var.clone(),
        }
    })?;
    value.set_sensitive(true);
    Ok(Some(value))
}

/// An HTTP client for one backend: a connect limit and nothing else, because the engine
/// owns the first-token, stall and total limits. No proxy for a loopback server, so an
/// `HTTP_PROXY` meant for the internet does not swallow local traffic; other hosts keep
/// the proxies the environment names.
pub(crate) fn client(
    model: &str,
    base: &Url,
    connect: Duration,
    bearer: Option<HeaderValue>,
) -> Result<reqwest::Client, BuildError> {
    let mut headers = HeaderMap::new();
    if let Some(bearer) = bearer {
        headers.insert(AUTHORIZATION, bearer);
    }
    let mut builder = reqwest::Client::builder()
        .default_headers(headers)
        .connect_timeout(connect)
        .tcp_nodelay(true)
        .pool_idle_timeout(Duration::from_secs(60));
    if is_loopback(base) {
        builder = builder.no_proxy();
    }
    builder.build().map_err(|error| BuildError::Client {
        model: model.to_string(),
        message: chain(&error),
    })
}

fn is_loopback(url: &Url) -> bool {
    match url.host() {
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        Some(url::Host::Domain(name)) => name.eq_ignore_ascii_case("localhost"),
        None => false,
    }
}

/// `base` joined with `path`, keeping any path prefix `base` has (`http://h/ollama` +
/// `api/chat` is `http://h/ollama/api/chat`).
pub(crate) fn endpoint(base: &Url, path: &str) -> Option<Url> {
    let mut url = base.clone();
    {
        let mut segments = url.path_segments_mut().ok()?;
        segments.pop_if_empty();
        segments.extend(path.split('/'));
    }
    Some(url)
}

/// A transport error before any response, as the user should read it.
pub(crate) fn transport_error(error: reqwest::Error, url: &Url, connect: Duration) -> BackendError {
    if error.is_timeout() {
        return BackendError::Timeout {
            kind: TimeoutKind::Connect,
            after: connect,
        };
    }
    BackendError::Connect {
        url: url.to_string(),
        message: root_cause(&error),
    }
}

/// The specific end of an error's chain ("tcp connect error: Connection refused"), without
/// the generic layers above it.
pub(crate) fn root_cause(error: &dyn StdError) -> String {
    let mut layers = vec![error];
    let mut next = error.source();
    while let Some(source) = next {
        layers.push(source);
        next = source.source();
    }
    let start = layers.len().saturating_sub(2);
    layers[start..]
        .iter()
        .map(|e| e.to_string())
        .collect::<Vec<_>>()
        .join(": ")
}

/// An error and its causes on one line, without repeats.
pub(crate) fn chain(error: &dyn StdError) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut next = Some(error);
    while let Some(error) = next {
        let text = error.to_string();
        if !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
        next = error.source();
    }
    parts.join(": ")
}

/// The longest error body read to find the server's message.
const MAX_ERROR_BODY: usize = 64 * 1024;

/// The error for a non-success status, with the server's own message.
///
/// 404 naming a missing model is [`BackendError::NotInstalled`]; 429 and 503 (Ollama's
/// "server busy", llama.cpp's "Loading model") are [`BackendError::Busy`]; other 4xx are
/// [`BackendError::BadRequest`]; everything else is [`BackendError::Status`].
pub(crate) async fn status_error(response: reqwest::Response, model: &str) -> BackendError {
    let status = response.status().as_u16();
    let body = read_bounded(response, MAX_ERROR_BODY).await;
    classify_status(status, &body, model)
}

pub(crate) fn classify_status(status: u16, body: &[u8], model: &str) -> BackendError {
    let message = error_message(body);
    let lower = message.to_ascii_lowercase();
    let names_missing_model = lower.contains("model")
        && (lower.contains("not found") || lower.contains("does not exist"));
    match status {
        404 if names_missing_model => BackendError::NotInstalled {
            model: model.to_string(),
        },
        429 | 503 => BackendError::Busy { message },
        400..=499 => BackendError::BadRequest { status, message },
        _ => BackendError::Status { status, message },
    }
}

/// The server's message from an error body: Ollama's `{"error":"…"}`, OpenAI's
/// `{"error":{"message":"…"}}`, or the body's text when it is neither.
pub(crate) fn error_message(body: &[u8]) -> String {
    if let Ok(value) = serde_json::from_slice::<serde_json::Value>(body)
        && let Some(message) = value.get("error").and_then(message_of)
    {
        return message;
    }
    let text = String::from_utf8_lossy(body);
    let text = text.trim();
    if text.is_empty() {
        "(no message)".to_string()
    } else {
        truncate(text, 512)
    }
}

/// The text of an `error` value: a string, or an object's `message`.
pub(crate) fn message_of(error: &serde_json::Value) -> Option<String> {
    match error {
        serde_json::Value::String(text) => Some(text.clone()),
        serde_json::Value::Object(fields) => match fields.get("message") {
            Some(serde_json::Value::String(text)) => Some(text.clone()),
            _ => Some(error.to_string()),
        },
        serde_json::Value::Null => None,
        other => Some(other.to_string()),
    }
}

fn truncate(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text.to_string(),
    }
}

async fn read_bounded(response: reqwest::Response, max: usize) -> Vec<u8> {
    let mut body = Vec::new();
    let mut stream = response.bytes_stream();
    while let Some(Ok(bytes)) = stream.next().await {
        let room = max - body.len();
        body.extend_from_slice(&bytes[..bytes.len().min(room)]);
        if body.len() >= max {
            break;
        }
    }
    body
}

/// A wire protocol's reading of a response body: bytes in, chunks out.
///
/// A protocol pushes [`Chunk::Delta`]s as it finds them and ends with [`Chunk::Done`] or
/// an error; the driver stops at the first of those. It does no IO, so it can be tested
/// on bytes alone.
pub(crate) trait Protocol: Send + 'static {
    /// One read of the body.
    fn read(&mut self, bytes: Bytes, out: &mut VecDeque<Result<Chunk, BackendError>>);
    /// The body ended. If nothing final was pushed the driver reports
    /// [`BackendError::CutShort`].
    fn end(&mut self, out: &mut VecDeque<Result<Chunk, BackendError>>);
}

type Sending = Pin<Box<dyn Future<Output = Result<reqwest::Response, reqwest::Error>> + Send>>;
type Body = Pin<Box<dyn Stream<Item = Result<Bytes, reqwest::Error>> + Send>>;

/// Everything the driver needs to know about one request.
struct Exchange<P> {
    sending: Sending,
    url: Url,
    model: String,
    connect: Duration,
    protocol: P,
}

enum Phase<P> {
    Sending(Exchange<P>),
    Reading(Reader<P>),
    Over,
}

/// Send, check the status, then stream the body through the protocol. Nothing happens
/// until the stream is first polled; dropping it drops the connection.
fn drive<P: Protocol>(exchange: Exchange<P>) -> ChunkStream {
    Box::pin(stream::unfold(
        Phase::Sending(exchange),
        |phase| async move {
            match phase {
                Phase::Sending(exchange) => {
                    let Exchange {
                        sending,
                        url,
                        model,
                        connect,
                        protocol,
                    } = exchange;
                    let response = match sending.await {
                        Ok(response) => response,
                        Err(error) => {
                            let error = transport_error(error, &url, connect);
                            tracing::debug!(%url, %error, "no response");
                            return Some((Err(error), Phase::Over));
                        }
                    };
                    if !response.status().is_success() {
                        let status = response.status().as_u16();
                        let error = status_error(response, &model).await;
                        tracing::debug!(%url, status, %error, "error status");
                        return Some((Err(error), Phase::Over));
                    }
                    let mut reader = Reader {
                        body: Some(Box::pin(response.bytes_stream())),
                        protocol,
                        out: VecDeque::new(),
                        eof: false,
                    };
                    let item = reader.next().await?;
                    Some((item, Phase::Reading(reader)))
                }
                Phase::Reading(mut reader) => {
                    let item = reader.next().await?;
                    Some((item, Phase::Reading(reader)))
                }
                Phase::Over => None,
            }
        },
    ))
}

struct Reader<P> {
    /// `None` once the answer is over: the connection is released.
    body: Option<Body>,
    protocol: P,
    out: VecDeque<Result<Chunk, BackendError>>,
    eof: bool,
}

impl<P: Protocol> Reader<P> {
    async fn next(&mut self) -> Option<Result<Chunk, BackendError>> {
        loop {
            if let Some(item) = self.out.pop_front() {
                if !matches!(item, Ok(Chunk::Delta(_))) {
                    self.release();
                }
                return Some(item);
            }
            let body = self.body.as_mut()?;
            if self.eof {
                self.body = None;
                return Some(Err(BackendError::CutShort));
            }
            match body.next().await {
                Some(Ok(bytes)) => self.protocol.read(bytes, &mut self.out),
                Some(Err(error)) => {
                    // The connection broke mid-answer: the answer is incomplete.
                    tracing::debug!(error = %chain(&error), "response body failed");
                    self.out.push_back(Err(BackendError::CutShort));
                }
                None => {
                    self.eof = true;
                    self.protocol.end(&mut self.out);
                }
            }
        }
    }

    /// The answer is over (done or failed): stop reading and let the body go. If the
    /// server had already sent the end of the body, the connection returns to the pool;
    /// otherwise it is closed.
    fn release(&mut self) {
        self.out.clear();
        self.body = None;
    }
}

/// What a protocol makes of `body` arriving in reads cut at `cuts` (each taken modulo the
/// body's length, in any order), the end of the body included.
#[cfg(test)]
pub(crate) fn decode_split<P: Protocol + Default>(
    body: &[u8],
    cuts: &[usize],
) -> Vec<Result<Chunk, BackendError>> {
    let mut cuts: Vec<usize> = cuts.iter().map(|c| c % (body.len() + 1)).collect();
    cuts.sort_unstable();
    let mut protocol = P::default();
    let mut out = VecDeque::new();
    let mut start = 0;
    for cut in cuts.into_iter().chain([body.len()]) {
        protocol.read(Bytes::copy_from_slice(&body[start..cut]), &mut out);
        start = cut;
    }
    protocol.end(&mut out);
    out.into_iter().collect()
}

/// Checks that `body` cut at `cuts` reads as it does whole, that its deltas join to
/// `text`, and that it ends done.
#[cfg(test)]
pub(crate) fn check_split<P: Protocol + Default>(
    body: &[u8],
    cuts: &[usize],
    text: &str,
) -> Result<(), proptest::test_runner::TestCaseError> {
    let whole = decode_split::<P>(body, &[]);
    proptest::prop_assert_eq!(&decode_split::<P>(body, cuts), &whole);
    let joined: String = whole
        .iter()
        .filter_map(|c| match c {
            Ok(Chunk::Delta(text)) => Some(text.as_str()),
            _ => None,
        })
        .collect();
    proptest::prop_assert_eq!(joined, text);
    proptest::prop_assert!(matches!(whole.last(), Some(Ok(Chunk::Done(_)))));
    Ok(())
}
