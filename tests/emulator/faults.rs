//! Every fault as a client sees it on the wire.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::Value;
use signalbox::emulator::{BUSY_MESSAGE, Fault, FaultRule};
use tokio::time::{Instant, timeout};

use crate::common::*;

const LONG: Duration = Duration::from_secs(3600);

/// A chat whose response head must come within `LONG` with status 200, read line by line.
async fn chat_within_long(emu: &signalbox::emulator::EmulatorHandle) -> Lines {
    let resp = timeout(LONG, post(emu, "/api/chat", chat_body(MODEL)))
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    Lines::new(resp)
}

#[tokio::test]
async fn refuse_closes_the_connection_without_a_response() {
    let emu = zero().await;
    emu.set_fault(MODEL, Fault::Refuse).unwrap();
    let err = client()
        .post(emu.url().join("/api/chat").unwrap())
        .json(&chat_body(MODEL))
        .send()
        .await
        .unwrap_err();
    assert!(err.status().is_none(), "{err:?}");
    assert_eq!(emu.stats().model(MODEL).faulted, 1);
    // Other requests still work.
    emu.clear_faults();
    assert_eq!(
        post(&emu, "/api/chat", chat_body(MODEL)).await.status(),
        StatusCode::OK
    );
}

#[tokio::test(start_paused = true)]
async fn no_answer_sends_no_headers_until_the_client_gives_up() {
    let emu = zero().await;
    emu.set_fault(MODEL, Fault::NoAnswer).unwrap();
    let send = client()
        .post(emu.url().join("/api/chat").unwrap())
        .json(&chat_body(MODEL))
        .send();
    assert!(timeout(LONG, send).await.is_err(), "headers arrived");
    let stats = stats_until(&emu, |s| s.model(MODEL).cancelled == 1).await;
    assert_eq!(stats.model(MODEL).cancelled, 1);
    assert_eq!(stats.model(MODEL).in_flight, 0);
}

#[tokio::test(start_paused = true)]
async fn hang_after_sends_k_chunks_then_nothing() {
    let emu = zero().await;
    emu.set_fault(MODEL, Fault::HangAfter { chunks: 3 })
        .unwrap();
    let mut lines = chat(&emu).await;
    for _ in 0..3 {
        let line = lines.next().await.unwrap();
        assert_eq!(parse(&line)["done"], false);
    }
    assert!(
        timeout(LONG, lines.next()).await.is_err(),
        "a fourth line arrived"
    );
    assert_eq!(emu.stats().model(MODEL).in_flight, 1);
}

#[tokio::test]
async fn server_error_is_a_500_with_the_runner_message() {
    let emu = zero().await;
    emu.set_fault(MODEL, Fault::ServerError { message: None })
        .unwrap();
    let resp = post(&emu, "/api/chat", chat_body(MODEL)).await;
    assert_eq!(resp.status(), StatusCode::INTERNAL_SERVER_ERROR);
    let body: Value = resp.json().await.unwrap();
    assert!(
        body["error"]
            .as_str()
            .unwrap()
            .starts_with("model runner has unexpectedly stopped")
    );
}

#[tokio::test]
async fn busy_is_a_503_with_ollamas_exact_message() {
    let emu = zero().await;
    emu.set_fault(MODEL, Fault::Busy).unwrap();
    let resp = post(&emu, "/api/chat", chat_body(MODEL)).await;
    assert_eq!(resp.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(
        resp.text().await.unwrap(),
        r#"{"error":"server busy, please try again.  maximum pending requests exceeded"}"#
    );
    assert!(BUSY_MESSAGE.contains(".  maximum"));
}

#[tokio::test]
async fn not_installed_is_a_404_and_the_model_leaves_the_tags() {
    let emu = zero().await;
    emu.set_fault(MODEL, Fault::NotInstalled).unwrap();
    let resp = post(&emu, "/api/chat", chat_body(MODEL)).await;
    assert_eq!(resp.status(), StatusCode::NOT_FOUND);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["error"], format!("model '{MODEL}' not found"));
    let tags: Value = get_json(&emu, "/api/tags").await;
    assert_eq!(tags, serde_json::json!({"models": []}));
}

