//! The defaults: the original two-model setup.

use std::time::Duration;

use url::Url;

use super::*;

/// Where Ollama listens when `OLLAMA_HOST` is not set.
pub const DEFAULT_OLLAMA_URL: &str = "http://127.0.0.1:11434";

impl Default for TimeoutConfig {
    fn default() -> Self {
        TimeoutConfig {
            total: Duration::from_secs(20),
            first_token: Duration::from_secs(15),
            stall: Duration::from_secs(10),
            connect: Duration::from_secs(2),
        }
    }
}

impl TimeoutConfig {
    /// Limits scaled from a total: first token and stall get a share of it.
    pub fn with_total(total: Duration) -> Self {
        TimeoutConfig {
            total,
            first_token: total.mul_f64(0.75),
            stall: total.mul_f64(0.5).min(Duration::from_secs(30)),
            connect: Duration::from_secs(2),
        }
    }
}

impl Default for BulkheadConfig {
    fn default() -> Self {
        BulkheadConfig {
            max_in_flight: 3,
            queue_capacity: 16,
        }
    }
}

impl Default for BreakerConfig {
    fn default() -> Self {
        BreakerConfig {
            failure_threshold: 2,
            open_base: Duration::from_secs(10),
            open_max: Duration::from_secs(40),
            half_open_probes: 1,
            probe_timeout: Duration::from_secs(60),
            failure_rate: None,
        }
    }
}

impl Default for RoutingConfig {
    fn default() -> Self {
        RoutingConfig {
            strategy: StrategyKind::PeakEwma,
            warmup: 2,
            window: Duration::from_secs(300),
            probe_every: 20,
            hedge: false,
            hedge_budget: 0.05,
        }
    }
}

impl Default for ProxyConfig {
    fn default() -> Self {
        ProxyConfig {
            listen: SocketAddr::from(([127, 0, 0, 1], 11435)),
            allow_remote: false,
            token_env: None,
            cors_origins: Vec::new(),
            max_body_bytes: 4 * 1024 * 1024,
            shutdown_grace: Duration::from_secs(10),
        }
    }
}

impl Default for LogConfig {
    fn default() -> Self {
        LogConfig {
            level: "info".to_string(),
            file: None,
            log_content: false,
        }
    }
}

impl ModelConfig {
    /// An Ollama model with default limits and the given total timeout.
    pub fn ollama(name: impl Into<String>, base_url: Url, total: Duration) -> Self {
        ModelConfig {
            name: name.into(),
            server_model: None,
            backend: BackendKind::Ollama,
            base_url,
            api_key_env: None,
            timeouts: TimeoutConfig::with_total(total),
            bulkhead: BulkheadConfig::default(),
            breaker: BreakerConfig::default(),
            options: serde_json::Map::new(),
            keep_alive: None,
        }
    }
}

impl Config {
    /// The original system: `gemma3:1b` (fast, 20 s) and `gemma2:2b` (accurate, 60 s) on
    /// one Ollama server.
    pub fn default_for(ollama: Url) -> Self {
        Config {
            models: vec![
                ModelConfig::ollama("gemma3:1b", ollama.clone(), Duration::from_secs(20)),
                ModelConfig::ollama("gemma2:2b", ollama, Duration::from_secs(60)),
            ],
            routing: RoutingConfig::default(),
            proxy: ProxyConfig::default(),
            log: LogConfig::default(),
        }
    }
}

impl Default for FailureRateConfig {
    /// Half of the last 20 calls, once there were at least 10.
    fn default() -> Self {
        FailureRateConfig {
            window: 20,
            min_calls: 10,
            threshold: 0.5,
        }
    }
}
