//! The HTTP front of the engine: Ollama's and OpenAI's chat APIs, `/metrics` and
//! `/healthz`, so programs that speak to Ollama can use the router unchanged.
//!
//! Safe by default: it listens on loopback only; a non-loopback address needs
//! `allow_remote` and a bearer token; CORS headers are sent only for configured origins;
//! prompts and answers are not logged unless asked.
//!
//! [`Server::bind`] binds and reports the address; [`Server::run`] serves until the
//! shutdown future completes, then stops accepting, lets answers in flight finish within
//! `shutdown_grace`, cuts the rest short and returns.

mod answer;
mod body;
pub mod cli;
mod error;
mod info;
mod metrics;
mod native;
mod openai_api;
mod security;
mod stream;
mod tracker;
pub mod wire;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::time::Duration;

use axum::Router as HttpRouter;
use axum::routing::{get, post};
use axum::serve::ListenerExt;
use futures_util::stream::BoxStream;
use time::OffsetDateTime;
use tokio::net::TcpListener;
use tokio::sync::broadcast;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::config::ProxyConfig;
use crate::engine::{Engine, EngineSnapshot, ReplyEvent, Request};
use crate::events::{Event, ModelName};

pub use error::Flavor;
pub use security::ProxyError;

/// The name that asks the router to choose the model.
pub const ROUTED_MODEL: &str = "signalbox";

/// How long connections get to write their last line after answers were cut short.
const CUT_FLUSH: Duration = Duration::from_secs(2);

/// The part of the engine the proxy drives; the HTTP layer is tested through it with a
/// scripted engine.
pub(crate) trait Router: Send + Sync + 'static {
    fn submit(&self, request: Request) -> BoxStream<'static, ReplyEvent>;
    fn snapshot(&self) -> EngineSnapshot;
    fn model_names(&self) -> Vec<ModelName>;
    fn subscribe(&self) -> broadcast::Receiver<Event>;
}

impl Router for Engine {
    fn submit(&self, request: Request) -> BoxStream<'static, ReplyEvent> {
        Box::pin(Engine::submit(self, request))
    }

    fn snapshot(&self) -> EngineSnapshot {
        Engine::snapshot(self)
    }

    fn model_names(&self) -> Vec<ModelName> {
        Engine::model_names(self)
    }

    fn subscribe(&self) -> broadcast::Receiver<Event> {
        Engine::subscribe(self)
    }
}

/// What every handler shares.
pub(crate) struct AppState {
    pub router: Arc<dyn Router>,
    /// The configured models, in configuration order.
    pub models: Vec<ModelName>,
    pub started: OffsetDateTime,
    pub max_body_bytes: usize,
    pub log_content: bool,
    pub metrics: Arc<metrics::Metrics>,
    /// Fired when the shutdown grace period runs out: answers still streaming are cut.
    pub cut: CancellationToken,
    pub next_id: AtomicU64,
}

pub(crate) type App = Arc<AppState>;

/// A bound, not yet serving, proxy.
pub struct Server {
    listener: TcpListener,
    local_addr: SocketAddr,
    config: ProxyConfig,
    router: Arc<dyn Router>,
    token: Option<security::Token>,
    log_content: bool,
    metrics: Arc<metrics::Metrics>,
    recorder: Recorder,
}

/// The latency recorder task, stopped when the server is dropped or stops.
struct Recorder(JoinHandle<()>);

impl Drop for Recorder {
    fn drop(&mut self) {
        self.0.abort();
    }
}

impl Server {
    /// Check the security settings, bind the listen address and start recording the
    /// engine's latencies for `/metrics`.
    ///
    /// Refuses a non-loopback address without `allow_remote` and a token, and a
    /// `token_env` that names an unset variable.
    pub async fn bind(engine: Engine, config: ProxyConfig) -> Result<Server, ProxyError> {
        Self::bind_router(Arc::new(engine), config).await
    }

