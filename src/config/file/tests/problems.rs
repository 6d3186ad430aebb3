//! Every problem, with its key and line.

use super::*;

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
fn problems_in_defaults_are_reported_even_without_models() {
    assert_eq!(
        problems("[defaults]\ntimeout = \"soon\"\n"),
        [
            "2: defaults.timeout: \"soon\" is not a duration (expected number at 0); write e.g. \"20s\", \"1m30s\" or \"500ms\"",
            "0: model: no models are configured; add at least one [[model]] table with a name",
        ]
    );
}
