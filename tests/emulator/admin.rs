//! The admin endpoints and the handle's fault API.

use reqwest::StatusCode;
use serde_json::{Value, json};
use signalbox::emulator::Fault;

use crate::common::*;

async fn state(emu: &signalbox::emulator::EmulatorHandle) -> Value {
    get_json(emu, "/admin/state").await
}

#[tokio::test]
async fn admin_fault_applies_to_the_next_requests_and_shows_in_state() {
    let emu = zero().await;
    let resp = post(
        &emu,
        "/admin/fault",
        json!({"model": MODEL, "fault": "busy", "times": 1}),
    )
    .await;
    assert_eq!(resp.status(), StatusCode::OK);
    let model = &state(&emu).await["models"][0];
    assert_eq!(model["fault"], json!({"fault": "busy"}));
    assert_eq!(model["scope"], json!({"times": 1}));
    assert_eq!(
        post(&emu, "/api/chat", chat_body(MODEL)).await.status(),
        StatusCode::SERVICE_UNAVAILABLE
    );
    assert_eq!(
        post(&emu, "/api/chat", chat_body(MODEL)).await.status(),
        StatusCode::OK
    );
    let model = &state(&emu).await["models"][0];
    assert!(model.get("fault").is_none());
    assert_eq!(model["requests"], 2);
    assert_eq!(model["faulted"], 1);
}

#[tokio::test]
async fn admin_fault_with_fields_is_read_into_the_fault() {
    let emu = zero().await;
    let body = json!({"model": MODEL, "fault": "hang_after", "chunks": 3, "probability": 0.5});
    assert_eq!(
        post(&emu, "/admin/fault", body).await.status(),
        StatusCode::OK
    );
    let model = &state(&emu).await["models"][0];
    assert_eq!(model["fault"], json!({"fault": "hang_after", "chunks": 3}));
    assert_eq!(model["scope"], json!({"probability": 0.5}));
}

#[tokio::test]
async fn delete_and_fault_none_clear_a_fault() {
    let emu = zero().await;
    emu.set_fault(MODEL, Fault::Busy).unwrap();
    let url = emu.url().join(&format!("/admin/fault/{MODEL}")).unwrap();
    assert_eq!(
        client().delete(url).send().await.unwrap().status(),
        StatusCode::OK
    );
    assert_eq!(
        post(&emu, "/api/chat", chat_body(MODEL)).await.status(),
        StatusCode::OK
    );

    emu.set_fault(MODEL, Fault::Busy).unwrap();
    post(
        &emu,
        "/admin/fault",
        json!({"model": MODEL, "fault": "none"}),
    )
    .await;
    assert_eq!(
        post(&emu, "/api/chat", chat_body(MODEL)).await.status(),
        StatusCode::OK
    );

    emu.set_fault(MODEL, Fault::Busy).unwrap();
    client()
        .delete(emu.url().join("/admin/fault").unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(
        post(&emu, "/api/chat", chat_body(MODEL)).await.status(),
        StatusCode::OK
    );
}

#[tokio::test]
async fn admin_rejects_unknown_models_and_faults() {
    let emu = zero().await;
    let resp = post(
        &emu,
        "/admin/fault",
        json!({"model": "nope", "fault": "busy"}),
    )
    .await;
    assert_eq!(resp.status(), StatusCode::NOT_FOUND);
    let resp = post(
        &emu,
        "/admin/fault",
        json!({"model": MODEL, "fault": "explode"}),
    )
    .await;
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    let resp = post(
        &emu,
        "/admin/fault",
        json!({"model": MODEL, "fault": "busy", "probability": 2.0}),
    )
    .await;
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    assert!(emu.set_fault("nope", Fault::Busy).is_err());
}

#[tokio::test]
async fn shutdown_stops_the_server() {
    let emu = zero().await;
    let url = emu.url();
    emu.shutdown().await;
    assert!(client().get(url).send().await.is_err());
}

#[tokio::test]
async fn serve_runs_on_a_listener_bound_by_the_caller() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let cfg = signalbox::emulator::EmulatorConfig::zero([MODEL]);
    let emu = signalbox::emulator::serve(listener, cfg).unwrap();
    assert_eq!(emu.addr(), addr);
    assert_eq!(
        post(&emu, "/api/chat", chat_body(MODEL)).await.status(),
        StatusCode::OK
    );
}

#[tokio::test]
async fn config_with_a_model_twice_or_no_speed_is_rejected() {
    let addr = "127.0.0.1:0".parse().unwrap();
    let twice = signalbox::emulator::EmulatorConfig::zero(["a", "a:latest"]);
    assert!(signalbox::emulator::start(addr, twice).await.is_err());
    let stopped = signalbox::emulator::EmulatorConfig::zero([MODEL]).with_speed(0.0);
    assert!(signalbox::emulator::start(addr, stopped).await.is_err());
}
