//! What a run measures: the routed and the direct path for each kind of target, and the
//! servers it starts in-process for them.

use std::fmt;
use std::str::FromStr;
use std::sync::Arc;
use std::sync::atomic::AtomicUsize;
use std::time::Duration;

use anyhow::Context;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use url::Url;

use super::http::{ChatClient, chat_body};
use super::path::Path;
use crate::backend::fake::FakeBackend;
use crate::backend::{Backend, ChatRequest, Message};
use crate::config::{Config, ProxyConfig};
use crate::emulator::{self, EmulatorConfig, EmulatorHandle};
use crate::engine::{Engine, Origin, Request};
use crate::proxy;

/// What to measure.
#[derive(Clone, Debug, PartialEq)]
pub enum TargetKind {
    /// The engine in-process, over zero-latency emulator models through the real Ollama
    /// backend; direct: the same backend client without the engine.
    Engine,
    /// The engine in-process over in-memory fake backends that answer at once; direct: the
    /// fake backends called without the engine. No HTTP at all: the engine's own work.
    Fake,
    /// The HTTP proxy (`signalbox serve`) in-process, over the engine over zero-latency
    /// emulator models, measured with the lean HTTP client; direct: the same client
    /// straight to the emulator.
    Serve,
    /// An Ollama-compatible server (such as `signalbox serve`) at this URL, over HTTP;
    /// direct: `--direct URL`, if given.
    Url(Url),
}

impl FromStr for TargetKind {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "engine" => Ok(TargetKind::Engine),
            "fake" => Ok(TargetKind::Fake),
            "serve" => Ok(TargetKind::Serve),
            _ => Url::parse(s).map(TargetKind::Url).map_err(|_| {
                format!(
                    "'{s}' is not a target: give engine, serve, fake, or a URL like \
                     http://127.0.0.1:11435"
                )
            }),
        }
    }
}

impl fmt::Display for TargetKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TargetKind::Engine => f.write_str("engine"),
            TargetKind::Fake => f.write_str("fake"),
            TargetKind::Serve => f.write_str("serve"),
            TargetKind::Url(url) => write!(f, "{url}"),
        }
    }
}

/// How to set a target up.
#[derive(Clone, Debug)]
pub struct SetupOptions {
    pub target: TargetKind,
    /// Emulator or fake models, for in-process targets.
    pub models: usize,
    pub prompt: String,
    /// Bulkhead size and queue of each in-process model: enough for the whole load, so the
    /// bulkhead admits every request and what is measured is its cost, not its limit.
    pub width: usize,
    /// Each in-process model's total time limit.
    pub timeout: Duration,
    /// The model name sent to a URL target (`signalbox` lets the router choose).
    pub model: String,
    /// For a URL target: the model server to measure directly, and the model name there.
    pub direct: Option<Url>,
    pub direct_model: Option<String>,
}

/// A target ready to measure; [`Setup::shutdown`] stops what it started.
pub struct Setup {
    pub target: String,
    /// The two paths, in words, for the report.
    pub paths: String,
    pub(super) routed: Arc<Path>,
    pub(super) direct: Option<Arc<Path>>,
    emulator: Option<EmulatorHandle>,
    /// The in-process proxy: how to stop it, and its task.
    proxy: Option<(CancellationToken, JoinHandle<anyhow::Result<()>>)>,
}

impl Setup {
    pub async fn new(options: &SetupOptions) -> anyhow::Result<Setup> {
        match &options.target {
            TargetKind::Engine => engine_over_emulator(options).await,
            TargetKind::Fake => engine_over_fakes(options),
            TargetKind::Serve => proxy_over_emulator(options).await,
            TargetKind::Url(url) => over_http(options, url).await,
        }
    }

    /// Stop the in-process servers.
    pub async fn shutdown(self) {
        if let Some((stop, task)) = self.proxy {
            stop.cancel();
            if let Ok(Err(error)) = task.await {
                tracing::warn!(%error, "the bench's proxy stopped with an error");
            }
        }
        if let Some(emulator) = self.emulator {
            emulator.shutdown().await;
        }
    }
}

fn model_names(n: usize) -> Vec<String> {
    (0..n.max(1)).map(|i| format!("bench{i}")).collect()
}

/// Models with these names on `url`, each with room for the whole load.
fn engine_config(url: Url, names: &[String], options: &SetupOptions) -> anyhow::Result<Config> {
    let mut builder = Config::builder().ollama_url(url);
    for name in names {
        builder = builder
            .ollama_model(name, options.timeout)
            .max_in_flight(options.width)
            .queue_capacity(options.width);
    }
    builder
        .build()
        .map_err(|errors| anyhow::anyhow!("the bench's engine configuration: {errors}"))
}

fn engine_request(prompt: &str) -> Request {
    Request {
        origin: Origin::Load,
        ..Request::chat(vec![Message::user(prompt)])
    }
}

/// The direct path: each backend in turn with the request as the engine would send it.
fn direct_path(config: &Config, backends: Vec<Arc<dyn Backend>>, prompt: &str) -> Path {
    let backends = config
        .models
        .iter()
        .zip(backends)
        .map(|(model, backend)| {
            let request = ChatRequest {
                model: model.server_model().to_string(),
                messages: vec![Message::user(prompt)],
                options: model.options.clone(),
                keep_alive: model.keep_alive.clone(),
                format: None,
            };
            (backend, request)
        })
        .collect();
    Path::Backend {
        backends,
        next: AtomicUsize::new(0),
    }
}

