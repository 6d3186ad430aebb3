//! The whole path against a real model: two llama.cpp servers (Gemma 3 270M) behind the
//! real OpenAI-compatible backend and the engine.
//!
//! Needs `SIGNALBOX_REAL_MODEL` (a GGUF file) and `SIGNALBOX_PYTHON` (a Python with
//! `llama-cpp-python[server]`); `tests/real_model.sh` sets both up and runs this test with
//! `--ignored`. Without them the test says why and returns.
//!
//! It checks structure and timing, never wording: the model is a base model whose answers
//! ramble. One model's server is killed while it streams; its breaker must open and the
//! other model answer; once the server is back, a half-open probe must close the breaker
//! and traffic return to it.

use std::fs::File;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use futures_util::StreamExt;
use signalbox::backend::{BackendError, Message};
use signalbox::config::{Config, ModelBuilder, StrategyKind};
use signalbox::engine::{
    Answer, AttemptError, BreakerState, Engine, ModelSnapshot, ReplyEvent, Request, Target,
};
use tokio::time::{Instant, sleep, timeout};

const A: &str = "tiny-a";
const B: &str = "tiny-b";
/// How long a server may take to load the model and answer `/v1/models`.
const READY_BOUND: Duration = Duration::from_secs(120);
/// How long any one reply may take, queueing behind another on a 2-core machine included.
const REPLY_BOUND: Duration = Duration::from_secs(90);
const OPEN_BASE: Duration = Duration::from_secs(2);

/// A llama.cpp server serving the model under one name. Killed when dropped, on every
/// exit path, a failing assertion included.
struct Server {
    alias: &'static str,
    port: u16,
    python: PathBuf,
    model: PathBuf,
    log: PathBuf,
    child: Option<Child>,
    /// When the process was last started.
    spawned: Instant,
}

impl Server {
    fn start(alias: &'static str, python: &Path, model: &Path) -> Server {
        let mut server = Server {
            alias,
            port: free_port(),
            python: python.to_path_buf(),
            model: model.to_path_buf(),
            log: std::env::temp_dir().join(format!(
                "signalbox-real-model-{}-{alias}.log",
                std::process::id()
            )),
            child: None,
            spawned: Instant::now(),
        };
        server.spawn();
        server
    }

    /// Starts the process on the server's port (again, after a kill).
    fn spawn(&mut self) {
        assert!(self.child.is_none(), "{} is running already", self.alias);
        let log = File::create(&self.log).expect("create the server log");
        let child = Command::new(&self.python)
            .args(["-m", "llama_cpp.server", "--model"])
            .arg(&self.model)
            .args(["--model_alias", self.alias, "--chat_format", "gemma"])
            .args(["--interrupt_requests", "False"])
            .args(["--n_threads", "1", "--n_threads_batch", "2"])
            .args(["--host", "127.0.0.1", "--port", &self.port.to_string()])
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("clone the log handle"))
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", self.python.display()));
        self.child = Some(child);
        self.spawned = Instant::now();
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Kills the process at once (SIGKILL) and reaps it.
    fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Waits (bounded) until `/v1/models` answers 200, and says how long after its start
    /// that was; fails with the server's log if it exits or takes too long.
    async fn wait_ready(&mut self) -> Duration {
        let start = self.spawned;
        let client = reqwest::Client::builder().no_proxy().build().unwrap();
        let url = format!("{}/v1/models", self.url());
        while start.elapsed() < READY_BOUND {
            if let Some(Ok(Some(status))) = self.child.as_mut().map(Child::try_wait) {
                panic!("{} exited with {status}:\n{}", self.alias, self.log_tail());
            }
            let asked = client.get(&url).timeout(Duration::from_secs(2)).send();
            if let Ok(resp) = asked.await
                && resp.status().is_success()
            {
                return start.elapsed();
            }
            sleep(Duration::from_millis(250)).await;
        }
        panic!(
            "{} did not answer {url} within {READY_BOUND:?}:\n{}",
            self.alias,
            self.log_tail()
        );
    }

    fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(30)..].join("\n")
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill();
        let _ = std::fs::remove_file(&self.log);
    }
}

/// A port nobody listens on now. Another process could take it before the server binds;
/// the server then fails to start and the test says so with its log.
fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    listener.local_addr().unwrap().port()
}

