//! Running one cell: the fault on a closed breaker, then on a half-open probe, then the
//! primary's recovery once the fault clears.

use std::time::Duration;

use futures_util::StreamExt;
use signalbox::backend::{Message, TimeoutKind};
use signalbox::emulator::Stats;
use signalbox::engine::{Answer, BreakerState, Engine, ModelSnapshot, ReplyEvent, Request, Target};
use signalbox::events::Health;
use tokio::time::Instant;

use crate::expect::{self, Expect, GivesUp};
use crate::*;

/// The longest a reply may take in any phase; far past every limit, so only a wedged
/// request reaches it.
const REPLY_BOUND: Duration = Duration::from_secs(60);
/// The longest the fallback's own answer takes: first token, then the rest.
const BACKUP_ANSWER: Duration = Duration::from_millis(100 + 5 * 20);

/// A reply read to its end.
struct Seen {
    events: Vec<ReplyEvent>,
    /// When the engine announced it was giving up on the first model, from submit.
    retried_after: Option<Duration>,
}

impl Seen {
    fn answer(&self) -> &Answer {
        match self.events.last() {
            Some(ReplyEvent::Done(answer)) => answer,
            other => panic!("expected an answer, the reply ended with {other:?}"),
        }
    }
}

fn ask(model: &str, fallback: bool) -> Request {
    Request {
        target: Target::Model {
            name: model.to_string(),
            fallback,
        },
        ..Request::chat(vec![Message::user("Which signal means stop?")])
    }
}

/// Submit, and read every event until the reply ends (bounded).
async fn submit(engine: &Engine, request: Request) -> Seen {
    let start = Instant::now();
    let mut reply = engine.submit(request);
    let mut events = Vec::new();
    let mut retried_after = None;
    let read = async {
        while let Some(event) = reply.next().await {
            if matches!(event, ReplyEvent::Retrying { .. }) && retried_after.is_none() {
                retried_after = Some(start.elapsed());
            }
            let end = matches!(event, ReplyEvent::Done(_) | ReplyEvent::Failed(_));
            events.push(event);
            if end {
                break;
            }
        }
    };
    tokio::time::timeout(REPLY_BOUND, read)
        .await
        .unwrap_or_else(|_| panic!("no end to the reply within {REPLY_BOUND:?}"));
    Seen {
        events,
        retried_after,
    }
}

fn model(engine: &Engine, name: &str) -> ModelSnapshot {
    engine.snapshot().model(name).cloned().unwrap()
}

