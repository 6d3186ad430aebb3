//! The fluent builder: a configuration in code, validated as a whole by `build()`.
//!
//! ```
//! use std::time::Duration;
//! use signalbox::config::{Config, StrategyKind};
//!
//! let config = Config::builder()
//!     .ollama_model("gemma3:1b", Duration::from_secs(20))
//!     .ollama_model("gemma2:2b", Duration::from_secs(60))
//!     .max_in_flight(2) // applies to the model added last
//!     .strategy(StrategyKind::P95)
//!     .warmup(2)
//!     .build()
//!     .unwrap();
//! assert_eq!(config.models[1].bulkhead.max_in_flight, 2);
//! ```

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use url::Url;

use super::validate::validate;
use super::*;
use crate::backend::BackendKind;

/// Builds a [`Config`]. Setters never fail; `build()` reports every problem at once.
#[derive(Clone, Debug, Default)]
pub struct ConfigBuilder {
    ollama_url: Option<Url>,
    models: Vec<ModelBuilder>,
    routing: RoutingConfig,
    proxy: ProxyConfig,
    log: LogConfig,
    problems: Vec<ConfigError>,
}

/// Builds one [`ModelConfig`]. Limits not set keep their defaults; the first-token and
/// stall limits not set follow the total timeout ([`TimeoutConfig::with_total`]).
#[derive(Clone, Debug)]
pub struct ModelBuilder {
    name: String,
    backend: BackendKind,
    server_model: Option<String>,
    base_url: Option<Result<Url, String>>,
    api_key_env: Option<String>,
    total: Option<Duration>,
    first_token: Option<Duration>,
    stall: Option<Duration>,
    connect: Option<Duration>,
    bulkhead: BulkheadConfig,
    breaker: BreakerConfig,
    options: serde_json::Map<String, serde_json::Value>,
    keep_alive: Option<serde_json::Value>,
}

impl Config {
    /// An empty builder; models without a URL use `http://127.0.0.1:11434` unless
    /// [`ConfigBuilder::ollama_url`] says otherwise.
    pub fn builder() -> ConfigBuilder {
        ConfigBuilder::default()
    }
}

impl ModelBuilder {
    pub fn new(name: impl Into<String>, backend: BackendKind) -> Self {
        ModelBuilder {
            name: name.into(),
            backend,
            server_model: None,
            base_url: None,
            api_key_env: None,
            total: None,
            first_token: None,
            stall: None,
            connect: None,
            bulkhead: BulkheadConfig::default(),
            breaker: BreakerConfig::default(),
            options: serde_json::Map::new(),
            keep_alive: None,
        }
    }

    /// An Ollama model with the given total timeout.
    pub fn ollama(name: impl Into<String>, total: Duration) -> Self {
        Self::new(name, BackendKind::Ollama).timeout(total)
    }

    /// A model on an OpenAI-compatible server at `base_url`, with the given total timeout.
    pub fn openai(name: impl Into<String>, base_url: impl AsRef<str>, total: Duration) -> Self {
        Self::new(name, BackendKind::OpenAi)
            .base_url(base_url)
            .timeout(total)
    }

    fn build(self, index: usize, ollama_url: &Url, problems: &mut Vec<ConfigError>) -> ModelConfig {
        let base_url = match self.base_url {
            Some(Ok(url)) => url,
            Some(Err(why)) => {
                problems.push(ConfigError::new(format!("model[{index}].url"), why));
                ollama_url.clone()
            }
            None => ollama_url.clone(),
        };
        let derived =
            TimeoutConfig::with_total(self.total.unwrap_or(TimeoutConfig::default().total));
        ModelConfig {
            name: self.name,
            server_model: self.server_model,
            backend: self.backend,
            base_url,
            api_key_env: self.api_key_env,
            timeouts: TimeoutConfig {
                total: derived.total,
                first_token: self.first_token.unwrap_or(derived.first_token),
                stall: self.stall.unwrap_or(derived.stall),
                connect: self.connect.unwrap_or(derived.connect),
            },
            bulkhead: self.bulkhead,
            breaker: self.breaker,
            options: self.options,
            keep_alive: self.keep_alive,
        }
    }
}

