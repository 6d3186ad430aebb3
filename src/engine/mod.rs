//! The engine: takes a chat request and gets it answered by one of several models, never
//! stuck behind a dead or slow one.
//!
//! Per model it owns a breaker, a bulkhead and metrics; a routing strategy orders the
//! candidates; each attempt runs under the model's time limits; a failed attempt falls
//! back to the next candidate. Everything that happens is published on the event bus.
//! The engine never touches the terminal.

mod attempt;
pub mod breaker;
pub mod bulkhead;
mod hedge;
pub mod metrics;
mod reply;
mod request;
pub mod routing;
mod slot;
mod types;

pub use reply::Reply;
pub use types::*;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::time::Duration;

use tokio::sync::{broadcast, mpsc};
use tokio::time::Instant;

use crate::backend::{Backend, BackendError, BuildError, ChatRequest, ChunkStream};
use crate::config::{Config, RoutingConfig, StrategyKind};
use crate::events::{Event, EventBus, Health, ModelName};
use routing::{Candidate, RoutingContext, Strategy};
use slot::ModelSlot;

/// How often the periodic snapshot is published while someone listens.
pub const SNAPSHOT_EVERY: Duration = Duration::from_millis(250);

/// The router. Cheap to clone; all clones share one state.
#[derive(Clone)]
pub struct Engine {
    inner: Arc<Inner>,
}

struct Inner {
    bus: EventBus,
    started: Instant,
    routing: RoutingConfig,
    models: Vec<ModelSlot>,
    strategy: Mutex<Box<dyn Strategy>>,
    /// Requests routed so far; also the next request's sequence number for the strategy.
    routed: AtomicU64,
    /// What is left of the hedging budget.
    hedge_budget: Mutex<hedge::HedgeBudget>,
    next_id: AtomicU64,
}

impl Engine {
    /// An engine over the configured models, with a real backend for each.
    /// Call inside a tokio runtime to get the periodic snapshot task.
    ///
    /// A model whose backend cannot be built (an API key variable not set, say) stays in
    /// the list, and every attempt at it fails with the reason and its fix, so its breaker
    /// soon takes it out of rotation. [`Engine::try_new`] refuses such a configuration.
    pub fn new(config: &Config) -> Engine {
        let backends = config
            .models
            .iter()
            .map(|model| {
                crate::backend::for_model(model).unwrap_or_else(|error| {
                    tracing::error!(model = %model.name, %error, "backend cannot be built");
                    Arc::new(Unbuilt {
                        url: model.base_url.to_string(),
                        error,
                    })
                })
            })
            .collect();
        Engine::with_backends(config, backends)
    }

    /// An engine over the configured models, or the first reason a backend cannot be built.
    /// Call inside a tokio runtime to get the periodic snapshot task.
    pub fn try_new(config: &Config) -> Result<Engine, BuildError> {
        let backends = config
            .models
            .iter()
            .map(crate::backend::for_model)
            .collect::<Result<_, _>>()?;
        Ok(Engine::with_backends(config, backends))
    }

