//! The `signalbox` binary as a user runs it: `ask` against the demo and against dead servers;
//! `simulate` on a built-in scenario and on a broken one.

use std::net::TcpListener;
use std::process::{Command, Output};

fn signalbox(args: &[&str], config_home: &std::path::Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_signalbox"))
        .args(args)
        .env("XDG_CONFIG_HOME", config_home)
        .env("XDG_STATE_HOME", config_home)
        .env_remove("OLLAMA_HOST")
        .env_remove("SIGNALBOX_STRATEGY")
        .output()
        .expect("the signalbox binary runs")
}

/// `signalbox ask --config CONFIG hi`.
fn ask_hi_with(config: &std::path::Path, config_home: &std::path::Path) -> Output {
    let config = config.to_str().expect("utf-8 path");
    signalbox(&["ask", "--config", config, "hi"], config_home)
}

fn temp_dir(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("signalbox-cli-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir
}

/// A loopback port with nothing listening on it.
fn dead_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    drop(listener);
    port
}

#[test]
fn ask_demo_prints_a_routed_answer_and_its_figures() {
    let home = temp_dir("demo");
    let out = signalbox(
        &["ask", "--demo", "--speed", "50", "--json", "hello"],
        &home,
    );
    assert!(
        out.status.success(),
        "stderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );

    let answer: serde_json::Value = serde_json::from_slice(&out.stdout).expect("one JSON object");
    assert_eq!(
        answer["model"], "gemma3:1b",
        "with nothing measured yet, the first request goes to the first model"
    );
    assert!(!answer["text"].as_str().unwrap_or_default().is_empty());
    assert!(answer["first_token_ms"].as_f64().is_some_and(|ms| ms > 0.0));
    assert!(
        answer["tokens_per_sec"]
            .as_f64()
            .is_some_and(|rate| rate > 0.0)
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("answered by gemma3:1b"), "stderr: {stderr}");
}

#[test]
fn ask_with_every_server_down_fails_and_names_each_model() {
    let home = temp_dir("down");
    let port = dead_port();
    let config = home.join("down.toml");
    std::fs::write(
        &config,
        format!(
            "[[model]]\nname = \"alpha\"\nurl = \"http://127.0.0.1:{port}\"\n\n\
             [[model]]\nname = \"beta\"\nurl = \"http://127.0.0.1:{port}\"\n"
        ),
    )
    .expect("write config");

    let out = ask_hi_with(&config, &home);
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("every model failed"), "stderr: {stderr}");
    assert!(stderr.contains("alpha: cannot connect"), "stderr: {stderr}");
    assert!(stderr.contains("beta: cannot connect"), "stderr: {stderr}");
}

#[test]
fn a_config_error_names_the_key_and_line() {
    let home = temp_dir("bad");
    let config = home.join("bad.toml");
    std::fs::write(&config, "[routing]\nstrategy = \"fastest\"\n").expect("write config");

    let out = ask_hi_with(&config, &home);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("bad.toml:2"), "stderr: {stderr}");
    assert!(stderr.contains("routing.strategy"), "stderr: {stderr}");
}

#[test]
fn simulate_prints_a_comparison_with_the_oracle_as_json() {
    let home = temp_dir("simulate");
    let args = [
        "simulate",
        "original-demo",
        "--strategies",
        "p95,peak-ewma+hedge",
        "--requests",
        "200",
        "--json",
    ];
    let out = signalbox(&args, &home);
    assert!(
        out.status.success(),
        "stderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).expect("one JSON object");
    assert_eq!(report["requests"], 200);
    let names: Vec<&str> = report["strategies"]
        .as_array()
        .expect("strategies")
        .iter()
        .filter_map(|s| s["strategy"].as_str())
        .collect();
    assert_eq!(names, ["p95", "peak-ewma+hedge", "oracle"]);
    assert_eq!(report["strategies"][2]["vs_oracle"]["ttft_p95"], 1.0);
    assert_eq!(
        signalbox(&args, &home).stdout,
        out.stdout,
        "same seed, same report"
    );
}

#[test]
fn simulate_names_the_line_and_key_of_a_broken_scenario() {
    let home = temp_dir("simulate-broken");
    let path = home.join("broken.toml");
    std::fs::write(
        &path,
        "[arrivals]\npoisson = 1.0\ncount = 10\n[[model]]\nname = \"a\"\nfrist_token = { min = \"1s\", max = \"2s\" }\n",
    )
    .expect("write scenario");
    let out = signalbox(&["simulate", path.to_str().expect("utf-8 path")], &home);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("line 6") && stderr.contains("frist_token"),
        "stderr: {stderr}"
    );
}
