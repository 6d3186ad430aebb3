//! The OpenAI-compatible endpoints, as Ollama's `/v1` layer serves them.

use reqwest::StatusCode;
use serde_json::{Value, json};
use signalbox::emulator::{BUSY_MESSAGE, Fault};

use crate::common::*;

fn completion(stream: bool) -> Value {
    json!({
        "model": MODEL,
        "messages": [{"role": "user", "content": "Name a prime."}],
        "stream": stream,
        "stream_options": {"include_usage": true},
    })
}

/// The JSON of every `data:` event, and whether the stream ended with `[DONE]`.
async fn events(resp: reqwest::Response) -> (Vec<Value>, bool) {
    let lines = Lines::new(resp).all().await;
    let mut events = Vec::new();
    let mut done = false;
    for line in lines.iter().filter(|l| !l.is_empty()) {
        let data = line
            .strip_prefix("data: ")
            .unwrap_or_else(|| panic!("not an event: {line}"));
        if data == "[DONE]" {
            done = true;
        } else {
            events.push(parse(data));
        }
    }
    (events, done)
}

#[tokio::test]
async fn streamed_completion_sends_role_first_then_finish_usage_and_done() {
    let emu = zero().await;
    let resp = post(&emu, "/v1/chat/completions", completion(true)).await;
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(content_type(&resp), "text/event-stream");
    let (events, done) = events(resp).await;
    assert!(done);
    let n = events.len();
    let id = events[0]["id"].as_str().unwrap().to_string();
    assert!(id.starts_with("chatcmpl-"));
    for event in &events {
        assert_eq!(event["id"], id.as_str());
        assert_eq!(event["object"], "chat.completion.chunk");
        assert_eq!(event["system_fingerprint"], "fp_ollama");
        assert_eq!(event["model"], MODEL);
    }
    assert_eq!(events[0]["choices"][0]["delta"]["role"], "assistant");
    assert!(
        events[1..n - 2]
            .iter()
            .all(|e| e["choices"][0]["delta"].get("role").is_none())
    );
    assert!(
        events[..n - 2]
            .iter()
            .all(|e| e["choices"][0]["finish_reason"].is_null())
    );
    assert_eq!(events[n - 2]["choices"][0]["delta"], json!({}));
    assert_eq!(events[n - 2]["choices"][0]["finish_reason"], "stop");
    assert_eq!(events[n - 1]["choices"], json!([]));
    let usage = &events[n - 1]["usage"];
    assert_eq!(usage["completion_tokens"], (n - 2) as u64);
    assert_eq!(
        usage["total_tokens"].as_u64(),
        Some(usage["prompt_tokens"].as_u64().unwrap() + (n - 2) as u64)
    );
}

#[tokio::test]
async fn completion_without_stream_is_one_object_with_usage() {
    let emu = zero().await;
    let mut body = completion(false);
    body.as_object_mut().unwrap().remove("stream");
    body["max_tokens"] = json!(4);
    let resp = post(&emu, "/v1/chat/completions", body).await;
    assert!(content_type(&resp).starts_with("application/json"));
    let answer: Value = resp.json().await.unwrap();
    assert_eq!(answer["object"], "chat.completion");
    assert_eq!(answer["choices"][0]["message"]["role"], "assistant");
    assert_eq!(answer["choices"][0]["finish_reason"], "length");
    assert_eq!(answer["usage"]["completion_tokens"], 4);
}

#[tokio::test]
async fn no_usage_chunk_unless_asked_for() {
    let emu = zero().await;
    let mut body = completion(true);
    body.as_object_mut().unwrap().remove("stream_options");
    let (events, done) = events(post(&emu, "/v1/chat/completions", body).await).await;
    assert!(done);
    assert!(events.iter().all(|e| e.get("usage").is_none()));
    assert_eq!(
        events.last().unwrap()["choices"][0]["finish_reason"],
        "stop"
    );
}

#[tokio::test]
async fn openai_errors_have_the_openai_shape() {
    let emu = zero().await;
    let empty = json!({"model": MODEL, "messages": []});
    let resp = post(&emu, "/v1/chat/completions", empty).await;
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(
        body,
        json!({"error": {"message": "[] is too short - 'messages'", "type": "invalid_request_error", "param": null, "code": null}})
    );

    let mut unknown = completion(true);
    unknown["model"] = json!("nope");
    let resp = post(&emu, "/v1/chat/completions", unknown).await;
    assert_eq!(resp.status(), StatusCode::NOT_FOUND);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["error"]["type"], "not_found_error");
    assert_eq!(body["error"]["message"], "model 'nope' not found");

    emu.set_fault(MODEL, Fault::Busy).unwrap();
    let resp = post(&emu, "/v1/chat/completions", completion(true)).await;
    assert_eq!(resp.status(), StatusCode::SERVICE_UNAVAILABLE);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["error"]["type"], "api_error");
    assert_eq!(body["error"]["message"], BUSY_MESSAGE);
}

#[tokio::test]
async fn error_mid_stream_on_v1_ends_without_finish_or_done() {
    let emu = zero().await;
    emu.set_fault(
        MODEL,
        Fault::ErrorMidStream {
            chunks: 2,
            message: None,
        },
    )
    .unwrap();
    let (events, done) = events(post(&emu, "/v1/chat/completions", completion(true)).await).await;
    assert!(!done);
    assert_eq!(events.len(), 3);
    assert_eq!(events[2]["choices"][0]["delta"]["content"], "");
    assert!(
        events
            .iter()
            .all(|e| e["choices"][0]["finish_reason"].is_null())
    );
}

#[tokio::test]
async fn v1_models_lists_every_model() {
    let emu = zero().await;
    let models: Value = get_json(&emu, "/v1/models").await;
    assert_eq!(models["object"], "list");
    assert_eq!(models["data"][0]["id"], MODEL);
    assert_eq!(models["data"][0]["object"], "model");
    assert_eq!(models["data"][0]["owned_by"], "library");
}
