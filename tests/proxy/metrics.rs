//! `/metrics` read by a strict Prometheus text-format parser; its counters match the
//! requests sent.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::time::Duration;

use crate::support::*;

#[derive(Debug)]
struct Sample {
    name: String,
    labels: BTreeMap<String, String>,
    value: f64,
}

struct Exposition {
    samples: Vec<Sample>,
}

impl Exposition {
    fn sum(&self, name: &str, matching: &[(&str, &str)]) -> f64 {
        self.samples
            .iter()
            .filter(|s| {
                s.name == name
                    && matching
                        .iter()
                        .all(|(k, v)| s.labels.get(*k).map(String::as_str) == Some(*v))
            })
            .map(|s| s.value)
            .sum()
    }
}

fn valid_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || c == ':')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
}

fn parse_labels(text: &str) -> BTreeMap<String, String> {
    let mut labels = BTreeMap::new();
    let mut rest = text;
    while !rest.is_empty() {
        let (name, after) = rest
            .split_once("=\"")
            .unwrap_or_else(|| panic!("bad labels {text:?}"));
        assert!(
            valid_name(name) && !name.starts_with("__"),
            "bad label name {name:?}"
        );
        let mut value = String::new();
        let mut chars = after.char_indices();
        let end = loop {
            let (i, c) = chars
                .next()
                .unwrap_or_else(|| panic!("unterminated label value in {text:?}"));
            match c {
                '\\' => match chars.next().map(|(_, c)| c) {
                    Some('\\') => value.push('\\'),
                    Some('"') => value.push('"'),
                    Some('n') => value.push('\n'),
                    other => panic!("bad escape {other:?} in {text:?}"),
                },
                '"' => break i,
                c => value.push(c),
            }
        };
        assert!(
            labels.insert(name.to_string(), value).is_none(),
            "duplicate label {name} in {text:?}"
        );
        rest = &after[end + 1..];
        rest = rest.strip_prefix(',').unwrap_or(rest);
    }
    labels
}

/// Parse the text format strictly: HELP and TYPE at most once per family and before its
/// samples, every sample typed, no duplicate series, valid names, labels and values,
/// histograms cumulative with `+Inf` equal to `_count`.
fn parse(text: &str) -> Exposition {
    assert!(text.ends_with('\n'), "exposition must end with a newline");
    let mut types: HashMap<String, String> = HashMap::new();
    let mut helps = HashSet::new();
    let mut seen_samples_of = HashSet::new();
    let mut series = HashSet::new();
    let mut samples = Vec::new();
    for line in text.lines() {
        assert!(!line.is_empty(), "blank line");
        if let Some(rest) = line.strip_prefix("# HELP ") {
            let name = rest.split(' ').next().unwrap();
            assert!(valid_name(name), "{line}");
            assert!(helps.insert(name.to_string()), "HELP twice for {name}");
            continue;
        }
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, kind) = rest.split_once(' ').unwrap();
            assert!(valid_name(name), "{line}");
            assert!(
                ["counter", "gauge", "histogram", "summary", "untyped"].contains(&kind),
                "{line}"
            );
            assert!(
                !seen_samples_of.contains(name),
                "TYPE after samples for {name}"
            );
            assert!(
                types.insert(name.to_string(), kind.to_string()).is_none(),
                "TYPE twice for {name}"
            );
            continue;
        }
        assert!(!line.starts_with('#'), "unexpected comment {line}");
        let (series_text, value) = line
            .rsplit_once(' ')
            .unwrap_or_else(|| panic!("no value: {line}"));
        let value: f64 = match value {
            "+Inf" => f64::INFINITY,
            "-Inf" => f64::NEG_INFINITY,
            v => v.parse().unwrap_or_else(|_| panic!("bad value in {line}")),
        };
        let (name, labels) = match series_text.split_once('{') {
            Some((name, labels)) => (name, parse_labels(labels.strip_suffix('}').unwrap())),
            None => (series_text, BTreeMap::new()),
        };
        assert!(valid_name(name), "{line}");
        let family = ["_bucket", "_sum", "_count"]
            .iter()
            .find_map(|suffix| {
                name.strip_suffix(suffix)
                    .filter(|f| types.get(*f).map(String::as_str) == Some("histogram"))
            })
            .unwrap_or(name);
        let kind = types
            .get(family)
            .unwrap_or_else(|| panic!("sample before TYPE: {line}"));
        if kind == "counter" {
            assert!(value >= 0.0 && name.ends_with("_total"), "{line}");
        }
        seen_samples_of.insert(family.to_string());
        assert!(
            series.insert(series_text.to_string()),
            "duplicate series {series_text}"
        );
        samples.push(Sample {
            name: name.to_string(),
            labels,
            value,
        });
    }

    // Histograms: cumulative buckets, +Inf equals _count.
    for (family, kind) in &types {
        if kind != "histogram" {
            continue;
        }
        let mut by_series: BTreeMap<BTreeMap<String, String>, Vec<(f64, f64)>> = BTreeMap::new();
        for s in samples
            .iter()
            .filter(|s| s.name == format!("{family}_bucket"))
        {
            let mut key = s.labels.clone();
            let le = key.remove("le").expect("bucket without le");
            let le = if le == "+Inf" {
                f64::INFINITY
            } else {
                le.parse().unwrap()
            };
            by_series.entry(key).or_default().push((le, s.value));
        }
        for (key, buckets) in by_series {
            assert!(
                buckets
                    .windows(2)
                    .all(|w| w[0].0 < w[1].0 && w[0].1 <= w[1].1),
                "{family} {key:?} not cumulative"
            );
            let (last_le, inf) = *buckets.last().unwrap();
            assert!(last_le.is_infinite());
            let count = samples
                .iter()
                .find(|s| s.name == format!("{family}_count") && s.labels == key)
                .unwrap_or_else(|| panic!("{family}_count missing for {key:?}"));
            assert_eq!(
                inf, count.value,
                "{family} {key:?}: +Inf bucket differs from count"
            );
        }
    }
    Exposition { samples }
}

