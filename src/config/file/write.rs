//! A typed configuration written back as TOML, every setting explicit.

use std::time::Duration;

use toml::{Table, Value};

use crate::config::validate::fmt_duration;
use crate::config::{BreakerConfig, Config, ModelConfig};

pub(super) fn to_toml(config: &Config) -> String {
    let mut root = Table::new();

    let mut routing = Table::new();
    routing.insert("strategy".into(), config.routing.strategy.name().into());
    routing.insert("warmup".into(), i64::from(config.routing.warmup).into());
    routing.insert("window".into(), duration(config.routing.window));
    routing.insert(
        "probe_every".into(),
        i64::from(config.routing.probe_every).into(),
    );
    routing.insert("hedge".into(), config.routing.hedge.into());
    routing.insert("hedge_budget".into(), config.routing.hedge_budget.into());
    root.insert("routing".into(), routing.into());

    let models = config
        .models
        .iter()
        .map(|m| Value::Table(model(m)))
        .collect();
    root.insert("model".into(), Value::Array(models));

    let p = &config.proxy;
    let mut proxy = Table::new();
    proxy.insert("listen".into(), p.listen.to_string().into());
    proxy.insert("allow_remote".into(), p.allow_remote.into());
    if let Some(var) = &p.token_env {
        proxy.insert("token_env".into(), var.clone().into());
    }
    let origins = p
        .cors_origins
        .iter()
        .map(|o| Value::from(o.clone()))
        .collect();
    proxy.insert("cors_origins".into(), Value::Array(origins));
    proxy.insert("max_body_bytes".into(), count(p.max_body_bytes as u64));
    proxy.insert("shutdown_grace".into(), duration(p.shutdown_grace));
    root.insert("proxy".into(), proxy.into());

    let mut log = Table::new();
    log.insert("level".into(), config.log.level.clone().into());
    if let Some(file) = &config.log.file {
        log.insert("file".into(), file.display().to_string().into());
    }
    log.insert("content".into(), config.log.log_content.into());
    root.insert("log".into(), log.into());

    root.to_string()
}

fn model(m: &ModelConfig) -> Table {
    let mut t = Table::new();
    t.insert("name".into(), m.name.clone().into());
    if let Some(server_model) = &m.server_model {
        t.insert("server_model".into(), server_model.clone().into());
    }
    t.insert("backend".into(), m.backend.to_string().into());
    t.insert("url".into(), m.base_url.to_string().into());
    if let Some(var) = &m.api_key_env {
        t.insert("api_key_env".into(), var.clone().into());
    }
    t.insert("timeout".into(), duration(m.timeouts.total));
    t.insert(
        "first_token_timeout".into(),
        duration(m.timeouts.first_token),
    );
    t.insert("stall_timeout".into(), duration(m.timeouts.stall));
    t.insert("connect_timeout".into(), duration(m.timeouts.connect));
    if let Some(value) = m.keep_alive.as_ref().and_then(json) {
        t.insert("keep_alive".into(), value);
    }
    let mut bulkhead = Table::new();
    bulkhead.insert(
        "max_in_flight".into(),
        count(m.bulkhead.max_in_flight as u64),
    );
    bulkhead.insert(
        "queue_capacity".into(),
        count(m.bulkhead.queue_capacity as u64),
    );
    t.insert("bulkhead".into(), bulkhead.into());
    t.insert("breaker".into(), breaker(&m.breaker).into());
    let options: Table = m
        .options
        .iter()
        .filter_map(|(k, v)| Some((k.clone(), json(v)?)))
        .collect();
    if !options.is_empty() {
        t.insert("options".into(), Value::Table(options));
    }
    t
}

fn breaker(b: &BreakerConfig) -> Table {
    let mut t = Table::new();
    t.insert(
        "failure_threshold".into(),
        i64::from(b.failure_threshold).into(),
    );
    t.insert("open_base".into(), duration(b.open_base));
    t.insert("open_max".into(), duration(b.open_max));
    t.insert(
        "half_open_probes".into(),
        i64::from(b.half_open_probes).into(),
    );
    t.insert("probe_timeout".into(), duration(b.probe_timeout));
    if let Some(rate) = &b.failure_rate {
        let mut r = Table::new();
        r.insert("window".into(), i64::from(rate.window).into());
        r.insert("min_calls".into(), i64::from(rate.min_calls).into());
        r.insert("threshold".into(), rate.threshold.into());
        t.insert("failure_rate".into(), r.into());
    }
    t
}

fn duration(d: Duration) -> Value {
    Value::String(fmt_duration(d))
}

/// Counts past `i64::MAX` cannot be written in TOML; they are capped there.
fn count(n: u64) -> Value {
    Value::Integer(i64::try_from(n).unwrap_or(i64::MAX))
}

/// JSON as TOML; `null` has no TOML form and is left out.
fn json(value: &serde_json::Value) -> Option<Value> {
    use serde_json::Value as J;
    Some(match value {
        J::Null => return None,
        J::Bool(b) => Value::Boolean(*b),
        J::Number(n) => match n.as_i64() {
            Some(i) => Value::Integer(i),
            None => Value::Float(n.as_f64()?),
        },
        J::String(s) => Value::String(s.clone()),
        J::Array(items) => Value::Array(items.iter().filter_map(json).collect()),
        J::Object(map) => Value::Table(
            map.iter()
                .filter_map(|(k, v)| Some((k.clone(), json(v)?)))
                .collect(),
        ),
    })
}
