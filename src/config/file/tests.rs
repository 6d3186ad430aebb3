//! The file format: what loads, and every problem with its key and line.

use std::time::Duration;

use url::Url;

use crate::backend::BackendKind;
use crate::config::*;

fn local() -> Url {
    Url::parse(DEFAULT_OLLAMA_URL).unwrap()
}

fn load(text: &str) -> Result<Config, ConfigErrors> {
    Config::from_toml_str_with(text, "config.toml", local())
}

/// Each problem as `line: key: message`.
fn problems(text: &str) -> Vec<String> {
    let errors = load(text).expect_err("the document should have problems");
    errors
        .iter()
        .map(|p| format!("{}: {}: {}", p.line().unwrap_or(0), p.key, p.message))
        .collect()
}

/// The single problem, which must be about `key` on `line` and mention `needle`.
fn assert_one(text: &str, line: usize, key: &str, needle: &str) {
    let found = problems(text);
    assert_eq!(found.len(), 1, "{found:#?}");
    let prefix = format!("{line}: {key}: ");
    assert!(
        found[0].starts_with(&prefix) && found[0].contains(needle),
        "{:?} !~ {prefix}..{needle}",
        found[0]
    );
}

const TWO: &str = "[[model]]\nname = \"a\"\n\n[[model]]\nname = \"b\"\n";

#[test]
fn the_smallest_file_is_one_named_model_with_defaults() {
    let config = load("[[model]]\nname = \"gemma3:1b\"\n").unwrap();
    let model = &config.models[0];
    assert_eq!(model.name, "gemma3:1b");
    assert_eq!(model.backend, BackendKind::Ollama);
    assert_eq!(model.base_url, local());
    assert_eq!(model.timeouts, TimeoutConfig::default());
    assert_eq!(model.bulkhead, BulkheadConfig::default());
    assert_eq!(model.breaker, BreakerConfig::default());
    assert_eq!(config.routing, RoutingConfig::default());
}

#[test]
fn every_key_is_read() {
    let text = r#"
[routing]
strategy = "round-robin"
warmup = 5
window = "2m"
probe_every = 0

[defaults]
connect_timeout = "3s"
keep_alive = "10m"
[defaults.bulkhead]
queue_capacity = 4
[defaults.breaker]
failure_threshold = 3
[defaults.options]
temperature = 0.5
num_ctx = 2048

[[model]]
name = "fast"
server_model = "gemma3:1b-it-q4"
url = "http://10.0.0.2:11434"
timeout = "1m30s"
first_token_timeout = "30s"
stall_timeout = "5s"
options = { temperature = 0.2, stop = ["\n\n"] }
bulkhead = { max_in_flight = 2 }
[model.breaker]
open_base = "5s"
open_max = "1m"
half_open_probes = 2
probe_timeout = "20s"
failure_rate = { window = 50, min_calls = 20, threshold = 0.25 }

[[model]]
name = "remote"
backend = "openai"
url = "http://127.0.0.1:8080/v1"
api_key_env = "REMOTE_KEY"
keep_alive = -1

[proxy]
listen = "0.0.0.0:9000"
allow_remote = true
token_env = "SIGNALBOX_TOKEN"
cors_origins = ["http://localhost:3000"]
max_body_bytes = 1024
shutdown_grace = "0s"

[log]
level = "signalbox=debug,info"
file = "/tmp/signalbox.log"
content = true
"#;
    let config = load(text).unwrap();
    let secs = Duration::from_secs;
    assert_eq!(config.routing.strategy, StrategyKind::RoundRobin);
    assert_eq!(
        (
            config.routing.warmup,
            config.routing.window,
            config.routing.probe_every
        ),
        (5, secs(120), 0)
    );

    let fast = &config.models[0];
    assert_eq!(fast.server_model(), "gemma3:1b-it-q4");
    assert_eq!(fast.base_url.as_str(), "http://10.0.0.2:11434/");
    assert_eq!(
        fast.timeouts,
        TimeoutConfig {
            total: secs(90),
            first_token: secs(30),
            stall: secs(5),
            connect: secs(3)
        }
    );
    assert_eq!(
        fast.bulkhead,
        BulkheadConfig {
            max_in_flight: 2,
            queue_capacity: 4
        }
    );
    assert_eq!(
        fast.breaker.failure_threshold, 3,
        "inherited from [defaults.breaker]"
    );
    assert_eq!(
        (fast.breaker.open_base, fast.breaker.open_max),
        (secs(5), secs(60))
    );
    assert_eq!(
        (fast.breaker.half_open_probes, fast.breaker.probe_timeout),
        (2, secs(20))
    );
    assert_eq!(
        fast.breaker.failure_rate,
        Some(FailureRateConfig {
            window: 50,
            min_calls: 20,
            threshold: 0.25
        })
    );
    assert_eq!(
        fast.options["temperature"],
        serde_json::json!(0.2),
        "the model's own option wins"
    );
    assert_eq!(
        fast.options["num_ctx"],
        serde_json::json!(2048),
        "inherited option"
    );
    assert_eq!(fast.options["stop"], serde_json::json!(["\n\n"]));
    assert_eq!(fast.keep_alive, Some(serde_json::json!("10m")));

    let remote = &config.models[1];
    assert_eq!(remote.backend, BackendKind::OpenAi);
    assert_eq!(remote.api_key_env.as_deref(), Some("REMOTE_KEY"));
    assert_eq!(remote.keep_alive, Some(serde_json::json!(-1)));
    assert_eq!(remote.timeouts.total, secs(20));
    assert_eq!(remote.breaker.failure_rate, None);

    assert_eq!(config.proxy.listen.to_string(), "0.0.0.0:9000");
    assert!(config.proxy.allow_remote);
    assert_eq!(config.proxy.token_env.as_deref(), Some("SIGNALBOX_TOKEN"));
    assert_eq!(config.proxy.cors_origins, ["http://localhost:3000"]);
    assert_eq!(
        (config.proxy.max_body_bytes, config.proxy.shutdown_grace),
        (1024, Duration::ZERO)
    );
    assert_eq!(config.log.level, "signalbox=debug,info");
    assert_eq!(
        config.log.file.as_deref(),
        Some(std::path::Path::new("/tmp/signalbox.log"))
    );
    assert!(config.log.log_content);
}

