//! Many concurrent requests with random faults: every request ends exactly once, the
//! counters add up, and nothing leaks or sticks.

use futures_util::StreamExt;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use signalbox::backend::BackendError;
use signalbox::backend::fake::{FakeBackend, Script};
use signalbox::engine::{BreakerState, Priority, ReplyEvent};

use super::*;

fn random_script(rng: &mut StdRng) -> Script {
    let answer = Script::answer("the quick brown fox", rng.random_range(1..6))
        .first_after(ms(rng.random_range(0..3000)))
        .every(ms(rng.random_range(0..400)));
    match rng.random_range(0..100) {
        0..55 => answer,
        55..65 => Script::server_error(),
        65..70 => Script::hang(),
        70..75 => answer.hang_at(2),
        75..82 => Script::busy(),
        82..87 => Script::refused(),
        87..92 => answer.fail_at(1, BackendError::CutShort),
        92..96 => answer.keepalive(ms(300)),
        96..99 => answer.fail_at(
            0,
            BackendError::Malformed {
                message: "not json".into(),
            },
        ),
        _ => Script::bad_request(),
    }
}

#[tokio::test(start_paused = true)]
async fn two_thousand_concurrent_requests_with_random_faults_each_end_once() {
    let mut rng = StdRng::seed_from_u64(0x5eed);
    let mut cfg = config(3, limits(4, 2, 10));
    cfg.routing.warmup = 6;
    cfg.routing.probe_every = 20;
    for m in &mut cfg.models {
        m.bulkhead.max_in_flight = 8;
        m.bulkhead.queue_capacity = 64;
        m.breaker.failure_threshold = 4;
        m.breaker.open_base = secs(2);
        m.breaker.open_max = secs(8);
    }
    let (engine, fakes) = engine(&cfg, Script::answer("ok", 1));
    for fake in &fakes {
        for _ in 0..2000 {
            fake.push(random_script(&mut rng));
        }
    }

    // Arrivals spread over a minute, a hundred or more in flight at once. Each request is
    // read to its end by its own task; about one in ten is cancelled.
    let n = 2000;
    let mut tasks = Vec::with_capacity(n);
    for i in 0..n {
        let mut request = ask();
        request.priority = if i % 3 == 0 {
            Priority::Background
        } else {
            Priority::Interactive
        };
        let arrive = ms(rng.random_range(0..60_000));
        let cancel_after = rng.random_bool(0.1).then(|| ms(rng.random_range(0..5000)));
        let engine = engine.clone();
        tasks.push(tokio::spawn(async move {
            tokio::time::sleep(arrive).await;
            let mut reply = engine.submit(request);
            let read = async {
                let mut ends = 0;
                while let Some(event) = reply.next().await {
                    if matches!(event, ReplyEvent::Done(_) | ReplyEvent::Failed(_)) {
                        ends += 1;
                    }
                }
                ends
            };
            match cancel_after {
                Some(after) => tokio::time::timeout(after, read).await.ok(),
                None => Some(read.await),
            }
        }));
    }
    let all = async {
        let mut ended = 0;
        for task in tasks {
            if let Some(ends) = task.await.unwrap() {
                assert_eq!(ends, 1, "a request that ran to its end ends exactly once");
                ended += 1;
            }
        }
        ended
    };
    let ended = tokio::time::timeout(secs(600), all)
        .await
        .expect("no deadlock");
    assert!(ended > n * 8 / 10, "only {ended} of {n} ran to their end");
    tokio::time::sleep(ms(10)).await;

    // Nothing leaked, and every admitted attempt ended as exactly one outcome.
    let snap = engine.snapshot();
    let mut sent = 0;
    let mut busy = 0;
    for m in &snap.models {
        assert_eq!((m.in_flight, m.queued), (0, 0), "{}: slots leaked", m.name);
        let c = m.counters;
        let outcomes =
            c.successes + c.failures + c.cancelled + c.busy + c.bad_requests + c.not_installed;
        assert_eq!(c.requests, outcomes, "{}: {c:?}", m.name);
        assert!(
            c.successes > 100 && c.failures > 0 && c.rejected_open > 0,
            "{}: {c:?}",
            m.name
        );
        sent += c.requests - c.cancelled;
        busy += c.busy;
    }
    assert!(busy > 0);
    let calls: u64 = fakes.iter().map(FakeBackend::calls).sum();
    let streams_closed: u64 = fakes.iter().map(|f| f.finished() + f.dropped()).sum();
    assert_eq!(calls, streams_closed, "every backend stream was closed");
    assert!(
        calls >= sent,
        "{calls} calls, {sent} attempts sent and ended"
    );

    // No breaker is stuck: after the longest open period, healthy models close again.
    tokio::time::sleep(cfg.models[0].breaker.open_max + secs(1)).await;
    for fake in &fakes {
        while fake.calls() < 2000 {
            // Drain what is left of the random scripts so the models answer cleanly.
            let _ = <FakeBackend as signalbox::backend::Backend>::chat(fake, Default::default());
        }
        fake.set_default(Script::answer("ok", 1));
    }
    for name in engine.model_names() {
        for _ in 0..2 {
            engine.submit(to(&name, false)).answer().await.unwrap();
        }
    }
    for m in engine.snapshot().models {
        assert_eq!(m.breaker.state, BreakerState::Closed, "{} stuck", m.name);
    }
}
