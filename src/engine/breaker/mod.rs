//! The per-model circuit breaker: stop sending to a model that keeps failing, and find out
//! by itself when it serves again.
//!
//! CLOSED counts consecutive failures (and, when configured, the failure rate over a window
//! of recent calls); at the threshold it opens. OPEN rejects at once for the open period,
//! which starts at `open_base`, doubles on each failed recovery up to `open_max`, and goes
//! back to the base after a clean close. Once the period is over the next admission finds it
//! HALF_OPEN: exactly `half_open_probes` probes are admitted and the rest rejected. The first
//! probe that succeeds closes it, and the reports of any other probes still in flight are
//! then ignored: a model that has answered is serving, and waiting on more probes would only
//! turn requests away. A probe that fails, or has not finished after `probe_timeout`, opens
//! it again with the doubled period. A probe whose caller cancels gives its slot back.
//!
//! What counts as a failure is the caller's decision: report only what says the model cannot
//! serve, and drop the permit for a cancel.
//!
//! Time-driven transitions happen lazily, when someone asks (admission, view, state), and
//! are dated to the moment they became due, as if a timer had fired: a probe that hung
//! reopens the breaker from the instant its `probe_timeout` ran out. The clock is
//! `tokio::time::Instant`, so a paused test clock drives it.
//!
//! Every transition is published on the event bus as [`Event::Breaker`].

mod machine;

#[cfg(test)]
mod proptests;
#[cfg(test)]
mod tests;

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use tokio::time::Instant;

use crate::config::BreakerConfig;
use crate::engine::{BreakerState, BreakerView};
use crate::events::{Event, EventBus, ModelName};

use self::machine::{Core, PermitKind, Transition};

/// One model's circuit breaker. `Send + Sync`; clones share one breaker. Every method takes
/// `&self` and holds an internal lock only for a few instructions (never across an await).
#[derive(Clone)]
pub struct Breaker {
    shared: Arc<Shared>,
}

struct Shared {
    model: ModelName,
    bus: EventBus,
    core: Mutex<Core>,
}

impl Breaker {
    /// A closed breaker for `model`, publishing its transitions on `bus`.
    ///
    /// Degenerate settings are made safe rather than refused (the configuration's own
    /// validation reports them to the user): a threshold or probe count of 0 acts as 1, and
    /// an `open_max` below `open_base` acts as `open_base`.
    pub fn new(model: ModelName, config: BreakerConfig, bus: EventBus) -> Breaker {
        let core = Mutex::new(Core::new(config));
        Breaker {
            shared: Arc::new(Shared { model, bus, core }),
        }
    }

    /// Admission.
    ///
    /// `Ok(permit)` when closed, or half-open with a probe slot free. `Err(wait)` when open,
    /// with the time left in the open period; or half-open with every probe slot taken, with
    /// the time by which a slot frees at the latest (the earliest probe's `probe_timeout`).
    pub fn try_acquire(&self) -> Result<BreakerPermit, Duration> {
        let kind = self
            .shared
            .apply(|core, now, out| core.try_acquire(now, out))?;
        Ok(BreakerPermit {
            shared: Some(Arc::clone(&self.shared)),
            kind,
        })
    }

    /// Open now ("tripped by hand") for the current open period, with a fresh deadline;
    /// normal recovery follows. Tripping an open breaker restarts its period.
    pub fn trip(&self) {
        self.shared.apply(|core, now, out| core.trip(now, out));
    }

    /// Close now and clear the failure counts and the backoff. Permits handed out before the
    /// reset no longer count.
    pub fn reset(&self) {
        self.shared.apply(|core, now, out| core.reset(now, out));
    }

    /// The breaker as views show it, with any transition that has come due applied first.
    pub fn view(&self) -> BreakerView {
        self.shared.apply(|core, now, out| core.view(now, out))
    }

    pub fn state(&self) -> BreakerState {
        self.view().state
    }

    pub fn model(&self) -> &ModelName {
        &self.shared.model
    }

    /// Probes in flight now.
    #[cfg(test)]
    fn probes_in_flight(&self) -> usize {
        self.shared.lock().probes_in_flight()
    }
}

impl std::fmt::Debug for Breaker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Breaker")
            .field("model", &self.shared.model)
            .finish_non_exhaustive()
    }
}

impl Shared {
    /// Run `f` on the core under the lock, publish the transitions it made, and log them.
    ///
    /// Events are published while the lock is held so that subscribers see one breaker's
    /// transitions in the order they happened; publishing never blocks (a broadcast send
    /// takes the channel's own short lock and never waits for receivers) and never calls
    /// back into the breaker. Logging happens after the lock is released.
    fn apply<R>(&self, f: impl FnOnce(&mut Core, Instant, &mut Vec<Transition>) -> R) -> R {
        let mut transitions = Vec::new();
        let result = {
            let mut core = self.lock();
            let result = f(&mut core, Instant::now(), &mut transitions);
            for t in &transitions {
                self.bus.publish(Event::Breaker {
                    model: self.model.clone(),
                    from: t.from,
                    to: t.to,
                    reason: t.reason.clone(),
                    open_for: t.open_for,
                });
            }
            result
        };
        for t in &transitions {
            tracing::info!(
                model = %self.model,
                from = %t.from,
                to = %t.to,
                reason = %t.reason,
                open_for_ms = t.open_for.map(|d| d.as_millis() as u64),
                "breaker transition"
            );
        }
        result
    }

    fn lock(&self) -> MutexGuard<'_, Core> {
        // A panic while holding this lock can only come from a bug in `Core`, whose state is
        // kept consistent at every step; carrying on with it beats wedging every request.
        self.core
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// Leave to send one attempt past the breaker. Report how it went with [`success`] or
/// [`failure`]; dropping it unreported means the caller cancelled: a probe gives its slot
/// back and nothing is counted either way.
///
/// A permit from an earlier phase of the breaker (handed out before it opened, closed,
/// was reset, or before its probe timed out) is stale: its report is ignored.
///
/// [`success`]: BreakerPermit::success
/// [`failure`]: BreakerPermit::failure
#[must_use = "report the attempt's outcome with success() or failure(); dropping it counts as a cancel"]
pub struct BreakerPermit {
    /// `None` once reported, so that `Drop` knows there is nothing to give back.
    shared: Option<Arc<Shared>>,
    kind: PermitKind,
}

impl BreakerPermit {
    /// The attempt succeeded: resets the failure count; a probe's success closes the breaker.
    pub fn success(mut self) {
        if let Some(shared) = self.shared.take() {
            let kind = self.kind;
            shared.apply(|core, now, out| core.success(kind, now, out));
        }
    }

    /// The attempt failed in a way that says the model cannot serve. `reason` goes into the
    /// transition event if this failure opens the breaker.
    pub fn failure(mut self, reason: &str) {
        if let Some(shared) = self.shared.take() {
            let kind = self.kind;
            shared.apply(|core, now, out| core.failure(kind, reason, now, out));
        }
    }

    /// Whether this permit is a half-open probe.
    pub fn is_probe(&self) -> bool {
        matches!(self.kind, PermitKind::Probe { .. })
    }
}

impl Drop for BreakerPermit {
    fn drop(&mut self) {
        if let Some(shared) = self.shared.take() {
            let kind = self.kind;
            shared.apply(|core, now, out| core.cancel(kind, now, out));
        }
    }
}

impl std::fmt::Debug for BreakerPermit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BreakerPermit")
            .field("kind", &self.kind)
            .finish_non_exhaustive()
    }
}
