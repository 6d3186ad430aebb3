//! One request: route it, then try the candidates in order until one answers.

use tokio::sync::mpsc::UnboundedSender;
use tokio::time::Instant;

use super::Inner;
use super::attempt::{self, Failure};
use super::routing::Candidate;
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
    inner.bus.publish(Event::Routed {
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
    for (k, candidate) in candidates.iter().enumerate() {
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
                slot.state().metrics.counters.fallbacks_from += 1;
                tracing::info!(id = id.0, from = &*slot.name, to = &*next, %error, "fallback");
                inner.bus.publish(Event::Fallback {
                    id,
                    from: slot.name.clone(),
                    to: next.clone(),
                    reason: error.to_string(),
                });
                let _ = tx.send(ReplyEvent::Retrying {
                    failed: slot.name.clone(),
                    error,
                    next,
                });
            }
        }
    }
    tracing::warn!(id = id.0, attempts = failed.len(), "every candidate failed");
    Err(AllFailed { attempts: failed })
}