#[test]
fn first_token_and_stall_follow_the_total_unless_set() {
    let config = load("[[model]]\nname = \"a\"\ntimeout = \"60s\"\n").unwrap();
    assert_eq!(
        config.models[0].timeouts,
        TimeoutConfig::with_total(Duration::from_secs(60))
    );
}

#[test]
fn unknown_keys_are_reported_with_a_suggestion() {
    assert_one(
        "[[model]]\nname = \"a\"\ntimout = \"5s\"\n",
        3,
        "model[0].timout",
        "did you mean \"timeout\"?",
    );
    assert_one(
        "[routing]\nstratgy = \"p95\"\n[[model]]\nname = \"a\"\n",
        2,
        "routing.stratgy",
        "did you mean \"strategy\"?",
    );
    assert_one(
        &format!("{TWO}[model.breaker]\nthreshold = 2\n"),
        7,
        "model[1].breaker.threshold",
        "unknown key",
    );
    assert_one(
        &format!("[colour]\nx = 1\n{TWO}"),
        1,
        "colour",
        "expected one of: routing, defaults, model",
    );
}

#[test]
fn wrong_types_are_reported() {
    assert_one(
        &format!("[routing]\nwarmup = \"two\"\n{TWO}"),
        2,
        "routing.warmup",
        "expected a whole number, found the string \"two\"",
    );
    assert_one(
        &format!("[proxy]\nallow_remote = \"yes\"\n{TWO}"),
        2,
        "proxy.allow_remote",
        "expected true or false",
    );
    assert_one(
        "[model]\nname = \"a\"\n",
        1,
        "model",
        "expected an array of tables (write [[model]] for each)",
    );
    assert_one(
        &format!("{TWO}bulkhead = 3\n"),
        6,
        "model[1].bulkhead",
        "expected a table",
    );
    assert_one(
        "[[model]]\nname = 7\n",
        2,
        "model[0].name",
        "expected a string, found the number 7",
    );
}

#[test]
fn durations_must_have_units_parse_and_be_positive() {
    assert_one(
        "[[model]]\nname = \"a\"\ntimeout = 20\n",
        3,
        "model[0].timeout",
        "write e.g. \"20s\"",
    );
    assert_one(
        "[[model]]\nname = \"a\"\ntimeout = \"soon\"\n",
        3,
        "model[0].timeout",
        "\"soon\" is not a duration",
    );
    assert_one(
        "[[model]]\nname = \"a\"\ntimeout = \"-5s\"\n",
        3,
        "model[0].timeout",
        "must not be negative",
    );
    assert_one(
        "[[model]]\nname = \"a\"\ntimeout = \"0s\"\n",
        3,
        "model[0].timeout",
        "\"0s\" must be more than zero",
    );
    assert_one(
        "[[model]]\nname = \"a\"\n[model.breaker]\nopen_base = \"0ms\"\n",
        4,
        "model[0].breaker.open_base",
        "must be more than zero",
    );
}

