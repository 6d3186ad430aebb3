//! Per-model circuit breaker.
//!
//! Stand-in with the agreed API so the engine compiles and its tests run; the full
//! breaker (failure-rate rule, probe timeout) replaces this file when it lands in main.

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use tokio::time::Instant;

use crate::config::BreakerConfig;
use crate::engine::{BreakerState, BreakerView};
use crate::events::{Event, EventBus, ModelName};

/// A circuit breaker for one model. Cheap to share by reference; permits hold their own
/// handle on the state.
pub struct Breaker {
    shared: Arc<Shared>,
}

struct Shared {
    model: ModelName,
    config: BreakerConfig,
    bus: EventBus,
    state: Mutex<State>,
}

struct State {
    state: BreakerState,
    consecutive_failures: u32,
    open_until: Instant,
    open_period: Duration,
    times_opened: u64,
    probes_out: u32,
}

/// Leave to make one call. Resolve it with [`success`](Self::success) or
/// [`failure`](Self::failure); dropping it unresolved means the caller cancelled.
pub struct BreakerPermit {
    shared: Arc<Shared>,
    probe: bool,
    resolved: bool,
}

impl Breaker {
    pub fn new(model: ModelName, config: BreakerConfig, bus: EventBus) -> Breaker {
        let state = State {
            state: BreakerState::Closed,
            consecutive_failures: 0,
            open_until: Instant::now(),
            open_period: config.open_base,
            times_opened: 0,
            probes_out: 0,
        };
        Breaker {
            shared: Arc::new(Shared {
                model,
                config,
                bus,
                state: Mutex::new(state),
            }),
        }
    }

    /// A permit, or how long until the next probe is admitted.
    pub fn try_acquire(&self) -> Result<BreakerPermit, Duration> {
        let mut st = self.shared.lock();
        let now = Instant::now();
        if st.state == BreakerState::Open {
            if now < st.open_until {
                return Err(st.open_until - now);
            }
            self.shared
                .transition(&mut st, BreakerState::HalfOpen, "open period over", None);
        }
        if st.state == BreakerState::HalfOpen {
            if st.probes_out >= self.shared.config.half_open_probes.max(1) {
                return Err(Duration::ZERO);
            }
            st.probes_out += 1;
            return Ok(BreakerPermit {
                shared: self.shared.clone(),
                probe: true,
                resolved: false,
            });
        }
        Ok(BreakerPermit {
            shared: self.shared.clone(),
            probe: false,
            resolved: false,
        })
    }

    /// Open now; normal recovery follows.
    pub fn trip(&self) {
        let mut st = self.shared.lock();
        self.shared.open(&mut st, "tripped by hand");
    }

    /// Close now and clear counters and backoff.
    pub fn reset(&self) {
        let mut st = self.shared.lock();
        st.consecutive_failures = 0;
        st.open_period = self.shared.config.open_base;
        st.probes_out = 0;
        if st.state != BreakerState::Closed {
            self.shared
                .transition(&mut st, BreakerState::Closed, "reset by hand", None);
        }
    }

    pub fn view(&self) -> BreakerView {
        let st = self.shared.lock();
        let now = Instant::now();
        BreakerView {
            state: st.state,
            consecutive_failures: st.consecutive_failures,
            next_probe_in: (st.state == BreakerState::Open)
                .then(|| st.open_until.saturating_duration_since(now)),
            open_period: st.open_period,
            times_opened: st.times_opened,
        }
    }

    pub fn state(&self) -> BreakerState {
        self.shared.lock().state
    }
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        // A poisoned lock only means another thread panicked mid-update; the state is
        // plain data and still usable.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn open(&self, st: &mut State, reason: &str) {
        if st.state == BreakerState::HalfOpen {
            st.open_period = (st.open_period * 2).min(self.config.open_max);
        }
        st.open_until = Instant::now() + st.open_period;
        st.times_opened += 1;
        st.probes_out = 0;
        let period = st.open_period;
        self.transition(st, BreakerState::Open, reason, Some(period));
    }

    fn transition(
        &self,
        st: &mut State,
        to: BreakerState,
        reason: &str,
        open_for: Option<Duration>,
    ) {
        let from = st.state;
        st.state = to;
        self.bus.publish(Event::Breaker {
            model: self.model.clone(),
            from,
            to,
            reason: reason.to_string(),
            open_for,
        });
    }
}

impl BreakerPermit {
    pub fn success(mut self) {
        self.resolved = true;
        let mut st = self.shared.lock();
        st.consecutive_failures = 0;
        if self.probe && st.state == BreakerState::HalfOpen {
            st.probes_out = 0;
            st.open_period = self.shared.config.open_base;
            self.shared
                .transition(&mut st, BreakerState::Closed, "probe succeeded", None);
        }
    }

    pub fn failure(mut self, reason: &str) {
        self.resolved = true;
        let mut st = self.shared.lock();
        st.consecutive_failures += 1;
        let reopen = self.probe && st.state == BreakerState::HalfOpen;
        let threshold = st.state == BreakerState::Closed
            && st.consecutive_failures >= self.shared.config.failure_threshold;
        if reopen || threshold {
            self.shared.open(&mut st, reason);
        }
    }

    pub fn is_probe(&self) -> bool {
        self.probe
    }
}

impl Drop for BreakerPermit {
    fn drop(&mut self) {
        if !self.resolved && self.probe {
            let mut st = self.shared.lock();
            if st.state == BreakerState::HalfOpen {
                st.probes_out = st.probes_out.saturating_sub(1);
            }
        }
    }
}
