//! One answer being generated: admission to a slot, the cold load, the first token, the
//! tokens after it, and the stream-level faults, all on tokio's clock.
//!
//! A [`Generation`] counts itself in flight while it lives. Dropped before it finished,
//! it counts as cancelled: that is how a client that hangs up is seen, because hyper drops
//! the handler future or the response body as soon as the connection closes.

use std::future;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use tokio::sync::OwnedSemaphorePermit;
use tokio::time::Instant;

use super::fault::{Fault, MID_STREAM_MESSAGE};
use super::state::{ModelEntry, mix};
use super::text::Answer;
use super::wire::{DoneReason, Metrics, Writer};

/// How often a keep-alive-only stream sends its filler, before the speed factor.
const KEEP_ALIVE_EVERY: Duration = Duration::from_secs(1);

/// What a request asks of the model, as far as the emulator cares.
#[derive(Clone, Debug, Default)]
pub(crate) struct Ask {
    /// Tokens in the prompt (estimated from its length).
    pub prompt_tokens: u64,
    /// The client's cap on generated tokens (`num_predict`, `max_tokens`).
    pub limit: Option<u32>,
    /// The client's own seed (`options.seed`, `seed`): with it, the same prompt gives the
    /// same answer whatever else the emulator served before.
    pub seed: Option<i64>,
    /// A hash of the prompt, mixed into a client-seeded answer.
    pub prompt_hash: u64,
}

impl Ask {
    /// Ollama's tokenisers average about four bytes a token; each message adds a few for
    /// its template.
    pub(crate) fn add_text(&mut self, text: &str) {
        self.prompt_tokens += (text.len() as u64).div_ceil(4) + 4;
        self.prompt_hash = mix(self.prompt_hash, super::state::fnv1a(text.as_bytes()));
    }
}

/// The request's seeded random source and its fault, decided before any work.
pub(crate) struct Draw {
    pub rng: SmallRng,
    pub fault: Option<Fault>,
}

/// Numbers the request, seeds it and decides its fault: the scripted rule first, then the
/// profile's failure rate.
pub(crate) fn draw(entry: &ModelEntry, emulator_seed: u64, ask: &Ask) -> Draw {
    let number = entry.next_request();
    let base = mix(emulator_seed, entry.name_hash);
    let seed = match ask.seed {
        Some(client) => mix(base, mix(client as u64, ask.prompt_hash)),
        None => mix(base, number),
    };
    let mut rng = SmallRng::seed_from_u64(seed);
    // Both rolls are always drawn so the latencies that follow do not depend on the rule.
    let rule_roll: f64 = rng.random();
    let failure_roll: f64 = rng.random();
    let fault = entry.faults.take(rule_roll).or_else(|| {
        (failure_roll < entry.profile.failure_rate).then(|| entry.profile.failure.clone())
    });
    Draw {
        rng,
        fault: fault.filter(|f| *f != Fault::None),
    }
}

/// What comes next on the stream.
#[derive(Debug)]
pub(crate) enum Event {
    /// A token; its text is in [`Generation::text`].
    Token,
    /// The answer is complete.
    Done(DoneReason),
    /// The model failed mid-answer with this message.
    Error(String),
    /// A line that is not JSON.
    Malformed,
    /// The stream ends here without `done`.
    Truncated,
    /// Filler with no token.
    KeepAlive,
    /// A well-formed chunk with empty content.
    Empty,
}

/// One answer in progress.
pub(crate) struct Generation {
    entry: Arc<ModelEntry>,
    rng: SmallRng,
    answer: Answer,
    ask: Ask,
    fault: Option<Fault>,
    speed: f64,
    start: Instant,
    admitted_at: Option<Instant>,
    first_token_at: Option<Instant>,
    tokens: u32,
    malformed_sent: bool,
    text: String,
    finished: bool,
    generating: bool,
    _permit: Option<OwnedSemaphorePermit>,
}

impl Generation {
    /// Starts counting the request in flight. `fault` is the stream-level fault, if any.
    pub(crate) fn new(entry: Arc<ModelEntry>, draw: Draw, ask: Ask, speed: f64) -> Self {
        let Draw { mut rng, fault } = draw;
        let (low, high) = entry.profile.answer_tokens;
        let target = rng.random_range(low.min(high)..=high.max(low));
        let answer = Answer::new(rng.random(), target);
        entry.counters.in_flight.fetch_add(1, Ordering::Relaxed);
        Generation {
            entry,
            rng,
            answer,
            ask,
            fault,
            speed,
            start: Instant::now(),
            admitted_at: None,
            first_token_at: None,
            tokens: 0,
            malformed_sent: false,
            text: String::with_capacity(32),
            finished: false,
            generating: false,
            _permit: None,
        }
    }

    /// The text of the last [`Event::Token`].
    pub(crate) fn text(&self) -> &str {
        &self.text
    }

    /// Waits for and returns the next event. Pending for ever when the fault is a hang.
    pub(crate) async fn next(&mut self) -> Event {
        if self.fault == Some(Fault::NoAnswer) {
            future::pending::<()>().await;
        }
        if self.fault == Some(Fault::KeepAliveOnly) {
            self.sleep(KEEP_ALIVE_EVERY).await;
            return Event::KeepAlive;
        }
        if self.fault == Some(Fault::EmptyChunks) {
            self.sleep(KEEP_ALIVE_EVERY).await;
            self.text.clear();
            return Event::Empty;
        }
        if self.admitted_at.is_none() {
            self.admit().await;
        }
        if let Some(event) = self.fault_event().await {
            return event;
        }
        if self.ask.limit.is_some_and(|limit| self.tokens >= limit) {
            return Event::Done(DoneReason::Length);
        }
        self.text.clear();
        if !self.answer.next_token(&mut self.text) {
            if matches!(self.fault, Some(Fault::NoDone { chunks: None })) {
                return Event::Truncated;
            }
            return Event::Done(DoneReason::Stop);
        }
        let delay = self.token_delay();
        self.sleep(delay).await;
        if self.first_token_at.is_none() {
            self.first_token_at = Some(Instant::now());
        }
        self.tokens += 1;
        Event::Token
    }

