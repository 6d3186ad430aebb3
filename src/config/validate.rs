//! The rules a configuration must meet, checked all at once on the typed [`Config`].
//!
//! Problems name settings by their path in the configuration file
//! (`model[1].breaker.failure_threshold`), so the TOML loader can point at the line, and
//! code that used the builder reads the same names the documentation uses.

use std::collections::HashMap;
use std::time::Duration;

use url::Url;

use super::{BreakerConfig, Config, ConfigError, ModelConfig};

/// Every problem with `config`; empty when it is valid.
pub(crate) fn validate(config: &Config) -> Vec<ConfigError> {
    let mut problems = Vec::new();
    if config.models.is_empty() {
        problems.push(ConfigError::new(
            "model",
            "no models are configured; add at least one [[model]] table with a name",
        ));
    }
    let mut names: HashMap<&str, usize> = HashMap::new();
    for (index, model) in config.models.iter().enumerate() {
        let key = format!("model[{index}]");
        match names.get(model.name.as_str()) {
            Some(first) => problems.push(ConfigError::new(
                format!("{key}.name"),
                format!(
                    "\"{}\" is already the name of model[{first}]; names must be unique",
                    model.name
                ),
            )),
            None => {
                names.insert(&model.name, index);
            }
        }
        validate_model(&key, model, &mut problems);
    }
    validate_routing(config, &mut problems);
    validate_proxy(config, &mut problems);
    validate_log(config, &mut problems);
    problems
}

fn validate_model(key: &str, model: &ModelConfig, problems: &mut Vec<ConfigError>) {
    if model.name.trim().is_empty() {
        problems.push(ConfigError::new(format!("{key}.name"), "must not be empty"));
    }
    if model
        .server_model
        .as_deref()
        .is_some_and(|s| s.trim().is_empty())
    {
        problems.push(ConfigError::new(
            format!("{key}.server_model"),
            "must not be empty",
        ));
    }
    if let Err(why) = check_url(&model.base_url) {
        problems.push(ConfigError::new(format!("{key}.url"), why));
    }
    if let Some(var) = &model.api_key_env {
        check_env_name(&format!("{key}.api_key_env"), var, problems);
    }
    if let Some(Err(why)) = model.keep_alive.as_ref().map(check_keep_alive) {
        problems.push(ConfigError::new(format!("{key}.keep_alive"), why));
    }

    let t = &model.timeouts;
    let total = format!("{key}.timeout");
    positive(&total, t.total, problems);
    positive(&format!("{key}.connect_timeout"), t.connect, problems);
    // A connect limit past the total is harmless (the total fires first), and a short
    // total with the default connect limit is common, so only these two are compared.
    for (name, limit) in [
        ("first_token_timeout", t.first_token),
        ("stall_timeout", t.stall),
    ] {
        let limit_key = format!("{key}.{name}");
        // With a zero total, the limits derived from it are zero too: one problem is enough.
        if t.total.is_zero() && limit.is_zero() {
            continue;
        }
        if positive(&limit_key, limit, problems) && !t.total.is_zero() && limit > t.total {
            problems.push(ConfigError::new(
                limit_key,
                format!(
                    "\"{}\" is longer than the whole request's timeout (\"{}\"), so it could never fire",
                    fmt_duration(limit),
                    fmt_duration(t.total)
                ),
            ));
        }
    }

    if model.bulkhead.max_in_flight == 0 {
        problems.push(ConfigError::new(
            format!("{key}.bulkhead.max_in_flight"),
            "must be at least 1 (0 would never send a request)",
        ));
    }
    validate_breaker(&format!("{key}.breaker"), &model.breaker, problems);
}

