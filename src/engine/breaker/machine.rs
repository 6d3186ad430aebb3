//! The breaker's state machine, without locks or clock: every method takes `now`, and
//! appends the transitions it makes to `out` for the caller to publish.

use std::collections::VecDeque;
use std::time::Duration;

use tokio::time::Instant;

use crate::config::{BreakerConfig, FailureRateConfig};
use crate::engine::{BreakerState, BreakerView, fmt_secs};

/// A change of state, to be published.
#[derive(Clone, Debug, PartialEq)]
pub(super) struct Transition {
    pub from: BreakerState,
    pub to: BreakerState,
    pub reason: String,
    /// When opening: for how long.
    pub open_for: Option<Duration>,
}

/// What a permit was issued as, and in which phase (`generation`) of the breaker. A report
/// from an earlier generation is stale and ignored.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum PermitKind {
    Closed { generation: u64 },
    Probe { generation: u64, id: u64 },
}

enum Phase {
    Closed,
    Open {
        until: Instant,
    },
    /// The probes in flight, each with the moment it counts as failed.
    HalfOpen {
        probes: Vec<Probe>,
    },
}

struct Probe {
    id: u64,
    deadline: Instant,
}

/// Settings with degenerate values made safe.
struct Settings {
    failure_threshold: u32,
    open_base: Duration,
    open_max: Duration,
    half_open_probes: usize,
    probe_timeout: Duration,
}

pub(super) struct Core {
    settings: Settings,
    phase: Phase,
    consecutive_failures: u32,
    /// The open period in force while open, the last one used while half-open, and the base
    /// while closed (a clean close clears the backoff).
    period: Duration,
    times_opened: u64,
    /// Bumped on every change of phase and on reset; permits carry the value they were
    /// issued under.
    generation: u64,
    next_probe_id: u64,
    recent: Option<RecentCalls>,
}

impl Core {
    pub fn new(config: BreakerConfig) -> Core {
        let settings = Settings {
            failure_threshold: config.failure_threshold.max(1),
            open_base: config.open_base,
            open_max: config.open_max.max(config.open_base),
            half_open_probes: config.half_open_probes.max(1) as usize,
            probe_timeout: config.probe_timeout,
        };
        Core {
            period: settings.open_base,
            settings,
            phase: Phase::Closed,
            consecutive_failures: 0,
            times_opened: 0,
            generation: 0,
            next_probe_id: 0,
            recent: config.failure_rate.and_then(RecentCalls::new),
        }
    }

    pub fn state(&self) -> BreakerState {
        match self.phase {
            Phase::Closed => BreakerState::Closed,
            Phase::Open { .. } => BreakerState::Open,
            Phase::HalfOpen { .. } => BreakerState::HalfOpen,
        }
    }

    pub fn try_acquire(
        &mut self,
        now: Instant,
        out: &mut Vec<Transition>,
    ) -> Result<PermitKind, Duration> {
        self.settle(now, out);
        let generation = self.generation;
        match &mut self.phase {
            Phase::Closed => Ok(PermitKind::Closed { generation }),
            Phase::Open { until } => Err(until.saturating_duration_since(now)),
            Phase::HalfOpen { probes } if probes.len() < self.settings.half_open_probes => {
                let id = self.next_probe_id;
                self.next_probe_id += 1;
                probes.push(Probe {
                    id,
                    deadline: now + self.settings.probe_timeout,
                });
                Ok(PermitKind::Probe { generation, id })
            }
            Phase::HalfOpen { probes } => {
                let first_deadline = probes.iter().map(|p| p.deadline).min().unwrap_or(now);
                Err(first_deadline.saturating_duration_since(now))
            }
        }
    }

    pub fn success(&mut self, kind: PermitKind, now: Instant, out: &mut Vec<Transition>) {
        self.settle(now, out);
        if !self.is_current(kind) {
            return;
        }
        self.consecutive_failures = 0;
        match kind {
            PermitKind::Closed { .. } => {
                if let Some(recent) = &mut self.recent {
                    recent.record(false);
                }
            }
            PermitKind::Probe { .. } => self.close("probe succeeded".to_string(), out),
        }
    }

    pub fn failure(
        &mut self,
        kind: PermitKind,
        reason: &str,
        now: Instant,
        out: &mut Vec<Transition>,
    ) {
        self.settle(now, out);
        if !self.is_current(kind) {
            return;
        }
        self.consecutive_failures = self.consecutive_failures.saturating_add(1);
        match kind {
            PermitKind::Closed { .. } => {
                let rate = self.recent.as_mut().and_then(|recent| recent.record(true));
                let base = self.settings.open_base;
                if self.consecutive_failures >= self.settings.failure_threshold {
                    let n = self.consecutive_failures;
                    self.open(
                        now,
                        base,
                        format!("{n} consecutive failures; last: {reason}"),
                        out,
                    );
                } else if let Some((failed, calls)) = rate {
                    let pct = failed * 100 / calls;
                    let why =
                        format!("failure rate {pct} % over the last {calls} calls; last: {reason}");
                    self.open(now, base, why, out);
                }
            }
            PermitKind::Probe { .. } => {
                let period = self.backed_off();
                self.open(now, period, format!("probe failed: {reason}"), out);
            }
        }
    }

    /// The caller went away: a probe gives its slot back; nothing is counted.
    pub fn cancel(&mut self, kind: PermitKind, now: Instant, out: &mut Vec<Transition>) {
        self.settle(now, out);
        if let (PermitKind::Probe { id, .. }, true) = (kind, self.is_current(kind))
            && let Phase::HalfOpen { probes } = &mut self.phase
        {
            probes.retain(|p| p.id != id);
        }
    }

