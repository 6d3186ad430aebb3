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

mod account;

use account::{Attempt, End};

use super::Inner;
use super::slot::ModelSlot;
use super::types::{Answer, AttemptError, ReplyEvent, Request, RequestId};
use crate::backend::{BackendError, ChatRequest, Chunk, ChunkStream, FinalStats, TimeoutKind};
use crate::events::{Event, ModelName};

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
    let mut attempt = admit(inner, slot, id)?;
    let deadline = attempt.start + slot.config.timeouts.total;

    // A bulkhead slot; queue time counts toward the deadline.
    let on_queued = |position| {
        let model = slot.name.clone();
        inner.bus.publish(Event::Queued {
            id,
            model,
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
            let after = slot.config.timeouts.total;
            return Err(attempt.fail(BackendError::Timeout {
                kind: TimeoutKind::Total,
                after,
            }));
        }
    }

    *sent += 1;
    inner.bus.publish(Event::Started {
        id,
        model: slot.name.clone(),
        attempt: *sent,
    });
    attempt.sent = Some(Instant::now());
    let stream = slot.backend.chat(chat_request(slot, request));
    read_answer(attempt, stream, deadline, tx).await
}

/// The refusals that cost nothing: known not installed, breaker open. Past them, the
/// attempt is accounted for from here on.
fn admit<'a>(inner: &'a Inner, slot: &'a ModelSlot, id: RequestId) -> Result<Attempt<'a>, Failure> {
    let not_installed = {
        let mut st = slot.state();
        st.metrics.counters.rejected_not_installed += u64::from(st.not_installed);
        st.not_installed
    };
    if not_installed {
        let model = slot.config.server_model().to_string();
        let kind = slot.config.backend;
        return Err(AttemptError::NotInstalled { model, kind }.into());
    }
    match slot.breaker.try_acquire() {
        Ok(permit) => Ok(Attempt::new(inner, slot, id, permit)),
        Err(next_probe_in) => {
            slot.state().metrics.counters.rejected_open += 1;
            Err(AttemptError::CircuitOpen { next_probe_in }.into())
        }
    }
}

/// Forward the stream's tokens until it is done, fails, or a limit runs out.
async fn read_answer(
    mut attempt: Attempt<'_>,
    mut stream: ChunkStream,
    deadline: Instant,
    tx: &UnboundedSender<ReplyEvent>,
) -> Result<Success, Failure> {
    let (inner, slot, id) = (attempt.inner, attempt.slot, attempt.id);
    let mut text = String::new();
    loop {
        let (limit, timeout) = next_limit(&attempt, deadline);
        let Ok(item) = timeout_at(limit, stream.next()).await else {
            // Dropping the stream first tells the server to stop generating.
            drop(stream);
            return Err(attempt.fail(timeout));
        };
        let delta = match item {
            // Keep-alives say nothing about progress: they reset no limit.
            Some(Ok(Chunk::Delta(delta))) if delta.is_empty() => continue,
            Some(Ok(Chunk::Delta(delta))) => delta,
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
        };
        let now = Instant::now();
        if attempt.first_token.is_none() {
            attempt.first_token = Some(now);
            let after = now - attempt.sent.unwrap_or(now);
            inner.bus.publish(Event::FirstToken {
                id,
                model: slot.name.clone(),
                after,
            });
        }
        attempt.last_token = now;
        attempt.chunks += 1;
        text.push_str(&delta);
        let _ = tx.send(ReplyEvent::Token(delta));
    }
}

/// When the next chunk must have come, and the timeout if it has not: the first-token
/// limit until a token arrives, then the stall limit; the total deadline if sooner.
fn next_limit(attempt: &Attempt<'_>, deadline: Instant) -> (Instant, BackendError) {
    let limits = attempt.slot.config.timeouts;
    let sent = attempt.sent.unwrap_or(attempt.start);
    let (limit, kind, after) = match attempt.first_token {
        None => (
            sent + limits.first_token,
            TimeoutKind::FirstToken,
            limits.first_token,
        ),
        Some(_) => (
            attempt.last_token + limits.stall,
            TimeoutKind::Stall,
            limits.stall,
        ),
    };
    if deadline <= limit {
        (
            deadline,
            BackendError::Timeout {
                kind: TimeoutKind::Total,
                after: limits.total,
            },
        )
    } else {
        (limit, BackendError::Timeout { kind, after })
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