#[test]
fn the_display_matches_the_documented_form() {
    let errors = load(&format!("{TWO}timeout = \"0s\"\n")).unwrap_err();
    assert_eq!(
        errors.to_string(),
        "config.toml:6:11: model[1].timeout: \"0s\" must be more than zero"
    );
}

#[test]
fn sizes_must_not_be_zero_or_negative() {
    assert_one(
        "[[model]]\nname = \"a\"\nbulkhead = { max_in_flight = 0 }\n",
        3,
        "model[0].bulkhead.max_in_flight",
        "must be at least 1",
    );
    assert_one(
        "[[model]]\nname = \"a\"\n[model.breaker]\nfailure_threshold = 0\n",
        4,
        "model[0].breaker.failure_threshold",
        "must be at least 1",
    );
    assert_one(
        "[[model]]\nname = \"a\"\n[model.bulkhead]\nqueue_capacity = -1\n",
        4,
        "model[0].bulkhead.queue_capacity",
        "-1 must not be negative",
    );
    assert_one(
        &format!("[proxy]\nmax_body_bytes = 0\n{TWO}"),
        2,
        "proxy.max_body_bytes",
        "must be at least 1",
    );
    assert_one(
        &format!("[routing]\nwarmup = 99999999999\n{TWO}"),
        2,
        "routing.warmup",
        "too large",
    );
}

#[test]
fn duplicate_names_and_missing_names_are_reported() {
    assert_one(
        "[[model]]\nname = \"a\"\n[[model]]\nname = \"a\"\n",
        4,
        "model[1].name",
        "already the name of model[0]",
    );
    assert_one(
        "[[model]]\nname = \"a\"\n[[model]]\ntimeout = \"5s\"\n",
        3,
        "model[1].name",
        "missing",
    );
}

#[test]
fn an_empty_model_list_is_reported() {
    let found = problems("[routing]\nwarmup = 1\n");
    assert_eq!(
        found,
        ["0: model: no models are configured; add at least one [[model]] table with a name"]
    );
    assert_eq!(
        load("").unwrap_err().to_string(),
        "config.toml: model: no models are configured; add at least one [[model]] table with a name"
    );
}

#[test]
fn bad_urls_are_reported() {
    assert_one(
        "[[model]]\nname = \"a\"\nurl = \"gpu-box:11434\"\n",
        3,
        "model[0].url",
        "has scheme \"gpu-box\"",
    );
    assert_one(
        "[[model]]\nname = \"a\"\nurl = \"ftp://x\"\n",
        3,
        "model[0].url",
        "use http:// or https://",
    );
    assert_one(
        "[[model]]\nname = \"a\"\nurl = \"not a url\"\n",
        3,
        "model[0].url",
        "is not a URL",
    );
    assert_one(
        "[[model]]\nname = \"a\"\nurl = \"http://\"\n",
        3,
        "model[0].url",
        "is not a URL",
    );
}

#[test]
fn https_without_tls_says_how_to_rebuild() {
    let result = load(
        "[[model]]\nname = \"a\"\nbackend = \"openai\"\nurl = \"https://api.example.com/v1\"\n",
    );
    if cfg!(feature = "tls") {
        assert!(result.is_ok());
    } else {
        assert_one(
            "[[model]]\nname = \"a\"\nbackend = \"openai\"\nurl = \"https://api.example.com/v1\"\n",
            4,
            "model[0].url",
            "rebuild with --features tls",
        );
    }
}

#[test]
fn invalid_strategy_and_backend_list_the_valid_ones() {
    assert_one(
        &format!("[routing]\nstrategy = \"p59\"\n{TWO}"),
        2,
        "routing.strategy",
        "did you mean \"p95\"? choose one of: p95, round-robin",
    );
    assert_one(
        "[[model]]\nname = \"a\"\nbackend = \"vllm\"\n",
        3,
        "model[0].backend",
        "choose one of: ollama, openai",
    );
}

