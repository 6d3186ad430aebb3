//! One typed configuration: the models, how to route between them, the proxy and logs.
//!
//! Built in code with [`ConfigBuilder`] or loaded from TOML; `build()` validates
//! everything at once and reports every problem.
//!
//! - [`Config::builder`]: the fluent builder; [`Config::default_for`]: the original system.
//! - [`Config::load`], [`Config::from_toml_str`]: one file; [`load`]: every layer, built-in
//!   defaults < file < environment < command-line [`Overrides`].
//! - [`parse_ollama_host`], [`ollama_host_from_env`]: `OLLAMA_HOST` read as Ollama reads it.
//! - [`ConfigErrors`]: every problem, each with its key and, from a file, its line.
//!
//! The file format and every key are described in `docs/configuration.md`.

use std::net::SocketAddr;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use url::Url;

use crate::backend::BackendKind;

mod builder;
mod defaults;
mod error;
mod file;
mod host;
mod source;
mod validate;

pub use builder::{ConfigBuilder, ModelBuilder};
pub use defaults::DEFAULT_OLLAMA_URL;
pub use error::{ConfigError, ConfigErrors, Location};
pub use host::{
    OLLAMA_HOST_VAR, default_ollama_url, ollama_host_from, ollama_host_from_env, parse_ollama_host,
};
pub use source::{
    CONFIG_ENV_VARS, LoadedConfig, Overrides, default_config_exists, default_config_path, load,
    load_with_env,
};

/// The whole configuration.
#[derive(Clone, Debug, PartialEq)]
pub struct Config {
    pub models: Vec<ModelConfig>,
    pub routing: RoutingConfig,
    pub proxy: ProxyConfig,
    pub log: LogConfig,
}

/// One model the router can send requests to.
#[derive(Clone, Debug, PartialEq)]
pub struct ModelConfig {
    /// The name the user sees and the router uses; unique. Also the model's name on its
    /// server unless `server_model` says otherwise.
    pub name: String,
    /// The model's name on its server, when it differs from `name`.
    pub server_model: Option<String>,
    pub backend: BackendKind,
    /// Where the server listens (`http://127.0.0.1:11434`).
    pub base_url: Url,
    /// Name of an environment variable that holds the API key (OpenAI-compatible servers).
    pub api_key_env: Option<String>,
    pub timeouts: TimeoutConfig,
    pub bulkhead: BulkheadConfig,
    pub breaker: BreakerConfig,
    /// Passed to the server as Ollama's `options` (temperature, num_predict, num_ctx, ...).
    pub options: serde_json::Map<String, serde_json::Value>,
    /// Passed to Ollama as `keep_alive`.
    pub keep_alive: Option<serde_json::Value>,
}

impl ModelConfig {
    /// The name to send to the server.
    pub fn server_model(&self) -> &str {
        self.server_model.as_deref().unwrap_or(&self.name)
    }
}

/// Per-model time limits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TimeoutConfig {
    /// The whole request, bulkhead queue included.
    pub total: Duration,
    /// From sending the request to the first generated token.
    pub first_token: Duration,
    /// Longest gap between two chunks once tokens flow.
    pub stall: Duration,
    /// Making the TCP connection.
    pub connect: Duration,
}

/// Per-model concurrency limit and waiting room.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BulkheadConfig {
    /// Requests in flight at once.
    pub max_in_flight: usize,
    /// Requests that may wait for a slot; one more is rejected at once.
    pub queue_capacity: usize,
}

/// Per-model circuit breaker settings.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct BreakerConfig {
    /// Consecutive failures that open the breaker.
    pub failure_threshold: u32,
    /// First open period; doubles on each failed recovery.
    pub open_base: Duration,
    /// Longest open period.
    pub open_max: Duration,
    /// Probes admitted while half-open.
    pub half_open_probes: u32,
    /// A probe that has not finished after this long counts as failed, so a hung probe
    /// cannot keep the breaker half-open for ever.
    pub probe_timeout: Duration,
    /// Optional failure-rate rule beside the consecutive count.
    pub failure_rate: Option<FailureRateConfig>,
}

/// Open when, over the last `window` calls (and at least `min_calls`), the failure rate
/// reaches `threshold` (0..=1).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct FailureRateConfig {
    pub window: u32,
    pub min_calls: u32,
    pub threshold: f64,
}

/// The routing strategies.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum StrategyKind {
    /// Round-robin warm-up, then lowest p95 of total latency.
    P95,
    RoundRobin,
    /// Decaying peak-sensitive estimate of total latency × (load + 1).
    PeakEwma,
    /// The same on time to first token, with a small token-rate term.
    TtftEwma,
}

impl StrategyKind {
    pub const ALL: &'static [StrategyKind] = &[
        StrategyKind::P95,
        StrategyKind::RoundRobin,
        StrategyKind::PeakEwma,
        StrategyKind::TtftEwma,
    ];

    pub fn name(self) -> &'static str {
        match self {
            StrategyKind::P95 => "p95",
            StrategyKind::RoundRobin => "round-robin",
            StrategyKind::PeakEwma => "peak-ewma",
            StrategyKind::TtftEwma => "ttft-ewma",
        }
    }

    pub fn from_name(name: &str) -> Option<StrategyKind> {
        Self::ALL.iter().copied().find(|k| k.name() == name)
    }
}

/// How the router chooses.
#[derive(Clone, Debug, PartialEq)]
pub struct RoutingConfig {
    pub strategy: StrategyKind,
    /// Requests served round-robin before latency figures are trusted.
    pub warmup: u32,
    /// Latency samples older than this no longer count.
    pub window: Duration,
    /// Every this many requests, a model the strategy is not choosing gets one, so a model
    /// that slowed and recovered is found again. 0 turns probing off.
    pub probe_every: u32,
    /// When the first model has sent no first token by its recent p95 time to first
    /// token, send the same request to the runner-up too; the first to answer wins.
    pub hedge: bool,
    /// Hedged requests as a share of all requests, at most (0..=1); about 0.05.
    pub hedge_budget: f64,
}

/// The optional HTTP front.
#[derive(Clone, Debug, PartialEq)]
pub struct ProxyConfig {
    pub listen: SocketAddr,
    /// Needed to listen on a non-loopback address.
    pub allow_remote: bool,
    /// Environment variable holding the bearer token clients must send.
    pub token_env: Option<String>,
    /// Origins allowed by CORS; empty means no CORS headers at all.
    pub cors_origins: Vec<String>,
    /// Largest request body accepted, in bytes.
    pub max_body_bytes: usize,
    /// How long answers in flight may run on after a shutdown signal.
    pub shutdown_grace: Duration,
}

/// Where logs go and what they include.
#[derive(Clone, Debug, PartialEq)]
pub struct LogConfig {
    /// `tracing` filter, e.g. `info` or `signalbox=debug`.
    pub level: String,
    /// Log file; `None` means `$XDG_STATE_HOME/signalbox/signalbox.log`.
    pub file: Option<std::path::PathBuf>,
    /// Log prompt and answer text. Off by default.
    pub log_content: bool,
}
