//! The HTTP layer against a scripted engine: exact wire bytes, every error shape,
//! cancellation and shutdown. The real engine is exercised in `tests/proxy`.

#[path = "../../../tests/proxy/support/common.rs"]
mod common;
mod errors;
mod lifecycle;
mod python_clients;
mod wire_format;

pub use common::*;

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::stream::BoxStream;
use tokio::sync::{broadcast, oneshot};
use tokio::task::JoinHandle;

use super::{Router, Server};
use crate::backend::FinalStats;
use crate::config::ProxyConfig;
use crate::engine::*;
use crate::events::{Event, EventBus, ModelName};

pub const MODELS: [&str; 2] = ["gemma3:1b", "gemma2:2b"];

/// What the scripted engine answers to one request.
#[derive(Clone, Default)]
pub struct Script {
    /// Events with a delay before each.
    pub events: Vec<(Duration, ReplyEvent)>,
    /// After the events, wait for ever (until the reply is dropped).
    pub hang: bool,
}

impl Script {
    pub fn answer(model: &str, tokens: &[&str]) -> Script {
        let mut events = vec![(Duration::ZERO, routed(model))];
        events.extend(
            tokens
                .iter()
                .map(|t| (Duration::ZERO, ReplyEvent::Token(t.to_string()))),
        );
        events.push((
            Duration::ZERO,
            ReplyEvent::Done(answer(model, &tokens.concat())),
        ));
        Script {
            events,
            hang: false,
        }
    }

    pub fn failing(attempts: Vec<(&str, AttemptError)>) -> Script {
        let attempts = attempts
            .into_iter()
            .map(|(m, e)| (ModelName::from(m), e))
            .collect();
        Script {
            events: vec![(Duration::ZERO, ReplyEvent::Failed(AllFailed { attempts }))],
            hang: false,
        }
    }
}

pub fn routed(model: &str) -> ReplyEvent {
    ReplyEvent::Routed {
        id: RequestId(1),
        model: model.into(),
        reason: "test".into(),
    }
}

pub fn answer(model: &str, text: &str) -> Answer {
    Answer {
        model: model.into(),
        text: text.to_string(),
        fallbacks: Vec::new(),
        time_to_first_token: Some(Duration::from_millis(1)),
        total: Duration::from_millis(2),
        tokens_per_sec: None,
        stats: FinalStats {
            done_reason: Some("stop".into()),
            prompt_tokens: Some(27),
            completion_tokens: Some(3),
            total_duration: None,
            load_duration: Some(Duration::from_nanos(1_502_119_844)),
            prompt_eval_duration: Some(Duration::from_nanos(211_003_000)),
            eval_duration: Some(Duration::from_nanos(41_882_000)),
        },
    }
}

pub fn model_snapshot(name: &str, state: BreakerState) -> ModelSnapshot {
    ModelSnapshot {
        name: name.into(),
        breaker: BreakerView {
            state,
            consecutive_failures: 0,
            next_probe_in: (state == BreakerState::Open).then_some(Duration::from_secs(7)),
            open_period: Duration::from_secs(10),
            times_opened: 0,
        },
        in_flight: 0,
        queued: 0,
        max_in_flight: 3,
        queue_capacity: 16,
        latency_recent: Percentiles::default(),
        latency_all: Percentiles::default(),
        ttft_recent: Percentiles::default(),
        ttft_all: Percentiles::default(),
        tokens_per_sec: None,
        counters: Counters::default(),
        recent_ms: Vec::new(),
        health: None,
    }
}

/// An engine stand-in that plays a script and records what it was asked.
pub struct Scripted {
    pub models: Vec<ModelName>,
    pub script: Mutex<Script>,
    pub requests: Mutex<Vec<Request>>,
    /// Replies dropped before their script ended: cancellations.
    pub cancelled: Arc<AtomicUsize>,
    pub snapshot: Mutex<EngineSnapshot>,
    pub bus: EventBus,
}

impl Scripted {
    pub fn new(script: Script, models: &[&str]) -> Arc<Scripted> {
        Arc::new(Scripted {
            models: models.iter().map(|m| ModelName::from(*m)).collect(),
            script: Mutex::new(script),
            requests: Mutex::new(Vec::new()),
            cancelled: Arc::new(AtomicUsize::new(0)),
            snapshot: Mutex::new(EngineSnapshot {
                models: MODELS
                    .iter()
                    .map(|m| model_snapshot(m, BreakerState::Closed))
                    .collect(),
                strategy: "p95",
                routed: 0,
                warmup: 2,
                uptime: Duration::from_secs(5),
            }),
            bus: EventBus::default(),
        })
    }

    pub fn last_request(&self) -> Request {
        self.requests
            .lock()
            .unwrap()
            .last()
            .cloned()
            .expect("a request was submitted")
    }

    pub fn cancelled(&self) -> usize {
        self.cancelled.load(Ordering::SeqCst)
    }

