//! Every bad input and failure, with its status and the body shape its client expects.

use std::time::Duration;

use crate::backend::BackendError;

use super::*;

const CHAT: &str = r#"{"model":"signalbox","messages":[{"role":"user","content":"q"}]}"#;

/// An Ollama error: `{"error": "<message>"}` with Ollama's content type.
fn ollama_error(got: &Got) -> String {
    assert_eq!(got.content_type, "application/json; charset=utf-8");
    let v: serde_json::Value = serde_json::from_str(&got.body).unwrap();
    v["error"]
        .as_str()
        .unwrap_or_else(|| panic!("no error string in {}", got.body))
        .to_string()
}

/// An OpenAI error: `{"error":{"message","type","param","code"}}`; returns message and type.
fn openai_error(got: &Got) -> (String, String) {
    let v: serde_json::Value = serde_json::from_str(&got.body).unwrap();
    let e = &v["error"];
    assert_eq!(key_order(&got.body), ["error"]);
    for key in ["message", "type", "param", "code"] {
        assert!(e.get(key).is_some(), "missing {key} in {}", got.body);
    }
    (
        e["message"].as_str().unwrap().to_string(),
        e["type"].as_str().unwrap().to_string(),
    )
}

#[tokio::test]
async fn empty_body_is_400_missing_request_body() {
    let h = Harness::start(Script::default()).await;
    let got = h.post_got("/api/chat", "").await;
    assert_eq!(got.status, 400);
    assert_eq!(ollama_error(&got), "missing request body");
}

#[tokio::test]
async fn malformed_json_is_400_in_each_clients_shape() {
    let h = Harness::start(Script::default()).await;
    let native = h.post_got("/api/generate", "{not json").await;
    assert_eq!(native.status, 400);
    assert!(!ollama_error(&native).is_empty());

    let openai = h.post_got("/v1/chat/completions", "{not json").await;
    assert_eq!(openai.status, 400);
    assert_eq!(openai_error(&openai).1, "invalid_request_error");
}

