//! The engine against scripted fake backends, on a paused clock.

mod emulator;
mod fallback;
mod hedge;
mod overhead;
mod routing;
mod snapshot;
mod stress;
mod timeouts;

use std::sync::Arc;
use std::time::Duration;

use signalbox::backend::fake::{FakeBackend, Script};
use signalbox::backend::{Backend, Message};
use signalbox::config::{Config, ModelConfig, TimeoutConfig};
use signalbox::engine::{Engine, Request};

pub fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

pub fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// Models `a`, `b`, ... with these limits, warm-up 0 and no probing unless changed.
pub fn config(models: usize, timeouts: TimeoutConfig) -> Config {
    let url = url::Url::parse("http://127.0.0.1:1").unwrap();
    let mut config = Config::default_for(url.clone());
    config.models = (0..models)
        .map(|i| {
            let name = ((b'a' + i as u8) as char).to_string();
            let mut m = ModelConfig::ollama(name, url.clone(), timeouts.total);
            m.timeouts = timeouts;
            m
        })
        .collect();
    // These tests were written against p95's choices.
    config.routing.strategy = signalbox::config::StrategyKind::P95;
    config.routing.warmup = 0;
    config.routing.probe_every = 0;
    config
}

pub fn limits(first_token: u64, stall: u64, total: u64) -> TimeoutConfig {
    TimeoutConfig {
        total: secs(total),
        first_token: secs(first_token),
        stall: secs(stall),
        connect: secs(2),
    }
}

/// An engine over one fake per model, each answering `default`.
pub fn engine(config: &Config, default: Script) -> (Engine, Vec<FakeBackend>) {
    let fakes: Vec<FakeBackend> = config
        .models
        .iter()
        .map(|_| FakeBackend::new(default.clone()))
        .collect();
    let backends = fakes
        .iter()
        .map(|f| Arc::new(f.clone()) as Arc<dyn Backend>)
        .collect();
    (Engine::with_backends(config, backends), fakes)
}

pub fn ask() -> Request {
    Request::chat(vec![Message::user("why is the sky blue?")])
}

pub fn to(model: &str, fallback: bool) -> Request {
    Request {
        target: signalbox::engine::Target::Model {
            name: model.into(),
            fallback,
        },
        ..ask()
    }
}

/// The engine is shared across tasks and threads; replies move between tasks.
#[test]
fn engine_and_reply_can_cross_threads() {
    fn shareable<T: Send + Sync + Clone + 'static>() {}
    fn movable<T: Send + 'static>() {}
    shareable::<Engine>();
    movable::<signalbox::engine::Reply>();
}
