//! Cancellation, shutdown, security and the operational endpoints.

use std::time::Duration;

use super::*;

const CHAT: &str = r#"{"model":"signalbox","messages":[{"role":"user","content":"q"}]}"#;

fn first_token_then_hang() -> Script {
    Script {
        events: vec![
            (Duration::ZERO, routed("gemma3:1b")),
            (Duration::ZERO, ReplyEvent::Token("a".into())),
        ],
        hang: true,
    }
}

/// Read a streamed body up to and including its first newline.
async fn first_line(response: &mut reqwest::Response) -> String {
    let mut buffer = Vec::new();
    while !buffer.contains(&b'\n') {
        let chunk = tokio::time::timeout(Duration::from_secs(5), response.chunk())
            .await
            .unwrap()
            .unwrap();
        buffer.extend_from_slice(&chunk.expect("stream ended before a line"));
    }
    String::from_utf8(buffer).unwrap()
}

#[tokio::test]
async fn a_client_that_disconnects_mid_stream_cancels_the_request() {
    let h = Harness::start(first_token_then_hang()).await;
    let mut response = h.post("/api/chat", CHAT).await;
    assert!(first_line(&mut response).await.contains(r#""content":"a""#));
    assert_eq!(h.engine.cancelled(), 0);
    drop(response);
    h.engine.wait_cancelled(1).await;
}

#[tokio::test]
async fn a_client_that_disconnects_while_waiting_cancels_the_request() {
    let h = Harness::start(Script {
        events: vec![(Duration::ZERO, routed("gemma3:1b"))],
        hang: true,
    })
    .await;
    let request = h
        .client
        .post(h.url("/api/chat"))
        .body(r#"{"model":"signalbox","stream":false,"messages":[{"role":"user","content":"q"}]}"#)
        .timeout(Duration::from_millis(200))
        .send();
    assert!(request.await.unwrap_err().is_timeout());
    h.engine.wait_cancelled(1).await;
}

#[tokio::test]
async fn shutdown_lets_answers_in_flight_finish_then_returns() {
    let slow = Duration::from_millis(40);
    let mut events = vec![(Duration::ZERO, routed("gemma3:1b"))];
    events.extend((0..5).map(|i| (slow, ReplyEvent::Token(format!("t{i}")))));
    events.push((slow, ReplyEvent::Done(answer("gemma3:1b", "t0t1t2t3t4"))));
    let config = ProxyConfig {
        shutdown_grace: Duration::from_secs(10),
        ..ProxyConfig::default()
    };
    let mut h = Harness::with_config(
        Script {
            events,
            hang: false,
        },
        config,
    )
    .await;

    let mut response = h.post("/api/chat", CHAT).await;
    first_line(&mut response).await;
    h.shutdown();
    let rest = rest_of(response).await;
    assert!(
        rest.lines().last().unwrap().contains(r#""done":true"#),
        "{rest}"
    );

    let result = ended(&mut h.task).await;
    assert!(result.is_ok());
    assert_eq!(h.engine.cancelled(), 0);
    assert!(
        tokio::net::TcpStream::connect(h.addr).await.is_err(),
        "still accepting after shutdown"
    );
}

#[tokio::test]
async fn shutdown_cuts_answers_still_running_after_the_grace_period() {
    let config = ProxyConfig {
        shutdown_grace: Duration::from_millis(100),
        ..ProxyConfig::default()
    };
    let mut h = Harness::with_config(first_token_then_hang(), config).await;
    let mut response = h.post("/api/chat", CHAT).await;
    first_line(&mut response).await;
    h.shutdown();

    let rest = rest_of(response).await;
    let last: serde_json::Value = serde_json::from_str(rest.lines().last().unwrap()).unwrap();
    assert!(
        last["error"].as_str().unwrap().contains("shutting down"),
        "{rest}"
    );
    let result = ended(&mut h.task).await;
    assert!(result.is_ok());
    h.engine.wait_cancelled(1).await;
}

#[tokio::test]
async fn a_configured_token_is_required_except_for_liveness() {
    // Setting a variable would race with other tests reading the environment, so the
    // token is one every process has.
    let token = std::env::var("PATH").expect("PATH is set");
    let config = ProxyConfig {
        token_env: Some("PATH".into()),
        ..ProxyConfig::default()
    };
    let h = Harness::with_config(Script::answer("gemma3:1b", &["x"]), config).await;

    let refused = h.post_got("/api/chat", CHAT).await;
    assert_eq!(refused.status, 401);
    assert_eq!(refused.headers["www-authenticate"], "Bearer");
    assert!(serde_json::from_str::<serde_json::Value>(&refused.body).unwrap()["error"].is_string());
    let refused = got(h
        .client
        .get(h.url("/v1/models"))
        .bearer_auth("wrong")
        .send()
        .await
        .unwrap())
    .await;
    assert_eq!(refused.status, 401);
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&refused.body).unwrap()["error"]["type"],
        "authentication_error"
    );

    let allowed = h
        .client
        .post(h.url("/api/chat"))
        .bearer_auth(&token)
        .body(CHAT)
        .send()
        .await
        .unwrap();
    assert_eq!(allowed.status(), 200);
    assert_eq!(h.get("/healthz").await.status(), 200);
    assert_eq!(h.get("/").await.status(), 200);
}

/// The `Access-Control-Allow-Origin` the proxy answers a GET from `origin` with.
async fn allowed_origin(h: &Harness, origin: &str) -> Option<String> {
    let response = h
        .client
        .get(h.url("/api/tags"))
        .header("Origin", origin)
        .send()
        .await
        .unwrap();
    let allowed = response.headers().get("access-control-allow-origin")?;
    Some(allowed.to_str().unwrap().to_string())
}

#[tokio::test]
async fn no_cors_headers_unless_origins_are_configured() {
    let h = Harness::start(Script::default()).await;
    assert_eq!(allowed_origin(&h, "http://evil.example").await, None);

    let config = ProxyConfig {
        cors_origins: vec!["http://localhost:3000".into()],
        ..ProxyConfig::default()
    };
    let h = Harness::with_config(Script::default(), config).await;
    assert_eq!(
        allowed_origin(&h, "http://localhost:3000").await.as_deref(),
        Some("http://localhost:3000")
    );
    assert_eq!(allowed_origin(&h, "http://evil.example").await, None);
    let preflight = h
        .client
        .request(reqwest::Method::OPTIONS, h.url("/api/chat"))
        .header("Origin", "http://localhost:3000")
        .header("Access-Control-Request-Method", "POST")
        .send()
        .await
        .unwrap();
    assert_eq!(preflight.status(), 204);
    assert!(
        preflight.headers()["access-control-allow-methods"]
            .to_str()
            .unwrap()
            .contains("POST")
    );
}

#[tokio::test]
async fn healthz_is_503_naming_open_breakers_only_when_all_are_open() {
    let h = Harness::start(Script::default()).await;
    let healthy = got(h.get("/healthz").await).await;
    assert_eq!(healthy.status, 200);

    h.engine.snapshot.lock().unwrap().models[0] = model_snapshot("gemma3:1b", BreakerState::Open);
    let half = got(h.get("/healthz").await).await;
    assert_eq!(half.status, 200);

    h.engine.snapshot.lock().unwrap().models[1] = model_snapshot("gemma2:2b", BreakerState::Open);
    let down = got(h.get("/healthz").await).await;
    assert_eq!(down.status, 503);
    let v: serde_json::Value = serde_json::from_str(&down.body).unwrap();
    assert_eq!(v["status"], "unavailable");
    assert_eq!(v["open"], serde_json::json!(["gemma3:1b", "gemma2:2b"]));
    assert_eq!(v["models"][0]["next_probe_in_ms"], 7000);
}

#[tokio::test]
async fn metrics_count_responses_by_endpoint_and_status() {
    let h = Harness::start(Script::answer("gemma3:1b", &["x"])).await;
    h.post("/api/chat", CHAT).await.text().await.unwrap();
    h.post("/api/chat", CHAT).await.text().await.unwrap();
    h.post("/api/chat", "{").await.text().await.unwrap();
    let metrics = got(h.get("/metrics").await).await;
    assert!(
        metrics
            .content_type
            .starts_with("text/plain; version=0.0.4")
    );
    assert!(
        metrics
            .body
            .contains("signalbox_http_requests_total{endpoint=\"/api/chat\",status=\"200\"} 2\n")
    );
    assert!(
        metrics
            .body
            .contains("signalbox_http_requests_total{endpoint=\"/api/chat\",status=\"400\"} 1\n")
    );
    assert!(
        metrics
            .body
            .contains("signalbox_breaker_state{model=\"gemma3:1b\",state=\"closed\"} 1\n")
    );
    assert!(metrics.body.contains("signalbox_http_in_flight 0\n"));
}
