//! Errors as each kind of client expects them: Ollama's `{"error":"…"}` on `/api` and
//! the root, OpenAI's `{"error":{"message","type","param","code"}}` on `/v1`.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use super::wire::{ollama, openai, to_go_json};
use crate::backend::BackendError;
use crate::engine::{AllFailed, AttemptError};

/// Which error shape a client reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Flavor {
    Ollama,
    OpenAi,
}

impl Flavor {
    /// By path: `/v1/...` is OpenAI's, everything else Ollama's.
    pub fn for_path(path: &str) -> Flavor {
        if path == "/v1" || path.starts_with("/v1/") {
            Flavor::OpenAi
        } else {
            Flavor::Ollama
        }
    }
}

/// An error response: a status and a message, shaped for the client.
#[derive(Clone, Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub message: String,
    pub flavor: Flavor,
    /// Seconds, for `Retry-After` on 503.
    pub retry_after: Option<u64>,
    /// Every model's reason, when every model failed.
    pub attempts: Vec<(String, String)>,
    /// OpenAI's `code`.
    pub code: Option<&'static str>,
}

impl ApiError {
    pub fn new(flavor: Flavor, status: StatusCode, message: impl Into<String>) -> Self {
        ApiError {
            status,
            message: message.into(),
            flavor,
            retry_after: None,
            attempts: Vec::new(),
            code: None,
        }
    }

    pub fn bad_request(flavor: Flavor, message: impl Into<String>) -> Self {
        Self::new(flavor, StatusCode::BAD_REQUEST, message)
    }

    /// Ollama's 404 for a model it does not have, naming the model as sent.
    pub fn model_not_found(flavor: Flavor, requested: &str) -> Self {
        let mut error = Self::new(
            flavor,
            StatusCode::NOT_FOUND,
            format!("model '{requested}' not found"),
        );
        if flavor == Flavor::OpenAi {
            error.code = Some("model_not_found");
        }
        error
    }

    pub fn too_large(flavor: Flavor, limit: usize) -> Self {
        Self::new(
            flavor,
            StatusCode::PAYLOAD_TOO_LARGE,
            format!(
                "request body is larger than the proxy's limit of {limit} bytes; send a shorter \
                 conversation or raise proxy.max_body_bytes"
            ),
        )
    }

    pub fn unauthorized(flavor: Flavor) -> Self {
        let mut error = Self::new(
            flavor,
            StatusCode::UNAUTHORIZED,
            "missing or wrong bearer token: send `Authorization: Bearer <token>`",
        );
        error.code = Some("invalid_api_key");
        error
    }

    pub fn shutting_down(flavor: Flavor) -> Self {
        let mut error = Self::new(
            flavor,
            StatusCode::SERVICE_UNAVAILABLE,
            "signalbox is shutting down; try again later",
        );
        error.retry_after = Some(1);
        error
    }

    /// Every candidate model failed. A request every model refused as bad is the client's
    /// (400); anything else is 503 with `Retry-After` and each model's reason.
    pub fn all_failed(flavor: Flavor, failed: &AllFailed) -> Self {
        let attempts: Vec<(String, String)> = failed
            .attempts
            .iter()
            .map(|(m, e)| (m.to_string(), e.to_string()))
            .collect();
        let all = |f: fn(&AttemptError) -> bool| {
            !failed.attempts.is_empty() && failed.attempts.iter().all(|(_, e)| f(e))
        };

        if all(|e| matches!(e, AttemptError::Backend(BackendError::BadRequest { .. }))) {
            let mut error = Self::bad_request(flavor, failed.to_string());
            error.attempts = attempts;
            return error;
        }
        let busy = all(|e| {
            matches!(
                e,
                AttemptError::BulkheadFull { .. }
                    | AttemptError::CircuitOpen { .. }
                    | AttemptError::Backend(BackendError::Busy { .. })
            )
        });
        let prefix = if busy {
            "server busy, please try again"
        } else {
            "every model failed"
        };
        let mut error = Self::new(
            flavor,
            StatusCode::SERVICE_UNAVAILABLE,
            format!("{prefix}: {failed}"),
        );
        error.retry_after = Some(retry_after_secs(failed));
        error.attempts = attempts;
        error
    }