#[test]
fn failure_rate_threshold_must_be_a_fraction() {
    assert_one(
        "[[model]]\nname = \"a\"\n[model.breaker.failure_rate]\nthreshold = 50\n",
        4,
        "model[0].breaker.failure_rate.threshold",
        "outside 0..1",
    );
}

#[test]
fn a_bad_value_in_defaults_is_reported_once_at_its_own_line() {
    let text = format!(
        "[defaults]\ntimeout = \"0s\"\n[defaults.breaker]\nfailure_threshold = \"x\"\n{TWO}"
    );
    assert_eq!(
        problems(&text),
        [
            "2: defaults.timeout: \"0s\" must be more than zero",
            "4: defaults.breaker.failure_threshold: expected a whole number, found the string \"x\"",
        ]
    );
}

#[test]
fn remote_listen_without_allow_remote_is_reported() {
    assert_one(
        &format!("[proxy]\nlisten = \"0.0.0.0:11435\"\n{TWO}"),
        2,
        "proxy.listen",
        "set proxy.allow_remote = true",
    );
    assert_one(
        &format!("[proxy]\nlisten = \"localhost\"\n{TWO}"),
        2,
        "proxy.listen",
        "write an IP and a port",
    );
}

#[test]
fn keep_alive_and_log_level_are_checked() {
    assert_one(
        "[[model]]\nname = \"a\"\nkeep_alive = \"1 day\"\n",
        3,
        "model[0].keep_alive",
        "not a duration Ollama accepts",
    );
    assert_one(
        &format!("[log]\nlevel = \"signalbox=loud\"\n{TWO}"),
        2,
        "log.level",
        "is not a log filter",
    );
}

#[test]
fn several_problems_are_reported_together_in_file_order() {
    let text = r#"[routing]
strategy = "fastest"
warmup = -1

[[model]]
name = "a"
timeout = "0s"
url = "ftp://x"

[[model]]
name = "a"
colour = "red"
[model.breaker]
failure_threshold = 0
open_max = "1s"
"#;
    let found = problems(text);
    let lines: Vec<&str> = found
        .iter()
        .map(|p| p.split(": ").nth(1).unwrap())
        .collect();
    assert_eq!(
        lines,
        [
            "routing.strategy",
            "routing.warmup",
            "model[0].timeout",
            "model[0].url",
            "model[1].name",
            "model[1].colour",
            "model[1].breaker.failure_threshold",
            "model[1].breaker.open_max",
        ],
        "{found:#?}"
    );
    assert!(found[0].starts_with("2: "), "{found:#?}");
    assert!(found[7].starts_with("15: "), "{found:#?}");
}

#[test]
fn syntax_errors_have_a_line_and_column() {
    let errors = load("[[model]]\nname = \"a\"\ntimeout = \n").unwrap_err();
    let first = &errors.problems()[0];
    assert_eq!(first.line(), Some(3), "{errors}");
    assert!(errors.to_string().starts_with("config.toml:3:"), "{errors}");
    let errors = load("[[model]]\nname = \"a\"\nname = \"b\"\n").unwrap_err();
    assert_eq!(errors.problems()[0].line(), Some(3), "{errors}");
}

#[test]
fn a_model_without_url_takes_the_ollama_address_given() {
    let gpu = Url::parse("http://gpu-box:11434").unwrap();
    let config = Config::from_toml_str_with(TWO, "c", gpu.clone()).unwrap();
    assert!(config.models.iter().all(|m| m.base_url == gpu));
}

#[test]
fn a_written_configuration_reads_back_equal() {
    let original = load(
        r#"[[model]]
name = "a"
timeout = "1m 30s"
keep_alive = "5m"
options = { temperature = 0.7, num_predict = 128, stop = ["x"], nested = { k = true } }
[model.breaker.failure_rate]
threshold = 0.3
[[model]]
name = "b"
backend = "openai"
url = "http://127.0.0.1:8080/v1"
api_key_env = "KEY"
server_model = "llama"
[proxy]
cors_origins = ["*"]
token_env = "T"
[log]
file = "/var/log/x.log"
"#,
    )
    .unwrap();
    let written = original.to_toml_string();
    assert_eq!(load(&written), Ok(original), "{written}");
    let default = Config::default_for(local());
    assert_eq!(load(&default.to_toml_string()), Ok(default));
}

#[test]
fn the_shipped_default_file_loads_to_the_built_in_defaults() {
    let text = include_str!("../../../assets/config.toml");
    assert_eq!(load(text), Ok(Config::default_for(local())));
    let gpu = Url::parse("http://gpu-box:11434").unwrap();
    assert_eq!(
        Config::from_toml_str_with(text, "c", gpu.clone()),
        Ok(Config::default_for(gpu))
    );
}

