//! What the proxy's unit tests (`src/proxy/tests`) and its integration tests (`tests/proxy`)
//! both need: strict NDJSON and SSE readers, wire-order JSON keys, the rest of a response
//! and the end of a server, and running the official Python clients.
//!
//! Both include this file by path, so it uses nothing but its dependencies.

use std::path::PathBuf;
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use tokio::task::JoinHandle;

/// The fields of Ollama's final NDJSON line, in its order.
pub const DONE_KEYS: [&str; 11] = [
    "model",
    "created_at",
    "message",
    "done",
    "done_reason",
    "total_duration",
    "load_duration",
    "prompt_eval_count",
    "prompt_eval_duration",
    "eval_count",
    "eval_duration",
];

/// Keys of a JSON object in the order they appear on the wire (top level only).
pub fn key_order(line: &str) -> Vec<String> {
    let mut keys = Vec::new();
    let mut depth = 0usize;
    let mut chars = line.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        match c {
            '{' | '[' => depth += 1,
            '}' | ']' => depth -= 1,
            '"' => {
                let start = i + 1;
                let mut end = start;
                while let Some((j, c)) = chars.next() {
                    if c == '\\' {
                        chars.next();
                    } else if c == '"' {
                        end = j;
                        break;
                    }
                }
                if depth == 1 && chars.peek().map(|(_, c)| *c) == Some(':') {
                    keys.push(line[start..end].to_string());
                }
            }
            _ => {}
        }
    }
    keys
}

/// Strict NDJSON: every line ends with `\n`, none is empty, each is one JSON object.
pub fn ndjson(body: &str) -> Vec<serde_json::Value> {
    assert!(
        body.ends_with('\n'),
        "NDJSON body must end with a newline: {body:?}"
    );
    body.lines()
        .map(|line| {
            assert!(!line.is_empty(), "empty NDJSON line in {body:?}");
            let value: serde_json::Value = serde_json::from_str(line)
                .unwrap_or_else(|e| panic!("line {line:?} is not JSON: {e}"));
            assert!(value.is_object(), "line {line:?} is not an object");
            value
        })
        .collect()
}

/// Strict SSE: events are `data: …` lines separated by blank lines, each payload JSON
/// except `[DONE]`; returns the payloads in order.
pub fn sse(body: &str) -> Vec<String> {
    assert!(
        body.ends_with("\n\n"),
        "SSE body must end with a blank line: {body:?}"
    );
    body.split_terminator("\n\n")
        .map(|event| {
            let data = event
                .strip_prefix("data: ")
                .unwrap_or_else(|| panic!("not a data event: {event:?}"));
            assert!(!data.contains('\n'), "multi-line event {event:?}");
            if data != "[DONE]" {
                serde_json::from_str::<serde_json::Value>(data)
                    .unwrap_or_else(|e| panic!("event {data:?} is not JSON: {e}"));
            }
            data.to_string()
        })
        .collect()
}

/// The rest of a response's body, which must end within 5 s.
pub async fn rest_of(response: reqwest::Response) -> String {
    tokio::time::timeout(Duration::from_secs(5), response.text())
        .await
        .expect("the body ended within 5 s")
        .expect("the body was read")
}

/// What a server's task returned; it must end within 5 s.
pub async fn ended(task: &mut JoinHandle<anyhow::Result<()>>) -> anyhow::Result<()> {
    tokio::time::timeout(Duration::from_secs(5), task)
        .await
        .expect("the server stopped within 5 s")
        .expect("the server task did not panic")
}

/// The python of `.venv-clients` (made by `tests/python/setup.sh`), if set up. Without it
/// the caller skips, saying so, unless `SIGNALBOX_REQUIRE_PYTHON_CLIENTS=1` makes a missing
/// venv fail.
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

/// Runs `tests/python/clients.py` against a proxy that answers and one whose answers break
/// midway, and fails the test with its output unless every check in it passed.
pub async fn run_python_clients(python: PathBuf, good: &str, broken: &str) {
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/python/clients.py");
    let output = run_bounded(
        Command::new(python).arg(script).arg(good).arg(broken),
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
async fn run_bounded(command: &mut Command, limit: Duration) -> Output {
    let mut child = command
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the command starts");
    let deadline = tokio::time::Instant::now() + limit;
    while child.try_wait().expect("the command's status").is_none() {
        if tokio::time::Instant::now() > deadline {
            let _ = child.kill();
            panic!("{command:?} took over {limit:?}");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    child.wait_with_output().expect("the command's output")
}