    pub(crate) async fn bind_router(
        router: Arc<dyn Router>,
        config: ProxyConfig,
    ) -> Result<Server, ProxyError> {
        let token = security::check(&config)?;
        let listener =
            TcpListener::bind(config.listen)
                .await
                .map_err(|source| ProxyError::Bind {
                    addr: config.listen,
                    source,
                })?;
        let local_addr = listener.local_addr().map_err(|source| ProxyError::Bind {
            addr: config.listen,
            source,
        })?;
        let metrics = Arc::new(metrics::Metrics::new(&router.model_names()));
        let recorder = Recorder(metrics::spawn_recorder(metrics.clone(), router.subscribe()));
        Ok(Server {
            listener,
            local_addr,
            config,
            router,
            token,
            log_content: false,
            metrics,
            recorder,
        })
    }

    /// Log prompt and answer text (`log.log_content`). Off by default.
    pub fn log_content(mut self, on: bool) -> Self {
        self.log_content = on;
        self
    }

    /// The address actually bound (the port chosen when the configuration said 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Serve until `shutdown` completes, then drain: stop accepting, let answers in flight
    /// finish within `shutdown_grace`, cut the rest short (which cancels them upstream),
    /// and return.
    pub async fn run(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        let Server {
            listener,
            local_addr,
            config,
            router,
            token,
            log_content,
            metrics,
            recorder,
        } = self;
        let cut = CancellationToken::new();
        let state = Arc::new(AppState {
            models: router.model_names(),
            router,
            started: OffsetDateTime::now_utc(),
            max_body_bytes: config.max_body_bytes,
            log_content,
            metrics,
            cut: cut.clone(),
            next_id: AtomicU64::new(1),
        });
        let app = routes(state, token, config.cors_origins.clone())
            .into_make_service_with_connect_info::<SocketAddr>();

        let stopping = CancellationToken::new();
        let signal = {
            let stopping = stopping.clone();
            async move {
                shutdown.await;
                stopping.cancel();
            }
        };
        tracing::info!(addr = %local_addr, "proxy listening");
        // Answers stream as many small writes; with Nagle's algorithm on, the last ones
        // wait for the client's delayed ACK (40 ms on Linux) before they leave.
        let listener = listener.tap_io(|tcp| {
            if let Err(error) = tcp.set_nodelay(true) {
                tracing::debug!(%error, "cannot set TCP_NODELAY on a proxy connection");
            }
        });
        let serving = axum::serve(listener, app)
            .with_graceful_shutdown(signal)
            .into_future();
        tokio::pin!(serving);

        let result = tokio::select! {
            result = &mut serving => result,
            () = stopping.cancelled() => {
                tracing::info!(grace = ?config.shutdown_grace, "proxy stopping; draining answers in flight");
                match tokio::time::timeout(config.shutdown_grace, &mut serving).await {
                    Ok(result) => result,
                    Err(_) => {
                        tracing::warn!("shutdown grace ran out; cutting the answers still in flight");
                        cut.cancel();
                        tokio::time::timeout(CUT_FLUSH, &mut serving).await.unwrap_or(Ok(()))
                    }
                }
            }
        };
        drop(recorder);
        tracing::info!("proxy stopped");
        result.map_err(|e| anyhow::anyhow!("proxy on {local_addr} failed: {e}"))
    }
}

/// Bind and serve until `shutdown` completes; see [`Server`].
pub async fn serve(
    engine: Engine,
    config: ProxyConfig,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    Server::bind(engine, config).await?.run(shutdown).await
}

fn routes(state: App, token: Option<security::Token>, cors_origins: Vec<String>) -> HttpRouter {
    let counted = state.metrics.clone();
    HttpRouter::new()
        .route("/", get(info::root))
        .route("/api/chat", post(native::chat))
        .route("/api/generate", post(native::generate))
        .route("/api/tags", get(info::tags))
        .route("/api/ps", get(info::ps))
        .route("/api/show", post(info::show))
        .route("/api/version", get(info::version))
        .route("/v1/chat/completions", post(openai_api::chat_completions))
        .route("/v1/models", get(info::openai_models))
        .route("/metrics", get(info::metrics))
        .route("/healthz", get(info::healthz))
        .fallback(info::not_found)
        .with_state(state)
        .layer(axum::middleware::from_fn_with_state(
            token.map(Arc::new),
            security::require_token,
        ))
        .layer(axum::middleware::from_fn_with_state(
            Arc::new(cors_origins),
            security::cors,
        ))
        .layer(axum::middleware::from_fn_with_state(
            counted,
            metrics::count_requests,
        ))
}

#[cfg(test)]
mod tests;
