//! What the dashboard knows about the engine: the latest snapshot, patched by events
//! between snapshots, the last routing decision and the event log.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use time::OffsetDateTime;

use crate::engine::{BreakerState, EngineSnapshot, Origin};
use crate::events::{Event, Health, ModelName, Outcome};

/// The event log keeps this many lines.
pub const LOG_CAPACITY: usize = 200;

/// How a log line reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Level {
    Info,
    Warn,
    Error,
}

/// One line of the event log.
#[derive(Clone, Debug, PartialEq)]
pub struct LogLine {
    pub at: OffsetDateTime,
    pub level: Level,
    pub text: String,
}

/// The engine as the dashboard sees it.
#[derive(Default)]
pub struct Board {
    pub snapshot: Option<EngineSnapshot>,
    /// Per model (in snapshot order): when an open breaker admits its next probe.
    probe_at: Vec<Option<Instant>>,
    /// The strategy named by the last event, which may be newer than the snapshot.
    pub strategy: Option<&'static str>,
    /// The last routing decision, ready to show.
    pub last_route: Option<String>,
    /// Events were missed; figures may be old until the next snapshot.
    pub stale: bool,
    pub log: VecDeque<LogLine>,
}

impl Board {
    /// Takes a whole new state; countdowns restart from what it says.
    pub fn apply_snapshot(&mut self, snapshot: EngineSnapshot, now: Instant) {
        self.probe_at = snapshot
            .models
            .iter()
            .map(|m| {
                m.breaker
                    .next_probe_in
                    .filter(|_| m.breaker.state == BreakerState::Open)
                    .map(|d| now + d)
            })
            .collect();
        if self.stale {
            self.stale = false;
        }
        self.strategy = Some(snapshot.strategy);
        self.snapshot = Some(snapshot);
    }

    /// Whether a snapshot shows exactly what is on screen already (uptime aside).
    pub fn same_figures(&self, snapshot: &EngineSnapshot) -> bool {
        let Some(current) = &self.snapshot else {
            return false;
        };
        !self.stale
            && current.models == snapshot.models
            && current.strategy == snapshot.strategy
            && current.routed == snapshot.routed
            && current.warmup == snapshot.warmup
    }

    /// Applies one bus event: patches the state it changes and logs what a person watching
    /// should know.
    pub fn apply_event(&mut self, event: &Event, now: Instant, wall: OffsetDateTime) {
        match event {
            Event::Snapshot(snapshot) => self.apply_snapshot((**snapshot).clone(), now),
            Event::Routed {
                id,
                origin,
                candidates,
                reason,
                strategy,
            } => {
                self.strategy = Some(strategy);
                let first = candidates.first().map_or("no candidate", |c| &**c);
                let mut line = match origin {
                    Origin::Proxy(client) => {
                        self.log(
                            wall,
                            Level::Info,
                            format!("{id} API request from {client} → {first}"),
                        );
                        format!("{id} (API {client}) → {first}")
                    }
                    _ => format!("{id} → {first}"),
                };
                if candidates.len() > 1 {
                    let rest: Vec<&str> = candidates[1..].iter().map(|c| &**c).collect();
                    line.push_str(&format!(" (then {})", rest.join(", ")));
                }
                line.push_str(&format!(": {reason}"));
                self.last_route = Some(line);
            }
            Event::Breaker {
                model,
                from,
                to,
                reason,
                open_for,
            } => {
                self.patch_breaker(model, *to, *open_for, now);
                let mut text = format!("{model} breaker {from} → {to}: {reason}");
                if let Some(d) = open_for {
                    text.push_str(&format!(" (open {})", crate::engine::fmt_secs(*d)));
                }
                let level = match to {
                    BreakerState::Open => Level::Error,
                    BreakerState::HalfOpen => Level::Warn,
                    BreakerState::Closed => Level::Info,
                };
                self.log(wall, level, text);
            }
            Event::Fallback {
                id,
                from,
                to,
                reason,
            } => {
                self.log(
                    wall,
                    Level::Warn,
                    format!("{id} fallback {from} → {to}: {reason}"),
                );
            }
            Event::Finished {
                id,
                model,
                outcome: Outcome::Failed(error),
                ..
            } if !error.is_rejection() => {
                self.log(wall, Level::Error, format!("{id} {model} failed: {error}"));
            }
            Event::Health { model, health } => self.patch_health(model, health, wall),
            Event::StrategyChanged { strategy } => {
                self.strategy = Some(strategy);
                self.log(wall, Level::Info, format!("strategy is now {strategy}"));
            }
            _ => {}
        }
    }

    /// Notes that events were missed.
    pub fn mark_stale(&mut self, missed: u64, wall: OffsetDateTime) {
        self.stale = true;
        self.log(
            wall,
            Level::Warn,
            format!("dashboard fell behind, {missed} events missed; refreshing"),
        );
    }

    pub fn log(&mut self, at: OffsetDateTime, level: Level, text: String) {
        if self.log.len() == LOG_CAPACITY {
            self.log.pop_front();
        }
        self.log.push_back(LogLine { at, level, text });
    }

    /// Time until model `index`'s open breaker admits a probe.
    pub fn countdown(&self, index: usize, now: Instant) -> Option<Duration> {
        self.probe_at
            .get(index)
            .copied()
            .flatten()
            .map(|at| at.saturating_duration_since(now))
    }

    /// Whether a countdown is running, so the clock must tick. Once every countdown has
    /// run out ("probe due") the clock stops until the next event.
    pub fn counting_down(&self, now: Instant) -> bool {
        self.probe_at.iter().flatten().any(|at| *at > now)
    }

    fn patch_breaker(
        &mut self,
        model: &ModelName,
        to: BreakerState,
        open_for: Option<Duration>,
        now: Instant,
    ) {
        let Some(snapshot) = &mut self.snapshot else {
            return;
        };
        let Some(index) = snapshot.models.iter().position(|m| m.name == *model) else {
            return;
        };
        let breaker = &mut snapshot.models[index].breaker;
        breaker.state = to;
        if to == BreakerState::Open {
            breaker.times_opened += 1;
        }
        if to == BreakerState::Closed {
            breaker.consecutive_failures = 0;
        }
        breaker.next_probe_in = open_for;
        if let Some(slot) = self.probe_at.get_mut(index) {
            *slot = open_for
                .filter(|_| to == BreakerState::Open)
                .map(|d| now + d);
        }
    }

    fn patch_health(&mut self, model: &ModelName, health: &Health, wall: OffsetDateTime) {
        let Some(snapshot) = &mut self.snapshot else {
            return;
        };
        let Some(m) = snapshot.models.iter_mut().find(|m| m.name == *model) else {
            return;
        };
        let changed = m
            .health
            .as_ref()
            .is_none_or(|old| kind(old) != kind(health));
        m.health = Some(health.clone());
        if changed {
            let (level, text) = match health {
                Health::Ready { .. } => (Level::Info, format!("{model} is ready")),
                Health::NotInstalled { fix } => {
                    (Level::Error, format!("{model} is not installed: {fix}"))
                }
                Health::Unreachable { reason } => {
                    (Level::Error, format!("{model} unreachable: {reason}"))
                }
            };
            self.log(wall, level, text);
        }
    }
}

fn kind(health: &Health) -> u8 {
    match health {
        Health::Ready { .. } => 0,
        Health::NotInstalled { .. } => 1,
        Health::Unreachable { .. } => 2,
    }
}