    /// An engine whose models are served by the given backends, one per configured model,
    /// in the same order. Used by tests, the demo's fakes and the simulator.
    ///
    /// Models without a backend (a shorter list) are left out.
    pub fn with_backends(config: &Config, backends: Vec<Arc<dyn Backend>>) -> Engine {
        let bus = EventBus::default();
        let models = config
            .models
            .iter()
            .zip(backends)
            .enumerate()
            .map(|(index, (model, backend))| {
                ModelSlot::new(index, model.clone(), backend, config.routing.window, &bus)
            })
            .collect();
        let inner = Arc::new(Inner {
            bus,
            started: Instant::now(),
            routing: config.routing.clone(),
            models,
            strategy: Mutex::new(routing::build(config.routing.strategy, &config.routing)),
            routed: AtomicU64::new(0),
            hedge_budget: Mutex::new(hedge::HedgeBudget::new(config.routing.hedge_budget)),
            next_id: AtomicU64::new(1),
        });
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            runtime.spawn(publish_snapshots(Arc::downgrade(&inner)));
        }
        Engine { inner }
    }

    /// Submit a request; the reply streams as it is answered: `Routed`, tokens (with
    /// `Retrying` between attempts), then exactly one `Done` or `Failed`. Dropping the reply
    /// cancels the request at once, even mid-wait, and the cancellation reaches the server;
    /// a cancel never counts against the model. Must be called inside a tokio runtime.
    pub fn submit(&self, request: Request) -> Reply {
        let submitted = Instant::now();
        let id = RequestId(self.inner.next_id.fetch_add(1, Ordering::Relaxed));
        let (tx, rx) = mpsc::unbounded_channel();
        let inner = self.inner.clone();
        tokio::spawn(async move {
            // Dropping the reply closes the channel: stop at once, whatever we wait for.
            // Dropping the request future drops the backend stream and both permits.
            tokio::select! {
                biased;
                _ = tx.closed() => {}
                _ = request::run(&inner, id, request, &tx, submitted) => {}
            }
        });
        Reply::new(id, rx)
    }

    pub fn subscribe(&self) -> broadcast::Receiver<Event> {
        self.inner.bus.subscribe()
    }

    pub fn bus(&self) -> &EventBus {
        &self.inner.bus
    }

    pub fn snapshot(&self) -> EngineSnapshot {
        self.inner.snapshot()
    }

    /// Open a model's breaker now; normal recovery follows.
    pub fn trip(&self, model: &str) -> Result<(), UnknownModel> {
        self.inner.slot(model)?.breaker.trip();
        self.inner.publish_snapshot();
        Ok(())
    }

    /// Close a model's breaker and clear its counters and backoff.
    pub fn reset(&self, model: &str) -> Result<(), UnknownModel> {
        self.inner.slot(model)?.breaker.reset();
        self.inner.publish_snapshot();
        Ok(())
    }

    /// Route with another strategy from the next request on.
    pub fn set_strategy(&self, kind: StrategyKind) {
        let strategy = routing::build(kind, &self.inner.routing);
        self.inner.replace_strategy(strategy);
    }

    /// Route with a strategy built elsewhere (a simulator's, or one under test).
    pub fn set_custom_strategy(&self, strategy: Box<dyn Strategy>) {
        self.inner.replace_strategy(strategy);
    }

    pub fn model_names(&self) -> Vec<ModelName> {
        self.inner.models.iter().map(|m| m.name.clone()).collect()
    }

    /// Record what a health check found, and publish it; a model found not installed is
    /// skipped by the router until a later check finds it.
    pub fn set_health(&self, model: &str, health: Health) {
        let Ok(slot) = self.inner.slot(model) else {
            tracing::warn!(model, "health check for a model that is not configured");
            return;
        };
        slot.set_health(health.clone());
        self.inner.bus.publish(Event::Health {
            model: slot.name.clone(),
            health,
        });
    }

    /// Bulkhead load of a model: (in flight, queued).
    pub fn load(&self, model: &str) -> Result<(usize, usize), UnknownModel> {
        let slot = self.inner.slot(model)?;
        Ok((slot.bulkhead.in_flight(), slot.bulkhead.queued()))
    }
}

impl Inner {
    fn slot(&self, name: &str) -> Result<&ModelSlot, UnknownModel> {
        self.models
            .iter()
            .find(|m| &*m.name == name)
            .ok_or_else(|| self.unknown(name))
    }

    fn unknown(&self, name: &str) -> UnknownModel {
        let known: Vec<&str> = self.models.iter().map(|m| &*m.name).collect();
        UnknownModel {
            name: name.to_string(),
            known: known.join(", "),
        }
    }

    fn strategy(&self) -> MutexGuard<'_, Box<dyn Strategy>> {
        // A strategy that panicked mid-decision leaves nothing half-written that matters.
        self.strategy.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn hedge_budget(&self) -> MutexGuard<'_, hedge::HedgeBudget> {
        // Two numbers: a panic elsewhere cannot leave them unusable.
        self.hedge_budget.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Ask the strategy for this request's candidates; returns them with its name.
    fn route(&self) -> (Vec<Candidate>, &'static str, u64) {
        let now = Instant::now();
        let views: Vec<_> = self.models.iter().map(|m| m.view(now)).collect();
        let mut strategy = self.strategy();
        let seq = self.routed.fetch_add(1, Ordering::Relaxed);
        let candidates = strategy.order(&views, RoutingContext { seq, now });
        (candidates, strategy.name(), seq)
    }

    fn replace_strategy(&self, strategy: Box<dyn Strategy>) {
        let name = strategy.name();
        *self.strategy() = strategy;
        self.bus.publish(Event::StrategyChanged { strategy: name });
        self.publish_snapshot();
    }

    fn snapshot(&self) -> EngineSnapshot {
        let now = Instant::now();
        EngineSnapshot {
            models: self.models.iter().map(|m| m.snapshot(now)).collect(),
            strategy: self.strategy().name(),
            routed: self.routed.load(Ordering::Relaxed),
            warmup: self.routing.warmup,
            uptime: now - self.started,
        }
    }

    /// Publish a snapshot if anyone listens.
    fn publish_snapshot(&self) {
        self.bus
            .publish_with(|| Event::Snapshot(Arc::new(self.snapshot())));
    }
}

/// Every [`SNAPSHOT_EVERY`], a snapshot for whoever listens; ends with the engine.
async fn publish_snapshots(inner: Weak<Inner>) {
    let mut tick = tokio::time::interval(SNAPSHOT_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let Some(inner) = inner.upgrade() else { return };
        inner.publish_snapshot();
    }
}

/// Stands in for a backend that could not be built: every call fails with why.
struct Unbuilt {
    url: String,
    error: BuildError,
}

impl Backend for Unbuilt {
    fn chat(&self, _request: ChatRequest) -> ChunkStream {
        let error = BackendError::Connect {
            url: self.url.clone(),
            message: self.error.to_string(),
        };
        Box::pin(futures_util::stream::iter([Err(error)]))
    }
}
