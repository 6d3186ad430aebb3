//! Each Ollama endpoint's shape on the wire.

use reqwest::StatusCode;
use serde_json::{Value, json};
use signalbox::emulator::{OLLAMA_VERSION, Profile};

use crate::common::*;

#[tokio::test]
async fn chat_streams_ndjson_lines_ending_with_a_done_line() {
    let emu = zero().await;
    let resp = post(&emu, "/api/chat", chat_body(MODEL)).await;
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(content_type(&resp), "application/x-ndjson");
    let lines = Lines::new(resp).all().await;
    assert!(lines.len() >= 9, "{lines:?}");
    let (last, tokens) = lines.split_last().unwrap();
    for line in tokens {
        let chunk = parse(line);
        assert_eq!(chunk["model"], MODEL);
        assert_eq!(chunk["done"], false);
        assert_eq!(chunk["message"]["role"], "assistant");
        assert!(chunk["created_at"].as_str().unwrap().ends_with('Z'));
    }
    let done = parse(last);
    assert_eq!(done["done"], true);
    assert_eq!(done["done_reason"], "stop");
    assert_eq!(done["message"]["content"], "");
    assert_eq!(done["eval_count"], tokens.len() as u64);
}

#[tokio::test]
async fn done_line_keeps_ollamas_field_order() {
    let emu = emulator(vec![(MODEL, fixed(5, 1, 3))], 1).await;
    let lines = chat(&emu).await.all().await;
    let done = lines.last().unwrap();
    let order = [
        "\"model\"",
        "\"created_at\"",
        "\"message\"",
        "\"done\"",
        "\"done_reason\"",
        "\"total_duration\"",
        "\"prompt_eval_count\"",
        "\"prompt_eval_duration\"",
        "\"eval_count\"",
        "\"eval_duration\"",
    ];
    let positions: Vec<usize> = order.iter().map(|k| done.find(k).unwrap()).collect();
    assert!(positions.windows(2).all(|w| w[0] < w[1]), "{done}");
}

#[tokio::test(start_paused = true)]
async fn zero_metrics_are_left_out_of_the_done_line() {
    // On a paused clock the zero profile takes no time at all, so every duration is 0.
    let emu = zero().await;
    let lines = chat(&emu).await.all().await;
    let done = parse(lines.last().unwrap());
    for field in [
        "total_duration",
        "load_duration",
        "prompt_eval_duration",
        "eval_duration",
    ] {
        assert!(done.get(field).is_none(), "{field} in {done}");
    }
    assert!(done["prompt_eval_count"].as_u64().unwrap() > 0);
    assert!(done["eval_count"].as_u64().unwrap() > 0);
}

#[tokio::test]
async fn chat_with_stream_false_returns_one_json_object() {
    let emu = zero().await;
    let mut body = chat_body(MODEL);
    body["stream"] = json!(false);
    let resp = post(&emu, "/api/chat", body).await;
    assert_eq!(content_type(&resp), "application/json; charset=utf-8");
    let answer: Value = resp.json().await.unwrap();
    assert_eq!(answer["done"], true);
    assert_eq!(answer["done_reason"], "stop");
    assert!(answer["message"]["content"].as_str().unwrap().len() > 10);
}

#[tokio::test]
async fn generate_streams_response_and_ends_with_context() {
    let emu = zero().await;
    let resp = post(
        &emu,
        "/api/generate",
        json!({"model": MODEL, "prompt": "Say hi"}),
    )
    .await;
    assert_eq!(content_type(&resp), "application/x-ndjson");
    let lines = Lines::new(resp).all().await;
    assert!(parse(&lines[0])["response"].is_string());
    let last = lines.last().unwrap();
    let done = parse(last);
    assert_eq!(done["response"], "");
    assert!(done["context"].as_array().is_some_and(|c| !c.is_empty()));
    let context_at = last.find("\"context\"").unwrap();
    assert!(context_at > last.find("\"done_reason\"").unwrap());
    assert!(
        context_at < last.find("\"prompt_eval_count\"").unwrap(),
        "{last}"
    );
    let raw = post(
        &emu,
        "/api/generate",
        json!({"model": MODEL, "prompt": "hi", "raw": true}),
    )
    .await;
    let done = parse(Lines::new(raw).all().await.last().unwrap());
    assert!(done.get("context").is_none());
}

#[tokio::test]
async fn num_predict_cuts_the_answer_with_done_reason_length() {
    let emu = zero().await;
    let mut body = chat_body(MODEL);
    body["options"] = json!({"num_predict": 3});
    let lines = Lines::new(post(&emu, "/api/chat", body).await).all().await;
    assert_eq!(lines.len(), 4);
    let done = parse(&lines[3]);
    assert_eq!(done["done_reason"], "length");
    assert_eq!(done["eval_count"], 3);
}