/// Defines each per-model setter on [`ModelBuilder`] and, applying to the model added
/// last, on [`ConfigBuilder`].
macro_rules! model_setters {
    ($( $(#[$doc:meta])* fn $name:ident(self, $($arg:ident : $ty:ty),*) $body:block )*) => {
        impl ModelBuilder {
            $( $(#[$doc])* pub fn $name(mut self, $($arg: $ty),*) -> Self {
                let m = &mut self;
                ($body)(m);
                self
            } )*
        }
        impl ConfigBuilder {
            $( $(#[$doc])*
            ///
            /// Applies to the model added last.
            pub fn $name(mut self, $($arg: $ty),*) -> Self {
                match self.models.pop() {
                    Some(model) => self.models.push(model.$name($($arg),*)),
                    None => self.problems.push(ConfigError::new(
                        "model",
                        format!("{}() was called before any model was added; add a model first", stringify!($name)),
                    )),
                }
                self
            } )*
        }
    };
}

model_setters! {
    /// The model's name on its server, when it differs from the name shown.
    fn server_model(self, name: impl Into<String>) { |m: &mut ModelBuilder| m.server_model = Some(name.into()) }
    /// Where the server listens; checked by `build()`.
    fn base_url(self, url: impl AsRef<str>) {
        |m: &mut ModelBuilder| {
            let text = url.as_ref();
            m.base_url = Some(Url::parse(text).map_err(|e| format!("\"{text}\" is not a URL ({e})")));
        }
    }
    /// The environment variable that holds the API key.
    fn api_key_env(self, var: impl Into<String>) { |m: &mut ModelBuilder| m.api_key_env = Some(var.into()) }
    /// The whole request, queue included.
    fn timeout(self, total: Duration) { |m: &mut ModelBuilder| m.total = Some(total) }
    fn first_token_timeout(self, limit: Duration) { |m: &mut ModelBuilder| m.first_token = Some(limit) }
    fn stall_timeout(self, limit: Duration) { |m: &mut ModelBuilder| m.stall = Some(limit) }
    fn connect_timeout(self, limit: Duration) { |m: &mut ModelBuilder| m.connect = Some(limit) }
    /// All four limits at once.
    fn timeouts(self, t: TimeoutConfig) {
        |m: &mut ModelBuilder| {
            m.total = Some(t.total);
            m.first_token = Some(t.first_token);
            m.stall = Some(t.stall);
            m.connect = Some(t.connect);
        }
    }
    fn bulkhead(self, bulkhead: BulkheadConfig) { |m: &mut ModelBuilder| m.bulkhead = bulkhead }
    fn max_in_flight(self, n: usize) { |m: &mut ModelBuilder| m.bulkhead.max_in_flight = n }
    fn queue_capacity(self, n: usize) { |m: &mut ModelBuilder| m.bulkhead.queue_capacity = n }
    fn breaker(self, breaker: BreakerConfig) { |m: &mut ModelBuilder| m.breaker = breaker }
    fn failure_threshold(self, n: u32) { |m: &mut ModelBuilder| m.breaker.failure_threshold = n }
    /// The first open period and the longest it may double to.
    fn open_period(self, base: Duration, max: Duration) {
        |m: &mut ModelBuilder| {
            m.breaker.open_base = base;
            m.breaker.open_max = max;
        }
    }
    fn half_open_probes(self, n: u32) { |m: &mut ModelBuilder| m.breaker.half_open_probes = n }
    fn probe_timeout(self, limit: Duration) { |m: &mut ModelBuilder| m.breaker.probe_timeout = limit }
    /// Open also when `threshold` (0..1) of the last `window` calls failed, once there
    /// were at least `min_calls`.
    fn failure_rate(self, window: u32, min_calls: u32, threshold: f64) {
        |m: &mut ModelBuilder| {
            m.breaker.failure_rate = Some(FailureRateConfig { window, min_calls, threshold });
        }
    }
    /// One server option (`temperature`, `num_ctx`, ...).
    fn option(self, key: impl Into<String>, value: impl Into<serde_json::Value>) {
        |m: &mut ModelBuilder| {
            m.options.insert(key.into(), value.into());
        }
    }
    fn options(self, options: serde_json::Map<String, serde_json::Value>) { |m: &mut ModelBuilder| m.options = options }
    /// Ollama's `keep_alive`: a duration string (`"5m"`) or seconds (`-1` keeps it loaded).
    fn keep_alive(self, value: impl Into<serde_json::Value>) { |m: &mut ModelBuilder| m.keep_alive = Some(value.into()) }
}

impl ConfigBuilder {
    /// The Ollama server for models given no URL of their own.
    pub fn ollama_url(mut self, url: Url) -> Self {
        self.ollama_url = Some(url);
        self
    }

    pub fn model(mut self, model: ModelBuilder) -> Self {
        self.models.push(model);
        self
    }

    /// Adds an Ollama model with the given total timeout.
    pub fn ollama_model(self, name: impl Into<String>, total: Duration) -> Self {
        self.model(ModelBuilder::ollama(name, total))
    }

    /// Adds a model on an OpenAI-compatible server.
    pub fn openai_model(
        self,
        name: impl Into<String>,
        base_url: impl AsRef<str>,
        total: Duration,
    ) -> Self {
        self.model(ModelBuilder::openai(name, base_url, total))
    }

    pub fn strategy(mut self, strategy: StrategyKind) -> Self {
        self.routing.strategy = strategy;
        self
    }

    pub fn warmup(mut self, requests: u32) -> Self {
        self.routing.warmup = requests;
        self
    }

    pub fn latency_window(mut self, window: Duration) -> Self {
        self.routing.window = window;
        self
    }

    pub fn probe_every(mut self, requests: u32) -> Self {
        self.routing.probe_every = requests;
        self
    }

    /// Hedge slow first tokens to the runner-up, for at most `budget` of requests (0..=1).
    pub fn hedge(mut self, budget: f64) -> Self {
        self.routing.hedge = true;
        self.routing.hedge_budget = budget;
        self
    }

    pub fn routing(mut self, routing: RoutingConfig) -> Self {
        self.routing = routing;
        self
    }

    pub fn listen(mut self, addr: SocketAddr) -> Self {
        self.proxy.listen = addr;
        self
    }

    pub fn allow_remote(mut self, allow: bool) -> Self {
        self.proxy.allow_remote = allow;
        self
    }

    pub fn proxy(mut self, proxy: ProxyConfig) -> Self {
        self.proxy = proxy;
        self
    }

    pub fn log_level(mut self, level: impl Into<String>) -> Self {
        self.log.level = level.into();
        self
    }

    pub fn log_file(mut self, file: impl Into<PathBuf>) -> Self {
        self.log.file = Some(file.into());
        self
    }

    pub fn log(mut self, log: LogConfig) -> Self {
        self.log = log;
        self
    }

    /// The configuration, or every problem found in it.
    pub fn build(self) -> Result<Config, ConfigErrors> {
        let mut problems = self.problems;
        let ollama_url = self.ollama_url.unwrap_or_else(default_ollama_url);
        let models = self
            .models
            .into_iter()
            .enumerate()
            .map(|(index, model)| model.build(index, &ollama_url, &mut problems))
            .collect();
        let config = Config {
            models,
            routing: self.routing,
            proxy: self.proxy,
            log: self.log,
        };
        problems.extend(validate(&config));
        match ConfigErrors::from_vec(problems) {
            Some(errors) => Err(errors),
            None => Ok(config),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secs(n: u64) -> Duration {
        Duration::from_secs(n)
    }

    fn original() -> Result<Config, ConfigErrors> {
        Config::builder()
            .ollama_model("gemma3:1b", secs(20))
            .ollama_model("gemma2:2b", secs(60))
            .build()
    }

    #[test]
    fn builder_defaults_match_the_original_system() {
        let config = original().unwrap();
        assert_eq!(
            config,
            Config::default_for(Url::parse(DEFAULT_OLLAMA_URL).unwrap())
        );
        let [fast, accurate] = &config.models[..] else {
            panic!("two models")
        };
        assert_eq!(
            (fast.name.as_str(), fast.timeouts.total),
            ("gemma3:1b", secs(20))
        );
        assert_eq!(
            (accurate.name.as_str(), accurate.timeouts.total),
            ("gemma2:2b", secs(60))
        );
        for model in &config.models {
            assert_eq!(model.backend, BackendKind::Ollama);
            assert_eq!(model.base_url.as_str(), "http://127.0.0.1:11434/");
            assert_eq!(model.breaker.failure_threshold, 2);
            assert_eq!(model.breaker.open_base, secs(10));
            assert_eq!(model.breaker.open_max, secs(40));
            assert_eq!(model.breaker.half_open_probes, 1);
            assert_eq!(model.bulkhead.max_in_flight, 3);
        }
        assert_eq!(config.routing.strategy, StrategyKind::PeakEwma);
        assert_eq!(config.routing.warmup, 2);
    }

    #[test]
    fn per_model_setters_apply_to_the_model_added_last() {
        let config = Config::builder()
            .ollama_model("a", secs(20))
            .ollama_model("b", secs(60))
            .max_in_flight(1)
            .queue_capacity(0)
            .failure_threshold(5)
            .open_period(secs(1), secs(8))
            .option("temperature", 0.2)
            .keep_alive("10m")
            .stall_timeout(secs(5))
            .build()
            .unwrap();
        assert_eq!(config.models[0].bulkhead, BulkheadConfig::default());
        let b = &config.models[1];
        assert_eq!(
            b.bulkhead,
            BulkheadConfig {
                max_in_flight: 1,
                queue_capacity: 0
            }
        );
        assert_eq!(b.breaker.failure_threshold, 5);
        assert_eq!(
            (b.breaker.open_base, b.breaker.open_max),
            (secs(1), secs(8))
        );
        assert_eq!(b.options["temperature"], serde_json::json!(0.2));
        assert_eq!(b.keep_alive, Some(serde_json::json!("10m")));
        assert_eq!(b.timeouts.stall, secs(5));
        assert_eq!(
            b.timeouts.first_token,
            secs(45),
            "derived from the 60 s total"
        );
    }

    #[test]
    fn openai_model_keeps_its_url_and_key_variable() {
        let config = Config::builder()
            .openai_model("llama", "http://127.0.0.1:8080/v1", secs(30))
            .api_key_env("LLAMA_KEY")
            .build()
            .unwrap();
        let m = &config.models[0];
        assert_eq!(
            (m.backend, m.base_url.as_str()),
            (BackendKind::OpenAi, "http://127.0.0.1:8080/v1")
        );
        assert_eq!(m.api_key_env.as_deref(), Some("LLAMA_KEY"));
    }

    #[test]
    fn build_reports_every_problem_at_once() {
        let errors = Config::builder()
            .max_in_flight(2)
            .ollama_model("a", Duration::ZERO)
            .ollama_model("a", secs(20))
            .base_url("not a url")
            .failure_threshold(0)
            .failure_rate(10, 5, 1.5)
            .warmup(0)
            .build()
            .unwrap_err();
        let keys: Vec<&str> = errors.iter().map(|p| p.key.as_str()).collect();
        assert_eq!(
            keys,
            [
                "model",
                "model[1].url",
                "model[0].timeout",
                "model[1].name",
                "model[1].breaker.failure_threshold",
                "model[1].breaker.failure_rate.threshold",
            ],
            "{errors}"
        );
    }

    #[test]
    fn no_models_is_an_error() {
        let errors = Config::builder().build().unwrap_err();
        assert_eq!(errors.problems()[0].key, "model");
    }
}
