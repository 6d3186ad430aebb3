//! One request: route it, then try the candidates in order until one answers.

use tokio::sync::mpsc::UnboundedSender;
use tokio::time::Instant;

use super::Inner;
use super::attempt::{self, Failure};
use super::hedge::{self, Raced};
use super::routing::Candidate;
use super::slot::ModelSlot;
use super::types::{AllFailed, Answer, AttemptError, ReplyEvent, Request, RequestId, Target};
use crate::events::{Event, ModelName};

/// Run a request to its end and send exactly one `Done` or `Failed` on `tx`.
///
/// Cancel-safe: dropping this future mid-way (the caller went away) drops the attempt in
/// progress, which records it as cancelled and frees its slot.
pub(super) async fn run(
    inner: &Inner,
    id: RequestId,
    request: Request,
    tx: &UnboundedSender<ReplyEvent>,
    submitted: Instant,
) {
    let end = match candidates(inner, &request.target) {
        Ok((candidates, strategy)) => {
            announce(inner, id, &request, tx, &candidates, strategy);
            try_in_order(inner, id, &request, tx, submitted, &candidates).await
        }
        Err(failed) => Err(failed),
    };
    // The receiver may be gone already; then nobody is waiting for the end.
    let _ = tx.send(match end {
        Ok(answer) => ReplyEvent::Done(answer),
        Err(failed) => ReplyEvent::Failed(failed),
    });
}

/// The models to try, in order, and the strategy that ordered them.
fn candidates(inner: &Inner, target: &Target) -> Result<(Vec<Candidate>, &'static str), AllFailed> {
    if let Target::Model { name, fallback } = target {
        let slot = inner.slot(name).map_err(|unknown| AllFailed {
            attempts: vec![(
                ModelName::from(name.as_str()),
                AttemptError::UnknownModel(unknown),
            )],
        })?;
        let named = Candidate {
            index: slot.index,
            reason: "asked for by name".into(),
        };
        if !fallback {
            return Ok((vec![named], "by name"));
        }
        let (mut routed, strategy, _) = inner.route();
        routed.retain(|c| c.index != slot.index);
        routed.insert(0, named);
        return Ok((routed, strategy));
    }
    let (routed, strategy, seq) = inner.route();
    if inner.routing.hedge {
        inner.hedge_budget().deposit();
    }
    if let Some(first) = routed.first() {
        inner.models[first.index].state().last_chosen = Some((seq, Instant::now()));
    }
    Ok((routed, strategy))
}

fn announce(
    inner: &Inner,
    id: RequestId,
    request: &Request,
    tx: &UnboundedSender<ReplyEvent>,
    candidates: &[Candidate],
    strategy: &'static str,
) {
    let Some(first) = candidates.first() else {
        return;
    };
    let model = inner.models[first.index].name.clone();
    inner.bus.publish_with(|| Event::Routed {
        id,
        origin: request.origin.clone(),
        strategy,
        candidates: candidates
            .iter()
            .map(|c| inner.models[c.index].name.clone())
            .collect(),
        reason: first.reason.clone(),
    });
    let _ = tx.send(ReplyEvent::Routed {
        id,
        model,
        reason: first.reason.clone(),
    });
}

/// Each candidate in turn until one answers; a bad request stops at once, since it would
/// be bad everywhere.
async fn try_in_order(
    inner: &Inner,
    id: RequestId,
    request: &Request,
    tx: &UnboundedSender<ReplyEvent>,
    submitted: Instant,
    candidates: &[Candidate],
) -> Result<Answer, AllFailed> {
    let mut failed: Vec<(ModelName, AttemptError)> = Vec::new();
    let mut sent = 0u32;
    let mut start = 0;
    if let Some(after) = inner
        .routing
        .hedge
        .then(|| hedge::delay(inner, candidates))
        .flatten()
    {
        match hedge::race(
            inner,
            id,
            request,
            tx,
            candidates,
            after,
            &mut failed,
            &mut sent,
        )
        .await
        {
            Raced::Won(position, success) => {
                let model = inner.models[candidates[position].index].name.clone();
                return Ok(success.into_answer(model, failed, submitted));
            }
            Raced::Lost { stop: true, .. } => return Err(AllFailed { attempts: failed }),
            Raced::Lost { next, .. } => {
                start = next;
                let last = failed
                    .last()
                    .and_then(|(m, e)| Some((inner.slot(m).ok()?, e)));
                if let (Some((slot, error)), Some(to)) = (last, candidates.get(next)) {
                    let to = inner.models[to.index].name.clone();
                    announce_fallback(inner, id, tx, slot, error.clone(), to);
                }
            }
        }
    }
    for (k, candidate) in candidates.iter().enumerate().skip(start) {
        let slot = &inner.models[candidate.index];
        match attempt::run(inner, slot, id, request, tx, &mut sent).await {
            Ok(success) => return Ok(success.into_answer(slot.name.clone(), failed, submitted)),
            Err(Failure { error, fall_back }) => {
                failed.push((slot.name.clone(), error.clone()));
                let next = candidates
                    .get(k + 1)
                    .map(|c| inner.models[c.index].name.clone());
                let (true, Some(next)) = (fall_back, next) else {
                    break;
                };
                announce_fallback(inner, id, tx, slot, error, next);
            }
        }
    }
    tracing::warn!(id = id.0, attempts = failed.len(), "every candidate failed");
    Err(AllFailed { attempts: failed })
}

/// The request leaves `from` for `next`: counted, published, and told to the reply.
pub(super) fn announce_fallback(
    inner: &Inner,
    id: RequestId,
    tx: &UnboundedSender<ReplyEvent>,
    from: &ModelSlot,
    error: AttemptError,
    next: ModelName,
) {
    from.state().metrics.counters.fallbacks_from += 1;
    tracing::info!(id = id.0, from = &*from.name, to = &*next, %error, "fallback");
    inner.bus.publish_with(|| Event::Fallback {
        id,
        from: from.name.clone(),
        to: next.clone(),
        reason: error.to_string(),
    });
    let _ = tx.send(ReplyEvent::Retrying {
        failed: from.name.clone(),
        error,
        next,
    });
}
