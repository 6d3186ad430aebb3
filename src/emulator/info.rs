//! The read endpoints: `/`, `/api/version`, `/api/tags`, `/api/ps` and `/v1/models`.
//!
//! Model metadata (size, digest, family) is made up from the model's name, stable from
//! run to run. A model whose fault is `not_installed` is left out of every list.

use std::fmt::Write as _;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use serde_json::{Value, json};
use time::OffsetDateTime;

use super::respond::json as json_response;
use super::state::{ModelEntry, Shared, mix};
use super::wire::timestamp;

/// The version `/api/version` reports: the Ollama release this emulator follows.
pub const OLLAMA_VERSION: &str = "0.33.0";

/// How long `/api/ps` says a model stays loaded (Ollama's default `keep_alive`).
const KEEP_ALIVE_SECONDS: i64 = 300;

/// `GET /` and `HEAD /`.
pub(crate) async fn root() -> &'static str {
    "Ollama is running"
}

/// `GET /api/version`.
pub(crate) async fn version() -> Response {
    body(json!({ "version": OLLAMA_VERSION }))
}

/// `GET /api/tags`: the installed models, `{"models":[]}` when none.
pub(crate) async fn tags(State(shared): State<Arc<Shared>>) -> Response {
    let modified = timestamp(shared.started);
    let models: Vec<Value> = installed(&shared)
        .map(|m| {
            let mut entry = describe(m);
            entry["modified_at"] = Value::from(modified.clone());
            entry["capabilities"] = json!(["completion"]);
            entry
        })
        .collect();
    body(json!({ "models": models }))
}

/// `GET /api/ps`: the models loaded now, `{"models":[]}` when none.
pub(crate) async fn ps(State(shared): State<Arc<Shared>>) -> Response {
    let expires = OffsetDateTime::now_utc() + time::Duration::seconds(KEEP_ALIVE_SECONDS);
    let expires = timestamp(expires);
    let models: Vec<Value> = installed(&shared)
        .filter(|m| m.loaded.load(Ordering::Relaxed))
        .map(|m| {
            let mut entry = describe(m);
            entry["expires_at"] = Value::from(expires.clone());
            entry["size_vram"] = entry["size"].clone();
            entry["context_length"] = Value::from(4096);
            entry
        })
        .collect();
    body(json!({ "models": models }))
}

/// `GET /v1/models`: `data` is `null`, not `[]`, when there are none, as on Ollama.
pub(crate) async fn openai_models(State(shared): State<Arc<Shared>>) -> Response {
    let created = shared.started.unix_timestamp();
    let data: Vec<Value> = installed(&shared)
        .map(|m| json!({ "id": m.name, "object": "model", "created": created, "owned_by": "library" }))
        .collect();
    let data = if data.is_empty() {
        Value::Null
    } else {
        Value::from(data)
    };
    body(json!({ "object": "list", "data": data }))
}

fn installed(shared: &Shared) -> impl Iterator<Item = &Arc<ModelEntry>> {
    shared.models.iter().filter(|m| !m.faults.hides_model())
}

/// The fields `/api/tags` and `/api/ps` share, in Ollama's order.
fn describe(model: &ModelEntry) -> Value {
    let (family, tag) = model
        .name
        .split_once(':')
        .unwrap_or((&model.name, "latest"));
    let family = family.rsplit('/').next().unwrap_or(family);
    let billions = tag.strip_suffix('b').and_then(|n| n.parse::<f64>().ok());
    let size = billions.map_or(1_000_000_000, |b| (b * 650_000_000.0) as u64 + 120_000_000);
    let parameter_size = billions.map_or_else(String::new, |b| format!("{b}B"));
    json!({
        "name": model.name,
        "model": model.name,
        "size": size,
        "digest": digest(model.name_hash),
        "details": {
            "parent_model": "",
            "format": "gguf",
            "family": family,
            "families": [family],
            "parameter_size": parameter_size,
            "quantization_level": "Q4_K_M",
        },
    })
}

/// 64 hex digits, stable for a name.
fn digest(seed: u64) -> String {
    let mut out = String::with_capacity(64);
    for i in 0..4 {
        let _ = write!(out, "{:016x}", mix(seed, i));
    }
    out
}

fn body(value: Value) -> Response {
    // Serialising a `Value` built here cannot fail: its keys are strings.
    let bytes = serde_json::to_vec(&value).unwrap_or_default();
    json_response(StatusCode::OK, bytes)
}
