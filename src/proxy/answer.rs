//! Submitting a request to the engine and following its reply; shared by the native and
//! OpenAI endpoints.
//!
//! Nothing is sent to the client until the first token (or a whole empty answer) is
//! there, so every failure before it is an ordinary error response with its status, as
//! Ollama does. After that the status is 200 and a failure becomes an in-stream error.

use axum::http::{HeaderMap, HeaderName, HeaderValue};
use futures_util::StreamExt;
use futures_util::stream::BoxStream;

use super::error::{ApiError, Flavor};
pub use super::tracker::Tracker;
use super::{App, ROUTED_MODEL};
use crate::engine::{AllFailed, Answer, Origin, Priority, ReplyEvent, Request, Target};
use crate::events::ModelName;

pub const HEADER_PRIORITY: &str = "x-signalbox-priority";
pub const HEADER_FALLBACK: &str = "x-signalbox-fallback";
pub const HEADER_MODEL: &str = "x-signalbox-model";
pub const HEADER_FALLBACKS: &str = "x-signalbox-fallbacks";
pub const HEADER_FALLBACK_FROM: &str = "x-signalbox-fallback-from";

/// What a request's model name means: `signalbox` lets the router choose; a configured
/// model's name (`:latest` implied when a side has no tag) pins it, with fallback only
/// when `X-Signalbox-Fallback: true`.
pub fn target(
    app: &App,
    requested: &str,
    headers: &HeaderMap,
    flavor: Flavor,
) -> Result<Target, ApiError> {
    if same_model(requested, ROUTED_MODEL) {
        return Ok(Target::Routed);
    }
    let Some(name) = app.models.iter().find(|m| same_model(requested, m)) else {
        return Err(ApiError::model_not_found(flavor, requested));
    };
    let fallback = match header_str(headers, HEADER_FALLBACK)
        .map(str::to_ascii_lowercase)
        .as_deref()
    {
        None | Some("false" | "0" | "no") => false,
        Some("true" | "1" | "yes") => true,
        Some(other) => {
            return Err(ApiError::bad_request(
                flavor,
                format!("X-Signalbox-Fallback must be true or false, not '{other}'"),
            ));
        }
    };
    Ok(Target::Model {
        name: name.to_string(),
        fallback,
    })
}

/// Ollama's rule: a name without a tag means `:latest`.
pub fn same_model(a: &str, b: &str) -> bool {
    a == b || tagged(a) == tagged(b)
}

/// The name with its tag, `:latest` when it has none.
pub fn tagged(name: &str) -> std::borrow::Cow<'_, str> {
    if name
        .rsplit('/')
        .next()
        .is_some_and(|last| last.contains(':'))
    {
        name.into()
    } else {
        format!("{name}:latest").into()
    }
}

/// `X-Signalbox-Priority`; proxied requests are background work unless they say otherwise.
pub fn priority(headers: &HeaderMap, flavor: Flavor) -> Result<Priority, ApiError> {
    match header_str(headers, HEADER_PRIORITY)
        .map(str::to_ascii_lowercase)
        .as_deref()
    {
        None | Some("background") => Ok(Priority::Background),
        Some("interactive") => Ok(Priority::Interactive),
        Some(other) => Err(ApiError::bad_request(
            flavor,
            format!("X-Signalbox-Priority must be interactive or background, not '{other}'"),
        )),
    }
}

fn header_str<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
}

/// Build the engine request.
pub fn request(
    app: &App,
    messages: Vec<crate::backend::Message>,
    target: Target,
    priority: Priority,
    client: &str,
    options: serde_json::Map<String, serde_json::Value>,
    format: Option<serde_json::Value>,
) -> Request {
    if app.log_content {
        let prompt = messages
            .last()
            .map(|m| m.content.as_str())
            .unwrap_or_default();
        tracing::info!(client, prompt, "prompt text");
    }
    Request {
        messages,
        priority,
        target,
        origin: Origin::Proxy(client.to_string()),
        options,
        format,
    }
}

/// How a reply opened.
pub enum First {
    /// The first token; more follow.
    Token(String),
    /// The whole answer came without a token (an empty answer).
    Done(Box<Answer>),
}

/// A reply whose first token has been seen. Dropping it cancels the request.
pub struct Following {
    reply: BoxStream<'static, ReplyEvent>,
    app: App,
    /// The model answering.
    pub model: ModelName,
    /// Models that failed before this one.
    pub fallbacks: Vec<ModelName>,
    /// Token chunks passed on so far.
    pub chunks: u64,
    pub tracker: Tracker,
}

/// What comes next in a started reply.
pub enum Step {
    Token(String),
    Done(Box<Answer>),
    /// The reply cannot go on; the message is for an in-stream error.
    Error(String),
}

/// Submit and wait for the first token. Any failure before it is an error response.
pub async fn start(
    app: &App,
    request: Request,
    mut tracker: Tracker,
    flavor: Flavor,
) -> Result<(First, Following), ApiError> {
    let mut reply = app.router.submit(request);
    let mut model: Option<ModelName> = None;
    let mut fallbacks = Vec::new();
    let first = loop {
        let event = next_event(app, &mut reply, &mut tracker, flavor).await?;
        match event {
            Some(ReplyEvent::Routed { model: m, .. }) => model = Some(m),
            Some(ReplyEvent::Retrying { failed, next, .. }) => {
                fallbacks.push(failed);
                model = Some(next);
            }
            Some(ReplyEvent::Token(text)) => break First::Token(text),
            Some(ReplyEvent::Done(answer)) => break First::Done(Box::new(answer)),
            Some(ReplyEvent::Failed(failed)) => return Err(fail(&mut tracker, flavor, &failed)),
            None => return Err(ended_early(&mut tracker, flavor)),
        }
    };
    let model = match (&first, model) {
        (First::Done(answer), _) => answer.model.clone(),
        (_, Some(model)) => model,
        (_, None) => ModelName::from(""),
    };
    let chunks = u64::from(matches!(first, First::Token(_)));
    Ok((
        first,
        Following {
            reply,
            app: app.clone(),
            model,
            fallbacks,
            chunks,
            tracker,
        },
    ))
}

