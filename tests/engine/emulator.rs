//! The engine through the real Ollama backend against the emulator: the limits and the
//! fallback hold on the wire, and a given-up attempt reaches the server as a cancel.

use signalbox::backend::TimeoutKind;
use signalbox::backend::{BackendError, Message};
use signalbox::config::ModelConfig;
use signalbox::emulator::{EmulatorConfig, EmulatorHandle, Fault, Latency, Profile, start};
use signalbox::engine::{AttemptError, Engine, Request, Target};
use tokio::time::Instant;

use super::*;

const FAST: &str = "tiny:1b";
const SPARE: &str = "tiny:2b";

fn profile() -> Profile {
    Profile {
        load: Duration::ZERO,
        first_token: Latency::Fixed(ms(100)),
        per_token: Latency::Fixed(ms(10)),
        answer_tokens: (5, 5),
        parallel: 0,
        load_penalty: 0.0,
        ..Profile::zero()
    }
}

async fn setup() -> (EmulatorHandle, Engine) {
    let models = vec![
        (FAST.to_string(), profile()),
        (SPARE.to_string(), profile()),
    ];
    let cfg = EmulatorConfig {
        models,
        seed: 7,
        speed: 1.0,
    };
    let emu = start("127.0.0.1:0".parse().unwrap(), cfg).await.unwrap();
    let mut config = super::config(0, limits(2, 1, 10));
    config.models = [FAST, SPARE]
        .iter()
        .map(|name| {
            let mut m = ModelConfig::ollama(*name, emu.url(), secs(10));
            m.timeouts = limits(2, 1, 10);
            m
        })
        .collect();
    let engine = Engine::try_new(&config).unwrap();
    (emu, engine)
}

fn ask_fast() -> Request {
    Request {
        target: Target::Model {
            name: FAST.into(),
            fallback: true,
        },
        ..Request::chat(vec![Message::user("hello")])
    }
}

fn timeout_kind(error: &AttemptError) -> Option<TimeoutKind> {
    match error {
        AttemptError::Backend(BackendError::Timeout { kind, .. }) => Some(*kind),
        _ => None,
    }
}

#[tokio::test(start_paused = true)]
async fn empty_chunks_on_the_wire_do_not_hold_off_the_first_token_limit() {
    let (emu, engine) = setup().await;
    emu.set_fault(FAST, Fault::EmptyChunks).unwrap();
    let start = Instant::now();
    let answer = engine.submit(ask_fast()).answer().await.unwrap();
    assert_eq!(&*answer.model, SPARE);
    assert_eq!(
        timeout_kind(&answer.fallbacks[0].1),
        Some(TimeoutKind::FirstToken)
    );
    assert!(
        start.elapsed() >= secs(2) && start.elapsed() < secs(3),
        "{:?}",
        start.elapsed()
    );
    assert!(!answer.text.is_empty());
    tokio::time::sleep(ms(50)).await;
    assert_eq!(
        emu.stats().model(FAST).cancelled,
        1,
        "the server stopped generating"
    );
    assert_eq!(engine.load(FAST).unwrap(), (0, 0));
}

#[tokio::test(start_paused = true)]
async fn a_server_that_hangs_mid_answer_is_caught_by_the_stall_limit() {
    let (emu, engine) = setup().await;
    emu.set_fault(FAST, Fault::HangAfter { chunks: 2 }).unwrap();
    let answer = engine.submit(ask_fast()).answer().await.unwrap();
    assert_eq!(&*answer.model, SPARE);
    assert_eq!(
        timeout_kind(&answer.fallbacks[0].1),
        Some(TimeoutKind::Stall)
    );
    tokio::time::sleep(ms(50)).await;
    assert_eq!(emu.stats().model(FAST).cancelled, 1);
}

#[tokio::test(start_paused = true)]
async fn busy_and_not_installed_on_the_wire_fall_back_without_breaker_failures() {
    let (emu, engine) = setup().await;
    emu.set_fault(FAST, Fault::Busy).unwrap();
    assert_eq!(
        &*engine.submit(ask_fast()).answer().await.unwrap().model,
        SPARE
    );
    emu.set_fault(FAST, Fault::NotInstalled).unwrap();
    let answer = engine.submit(ask_fast()).answer().await.unwrap();
    assert_eq!(
        answer.fallbacks[0].1,
        AttemptError::NotInstalled { model: FAST.into() }
    );
    let counters = engine.snapshot().model(FAST).unwrap().counters;
    assert_eq!(
        (counters.busy, counters.not_installed, counters.failures),
        (1, 1, 0)
    );
}

#[tokio::test(start_paused = true)]
async fn a_healthy_model_answers_with_the_servers_figures() {
    let (_emu, engine) = setup().await;
    let answer = engine.submit(ask_fast()).answer().await.unwrap();
    assert_eq!(&*answer.model, FAST);
    assert!(answer.fallbacks.is_empty());
    assert_eq!(answer.stats.completion_tokens, Some(5));
    assert_eq!(answer.time_to_first_token, Some(ms(100)));
    assert_eq!(answer.total, ms(140));
}