fn validate_breaker(key: &str, breaker: &BreakerConfig, problems: &mut Vec<ConfigError>) {
    if breaker.failure_threshold == 0 {
        problems.push(ConfigError::new(
            format!("{key}.failure_threshold"),
            "must be at least 1",
        ));
    }
    if breaker.half_open_probes == 0 {
        problems.push(ConfigError::new(
            format!("{key}.half_open_probes"),
            "must be at least 1 (0 would keep the breaker from ever closing again)",
        ));
    }
    let base_ok = positive(&format!("{key}.open_base"), breaker.open_base, problems);
    let max_ok = positive(&format!("{key}.open_max"), breaker.open_max, problems);
    if base_ok && max_ok && breaker.open_max < breaker.open_base {
        problems.push(ConfigError::new(
            format!("{key}.open_max"),
            format!(
                "\"{}\" is shorter than open_base (\"{}\"); the longest open period must be at least the first",
                fmt_duration(breaker.open_max),
                fmt_duration(breaker.open_base)
            ),
        ));
    }
    positive(
        &format!("{key}.probe_timeout"),
        breaker.probe_timeout,
        problems,
    );
    if let Some(rate) = &breaker.failure_rate {
        let rate_key = format!("{key}.failure_rate");
        if rate.window == 0 {
            problems.push(ConfigError::new(
                format!("{rate_key}.window"),
                "must be at least 1",
            ));
        }
        if rate.min_calls == 0 {
            problems.push(ConfigError::new(
                format!("{rate_key}.min_calls"),
                "must be at least 1",
            ));
        } else if rate.window > 0 && rate.min_calls > rate.window {
            problems.push(ConfigError::new(
                format!("{rate_key}.min_calls"),
                format!(
                    "{} is more than the window of {} calls, so the rule could never fire",
                    rate.min_calls, rate.window
                ),
            ));
        }
        if !(rate.threshold > 0.0 && rate.threshold <= 1.0) {
            problems.push(ConfigError::new(
                format!("{rate_key}.threshold"),
                format!(
                    "{} is outside 0..1; write the failure rate as a fraction, e.g. 0.5 for half",
                    rate.threshold
                ),
            ));
        }
    }
}

fn validate_routing(config: &Config, problems: &mut Vec<ConfigError>) {
    positive("routing.window", config.routing.window, problems);
    let budget = config.routing.hedge_budget;
    if !(0.0..=1.0).contains(&budget) {
        problems.push(ConfigError::new(
            "routing.hedge_budget",
            format!("{budget} is not a share of requests; use a number from 0 to 1, such as 0.05"),
        ));
    }
}

fn validate_proxy(config: &Config, problems: &mut Vec<ConfigError>) {
    let proxy = &config.proxy;
    if !proxy.listen.ip().is_loopback() && !proxy.allow_remote {
        problems.push(ConfigError::new(
            "proxy.listen",
            format!(
                "{} is reachable from other machines; set proxy.allow_remote = true (and proxy.token_env) to mean it, or listen on 127.0.0.1",
                proxy.listen
            ),
        ));
    }
    if let Some(var) = &proxy.token_env {
        check_env_name("proxy.token_env", var, problems);
    }
    for (index, origin) in proxy.cors_origins.iter().enumerate() {
        if let Err(why) = check_origin(origin) {
            problems.push(ConfigError::new(
                format!("proxy.cors_origins[{index}]"),
                why,
            ));
        }
    }
    if proxy.max_body_bytes == 0 {
        problems.push(ConfigError::new(
            "proxy.max_body_bytes",
            "must be at least 1",
        ));
    }
}

fn validate_log(config: &Config, problems: &mut Vec<ConfigError>) {
    if let Err(why) = check_log_level(&config.log.level) {
        problems.push(ConfigError::new("log.level", why));
    }
    if config
        .log
        .file
        .as_ref()
        .is_some_and(|f| f.as_os_str().is_empty())
    {
        problems.push(ConfigError::new(
            "log.file",
            "must not be empty; leave it out for the default",
        ));
    }
}

/// Records a problem when `value` is zero; says whether it was positive.
fn positive(key: &str, value: Duration, problems: &mut Vec<ConfigError>) -> bool {
    if value.is_zero() {
        problems.push(ConfigError::new(
            key,
            format!("\"{}\" must be more than zero", fmt_duration(value)),
        ));
    }
    !value.is_zero()
}

