//! The admin endpoints, for scripting faults from outside the process:
//!
//! - `POST /admin/fault` with `{"model":"gemma3:1b","fault":"hang_after","chunks":3}` and
//!   optionally `"times":N` (the next N requests) or `"probability":P`; `"fault":"none"`
//!   clears the model's fault;
//! - `DELETE /admin/fault/{model}` clears one model's fault, `DELETE /admin/fault` all;
//! - `GET /admin/state` shows every model's fault and counters.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::api::decode;
use super::fault::{Fault, FaultRule, Scope};
use super::respond::{error, json, not_found};
use super::state::{ModelStats, Shared};
use super::wire::Dialect;

#[derive(Deserialize)]
struct FaultBody {
    model: String,
    times: Option<u32>,
    probability: Option<f64>,
    #[serde(flatten)]
    fault: Value,
}

/// The admin view of one model.
#[derive(Serialize)]
struct ModelState {
    name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    fault: Option<Fault>,
    #[serde(skip_serializing_if = "Option::is_none")]
    scope: Option<Scope>,
    #[serde(flatten)]
    stats: ModelStats,
}

#[derive(Serialize)]
struct EmulatorState {
    seed: u64,
    speed: f64,
    models: Vec<ModelState>,
    unknown_model: u64,
}

/// `POST /admin/fault`.
pub(crate) async fn set_fault(State(shared): State<Arc<Shared>>, body: Bytes) -> Response {
    let bad = |message: &str| error(Dialect::Chat, StatusCode::BAD_REQUEST, message);
    let req: FaultBody = match decode(&body) {
        Ok(req) => req,
        Err(message) => return bad(&message),
    };
    let fault: Fault = match serde_json::from_value(req.fault) {
        Ok(fault) => fault,
        Err(e) => return bad(&format!("{e}; see GET /admin/state for the fault names")),
    };
    let scope = match (req.times, req.probability) {
        (None, None) => Scope::Always,
        (Some(n), None) => Scope::Times(n),
        (None, Some(p)) if (0.0..=1.0).contains(&p) => Scope::Probability(p),
        (None, Some(_)) => return bad("probability must be between 0 and 1"),
        (Some(_), Some(_)) => return bad("give either times or probability, not both"),
    };
    let Some(entry) = shared.find(&req.model) else {
        return error(Dialect::Chat, StatusCode::NOT_FOUND, &not_found(&req.model));
    };
    tracing::info!(model = %entry.name, fault = fault.name(), ?scope, "emulator fault set");
    entry.faults.set(FaultRule { fault, scope });
    state(State(shared)).await
}

/// `DELETE /admin/fault/{model}`.
pub(crate) async fn clear_fault(
    State(shared): State<Arc<Shared>>,
    Path(model): Path<String>,
) -> Response {
    let Some(entry) = shared.find(&model) else {
        return error(Dialect::Chat, StatusCode::NOT_FOUND, &not_found(&model));
    };
    entry.faults.clear();
    state(State(shared)).await
}

/// `DELETE /admin/fault`.
pub(crate) async fn clear_all(State(shared): State<Arc<Shared>>) -> Response {
    for entry in &shared.models {
        entry.faults.clear();
    }
    state(State(shared)).await
}

/// `GET /admin/state`.
pub(crate) async fn state(State(shared): State<Arc<Shared>>) -> Response {
    let stats = shared.stats();
    let models = shared
        .models
        .iter()
        .map(|m| {
            let rule = m.faults.current();
            ModelState {
                name: m.name.clone(),
                scope: rule.as_ref().map(|r| r.scope),
                fault: rule.map(|r| r.fault),
                stats: stats.model(&m.name),
            }
        })
        .collect();
    let view = EmulatorState {
        seed: shared.seed,
        speed: shared.speed,
        models,
        unknown_model: stats.unknown_model,
    };
    // Plain structs of numbers and strings always serialise.
    json(
        StatusCode::OK,
        serde_json::to_vec(&view).unwrap_or_default(),
    )
}
