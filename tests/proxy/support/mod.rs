//! Test backends, engine and proxy set-up, a raw HTTP client and strict stream readers.

mod backend;
mod common;
mod http;

pub use backend::*;
pub use common::*;
pub use http::*;

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use signalbox::backend::Backend;
use signalbox::config::{
    BreakerConfig, BulkheadConfig, Config, LogConfig, ModelConfig, ProxyConfig, RoutingConfig,
};
use signalbox::engine::Engine;
use signalbox::proxy::Server;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

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
