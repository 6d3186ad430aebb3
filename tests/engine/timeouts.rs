//! Each limit fires, frees the bulkhead slot at once, and counts against the breaker; the
//! user's own cancel does not.

use futures_util::StreamExt;
use signalbox::backend::fake::Script;
use signalbox::backend::{BackendError, TimeoutKind};
use signalbox::engine::{AttemptError, ReplyEvent};
use tokio::time::Instant;

use super::*;

fn timed_out(err: &AttemptError) -> Option<(TimeoutKind, Duration)> {
    match err {
        AttemptError::Backend(BackendError::Timeout { kind, after }) => Some((*kind, *after)),
        _ => None,
    }
}

#[tokio::test(start_paused = true)]
async fn first_token_limit_fires_and_frees_the_slot_at_once() {
    let (engine, fakes) = engine(&config(1, limits(5, 3, 20)), Script::hang());
    let start = Instant::now();
    let failed = engine.submit(to("a", false)).answer().await.unwrap_err();
    assert_eq!(start.elapsed(), secs(5));
    assert_eq!(
        timed_out(&failed.attempts[0].1),
        Some((TimeoutKind::FirstToken, secs(5)))
    );
    assert_eq!(
        failed.to_string(),
        "a: timed out after 5 s waiting for the first token"
    );
    assert_eq!(engine.load("a").unwrap(), (0, 0));
    assert_eq!(
        fakes[0].dropped(),
        1,
        "the stream was dropped, so the server stops"
    );
    let c = engine.snapshot().models[0].counters;
    assert_eq!((c.failures, c.timeouts), (1, 1));
}

#[tokio::test(start_paused = true)]
async fn keepalives_do_not_reset_the_first_token_limit() {
    let script = Script::answer("late", 1)
        .first_after(secs(60))
        .keepalive(ms(500));
    let (engine, _) = engine(&config(1, limits(5, 3, 20)), script);
    let start = Instant::now();
    let failed = engine.submit(to("a", false)).answer().await.unwrap_err();
    assert_eq!(start.elapsed(), secs(5));
    assert_eq!(
        timed_out(&failed.attempts[0].1),
        Some((TimeoutKind::FirstToken, secs(5)))
    );
}

#[tokio::test(start_paused = true)]
async fn stall_limit_fires_between_tokens() {
    let script = Script::answer("one two three", 3).every(ms(100)).hang_at(2);
    let (engine, fakes) = engine(&config(1, limits(5, 3, 20)), script);
    let mut reply = engine.submit(to("a", false));
    let mut tokens = 0;
    let start = Instant::now();
    let failed = loop {
        match reply.next().await.unwrap() {
            ReplyEvent::Token(_) => tokens += 1,
            ReplyEvent::Failed(f) => break f,
            ReplyEvent::Done(_) => panic!("a stalled stream cannot finish"),
            _ => {}
        }
    };
    assert_eq!(tokens, 2);
    // Tokens at 0 and 100 ms, then silence until the stall limit.
    assert_eq!(start.elapsed(), ms(100) + secs(3));
    assert_eq!(
        timed_out(&failed.attempts[0].1),
        Some((TimeoutKind::Stall, secs(3)))
    );
    assert_eq!(
        failed.attempts[0].1.to_string(),
        "stalled: no token for 3 s"
    );
    assert_eq!(engine.load("a").unwrap(), (0, 0));
    assert_eq!(fakes[0].dropped(), 1);
}

#[tokio::test(start_paused = true)]
async fn total_limit_counts_queue_time() {
    let mut cfg = config(1, limits(30, 30, 10));
    cfg.models[0].bulkhead.max_in_flight = 1;
    // The first request holds the only slot for 8 s; the second waits 8 s in the queue,
    // then gets 2 s of its 10 s total for an answer that needs 8 s.
    let (engine, _) = engine(&cfg, Script::answer("slow", 1).first_after(secs(8)));
    let first = engine.submit(to("a", false));
    tokio::task::yield_now().await;
    let second = engine.submit(to("a", false));
    let start = Instant::now();
    assert!(first.answer().await.is_ok());
    let failed = second.answer().await.unwrap_err();
    assert_eq!(start.elapsed(), secs(10));
    assert_eq!(
        timed_out(&failed.attempts[0].1),
        Some((TimeoutKind::Total, secs(10)))
    );
    assert_eq!(engine.load("a").unwrap(), (0, 0));
}

#[tokio::test(start_paused = true)]
async fn dropping_the_reply_cancels_without_a_breaker_failure() {
    let (engine, fakes) = engine(&config(1, limits(60, 60, 120)), Script::hang());
    for _ in 0..3 {
        let mut reply = engine.submit(to("a", false));
        assert!(matches!(
            reply.next().await,
            Some(ReplyEvent::Routed { .. })
        ));
        tokio::time::sleep(secs(1)).await;
        assert_eq!(engine.load("a").unwrap(), (1, 0));
        drop(reply);
        tokio::time::sleep(ms(1)).await;
    }
    assert_eq!(fakes[0].dropped(), 3, "each cancel reached the backend");
    let snap = engine.snapshot();
    let m = &snap.models[0];
    assert_eq!((m.in_flight, m.queued), (0, 0));
    assert_eq!((m.counters.cancelled, m.counters.failures), (3, 0));
    assert_eq!(m.breaker.state, signalbox::engine::BreakerState::Closed);
    assert_eq!(m.breaker.consecutive_failures, 0);
}

#[tokio::test(start_paused = true)]
async fn cancel_while_queued_leaves_the_queue() {
    let mut cfg = config(1, limits(60, 60, 120));
    cfg.models[0].bulkhead.max_in_flight = 1;
    let (engine, _) = engine(&cfg, Script::hang());
    let mut events = engine.subscribe();
    let holder = engine.submit(to("a", false));
    tokio::time::sleep(ms(1)).await;
    let waiter = engine.submit(to("a", false));
    tokio::time::sleep(ms(1)).await;
    assert_eq!(engine.load("a").unwrap(), (1, 1));
    let queued = loop {
        if let signalbox::events::Event::Queued { id, position, .. } = events.recv().await.unwrap()
        {
            break (id, position);
        }
    };
    assert_eq!(queued, (waiter.id(), 1));
    drop(waiter);
    tokio::time::sleep(ms(1)).await;
    assert_eq!(engine.load("a").unwrap(), (1, 0));
    drop(holder);
    tokio::time::sleep(ms(1)).await;
    assert_eq!(engine.load("a").unwrap(), (0, 0));
    assert_eq!(engine.snapshot().models[0].counters.cancelled, 2);
}
