//! Many clients at once through the proxy to fast models with random faults: every
//! request gets exactly one complete answer or one clear error, and nothing leaks.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use signalbox::config::BreakerConfig;

use crate::support::*;

const CLIENTS: usize = 500;
const REQUESTS_PER_CLIENT: usize = 20;

#[derive(Default)]
struct Tally {
    answers: AtomicUsize,
    errors_before: AtomicUsize,
    errors_in_stream: AtomicUsize,
}

/// What one response was; panics on anything that is neither a whole answer nor one
/// clear error.
enum Seen {
    Answer,
    ErrorBefore,
    ErrorInStream,
}

fn judge(kind: usize, status: u16, retry_after: bool, body: &str) -> Seen {
    if status != 200 {
        assert_eq!(status, 503, "unexpected status {status}: {body}");
        assert!(retry_after, "503 without Retry-After: {body}");
        let v: serde_json::Value =
            serde_json::from_str(body).unwrap_or_else(|e| panic!("{body:?}: {e}"));
        assert!(
            v["error"].is_string() || v["error"]["message"].is_string(),
            "{body}"
        );
        return Seen::ErrorBefore;
    }
    match kind {
        0 => {
            let lines = ndjson(body);
            let terminal: Vec<usize> = (0..lines.len())
                .filter(|&i| lines[i]["done"] == true || lines[i].get("error").is_some())
                .collect();
            assert_eq!(
                terminal,
                [lines.len() - 1],
                "exactly one terminal line, last: {body}"
            );
            if lines.last().unwrap()["done"] == true {
                Seen::Answer
            } else {
                Seen::ErrorInStream
            }
        }
        1 | 3 => {
            let v: serde_json::Value = serde_json::from_str(body).unwrap();
            let text = v["message"]["content"]
                .as_str()
                .or(v["choices"][0]["message"]["content"].as_str());
            assert!(text.unwrap().starts_with("echo: "), "{body}");
            Seen::Answer
        }
        _ => {
            let events = sse(body);
            let done = events.iter().filter(|e| *e == "[DONE]").count();
            let errors = events
                .iter()
                .filter(|e| e.starts_with(r#"{"error""#))
                .count();
            assert_eq!(done + errors, 1, "exactly one ending: {body}");
            if done == 1 {
                assert_eq!(events.last().unwrap(), "[DONE]");
                Seen::Answer
            } else {
                assert!(events.last().unwrap().starts_with(r#"{"error""#));
                Seen::ErrorInStream
            }
        }
    }
}

fn rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches(" kB").trim().parse().ok())
        .unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn five_hundred_clients_each_get_one_complete_answer_or_one_clear_error() {
    let faulty = Behaviour::Faulty {
        before: 0.05,
        midway: 0.05,
    };
    let breaker = BreakerConfig {
        failure_threshold: 3,
        open_base: Duration::from_millis(50),
        open_max: Duration::from_millis(200),
        ..BreakerConfig::default()
    };
    let proxy = Running::start(vec![
        TestModel::new("fast-a", faulty)
            .bulkhead(16, 1024)
            .breaker(breaker),
        TestModel::new("fast-b", faulty)
            .bulkhead(16, 1024)
            .breaker(breaker),
    ])
    .await;
    let client = reqwest::Client::builder()
        .no_proxy()
        .pool_max_idle_per_host(CLIENTS)
        .build()
        .unwrap();
    let tally = Arc::new(Tally::default());
    let rss_before = rss_kib();
    let started = Instant::now();

    let mut clients = tokio::task::JoinSet::new();
    for c in 0..CLIENTS {
        let (client, tally, base) = (client.clone(), tally.clone(), proxy.url(""));
        clients.spawn(async move {
            for r in 0..REQUESTS_PER_CLIENT {
                let kind = (c + r) % 4;
                let model = if r % 5 == 4 { "fast-a" } else { "signalbox" };
                let (path, body) = match kind {
                    0 | 1 => ("/api/chat", chat_body(model, &format!("client {c} request {r}"), kind == 0)),
                    _ => (
                        "/v1/chat/completions",
                        serde_json::json!({"model": model, "stream": kind == 2,
                            "messages": [{"role": "user", "content": format!("client {c} request {r}")}]})
                        .to_string(),
                    ),
                };
                let response = client.post(format!("{base}{path}")).body(body).send().await.unwrap();
                let status = response.status().as_u16();
                let retry_after = response.headers().contains_key("retry-after");
                let text = response.text().await.unwrap();
                let counter = match judge(kind, status, retry_after, &text) {
                    Seen::Answer => &tally.answers,
                    Seen::ErrorBefore => &tally.errors_before,
                    Seen::ErrorInStream => &tally.errors_in_stream,
                };
                counter.fetch_add(1, Ordering::Relaxed);
            }
        });
    }
    let all = async {
        while let Some(joined) = clients.join_next().await {
            joined.unwrap();
        }
    };
    tokio::time::timeout(Duration::from_secs(240), all)
        .await
        .expect("load run finished within 240 s");
    let elapsed = started.elapsed();
    let rss_after = rss_kib();

    let answers = tally.answers.load(Ordering::Relaxed);
    let before = tally.errors_before.load(Ordering::Relaxed);
    let in_stream = tally.errors_in_stream.load(Ordering::Relaxed);
    println!(
        "load: {} requests in {:.1} s ({:.0}/s): {answers} answers, {before} errors before streaming, \
         {in_stream} in-stream errors; RSS {} -> {} MiB",
        CLIENTS * REQUESTS_PER_CLIENT,
        elapsed.as_secs_f64(),
        (CLIENTS * REQUESTS_PER_CLIENT) as f64 / elapsed.as_secs_f64(),
        rss_before / 1024,
        rss_after / 1024,
    );
    assert_eq!(answers + before + in_stream, CLIENTS * REQUESTS_PER_CLIENT);
    assert!(
        answers > CLIENTS * REQUESTS_PER_CLIENT / 2,
        "most requests should be answered: {answers}"
    );
    assert!(
        rss_after < rss_before + 512 * 1024,
        "memory grew from {rss_before} to {rss_after} KiB"
    );

    proxy.wait_idle().await;
    let metrics = raw(proxy.addr, "GET", "/metrics", &[], "").await.body;
    assert!(
        metrics.contains("\nsignalbox_http_in_flight 0\n"),
        "proxy requests still in flight"
    );
}
