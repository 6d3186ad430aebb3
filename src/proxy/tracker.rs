//! One chat request's record for logs and metrics.

use std::time::{Duration, Instant};

use super::App;
use crate::engine::Answer;

/// A request on its way, for logs and metrics. Dropped without an outcome means the
/// client went away, which is logged and counted.
pub struct Tracker {
    app: App,
    endpoint: &'static str,
    requested: String,
    client: String,
    start: Instant,
    done: bool,
}

impl Tracker {
    pub fn new(app: &App, endpoint: &'static str, requested: &str, client: &str) -> Self {
        app.metrics.request_started();
        Tracker {
            app: app.clone(),
            endpoint,
            requested: requested.to_string(),
            client: client.to_string(),
            start: Instant::now(),
            done: false,
        }
    }

    /// Time since the request arrived.
    pub fn elapsed(&self) -> Duration {
        self.start.elapsed()
    }

    pub fn answered(&mut self, answer: &Answer, chunks: u64) {
        self.done = true;
        tracing::info!(
            endpoint = self.endpoint,
            client = %self.client,
            requested = %self.requested,
            model = %answer.model,
            fallbacks = answer.fallbacks.len(),
            chunks,
            ms = self.start.elapsed().as_millis() as u64,
            "answered"
        );
        if self.app.log_content {
            tracing::info!(endpoint = self.endpoint, answer = %answer.text, "answer text");
        }
    }

    pub fn failed(&mut self, error: &str, in_stream: bool) {
        self.done = true;
        if in_stream {
            self.app.metrics.stream_error();
        }
        tracing::warn!(
            endpoint = self.endpoint,
            client = %self.client,
            requested = %self.requested,
            in_stream,
            error,
            ms = self.start.elapsed().as_millis() as u64,
            "not answered"
        );
    }
}

impl Drop for Tracker {
    fn drop(&mut self) {
        self.app.metrics.request_ended();
        if !self.done {
            self.app.metrics.disconnect();
            tracing::info!(
                endpoint = self.endpoint,
                client = %self.client,
                requested = %self.requested,
                ms = self.start.elapsed().as_millis() as u64,
                "client went away; request cancelled"
            );
        }
    }
}
