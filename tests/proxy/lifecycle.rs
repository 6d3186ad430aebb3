//! Cancellation by disconnecting, and shutdown.

use std::sync::atomic::Ordering;
use std::time::Duration;

use signalbox::config::ProxyConfig;

use crate::support::*;

async fn first_chunk(response: &mut reqwest::Response) -> String {
    let chunk = tokio::time::timeout(Duration::from_secs(5), response.chunk())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    String::from_utf8(chunk.to_vec()).unwrap()
}

/// Ask `model` for a streamed answer to `prompt`; the response is back once its head is.
async fn stream_chat(proxy: &Running, model: &str, prompt: &str) -> reqwest::Response {
    reqwest::Client::builder()
        .no_proxy()
        .build()
        .unwrap()
        .post(proxy.url("/api/chat"))
        .body(chat_body(model, prompt, true))
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn a_client_that_disconnects_cancels_the_upstream_request() {
    let proxy = Running::start(vec![TestModel::new("hang", Behaviour::Hang)]).await;
    let mut response = stream_chat(&proxy, "hang", "q").await;
    assert!(first_chunk(&mut response).await.contains("echo:"));
    assert_eq!(proxy.engine.snapshot().models[0].in_flight, 1);
    drop(response);
    proxy.wait_cancelled(0, 1).await;
    proxy.wait_idle().await;
}

#[tokio::test]
async fn shutdown_drains_answers_in_flight_then_returns() {
    let slow = Behaviour::Echo {
        delay: Duration::from_millis(30),
    };
    let config = ProxyConfig {
        shutdown_grace: Duration::from_secs(10),
        ..ProxyConfig::default()
    };
    let mut proxy = Running::with_config(vec![TestModel::new("slow", slow)], config).await;
    let mut response = stream_chat(&proxy, "slow", "a b c d e").await;
    first_chunk(&mut response).await;
    proxy.shutdown();

    let rest = rest_of(response).await;
    assert!(
        rest.lines().last().unwrap().contains(r#""done":true"#),
        "{rest}"
    );
    let result = ended(&mut proxy.task).await;
    assert!(result.is_ok(), "{result:?}");
    assert_eq!(proxy.backends[0].cancelled.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn shutdown_cuts_answers_that_outlast_the_grace_period() {
    let config = ProxyConfig {
        shutdown_grace: Duration::from_millis(100),
        ..ProxyConfig::default()
    };
    let mut proxy =
        Running::with_config(vec![TestModel::new("hang", Behaviour::Hang)], config).await;
    let mut response = stream_chat(&proxy, "hang", "q").await;
    first_chunk(&mut response).await;
    proxy.shutdown();

    let rest = rest_of(response).await;
    assert!(
        rest.lines().last().unwrap().contains("shutting down"),
        "{rest}"
    );
    let result = ended(&mut proxy.task).await;
    assert!(result.is_ok(), "{result:?}");
    proxy.wait_cancelled(0, 1).await;
}
