//! Profile timing on a paused clock, seed determinism, load and cancellation.

use std::time::Duration;

use serde_json::Value;
use signalbox::emulator::{EmulatorConfig, Profile, start};
use tokio::time::Instant;

use crate::common::*;

#[tokio::test(start_paused = true)]
async fn headers_wait_for_the_first_token_and_timings_follow_the_profile() {
    let emu = emulator(vec![(MODEL, fixed(2000, 100, 5))], 1).await;
    let start = Instant::now();
    let resp = post(&emu, "/api/chat", chat_body(MODEL)).await;
    assert_eq!(start.elapsed(), Duration::from_millis(2000));
    let lines = Lines::new(resp).all().await;
    assert_eq!(start.elapsed(), Duration::from_millis(2400));
    let done = parse(lines.last().unwrap());
    assert_eq!(done["total_duration"], 2_400_000_000u64);
    assert_eq!(done["prompt_eval_duration"], 2_000_000_000u64);
    assert_eq!(done["eval_duration"], 400_000_000u64);
    assert_eq!(done["eval_count"], 5);
    assert!(done.get("load_duration").is_none());
}

#[tokio::test(start_paused = true)]
async fn speed_factor_divides_every_latency() {
    let models = vec![(MODEL.to_string(), fixed(2000, 100, 5))];
    let addr = "127.0.0.1:0".parse().unwrap();
    let emu = start(
        addr,
        EmulatorConfig {
            models,
            seed: 1,
            speed: 10.0,
        },
    )
    .await
    .unwrap();
    let start = Instant::now();
    let resp = post(&emu, "/api/chat", chat_body(MODEL)).await;
    assert_eq!(start.elapsed(), Duration::from_millis(200));
    Lines::new(resp).all().await;
    assert_eq!(start.elapsed(), Duration::from_millis(240));
}

#[tokio::test(start_paused = true)]
async fn first_request_pays_the_cold_load_and_later_ones_do_not() {
    let profile = Profile {
        load: Duration::from_secs(3),
        ..fixed(100, 10, 3)
    };
    let emu = emulator(vec![(MODEL, profile)], 1).await;
    let cold = parse(chat(&emu).await.all().await.last().unwrap());
    assert_eq!(cold["load_duration"], 3_000_000_000u64);
    let warm = parse(chat(&emu).await.all().await.last().unwrap());
    assert!(warm.get("load_duration").is_none());
}

#[tokio::test(start_paused = true)]
async fn one_slot_makes_a_second_request_queue_behind_the_first() {
    let profile = Profile {
        parallel: 1,
        ..fixed(1000, 100, 5)
    };
    let emu = emulator(vec![(MODEL, profile)], 1).await;
    let start = Instant::now();
    let (a, b) = tokio::join!(async { chat(&emu).await.all().await }, async {
        chat(&emu).await.all().await
    },);
    assert_eq!(start.elapsed(), Duration::from_millis(2800));
    let loads: Vec<u64> = [a, b]
        .iter()
        .map(|lines| {
            parse(lines.last().unwrap())["load_duration"]
                .as_u64()
                .unwrap_or(0)
        })
        .collect();
    assert!(loads.contains(&1_400_000_000), "{loads:?}");
}

#[tokio::test(start_paused = true)]
async fn load_penalty_slows_concurrent_requests() {
    let profile = Profile {
        load_penalty: 1.0,
        ..fixed(1000, 100, 5)
    };
    let emu = emulator(vec![(MODEL, profile)], 1).await;
    let start = Instant::now();
    tokio::join!(async { chat(&emu).await.all().await }, async {
        chat(&emu).await.all().await
    },);
    // Alone it takes 1.4 s; with two generating at once each latency is up to doubled.
    let elapsed = start.elapsed();
    assert!(
        elapsed > Duration::from_millis(1400) && elapsed <= Duration::from_millis(2800),
        "{elapsed:?}"
    );
}

/// The text and the done line's timings of a few requests.
async fn run(seed: u64) -> Vec<(String, Value)> {
    let profile = Profile {
        load: Duration::ZERO,
        parallel: 0,
        load_penalty: 0.0,
        ..Profile::fast()
    };
    let emu = emulator(vec![(MODEL, profile)], seed).await;
    let mut out = Vec::new();
    for _ in 0..3 {
        let lines = chat(&emu).await.all().await;
        let (done, tokens) = lines.split_last().unwrap();
        let text: String = tokens
            .iter()
            .map(|l| parse(l)["message"]["content"].as_str().unwrap().to_string())
            .collect();
        let mut done = parse(done);
        done.as_object_mut().unwrap().remove("created_at");
        out.push((text, done));
    }
    out
}

#[tokio::test(start_paused = true)]
async fn same_seed_gives_the_same_answers_and_timings() {
    let first = run(42).await;
    assert_eq!(first, run(42).await);
    assert_ne!(first[0].0, run(43).await[0].0);
    assert_ne!(first[0].0, first[1].0);
}

#[tokio::test(start_paused = true)]
async fn client_seed_gives_the_same_answer_to_the_same_prompt() {
    let emu = emulator(vec![(MODEL, Profile::zero())], 1).await;
    let mut body = chat_body(MODEL);
    body["options"] = serde_json::json!({"seed": 7});
    body["stream"] = Value::Bool(false);
    let a: Value = post(&emu, "/api/chat", body.clone())
        .await
        .json()
        .await
        .unwrap();
    let b: Value = post(&emu, "/api/chat", body).await.json().await.unwrap();
    assert_eq!(a["message"]["content"], b["message"]["content"]);
}

#[tokio::test(start_paused = true)]
async fn client_dropping_mid_stream_stops_generation_and_counts_as_cancelled() {
    let emu = emulator(vec![(MODEL, fixed(100, 100, 200))], 1).await;
    let mut lines = chat(&emu).await;
    lines.next().await.unwrap();
    lines.next().await.unwrap();
    assert_eq!(emu.stats().model(MODEL).in_flight, 1);
    drop(lines);
    let stats = stats_until(&emu, |s| s.model(MODEL).cancelled == 1)
        .await
        .model(MODEL);
    assert_eq!((stats.cancelled, stats.in_flight, stats.served), (1, 0, 0));
}

#[tokio::test(start_paused = true)]
async fn client_dropping_before_the_first_token_counts_as_cancelled() {
    let emu = emulator(vec![(MODEL, fixed(60_000, 100, 5))], 1).await;
    let send = client()
        .post(emu.url().join("/api/chat").unwrap())
        .json(&chat_body(MODEL))
        .send();
    assert!(
        tokio::time::timeout(Duration::from_secs(1), send)
            .await
            .is_err()
    );
    let stats = stats_until(&emu, |s| s.model(MODEL).cancelled == 1)
        .await
        .model(MODEL);
    assert_eq!((stats.cancelled, stats.in_flight), (1, 0));
}

#[tokio::test]
async fn served_requests_are_counted_per_model() {
    let emu = zero().await;
    for _ in 0..3 {
        chat(&emu).await.all().await;
    }
    let stats = emu.stats().model(MODEL);
    assert_eq!(
        (
            stats.requests,
            stats.served,
            stats.in_flight,
            stats.cancelled
        ),
        (3, 3, 0, 0)
    );
}