    /// The JSON body alone (also the in-stream error line of NDJSON).
    pub fn body(&self) -> String {
        match self.flavor {
            Flavor::Ollama if self.attempts.is_empty() => ollama::error_object(&self.message),
            Flavor::Ollama => to_go_json(&ErrorWithAttempts {
                error: &self.message,
                attempts: self
                    .attempts
                    .iter()
                    .map(|(model, error)| Attempt { model, error })
                    .collect(),
            }),
            Flavor::OpenAi => openai::error_object(
                &self.message,
                openai::error_type(self.status.as_u16()),
                self.code,
            ),
        }
    }
}

/// Ollama's error body with each model's reason after it.
#[derive(serde::Serialize)]
struct ErrorWithAttempts<'a> {
    error: &'a str,
    attempts: Vec<Attempt<'a>>,
}

#[derive(serde::Serialize)]
struct Attempt<'a> {
    model: &'a str,
    error: &'a str,
}

/// The soonest a retry can succeed: the nearest breaker probe, else one second.
fn retry_after_secs(failed: &AllFailed) -> u64 {
    failed
        .attempts
        .iter()
        .filter_map(|(_, e)| match e {
            AttemptError::CircuitOpen { next_probe_in } => {
                Some(next_probe_in.as_secs() + u64::from(next_probe_in.subsec_nanos() > 0))
            }
            _ => None,
        })
        .min()
        .unwrap_or(1)
        .max(1)
}

/// The content type of every JSON body Ollama sends.
pub const JSON: &str = "application/json; charset=utf-8";

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut response =
            (self.status, [(header::CONTENT_TYPE, JSON)], self.body()).into_response();
        if let Some(secs) = self.retry_after {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        if self.status == StatusCode::UNAUTHORIZED {
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn failed(errors: Vec<AttemptError>) -> AllFailed {
        AllFailed {
            attempts: errors
                .into_iter()
                .enumerate()
                .map(|(i, e)| (format!("m{i}").into(), e))
                .collect(),
        }
    }

    #[test]
    fn full_queues_are_busy_503_with_retry_after() {
        let error = ApiError::all_failed(
            Flavor::Ollama,
            &failed(vec![
                AttemptError::BulkheadFull {
                    in_flight: 3,
                    queued: 16,
                },
                AttemptError::CircuitOpen {
                    next_probe_in: Duration::from_millis(6500),
                },
            ]),
        );
        assert_eq!(error.status, StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(error.retry_after, Some(7));
        assert!(
            error
                .message
                .starts_with("server busy, please try again: m0: bulkhead full"),
            "{}",
            error.message
        );
        let body = error.body();
        assert!(body.starts_with(r#"{"error":"server busy"#), "{body}");
        let body: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(body["attempts"][1]["model"], "m1");
    }

    #[test]
    fn bad_requests_everywhere_are_the_clients_400() {
        let bad = AttemptError::Backend(BackendError::BadRequest {
            status: 400,
            message: "no".into(),
        });
        let error = ApiError::all_failed(Flavor::OpenAi, &failed(vec![bad]));
        assert_eq!(error.status, StatusCode::BAD_REQUEST);
        assert!(
            error.body().starts_with(r#"{"error":{"message":"#),
            "{}",
            error.body()
        );
        let body: serde_json::Value = serde_json::from_str(&error.body()).unwrap();
        assert_eq!(body["error"]["type"], "invalid_request_error");
        assert_eq!(body["error"]["param"], serde_json::Value::Null);
    }

    #[test]
    fn openai_flavor_is_chosen_by_path() {
        assert_eq!(Flavor::for_path("/v1/models"), Flavor::OpenAi);
        assert_eq!(Flavor::for_path("/api/chat"), Flavor::Ollama);
        assert_eq!(Flavor::for_path("/v10"), Flavor::Ollama);
    }
}
