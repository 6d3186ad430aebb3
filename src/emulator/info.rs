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
use serde::Serialize;
use serde_json::json;
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
    body(&json!({ "version": OLLAMA_VERSION }))
}

/// One model in `/api/tags` and `/api/ps`, fields in Ollama's order.
#[derive(Serialize)]
struct ModelView {
    name: String,
    model: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    modified_at: Option<String>,
    size: u64,
    digest: String,
    details: Details,
    #[serde(skip_serializing_if = "Option::is_none")]
    expires_at: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    size_vram: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    context_length: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    capabilities: Option<[&'static str; 1]>,
}

#[derive(Serialize)]
struct Details {
    parent_model: &'static str,
    format: &'static str,
    family: String,
    families: [String; 1],
    parameter_size: String,
    quantization_level: &'static str,
}

#[derive(Serialize)]
struct ModelList {
    models: Vec<ModelView>,
}

/// `GET /api/tags`: the installed models, `{"models":[]}` when none.
pub(crate) async fn tags(State(shared): State<Arc<Shared>>) -> Response {
    let modified = timestamp(shared.started);
    let models = installed(&shared)
        .map(|m| ModelView {
            modified_at: Some(modified.clone()),
            capabilities: Some(["completion"]),
            ..describe(m)
        })
        .collect();
    body(&ModelList { models })
}

/// `GET /api/ps`: the models loaded now, `{"models":[]}` when none.
pub(crate) async fn ps(State(shared): State<Arc<Shared>>) -> Response {
    let expires = OffsetDateTime::now_utc() + time::Duration::seconds(KEEP_ALIVE_SECONDS);
    let expires = timestamp(expires);
    let models = installed(&shared)
        .filter(|m| m.loaded.load(Ordering::Relaxed))
        .map(|m| {
            let view = describe(m);
            ModelView {
                expires_at: Some(expires.clone()),
                size_vram: Some(view.size),
                context_length: Some(4096),
                ..view
            }
        })
        .collect();
    body(&ModelList { models })
}

#[derive(Serialize)]
struct OpenAiModel<'a> {
    id: &'a str,
    object: &'static str,
    created: i64,
    owned_by: &'static str,
}

#[derive(Serialize)]
struct OpenAiList<'a> {
    object: &'static str,
    data: Option<Vec<OpenAiModel<'a>>>,
}

/// `GET /v1/models`: `data` is `null`, not `[]`, when there are none, as on Ollama.
pub(crate) async fn openai_models(State(shared): State<Arc<Shared>>) -> Response {
    let created = shared.started.unix_timestamp();
    let data: Vec<OpenAiModel<'_>> = installed(&shared)
        .map(|m| OpenAiModel {
            id: &m.name,
            object: "model",
            created,
            owned_by: "library",
        })
        .collect();
    let data = (!data.is_empty()).then_some(data);
    body(&OpenAiList {
        object: "list",
        data,
    })
}

fn installed(shared: &Shared) -> impl Iterator<Item = &Arc<ModelEntry>> {
    shared.models.iter().filter(|m| !m.faults.hides_model())
}

/// The fields `/api/tags` and `/api/ps` share.
fn describe(model: &ModelEntry) -> ModelView {
    let (family, tag) = model
        .name
        .split_once(':')
        .unwrap_or((&model.name, "latest"));
    let family = family.rsplit('/').next().unwrap_or(family).to_string();
    let billions = tag.strip_suffix('b').and_then(|n| n.parse::<f64>().ok());
    let size = billions.map_or(1_000_000_000, |b| (b * 650_000_000.0) as u64 + 120_000_000);
    let parameter_size = billions.map_or_else(String::new, |b| format!("{b}B"));
    ModelView {
        name: model.name.clone(),
        model: model.name.clone(),
        modified_at: None,
        size,
        digest: digest(model.name_hash),
        details: Details {
            parent_model: "",
            format: "gguf",
            families: [family.clone()],
            family,
            parameter_size,
            quantization_level: "Q4_K_M",
        },
        expires_at: None,
        size_vram: None,
        context_length: None,
        capabilities: None,
    }
}

/// 64 hex digits, stable for a name.
fn digest(seed: u64) -> String {
    let mut out = String::with_capacity(64);
    for i in 0..4 {
        let _ = write!(out, "{:016x}", mix(seed, i));
    }
    out
}

/// Limitation: these bodies go through serde_json, which leaves `<`, `>` and `&` as they
/// are where Go would escape them; only a model name holding one of them would differ.
fn body(value: &impl Serialize) -> Response {
    // Serialising these plain structs and values cannot fail: every key is a string.
    let bytes = serde_json::to_vec(value).unwrap_or_default();
    json_response(StatusCode::OK, bytes)
}