#[tokio::test]
async fn wrong_field_type_is_400() {
    let h = Harness::start(Script::default()).await;
    let got = h
        .post_got("/api/chat", r#"{"model":7,"messages":[]}"#)
        .await;
    assert_eq!(got.status, 400);
    assert!(ollama_error(&got).contains("invalid type"));
}

#[tokio::test]
async fn missing_model_is_400_model_is_required() {
    let h = Harness::start(Script::default()).await;
    let native = h
        .post_got(
            "/api/chat",
            r#"{"messages":[{"role":"user","content":"q"}]}"#,
        )
        .await;
    assert_eq!(
        (native.status, ollama_error(&native).as_str()),
        (400, "model is required")
    );
    let openai = h
        .post_got(
            "/v1/chat/completions",
            r#"{"messages":[{"role":"user","content":"q"}]}"#,
        )
        .await;
    assert_eq!(openai.status, 400);
    assert_eq!(openai_error(&openai).0, "model is required");
}

#[tokio::test]
async fn empty_openai_messages_is_400_too_short() {
    let h = Harness::start(Script::default()).await;
    let got = h
        .post_got(
            "/v1/chat/completions",
            r#"{"model":"signalbox","messages":[]}"#,
        )
        .await;
    assert_eq!(got.status, 400);
    assert_eq!(openai_error(&got).0, "[] is too short - 'messages'");
}

#[tokio::test]
async fn unknown_model_is_404_naming_it_as_sent() {
    let h = Harness::start(Script::default()).await;
    let native = h
        .post_got(
            "/api/chat",
            r#"{"model":"llama3.2","messages":[{"role":"user","content":"q"}]}"#,
        )
        .await;
    assert_eq!(
        (native.status, ollama_error(&native).as_str()),
        (404, "model 'llama3.2' not found")
    );
    let generate = h.post_got("/api/generate", r#"{"prompt":"q"}"#).await;
    assert_eq!(
        (generate.status, ollama_error(&generate).as_str()),
        (404, "model '' not found")
    );
    let openai = h
        .post_got(
            "/v1/chat/completions",
            r#"{"model":"gpt-4o","messages":[{"role":"user","content":"q"}]}"#,
        )
        .await;
    assert_eq!(openai.status, 404);
    assert_eq!(
        openai_error(&openai),
        ("model 'gpt-4o' not found".into(), "not_found_error".into())
    );
    assert!(h.engine.requests.lock().unwrap().is_empty());
}

#[tokio::test]
async fn body_over_the_limit_is_413_in_each_clients_shape() {
    let config = ProxyConfig {
        max_body_bytes: 64,
        ..ProxyConfig::default()
    };
    let h = Harness::with_config(Script::default(), config).await;
    let big = format!(
        r#"{{"model":"signalbox","messages":[{{"role":"user","content":"{}"}}]}}"#,
        "x".repeat(100)
    );
    let native = h.post_got("/api/chat", &big).await;
    assert_eq!(native.status, 413);
    assert!(ollama_error(&native).contains("max_body_bytes"));
    let openai = h.post_got("/v1/chat/completions", &big).await;
    assert_eq!(openai.status, 413);
    assert_eq!(openai_error(&openai).1, "invalid_request_error");

    // Without Content-Length (chunked), the limit holds while reading.
    let chunks: Vec<Result<String, std::io::Error>> =
        vec![Ok(big[..50].to_string()), Ok(big[50..].to_string())];
    let response = h
        .client
        .post(h.url("/api/chat"))
        .body(reqwest::Body::wrap_stream(futures_util::stream::iter(
            chunks,
        )))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 413);
}

#[tokio::test]
async fn bad_priority_or_fallback_header_is_400() {
    let h = Harness::start(Script::default()).await;
    for (name, value) in [
        ("X-Signalbox-Priority", "urgent"),
        ("X-Signalbox-Fallback", "maybe"),
    ] {
        let response = h
            .client
            .post(h.url("/api/chat"))
            .header(name, value)
            .body(r#"{"model":"gemma3:1b","messages":[{"role":"user","content":"q"}]}"#)
            .send()
            .await
            .unwrap();
        let got = got(response).await;
        assert_eq!(got.status, 400, "{name}");
        assert!(ollama_error(&got).contains(name), "{}", got.body);
    }
}

#[tokio::test]
async fn full_queues_are_503_busy_with_retry_after_and_each_reason() {
    let h = Harness::start(Script::failing(vec![
        (
            "gemma3:1b",
            AttemptError::BulkheadFull {
                in_flight: 3,
                queued: 16,
            },
        ),
        (
            "gemma2:2b",
            AttemptError::CircuitOpen {
                next_probe_in: Duration::from_millis(2500),
            },
        ),
    ]))
    .await;
    let got = h.post_got("/api/chat", CHAT).await;
    assert_eq!(got.status, 503);
    assert_eq!(got.headers["retry-after"], "3");
    let message = ollama_error(&got);
    assert!(
        message.starts_with("server busy, please try again"),
        "{message}"
    );
    assert!(
        message.contains("gemma3:1b: bulkhead full") && message.contains("gemma2:2b: circuit open"),
        "{message}"
    );
    let v: serde_json::Value = serde_json::from_str(&got.body).unwrap();
    assert_eq!(v["attempts"].as_array().unwrap().len(), 2);
}

#[tokio::test]
async fn every_model_failing_is_503_with_each_reason_in_openai_shape() {
    let h = Harness::start(Script::failing(vec![
        (
            "gemma3:1b",
            AttemptError::Backend(BackendError::Status {
                status: 500,
                message: "runner died".into(),
            }),
        ),
        ("gemma2:2b", AttemptError::Backend(BackendError::CutShort)),
    ]))
    .await;
    let got = h
        .post_got(
            "/v1/chat/completions",
            r#"{"model":"signalbox","stream":true,"messages":[{"role":"user","content":"q"}]}"#,
        )
        .await;
    assert_eq!(got.status, 503);
    assert!(got.headers.contains_key("retry-after"));
    let (message, kind) = openai_error(&got);
    assert_eq!(kind, "api_error");
    assert!(
        message.contains("gemma3:1b: HTTP 500: runner died"),
        "{message}"
    );
    assert!(
        message.contains("gemma2:2b: stream ended before"),
        "{message}"
    );
}

fn fails_after_first_token(then: ReplyEvent) -> Script {
    Script {
        events: vec![
            (Duration::ZERO, routed("gemma3:1b")),
            (Duration::ZERO, ReplyEvent::Token("par".into())),
            (Duration::ZERO, then),
        ],
        hang: false,
    }
}

#[tokio::test]
async fn failure_after_streaming_started_is_an_error_line_without_done() {
    let failed = AllFailed {
        attempts: vec![(
            "gemma3:1b".into(),
            AttemptError::Backend(BackendError::StreamError {
                message: "oom".into(),
            }),
        )],
    };
    let h = Harness::start(fails_after_first_token(ReplyEvent::Failed(failed))).await;
    let got = h.post_got("/api/chat", CHAT).await;
    assert_eq!(got.status, 200);
    let lines = ndjson(&got.body);
    assert_eq!(lines.len(), 2);
    assert_eq!(lines[0]["message"]["content"], "par");
    assert_eq!(key_order(got.body.lines().last().unwrap()), ["error"]);
    assert!(lines[1]["error"].as_str().unwrap().contains("oom"));
}

#[tokio::test]
async fn fallback_after_streaming_started_ends_the_stream_with_an_error() {
    let retry = ReplyEvent::Retrying {
        failed: "gemma3:1b".into(),
        error: AttemptError::Backend(BackendError::CutShort),
        next: "gemma2:2b".into(),
    };
    let h = Harness::start(fails_after_first_token(retry)).await;
    let got = h
        .post_got(
            "/v1/chat/completions",
            r#"{"model":"signalbox","stream":true,"messages":[{"role":"user","content":"q"}]}"#,
        )
        .await;
    assert_eq!(got.status, 200);
    let events = sse(&got.body);
    assert_ne!(events.last().unwrap(), "[DONE]");
    let error: serde_json::Value = serde_json::from_str(events.last().unwrap()).unwrap();
    assert!(
        error["error"]["message"]
            .as_str()
            .unwrap()
            .contains("gemma3:1b failed after its answer had started")
    );
    h.engine.wait_cancelled(1).await;
}

#[tokio::test]
async fn non_streaming_answer_survives_a_late_fallback() {
    let script = Script {
        events: vec![
            (Duration::ZERO, routed("gemma3:1b")),
            (Duration::ZERO, ReplyEvent::Token("bro".into())),
            (
                Duration::ZERO,
                ReplyEvent::Retrying {
                    failed: "gemma3:1b".into(),
                    error: AttemptError::Backend(BackendError::CutShort),
                    next: "gemma2:2b".into(),
                },
            ),
            (Duration::ZERO, ReplyEvent::Token("whole".into())),
            (
                Duration::ZERO,
                ReplyEvent::Done(Answer {
                    fallbacks: vec![(
                        "gemma3:1b".into(),
                        AttemptError::Backend(BackendError::CutShort),
                    )],
                    ..answer("gemma2:2b", "whole")
                }),
            ),
        ],
        hang: false,
    };
    let h = Harness::start(script).await;
    let got = h
        .post_got(
            "/api/chat",
            r#"{"model":"signalbox","stream":false,"messages":[{"role":"user","content":"q"}]}"#,
        )
        .await;
    let v: serde_json::Value = serde_json::from_str(&got.body).unwrap();
    assert_eq!(v["message"]["content"], "whole");
    assert_eq!(got.headers["x-signalbox-model"], "gemma2:2b");
    assert_eq!(got.headers["x-signalbox-fallback-from"], "gemma3:1b");
}

#[tokio::test]
async fn unknown_route_is_404_in_each_clients_shape() {
    let h = Harness::start(Script::default()).await;
    let native = got(h.get("/api/nothing").await).await;
    assert_eq!(
        (native.status, native.body.as_str()),
        (404, "404 page not found")
    );
    let openai = got(h.get("/v1/nothing").await).await;
    assert_eq!(openai.status, 404);
    assert_eq!(openai_error(&openai).1, "not_found_error");
}
