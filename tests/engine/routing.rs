//! Routing through the engine: warm-up, lowest p95, ageing out, finding a recovered model.

use futures_util::StreamExt;
use signalbox::backend::fake::Script;
use signalbox::config::StrategyKind;
use signalbox::engine::{Engine, ReplyEvent};
use signalbox::events::Event;

use super::*;

/// Submit a routed request and return (model that answered, routing reason).
async fn route_one(engine: &Engine) -> (String, String) {
    let mut reply = engine.submit(ask());
    let mut reason = String::new();
    while let Some(event) = reply.next().await {
        match event {
            ReplyEvent::Routed { reason: r, .. } => reason = r,
            ReplyEvent::Done(answer) => return (answer.model.to_string(), reason),
            ReplyEvent::Failed(failed) => panic!("request failed: {failed}"),
            _ => {}
        }
    }
    panic!("reply ended without an answer")
}

fn two_models(warmup: u32, probe_every: u32, window: Duration) -> Config {
    let mut cfg = config(2, limits(30, 30, 60));
    cfg.routing.warmup = warmup;
    cfg.routing.probe_every = probe_every;
    cfg.routing.window = window;
    cfg
}

#[tokio::test(start_paused = true)]
async fn warm_up_is_round_robin_then_the_lowest_p95_wins() {
    let (engine, fakes) = engine(&two_models(2, 0, secs(300)), Script::answer("ok", 1));
    fakes[0].set_default(Script::answer("slow", 1).first_after(ms(4800)));
    fakes[1].set_default(Script::answer("fast", 1).first_after(ms(1200)));
    assert_eq!(
        route_one(&engine).await,
        ("a".into(), "warm-up round-robin 1/2".into())
    );
    assert_eq!(
        route_one(&engine).await,
        ("b".into(), "warm-up round-robin 2/2".into())
    );
    for _ in 0..5 {
        assert_eq!(
            route_one(&engine).await,
            ("b".into(), "lowest p95 (1.2 s vs 4.8 s)".into())
        );
    }
}

#[tokio::test(start_paused = true)]
async fn old_samples_age_out_of_the_window() {
    let (engine, fakes) = engine(&two_models(2, 0, secs(30)), Script::answer("ok", 1));
    fakes[0].set_default(Script::answer("slow", 1).first_after(secs(2)));
    fakes[1].set_default(Script::answer("fast", 1).first_after(ms(100)));
    route_one(&engine).await;
    route_one(&engine).await;
    assert_eq!(route_one(&engine).await.0, "b");
    assert_eq!(engine.snapshot().models[0].latency_recent.count, 1);

    // Past the window the slow figure is forgotten: `a` counts as unmeasured and is tried.
    tokio::time::sleep(secs(31)).await;
    let snap = engine.snapshot();
    assert_eq!(snap.models[0].latency_recent.count, 0);
    assert_eq!(snap.models[0].latency_all.count, 1, "since start keeps it");
    assert_eq!(
        route_one(&engine).await,
        ("a".into(), "not measured yet: trying it once".into())
    );
}

#[tokio::test(start_paused = true)]
async fn a_model_that_slowed_and_recovered_gets_traffic_again() {
    let window = secs(20);
    let probe_every = 5;
    let (engine, fakes) = engine(&two_models(2, probe_every, window), Script::answer("ok", 1));
    fakes[1].set_default(Script::answer("steady", 1).first_after(ms(500)));

    // `a` is slow: traffic goes to `b`.
    let mut moved = false;
    fakes[0].set_default(Script::answer("slow", 1).first_after(secs(3)));
    for _ in 0..20 {
        moved |= route_one(&engine).await.0 == "b";
        tokio::time::sleep(secs(1)).await;
    }
    assert!(moved, "traffic left the slowed model");

    // `a` recovers. Within the window plus a probe interval of requests (one a second),
    // it is chosen again on its figures, not only as a probe.
    fakes[0].set_default(Script::answer("fast", 1).first_after(ms(100)));
    let bound = window.as_secs() as usize + 2 * probe_every as usize;
    let mut won_at = None;
    for i in 0..bound {
        let (model, reason) = route_one(&engine).await;
        if model == "a" && reason.starts_with("lowest p95") {
            won_at = Some(i);
            break;
        }
        tokio::time::sleep(secs(1)).await;
    }
    assert!(
        won_at.is_some(),
        "the recovered model was not found again in {bound} requests"
    );
}

#[tokio::test(start_paused = true)]
async fn set_strategy_switches_at_run_time_and_says_so() {
    let (engine, _) = engine(&two_models(0, 0, secs(300)), Script::answer("ok", 1));
    let mut events = engine.subscribe();
    engine.set_strategy(StrategyKind::RoundRobin);
    let changed = loop {
        if let Event::StrategyChanged { strategy } = events.recv().await.unwrap() {
            break strategy;
        }
    };
    assert_eq!(changed, "round-robin");
    assert_eq!(engine.snapshot().strategy, "round-robin");
    let mut got = Vec::new();
    for _ in 0..4 {
        got.push(route_one(&engine).await.0);
    }
    assert_eq!(got, ["a", "b", "a", "b"]);
}