pub(crate) fn fmt_duration(d: Duration) -> String {
    humantime::format_duration(d).to_string()
}

/// A model's server address must be http(s) with a host; https needs the TLS build.
pub(crate) fn check_url(url: &Url) -> Result<(), String> {
    match url.scheme() {
        "http" => {}
        "https" if cfg!(feature = "tls") => {}
        "https" => {
            return Err(format!(
                "\"{url}\" needs TLS, which this build leaves out; rebuild with --features tls, or use http://"
            ));
        }
        other => {
            return Err(format!(
                "\"{url}\" has scheme \"{other}\"; use http:// or https://"
            ));
        }
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(format!("\"{url}\" has no host"));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(format!("\"{url}\" must not have a query or fragment"));
    }
    Ok(())
}

fn check_env_name(key: &str, var: &str, problems: &mut Vec<ConfigError>) {
    if var.is_empty() || var.contains('=') || var.contains('\0') {
        problems.push(ConfigError::new(
            key,
            format!("\"{var}\" is not an environment variable name; write the variable's name, not its value"),
        ));
    }
}

/// A CORS origin: `*`, or `scheme://host[:port]` with nothing after.
fn check_origin(origin: &str) -> Result<(), String> {
    if origin == "*" {
        return Ok(());
    }
    let shape = "write an origin as scheme://host[:port], e.g. http://localhost:3000, or \"*\"";
    let url = Url::parse(origin).map_err(|_| format!("\"{origin}\" is not an origin; {shape}"))?;
    let bare = url.path() == "/" && !origin.ends_with('/') && url.query().is_none();
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() || !bare {
        return Err(format!("\"{origin}\" is not an origin; {shape}"));
    }
    Ok(())
}

/// Ollama's `keep_alive`: a number of seconds, or a Go duration string (`"5m"`,
/// `"1h30m"`, `"-1s"`); a negative value keeps the model loaded for ever.
fn check_keep_alive(value: &serde_json::Value) -> Result<(), String> {
    match value {
        serde_json::Value::Number(_) => Ok(()),
        serde_json::Value::String(s) if is_go_duration(s) => Ok(()),
        serde_json::Value::String(s) => Err(format!(
            "\"{s}\" is not a duration Ollama accepts; write e.g. \"5m\", \"1h30m\", or a number of seconds (-1 keeps the model loaded)"
        )),
        other => Err(format!(
            "expected a duration string or a number of seconds, found {other}"
        )),
    }
}

/// Go's `time.ParseDuration` syntax: `[-+]` then `0`, or numbers each with a unit of
/// ns, us, µs, ms, s, m or h.
fn is_go_duration(text: &str) -> bool {
    let rest = text.strip_prefix(['-', '+']).unwrap_or(text);
    if rest == "0" {
        return true;
    }
    let mut rest = rest;
    if rest.is_empty() {
        return false;
    }
    while !rest.is_empty() {
        let digits = rest
            .find(|c: char| !c.is_ascii_digit() && c != '.')
            .unwrap_or(rest.len());
        let number = &rest[..digits];
        if number.is_empty() || number == "." || number.matches('.').count() > 1 {
            return false;
        }
        rest = &rest[digits..];
        let unit = ["ns", "us", "µs", "μs", "ms", "s", "m", "h"]
            .into_iter()
            .filter(|u| rest.starts_with(u))
            .max_by_key(|u| u.len());
        match unit {
            Some(unit) => rest = &rest[unit.len()..],
            None => return false,
        }
    }
    true
}