#[test]
fn the_built_in_defaults_are_the_original_system() {
    insta::assert_snapshot!(Config::default_for(local()).to_toml_string());
}

mod never_panics {
    use proptest::prelude::*;

    use super::*;

    const KEYS: &[&str] = &[
        "name",
        "timeout",
        "url",
        "backend",
        "strategy",
        "warmup",
        "failure_threshold",
        "threshold",
        "max_in_flight",
        "listen",
        "level",
        "options",
        "keep_alive",
        "open_max",
        "window",
        "x",
    ];
    const VALUES: &[&str] = &[
        "\"a\"",
        "0",
        "-1",
        "1.5",
        "nan",
        "inf",
        "\"0s\"",
        "\"20s\"",
        "\"99999999999999999999h\"",
        "true",
        "[]",
        "{}",
        "{ a = 1 }",
        "\"http://[::1\"",
        "\"https://x\"",
        "1979-05-27",
        "0x7fffffffffffffff",
        "\"p95\"",
        "[\"a\", 1]",
        "\"-\"",
        "18446744073709551615",
    ];
    const HEADERS: &[&str] = &[
        "[[model]]",
        "[routing]",
        "[proxy]",
        "[log]",
        "[defaults]",
        "[defaults.breaker]",
        "[model.breaker]",
        "[model.breaker.failure_rate]",
        "[model.options]",
        "[model]",
        "[[model.bulkhead]]",
        "",
    ];

    fn line() -> impl Strategy<Value = String> {
        prop_oneof![
            prop::sample::select(HEADERS).prop_map(str::to_string),
            (prop::sample::select(KEYS), prop::sample::select(VALUES))
                .prop_map(|(k, v)| format!("{k} = {v}")),
            "[ -~]{0,20}",
        ]
    }

    proptest! {
        #[test]
        fn arbitrary_text_never_panics(text in "\\PC{0,200}") {
            let _ = load(&text);
        }

        #[test]
        fn arbitrary_toml_like_documents_never_panic(lines in prop::collection::vec(line(), 0..30)) {
            let text = lines.join("\n");
            if let Err(errors) = load(&text) {
                prop_assert!(!errors.is_empty());
                let _ = errors.to_string();
            }
        }

        #[test]
        fn arbitrary_ollama_host_values_never_panic(text in "\\PC{0,40}") {
            let _ = parse_ollama_host(&text);
        }
    }
}

#[test]
fn every_remaining_rule_names_its_key_and_line() {
    let m = "[[model]]\nname = \"a\"\n";
    let cases: &[(&str, usize, &str, &str)] = &[
        (
            "[[model]]\nname = \"\"\n",
            2,
            "model[0].name",
            "must not be empty",
        ),
        (
            "[[model]]\nname = \"a\"\nserver_model = \"\"\n",
            3,
            "model[0].server_model",
            "must not be empty",
        ),
        (
            "[[model]]\nname = \"a\"\napi_key_env = \"KEY=abc\"\n",
            3,
            "model[0].api_key_env",
            "not an environment variable name",
        ),
        (
            "[[model]]\nname = \"a\"\ntimeout = \"10s\"\nfirst_token_timeout = \"15s\"\n",
            4,
            "model[0].first_token_timeout",
            "could never fire",
        ),
        (
            "[[model]]\nname = \"a\"\nstall_timeout = \"0s\"\n",
            3,
            "model[0].stall_timeout",
            "must be more than zero",
        ),
        (
            "[[model]]\nname = \"a\"\nconnect_timeout = \"0s\"\n",
            3,
            "model[0].connect_timeout",
            "must be more than zero",
        ),
        (
            "[[model]]\nname = \"a\"\n[model.breaker]\nhalf_open_probes = 0\n",
            4,
            "model[0].breaker.half_open_probes",
            "at least 1",
        ),
        (
            "[[model]]\nname = \"a\"\n[model.breaker]\nprobe_timeout = \"0s\"\n",
            4,
            "model[0].breaker.probe_timeout",
            "more than zero",
        ),
        (
            "[[model]]\nname = \"a\"\n[model.breaker]\nopen_max = \"5s\"\n",
            4,
            "model[0].breaker.open_max",
            "shorter than open_base",
        ),
        (
            "[[model]]\nname = \"a\"\n[model.breaker.failure_rate]\nwindow = 5\nmin_calls = 6\n",
            5,
            "model[0].breaker.failure_rate.min_calls",
            "more than the window",
        ),
        (
            "[[model]]\nname = \"a\"\n[model.breaker.failure_rate]\nwindow = 0\n",
            4,
            "model[0].breaker.failure_rate.window",
            "at least 1",
        ),
        (
            "[[model]]\nname = \"a\"\noptions = { when = 1979-05-27 }\n",
            3,
            "model[0].options.when",
            "expected a string, number",
        ),
        (
            "[routing]\nwindow = \"0s\"\n",
            2,
            "routing.window",
            "more than zero",
        ),
        (
            "[proxy]\ntoken_env = \"\"\n",
            2,
            "proxy.token_env",
            "not an environment variable name",
        ),
        (
            "[proxy]\ncors_origins = [\"*\", \"localhost:3000\"]\n",
            2,
            "proxy.cors_origins[1]",
            "is not an origin",
        ),
        (
            "[proxy]\ncors_origins = \"*\"\n",
            2,
            "proxy.cors_origins",
            "expected an array of strings",
        ),
        ("[log]\nfile = \"\"\n", 2, "log.file", "must not be empty"),
        ("[log]\nlevel = \"\"\n", 2, "log.level", "must not be empty"),
        (
            "[defaults]\nname = \"x\"\n",
            2,
            "defaults.name",
            "unknown key \"name\"",
        ),
    ];
    for (text, line, key, needle) in cases {
        let text = if text.contains("[[model]]") {
            text.to_string()
        } else {
            format!("{text}{m}")
        };
        assert_one(&text, *line, key, needle);
    }
}

