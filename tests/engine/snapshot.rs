//! Snapshots: figures after a scripted sequence, and a lagging subscriber's recovery.

use signalbox::backend::fake::Script;
use signalbox::events::Event;
use tokio::sync::broadcast::error::RecvError;

use super::*;

#[tokio::test(start_paused = true)]
async fn snapshot_holds_percentiles_counters_and_sparkline() {
    let (engine, fakes) = engine(&config(2, limits(30, 30, 60)), Script::answer("ok", 1));
    // Ten answers of two chunks: first token after 100, 200, ... 1000 ms, then 50 ms more.
    for i in 1..=10 {
        fakes[0].push(
            Script::answer("ab", 2)
                .first_after(ms(100 * i))
                .every(ms(50)),
        );
    }
    for _ in 0..10 {
        engine.submit(to("a", false)).answer().await.unwrap();
    }
    fakes[0].push(Script::server_error());
    engine.submit(to("a", false)).answer().await.unwrap_err();

    let snap = engine.snapshot();
    let a = snap.model("a").unwrap();
    assert_eq!(a.latency_recent.count, 10);
    assert_eq!(a.latency_recent.p50, Some(ms(550)));
    assert_eq!(a.latency_recent.p95, Some(ms(1050)));
    assert_eq!(a.latency_recent.p99, Some(ms(1050)));
    assert_eq!(a.ttft_recent.p50, Some(ms(500)));
    assert_eq!(a.ttft_all.count, 10);
    // hdrhistogram keeps 3 significant digits.
    let p95_all = a.latency_all.p95.unwrap();
    assert!(p95_all.abs_diff(ms(1050)) < ms(2), "{p95_all:?}");
    assert_eq!(
        a.tokens_per_sec,
        Some(20.0),
        "one more token 50 ms after the first"
    );
    assert_eq!(
        a.recent_ms,
        (1..=10).map(|i| 100 * i + 50).collect::<Vec<u64>>()
    );
    let c = a.counters;
    assert_eq!(
        (c.requests, c.successes, c.failures, c.timeouts),
        (11, 10, 1, 0)
    );
    assert_eq!(c.success_rate(), Some(10.0 / 11.0));
    assert_eq!((a.in_flight, a.max_in_flight, a.queue_capacity), (0, 3, 16));
    assert_eq!(snap.model("b").unwrap().counters, Default::default());
    assert_eq!(snap.strategy, "p95");
}

/// The successes counted in the next snapshot received.
async fn next_snapshot(events: &mut tokio::sync::broadcast::Receiver<Event>) -> u64 {
    loop {
        match events.recv().await {
            Ok(Event::Snapshot(snap)) => return snap.models[0].counters.successes,
            Ok(_) => {}
            Err(e) => panic!("after catching up: {e:?}"),
        }
    }
}

#[tokio::test(start_paused = true)]
async fn a_lagging_subscriber_is_told_and_recovers_from_the_next_snapshot() {
    let mut cfg = config(1, limits(30, 30, 60));
    cfg.models[0].bulkhead.max_in_flight = 2000;
    let (engine, _) = engine(&cfg, Script::answer("ok", 1));
    let mut events = engine.subscribe();

    // Far more events than the bus holds, while the subscriber reads nothing.
    let n = 2000;
    let replies: Vec<_> = (0..n).map(|_| engine.submit(to("a", false))).collect();
    for reply in replies {
        reply.answer().await.unwrap();
    }
    assert!(matches!(events.recv().await, Err(RecvError::Lagged(_))));

    // It skips what it missed; a snapshot then carries the whole state.
    tokio::time::sleep(signalbox::engine::SNAPSHOT_EVERY).await;
    let mut successes = 0;
    for _ in 0..3 {
        successes = next_snapshot(&mut events).await;
        if successes == n {
            break;
        }
    }
    assert_eq!(successes, n);
}

#[tokio::test(start_paused = true)]
async fn a_model_seen_cold_counts_as_loaded_once_it_has_answered() {
    let (engine, _fakes) = engine(&config(2, limits(30, 30, 60)), Script::answer("ok", 1));
    let cold = signalbox::events::Health::Ready {
        server_version: Some("0.33.0".into()),
        loaded: Some(false),
        vram_bytes: None,
        expires_in: None,
    };
    engine.set_health("a", cold.clone());
    engine.set_health("b", cold.clone());

    engine.submit(to("a", false)).answer().await.unwrap();

    let snap = engine.snapshot();
    let loaded = |name: &str| match &snap.model(name).unwrap().health {
        Some(signalbox::events::Health::Ready { loaded, .. }) => *loaded,
        other => panic!("{name}: {other:?}"),
    };
    assert_eq!(
        loaded("a"),
        Some(true),
        "the model that answered is in memory"
    );
    assert_eq!(
        loaded("b"),
        Some(false),
        "the one that did not is still cold"
    );
}