/// Waits (bounded) until the emulator has nothing in flight: every connection the engine
/// dropped has been seen closed.
async fn settled(rig: &Rig) -> Stats {
    for _ in 0..100 {
        let stats = rig.emulator.stats();
        if stats.models.values().all(|m| m.in_flight == 0) {
            return stats;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!(
        "the emulator still has requests in flight: {:?}",
        rig.emulator.stats()
    )
}

/// No bulkhead slot held and nothing queued, for either model.
fn assert_no_leak(engine: &Engine, when: &str) {
    for name in [PRIMARY, BACKUP] {
        assert_eq!(
            engine.load(name).unwrap(),
            (0, 0),
            "{name}'s bulkhead after {when}"
        );
    }
}

pub async fn run(fault_name: &str, protocol: Protocol) {
    let expect = expect::cell(fault_name, protocol);
    let fault = fault_named(fault_name);
    assert!(needs_a_row(&fault));
    let rig = Rig::start(protocol).await;
    rig.emulator.set_fault(PRIMARY, fault).unwrap();

    closed_breaker(&rig, &expect).await;
    half_open_probe(&rig, &expect).await;
    recovery(&rig, &expect).await;
}

/// Phase 1: the fault meets a closed breaker; the user gets the backup's answer.
async fn closed_breaker(rig: &Rig, expect: &Expect) {
    let seen = submit(&rig.engine, ask(PRIMARY, true)).await;
    let answer = seen.answer();
    let url = rig.primary_chat_url();

    // What the user sees: one Routed to the primary, one Retrying to the backup with the
    // error, then the backup's tokens, which make the whole answer.
    let routed: Vec<_> = seen
        .events
        .iter()
        .filter_map(|e| match e {
            ReplyEvent::Routed { model, .. } => Some(model.to_string()),
            _ => None,
        })
        .collect();
    assert_eq!(routed, [PRIMARY]);
    let retry = seen
        .events
        .iter()
        .position(|e| matches!(e, ReplyEvent::Retrying { .. }));
    assert_eq!(retry.is_some(), expect.falls_back, "{:?}", seen.events);
    // Every fault in the matrix falls back; a cell that did not would need checks of its own.
    let Some(retry) = retry else {
        panic!("no fallback: {:?}", seen.events)
    };
    let ReplyEvent::Retrying {
        failed,
        error,
        next,
    } = &seen.events[retry]
    else {
        unreachable!("found by matching Retrying")
    };
    assert_eq!((&**failed, &**next), (PRIMARY, BACKUP));
    let after: String = seen.events[retry..]
        .iter()
        .filter_map(|e| match e {
            ReplyEvent::Token(t) => Some(t.as_str()),
            _ => None,
        })
        .collect();
    assert_eq!(&*answer.model, BACKUP, "the answer came from the backup");
    assert!(!answer.text.is_empty());
    assert_eq!(
        after, answer.text,
        "the tokens after the retry are the answer"
    );
    assert_eq!(answer.fallbacks.len(), 1);
    assert_eq!(&answer.fallbacks[0].1, error);

    // The error, by kind and by text.
    let text = error.to_string();
    assert_eq!(expect::kind_of(error), expect.kind, "{text}");
    assert!(
        expect::text_matches(expect.text, &text, &url, PRIMARY),
        "the user reads {text:?}, the matrix says {:?}",
        expect.text
    );

    // When the engine gave up on the primary.
    let gave_up = seen.retried_after.unwrap();
    match expect.gives_up {
        GivesUp::AtOnce => assert!(gave_up < Duration::from_millis(300), "{gave_up:?}"),
        GivesUp::FirstTokenLimit => {
            assert_eq!(expect::timeout_kind(error), Some(TimeoutKind::FirstToken));
            assert!(
                gave_up >= FIRST_TOKEN && gave_up < FIRST_TOKEN + Duration::from_millis(50),
                "{gave_up:?}"
            );
        }
        GivesUp::StallLimit => {
            assert_eq!(expect::timeout_kind(error), Some(TimeoutKind::Stall));
            let latest = FIRST_TOKEN_AFTER + TOKEN_EVERY * ANSWER_TOKENS + STALL;
            assert!(gave_up >= STALL && gave_up <= latest, "{gave_up:?}");
        }
    }
    assert!(answer.total <= gave_up + BACKUP_ANSWER + Duration::from_millis(50));

    // The breaker and the counters.
    let primary = model(&rig.engine, PRIMARY);
    let counted = u64::from(expect.counted);
    assert_eq!(primary.counters.failures, counted, "{:?}", primary.counters);
    assert_eq!(primary.breaker.consecutive_failures, counted as u32);
    assert_eq!(primary.breaker.state, BreakerState::Closed);
    assert_eq!(primary.counters.fallbacks_from, 1);
    assert_eq!(primary.counters.successes, 0);
    let timed_out = expect::timeout_kind(error).is_some();
    assert_eq!(primary.counters.timeouts, u64::from(timed_out));
    match expect.kind {
        "Busy" => assert_eq!(primary.counters.busy, 1),
        "NotInstalled" => assert_eq!(primary.counters.not_installed, 1),
        _ => {}
    }
    let backup = model(&rig.engine, BACKUP);
    assert_eq!(
        (backup.counters.successes, backup.counters.failures),
        (1, 0)
    );
    assert_eq!(backup.ttft_all.count, 1, "the backup's first token timed");
    assert_no_leak(&rig.engine, "a fallback");

    // The server's side: a request that was still being answered when the engine gave up
    // was cancelled there; the others ended on their own.
    let stats = settled(rig).await;
    let p = stats.model(PRIMARY);
    assert_eq!(p.requests, 1, "{p:?}");
    assert_eq!(p.cancelled, u64::from(expect.server_told), "{p:?}");
    assert_eq!(p.served, 0, "{p:?}");
    assert_eq!(stats.model(BACKUP).served, 1);
}

/// Phase 2: the breaker is tripped, its open period passes, and the half-open probe meets
/// the same fault. A counted fault opens it again; one that is not the model's failure
/// leaves it half-open with the probe slot given back.
async fn half_open_probe(rig: &Rig, expect: &Expect) {
    let engine = &rig.engine;
    if expect.kind == "NotInstalled" {
        // The router skips a model found not installed until a health check finds it;
        // pretend one did, so the probe goes to the server.
        engine.set_health(PRIMARY, ready());
    }
    engine.trip(PRIMARY).unwrap();
    assert_eq!(model(engine, PRIMARY).breaker.state, BreakerState::Open);
    tokio::time::sleep(OPEN_BASE).await;
    assert_eq!(model(engine, PRIMARY).breaker.state, BreakerState::HalfOpen);

    let seen = submit(engine, ask(PRIMARY, true)).await;
    let answer = seen.answer();
    assert_eq!(&*answer.model, BACKUP);
    assert_eq!(expect::kind_of(&answer.fallbacks[0].1), expect.kind);
    let primary = model(engine, PRIMARY);
    if expect.counted {
        assert_eq!(
            primary.breaker.state,
            BreakerState::Open,
            "a failed probe reopens"
        );
        assert_eq!(
            primary.breaker.open_period,
            OPEN_BASE * 2,
            "for a doubled period"
        );
    } else {
        assert_eq!(primary.breaker.state, BreakerState::HalfOpen);
        assert_eq!(primary.counters.failures, 0);
    }
    assert_no_leak(engine, "a probe that met the fault");
    settled(rig).await;
}

/// Phase 3: the fault clears; once the open period (if any) is over the primary answers
/// by itself and its breaker closes.
async fn recovery(rig: &Rig, expect: &Expect) {
    let engine = &rig.engine;
    rig.emulator.clear_faults();
    if expect.kind == "NotInstalled" {
        engine.set_health(PRIMARY, ready());
    }
    if let Some(wait) = model(engine, PRIMARY).breaker.next_probe_in {
        tokio::time::sleep(wait).await;
    }
    let seen = submit(engine, ask(PRIMARY, false)).await;
    let answer = seen.answer();
    assert_eq!(&*answer.model, PRIMARY, "the primary serves again");
    assert!(answer.fallbacks.is_empty());
    assert!(answer.time_to_first_token.is_some());
    let primary = model(engine, PRIMARY);
    assert_eq!(primary.breaker.state, BreakerState::Closed);
    assert_eq!(primary.breaker.consecutive_failures, 0);
    assert_eq!(primary.counters.successes, 1);
    assert_no_leak(engine, "the recovery");
    let stats = settled(rig).await;
    assert_eq!(stats.model(PRIMARY).served, 1);
}

fn ready() -> Health {
    Health::Ready {
        server_version: None,
        loaded: None,
        vram_bytes: None,
        expires_in: None,
    }
}
