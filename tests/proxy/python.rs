//! Ollama's and OpenAI's official Python clients against the proxy over the real engine.
//!
//! Needs `.venv-clients`, made by `tests/python/setup.sh`. Without it the test prints a
//! SKIPPED line and passes, unless `SIGNALBOX_REQUIRE_PYTHON_CLIENTS=1`.

use std::path::PathBuf;
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use crate::support::*;

fn venv_python() -> Option<PathBuf> {
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

/// Run to the end, killing the command past `limit`; polls so the proxies keep serving.
async fn run_bounded(command: &mut Command, limit: Duration) -> Output {
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn official_python_clients_work_unchanged_against_the_engine() {
    let Some(python) = venv_python() else { return };
    let echo = Behaviour::Echo {
        delay: Duration::ZERO,
    };
    let good = Running::start(vec![
        TestModel::new("echo-a", echo),
        TestModel::new("echo-b", echo),
    ])
    .await;
    let broken = Running::start(vec![TestModel::new("midway", Behaviour::Midway)]).await;

    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/python/clients.py");
    let output = run_bounded(
        Command::new(python)
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
    good.wait_idle().await;
    broken.wait_idle().await;
}