/// Two models on the two servers: short answers at temperature 0, a breaker that opens
/// after 2 failures for 2 s, limits generous enough for a busy 2-core machine.
fn config(a: &Server, b: &Server) -> Config {
    let model = |name: &str, url: String| {
        ModelBuilder::openai(name, url, Duration::from_secs(60))
            .first_token_timeout(Duration::from_secs(30))
            .stall_timeout(Duration::from_secs(15))
            .failure_threshold(2)
            .open_period(OPEN_BASE, OPEN_BASE * 4)
            .option("num_predict", 16)
            .option("temperature", 0)
    };
    Config::builder()
        .model(model(A, a.url()))
        .model(model(B, b.url()))
        .strategy(StrategyKind::RoundRobin)
        .warmup(1)
        .probe_every(0)
        .build()
        .expect("a valid configuration")
}

fn ask(target: Target) -> Request {
    Request {
        target,
        ..Request::chat(vec![Message::user(
            "A railway signal box controls the points and the signals. It",
        )])
    }
}

fn to(model: &str) -> Target {
    Target::Model {
        name: model.into(),
        fallback: true,
    }
}

/// A reply read to its end: the tokens and the answer.
struct Seen {
    tokens: usize,
    answer: Answer,
}

async fn answer(engine: &Engine, request: Request) -> Seen {
    let mut reply = engine.submit(request);
    let mut tokens = 0;
    let read = async {
        while let Some(event) = reply.next().await {
            match event {
                ReplyEvent::Token(_) => tokens += 1,
                ReplyEvent::Done(answer) => return answer,
                ReplyEvent::Failed(failed) => panic!("no model answered: {failed}"),
                _ => {}
            }
        }
        panic!("the reply ended without an answer")
    };
    let answer = timeout(REPLY_BOUND, read)
        .await
        .expect("an answer within the bound");
    Seen { tokens, answer }
}

fn snapshot(engine: &Engine, name: &str) -> ModelSnapshot {
    engine.snapshot().model(name).cloned().unwrap()
}