#[tokio::test]
async fn model_is_echoed_exactly_as_sent_and_escaped_as_go_does() {
    let emu = emulator(vec![("a<b>&c:latest", Profile::zero())], 1).await;
    let resp = post(&emu, "/api/chat", chat_body("a<b>&c")).await;
    assert_eq!(resp.status(), StatusCode::OK);
    let first = Lines::new(resp).next().await.unwrap();
    assert!(
        first.starts_with(r#"{"model":"a\u003cb\u003e\u0026c","created_at":""#),
        "{first}"
    );
}

#[tokio::test]
async fn preload_answers_load_at_once_and_keep_alive_zero_unloads() {
    let emu = zero().await;
    let resp = post(&emu, "/api/chat", json!({"model": MODEL})).await;
    assert_eq!(content_type(&resp), "application/json; charset=utf-8");
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["done_reason"], "load");
    assert_eq!(body["message"]["content"], "");
    let body: Value = post(
        &emu,
        "/api/generate",
        json!({"model": MODEL, "keep_alive": 0}),
    )
    .await
    .json()
    .await
    .unwrap();
    assert_eq!(body["done_reason"], "unload");
    assert_eq!(body["response"], "");
}

async fn error_of(resp: reqwest::Response) -> (StatusCode, String, String) {
    let status = resp.status();
    let ct = content_type(&resp);
    let body: Value = resp.json().await.unwrap();
    (status, ct, body["error"].as_str().unwrap().to_string())
}

#[tokio::test]
async fn request_errors_use_ollamas_statuses_and_messages() {
    let emu = zero().await;
    let url = emu.url().join("/api/chat").unwrap();
    let empty = client().post(url.clone()).send().await.unwrap();
    let (status, ct, message) = error_of(empty).await;
    assert_eq!(
        (status, message.as_str()),
        (StatusCode::BAD_REQUEST, "missing request body")
    );
    assert_eq!(ct, "application/json; charset=utf-8");

    let truncated = client()
        .post(url.clone())
        .body("{\"model\":")
        .send()
        .await
        .unwrap();
    let (status, _, message) = error_of(truncated).await;
    assert_eq!(
        (status, message.as_str()),
        (StatusCode::BAD_REQUEST, "unexpected EOF")
    );

    let no_model = post(&emu, "/api/chat", json!({"messages": []})).await;
    let (status, _, message) = error_of(no_model).await;
    assert_eq!(
        (status, message.as_str()),
        (StatusCode::BAD_REQUEST, "model is required")
    );

    let unknown = post(&emu, "/api/chat", chat_body("llama3.2")).await;
    let (status, _, message) = error_of(unknown).await;
    assert_eq!(
        (status, message.as_str()),
        (StatusCode::NOT_FOUND, "model 'llama3.2' not found")
    );

    let generate = post(&emu, "/api/generate", json!({"prompt": "hi"})).await;
    let (status, _, message) = error_of(generate).await;
    assert_eq!(
        (status, message.as_str()),
        (StatusCode::NOT_FOUND, "model '' not found")
    );
    assert_eq!(emu.stats().unknown_model, 1);
}

#[tokio::test]
async fn root_answers_ollama_is_running_to_get_and_head() {
    let emu = zero().await;
    let resp = client().get(emu.url()).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(resp.text().await.unwrap(), "Ollama is running");
    let head = client().head(emu.url()).send().await.unwrap();
    assert_eq!(head.status(), StatusCode::OK);
    let version: Value = get_json(&emu, "/api/version").await;
    assert_eq!(version["version"], OLLAMA_VERSION);
}

#[tokio::test]
async fn tags_lists_installed_models_and_ps_only_loaded_ones() {
    let emu = emulator(
        vec![("a:1b", Profile::zero()), ("b:2b", Profile::zero())],
        1,
    )
    .await;
    let tags = get_json(&emu, "/api/tags").await;
    let names: Vec<&str> = tags["models"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["a:1b", "b:2b"]);
    assert_eq!(tags["models"][0]["details"]["format"], "gguf");
    assert_eq!(tags["models"][0]["digest"].as_str().unwrap().len(), 64);
    assert_eq!(get_json(&emu, "/api/ps").await, json!({"models": []}));
    Lines::new(post(&emu, "/api/chat", chat_body("b:2b")).await)
        .all()
        .await;
    let ps = get_json(&emu, "/api/ps").await;
    assert_eq!(ps["models"].as_array().unwrap().len(), 1);
    assert_eq!(ps["models"][0]["name"], "b:2b");
}

#[tokio::test]
async fn empty_emulator_lists_no_models() {
    let emu = emulator(vec![], 1).await;
    let tags: Value = get_json(&emu, "/api/tags").await;
    assert_eq!(tags, json!({"models": []}));
    let models: Value = get_json(&emu, "/v1/models").await;
    assert_eq!(models, json!({"object": "list", "data": null}));
}
