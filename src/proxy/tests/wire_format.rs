//! Exact wire format of answers: NDJSON lines, the done line, SSE chunks, headers.

use std::time::Duration;

use super::*;

#[tokio::test]
async fn chat_streams_ndjson_lines_ending_with_ollamas_done_line() {
    let h = Harness::start(Script::answer("gemma3:1b", &["Hel", "lo <b>"])).await;
    let got = h
        .post_got(
            "/api/chat",
            r#"{"model":"signalbox","messages":[{"role":"user","content":"hi"}]}"#,
        )
        .await;

    assert_eq!(got.status, 200);
    assert_eq!(got.content_type, "application/x-ndjson");
    assert_eq!(got.headers["x-signalbox-model"], "gemma3:1b");
    let lines = ndjson(&got.body);
    assert_eq!(lines.len(), 3);
    for (line, text) in got.body.lines().zip(["Hel", "lo <b>"]) {
        assert_eq!(key_order(line), ["model", "created_at", "message", "done"]);
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        assert_eq!(v["model"], "signalbox", "model echoes what the client sent");
        assert_eq!(
            v["message"],
            serde_json::json!({"role": "assistant", "content": text})
        );
        assert_eq!(v["done"], false);
        assert!(is_rfc3339_utc(v["created_at"].as_str().unwrap()), "{line}");
    }
    assert!(
        got.body.contains(r#""content":"lo \u003cb\u003e""#),
        "Go escaping: {}",
        got.body
    );
    let done_line = got.body.lines().last().unwrap();
    assert_eq!(key_order(done_line), DONE_KEYS);
    let done = &lines[2];
    assert_eq!(done["message"]["content"], "");
    assert_eq!(done["done"], true);
    assert_eq!(done["done_reason"], "stop");
    assert_eq!(done["load_duration"], 1_502_119_844u64);
    assert_eq!(done["prompt_eval_count"], 27);
    assert_eq!(done["eval_count"], 3);
    assert!(done["total_duration"].as_u64().unwrap() > 0);
}

#[tokio::test]
async fn chat_with_stream_false_returns_one_object_with_the_whole_text() {
    let h = Harness::start(Script::answer("gemma2:2b", &["Ele", "ven."])).await;
    let got = h
        .post_got(
            "/api/chat",
            r#"{"model":"gemma2:2b","stream":false,"messages":[{"role":"user","content":"q"}]}"#,
        )
        .await;

    assert_eq!(got.status, 200);
    assert_eq!(got.content_type, "application/json; charset=utf-8");
    assert!(!got.body.ends_with('\n'));
    assert_eq!(key_order(&got.body), DONE_KEYS);
    let v: serde_json::Value = serde_json::from_str(&got.body).unwrap();
    assert_eq!(v["model"], "gemma2:2b");
    assert_eq!(v["message"]["content"], "Eleven.");
}

#[tokio::test]
async fn generate_streams_response_fields_and_omits_unknown_metrics() {
    let mut script = Script::answer("gemma3:1b", &["Hi"]);
    if let Some((_, ReplyEvent::Done(answer))) = script.events.last_mut() {
        answer.stats = FinalStats::default();
    }
    let h = Harness::start(script).await;
    let got = h
        .post_got(
            "/api/generate",
            r#"{"model":"gemma3:1b","prompt":"Say hi"}"#,
        )
        .await;

    let lines = ndjson(&got.body);
    assert_eq!(
        key_order(got.body.lines().next().unwrap()),
        ["model", "created_at", "response", "done"]
    );
    assert_eq!(lines[0]["response"], "Hi");
    assert_eq!(
        key_order(got.body.lines().last().unwrap()),
        [
            "model",
            "created_at",
            "response",
            "done",
            "done_reason",
            "total_duration"
        ]
    );
    assert_eq!(
        h.engine.last_request().messages,
        vec![crate::backend::Message::user("Say hi")]
    );
}

#[tokio::test]
async fn openai_stream_sends_role_content_finish_usage_then_done() {
    let h = Harness::start(Script::answer("gemma3:1b", &["Ele", "ven"])).await;
    let got = h
        .post_got(
            "/v1/chat/completions",
            r#"{"model":"signalbox","stream":true,"stream_options":{"include_usage":true},
                "messages":[{"role":"user","content":"q"}]}"#,
        )
        .await;

    assert_eq!(got.status, 200);
    assert_eq!(got.content_type, "text/event-stream");
    let events = sse(&got.body);
    assert_eq!(events.last().unwrap(), "[DONE]");
    let chunks: Vec<serde_json::Value> = events[..events.len() - 1]
        .iter()
        .map(|e| serde_json::from_str(e).unwrap())
        .collect();
    assert_eq!(
        chunks.len(),
        5,
        "role, two contents, finish, usage: {events:?}"
    );
    let id = &chunks[0]["id"];
    assert!(id.as_str().unwrap().starts_with("chatcmpl-"));
    for c in &chunks {
        assert_eq!(&c["id"], id);
        assert_eq!(c["object"], "chat.completion.chunk");
        assert_eq!(c["model"], "signalbox");
        assert_eq!(c["created"], chunks[0]["created"]);
    }
    assert_eq!(
        chunks[0]["choices"][0]["delta"],
        serde_json::json!({"role": "assistant", "content": ""})
    );
    assert_eq!(
        chunks[1]["choices"][0]["delta"],
        serde_json::json!({"content": "Ele"})
    );
    assert_eq!(
        chunks[2]["choices"][0]["delta"],
        serde_json::json!({"content": "ven"})
    );
    assert_eq!(chunks[3]["choices"][0]["delta"], serde_json::json!({}));
    assert_eq!(chunks[3]["choices"][0]["finish_reason"], "stop");
    assert_eq!(chunks[4]["choices"], serde_json::json!([]));
    assert_eq!(
        chunks[4]["usage"],
        serde_json::json!({"prompt_tokens": 27, "completion_tokens": 3, "total_tokens": 30})
    );
}

