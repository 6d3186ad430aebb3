//! One attempt at one model: admission (not installed, breaker, bulkhead), then the
//! backend's stream under the first-token, stall and total limits.
//!
//! Every attempt that passes the breaker is accounted exactly once, by [`Attempt`]: its
//! end updates the counters, resolves the breaker permit, frees the bulkhead slot and
//! publishes `Finished`. If the attempt's future is dropped (the caller went away), the
//! drop records it as cancelled, which is never the model's fault.

use futures_util::StreamExt;
use tokio::sync::mpsc::UnboundedSender;
use tokio::time::{Instant, timeout_at};

use super::Inner;
use super::breaker::BreakerPermit;
use super::bulkhead::BulkheadPermit;
use super::metrics::Sample;
use super::slot::ModelSlot;
use super::types::{Answer, AttemptError, ReplyEvent, Request, RequestId};
use crate::backend::{BackendError, ChatRequest, Chunk, FinalStats, TimeoutKind};
use crate::events::{AttemptTimings, Event, ModelName, Outcome};

/// An attempt that answered.
pub(super) struct Success {
    text: String,
    stats: FinalStats,
    first_token_at: Option<Instant>,
    tokens_per_sec: Option<f64>,
}

impl Success {
    pub fn into_answer(
        self,
        model: ModelName,
        fallbacks: Vec<(ModelName, AttemptError)>,
        submitted: Instant,
    ) -> Answer {
        Answer {
            model,
            text: self.text,
            fallbacks,
            time_to_first_token: self.first_token_at.map(|t| t - submitted),
            total: submitted.elapsed(),
            tokens_per_sec: self.tokens_per_sec,
            stats: self.stats,
        }
    }
}

/// An attempt that did not answer, and whether another model may be tried.
pub(super) struct Failure {
    pub error: AttemptError,
    pub fall_back: bool,
}

impl From<AttemptError> for Failure {
    fn from(error: AttemptError) -> Failure {
        Failure {
            error,
            fall_back: true,
        }
    }
}

/// Try `slot` once. `sent` counts attempts sent so far for this request.
pub(super) async fn run(
    inner: &Inner,
    slot: &ModelSlot,
    id: RequestId,
    request: &Request,
    tx: &UnboundedSender<ReplyEvent>,
    sent: &mut u32,
) -> Result<Success, Failure> {
    // Refusals before anything is sent: immediate, no waiting.
    if slot.state().not_installed {
        slot.state().metrics.counters.rejected_not_installed += 1;
        let model = slot.config.server_model().to_string();
        return Err(AttemptError::NotInstalled { model }.into());
    }
    let permit = match slot.breaker.try_acquire() {
        Ok(permit) => permit,
        Err(next_probe_in) => {
            slot.state().metrics.counters.rejected_open += 1;
            return Err(AttemptError::CircuitOpen { next_probe_in }.into());
        }
    };
    let limits = slot.config.timeouts;
    let mut attempt = Attempt::new(inner, slot, id, permit);
    let deadline = attempt.start + limits.total;

    // A bulkhead slot; queue time counts toward the deadline.
    let on_queued = |position| {
        inner.bus.publish(Event::Queued {
            id,
            model: slot.name.clone(),
            priority: request.priority,
            position,
        })
    };
    match timeout_at(deadline, slot.bulkhead.acquire(request.priority, on_queued)).await {
        Ok(Ok(permit)) => attempt.bulkhead = Some(permit),
        Ok(Err(full)) => {
            attempt.end(End::RejectedFull);
            let (in_flight, queued) = (full.in_flight, full.queued);
            return Err(AttemptError::BulkheadFull { in_flight, queued }.into());
        }
        Err(_) => {
            let error = BackendError::Timeout {
                kind: TimeoutKind::Total,
                after: limits.total,
            };
            return Err(attempt.fail(error));
        }
    }

    // Send, and read the stream under the limits.
    *sent += 1;
    inner.bus.publish(Event::Started {
        id,
        model: slot.name.clone(),
        attempt: *sent,
    });
    let now = Instant::now();
    attempt.sent = Some(now);
    let mut stream = slot.backend.chat(chat_request(slot, request));
    let mut text = String::new();
    let mut last_token = now;
    loop {
        // Which limit runs out first: the first token or a stall, or the whole deadline.
        let (limit, kind, after) = match attempt.first_token {
            None => (
                now + limits.first_token,
                TimeoutKind::FirstToken,
                limits.first_token,
            ),
            Some(_) => (last_token + limits.stall, TimeoutKind::Stall, limits.stall),
        };
        let (limit, kind, after) = if deadline <= limit {
            (deadline, TimeoutKind::Total, limits.total)
        } else {
            (limit, kind, after)
        };
        let item = match timeout_at(limit, stream.next()).await {
            Ok(item) => item,
            Err(_) => {
                // Dropping the stream first tells the server to stop generating.
                drop(stream);
                return Err(attempt.fail(BackendError::Timeout { kind, after }));
            }
        };
        match item {
            // Keep-alives say nothing about progress: they reset no limit.
            Some(Ok(Chunk::Delta(delta))) if delta.is_empty() => {}
            Some(Ok(Chunk::Delta(delta))) => {
                last_token = Instant::now();
                if attempt.first_token.is_none() {
                    attempt.first_token = Some(last_token);
                    let after = last_token - now;
                    inner.bus.publish(Event::FirstToken {
                        id,
                        model: slot.name.clone(),
                        after,
                    });
                }
                attempt.chunks += 1;
                text.push_str(&delta);
                let _ = tx.send(ReplyEvent::Token(delta));
            }
            Some(Ok(Chunk::Done(stats))) => {
                drop(stream);
                return Ok(attempt.succeed(text, stats));
            }
            Some(Err(error)) => {
                drop(stream);
                return Err(attempt.fail(error));
            }
            None => {
                drop(stream);
                return Err(attempt.fail(BackendError::CutShort));
            }
        }
    }
}