async fn engine_over_emulator(options: &SetupOptions) -> anyhow::Result<Setup> {
    let names = model_names(options.models);
    let emulator = emulator::start(
        ([127, 0, 0, 1], 0).into(),
        EmulatorConfig::zero(names.clone()),
    )
    .await
    .context("starting the emulator on 127.0.0.1")?;
    let config = engine_config(emulator.url(), &names, options)?;
    let engine = Engine::try_new(&config)?;
    let backends = config
        .models
        .iter()
        .map(crate::backend::for_model)
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Setup {
        target: "engine".into(),
        paths: format!(
            "routed: the engine over {} zero-latency emulator models via the Ollama backend; \
             direct: the same Ollama backend client, no engine",
            names.len()
        ),
        routed: Arc::new(Path::Engine {
            engine,
            request: engine_request(&options.prompt),
        }),
        direct: Some(Arc::new(direct_path(&config, backends, &options.prompt))),
        emulator: Some(emulator),
        proxy: None,
    })
}

async fn proxy_over_emulator(options: &SetupOptions) -> anyhow::Result<Setup> {
    let names = model_names(options.models);
    let emulator = emulator::start(
        ([127, 0, 0, 1], 0).into(),
        EmulatorConfig::zero(names.clone()),
    )
    .await
    .context("starting the emulator on 127.0.0.1")?;
    let config = engine_config(emulator.url(), &names, options)?;
    let engine = Engine::try_new(&config)?;
    let proxy_config = ProxyConfig {
        listen: ([127, 0, 0, 1], 0).into(),
        ..config.proxy.clone()
    };
    let server = proxy::Server::bind(engine, proxy_config).await?;
    let proxy_url = Url::parse(&format!("http://{}/", server.local_addr()))?;
    let stop = CancellationToken::new();
    let task = tokio::spawn(server.run(stop.clone().cancelled_owned()));
    let bodies = names
        .iter()
        .map(|n| chat_body(n, &options.prompt))
        .collect();
    Ok(Setup {
        target: "serve".into(),
        paths: format!(
            "routed: POST /api/chat to the proxy (model {}) over the engine over {} \
             zero-latency emulator models; direct: POST /api/chat to the emulator; the same \
             lean HTTP client on both",
            proxy::ROUTED_MODEL,
            names.len()
        ),
        routed: Arc::new(Path::Http {
            client: ChatClient::new(&proxy_url).await?,
            bodies: vec![chat_body(proxy::ROUTED_MODEL, &options.prompt)],
            next: AtomicUsize::new(0),
        }),
        direct: Some(Arc::new(Path::Http {
            client: ChatClient::new(&emulator.url()).await?,
            bodies,
            next: AtomicUsize::new(0),
        })),
        emulator: Some(emulator),
        proxy: Some((stop, task)),
    })
}

fn engine_over_fakes(options: &SetupOptions) -> anyhow::Result<Setup> {
    let names = model_names(options.models);
    // Never contacted: the fakes stand in for the servers.
    let url = Url::parse("http://127.0.0.1:9").context("a constant URL")?;
    let config = engine_config(url, &names, options)?;
    let backends: Vec<Arc<dyn Backend>> = names
        .iter()
        .map(|_| Arc::new(FakeBackend::instant()) as Arc<dyn Backend>)
        .collect();
    let engine = Engine::with_backends(&config, backends.clone());
    Ok(Setup {
        target: "fake".into(),
        paths: format!(
            "routed: the engine over {} in-memory fake backends answering at once; direct: the \
             same fakes, no engine (no HTTP on either path)",
            names.len()
        ),
        routed: Arc::new(Path::Engine {
            engine,
            request: engine_request(&options.prompt),
        }),
        direct: Some(Arc::new(direct_path(&config, backends, &options.prompt))),
        emulator: None,
        proxy: None,
    })
}

async fn over_http(options: &SetupOptions, url: &Url) -> anyhow::Result<Setup> {
    let routed = Path::Http {
        client: ChatClient::new(url).await?,
        bodies: vec![chat_body(&options.model, &options.prompt)],
        next: AtomicUsize::new(0),
    };
    let direct = match &options.direct {
        Some(direct_url) => {
            let model = options.direct_model.as_deref().unwrap_or(&options.model);
            Some(Arc::new(Path::Http {
                client: ChatClient::new(direct_url).await?,
                bodies: vec![chat_body(model, &options.prompt)],
                next: AtomicUsize::new(0),
            }))
        }
        None => None,
    };
    let paths = match &options.direct {
        Some(direct_url) => format!(
            "routed: POST {url}api/chat (model {}); direct: POST {direct_url}api/chat; the same \
             lean HTTP client on both",
            options.model
        ),
        None => format!("routed: POST {url}api/chat (model {})", options.model),
    };
    Ok(Setup {
        target: url.to_string(),
        paths,
        routed: Arc::new(routed),
        direct,
        emulator: None,
        proxy: None,
    })
}
