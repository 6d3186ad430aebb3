//! Test backends, engine and proxy set-up, a raw HTTP client and strict stream readers.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use signalbox::backend::{Backend, BackendError, ChatRequest, Chunk, ChunkStream, FinalStats};
use signalbox::config::{
    BreakerConfig, BulkheadConfig, Config, LogConfig, ModelConfig, ProxyConfig, RoutingConfig,
};
use signalbox::engine::Engine;
use signalbox::proxy::Server;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// How a test model answers.
#[derive(Clone, Copy, Debug)]
pub enum Behaviour {
    /// "echo: <last user message>", a word per chunk, `delay` before each.
    Echo { delay: Duration },
    /// One token, then a mid-stream error.
    Midway,
    /// One token, then nothing until dropped.
    Hang,
    /// Echo, but fail at random: `before` of the answers fail before the first token, `midway`
    /// of them after it.
    Faulty { before: f64, midway: f64 },
}

/// A backend that behaves as told and counts streams dropped before their end.
pub struct TestBackend {
    behaviour: Behaviour,
    pub cancelled: Arc<AtomicUsize>,
    seed: AtomicU64,
}

impl TestBackend {
    pub fn new(behaviour: Behaviour) -> Arc<TestBackend> {
        Arc::new(TestBackend {
            behaviour,
            cancelled: Arc::new(AtomicUsize::new(0)),
            seed: AtomicU64::new(7),
        })
    }
}

/// Counts a stream dropped before it ended.
struct DropGuard {
    cancelled: Arc<AtomicUsize>,
    ended: bool,
}

impl Drop for DropGuard {
    fn drop(&mut self) {
        if !self.ended {
            self.cancelled.fetch_add(1, Ordering::SeqCst);
        }
    }
}

pub fn echo_text(request: &ChatRequest) -> String {
    let last = request
        .messages
        .last()
        .map(|m| m.content.as_str())
        .unwrap_or_default();
    format!("echo: {last}")
}

fn words(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut current = String::new();
    for c in text.chars() {
        if c == ' ' && !current.is_empty() {
            out.push(std::mem::take(&mut current));
        }
        current.push(c);
    }
    out.push(current);
    out
}

impl Backend for TestBackend {
    fn chat(&self, request: ChatRequest) -> ChunkStream {
        let text = echo_text(&request);
        let tokens = words(&text);
        let stats = FinalStats {
            done_reason: Some("stop".into()),
            prompt_tokens: Some(request.messages.len() as u64 * 10),
            completion_tokens: Some(tokens.len() as u64),
            total_duration: Some(Duration::from_millis(3)),
            load_duration: Some(Duration::from_micros(250)),
            prompt_eval_duration: Some(Duration::from_millis(1)),
            eval_duration: Some(Duration::from_millis(2)),
        };
        let guard = DropGuard {
            cancelled: self.cancelled.clone(),
            ended: false,
        };
        let mut rng = SmallRng::seed_from_u64(self.seed.fetch_add(1, Ordering::Relaxed));
        let (delay, fail_before, fail_midway, hang) = match self.behaviour {
            Behaviour::Echo { delay } => (delay, false, false, false),
            Behaviour::Midway => (Duration::ZERO, false, true, false),
            Behaviour::Hang => (Duration::ZERO, false, false, true),
            Behaviour::Faulty { before, midway } => {
                let roll: f64 = rng.random();
                (
                    Duration::ZERO,
                    roll < before,
                    roll >= before && roll < before + midway,
                    false,
                )
            }
        };
        let state = Play {
            tokens: tokens.into(),
            emitted: 0,
            stats: Some(stats),
            guard,
        };
        Box::pin(futures_util::stream::unfold(
            state,
            move |mut s| async move {
                let stats = s.stats.take()?;
                if fail_before {
                    s.guard.ended = true;
                    return Some((
                        Err(BackendError::Status {
                            status: 500,
                            message: "injected fault".into(),
                        }),
                        s,
                    ));
                }
                if s.emitted == 1 && hang {
                    std::future::pending::<()>().await;
                }
                if s.emitted == 1 && fail_midway {
                    s.guard.ended = true;
                    return Some((
                        Err(BackendError::StreamError {
                            message: "injected midway fault".into(),
                        }),
                        s,
                    ));
                }
                if let Some(token) = s.tokens.pop_front() {
                    if !delay.is_zero() {
                        tokio::time::sleep(delay).await;
                    }
                    s.emitted += 1;
                    s.stats = Some(stats);
                    return Some((Ok(Chunk::Delta(token)), s));
                }
                s.guard.ended = true;
                Some((Ok(Chunk::Done(stats)), s))
            },
        ))
    }
}

