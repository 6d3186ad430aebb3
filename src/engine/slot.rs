//! One model's place in the engine: its backend, breaker, bulkhead, metrics and what
//! health checks found.

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use tokio::time::Instant;

use super::breaker::Breaker;
use super::bulkhead::Bulkhead;
use super::metrics::Metrics;
use super::routing::ModelView;
use super::types::{BreakerState, ModelSnapshot};
use crate::backend::Backend;
use crate::config::ModelConfig;
use crate::events::{EventBus, Health, ModelName};

pub(super) struct ModelSlot {
    pub index: usize,
    pub name: ModelName,
    pub config: ModelConfig,
    pub backend: Arc<dyn Backend>,
    pub breaker: Breaker,
    pub bulkhead: Bulkhead,
    state: Mutex<SlotState>,
}

/// What changes per request, under one short lock.
pub(super) struct SlotState {
    pub metrics: Metrics,
    /// Found not installed by a health check or a 404; skipped until found again.
    pub not_installed: bool,
    pub health: Option<Health>,
    pub last_chosen: Option<(u64, Instant)>,
    pub last_finished: Option<Instant>,
}

impl ModelSlot {
    pub fn new(
        index: usize,
        config: ModelConfig,
        backend: Arc<dyn Backend>,
        window: Duration,
        bus: &EventBus,
    ) -> ModelSlot {
        let name: ModelName = config.name.as_str().into();
        ModelSlot {
            index,
            breaker: Breaker::new(name.clone(), config.breaker, bus.clone()),
            bulkhead: Bulkhead::new(config.bulkhead),
            name,
            config,
            backend,
            state: Mutex::new(SlotState {
                metrics: Metrics::new(window),
                not_installed: false,
                health: None,
                last_chosen: None,
                last_finished: None,
            }),
        }
    }

    pub fn state(&self) -> MutexGuard<'_, SlotState> {
        // Plain figures: a panic elsewhere cannot leave them unusable.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Whether the breaker would admit a request now, without taking a permit.
    fn admits(&self) -> bool {
        let view = self.breaker.view();
        match view.state {
            BreakerState::Closed | BreakerState::HalfOpen => true,
            BreakerState::Open => view.next_probe_in.is_none_or(|d| d.is_zero()),
        }
    }

    pub fn view(&self, now: Instant) -> ModelView {
        let admits = self.admits();
        let (max_in_flight, queue_capacity) = self.bulkhead.capacity();
        let mut st = self.state();
        let recent = st.metrics.recent_for_routing(now);
        ModelView {
            name: self.name.clone(),
            index: self.index,
            admits,
            not_installed: st.not_installed,
            in_flight: self.bulkhead.in_flight(),
            queued: self.bulkhead.queued(),
            max_in_flight,
            queue_capacity,
            p50: recent.total.p50,
            p95: recent.total.p95,
            ttft_p50: recent.ttft.p50,
            ttft_p95: recent.ttft.p95,
            samples: recent.total.count,
            last_chosen: st.last_chosen,
            last_finished: st.last_finished,
        }
    }

    pub fn snapshot(&self, now: Instant) -> ModelSnapshot {
        let breaker = self.breaker.view();
        let (max_in_flight, queue_capacity) = self.bulkhead.capacity();
        let mut st = self.state();
        let recent = st.metrics.recent(now);
        let (latency_all, ttft_all) = st.metrics.all();
        ModelSnapshot {
            name: self.name.clone(),
            breaker,
            in_flight: self.bulkhead.in_flight(),
            queued: self.bulkhead.queued(),
            max_in_flight,
            queue_capacity,
            latency_recent: recent.total,
            latency_all,
            ttft_recent: recent.ttft,
            ttft_all,
            tokens_per_sec: recent.tokens_per_sec,
            counters: st.metrics.counters,
            recent_ms: st.metrics.sparkline(),
            health: st.health.clone(),
        }
    }

    pub fn set_health(&self, health: Health) {
        let mut st = self.state();
        match &health {
            Health::NotInstalled { .. } => st.not_installed = true,
            Health::Ready { .. } => st.not_installed = false,
            // An unreachable server says nothing about what it has installed.
            Health::Unreachable { .. } => {}
        }
        st.health = Some(health);
    }
}