async fn scrape(proxy: &Running) -> Exposition {
    let got = raw(proxy.addr, "GET", "/metrics", &[], "").await;
    assert_eq!(got.status, 200);
    assert_eq!(
        got.header("content-type"),
        Some("text/plain; version=0.0.4; charset=utf-8")
    );
    parse(&got.body)
}

#[tokio::test]
async fn metrics_parse_strictly_and_count_the_requests_sent() {
    let echo = Behaviour::Echo {
        delay: Duration::ZERO,
    };
    let proxy = Running::start(vec![
        TestModel::new("echo-a", echo),
        TestModel::new("echo-b", echo),
    ])
    .await;
    for i in 0..5 {
        let got = raw_chat(proxy.addr, "signalbox", "q", i % 2 == 0).await;
        assert_eq!(got.status, 200);
    }
    for _ in 0..3 {
        let body = r#"{"model":"echo-a","stream":true,"messages":[{"role":"user","content":"q"}]}"#;
        assert_eq!(
            raw(proxy.addr, "POST", "/v1/chat/completions", &[], body)
                .await
                .status,
            200
        );
    }
    for _ in 0..2 {
        assert_eq!(raw_chat(proxy.addr, "nope", "q", true).await.status, 404);
    }
    proxy.wait_idle().await;

    // The histograms are fed from the bus; give the recorder a bounded moment to catch up.
    let mut metrics = scrape(&proxy).await;
    for _ in 0..100 {
        if metrics.sum("signalbox_attempt_duration_seconds_count", &[]) >= 8.0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
        metrics = scrape(&proxy).await;
    }

    let http = "signalbox_http_requests_total";
    assert_eq!(
        metrics.sum(http, &[("endpoint", "/api/chat"), ("status", "200")]),
        5.0
    );
    assert_eq!(
        metrics.sum(
            http,
            &[("endpoint", "/v1/chat/completions"), ("status", "200")]
        ),
        3.0
    );
    assert_eq!(
        metrics.sum(http, &[("endpoint", "/api/chat"), ("status", "404")]),
        2.0
    );
    assert_eq!(metrics.sum("signalbox_attempts_total", &[]), 8.0);
    assert_eq!(
        metrics.sum(
            "signalbox_attempt_outcomes_total",
            &[("outcome", "success")]
        ),
        8.0
    );
    assert_eq!(
        metrics.sum(
            "signalbox_attempt_outcomes_total",
            &[("outcome", "failure")]
        ),
        0.0
    );
    assert_eq!(
        metrics.sum("signalbox_attempt_duration_seconds_count", &[]),
        8.0
    );
    assert_eq!(metrics.sum("signalbox_first_token_seconds_count", &[]), 8.0);
    assert_eq!(
        metrics.sum("signalbox_breaker_state", &[("state", "closed")]),
        2.0
    );
    assert_eq!(metrics.sum("signalbox_bulkhead_in_flight", &[]), 0.0);
    assert_eq!(metrics.sum("signalbox_http_in_flight", &[]), 0.0);
    assert_eq!(metrics.sum("signalbox_fallbacks_total", &[]), 0.0);
}