/// Where a test backend's answer is.
struct Play {
    tokens: std::collections::VecDeque<String>,
    emitted: usize,
    /// Taken when the stream ends; `None` means ended.
    stats: Option<FinalStats>,
    guard: DropGuard,
}

/// One configured model and its backend.
pub struct TestModel {
    pub name: &'static str,
    pub behaviour: Behaviour,
    pub bulkhead: BulkheadConfig,
    pub breaker: BreakerConfig,
}

impl TestModel {
    pub fn new(name: &'static str, behaviour: Behaviour) -> Self {
        TestModel {
            name,
            behaviour,
            bulkhead: BulkheadConfig::default(),
            breaker: BreakerConfig::default(),
        }
    }

    pub fn bulkhead(mut self, max_in_flight: usize, queue_capacity: usize) -> Self {
        self.bulkhead = BulkheadConfig {
            max_in_flight,
            queue_capacity,
        };
        self
    }

    pub fn breaker(mut self, breaker: BreakerConfig) -> Self {
        self.breaker = breaker;
        self
    }
}

/// The engine over test backends, and the backends.
pub fn engine(models: Vec<TestModel>) -> (Engine, Vec<Arc<TestBackend>>) {
    let url = url::Url::parse("http://127.0.0.1:9").unwrap();
    let configs = models
        .iter()
        .map(|m| ModelConfig {
            bulkhead: m.bulkhead,
            breaker: m.breaker,
            ..ModelConfig::ollama(m.name, url.clone(), Duration::from_secs(20))
        })
        .collect();
    let config = Config {
        models: configs,
        routing: RoutingConfig::default(),
        proxy: ProxyConfig::default(),
        log: LogConfig::default(),
    };
    let backends: Vec<Arc<TestBackend>> = models
        .iter()
        .map(|m| TestBackend::new(m.behaviour))
        .collect();
    let dyn_backends = backends
        .iter()
        .map(|b| b.clone() as Arc<dyn Backend>)
        .collect();
    (Engine::with_backends(&config, dyn_backends), backends)
}

/// A running proxy.
pub struct Running {
    pub addr: SocketAddr,
    pub engine: Engine,
    pub backends: Vec<Arc<TestBackend>>,
    stop: Option<oneshot::Sender<()>>,
    pub task: JoinHandle<anyhow::Result<()>>,
}

impl Running {
    pub async fn start(models: Vec<TestModel>) -> Running {
        Self::with_config(models, ProxyConfig::default()).await
    }

