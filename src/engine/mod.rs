//! The engine: takes a chat request and gets it answered by one of several models, never
//! stuck behind a dead or slow one.
//!
//! Per model it owns a breaker, a bulkhead and metrics; a routing strategy orders the
//! candidates; each attempt runs under the model's time limits; a failed attempt falls
//! back to the next candidate. Everything that happens is published on the event bus.
//! The engine never touches the terminal.

pub mod breaker;
pub mod bulkhead;
mod types;

pub use types::*;

use std::sync::Arc;

use tokio::sync::broadcast;

use crate::backend::Backend;
use crate::config::{Config, StrategyKind};
use crate::events::{Event, EventBus, Health, ModelName};

/// The router. Cheap to clone; all clones share one state.
#[derive(Clone)]
pub struct Engine {
    inner: Arc<Inner>,
}

struct Inner {
    bus: EventBus,
}

/// A submitted request's reply: a stream of [`ReplyEvent`]s. Dropping it cancels the
/// request, and the cancellation reaches the server.
pub struct Reply {
    id: RequestId,
}

impl Reply {
    pub fn id(&self) -> RequestId {
        self.id
    }
}

impl Engine {
    /// An engine over the configured models, with a real backend for each.
    /// Must be called inside a tokio runtime: it starts the periodic snapshot task.
    pub fn new(config: &Config) -> Engine {
        let _ = config;
        unimplemented!("engine under construction")
    }

    /// An engine whose models are served by the given backends, one per configured model,
    /// in the same order. Used by tests, the demo's fakes and the simulator.
    pub fn with_backends(config: &Config, backends: Vec<Arc<dyn Backend>>) -> Engine {
        let _ = (config, backends);
        unimplemented!("engine under construction")
    }

    /// Submit a request; the reply streams as it is answered.
    pub fn submit(&self, request: Request) -> Reply {
        let _ = request;
        unimplemented!("engine under construction")
    }

    pub fn subscribe(&self) -> broadcast::Receiver<Event> {
        self.inner.bus.subscribe()
    }

    pub fn bus(&self) -> &EventBus {
        &self.inner.bus
    }

    pub fn snapshot(&self) -> EngineSnapshot {
        unimplemented!("engine under construction")
    }

    /// Open a model's breaker now; normal recovery follows.
    pub fn trip(&self, model: &str) -> Result<(), UnknownModel> {
        let _ = model;
        unimplemented!("engine under construction")
    }

    /// Close a model's breaker and clear its counters and backoff.
    pub fn reset(&self, model: &str) -> Result<(), UnknownModel> {
        let _ = model;
        unimplemented!("engine under construction")
    }

    pub fn set_strategy(&self, kind: StrategyKind) {
        let _ = kind;
        unimplemented!("engine under construction")
    }

    pub fn model_names(&self) -> Vec<ModelName> {
        unimplemented!("engine under construction")
    }

    /// Record what a health check found; a model found not installed is skipped by the
    /// router until a later check finds it.
    pub fn set_health(&self, model: &str, health: Health) {
        let _ = (model, health);
        unimplemented!("engine under construction")
    }
}
