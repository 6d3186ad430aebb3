//! What a file loads to.

use super::*;

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
    let text = include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/assets/config.toml"));
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