/// A `tracing` filter such as `info` or `signalbox=debug,warn`.
pub(crate) fn check_log_level(level: &str) -> Result<(), String> {
    if level.trim().is_empty() {
        return Err("must not be empty; use e.g. \"info\"".to_string());
    }
    tracing_subscriber::EnvFilter::builder()
        .parse(level)
        .map(drop)
        .map_err(|e| format!("\"{level}\" is not a log filter ({e}); use error, warn, info, debug, trace, or e.g. \"signalbox=debug\""))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{FailureRateConfig, TimeoutConfig};

    fn config() -> Config {
        Config::default_for(Url::parse("http://127.0.0.1:11434").unwrap())
    }

    fn keys(config: &Config) -> Vec<String> {
        validate(config).into_iter().map(|p| p.key).collect()
    }

    #[test]
    fn the_default_configuration_is_valid() {
        assert_eq!(validate(&config()), vec![]);
    }

    #[test]
    fn zero_durations_name_their_key() {
        let mut c = config();
        c.models[1].timeouts = TimeoutConfig {
            total: Duration::ZERO,
            ..TimeoutConfig::default()
        };
        c.models[0].breaker.probe_timeout = Duration::ZERO;
        c.routing.window = Duration::ZERO;
        let problems = validate(&c);
        assert_eq!(
            keys(&c),
            [
                "model[0].breaker.probe_timeout",
                "model[1].timeout",
                "routing.window"
            ]
        );
        assert!(
            problems[1]
                .message
                .contains("\"0s\" must be more than zero"),
            "{}",
            problems[1]
        );
    }

    #[test]
    fn limits_longer_than_the_total_are_reported() {
        let mut c = config();
        c.models[0].timeouts.first_token = Duration::from_secs(90);
        assert_eq!(keys(&c), ["model[0].first_token_timeout"]);
    }

    #[test]
    fn open_max_below_open_base_is_reported() {
        let mut c = config();
        c.models[0].breaker.open_max = Duration::from_secs(5);
        assert_eq!(keys(&c), ["model[0].breaker.open_max"]);
    }

    #[test]
    fn failure_rate_threshold_outside_zero_to_one_is_reported() {
        for bad in [0.0, -0.1, 1.5, f64::NAN] {
            let mut c = config();
            c.models[0].breaker.failure_rate = Some(FailureRateConfig {
                window: 20,
                min_calls: 5,
                threshold: bad,
            });
            assert_eq!(
                keys(&c),
                ["model[0].breaker.failure_rate.threshold"],
                "{bad}"
            );
        }
    }

    #[test]
    fn remote_listen_needs_allow_remote() {
        let mut c = config();
        c.proxy.listen = "0.0.0.0:11435".parse().unwrap();
        assert_eq!(keys(&c), ["proxy.listen"]);
        c.proxy.allow_remote = true;
        assert_eq!(keys(&c), Vec::<String>::new());
    }

    #[test]
    fn duplicate_names_point_at_the_first_use() {
        let mut c = config();
        c.models[1].name = "gemma3:1b".into();
        let problems = validate(&c);
        assert_eq!(problems[0].key, "model[1].name");
        assert!(problems[0].message.contains("model[0]"));
    }

    #[test]
    fn https_needs_the_tls_feature() {
        let result = check_url(&Url::parse("https://api.example.com").unwrap());
        if cfg!(feature = "tls") {
            assert_eq!(result, Ok(()));
        } else {
            assert!(result.unwrap_err().contains("rebuild with --features tls"));
        }
    }

    #[test]
    fn keep_alive_must_be_what_ollama_accepts() {
        for good in ["5m", "1h30m", "-1s", "0", "1.5h", "300ms"] {
            assert!(is_go_duration(good), "{good}");
        }
        for bad in ["5 minutes", "1d", "-1", "", "m", "5x"] {
            assert!(!is_go_duration(bad), "{bad}");
        }
        let mut c = config();
        c.models[0].keep_alive = Some(serde_json::json!("1d"));
        c.models[1].keep_alive = Some(serde_json::json!(-1));
        assert_eq!(keys(&c), ["model[0].keep_alive"]);
    }

    #[test]
    fn bad_log_filters_and_origins_are_reported() {
        let mut c = config();
        c.log.level = "signalbox=loud".into();
        c.proxy.cors_origins = vec!["http://localhost:3000".into(), "localhost".into()];
        assert_eq!(keys(&c), ["proxy.cors_origins[1]", "log.level"]);
    }
}