impl Following {
    /// The next step; after `Done` or `Error` the reply is over.
    pub async fn next(&mut self) -> Step {
        loop {
            let event = tokio::select! {
                event = self.reply.next() => event,
                () = self.app.cut.cancelled() => {
                    return Step::Error("signalbox is shutting down; the answer was cut short".to_string());
                }
            };
            match event {
                Some(ReplyEvent::Token(text)) => {
                    self.chunks += 1;
                    return Step::Token(text);
                }
                Some(ReplyEvent::Done(answer)) => return Step::Done(Box::new(answer)),
                Some(ReplyEvent::Routed { .. }) => {}
                // The client already has part of the failed model's answer and a stream
                // cannot take it back, so a fallback after the first token ends the stream.
                Some(ReplyEvent::Retrying { failed, error, .. }) => {
                    return Step::Error(format!(
                        "{failed} failed after its answer had started ({error}); the answer is incomplete, \
                         retry the request"
                    ));
                }
                Some(ReplyEvent::Failed(failed)) => {
                    return Step::Error(format!("every model failed: {failed}"));
                }
                None => {
                    return Step::Error("the engine ended the reply without an answer".to_string());
                }
            }
        }
    }

    /// Headers naming the answering model and the fallbacks before it.
    pub fn headers(&self) -> HeaderMap {
        answer_headers(&self.model, &self.fallbacks)
    }
}

/// Wait for the whole answer (non-streaming). A fallback at any point is invisible to the
/// client: only the answering model's text is returned.
pub async fn collect(
    app: &App,
    request: Request,
    mut tracker: Tracker,
    flavor: Flavor,
) -> Result<(Answer, Tracker), ApiError> {
    let mut reply = app.router.submit(request);
    let mut chunks = 0;
    loop {
        let event = next_event(app, &mut reply, &mut tracker, flavor).await?;
        match event {
            Some(ReplyEvent::Token(_)) => chunks += 1,
            Some(ReplyEvent::Retrying { .. }) => chunks = 0,
            Some(ReplyEvent::Routed { .. }) => {}
            Some(ReplyEvent::Done(answer)) => {
                tracker.answered(&answer, chunks);
                return Ok((answer, tracker));
            }
            Some(ReplyEvent::Failed(failed)) => return Err(fail(&mut tracker, flavor, &failed)),
            None => return Err(ended_early(&mut tracker, flavor)),
        }
    }
}

/// The reply's next event; when the server is shutting down, the error that says so,
/// accounted on the tracker.
async fn next_event(
    app: &App,
    reply: &mut BoxStream<'static, ReplyEvent>,
    tracker: &mut Tracker,
    flavor: Flavor,
) -> Result<Option<ReplyEvent>, ApiError> {
    tokio::select! {
        event = reply.next() => Ok(event),
        () = app.cut.cancelled() => {
            let error = ApiError::shutting_down(flavor);
            tracker.failed(&error.message, false);
            Err(error)
        }
    }
}

fn fail(tracker: &mut Tracker, flavor: Flavor, failed: &AllFailed) -> ApiError {
    let error = ApiError::all_failed(flavor, failed);
    tracker.failed(&error.message, false);
    error
}

fn ended_early(tracker: &mut Tracker, flavor: Flavor) -> ApiError {
    let error = ApiError::new(
        flavor,
        axum::http::StatusCode::INTERNAL_SERVER_ERROR,
        "the engine ended the reply without an answer",
    );
    tracker.failed(&error.message, false);
    error
}

/// `X-Signalbox-Model`, and when the answer came after fallbacks, `X-Signalbox-Fallbacks`
/// (how many) and `X-Signalbox-Fallback-From` (which models, in order).
pub fn answer_headers(model: &str, fallbacks: &[ModelName]) -> HeaderMap {
    let mut headers = HeaderMap::new();
    let mut put = |name: &'static str, value: &str| {
        if let Ok(value) = HeaderValue::from_str(value) {
            headers.insert(HeaderName::from_static(name), value);
        }
    };
    put(HEADER_MODEL, model);
    if !fallbacks.is_empty() {
        put(HEADER_FALLBACKS, &fallbacks.len().to_string());
        let from: Vec<&str> = fallbacks.iter().map(|m| &**m).collect();
        put(HEADER_FALLBACK_FROM, &from.join(", "));
    }
    headers
}

/// Fallback names of a finished answer.
pub fn fallback_names(answer: &Answer) -> Vec<ModelName> {
    answer.fallbacks.iter().map(|(m, _)| m.clone()).collect()
}

#[cfg(test)]
mod tests {
    use super::same_model;

    #[test]
    fn names_without_tag_mean_latest() {
        assert!(same_model("llama3.2", "llama3.2:latest"));
        assert!(same_model("gemma3:1b", "gemma3:1b"));
        assert!(!same_model("gemma3", "gemma3:1b"));
        assert!(same_model("signalbox:latest", "signalbox"));
        assert!(same_model(
            "host:5000/ns/model",
            "host:5000/ns/model:latest"
        ));
    }
}
