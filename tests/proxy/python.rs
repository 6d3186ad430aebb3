//! Ollama's and OpenAI's official Python clients against the proxy over the real engine.
//!
//! Needs `.venv-clients`, made by `tests/python/setup.sh`. Without it the test prints a
//! SKIPPED line and passes, unless `SIGNALBOX_REQUIRE_PYTHON_CLIENTS=1`.

use std::time::Duration;

use crate::support::*;

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

    run_python_clients(python, &good.url(""), &broken.url("")).await;
    good.wait_idle().await;
    broken.wait_idle().await;
}
