//! An Ollama-compatible HTTP server whose models follow latency profiles and scripted
//! faults: what `--demo`, the tests and the benchmarks talk to, through the real backends.
//!
//! It serves Ollama's `/api/chat`, `/api/generate`, `/api/tags`, `/api/ps`, `/api/version`
//! and `/`, and OpenAI's `/v1/chat/completions` and `/v1/models`, faithful to Ollama on the
//! wire: headers only with the first chunk, the `done` line's fields and order, zero
//! metrics left out, Go's escaping, Ollama's error messages and statuses. Each model
//! follows a [`Profile`] (latency, answer length, failure rate, slow-down under load) on
//! tokio's clock, so a paused clock drives it; a [`Fault`] can be set per model from code
//! ([`EmulatorHandle::set_fault`]) or over `POST /admin/fault` (see [`admin`'s docs]).
//! Answers are generated text, seeded per request: the same seed gives the same run.
//!
//! [`admin`'s docs]: self#admin-endpoints
//!
//! # Example
//!
//! ```no_run
//! use signalbox::emulator::{EmulatorConfig, Fault, FaultRule, start};
//!
//! # async fn demo() -> std::io::Result<()> {
//! // gemma3:1b and gemma2:2b, ten times faster than real time.
//! let cfg = EmulatorConfig::default().with_speed(10.0);
//! let emulator = start("127.0.0.1:0".parse().unwrap(), cfg).await?;
//! let base_url = emulator.url(); // point an Ollama backend here
//! emulator.set_fault("gemma3:1b", FaultRule::times(Fault::HangAfter { chunks: 3 }, 2)).ok();
//! // ... later: did the client's cancel reach the server?
//! let cancelled = emulator.stats().model("gemma3:1b").cancelled;
//! emulator.shutdown().await;
//! # let _ = (base_url, cancelled);
//! # Ok(())
//! # }
//! ```
//!
//! # Admin endpoints
//!
//! - `POST /admin/fault` `{"model":"gemma3:1b","fault":"hang_after","chunks":3}`, with an
//!   optional `"times":N` or `"probability":P`; `"fault":"none"` clears it;
//! - `DELETE /admin/fault/{model}`, `DELETE /admin/fault` (all models);
//! - `GET /admin/state`: faults and counters per model.

mod admin;
mod api;
pub mod cli;
pub mod fault;
mod generation;
mod info;
mod openai;
pub mod profile;
mod respond;
mod server;
mod state;
mod text;
mod wire;

use std::io;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::AtomicU64;

use time::OffsetDateTime;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

pub use fault::{BUSY_MESSAGE, Fault, FaultRule, Scope};
pub use info::OLLAMA_VERSION;
pub use profile::{Latency, ModelSpec, Profile};
pub use state::{ModelStats, Stats};

use state::{ModelEntry, Shared};

/// What the emulator serves.
#[derive(Clone, Debug, PartialEq)]
pub struct EmulatorConfig {
    /// Model names (`name:tag`; a bare name means `name:latest`) and their profiles.
    pub models: Vec<(String, Profile)>,
    /// Seeds every request's answer, latencies and fault draws.
    pub seed: u64,
    /// Divides every latency: 10.0 runs ten times faster. Must be above zero.
    pub speed: f64,
}

impl Default for EmulatorConfig {
    /// The original system's models, `gemma3:1b` fast and `gemma2:2b` accurate, in real time.
    fn default() -> Self {
        EmulatorConfig {
            models: Profile::defaults(),
            seed: 0,
            speed: 1.0,
        }
    }
}

impl EmulatorConfig {
    /// These models, all on the zero-latency profile: for benchmarks.
    pub fn zero<S: Into<String>>(names: impl IntoIterator<Item = S>) -> Self {
        let models = names
            .into_iter()
            .map(|n| (n.into(), Profile::zero()))
            .collect();
        EmulatorConfig {
            models,
            seed: 0,
            speed: 1.0,
        }
    }

    pub fn with_seed(mut self, seed: u64) -> Self {
        self.seed = seed;
        self
    }

    pub fn with_speed(mut self, speed: f64) -> Self {
        self.speed = speed;
        self
    }

    fn validate(&self) -> io::Result<()> {
        let invalid = |message: String| Err(io::Error::new(io::ErrorKind::InvalidInput, message));
        if !(self.speed.is_finite() && self.speed > 0.0) {
            return invalid(format!(
                "emulator speed must be above zero, got {}",
                self.speed
            ));
        }
        let mut names: Vec<String> = self
            .models
            .iter()
            .map(|(n, _)| state::canonical(n))
            .collect();
        names.sort();
        if let Some(pair) = names.windows(2).find(|w| w[0] == w[1]) {
            return invalid(format!("model '{}' is configured twice", pair[0]));
        }
        Ok(())
    }
}