    /// Wait (bounded) until `n` replies were cancelled.
    pub async fn wait_cancelled(&self, n: usize) {
        for _ in 0..200 {
            if self.cancelled() >= n {
                return;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("expected {n} cancelled replies, saw {}", self.cancelled());
    }
}

/// Counts a reply dropped before its script finished.
struct CancelGuard {
    cancelled: Arc<AtomicUsize>,
    finished: bool,
}

impl Drop for CancelGuard {
    fn drop(&mut self) {
        if !self.finished {
            self.cancelled.fetch_add(1, Ordering::SeqCst);
        }
    }
}

impl Router for Scripted {
    fn submit(&self, request: Request) -> BoxStream<'static, ReplyEvent> {
        self.requests.lock().unwrap().push(request);
        let script = self.script.lock().unwrap().clone();
        let guard = CancelGuard {
            cancelled: self.cancelled.clone(),
            finished: false,
        };
        let state = (VecDeque::from(script.events), script.hang, guard);
        Box::pin(futures_util::stream::unfold(
            state,
            |(mut events, hang, mut guard)| async move {
                match events.pop_front() {
                    Some((delay, event)) => {
                        tokio::time::sleep(delay).await;
                        // A reply is over once it says Done or Failed, read to its end or not.
                        guard.finished |=
                            matches!(event, ReplyEvent::Done(_) | ReplyEvent::Failed(_));
                        Some((event, (events, hang, guard)))
                    }
                    None if hang => std::future::pending().await,
                    None => {
                        guard.finished = true;
                        drop(guard);
                        None
                    }
                }
            },
        ))
    }

    fn snapshot(&self) -> EngineSnapshot {
        self.snapshot.lock().unwrap().clone()
    }

    fn model_names(&self) -> Vec<ModelName> {
        self.models.clone()
    }

    fn subscribe(&self) -> broadcast::Receiver<Event> {
        self.bus.subscribe()
    }
}

/// A running proxy over a scripted engine.
pub struct Harness {
    pub addr: SocketAddr,
    pub engine: Arc<Scripted>,
    pub client: reqwest::Client,
    stop: Option<oneshot::Sender<()>>,
    pub task: JoinHandle<anyhow::Result<()>>,
}

impl Harness {
    pub async fn start(script: Script) -> Harness {
        Self::with_config(script, ProxyConfig::default()).await
    }

    pub async fn with_config(script: Script, config: ProxyConfig) -> Harness {
        Self::with_models(script, config, &MODELS).await
    }

    pub async fn with_models(script: Script, mut config: ProxyConfig, models: &[&str]) -> Harness {
        config.listen = "127.0.0.1:0".parse().unwrap();
        let engine = Scripted::new(script, models);
        let server = Server::bind_router(engine.clone(), config).await.unwrap();
        let addr = server.local_addr();
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(server.run(async move {
            let _ = stopped.await;
        }));
        let client = reqwest::Client::builder().no_proxy().build().unwrap();
        Harness {
            addr,
            engine,
            client,
            stop: Some(stop),
            task,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    pub async fn post(&self, path: &str, body: &str) -> reqwest::Response {
        self.client
            .post(self.url(path))
            .header("content-type", "application/json")
            .body(body.to_string())
            .send()
            .await
            .unwrap()
    }

    /// POST `body` as JSON to `path` and read the whole response.
    pub async fn post_got(&self, path: &str, body: &str) -> Got {
        got(self.post(path, body).await).await
    }

    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.client.get(self.url(path)).send().await.unwrap()
    }

    /// Signal shutdown.
    pub fn shutdown(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

/// Response pieces a test checks.
pub struct Got {
    pub status: u16,
    pub content_type: String,
    pub headers: reqwest::header::HeaderMap,
    pub body: String,
}

pub async fn got(response: reqwest::Response) -> Got {
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let content_type = headers
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default();
    let body = response.text().await.unwrap();
    Got {
        status,
        content_type,
        headers,
        body,
    }
}

/// Whether a timestamp is RFC 3339 in UTC with at most nine fraction digits and no
/// trailing zero in the fraction.
pub fn is_rfc3339_utc(s: &str) -> bool {
    let Some(rest) = s.strip_suffix('Z') else {
        return false;
    };
    let (whole, fraction) = rest.split_once('.').unwrap_or((rest, ""));
    // YYYY-MM-DDTHH:MM:SS
    let ok_whole = whole.len() == 19
        && whole.bytes().enumerate().all(|(i, b)| match i {
            4 | 7 => b == b'-',
            10 => b == b'T',
            13 | 16 => b == b':',
            _ => b.is_ascii_digit(),
        });
    let ok_fraction = fraction.is_empty()
        || (fraction.len() <= 9
            && fraction.bytes().all(|b| b.is_ascii_digit())
            && !fraction.ends_with('0'));
    ok_whole && ok_fraction
}
