//! A lean HTTP/1.1 client for Ollama's streaming `/api/chat`: hyper connections kept alive
//! and reused, one per request in flight, with nothing else in the way (no redirects, no
//! proxy lookup, no decompression, no per-request allocation of a client).
//!
//! Both the routed and the direct path of a URL target use it, so whatever it costs is
//! the same on both sides and cancels out of the overhead.

use std::net::SocketAddr;
use std::sync::Mutex;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::{self, SendRequest};
use hyper::header::{CONTENT_TYPE, HOST};
use hyper::{Request, Uri};
use hyper_util::rt::TokioIo;
use serde::Deserialize;
use tokio::net::TcpStream;
use tokio::time::Instant;
use url::Url;

use crate::backend::decode::NdjsonDecoder;

/// One server's `/api/chat`, with a pool of idle connections to it.
pub struct ChatClient {
    addr: SocketAddr,
    host: String,
    uri: Uri,
    idle: Mutex<Vec<SendRequest<Full<Bytes>>>>,
}

/// Why a setup failed: the URL is not a plain `http://host:port` or does not resolve.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("'{0}' is not an http:// URL with a host; give one like http://127.0.0.1:11435")]
    BadUrl(String),
    #[error("cannot resolve '{host}': {source}")]
    Resolve {
        host: String,
        source: std::io::Error,
    },
}

/// One line of Ollama's answer stream, as little of it as the client needs.
#[derive(Deserialize)]
struct Line {
    #[serde(default)]
    message: Option<LineMessage>,
    #[serde(default)]
    done: bool,
    #[serde(default)]
    error: Option<serde::de::IgnoredAny>,
}

#[derive(Deserialize)]
struct LineMessage {
    #[serde(default)]
    content: String,
}

impl ChatClient {
    /// A client for the server at `base` (its `/api/chat`); resolves the host once.
    pub async fn new(base: &Url) -> Result<ChatClient, ClientError> {
        let bad = || ClientError::BadUrl(base.to_string());
        let host = base
            .host_str()
            .filter(|_| base.scheme() == "http")
            .ok_or_else(bad)?;
        let port = base.port_or_known_default().ok_or_else(bad)?;
        let addr = tokio::net::lookup_host((host, port))
            .await
            .map_err(|source| ClientError::Resolve {
                host: host.to_string(),
                source,
            })?
            .next()
            .ok_or_else(bad)?;
        let chat = base.join("api/chat").map_err(|_| bad())?;
        let uri: Uri = chat.path().parse().map_err(|_| bad())?;
        Ok(ChatClient {
            addr,
            host: format!("{host}:{port}"),
            uri,
            idle: Mutex::new(Vec::new()),
        })
    }

    /// Send `body` (an `/api/chat` request with `"stream": true`) and read the answer to its
    /// end. Returns when the first token came, if any; or the error's kind.
    pub async fn chat(&self, body: Bytes) -> Result<Option<Instant>, String> {
        let mut sender = self.connection().await?;
        let request = Request::post(self.uri.clone())
            .header(HOST, &self.host)
            .header(CONTENT_TYPE, "application/json")
            .body(Full::new(body))
            .map_err(|_| "bad_request".to_string())?;
        let response = sender
            .send_request(request)
            .await
            .map_err(|_| "connection_lost".to_string())?;
        let status = response.status();
        let mut body = response.into_body();
        let mut decoder = NdjsonDecoder::new();
        let mut first_token = None;
        let mut done = false;
        let mut failed = None;
        while let Some(frame) = body.frame().await {
            let frame = frame.map_err(|_| "connection_lost".to_string())?;
            let Ok(data) = frame.into_data() else {
                continue;
            };
            if !status.is_success() {
                continue;
            }
            decoder.push(data);
            while let Some(line) = decoder.next_line().map_err(|_| "malformed".to_string())? {
                let line: Line =
                    serde_json::from_slice(&line).map_err(|_| "malformed".to_string())?;
                if line.error.is_some() {
                    failed.get_or_insert_with(|| "stream_error".to_string());
                }
                let text = line.message.is_some_and(|m| !m.content.is_empty());
                if text && first_token.is_none() {
                    first_token = Some(Instant::now());
                }
                done |= line.done;
            }
        }
        // The body was read to its end, so the connection can carry the next request.
        self.give_back(sender);
        if !status.is_success() {
            return Err(format!("http_{}", status.as_u16()));
        }
        match (failed, done) {
            (Some(kind), _) => Err(kind),
            (None, true) => Ok(first_token),
            (None, false) => Err("cut_short".to_string()),
        }
    }

    /// An idle connection that is still open, or a new one.
    async fn connection(&self) -> Result<SendRequest<Full<Bytes>>, String> {
        loop {
            let idle = self.lock().pop();
            let Some(mut sender) = idle else { break };
            if sender.ready().await.is_ok() {
                return Ok(sender);
            }
        }
        let stream = TcpStream::connect(self.addr)
            .await
            .map_err(|_| "connect".to_string())?;
        // Answers stream in small writes; Nagle would hold them back.
        let _ = stream.set_nodelay(true);
        let (sender, connection) = http1::handshake(TokioIo::new(stream))
            .await
            .map_err(|_| "connect".to_string())?;
        tokio::spawn(async move {
            // Ends when the connection closes; a close is not an error worth reporting.
            let _ = connection.await;
        });
        Ok(sender)
    }

    fn give_back(&self, sender: SendRequest<Full<Bytes>>) {
        if !sender.is_closed() {
            self.lock().push(sender);
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<SendRequest<Full<Bytes>>>> {
        // A list of connections: a panic elsewhere cannot leave it inconsistent.
        self.idle.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// An `/api/chat` request body for `model` with one user message, streamed.
pub fn chat_body(model: &str, prompt: &str) -> Bytes {
    let body = serde_json::json!({
        "model": model,
        "messages": [{"role": "user", "content": prompt}],
        "stream": true,
    });
    Bytes::from(body.to_string())
}