#[tokio::test]
async fn openai_stream_without_usage_ends_finish_then_done() {
    let h = Harness::start(Script::answer("gemma3:1b", &["x"])).await;
    let got = h
        .post_got(
            "/v1/chat/completions",
            r#"{"model":"gemma3:1b","stream":true,"messages":[{"role":"user","content":"q"}]}"#,
        )
        .await;
    let events = sse(&got.body);
    assert_eq!(events.len(), 4, "{events:?}");
    assert!(!got.body.contains("usage"));
    assert!(events[2].contains(r#""finish_reason":"stop""#));
}

#[tokio::test]
async fn openai_without_stream_returns_a_completion() {
    let h = Harness::start(Script::answer("gemma2:2b", &["Ele", "ven."])).await;
    let got = h
        .post_got(
            "/v1/chat/completions",
            r#"{"model":"gemma2:2b","messages":[{"role":"user","content":"q"}]}"#,
        )
        .await;
    assert_eq!(got.status, 200);
    assert!(got.content_type.starts_with("application/json"));
    let v: serde_json::Value = serde_json::from_str(&got.body).unwrap();
    assert_eq!(v["object"], "chat.completion");
    assert_eq!(
        v["choices"][0]["message"],
        serde_json::json!({"role": "assistant", "content": "Eleven."})
    );
    assert_eq!(v["choices"][0]["finish_reason"], "stop");
    assert_eq!(v["usage"]["total_tokens"], 30);
}

#[tokio::test]
async fn model_names_headers_and_origin_shape_the_engine_request() {
    let h = Harness::start(Script::answer("gemma3:1b", &["x"])).await;
    let chat = |model: &str| {
        format!(
            r#"{{"model":"{model}","stream":false,"messages":[{{"role":"user","content":"q"}}]}}"#
        )
    };

    h.post("/api/chat", &chat("signalbox")).await;
    let r = h.engine.last_request();
    assert_eq!(r.target, Target::Routed);
    assert_eq!(r.priority, Priority::Background);
    assert!(matches!(&r.origin, Origin::Proxy(addr) if addr.starts_with("127.0.0.1:")));

    h.post("/api/chat", &chat("gemma3:1b")).await;
    assert_eq!(
        h.engine.last_request().target,
        Target::Model {
            name: "gemma3:1b".into(),
            fallback: false
        }
    );

    h.client
        .post(h.url("/api/chat"))
        .header("X-Signalbox-Fallback", "true")
        .header("X-Signalbox-Priority", "interactive")
        .body(chat("gemma2:2b"))
        .send()
        .await
        .unwrap();
    let r = h.engine.last_request();
    assert_eq!(
        r.target,
        Target::Model {
            name: "gemma2:2b".into(),
            fallback: true
        }
    );
    assert_eq!(r.priority, Priority::Interactive);
}

#[tokio::test]
async fn a_fallback_before_the_first_token_is_told_in_headers() {
    let script = Script {
        events: vec![
            (Duration::ZERO, routed("gemma3:1b")),
            (
                Duration::ZERO,
                ReplyEvent::Retrying {
                    failed: "gemma3:1b".into(),
                    error: AttemptError::CircuitOpen {
                        next_probe_in: Duration::from_secs(3),
                    },
                    next: "gemma2:2b".into(),
                },
            ),
            (Duration::ZERO, ReplyEvent::Token("ok".into())),
            (Duration::ZERO, ReplyEvent::Done(answer("gemma2:2b", "ok"))),
        ],
        hang: false,
    };
    let h = Harness::start(script).await;
    let got = h
        .post_got(
            "/api/chat",
            r#"{"model":"signalbox","messages":[{"role":"user","content":"q"}]}"#,
        )
        .await;
    assert_eq!(got.headers["x-signalbox-model"], "gemma2:2b");
    assert_eq!(got.headers["x-signalbox-fallbacks"], "1");
    assert_eq!(got.headers["x-signalbox-fallback-from"], "gemma3:1b");
    assert_eq!(ndjson(&got.body).last().unwrap()["done"], true);
}

#[tokio::test]
async fn preload_call_answers_load_at_once() {
    let h = Harness::start(Script::default()).await;
    let got = h.post_got("/api/chat", r#"{"model":"gemma3:1b"}"#).await;
    assert_eq!(got.status, 200);
    assert_eq!(got.content_type, "application/json; charset=utf-8");
    let v: serde_json::Value = serde_json::from_str(&got.body).unwrap();
    assert_eq!(v["done_reason"], "load");
    assert_eq!(v["message"]["content"], "");
    let got = super::got(
        h.post("/api/generate", r#"{"model":"gemma3:1b","keep_alive":0}"#)
            .await,
    )
    .await;
    let v: serde_json::Value = serde_json::from_str(&got.body).unwrap();
    assert_eq!(v["done_reason"], "unload");
    assert!(h.engine.requests.lock().unwrap().is_empty());
}

#[tokio::test]
async fn listings_name_the_configured_models_and_signalbox() {
    let h = Harness::start(Script::default()).await;
    let tags = got(h.get("/api/tags").await).await;
    assert_eq!(tags.content_type, "application/json; charset=utf-8");
    let v: serde_json::Value = serde_json::from_str(&tags.body).unwrap();
    let names: Vec<&str> = v["models"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["gemma3:1b", "gemma2:2b", "signalbox"]);
    assert!(is_rfc3339_utc(
        v["models"][0]["modified_at"].as_str().unwrap()
    ));

    let models: serde_json::Value =
        serde_json::from_str(&got(h.get("/v1/models").await).await.body).unwrap();
    assert_eq!(models["object"], "list");
    assert_eq!(models["data"][2]["id"], "signalbox");

    let ps: serde_json::Value =
        serde_json::from_str(&got(h.get("/api/ps").await).await.body).unwrap();
    assert_eq!(ps, serde_json::json!({"models": []}));

    let version: serde_json::Value =
        serde_json::from_str(&got(h.get("/api/version").await).await.body).unwrap();
    assert_eq!(version["version"], env!("CARGO_PKG_VERSION"));
}

#[tokio::test]
async fn root_answers_get_and_head_like_ollama() {
    let h = Harness::start(Script::default()).await;
    let root = got(h.get("/").await).await;
    assert_eq!(
        (root.status, root.body.as_str()),
        (200, "Ollama is running")
    );
    let head = h.client.head(h.url("/")).send().await.unwrap();
    assert_eq!(head.status(), 200);
    assert_eq!(head.text().await.unwrap(), "");
}

#[tokio::test]
async fn show_describes_known_models_and_404s_others() {
    let h = Harness::start(Script::default()).await;
    let shown = h.post_got("/api/show", r#"{"model":"signalbox"}"#).await;
    assert_eq!(shown.status, 200);
    assert_eq!(
        key_order(&shown.body),
        ["details", "model_info", "capabilities", "modified_at"]
    );
    let legacy = h.post_got("/api/show", r#"{"name":"gemma3:1b"}"#).await;
    assert_eq!(legacy.status, 200);
    let missing = h.post_got("/api/show", r#"{"model":"llama3.2"}"#).await;
    assert_eq!(missing.status, 404);
    assert_eq!(
        missing.body,
        r#"{"error":"model 'llama3.2:latest' not found"}"#
    );
    let empty = h.post_got("/api/show", r#"{}"#).await;
    assert_eq!(
        (empty.status, empty.body.as_str()),
        (400, r#"{"error":"model is required"}"#)
    );
}
