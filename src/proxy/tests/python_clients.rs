//! Ollama's and OpenAI's official Python clients against the proxy over a scripted
//! engine (`tests/proxy` runs the same script against the real engine).
//!
//! Needs `.venv-clients`, made by `tests/python/setup.sh`. Without it the test says it
//! skipped, unless `SIGNALBOX_REQUIRE_PYTHON_CLIENTS=1`, which makes a missing venv fail.

use std::time::Duration;

use crate::backend::BackendError;

use super::*;

fn echo_script(model: &str) -> Script {
    let words = ["echo:", " name", " a", " prime", " above", " 10"];
    Script::answer(model, &words)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn official_python_clients_work_unchanged() {
    let Some(python) = venv_python() else { return };
    let good = Harness::with_models(
        echo_script("echo-a"),
        ProxyConfig::default(),
        &["echo-a", "echo-b"],
    )
    .await;
    let failed = AllFailed {
        attempts: vec![(
            "midway".into(),
            AttemptError::Backend(BackendError::StreamError {
                message: "boom".into(),
            }),
        )],
    };
    let broken_script = Script {
        events: vec![
            (Duration::ZERO, routed("midway")),
            (Duration::ZERO, ReplyEvent::Token("par".into())),
            (Duration::ZERO, ReplyEvent::Failed(failed)),
        ],
        hang: false,
    };
    let broken = Harness::with_models(broken_script, ProxyConfig::default(), &["midway"]).await;

    run_python_clients(python, &good.url(""), &broken.url("")).await;
}
