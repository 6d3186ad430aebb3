//! How each table and key of the file becomes a typed setting.
//!
//! A model's settings are looked up first in its own `[[model]]` table, then in
//! `[defaults]`, then fall back to the built-in defaults.

use std::net::SocketAddr;
use std::path::PathBuf;

use toml::de::{DeTable, DeValue};
use url::Url;

use super::reader::{Found, Origin, Reader, Table};
use super::schema::ROOT;
use crate::backend::BackendKind;
use crate::config::*;

/// The Ollama address for models that name no `url`, and what set it.
pub(crate) struct OllamaDefault {
    pub url: Result<Url, ConfigError>,
    /// `OLLAMA_HOST`, `--ollama-host`; `None` for the built-in default.
    pub origin: Option<String>,
}

/// Reads the whole document; problems go to the reader.
pub(crate) fn read_config(
    r: &mut Reader<'_>,
    root: &DeTable<'_>,
    ollama: &OllamaDefault,
) -> Config {
    let root = Table {
        entries: root,
        path: String::new(),
    };
    r.check_keys(&root, ROOT);
    Config {
        models: read_models(r, &root, ollama),
        routing: read_routing(r, sub(&root, "routing")),
        proxy: read_proxy(r, sub(&root, "proxy")),
        log: read_log(r, sub(&root, "log")),
    }
}

/// A sub-table, when present and a table (a wrong type is reported by `check_keys`).
fn sub<'t, 'i>(table: &Table<'t, 'i>, name: &str) -> Vec<Table<'t, 'i>> {
    match table.entries.get(name).map(|v| v.get_ref()) {
        Some(DeValue::Table(entries)) => vec![Table {
            entries,
            path: name.to_string(),
        }],
        _ => Vec::new(),
    }
}

/// Reads the first layer's value at `relative`, recording it as the origin of `setting`.
fn field<'s, T>(
    r: &mut Reader<'s>,
    layers: &[Table<'_, '_>],
    relative: &str,
    setting: &str,
    read: impl FnOnce(&mut Reader<'s>, &Found<'_, '_>) -> Option<T>,
) -> Option<T> {
    let found = layers.iter().find_map(|layer| layer.lookup(relative))?;
    r.note_origin(setting.to_string(), &found);
    read(r, &found)
}

fn read_routing(r: &mut Reader<'_>, layers: Vec<Table<'_, '_>>) -> RoutingConfig {
    let mut routing = RoutingConfig::default();
    let l = &layers;
    if let Some(strategy) = field(r, l, "strategy", "routing.strategy", strategy) {
        routing.strategy = strategy;
    }
    if let Some(n) = field(r, l, "warmup", "routing.warmup", Reader::count) {
        routing.warmup = n;
    }
    if let Some(d) = field(r, l, "window", "routing.window", Reader::duration) {
        routing.window = d;
    }
    if let Some(n) = field(r, l, "probe_every", "routing.probe_every", Reader::count) {
        routing.probe_every = n;
    }
    if let Some(on) = field(r, l, "hedge", "routing.hedge", Reader::boolean) {
        routing.hedge = on;
    }
    if let Some(share) = field(r, l, "hedge_budget", "routing.hedge_budget", Reader::number) {
        routing.hedge_budget = share;
    }
    routing
}

/// A strategy name; a wrong one lists the valid ones.
pub(crate) fn parse_strategy(name: &str) -> Result<StrategyKind, String> {
    StrategyKind::from_name(name).ok_or_else(|| {
        let names: Vec<&str> = StrategyKind::ALL.iter().map(|k| k.name()).collect();
        let close = crate::config::error::did_you_mean(name, &names)
            .map(|c| format!("did you mean \"{c}\"? "))
            .unwrap_or_default();
        format!(
            "\"{name}\" is not a routing strategy; {close}choose one of: {}",
            names.join(", ")
        )
    })
}

fn strategy(r: &mut Reader<'_>, found: &Found<'_, '_>) -> Option<StrategyKind> {
    let name = r.string(found)?;
    parse_strategy(&name)
        .map_err(|why| r.problem(&found.key, &found.value.span(), why))
        .ok()
}

/// A listen address such as `127.0.0.1:11435`.
pub(crate) fn parse_listen(text: &str) -> Result<SocketAddr, String> {
    text.trim().parse().map_err(|_| {
        format!("\"{text}\" is not an address to listen on; write an IP and a port, e.g. 127.0.0.1:11435")
    })
}

