//! Hedging: the runner-up starts only after the first model's p95 time to first token,
//! the first token wins, the loser is cancelled without counting as a failure, and the
//! budget caps how many requests are hedged.

use futures_util::StreamExt;
use signalbox::backend::fake::Script;
use signalbox::engine::{BreakerState, ReplyEvent};
use signalbox::events::Event;
use tokio::time::Instant;

use super::*;

/// Models `a` and `b`, hedging on; `a` has ten answers with a 1 s first token behind it.
async fn warmed(budget: f64) -> (Engine, Vec<FakeBackend>) {
    let mut cfg = config(2, limits(30, 30, 60));
    cfg.routing.hedge = true;
    cfg.routing.hedge_budget = budget;
    for m in &mut cfg.models {
        m.bulkhead.max_in_flight = 64;
        m.bulkhead.queue_capacity = 64;
    }
    let (engine, fakes) = engine(&cfg, Script::answer("ok", 1));
    fakes[0].set_default(Script::answer("warm", 1).first_after(secs(1)));
    for _ in 0..10 {
        engine.submit(to("a", false)).answer().await.unwrap();
    }
    (engine, fakes)
}

#[tokio::test(start_paused = true)]
async fn the_runner_up_starts_only_after_the_first_models_p95_time_to_first_token() {
    let (engine, fakes) = warmed(0.05).await;
    let mut events = engine.subscribe();
    fakes[0].push(Script::answer("slow answer", 2).first_after(secs(10)));
    fakes[1].push(
        Script::answer("hedged answer", 3)
            .first_after(ms(300))
            .every(ms(50)),
    );
    let start = Instant::now();
    let reply = engine.submit(to("a", true));
    let answer = tokio::spawn(reply.answer());

    tokio::time::sleep(ms(999)).await;
    assert_eq!(fakes[1].calls(), 0, "no hedge before the p95 (1 s)");
    tokio::time::sleep(ms(2)).await;
    assert_eq!(fakes[1].calls(), 1, "hedged at the p95");

    let answer = answer.await.unwrap().unwrap();
    assert_eq!(
        (&*answer.model, answer.text.as_str()),
        ("b", "hedged answer")
    );
    assert_eq!(answer.time_to_first_token, Some(secs(1) + ms(300)));
    assert!(start.elapsed() < secs(2));
    assert!(answer.fallbacks.is_empty(), "{:?}", answer.fallbacks);

    let mut hedged = Vec::new();
    while let Ok(event) = events.try_recv() {
        if let Event::Hedged {
            primary,
            hedge,
            after,
            ..
        } = event
        {
            hedged.push((primary.to_string(), hedge.to_string(), after));
        }
    }
    assert_eq!(hedged, [("a".to_string(), "b".to_string(), secs(1))]);
}

#[tokio::test(start_paused = true)]
async fn the_loser_is_cancelled_and_not_counted_as_a_failure() {
    let (engine, fakes) = warmed(0.05).await;
    fakes[0].push(Script::answer("slow", 1).first_after(secs(10)));
    fakes[1].push(Script::answer("fast", 1).first_after(ms(200)));
    engine.submit(to("a", true)).answer().await.unwrap();
    tokio::task::yield_now().await;

    assert_eq!(fakes[0].dropped(), 1, "the loser's stream was dropped");
    let snap = engine.snapshot();
    let a = snap.model("a").unwrap();
    assert_eq!(a.counters.failures, 0);
    assert_eq!(a.counters.cancelled, 1);
    assert_eq!(a.breaker.state, BreakerState::Closed);
    assert_eq!(a.breaker.consecutive_failures, 0);
    assert_eq!(
        engine.load("a").unwrap(),
        (0, 0),
        "its bulkhead slot is free"
    );
    assert_eq!(snap.model("b").unwrap().counters.hedges, 1);
    assert_eq!(snap.hedges(), 1);
}

#[tokio::test(start_paused = true)]
async fn the_first_model_wins_if_its_first_token_comes_first_and_only_its_text_is_shown() {
    let (engine, fakes) = warmed(0.05).await;
    fakes[0].push(
        Script::answer("primary text", 2)
            .first_after(ms(1500))
            .every(ms(10)),
    );
    fakes[1].push(Script::answer("hedge text", 2).first_after(secs(1)));
    let mut reply = engine.submit(to("a", true));
    let mut tokens = String::new();
    let mut done = None;
    while let Some(event) = reply.next().await {
        match event {
            ReplyEvent::Token(t) => tokens.push_str(&t),
            ReplyEvent::Done(answer) => done = Some(answer),
            _ => {}
        }
    }
    let answer = done.unwrap();
    assert_eq!(tokens, "primary text");
    assert_eq!(
        (&*answer.model, answer.text.as_str()),
        ("a", "primary text")
    );
    tokio::task::yield_now().await;
    assert_eq!((fakes[1].calls(), fakes[1].dropped()), (1, 1));
    assert_eq!(engine.snapshot().model("b").unwrap().counters.failures, 0);
}

#[tokio::test(start_paused = true)]
async fn no_hedge_when_the_first_token_comes_before_the_p95() {
    let (engine, fakes) = warmed(1.0).await;
    fakes[0].push(Script::answer("in time", 1).first_after(ms(900)));
    let answer = engine.submit(to("a", true)).answer().await.unwrap();
    assert_eq!(&*answer.model, "a");
    assert_eq!(fakes[1].calls(), 0);
    assert_eq!(engine.snapshot().hedges(), 0);
}

#[tokio::test(start_paused = true)]
async fn a_primary_that_fails_after_the_hedge_leaves_the_hedge_to_answer() {
    let (engine, fakes) = warmed(0.05).await;
    fakes[0].push(Script::server_error().first_after(ms(1200)));
    fakes[1].push(Script::answer("rescued", 1).first_after(secs(2)));
    let answer = engine.submit(to("a", true)).answer().await.unwrap();
    assert_eq!((&*answer.model, answer.text.as_str()), ("b", "rescued"));
    let fell: Vec<&str> = answer.fallbacks.iter().map(|(m, _)| &**m).collect();
    assert_eq!(fell, ["a"]);
    assert_eq!(answer.time_to_first_token, Some(secs(3)));
}

#[tokio::test(start_paused = true)]
async fn the_budget_caps_hedged_requests() {
    let (engine, fakes) = warmed(0.05).await;
    fakes[0].set_default(Script::answer("slow", 1).first_after(secs(3)));
    fakes[1].set_default(Script::answer("fast", 1).first_after(ms(100)));
    let replies: Vec<_> = (0..40).map(|_| engine.submit(to("a", true))).collect();
    for reply in replies {
        reply.answer().await.unwrap();
    }
    // One to start with, and a twentieth of a hedge per request routed since.
    let hedges = engine.snapshot().hedges();
    assert!((1..=3).contains(&hedges), "{hedges} hedges for 40 requests");
    assert_eq!(fakes[1].calls(), hedges);
}