#[test]
fn environment_overrides_ignore_empty_values() {
    let overrides = Overrides::from_env_with(|name| match name {
        "SIGNALBOX_STRATEGY" => Some("round-robin".into()),
        "SIGNALBOX_LISTEN" => Some("  ".into()),
        _ => None,
    });
    assert_eq!(overrides.strategy.as_deref(), Some("round-robin"));
    assert_eq!(overrides.listen, None);
}

mod round_trip {
    use proptest::prelude::*;

    use super::*;

    /// From a millisecond (shorter than the default connect limit) to about three hours.
    fn duration() -> impl Strategy<Value = Duration> {
        prop_oneof![(1u64..3_000), (1u64..10_000_000)].prop_map(Duration::from_millis)
    }

    fn model(index: usize) -> impl Strategy<Value = ModelConfig> {
        (
            duration(),
            1usize..64,
            0usize..1000,
            1u32..10,
            duration(),
            1u32..5,
            prop::option::of(0.01f64..=1.0),
        )
            .prop_map(
                move |(total, in_flight, queue, threshold, open, probes, rate)| {
                    let mut model = ModelConfig::ollama(format!("m{index}"), local(), total);
                    model.bulkhead = BulkheadConfig {
                        max_in_flight: in_flight,
                        queue_capacity: queue,
                    };
                    model.breaker.failure_threshold = threshold;
                    model.breaker.open_base = open;
                    model.breaker.open_max = open * 4;
                    model.breaker.half_open_probes = probes;
                    model.breaker.failure_rate = rate.map(|threshold| FailureRateConfig {
                        window: 30,
                        min_calls: 10,
                        threshold,
                    });
                    model
                },
            )
    }

    proptest! {
        #[test]
        fn any_valid_configuration_writes_and_reads_back_equal(
            models in (1usize..4).prop_flat_map(|n| (0..n).map(model).collect::<Vec<_>>()),
            warmup in 0u32..100,
            window in duration(),
            round_robin: bool,
        ) {
            let mut config = Config::default_for(local());
            config.models = models;
            config.routing.warmup = warmup;
            config.routing.window = window;
            if round_robin {
                config.routing.strategy = StrategyKind::RoundRobin;
            }
            let written = config.to_toml_string();
            prop_assert_eq!(load(&written), Ok(config), "{}", written);
        }
    }
}

#[test]
fn problems_in_defaults_are_reported_even_without_models() {
    assert_eq!(
        problems("[defaults]\ntimeout = \"soon\"\n"),
        [
            "2: defaults.timeout: \"soon\" is not a duration (expected number at 0); write e.g. \"20s\", \"1m30s\" or \"500ms\"",
            "0: model: no models are configured; add at least one [[model]] table with a name",
        ]
    );
}