fn read_proxy(r: &mut Reader<'_>, layers: Vec<Table<'_, '_>>) -> ProxyConfig {
    let mut proxy = ProxyConfig::default();
    let l = &layers;
    let listen = |r: &mut Reader<'_>, f: &Found<'_, '_>| {
        let text = r.string(f)?;
        parse_listen(&text)
            .map_err(|why| r.problem(&f.key, &f.value.span(), why))
            .ok()
    };
    if let Some(addr) = field(r, l, "listen", "proxy.listen", listen) {
        proxy.listen = addr;
    }
    if let Some(b) = field(r, l, "allow_remote", "proxy.allow_remote", Reader::boolean) {
        proxy.allow_remote = b;
    }
    if let Some(s) = field(r, l, "token_env", "proxy.token_env", Reader::string) {
        proxy.token_env = Some(s);
    }
    if let Some(list) = field(r, l, "cors_origins", "proxy.cors_origins", Reader::strings) {
        for index in 0..list.len() {
            // Each origin points at the list; the list's own line is close enough.
            if let Some(Origin::File { key, span }) = r.origins.get("proxy.cors_origins").cloned() {
                let origin = Origin::File {
                    key: format!("{key}[{index}]"),
                    span,
                };
                r.origins
                    .insert(format!("proxy.cors_origins[{index}]"), origin);
            }
        }
        proxy.cors_origins = list;
    }
    if let Some(n) = field(
        r,
        l,
        "max_body_bytes",
        "proxy.max_body_bytes",
        Reader::count,
    ) {
        proxy.max_body_bytes = n;
    }
    if let Some(d) = field(
        r,
        l,
        "shutdown_grace",
        "proxy.shutdown_grace",
        Reader::duration,
    ) {
        proxy.shutdown_grace = d;
    }
    proxy
}

fn read_log(r: &mut Reader<'_>, layers: Vec<Table<'_, '_>>) -> LogConfig {
    let mut log = LogConfig::default();
    let l = &layers;
    if let Some(s) = field(r, l, "level", "log.level", Reader::string) {
        log.level = s;
    }
    if let Some(s) = field(r, l, "file", "log.file", Reader::string) {
        log.file = Some(PathBuf::from(s));
    }
    if let Some(b) = field(r, l, "content", "log.content", Reader::boolean) {
        log.log_content = b;
    }
    log
}

fn read_models(
    r: &mut Reader<'_>,
    root: &Table<'_, '_>,
    ollama: &OllamaDefault,
) -> Vec<ModelConfig> {
    let defaults = sub(root, "defaults");

    // Problems in [defaults] are reported once, even when every model overrides them.
    if let Some(table) = defaults.first() {
        let mut scratch = Reader::new(&r.source, r.text);
        read_model(
            &mut scratch,
            std::slice::from_ref(table),
            "defaults",
            ollama,
        );
        r.problems.append(&mut scratch.problems);
    }

    let Some(list) = root.entries.get("model") else {
        return Vec::new();
    };
    r.origins.insert(
        "model".into(),
        Origin::File {
            key: "model".into(),
            span: list.span(),
        },
    );
    let Some(items) = list.get_ref().as_array() else {
        return Vec::new();
    };

    let mut models = Vec::new();
    for (index, item) in items.iter().enumerate() {
        let Some(entries) = item.get_ref().as_table() else {
            continue;
        };
        let key = format!("model[{index}]");
        r.origins.insert(
            key.clone(),
            Origin::File {
                key: key.clone(),
                span: item.span(),
            },
        );
        let mut layers = vec![Table {
            entries,
            path: key.clone(),
        }];
        layers.extend(defaults.iter().cloned());
        if entries.get("name").is_none() {
            r.problem(
                &format!("{key}.name"),
                &item.span(),
                "missing; every [[model]] needs a name",
            );
        }
        models.push(read_model(r, &layers, &key, ollama));
    }
    models
}