    pub async fn with_config(models: Vec<TestModel>, mut config: ProxyConfig) -> Running {
        config.listen = "127.0.0.1:0".parse().unwrap();
        let (engine, backends) = engine(models);
        let server = Server::bind(engine.clone(), config).await.unwrap();
        let addr = server.local_addr();
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(server.run(async move {
            let _ = stopped.await;
        }));
        Running {
            addr,
            engine,
            backends,
            stop: Some(stop),
            task,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    pub fn shutdown(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }

    /// Wait (bounded) until no model has requests in flight or queued.
    pub async fn wait_idle(&self) {
        for _ in 0..500 {
            let snapshot = self.engine.snapshot();
            if snapshot
                .models
                .iter()
                .all(|m| m.in_flight == 0 && m.queued == 0)
            {
                return;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!(
            "slots still taken: {:?}",
            self.engine
                .snapshot()
                .models
                .iter()
                .map(|m| (&m.name, m.in_flight, m.queued))
                .collect::<Vec<_>>()
        );
    }

    pub async fn wait_cancelled(&self, backend: usize, n: usize) {
        for _ in 0..300 {
            if self.backends[backend].cancelled.load(Ordering::SeqCst) >= n {
                return;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!(
            "backend {backend} saw {} cancellations, expected {n}",
            self.backends[backend].cancelled.load(Ordering::SeqCst)
        );
    }
}

/// A response read off the socket byte for byte.
#[derive(Debug)]
pub struct Raw {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Raw {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// Send one HTTP/1.1 request with `Connection: close` and read the whole response,
/// decoding chunked transfer strictly.
pub async fn raw(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> Raw {
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let mut request = format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    for (name, value) in headers {
        request += &format!("{name}: {value}\r\n");
    }
    if !body.is_empty() || method == "POST" {
        request += &format!(
            "Content-Type: application/json\r\nContent-Length: {}\r\n",
            body.len()
        );
    }
    request += "\r\n";
    request += body;
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut bytes = Vec::new();
    tokio::time::timeout(Duration::from_secs(20), stream.read_to_end(&mut bytes))
        .await
        .expect("response within 20 s")
        .unwrap();
    parse_response(&bytes)
}

fn parse_response(bytes: &[u8]) -> Raw {
    let split = bytes
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("end of headers");
    let head = std::str::from_utf8(&bytes[..split]).unwrap();
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap();
    assert!(status_line.starts_with("HTTP/1.1 "), "{status_line}");
    let status = status_line[9..12].parse().unwrap();
    let headers: Vec<(String, String)> = lines
        .map(|l| {
            let (n, v) = l
                .split_once(": ")
                .unwrap_or_else(|| panic!("bad header line {l:?}"));
            (n.to_string(), v.to_string())
        })
        .collect();
    let rest = &bytes[split + 4..];
    let chunked = headers
        .iter()
        .any(|(n, v)| n.eq_ignore_ascii_case("transfer-encoding") && v == "chunked");
    let body = if chunked {
        dechunk(rest)
    } else {
        rest.to_vec()
    };
    Raw {
        status,
        headers,
        body: String::from_utf8(body).expect("UTF-8 body"),
    }
}

fn dechunk(mut data: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let end = data
            .windows(2)
            .position(|w| w == b"\r\n")
            .expect("chunk size line");
        let size = usize::from_str_radix(std::str::from_utf8(&data[..end]).unwrap(), 16)
            .expect("hex chunk size");
        data = &data[end + 2..];
        if size == 0 {
            assert_eq!(data, b"\r\n", "chunked body must end with an empty trailer");
            return out;
        }
        out.extend_from_slice(&data[..size]);
        assert_eq!(&data[size..size + 2], b"\r\n", "chunk must end with CRLF");
        data = &data[size + 2..];
    }
}

/// Strict NDJSON: every line ends with `\n`, none is empty, each is one JSON object.
pub fn ndjson(body: &str) -> Vec<serde_json::Value> {
    assert!(
        body.ends_with('\n'),
        "NDJSON must end with a newline: {body:?}"
    );
    body.lines()
        .map(|line| {
            let v: serde_json::Value =
                serde_json::from_str(line).unwrap_or_else(|e| panic!("{line:?}: {e}"));
            assert!(v.is_object(), "{line:?} is not an object");
            v
        })
        .collect()
}

/// Strict SSE: `data: <payload>` events separated by blank lines; payloads are JSON
/// except `[DONE]`.
pub fn sse(body: &str) -> Vec<String> {
    assert!(
        body.ends_with("\n\n"),
        "SSE must end with a blank line: {body:?}"
    );
    body.split_terminator("\n\n")
        .map(|event| {
            let data = event
                .strip_prefix("data: ")
                .unwrap_or_else(|| panic!("not a data event: {event:?}"));
            assert!(!data.contains('\n'));
            if data != "[DONE]" {
                serde_json::from_str::<serde_json::Value>(data)
                    .unwrap_or_else(|e| panic!("{data:?}: {e}"));
            }
            data.to_string()
        })
        .collect()
}

/// Keys of a JSON object in wire order (top level only).
pub fn key_order(line: &str) -> Vec<String> {
    let mut keys = Vec::new();
    let mut depth = 0usize;
    let mut chars = line.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        match c {
            '{' | '[' => depth += 1,
            '}' | ']' => depth -= 1,
            '"' => {
                let start = i + 1;
                let mut end = start;
                while let Some((j, c)) = chars.next() {
                    if c == '\\' {
                        chars.next();
                    } else if c == '"' {
                        end = j;
                        break;
                    }
                }
                if depth == 1 && chars.peek().map(|(_, c)| *c) == Some(':') {
                    keys.push(line[start..end].to_string());
                }
            }
            _ => {}
        }
    }
    keys
}

pub fn chat_body(model: &str, prompt: &str, stream: bool) -> String {
    serde_json::json!({"model": model, "stream": stream, "messages": [{"role": "user", "content": prompt}]}).to_string()
}
