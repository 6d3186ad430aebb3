//! Ollama's answers: NDJSON lines, the final `done` object, errors and listings.

use std::time::Duration;

use serde::Serialize;

use crate::backend::FinalStats;
use crate::proxy::wire::to_go_json;

/// The metrics of a final line, in Ollama's order; zeros are left out.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct DoneMetrics {
    #[serde(skip_serializing_if = "is_zero")]
    pub total_duration: u64,
    #[serde(skip_serializing_if = "is_zero")]
    pub load_duration: u64,
    #[serde(skip_serializing_if = "is_zero")]
    pub prompt_eval_count: u64,
    #[serde(skip_serializing_if = "is_zero")]
    pub prompt_eval_duration: u64,
    #[serde(skip_serializing_if = "is_zero")]
    pub eval_count: u64,
    #[serde(skip_serializing_if = "is_zero")]
    pub eval_duration: u64,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

fn nanos(d: Option<Duration>) -> u64 {
    d.map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
}

impl DoneMetrics {
    /// `total` is measured by the proxy (handler start to final line, as Ollama measures
    /// it); the rest is what the answering server reported, unknown left out.
    pub fn new(total: Duration, stats: &FinalStats) -> Self {
        DoneMetrics {
            total_duration: nanos(Some(total)),
            load_duration: nanos(stats.load_duration),
            prompt_eval_count: stats.prompt_tokens.unwrap_or(0),
            prompt_eval_duration: nanos(stats.prompt_eval_duration),
            eval_count: stats.completion_tokens.unwrap_or(0),
            eval_duration: nanos(stats.eval_duration),
        }
    }
}

#[derive(Serialize)]
struct AssistantMessage<'a> {
    role: &'static str,
    content: &'a str,
}

#[derive(Serialize)]
struct ChatLine<'a> {
    model: &'a str,
    created_at: &'a str,
    message: AssistantMessage<'a>,
    done: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    done_reason: Option<&'a str>,
    #[serde(flatten)]
    metrics: DoneMetrics,
}

#[derive(Serialize)]
struct GenerateLine<'a> {
    model: &'a str,
    created_at: &'a str,
    response: &'a str,
    done: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    done_reason: Option<&'a str>,
    #[serde(flatten)]
    metrics: DoneMetrics,
}

/// Which native endpoint a line belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Endpoint {
    Chat,
    Generate,
}

/// One `done:false` object carrying a piece of the answer (no newline).
pub fn token_object(endpoint: Endpoint, model: &str, created_at: &str, text: &str) -> String {
    object(
        endpoint,
        model,
        created_at,
        text,
        None,
        DoneMetrics::default(),
    )
}

/// The `done:true` object (no newline): the final streamed line, or the whole
/// non-streaming answer when `text` is all of it.
pub fn done_object(
    endpoint: Endpoint,
    model: &str,
    created_at: &str,
    text: &str,
    done_reason: &str,
    metrics: DoneMetrics,
) -> String {
    object(
        endpoint,
        model,
        created_at,
        text,
        Some(done_reason),
        metrics,
    )
}

fn object(
    endpoint: Endpoint,
    model: &str,
    created_at: &str,
    text: &str,
    done_reason: Option<&str>,
    metrics: DoneMetrics,
) -> String {
    let done = done_reason.is_some();
    match endpoint {
        Endpoint::Chat => to_go_json(&ChatLine {
            model,
            created_at,
            message: AssistantMessage {
                role: "assistant",
                content: text,
            },
            done,
            done_reason,
            metrics,
        }),
        Endpoint::Generate => to_go_json(&GenerateLine {
            model,
            created_at,
            response: text,
            done,
            done_reason,
            metrics,
        }),
    }
}

/// `{"error":"…"}`, the body of every native error and the in-stream error line.
pub fn error_object(message: &str) -> String {
    to_go_json(&serde_json::json!({ "error": message }))
}

/// `details` of a listed model. signalbox does not know the files behind a model, so the
/// strings are empty, as Ollama leaves unknown ones.
#[derive(Clone, Debug, Default, Serialize)]
pub struct ModelDetails {
    pub parent_model: String,
    pub format: String,
    pub family: String,
    pub families: Option<Vec<String>>,
    pub parameter_size: String,
    pub quantization_level: String,
}

/// One entry of `/api/tags`.
#[derive(Clone, Debug, Serialize)]
pub struct TagsModel {
    pub name: String,
    pub model: String,
    pub modified_at: String,
    pub size: u64,
    pub digest: String,
    pub details: ModelDetails,
}

/// One entry of `/api/ps`.
#[derive(Clone, Debug, Serialize)]
pub struct PsModel {
    pub name: String,
    pub model: String,
    pub size: u64,
    pub digest: String,
    pub details: ModelDetails,
    pub expires_at: String,
    pub size_vram: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chat_token_line_matches_ollama_field_order() {
        let line = token_object(
            Endpoint::Chat,
            "granite3.3:2b",
            "2026-08-21T09:14:02.118Z",
            "Eleven",
        );
        assert_eq!(
            line,
            r#"{"model":"granite3.3:2b","created_at":"2026-08-21T09:14:02.118Z","message":{"role":"assistant","content":"Eleven"},"done":false}"#
        );
    }

    #[test]
    fn chat_done_line_has_reason_then_metrics_in_order() {
        let stats = FinalStats {
            done_reason: Some("stop".into()),
            prompt_tokens: Some(27),
            completion_tokens: Some(3),
            total_duration: None,
            load_duration: Some(Duration::from_nanos(1_502_119_844)),
            prompt_eval_duration: Some(Duration::from_nanos(211_003_000)),
            eval_duration: Some(Duration::from_nanos(41_882_000)),
        };
        let metrics = DoneMetrics::new(Duration::from_nanos(1_893_340_112), &stats);
        let line = done_object(Endpoint::Chat, "granite3.3:2b", "T", "", "stop", metrics);
        assert_eq!(
            line,
            r#"{"model":"granite3.3:2b","created_at":"T","message":{"role":"assistant","content":""},"done":true,"done_reason":"stop","total_duration":1893340112,"load_duration":1502119844,"prompt_eval_count":27,"prompt_eval_duration":211003000,"eval_count":3,"eval_duration":41882000}"#
        );
    }

    #[test]
    fn unknown_metrics_are_left_out_not_zero() {
        let metrics = DoneMetrics::new(Duration::from_nanos(5), &FinalStats::default());
        let line = done_object(Endpoint::Generate, "m", "T", "hi", "stop", metrics);
        assert_eq!(
            line,
            r#"{"model":"m","created_at":"T","response":"hi","done":true,"done_reason":"stop","total_duration":5}"#
        );
    }

    #[test]
    fn generate_token_line_uses_response_field() {
        let line = token_object(Endpoint::Generate, "m", "T", "<b>");
        assert_eq!(
            line,
            r#"{"model":"m","created_at":"T","response":"\u003cb\u003e","done":false}"#
        );
    }
}