fn read_model(
    r: &mut Reader<'_>,
    layers: &[Table<'_, '_>],
    key: &str,
    ollama: &OllamaDefault,
) -> ModelConfig {
    let setting = |name: &str| format!("{key}.{name}");
    let unnamed = format!("<{key}>");
    let name = field(r, &layers[..1], "name", &setting("name"), Reader::string).unwrap_or(unnamed);
    let mut model = ModelConfig::ollama(name, placeholder_url(), TimeoutConfig::default().total);
    let l = layers;

    model.server_model = field(
        r,
        &l[..1],
        "server_model",
        &setting("server_model"),
        Reader::string,
    );
    if let Some(kind) = field(r, l, "backend", &setting("backend"), backend) {
        model.backend = kind;
    }
    model.base_url = match field(r, l, "url", &setting("url"), url) {
        Some(url) => url,
        None => {
            if let Some(origin) = &ollama.origin {
                r.origins
                    .insert(setting("url"), Origin::Outside(origin.clone()));
            }
            match &ollama.url {
                Ok(url) => url.clone(),
                Err(problem) => {
                    r.problems.push(problem.clone());
                    placeholder_url()
                }
            }
        }
    };
    model.api_key_env = field(r, l, "api_key_env", &setting("api_key_env"), Reader::string);
    model.keep_alive = field(r, l, "keep_alive", &setting("keep_alive"), Reader::json);

    let total = field(r, l, "timeout", &setting("timeout"), Reader::duration);
    let mut timeouts = TimeoutConfig::with_total(total.unwrap_or(TimeoutConfig::default().total));
    let limits = [
        ("first_token_timeout", &mut timeouts.first_token),
        ("stall_timeout", &mut timeouts.stall),
        ("connect_timeout", &mut timeouts.connect),
    ];
    for (name, slot) in limits {
        if let Some(d) = field(r, l, name, &setting(name), Reader::duration) {
            *slot = d;
        }
    }
    model.timeouts = timeouts;

    let b = &mut model.bulkhead;
    let rel = "bulkhead.max_in_flight";
    if let Some(n) = field(r, l, rel, &setting(rel), Reader::count) {
        b.max_in_flight = n;
    }
    let rel = "bulkhead.queue_capacity";
    if let Some(n) = field(r, l, rel, &setting(rel), Reader::count) {
        b.queue_capacity = n;
    }
    read_breaker(r, l, key, &mut model.breaker);
    model.options = read_options(r, l);
    model
}

fn read_breaker(r: &mut Reader<'_>, l: &[Table<'_, '_>], key: &str, breaker: &mut BreakerConfig) {
    let setting = |name: &str| format!("{key}.breaker.{name}");
    let counts = [
        ("failure_threshold", &mut breaker.failure_threshold),
        ("half_open_probes", &mut breaker.half_open_probes),
    ];
    for (name, slot) in counts {
        if let Some(n) = field(
            r,
            l,
            &format!("breaker.{name}"),
            &setting(name),
            Reader::count,
        ) {
            *slot = n;
        }
    }
    let durations = [
        ("open_base", &mut breaker.open_base),
        ("open_max", &mut breaker.open_max),
        ("probe_timeout", &mut breaker.probe_timeout),
    ];
    for (name, slot) in durations {
        if let Some(d) = field(
            r,
            l,
            &format!("breaker.{name}"),
            &setting(name),
            Reader::duration,
        ) {
            *slot = d;
        }
    }
    let present = l.iter().any(|t| t.lookup("breaker.failure_rate").is_some());
    if present {
        let mut rate = FailureRateConfig::default();
        let rel = |n: &str| format!("breaker.failure_rate.{n}");
        let set = |n: &str| setting(&format!("failure_rate.{n}"));
        if let Some(n) = field(r, l, &rel("window"), &set("window"), Reader::count) {
            rate.window = n;
        }
        if let Some(n) = field(r, l, &rel("min_calls"), &set("min_calls"), Reader::count) {
            rate.min_calls = n;
        }
        if let Some(x) = field(r, l, &rel("threshold"), &set("threshold"), Reader::number) {
            rate.threshold = x;
        }
        breaker.failure_rate = Some(rate);
    }
}

/// `[defaults.options]` and then the model's own `options`, key by key.
fn read_options(
    r: &mut Reader<'_>,
    layers: &[Table<'_, '_>],
) -> serde_json::Map<String, serde_json::Value> {
    let mut options = serde_json::Map::new();
    for layer in layers.iter().rev() {
        if let Some(DeValue::Table(entries)) = layer.entries.get("options").map(|v| v.get_ref()) {
            let path = format!("{}.options", layer.path);
            if let Some(values) = r.json_object(entries, &path) {
                options.extend(values);
            }
        }
    }
    options
}

fn backend(r: &mut Reader<'_>, found: &Found<'_, '_>) -> Option<BackendKind> {
    match r.string(found)?.as_str() {
        "ollama" => Some(BackendKind::Ollama),
        "openai" => Some(BackendKind::OpenAi),
        other => {
            let message = format!("\"{other}\" is not a backend; choose one of: ollama, openai");
            r.problem(&found.key, &found.value.span(), message);
            None
        }
    }
}

fn url(r: &mut Reader<'_>, found: &Found<'_, '_>) -> Option<Url> {
    let text = r.string(found)?;
    match Url::parse(&text) {
        Ok(url) => Some(url),
        Err(e) => {
            let message =
                format!("\"{text}\" is not a URL ({e}); write e.g. http://127.0.0.1:11434");
            r.problem(&found.key, &found.value.span(), message);
            None
        }
    }
}

/// Stands in where a URL could not be read; its problem is reported already.
fn placeholder_url() -> Url {
    default_ollama_url()
}
