//! Hedging: when the first model has sent no first token by its recent p95 time to first
//! token, the same request goes to the runner-up too, and the first to send a token wins.
//!
//! The loser's attempt is dropped: its stream is dropped (the server stops generating),
//! its breaker permit is released unresolved and its bulkhead slot freed, and it is
//! counted as cancelled, never as a failure. Tokens reach the reply only from the winner,
//! so the answer the user sees is the winner's alone.
//!
//! A token bucket caps hedges at about `routing.hedge_budget` of requests: each routed
//! request adds that share of a token, a hedge takes a whole one, and at most
//! [`BURST`] are saved up.

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use tokio::sync::mpsc::{self, UnboundedReceiver, UnboundedSender};
use tokio::time::{Instant, sleep_until};

use super::Inner;
use super::attempt::{self, Failure, Success};
use super::routing::Candidate;
use super::slot::ModelSlot;
use super::types::{AttemptError, ReplyEvent, Request, RequestId};
use crate::events::{Event, ModelName};

/// Hedges that may be saved up by quiet periods.
pub const BURST: f64 = 5.0;
/// Successful answers a model needs in its recent window before its p95 time to first
/// token is trusted as a hedge delay.
pub const MIN_SAMPLES: u64 = 10;

/// The token bucket that caps hedged requests.
#[derive(Debug)]
pub(super) struct HedgeBudget {
    share: f64,
    tokens: f64,
}

impl HedgeBudget {
    /// A bucket holding one hedge to start with.
    pub fn new(share: f64) -> HedgeBudget {
        HedgeBudget {
            share: share.clamp(0.0, 1.0),
            tokens: 1.0_f64.min(BURST),
        }
    }

    /// A request was routed: its share of a hedge.
    pub fn deposit(&mut self) {
        self.tokens = (self.tokens + self.share).min(BURST);
    }

    /// Take one hedge if the budget has it.
    pub fn try_take(&mut self) -> bool {
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

/// How a race between the first candidate and the runner-up ended.
pub(super) enum Raced {
    /// The candidate at this position answered.
    Won(usize, Success),
    /// Neither answered; go on from candidate `next`, unless `stop` (a bad request).
    Lost { next: usize, stop: bool },
}

/// When to hedge the first candidate: its recent p95 time to first token, if it has
/// enough samples and a runner-up could take the request now.
pub(super) fn delay(inner: &Inner, candidates: &[Candidate]) -> Option<Duration> {
    let (first, runner_up) = (candidates.first()?, candidates.get(1)?);
    let now = Instant::now();
    if !inner.models[runner_up.index].view(now).available() {
        return None;
    }
    let ttft = inner.models[first.index]
        .state()
        .metrics
        .recent_for_routing(now)
        .ttft;
    ttft.p95.filter(|_| ttft.count >= MIN_SAMPLES)
}

type AttemptFuture<'a> = Pin<Box<dyn Future<Output = Result<Success, Failure>> + Send + 'a>>;

/// One attempt in the race, with its tokens held back until it wins.
struct Racer<'a> {
    position: usize,
    slot: &'a ModelSlot,
    attempt: AttemptFuture<'a>,
    tokens: UnboundedReceiver<ReplyEvent>,
}

impl<'a> Racer<'a> {
    fn start(
        inner: &'a Inner,
        position: usize,
        slot: &'a ModelSlot,
        id: RequestId,
        request: &'a Request,
        mut sent: u32,
    ) -> Racer<'a> {
        let (tx, tokens) = mpsc::unbounded_channel();
        let attempt = Box::pin(async move {
            let tx: UnboundedSender<ReplyEvent> = tx;
            attempt::run(inner, slot, id, request, &tx, &mut sent).await
        });
        Racer {
            position,
            slot,
            attempt,
            tokens,
        }
    }

    /// This racer won: pass its tokens on until it ends.
    async fn follow(mut self, tx: &UnboundedSender<ReplyEvent>) -> Result<Success, Failure> {
        loop {
            tokio::select! {
                biased;
                Some(event) = self.tokens.recv() => {
                    let _ = tx.send(event);
                }
                result = &mut self.attempt => {
                    while let Ok(event) = self.tokens.try_recv() {
                        let _ = tx.send(event);
                    }
                    return result;
                }
            }
        }
    }
}

