//! The accounting of one admitted attempt: counters, figures, breaker permit, bulkhead
//! slot and the `Finished` event, settled exactly once.

use tokio::time::Instant;

use super::{Failure, Success};
use crate::backend::{BackendError, FinalStats};
use crate::engine::Inner;
use crate::engine::breaker::BreakerPermit;
use crate::engine::bulkhead::BulkheadPermit;
use crate::engine::metrics::Sample;
use crate::engine::routing::Observation;
use crate::engine::slot::ModelSlot;
use crate::engine::types::{AttemptError, RequestId};
use crate::events::{AttemptTimings, Event, Health, Outcome};

/// How an admitted attempt ended, for the accounting.
pub(super) enum End {
    Success(Sample),
    /// Counts against the breaker.
    Failure(BackendError),
    Busy(BackendError),
    NotInstalled(BackendError),
    BadRequest(BackendError),
    Cancelled,
    /// Never sent: the bulkhead and its queue were full.
    RejectedFull,
}

/// An attempt past the breaker; accounts for itself exactly once, on drop at the latest.
pub(super) struct Attempt<'a> {
    pub inner: &'a Inner,
    pub slot: &'a ModelSlot,
    pub id: RequestId,
    breaker: Option<BreakerPermit>,
    pub bulkhead: Option<BulkheadPermit>,
    pub start: Instant,
    pub sent: Option<Instant>,
    pub first_token: Option<Instant>,
    pub last_token: Instant,
    pub chunks: u64,
    /// The server's count, once it said it is done.
    completion_tokens: Option<u64>,
    ended: bool,
}

impl<'a> Attempt<'a> {
    pub fn new(
        inner: &'a Inner,
        slot: &'a ModelSlot,
        id: RequestId,
        permit: BreakerPermit,
    ) -> Self {
        Attempt {
            inner,
            slot,
            id,
            breaker: Some(permit),
            bulkhead: None,
            start: Instant::now(),
            sent: None,
            first_token: None,
            last_token: Instant::now(),
            chunks: 0,
            completion_tokens: None,
            ended: false,
        }
    }

    pub fn succeed(mut self, text: String, stats: FinalStats) -> Success {
        self.completion_tokens = stats.completion_tokens;
        let timings = self.timings(Instant::now());
        let sample = Sample {
            total: timings.queued + timings.total,
            ttft: timings.first_token.map(|t| timings.queued + t),
            tokens_per_sec: timings.tokens_per_sec,
        };
        self.end(End::Success(sample));
        Success {
            text,
            stats,
            first_token_at: self.first_token,
            tokens_per_sec: timings.tokens_per_sec,
        }
    }

    /// End with a backend error or a limit; says whether to fall back.
    pub fn fail(mut self, error: BackendError) -> Failure {
        match error {
            BackendError::BadRequest { .. } => {
                self.end(End::BadRequest(error.clone()));
                Failure {
                    error: AttemptError::Backend(error),
                    fall_back: false,
                }
            }
            BackendError::NotInstalled { ref model, kind } => {
                let model = model.clone();
                self.end(End::NotInstalled(error));
                AttemptError::NotInstalled { model, kind }.into()
            }
            BackendError::Busy { .. } => {
                self.end(End::Busy(error.clone()));
                AttemptError::Backend(error).into()
            }
            _ => {
                self.end(End::Failure(error.clone()));
                AttemptError::Backend(error).into()
            }
        }
    }

    fn timings(&self, now: Instant) -> AttemptTimings {
        let sent = self.sent.unwrap_or(now);
        let tokens = self.completion_tokens.unwrap_or(self.chunks);
        let tokens_per_sec = self.first_token.and_then(|first| {
            let generating = (now - first).as_secs_f64();
            (tokens > 1 && generating > 0.0).then(|| (tokens - 1) as f64 / generating)
        });
        AttemptTimings {
            queued: sent - self.start,
            first_token: self.first_token.map(|t| t - sent),
            total: now - sent,
            tokens,
            tokens_per_sec,
        }
    }

    /// The one place an attempt is accounted.
    pub fn end(&mut self, end: End) {
        if self.ended {
            return;
        }
        self.ended = true;
        let now = Instant::now();
        // The slot is free the moment the attempt ends.
        drop(self.bulkhead.take());
        let timings = self.timings(now);

        // Counters and figures, under one short lock.
        let outcome = {
            let mut st = self.slot.state();
            let c = &mut st.metrics.counters;
            if !matches!(end, End::RejectedFull) {
                c.requests += 1;
                st.last_finished = Some(now);
            }
            let c = &mut st.metrics.counters;
            match &end {
                End::Success(_) => c.successes += 1,
                End::Failure(error) => {
                    c.failures += 1;
                    if matches!(error, BackendError::Timeout { .. }) {
                        c.timeouts += 1;
                    }
                }
                End::Busy(_) => c.busy += 1,
                End::NotInstalled(_) => c.not_installed += 1,
                End::BadRequest(_) => c.bad_requests += 1,
                End::Cancelled => c.cancelled += 1,
                End::RejectedFull => c.rejected_full += 1,
            }
            match &end {
                End::Success(sample) => {
                    st.metrics.record(now, *sample);
                    // A model that just answered is in memory, whatever the last health
                    // check saw; without this the view would call it cold until the next one.
                    if let Some(Health::Ready { loaded, .. }) = &mut st.health {
                        *loaded = loaded.map(|_| true);
                    }
                    Some(Outcome::Success)
                }
                End::NotInstalled(e) => {
                    st.not_installed = true;
                    Some(Outcome::Failed(AttemptError::Backend(e.clone())))
                }
                End::Failure(e) | End::Busy(e) | End::BadRequest(e) => {
                    Some(Outcome::Failed(AttemptError::Backend(e.clone())))
                }
                End::Cancelled => Some(Outcome::Cancelled),
                End::RejectedFull => None,
            }
        };

        // Strategies that learn per attempt hear of it; a cancel is not the model's doing.
        if !matches!(end, End::Cancelled | End::RejectedFull) {
            let observation = Observation {
                index: self.slot.index,
                at: now,
                sample: match &end {
                    End::Success(sample) => Some(*sample),
                    _ => None,
                },
                failed: matches!(end, End::Failure(_)),
                took: now - self.start,
            };
            self.inner.strategy().observe(&observation);
        }

        // The breaker: only a failure or a success is the model's; the rest release the
        // permit unresolved (a probe slot is given back).
        let before = self.slot.breaker.state();
        if let Some(permit) = self.breaker.take() {
            match &end {
                End::Success(_) => permit.success(),
                End::Failure(error) => permit.failure(&error.to_string()),
                _ => drop(permit),
            }
        }
        if self.slot.breaker.state() != before {
            self.inner.publish_snapshot();
        }

        if let Some(outcome) = outcome {
            tracing::debug!(
                id = self.id.0,
                model = &*self.slot.name,
                ?outcome,
                "attempt ended"
            );
            self.inner.bus.publish(Event::Finished {
                id: self.id,
                model: self.slot.name.clone(),
                outcome,
                timings,
            });
        }
    }
}

impl Drop for Attempt<'_> {
    fn drop(&mut self) {
        self.end(End::Cancelled);
    }
}
