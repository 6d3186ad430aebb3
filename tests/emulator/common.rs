//! Helpers: start an emulator, post JSON, read NDJSON/SSE lines as they arrive.

use std::net::SocketAddr;
use std::time::Duration;

use serde_json::Value;
use signalbox::emulator::{EmulatorConfig, EmulatorHandle, Latency, Profile, Stats, start};

pub const MODEL: &str = "tiny:1b";

/// A profile with fixed latencies and a fixed answer length.
pub fn fixed(first_ms: u64, token_ms: u64, tokens: u32) -> Profile {
    Profile {
        load: Duration::ZERO,
        first_token: Latency::Fixed(Duration::from_millis(first_ms)),
        per_token: Latency::Fixed(Duration::from_millis(token_ms)),
        answer_tokens: (tokens, tokens),
        parallel: 0,
        load_penalty: 0.0,
        ..Profile::zero()
    }
}

pub async fn emulator(models: Vec<(&str, Profile)>, seed: u64) -> EmulatorHandle {
    let models = models
        .into_iter()
        .map(|(n, p)| (n.to_string(), p))
        .collect();
    let addr: SocketAddr = "127.0.0.1:0".parse().unwrap();
    start(
        addr,
        EmulatorConfig {
            models,
            seed,
            speed: 1.0,
        },
    )
    .await
    .unwrap()
}

/// One zero-latency model, `tiny:1b`.
pub async fn zero() -> EmulatorHandle {
    emulator(vec![(MODEL, Profile::zero())], 1).await
}

/// The answer to a chat with `tiny:1b`, read line by line as it arrives.
pub async fn chat(emu: &EmulatorHandle) -> Lines {
    Lines::new(post(emu, "/api/chat", chat_body(MODEL)).await)
}

/// GET `path` and read the answer as JSON.
pub async fn get_json(emu: &EmulatorHandle, path: &str) -> Value {
    client()
        .get(emu.url().join(path).unwrap())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

pub fn client() -> reqwest::Client {
    reqwest::Client::builder().no_proxy().build().unwrap()
}

pub async fn post(emu: &EmulatorHandle, path: &str, body: Value) -> reqwest::Response {
    client()
        .post(emu.url().join(path).unwrap())
        .json(&body)
        .send()
        .await
        .unwrap()
}

pub fn chat_body(model: &str) -> Value {
    serde_json::json!({"model": model, "messages": [{"role": "user", "content": "Name a prime."}]})
}

pub fn content_type(resp: &reqwest::Response) -> String {
    resp.headers()[reqwest::header::CONTENT_TYPE]
        .to_str()
        .unwrap()
        .to_string()
}

/// Reads a streamed body line by line as chunks arrive.
pub struct Lines {
    resp: reqwest::Response,
    buf: Vec<u8>,
}

impl Lines {
    pub fn new(resp: reqwest::Response) -> Self {
        Lines {
            resp,
            buf: Vec::new(),
        }
    }

    /// The next line without its newline; None at the end of the body.
    pub async fn next(&mut self) -> Option<String> {
        loop {
            if let Some(i) = self.buf.iter().position(|b| *b == b'\n') {
                let line: Vec<u8> = self.buf.drain(..=i).collect();
                return Some(String::from_utf8(line[..i].to_vec()).unwrap());
            }
            match self.resp.chunk().await {
                Ok(Some(chunk)) => self.buf.extend_from_slice(&chunk),
                _ if self.buf.is_empty() => return None,
                _ => return Some(String::from_utf8(std::mem::take(&mut self.buf)).unwrap()),
            }
        }
    }

    /// Every remaining line.
    pub async fn all(mut self) -> Vec<String> {
        let mut lines = Vec::new();
        while let Some(line) = self.next().await {
            lines.push(line);
        }
        lines
    }
}

/// Waits (bounded) until the emulator's counters satisfy `ok`.
pub async fn stats_until(emu: &EmulatorHandle, ok: impl Fn(&Stats) -> bool) -> Stats {
    for _ in 0..200 {
        let stats = emu.stats();
        if ok(&stats) {
            return stats;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    emu.stats()
}

pub fn parse(line: &str) -> Value {
    serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}"))
}