fn setup() -> Option<(PathBuf, PathBuf)> {
    let model = std::env::var_os("SIGNALBOX_REAL_MODEL").map(PathBuf::from);
    let python = std::env::var_os("SIGNALBOX_PYTHON").map(PathBuf::from);
    match (model, python) {
        (Some(model), Some(python)) => {
            assert!(model.is_file(), "SIGNALBOX_REAL_MODEL: no file {model:?}");
            assert!(python.is_file(), "SIGNALBOX_PYTHON: no file {python:?}");
            Some((model, python))
        }
        _ => {
            println!(
                "real-model test not run: set SIGNALBOX_REAL_MODEL to a GGUF file and \
                 SIGNALBOX_PYTHON to a Python with llama-cpp-python[server], or run \
                 tests/real_model.sh"
            );
            None
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs a real model and llama.cpp's server: run tests/real_model.sh"]
async fn a_real_model_streams_and_a_killed_server_is_routed_around_until_it_returns() {
    let Some((model_file, python)) = setup() else {
        return;
    };
    let mut a = Server::start(A, &python, &model_file);
    let mut b = Server::start(B, &python, &model_file);
    let (ready_a, ready_b) = (a.wait_ready().await, b.wait_ready().await);
    println!("servers ready after their start: {A} {ready_a:.1?}, {B} {ready_b:.1?}");
    let engine = Engine::try_new(&config(&a, &b)).expect("the backends build");

    // A streamed answer from each, with its first token and rate measured.
    for name in [A, B] {
        let seen = answer(&engine, ask(to(name))).await;
        let answer = &seen.answer;
        assert_eq!(&*answer.model, name);
        assert!(answer.fallbacks.is_empty(), "{:?}", answer.fallbacks);
        assert!(seen.tokens > 1, "{} tokens", seen.tokens);
        let ttft = answer.time_to_first_token.expect("a first token");
        assert!(ttft > Duration::ZERO && ttft <= answer.total);
        let rate = answer.tokens_per_sec.expect("a token rate");
        assert!(rate.is_finite() && rate > 0.0, "{rate}");
        assert!(answer.stats.done_reason.is_some(), "{:?}", answer.stats);
        println!(
            "{name}: {} tokens, first token after {ttft:.2?}, {rate:.1} tokens/s, total {:.2?}",
            seen.tokens, answer.total
        );
    }
    // More, so the percentiles have something to say beyond each model's cold first answer.
    for _ in 0..6 {
        answer(&engine, ask(Target::Routed)).await;
    }
    for name in [A, B] {
        let m = snapshot(&engine, name);
        assert!(m.ttft_all.count >= 3, "{:?}", m.ttft_all);
        assert!(m.ttft_all.p50.is_some() && m.ttft_all.p95.is_some());
        assert!(m.latency_all.p50.is_some());
        let rate = m.tokens_per_sec.expect("a recent token rate");
        assert_eq!((m.counters.failures, m.in_flight, m.queued), (0, 0, 0));
        println!(
            "figures {name}: {} answers, first token p50 {:.0?} p95 {:.0?}, total p50 {:.0?} p95 {:.0?}, {rate:.1} tokens/s (median)",
            m.ttft_all.count,
            m.ttft_all.p50.unwrap(),
            m.ttft_all.p95.unwrap(),
            m.latency_all.p50.unwrap(),
            m.latency_all.p95.unwrap(),
        );
    }

    // Kill A while it streams a long answer: the user gets B's answer instead.
    let mut long = ask(to(A));
    long.options.insert("num_predict".into(), 400.into());
    let mut reply = engine.submit(long);
    let killed_mid_stream = async {
        let mut killed = false;
        while let Some(event) = reply.next().await {
            match event {
                ReplyEvent::Token(_) if !killed => {
                    a.kill();
                    killed = true;
                }
                ReplyEvent::Done(answer) => return answer,
                ReplyEvent::Failed(failed) => panic!("no model answered: {failed}"),
                _ => {}
            }
        }
        panic!("the reply ended without an answer")
    };
    let cut = timeout(REPLY_BOUND, killed_mid_stream).await.unwrap();
    assert_eq!(&*cut.model, B);
    assert_eq!(&*cut.fallbacks[0].0, A);
    assert_eq!(
        cut.fallbacks[0].1,
        AttemptError::Backend(BackendError::CutShort),
        "{}",
        cut.fallbacks[0].1
    );
    assert_eq!(snapshot(&engine, A).breaker.consecutive_failures, 1);

    // The next attempt at A is refused by its dead port: the second failure opens the
    // breaker, and B answers.
    let refused = answer(&engine, ask(to(A))).await.answer;
    assert_eq!(&*refused.model, B);
    assert!(
        matches!(
            refused.fallbacks[0].1,
            AttemptError::Backend(BackendError::Connect { .. })
        ),
        "{}",
        refused.fallbacks[0].1
    );
    let m = snapshot(&engine, A);
    assert_eq!(m.breaker.state, BreakerState::Open);
    assert_eq!(m.counters.failures, 2);

    // While it is open, A is skipped without being asked.
    let skipped = answer(&engine, ask(to(A))).await.answer;
    assert_eq!(&*skipped.model, B);
    assert!(
        matches!(skipped.fallbacks[0].1, AttemptError::CircuitOpen { .. }),
        "{}",
        skipped.fallbacks[0].1
    );
    assert!(snapshot(&engine, A).counters.rejected_open >= 1);
    // And B answers everything while A is down, whether A's breaker turns the request
    // away or a probe finds A still dead and opens it again for longer.
    for _ in 0..2 {
        let routed = answer(&engine, ask(Target::Routed)).await.answer;
        assert_eq!(&*routed.model, B);
    }

    // Bring A back. Once its open period is over, the half-open probe succeeds, the
    // breaker closes and round-robin sends traffic to both again.
    a.spawn();
    let back = a.wait_ready().await;
    println!("{A} restarted, ready {back:.1?} after its start");
    if let Some(wait) = snapshot(&engine, A).breaker.next_probe_in {
        sleep(wait).await;
    }
    assert_eq!(snapshot(&engine, A).breaker.state, BreakerState::HalfOpen);
    let probe = answer(&engine, ask(to(A))).await.answer;
    assert_eq!(&*probe.model, A, "the probe is answered by A");
    assert!(probe.fallbacks.is_empty());
    let m = snapshot(&engine, A);
    assert_eq!(m.breaker.state, BreakerState::Closed);
    assert!(m.breaker.times_opened >= 1);
    let mut answered_by = Vec::new();
    for _ in 0..2 {
        answered_by.push(answer(&engine, ask(Target::Routed)).await.answer.model);
    }
    answered_by.sort();
    assert_eq!(
        answered_by.iter().map(|m| &**m).collect::<Vec<_>>(),
        [A, B],
        "round-robin reaches both again"
    );
    for name in [A, B] {
        assert_eq!(engine.load(name).unwrap(), (0, 0), "{name}'s bulkhead");
    }
    drop(b);
}