#[tokio::test]
async fn error_mid_stream_ends_with_an_error_line_and_no_done() {
    let emu = zero().await;
    emu.set_fault(
        MODEL,
        Fault::ErrorMidStream {
            chunks: 2,
            message: Some("boom <1>".into()),
        },
    )
    .unwrap();
    let resp = post(&emu, "/api/chat", chat_body(MODEL)).await;
    assert_eq!(resp.status(), StatusCode::OK);
    let lines = Lines::new(resp).all().await;
    assert_eq!(lines.len(), 3, "{lines:?}");
    assert_eq!(lines[2], r#"{"error":"boom \u003c1\u003e"}"#);
    assert!(lines.iter().all(|l| !l.contains("\"done\":true")));
    assert_eq!(emu.stats().model(MODEL).faulted, 1);
}

#[tokio::test]
async fn error_before_the_first_chunk_is_a_plain_500_without_stream() {
    let emu = zero().await;
    emu.set_fault(
        MODEL,
        Fault::ErrorMidStream {
            chunks: 1,
            message: None,
        },
    )
    .unwrap();
    let mut body = chat_body(MODEL);
    body["stream"] = Value::Bool(false);
    let resp = post(&emu, "/api/chat", body).await;
    assert_eq!(resp.status(), StatusCode::INTERNAL_SERVER_ERROR);
    let body: Value = resp.json().await.unwrap();
    assert!(
        body["error"]
            .as_str()
            .unwrap()
            .starts_with("an error was encountered")
    );
}

#[tokio::test]
async fn no_done_ends_the_stream_without_a_done_line() {
    let emu = zero().await;
    emu.set_fault(MODEL, Fault::NoDone { chunks: Some(4) })
        .unwrap();
    let lines = chat(&emu).await.all().await;
    assert_eq!(lines.len(), 4);
    assert!(lines.iter().all(|l| parse(l)["done"] == false));

    emu.set_fault(MODEL, Fault::NoDone { chunks: None })
        .unwrap();
    let lines = chat(&emu).await.all().await;
    assert!(lines.len() >= 8);
    assert!(lines.iter().all(|l| parse(l)["done"] == false));
}

#[tokio::test]
async fn malformed_sends_one_line_that_is_not_json() {
    let emu = zero().await;
    emu.set_fault(MODEL, Fault::Malformed { chunks: 2 })
        .unwrap();
    let lines = chat(&emu).await.all().await;
    let bad: Vec<usize> = (0..lines.len())
        .filter(|i| serde_json::from_str::<Value>(&lines[*i]).is_err())
        .collect();
    assert_eq!(bad, [2]);
    assert_eq!(parse(lines.last().unwrap())["done"], true);
}

#[tokio::test(start_paused = true)]
async fn slow_drip_stretches_the_gap_between_tokens() {
    let emu = emulator(vec![(MODEL, fixed(100, 50, 5))], 1).await;
    emu.set_fault(MODEL, Fault::SlowDrip { factor: 4.0 })
        .unwrap();
    let mut lines = chat(&emu).await;
    lines.next().await.unwrap();
    let start = Instant::now();
    lines.next().await.unwrap();
    assert_eq!(start.elapsed().as_millis(), 200);
}

#[tokio::test(start_paused = true)]
async fn keep_alive_only_sends_headers_and_blank_lines_but_no_tokens() {
    let emu = zero().await;
    emu.set_fault(MODEL, Fault::KeepAliveOnly).unwrap();
    let mut lines = chat_within_long(&emu).await;
    for _ in 0..3 {
        assert_eq!(lines.next().await.unwrap(), "");
    }
}

#[tokio::test(start_paused = true)]
async fn empty_chunks_are_well_formed_but_carry_no_token() {
    let emu = zero().await;
    emu.set_fault(MODEL, Fault::EmptyChunks).unwrap();
    let mut lines = chat_within_long(&emu).await;
    for _ in 0..3 {
        let chunk = parse(&lines.next().await.unwrap());
        assert_eq!(
            (
                chunk["message"]["content"].as_str(),
                chunk["done"].as_bool()
            ),
            (Some(""), Some(false))
        );
    }
}

#[tokio::test]
async fn a_fault_for_the_next_n_requests_clears_itself() {
    let emu = zero().await;
    emu.set_fault(MODEL, FaultRule::times(Fault::Busy, 2))
        .unwrap();
    let mut statuses = Vec::new();
    for _ in 0..3 {
        statuses.push(
            post(&emu, "/api/chat", chat_body(MODEL))
                .await
                .status()
                .as_u16(),
        );
    }
    assert_eq!(statuses, [503, 503, 200]);
}

async fn busy_pattern(seed: u64) -> Vec<u16> {
    let emu = emulator(vec![(MODEL, signalbox::emulator::Profile::zero())], seed).await;
    emu.set_fault(MODEL, FaultRule::probability(Fault::Busy, 0.5))
        .unwrap();
    let mut statuses = Vec::new();
    for _ in 0..24 {
        let resp = post(&emu, "/api/chat", chat_body(MODEL)).await;
        statuses.push(resp.status().as_u16());
        let _ = resp.bytes().await;
    }
    statuses
}

#[tokio::test]
async fn a_probable_fault_hits_some_requests_the_same_way_for_the_same_seed() {
    let first = busy_pattern(5).await;
    assert!(first.contains(&503) && first.contains(&200), "{first:?}");
    assert_eq!(first, busy_pattern(5).await);
    assert_ne!(first, busy_pattern(6).await);
}

#[tokio::test]
async fn profile_failure_rate_fails_requests_with_its_fault() {
    let profile = signalbox::emulator::Profile::zero().with_failures(1.0, Fault::Busy);
    let emu = emulator(vec![(MODEL, profile)], 1).await;
    assert_eq!(
        post(&emu, "/api/chat", chat_body(MODEL)).await.status(),
        StatusCode::SERVICE_UNAVAILABLE
    );
}
