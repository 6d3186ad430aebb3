//! The event bus: small, cloneable events the engine publishes and views subscribe to.
//!
//! Publishing never blocks. A subscriber that falls behind gets
//! `RecvError::Lagged` from tokio's broadcast channel, skips what it missed and recovers
//! from the next [`Event::Snapshot`], which carries the whole state.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::broadcast;

use crate::engine::{AttemptError, BreakerState, EngineSnapshot, Origin, Priority, RequestId};

/// Model names are shared, not copied, on every event.
pub type ModelName = Arc<str>;

/// How one attempt at one model ended.
#[derive(Clone, Debug, PartialEq)]
pub enum Outcome {
    Success,
    Failed(AttemptError),
    /// The caller went away (Esc, a client that disconnected). Not the model's fault.
    Cancelled,
}

/// Timings of one attempt, measured by the engine.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct AttemptTimings {
    /// Waiting for a bulkhead slot.
    pub queued: Duration,
    /// From sending to the first token, if one came.
    pub first_token: Option<Duration>,
    /// From sending to the end.
    pub total: Duration,
    /// Generated tokens (server's count when known, else chunks seen).
    pub tokens: u64,
    /// Tokens per second after the first token, when measurable.
    pub tokens_per_sec: Option<f64>,
}

/// What a periodic health check of a model's server found.
#[derive(Clone, Debug, PartialEq)]
pub enum Health {
    /// The server answered and the model is installed. `loaded` is whether it is in memory
    /// now (a cold model's first answer is slow); `vram_bytes` and `expires_in` as reported.
    Ready {
        server_version: Option<String>,
        loaded: Option<bool>,
        vram_bytes: Option<u64>,
        expires_in: Option<Duration>,
    },
    /// The server answered but does not have this model; the fix is spelled out.
    NotInstalled { fix: String },
    /// The server did not answer.
    Unreachable { reason: String },
}

/// Everything that happens, as it happens.
#[derive(Clone, Debug)]
pub enum Event {
    /// The router ordered the candidates for a request.
    Routed {
        id: RequestId,
        origin: Origin,
        strategy: &'static str,
        /// Candidates in preference order.
        candidates: Vec<ModelName>,
        reason: String,
    },
    /// A request waits for a bulkhead slot.
    Queued {
        id: RequestId,
        model: ModelName,
        priority: Priority,
        position: usize,
    },
    /// An attempt was sent to a model.
    Started {
        id: RequestId,
        model: ModelName,
        attempt: u32,
    },
    /// The first token of an attempt arrived.
    FirstToken {
        id: RequestId,
        model: ModelName,
        after: Duration,
    },
    /// An attempt ended.
    Finished {
        id: RequestId,
        model: ModelName,
        outcome: Outcome,
        timings: AttemptTimings,
    },
    /// The first model sent no first token by `after` (its recent p95), so the request
    /// went to `hedge` too; the first to send a token wins, the other is cancelled.
    Hedged {
        id: RequestId,
        primary: ModelName,
        hedge: ModelName,
        after: Duration,
    },
    /// The request moves on to the next candidate.
    Fallback {
        id: RequestId,
        from: ModelName,
        to: ModelName,
        reason: String,
    },
    /// A breaker changed state.
    Breaker {
        model: ModelName,
        from: BreakerState,
        to: BreakerState,
        reason: String,
        /// When opening: for how long.
        open_for: Option<Duration>,
    },
    /// A model's server was checked.
    Health { model: ModelName, health: Health },
    /// The whole state, published periodically and after bursts; the way a lagging
    /// subscriber catches up.
    Snapshot(Arc<EngineSnapshot>),
    /// The routing strategy was changed.
    StrategyChanged { strategy: &'static str },
}

/// The sending side of the bus. Cloning it is cheap.
#[derive(Clone, Debug)]
pub struct EventBus {
    sender: broadcast::Sender<Event>,
}

impl EventBus {
    /// A bus that keeps up to `capacity` events for slow subscribers.
    pub fn new(capacity: usize) -> Self {
        let (sender, _) = broadcast::channel(capacity);
        EventBus { sender }
    }

    /// Publish without blocking; with no subscriber the event is simply dropped.
    pub fn publish(&self, event: Event) {
        let _ = self.sender.send(event);
    }

    /// Publish an event built only when someone listens: for events that cost allocations
    /// to build, on paths every request takes.
    pub fn publish_with(&self, build: impl FnOnce() -> Event) {
        if self.sender.receiver_count() > 0 {
            self.publish(build());
        }
    }

    pub fn subscribe(&self) -> broadcast::Receiver<Event> {
        self.sender.subscribe()
    }

    /// How many subscribers listen now; lets publishers skip building costly events.
    pub fn receiver_count(&self) -> usize {
        self.sender.receiver_count()
    }
}

impl Default for EventBus {
    fn default() -> Self {
        EventBus::new(4096)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn publish_with_builds_the_event_only_when_someone_listens() {
        let bus = EventBus::new(8);
        let mut built = 0;
        bus.publish_with(|| {
            built += 1;
            Event::StrategyChanged { strategy: "p95" }
        });
        assert_eq!(built, 0, "nobody listens, so nothing is built");

        let mut rx = bus.subscribe();
        bus.publish_with(|| {
            built += 1;
            Event::StrategyChanged { strategy: "p95" }
        });
        assert_eq!(built, 1);
        assert!(matches!(
            rx.try_recv(),
            Ok(Event::StrategyChanged { strategy: "p95" })
        ));
    }
}
