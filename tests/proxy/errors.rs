//! Errors produced by the real engine, in each client's shape.

use std::time::Duration;

use crate::support::*;

#[tokio::test]
async fn a_full_bulkhead_is_503_with_retry_after() {
    let proxy = Running::start(vec![TestModel::new("only", Behaviour::Hang).bulkhead(1, 0)]).await;
    let client = reqwest::Client::builder().no_proxy().build().unwrap();
    let mut holding = client
        .post(proxy.url("/api/chat"))
        .body(chat_body("only", "hold", true))
        .send()
        .await
        .unwrap();
    assert_eq!(holding.status(), 200);
    tokio::time::timeout(Duration::from_secs(5), holding.chunk())
        .await
        .unwrap()
        .unwrap();

    let got = raw_chat(proxy.addr, "only", "more", false).await;
    assert_eq!(got.status, 503);
    assert!(got.header("retry-after").is_some());
    let v: serde_json::Value = serde_json::from_str(&got.body).unwrap();
    let message = v["error"].as_str().unwrap();
    assert!(message.contains("only: bulkhead full"), "{message}");

    drop(holding);
    proxy.wait_cancelled(0, 1).await;
    proxy.wait_idle().await;
}

#[tokio::test]
async fn every_model_failing_is_503_naming_each_model() {
    let broken = Behaviour::Faulty {
        before: 1.0,
        midway: 0.0,
    };
    let proxy = Running::start(vec![
        TestModel::new("a", broken),
        TestModel::new("b", broken),
    ])
    .await;
    let body = r#"{"model":"signalbox","messages":[{"role":"user","content":"q"}]}"#;
    let got = raw(proxy.addr, "POST", "/v1/chat/completions", &[], body).await;
    assert_eq!(got.status, 503);
    assert!(got.header("retry-after").is_some());
    let v: serde_json::Value = serde_json::from_str(&got.body).unwrap();
    assert_eq!(v["error"]["type"], "api_error");
    let message = v["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("a: ") && message.contains("b: "),
        "{message}"
    );
    assert!(message.contains("injected fault"), "{message}");
}

#[tokio::test]
async fn a_pinned_model_failing_mid_stream_ends_with_an_error_line() {
    let proxy = Running::start(vec![TestModel::new("midway", Behaviour::Midway)]).await;
    let got = raw_chat(proxy.addr, "midway", "a b c", true).await;
    assert_eq!(got.status, 200);
    let lines = ndjson(&got.body);
    assert_eq!(lines[0]["message"]["content"], "echo:");
    let last = lines.last().unwrap();
    assert!(
        last["error"]
            .as_str()
            .unwrap()
            .contains("injected midway fault"),
        "{last}"
    );
    assert!(
        lines
            .iter()
            .all(|l| l.get("done") != Some(&serde_json::json!(true)))
    );
}

#[tokio::test]
async fn an_unknown_model_is_404_and_never_reaches_the_engine() {
    let proxy = Running::start(vec![TestModel::new(
        "a",
        Behaviour::Echo {
            delay: Duration::ZERO,
        },
    )])
    .await;
    let got = raw_chat(proxy.addr, "llama3.2", "q", false).await;
    assert_eq!(got.status, 404);
    assert_eq!(got.body, r#"{"error":"model 'llama3.2' not found"}"#);
    assert_eq!(proxy.engine.snapshot().models[0].counters.requests, 0);
}