/// The emulator: start it on an address or on a listener you already bound.
pub struct Emulator;

impl Emulator {
    /// Binds `addr` (port 0 picks a free one) and starts serving.
    pub async fn start(addr: SocketAddr, cfg: EmulatorConfig) -> io::Result<EmulatorHandle> {
        start(addr, cfg).await
    }

    /// Serves on a listener that is already bound.
    pub fn serve(listener: TcpListener, cfg: EmulatorConfig) -> io::Result<EmulatorHandle> {
        serve(listener, cfg)
    }
}

/// Binds `addr` (port 0 picks a free one) and starts serving.
pub async fn start(addr: SocketAddr, cfg: EmulatorConfig) -> io::Result<EmulatorHandle> {
    cfg.validate()?;
    serve(TcpListener::bind(addr).await?, cfg)
}

/// Serves on a listener that is already bound. Must be called inside a tokio runtime.
pub fn serve(listener: TcpListener, cfg: EmulatorConfig) -> io::Result<EmulatorHandle> {
    cfg.validate()?;
    let addr = listener.local_addr()?;
    let models = cfg
        .models
        .into_iter()
        .map(|(n, p)| Arc::new(ModelEntry::new(n, p)))
        .collect();
    let shared = Arc::new(Shared {
        models,
        seed: cfg.seed,
        speed: cfg.speed,
        started: OffsetDateTime::now_utc(),
        unknown_model: AtomicU64::new(0),
    });
    let shutdown = CancellationToken::new();
    let tracker = TaskTracker::new();
    let router = server::router(shared.clone());
    let task = tokio::spawn(server::accept_loop(
        listener,
        router,
        shutdown.clone(),
        tracker.clone(),
    ));
    tracing::info!(%addr, "emulator listening");
    Ok(EmulatorHandle {
        addr,
        shared,
        shutdown,
        tracker,
        task: Some(task),
    })
}

/// A running emulator. Dropping the handle stops it, like [`EmulatorHandle::shutdown`]
/// without waiting.
pub struct EmulatorHandle {
    addr: SocketAddr,
    shared: Arc<Shared>,
    shutdown: CancellationToken,
    tracker: TaskTracker,
    task: Option<JoinHandle<()>>,
}

/// A fault was set for a model the emulator does not serve.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
#[error("the emulator serves no model '{0}'")]
pub struct UnknownModel(pub String);

impl EmulatorHandle {
    /// Where it listens.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Its base URL, `http://127.0.0.1:PORT` (an unspecified listen address is given as
    /// loopback, as Ollama's clients do).
    pub fn url(&self) -> url::Url {
        let mut addr = self.addr;
        if addr.ip().is_unspecified() {
            addr.set_ip(match addr {
                SocketAddr::V4(_) => Ipv4Addr::LOCALHOST.into(),
                SocketAddr::V6(_) => Ipv6Addr::LOCALHOST.into(),
            });
        }
        // An IP address and a port always make a valid http URL.
        url::Url::parse(&format!("http://{addr}")).expect("a socket address is a valid URL host")
    }

    /// Sets a model's fault: a [`Fault`] on its own lasts until cleared; a [`FaultRule`]
    /// can last for the next N requests or hit with a probability.
    pub fn set_fault(&self, model: &str, rule: impl Into<FaultRule>) -> Result<(), UnknownModel> {
        let entry = self
            .shared
            .find(model)
            .ok_or_else(|| UnknownModel(model.to_string()))?;
        entry.faults.set(rule.into());
        Ok(())
    }

    /// Clears one model's fault.
    pub fn clear_fault(&self, model: &str) -> Result<(), UnknownModel> {
        let entry = self
            .shared
            .find(model)
            .ok_or_else(|| UnknownModel(model.to_string()))?;
        entry.faults.clear();
        Ok(())
    }

    /// Clears every model's fault.
    pub fn clear_faults(&self) {
        for entry in &self.shared.models {
            entry.faults.clear();
        }
    }

    /// Counters per model: requests, served, faulted, cancelled, in flight.
    pub fn stats(&self) -> Stats {
        self.shared.stats()
    }

    /// The models it serves, as `name:tag`.
    pub fn models(&self) -> Vec<String> {
        self.shared.models.iter().map(|m| m.name.clone()).collect()
    }

    /// Stops accepting, drops every open connection and waits for their tasks to end.
    pub async fn shutdown(mut self) {
        self.shutdown.cancel();
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
        self.tracker.close();
        self.tracker.wait().await;
    }
}

impl Drop for EmulatorHandle {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}