    pub fn trip(&mut self, now: Instant, out: &mut Vec<Transition>) {
        self.settle(now, out);
        self.open(now, self.period, "tripped by hand".to_string(), out);
    }

    pub fn reset(&mut self, now: Instant, out: &mut Vec<Transition>) {
        self.settle(now, out);
        let from = self.state();
        self.clear();
        if from != BreakerState::Closed {
            out.push(Transition {
                from,
                to: BreakerState::Closed,
                reason: "reset by hand".to_string(),
                open_for: None,
            });
        }
    }

    pub fn view(&mut self, now: Instant, out: &mut Vec<Transition>) -> BreakerView {
        self.settle(now, out);
        let (next_probe_in, open_period) = match &self.phase {
            Phase::Closed => (None, self.settings.open_base),
            Phase::Open { until } => (Some(until.saturating_duration_since(now)), self.period),
            // What a failing probe would bring.
            Phase::HalfOpen { .. } => (None, self.backed_off()),
        };
        BreakerView {
            state: self.state(),
            consecutive_failures: self.consecutive_failures,
            next_probe_in,
            open_period,
            times_opened: self.times_opened,
        }
    }

    /// Probes in flight now (for tests and views).
    #[cfg(test)]
    pub fn probes_in_flight(&self) -> usize {
        match &self.phase {
            Phase::HalfOpen { probes } => probes.len(),
            _ => 0,
        }
    }

    /// Apply every time-driven transition that has come due by `now`, each dated to the
    /// moment it became due.
    fn settle(&mut self, now: Instant, out: &mut Vec<Transition>) {
        loop {
            match &self.phase {
                Phase::Open { until } if *until <= now => {
                    self.phase = Phase::HalfOpen { probes: Vec::new() };
                    self.generation += 1;
                    out.push(Transition {
                        from: BreakerState::Open,
                        to: BreakerState::HalfOpen,
                        reason: format!("open period of {} over", fmt_secs(self.period)),
                        open_for: None,
                    });
                }
                Phase::HalfOpen { probes } => {
                    let Some(expired) = probes
                        .iter()
                        .map(|p| p.deadline)
                        .filter(|d| *d <= now)
                        .min()
                    else {
                        return;
                    };
                    let why = format!(
                        "probe unfinished after {}",
                        fmt_secs(self.settings.probe_timeout)
                    );
                    let period = self.backed_off();
                    self.consecutive_failures = self.consecutive_failures.saturating_add(1);
                    self.open(expired, period, why, out);
                }
                _ => return,
            }
        }
    }

    fn is_current(&self, kind: PermitKind) -> bool {
        match (kind, &self.phase) {
            (PermitKind::Closed { generation }, Phase::Closed) => generation == self.generation,
            (PermitKind::Probe { generation, id }, Phase::HalfOpen { probes }) => {
                generation == self.generation && probes.iter().any(|p| p.id == id)
            }
            _ => false,
        }
    }

    /// The period after one more failed recovery.
    fn backed_off(&self) -> Duration {
        self.period.saturating_mul(2).min(self.settings.open_max)
    }

    /// Open from `at` for `period`: always a fresh deadline.
    fn open(&mut self, at: Instant, period: Duration, reason: String, out: &mut Vec<Transition>) {
        let from = self.state();
        if from != BreakerState::Open {
            self.times_opened += 1;
        }
        self.phase = Phase::Open { until: at + period };
        self.period = period;
        self.generation += 1;
        if let Some(recent) = &mut self.recent {
            recent.clear();
        }
        out.push(Transition {
            from,
            to: BreakerState::Open,
            reason,
            open_for: Some(period),
        });
    }

    fn close(&mut self, reason: String, out: &mut Vec<Transition>) {
        let from = self.state();
        self.clear();
        out.push(Transition {
            from,
            to: BreakerState::Closed,
            reason,
            open_for: None,
        });
    }

    /// Closed, with counts and backoff cleared and every permit out made stale.
    fn clear(&mut self) {
        self.phase = Phase::Closed;
        self.consecutive_failures = 0;
        self.period = self.settings.open_base;
        self.generation += 1;
        if let Some(recent) = &mut self.recent {
            recent.clear();
        }
    }
}

/// Outcomes of the last `window` judged calls while closed, for the failure-rate rule.
struct RecentCalls {
    config: FailureRateConfig,
    /// `true` = failed; oldest first.
    outcomes: VecDeque<bool>,
    failures: usize,
}

impl RecentCalls {
    /// `None` when the rule can never apply (an empty window).
    fn new(config: FailureRateConfig) -> Option<RecentCalls> {
        (config.window > 0).then(|| RecentCalls {
            config,
            outcomes: VecDeque::with_capacity(config.window as usize),
            failures: 0,
        })
    }

    /// Record one outcome. After a failure, returns `(failures, calls)` when the window holds
    /// enough calls and the failure rate has reached the threshold. Only a failure can open
    /// the breaker, so a threshold of 0 does not open it on a success.
    fn record(&mut self, failed: bool) -> Option<(usize, usize)> {
        if self.outcomes.len() == self.config.window as usize
            && let Some(oldest) = self.outcomes.pop_front()
        {
            self.failures -= usize::from(oldest);
        }
        self.outcomes.push_back(failed);
        self.failures += usize::from(failed);

        let calls = self.outcomes.len();
        let judged = calls >= self.config.min_calls.max(1) as usize;
        let rate = self.failures as f64 / calls as f64;
        (failed && judged && rate >= self.config.threshold).then_some((self.failures, calls))
    }

    fn clear(&mut self) {
        self.outcomes.clear();
        self.failures = 0;
    }
}
