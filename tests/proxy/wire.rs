//! Answers through the real engine, read from raw HTTP with strict readers.

use std::time::Duration;

use crate::support::*;

fn echo_models() -> Vec<TestModel> {
    let echo = Behaviour::Echo {
        delay: Duration::ZERO,
    };
    vec![
        TestModel::new("echo-a", echo),
        TestModel::new("echo-b", echo),
    ]
}

#[tokio::test]
async fn routed_chat_streams_strict_ndjson_ending_with_the_done_line() {
    let proxy = Running::start(echo_models()).await;
    let got = raw_chat(proxy.addr, "signalbox", "hello proxy world", true).await;

    assert_eq!(got.status, 200);
    assert_eq!(got.header("content-type"), Some("application/x-ndjson"));
    assert_eq!(got.header("transfer-encoding"), Some("chunked"));
    let answered_by = got.header("x-signalbox-model").unwrap();
    assert!(["echo-a", "echo-b"].contains(&answered_by), "{answered_by}");
    let lines = ndjson(&got.body);
    let text: String = lines
        .iter()
        .map(|l| l["message"]["content"].as_str().unwrap())
        .collect();
    assert_eq!(text, "echo: hello proxy world");
    for (raw_line, line) in got.body.lines().zip(&lines[..lines.len() - 1]) {
        assert_eq!(
            key_order(raw_line),
            ["model", "created_at", "message", "done"]
        );
        assert_eq!(line["model"], "signalbox");
        assert_eq!(line["done"], false);
    }
    assert_eq!(key_order(got.body.lines().last().unwrap()), DONE_KEYS);
    let done = lines.last().unwrap();
    assert_eq!(done["done_reason"], "stop");
    assert_eq!(done["eval_count"], 4);
}

#[tokio::test]
async fn pinned_generate_without_streaming_is_one_json_object() {
    let proxy = Running::start(echo_models()).await;
    let body = r#"{"model":"echo-b","prompt":"say hi","stream":false}"#;
    let got = raw(proxy.addr, "POST", "/api/generate", &[], body).await;
    assert_eq!(got.status, 200);
    assert_eq!(
        got.header("content-type"),
        Some("application/json; charset=utf-8")
    );
    assert_eq!(got.header("x-signalbox-model"), Some("echo-b"));
    let v: serde_json::Value = serde_json::from_str(&got.body).unwrap();
    assert_eq!(v["response"], "echo: say hi");
    assert_eq!(v["model"], "echo-b");
    assert_eq!(v["done"], true);
}

#[tokio::test]
async fn openai_stream_is_strict_sse_with_done_last() {
    let proxy = Running::start(echo_models()).await;
    let body = r#"{"model":"signalbox","stream":true,"stream_options":{"include_usage":true},
                   "messages":[{"role":"user","content":"one two"}]}"#;
    let got = raw(proxy.addr, "POST", "/v1/chat/completions", &[], body).await;
    assert_eq!(got.status, 200);
    assert_eq!(got.header("content-type"), Some("text/event-stream"));
    let events = sse(&got.body);
    assert_eq!(events.last().map(String::as_str), Some("[DONE]"));
    assert_eq!(events.iter().filter(|e| *e == "[DONE]").count(), 1);
    let chunks: Vec<serde_json::Value> = events[..events.len() - 1]
        .iter()
        .map(|e| serde_json::from_str(e).unwrap())
        .collect();
    assert_eq!(
        chunks[0]["choices"][0]["delta"],
        serde_json::json!({"role": "assistant", "content": ""})
    );
    let text: String = chunks[1..]
        .iter()
        .filter_map(|c| {
            c["choices"]
                .get(0)
                .and_then(|c| c["delta"]["content"].as_str())
        })
        .collect();
    assert_eq!(text, "echo: one two");
    let finish = &chunks[chunks.len() - 2];
    assert_eq!(finish["choices"][0]["finish_reason"], "stop");
    let usage = &chunks[chunks.len() - 1];
    assert_eq!(usage["choices"], serde_json::json!([]));
    assert_eq!(usage["usage"]["completion_tokens"], 3);
}
