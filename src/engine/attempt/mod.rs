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
use crate::backend::{BackendError, ChatRequest, Chunk, FinalStats, TimeoutKind};
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
    // Refusals before anything is sent: immediate, no waiting.
    let not_installed = {
        let mut st = slot.state();
        st.metrics.counters.rejected_not_installed += u64::from(st.not_installed);
        st.not_installed
    };
    if not_installed {
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