    /// Renders the next event into `out`; true when the stream has ended. A stream that
    /// ended counts as served or faulted.
    pub(crate) async fn render_next(&mut self, writer: &mut Writer, out: &mut Vec<u8>) -> bool {
        match self.next().await {
            Event::Token => {
                writer.token(out, &self.text);
                false
            }
            Event::KeepAlive => {
                writer.keep_alive(out);
                false
            }
            Event::Empty => {
                writer.token(out, "");
                false
            }
            Event::Malformed => {
                writer.malformed(out);
                false
            }
            Event::Done(reason) => {
                let metrics = self.metrics();
                let context = self.context();
                writer.done(out, reason, &metrics, &context);
                self.finish(true);
                true
            }
            Event::Error(message) => {
                writer.error_line(out, &message);
                self.finish(false);
                true
            }
            Event::Truncated => {
                self.finish(false);
                true
            }
        }
    }

    /// The final metrics so far, measured on tokio's clock.
    pub(crate) fn metrics(&self) -> Metrics {
        let now = Instant::now();
        let admitted = self.admitted_at.unwrap_or(now);
        let first = self.first_token_at.unwrap_or(now);
        Metrics {
            total: now - self.start,
            load: admitted - self.start,
            prompt_eval_count: self.ask.prompt_tokens,
            prompt_eval: first.saturating_duration_since(admitted),
            eval_count: u64::from(self.tokens),
            eval: now.saturating_duration_since(first),
        }
    }

    /// Generate's `context`: token ids for the prompt and the answer.
    pub(crate) fn context(&self) -> Vec<u32> {
        let count = self.ask.prompt_tokens + u64::from(self.tokens);
        (0..count)
            .map(|i| (mix(self.ask.prompt_hash, i) % 256_000) as u32)
            .collect()
    }

    /// Records how the answer ended.
    pub(crate) fn finish(&mut self, served: bool) {
        if self.finished {
            return;
        }
        self.finished = true;
        let counter = if served {
            &self.entry.counters.served
        } else {
            &self.entry.counters.faulted
        };
        counter.fetch_add(1, Ordering::Relaxed);
    }

    /// Waits for a generation slot, then pays the cold load if the model is not loaded.
    async fn admit(&mut self) {
        if let Some(slots) = &self.entry.slots {
            // The semaphore is never closed, so acquiring only fails if it were; then the
            // request simply goes ahead without a slot.
            self._permit = slots.clone().acquire_owned().await.ok();
        }
        if !self.entry.loaded.load(Ordering::Relaxed) {
            let load = self.entry.profile.load;
            self.sleep(load).await;
            self.entry.loaded.store(true, Ordering::Relaxed);
        }
        self.entry.generating.fetch_add(1, Ordering::Relaxed);
        self.generating = true;
        self.admitted_at = Some(Instant::now());
    }

    /// The stream-level fault's event at this point of the answer, if any.
    async fn fault_event(&mut self) -> Option<Event> {
        match self.fault.as_ref()? {
            Fault::HangAfter { chunks } if self.tokens >= *chunks => {
                future::pending::<()>().await;
                None
            }
            Fault::ErrorMidStream { chunks, message } if self.tokens >= (*chunks).max(1) => {
                let message = message
                    .clone()
                    .unwrap_or_else(|| MID_STREAM_MESSAGE.to_string());
                Some(Event::Error(message))
            }
            Fault::NoDone {
                chunks: Some(chunks),
            } if self.tokens >= *chunks => Some(Event::Truncated),
            Fault::Malformed { chunks }
                if !self.malformed_sent && self.tokens >= (*chunks).max(1) =>
            {
                self.malformed_sent = true;
                Some(Event::Malformed)
            }
            _ => None,
        }
    }

    /// The wait before the next token: the first-token latency for the first one, the
    /// per-token latency after it, stretched by load and by a slow drip.
    fn token_delay(&mut self) -> Duration {
        let profile = &self.entry.profile;
        let latency = if self.tokens == 0 {
            &profile.first_token
        } else {
            &profile.per_token
        };
        if latency.is_zero() {
            return Duration::ZERO;
        }
        let base = latency.sample(&mut self.rng);
        let generating = self.entry.generating.load(Ordering::Relaxed).max(1);
        let mut factor = 1.0 + profile.load_penalty * (generating - 1) as f64;
        if let Some(Fault::SlowDrip { factor: drip }) = &self.fault
            && self.tokens > 0
        {
            factor *= drip.max(0.0);
        }
        base.mul_f64(factor)
    }

    async fn sleep(&self, delay: Duration) {
        if delay.is_zero() {
            return;
        }
        tokio::time::sleep(delay.div_f64(self.speed)).await;
    }
}

impl Drop for Generation {
    fn drop(&mut self) {
        let counters = &self.entry.counters;
        counters.in_flight.fetch_sub(1, Ordering::Relaxed);
        if !self.finished {
            counters.cancelled.fetch_add(1, Ordering::Relaxed);
        }
        if self.generating {
            self.entry.generating.fetch_sub(1, Ordering::Relaxed);
        }
    }
}
