//! Ollama's and OpenAI's official Python clients against the proxy over a scripted
//! engine (`tests/proxy` runs the same script against the real engine).
//!
//! Needs `.venv-clients`, made by `tests/python/setup.sh`. Without it the test says it
//! skipped, unless `SIGNALBOX_REQUIRE_PYTHON_CLIENTS=1`, which makes a missing venv fail.

use std::path::PathBuf;
use std::time::Duration;

use crate::backend::BackendError;

use super::*;

/// The venv's python, if set up.
pub fn venv_python() -> Option<PathBuf> {
    let python = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(".venv-clients/bin/python");
    if python.exists() {
        return Some(python);
    }
    assert!(
        std::env::var("SIGNALBOX_REQUIRE_PYTHON_CLIENTS").as_deref() != Ok("1"),
        "SIGNALBOX_REQUIRE_PYTHON_CLIENTS=1 but .venv-clients is missing: run tests/python/setup.sh"
    );
    println!("SKIPPED: python clients: no .venv-clients (run tests/python/setup.sh)");
    None
}

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

    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/python/clients.py");
    let output = run_bounded(
        std::process::Command::new(python)
            .arg(script)
            .arg(good.url(""))
            .arg(broken.url("")),
        Duration::from_secs(60),
    )
    .await;
    let stdout = String::from_utf8_lossy(&output.stdout);
    println!("{stdout}");
    assert!(
        output.status.success(),
        "clients.py failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
}

/// Run a command to its end, killing it past `limit`; polls so the runtime keeps serving.
pub async fn run_bounded(
    command: &mut std::process::Command,
    limit: Duration,
) -> std::process::Output {
    use std::process::Stdio;
    let mut child = command
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = tokio::time::Instant::now() + limit;
    while child.try_wait().unwrap().is_none() {
        if tokio::time::Instant::now() > deadline {
            let _ = child.kill();
            panic!("{command:?} took over {limit:?}");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    child.wait_with_output().unwrap()
}