/// Race the first candidate against the runner-up started `after` later (budget
/// permitting). Failed attempts are added to `failed`; `sent` counts attempts sent.
#[allow(clippy::too_many_arguments)] // The request's whole context, as attempt::run takes it.
pub(super) async fn race(
    inner: &Inner,
    id: RequestId,
    request: &Request,
    tx: &UnboundedSender<ReplyEvent>,
    candidates: &[Candidate],
    after: Duration,
    failed: &mut Vec<(ModelName, AttemptError)>,
    sent: &mut u32,
) -> Raced {
    let first = &inner.models[candidates[0].index];
    let hedge_at = Instant::now() + after;
    let mut primary = Racer::start(inner, 0, first, id, request, *sent);
    *sent += 1;

    // Alone until the hedge delay: a token or an end settles it.
    tokio::select! {
        biased;
        Some(event) = primary.tokens.recv() => {
            let _ = tx.send(event);
            let meta = meta(&primary);
            return settle(primary.follow(tx).await, &meta, failed, 1);
        }
        result = &mut primary.attempt => {
            while let Ok(event) = primary.tokens.try_recv() {
                let _ = tx.send(event);
            }
            return settle(result, &meta(&primary), failed, 1);
        }
        () = sleep_until(hedge_at) => {}
    }

    let runner_up = &inner.models[candidates[1].index];
    let granted = inner.hedge_budget().try_take();
    if !granted {
        let meta = meta(&primary);
        return settle(primary.follow(tx).await, &meta, failed, 1);
    }
    runner_up.state().metrics.counters.hedges += 1;
    inner.bus.publish(Event::Hedged {
        id,
        primary: first.name.clone(),
        hedge: runner_up.name.clone(),
        after,
    });
    tracing::debug!(
        id = id.0,
        primary = &*first.name,
        hedge = &*runner_up.name,
        after_ms = after.as_millis() as u64,
        "hedged"
    );
    let mut hedge = Racer::start(inner, 1, runner_up, id, request, *sent);
    *sent += 1;

    // Both running: the first token wins; an end of one leaves the other alone. A winner
    // that fails mid-answer goes on to the candidates not raced (the runner-up among them
    // when the first model won: it was only cancelled).
    tokio::select! {
        biased;
        Some(event) = primary.tokens.recv() => {
            let _ = tx.send(event);
            drop(hedge);
            let meta = meta(&primary);
            settle(primary.follow(tx).await, &meta, failed, 1)
        }
        Some(event) = hedge.tokens.recv() => {
            let _ = tx.send(event);
            drop(primary);
            let meta = meta(&hedge);
            settle(hedge.follow(tx).await, &meta, failed, 2)
        }
        result = &mut primary.attempt => {
            finish_one(inner, id, tx, result, &meta(&primary), hedge, failed).await
        }
        result = &mut hedge.attempt => {
            finish_one(inner, id, tx, result, &meta(&hedge), primary, failed).await
        }
    }
}

/// A racer's position and slot, kept after its attempt is moved.
struct Meta<'a> {
    position: usize,
    slot: &'a ModelSlot,
}

fn meta<'a>(racer: &Racer<'a>) -> Meta<'a> {
    Meta {
        position: racer.position,
        slot: racer.slot,
    }
}

/// One racer ended before any token; the other runs on alone unless this one answered.
async fn finish_one<'a>(
    inner: &Inner,
    id: RequestId,
    tx: &UnboundedSender<ReplyEvent>,
    result: Result<Success, Failure>,
    ended: &Meta<'a>,
    other: Racer<'a>,
    failed: &mut Vec<(ModelName, AttemptError)>,
) -> Raced {
    match result {
        Ok(success) => {
            // An empty answer: nothing to forward, and the other is no longer needed.
            drop(other);
            Raced::Won(ended.position, success)
        }
        Err(failure) => {
            let fall_back = failure.fall_back;
            let error = failure.error.clone();
            failed.push((ended.slot.name.clone(), failure.error));
            if !fall_back {
                return Raced::Lost {
                    next: 2,
                    stop: true,
                };
            }
            if ended.position == 0 {
                // The user waited on the first model: say it failed and the hedge goes on.
                super::request::announce_fallback(
                    inner,
                    id,
                    tx,
                    ended.slot,
                    error,
                    other.slot.name.clone(),
                );
            }
            let meta = meta(&other);
            settle(other.follow(tx).await, &meta, failed, 2)
        }
    }
}

/// The race's end from the last racer's result; `next` is the first candidate not tried.
fn settle(
    result: Result<Success, Failure>,
    racer: &Meta<'_>,
    failed: &mut Vec<(ModelName, AttemptError)>,
    next: usize,
) -> Raced {
    match result {
        Ok(success) => Raced::Won(racer.position, success),
        Err(Failure { error, fall_back }) => {
            failed.push((racer.slot.name.clone(), error));
            Raced::Lost {
                next,
                stop: !fall_back,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_budget_allows_one_at_first_then_its_share_of_requests() {
        let mut budget = HedgeBudget::new(0.05);
        assert!(budget.try_take());
        assert!(!budget.try_take());
        let mut granted = 0;
        for _ in 0..1000 {
            budget.deposit();
            granted += u32::from(budget.try_take());
        }
        assert_eq!(granted, 50);
    }

    #[test]
    fn quiet_periods_save_up_at_most_a_burst() {
        let mut budget = HedgeBudget::new(0.5);
        for _ in 0..100 {
            budget.deposit();
        }
        let burst = (0..100).filter(|_| budget.try_take()).count();
        assert_eq!(burst, BURST as usize);
    }
}