/// The request as this model's backend sends it: request options over the model's.
fn chat_request(slot: &ModelSlot, request: &Request) -> ChatRequest {
    let mut options = slot.config.options.clone();
    options.extend(request.options.iter().map(|(k, v)| (k.clone(), v.clone())));
    ChatRequest {
        model: slot.config.server_model().to_string(),
        messages: request.messages.clone(),
        options,
        keep_alive: slot.config.keep_alive.clone(),
        format: request.format.clone(),
    }
}

/// How an admitted attempt ended, for the accounting.
enum End {
    Success(Sample),
    /// Counts against the breaker.
    Failure {
        error: BackendError,
    },
    Busy(BackendError),
    NotInstalled(BackendError),
    BadRequest(BackendError),
    Cancelled,
    /// Never sent: the bulkhead and its queue were full.
    RejectedFull,
}

/// An attempt past the breaker; accounts for itself exactly once, on drop at the latest.
struct Attempt<'a> {
    inner: &'a Inner,
    slot: &'a ModelSlot,
    id: RequestId,
    breaker: Option<BreakerPermit>,
    bulkhead: Option<BulkheadPermit>,
    start: Instant,
    sent: Option<Instant>,
    first_token: Option<Instant>,
    chunks: u64,
    /// The server's count, once it said it is done.
    completion_tokens: Option<u64>,
    ended: bool,
}

impl<'a> Attempt<'a> {
    fn new(inner: &'a Inner, slot: &'a ModelSlot, id: RequestId, permit: BreakerPermit) -> Self {
        Attempt {
            inner,
            slot,
            id,
            breaker: Some(permit),
            bulkhead: None,
            start: Instant::now(),
            sent: None,
            first_token: None,
            chunks: 0,
            completion_tokens: None,
            ended: false,
        }
    }

    fn succeed(mut self, text: String, stats: FinalStats) -> Success {
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
    fn fail(mut self, error: BackendError) -> Failure {
        match error {
            BackendError::BadRequest { .. } => {
                self.end(End::BadRequest(error.clone()));
                Failure {
                    error: AttemptError::Backend(error),
                    fall_back: false,
                }
            }
            BackendError::NotInstalled { ref model } => {
                let model = model.clone();
                self.end(End::NotInstalled(error));
                AttemptError::NotInstalled { model }.into()
            }
            BackendError::Busy { .. } => {
                self.end(End::Busy(error.clone()));
                AttemptError::Backend(error).into()
            }
            _ => {
                self.end(End::Failure {
                    error: error.clone(),
                });
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
    fn end(&mut self, end: End) {
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
                End::Failure { error } => {
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
                    Some(Outcome::Success)
                }
                End::NotInstalled(e) => {
                    st.not_installed = true;
                    Some(Outcome::Failed(AttemptError::Backend(e.clone())))
                }
                End::Failure { error: e } | End::Busy(e) | End::BadRequest(e) => {
                    Some(Outcome::Failed(AttemptError::Backend(e.clone())))
                }
                End::Cancelled => Some(Outcome::Cancelled),
                End::RejectedFull => None,
            }
        };

        // The breaker: only a failure or a success is the model's; the rest release the
        // permit unresolved (a probe slot is given back).
        let before = self.slot.breaker.state();
        if let Some(permit) = self.breaker.take() {
            match &end {
                End::Success(_) => permit.success(),
                End::Failure { error } => permit.failure(&error.to_string()),
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
