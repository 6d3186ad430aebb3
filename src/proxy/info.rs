//! The read endpoints: liveness, model lists, version, `/metrics` and `/healthz`.

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use time::OffsetDateTime;

use super::error::{ApiError, Flavor, JSON};
use super::wire::ollama::{ModelDetails, PsModel, TagsModel};
use super::wire::openai::ModelEntry;
use super::wire::{rfc3339_nano, to_go_json};
use super::{App, ROUTED_MODEL, answer};
use crate::engine::BreakerState;
use crate::events::Health;

fn json(status: StatusCode, body: String) -> Response {
    (status, [(header::CONTENT_TYPE, JSON)], body).into_response()
}

/// `GET /` and `HEAD /`: Ollama's liveness answer, which clients probe for.
pub async fn root() -> Response {
    (
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        "Ollama is running",
    )
        .into_response()
}

/// The configured models, then `signalbox`, the name that lets the router choose.
fn listed_names(app: &App) -> Vec<String> {
    app.models
        .iter()
        .map(|m| m.to_string())
        .chain([ROUTED_MODEL.to_string()])
        .collect()
}

/// `GET /api/tags`.
pub async fn tags(State(app): State<App>) -> Response {
    let modified_at = rfc3339_nano(app.started);
    let models: Vec<TagsModel> = listed_names(&app)
        .into_iter()
        .map(|name| TagsModel {
            model: name.clone(),
            name,
            modified_at: modified_at.clone(),
            size: 0,
            digest: String::new(),
            details: ModelDetails::default(),
        })
        .collect();
    json(
        StatusCode::OK,
        to_go_json(&serde_json::json!({ "models": models })),
    )
}

/// `POST /api/show` body; `name` is the older spelling of `model`.
#[derive(serde::Deserialize)]
struct ShowRequest {
    #[serde(default)]
    model: Option<String>,
    #[serde(default)]
    name: Option<String>,
}

/// The fields of Ollama's show response that are always present, in its order.
#[derive(serde::Serialize)]
struct ShowResponse {
    details: ModelDetails,
    model_info: serde_json::Map<String, serde_json::Value>,
    capabilities: &'static [&'static str],
    modified_at: String,
}

/// `POST /api/show`: what Ollama's CLI and web front ends ask before chatting. signalbox
/// knows no model files, so it reports the fields Ollama always sends and the
/// `completion` capability.
pub async fn show(State(app): State<App>, headers: HeaderMap, body: Body) -> Response {
    let flavor = Flavor::Ollama;
    let result = async {
        let bytes = super::body::read(body, &headers, app.max_body_bytes, flavor).await?;
        let req: ShowRequest = super::body::parse(&bytes, flavor)?;
        let model = req.model.or(req.name).unwrap_or_default();
        if model.is_empty() {
            return Err(ApiError::bad_request(flavor, "model is required"));
        }
        if !listed_names(&app)
            .iter()
            .any(|m| answer::same_model(&model, m))
        {
            let message = format!("model '{}' not found", answer::tagged(&model));
            return Err(ApiError::new(flavor, StatusCode::NOT_FOUND, message));
        }
        let body = ShowResponse {
            details: ModelDetails::default(),
            model_info: serde_json::Map::new(),
            capabilities: &["completion"],
            modified_at: rfc3339_nano(app.started),
        };
        Ok(json(StatusCode::OK, to_go_json(&body)))
    };
    result.await.unwrap_or_else(IntoResponse::into_response)
}

/// `GET /api/ps`: the models their server last reported as loaded in memory.
pub async fn ps(State(app): State<App>) -> Response {
    let snapshot = app.router.snapshot();
    let now = OffsetDateTime::now_utc();
    let models: Vec<PsModel> = snapshot
        .models
        .iter()
        .filter_map(|m| match &m.health {
            Some(Health::Ready {
                loaded: Some(true),
                vram_bytes,
                expires_in,
                ..
            }) => Some(PsModel {
                name: m.name.to_string(),
                model: m.name.to_string(),
                size: vram_bytes.unwrap_or(0),
                digest: String::new(),
                details: ModelDetails::default(),
                expires_at: rfc3339_nano(now + expires_in.unwrap_or_default()),
                size_vram: vram_bytes.unwrap_or(0),
            }),
            _ => None,
        })
        .collect();
    json(
        StatusCode::OK,
        to_go_json(&serde_json::json!({ "models": models })),
    )
}

/// `GET /api/version`: signalbox's own version.
pub async fn version() -> Response {
    json(
        StatusCode::OK,
        to_go_json(&serde_json::json!({ "version": env!("CARGO_PKG_VERSION") })),
    )
}

#[derive(serde::Serialize)]
struct ModelList {
    object: &'static str,
    data: Vec<ModelEntry>,
}

/// `GET /v1/models`.
pub async fn openai_models(State(app): State<App>) -> Response {
    let created = app.started.unix_timestamp();
    let data: Vec<ModelEntry> = listed_names(&app)
        .into_iter()
        .map(|id| ModelEntry {
            id,
            object: "model",
            created,
            owned_by: "signalbox",
        })
        .collect();
    json(
        StatusCode::OK,
        to_go_json(&ModelList {
            object: "list",
            data,
        }),
    )
}

/// `GET /metrics`: Prometheus text exposition.
pub async fn metrics(State(app): State<App>) -> Response {
    let text = app.metrics.render(&app.router.snapshot());
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        text,
    )
        .into_response()
}

#[derive(serde::Serialize)]
struct HealthBody<'a> {
    status: &'static str,
    open: Vec<&'a str>,
    models: Vec<BreakerEntry<'a>>,
}

#[derive(serde::Serialize)]
struct BreakerEntry<'a> {
    model: &'a str,
    breaker: BreakerState,
    #[serde(skip_serializing_if = "Option::is_none")]
    next_probe_in_ms: Option<u64>,
}

/// `GET /healthz`: 200 while at least one breaker admits requests (closed or half-open),
/// else 503 naming the open ones.
pub async fn healthz(State(app): State<App>) -> Response {
    let snapshot = app.router.snapshot();
    let models: Vec<BreakerEntry> = snapshot
        .models
        .iter()
        .map(|m| BreakerEntry {
            model: &m.name,
            breaker: m.breaker.state,
            next_probe_in_ms: m.breaker.next_probe_in.map(|d| d.as_millis() as u64),
        })
        .collect();
    let admitting = snapshot
        .models
        .iter()
        .any(|m| m.breaker.state != BreakerState::Open);
    let (status, word) = if admitting {
        (StatusCode::OK, "ok")
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "unavailable")
    };
    let open: Vec<&str> = snapshot
        .models
        .iter()
        .filter(|m| m.breaker.state == BreakerState::Open)
        .map(|m| &*m.name)
        .collect();
    json(
        status,
        to_go_json(&HealthBody {
            status: word,
            open,
            models,
        }),
    )
}

/// Unknown routes: OpenAI's error on `/v1`, Go's plain 404 text elsewhere.
pub async fn not_found(request: Request) -> Response {
    match Flavor::for_path(request.uri().path()) {
        Flavor::OpenAi => {
            ApiError::new(Flavor::OpenAi, StatusCode::NOT_FOUND, "Not Found").into_response()
        }
        Flavor::Ollama => (
            StatusCode::NOT_FOUND,
            [(header::CONTENT_TYPE, "text/plain")],
            "404 page not found",
        )
            .into_response(),
    }
}
