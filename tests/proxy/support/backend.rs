//! A backend that echoes, fails, hangs or faults at random, and counts cancellations.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use signalbox::backend::{Backend, BackendError, ChatRequest, Chunk, ChunkStream, FinalStats};

/// How a test model answers.
#[derive(Clone, Copy, Debug)]
pub enum Behaviour {
    /// "echo: <last user message>", a word per chunk, `delay` before each.
    Echo { delay: Duration },
    /// One token, then a mid-stream error.
    Midway,
    /// One token, then nothing until dropped.
    Hang,
    /// Echo, but fail at random: `before` of the answers fail before the first token, `midway`
    /// of them after it.
    Faulty { before: f64, midway: f64 },
}

/// A backend that behaves as told and counts streams dropped before their end.
pub struct TestBackend {
    behaviour: Behaviour,
    pub cancelled: Arc<AtomicUsize>,
    seed: AtomicU64,
}

impl TestBackend {
    pub fn new(behaviour: Behaviour) -> Arc<TestBackend> {
        Arc::new(TestBackend {
            behaviour,
            cancelled: Arc::new(AtomicUsize::new(0)),
            seed: AtomicU64::new(7),
        })
    }
}

/// Counts a stream dropped before it ended.
struct DropGuard {
    cancelled: Arc<AtomicUsize>,
    ended: bool,
}

impl Drop for DropGuard {
    fn drop(&mut self) {
        if !self.ended {
            self.cancelled.fetch_add(1, Ordering::SeqCst);
        }
    }
}

pub fn echo_text(request: &ChatRequest) -> String {
    let last = request
        .messages
        .last()
        .map(|m| m.content.as_str())
        .unwrap_or_default();
    format!("echo: {last}")
}

fn words(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut current = String::new();
    for c in text.chars() {
        if c == ' ' && !current.is_empty() {
            out.push(std::mem::take(&mut current));
        }
        current.push(c);
    }
    out.push(current);
    out
}

impl Backend for TestBackend {
    fn chat(&self, request: ChatRequest) -> ChunkStream {
        let text = echo_text(&request);
        let tokens = words(&text);
        let stats = FinalStats {
            done_reason: Some("stop".into()),
            prompt_tokens: Some(request.messages.len() as u64 * 10),
            completion_tokens: Some(tokens.len() as u64),
            total_duration: Some(Duration::from_millis(3)),
            load_duration: Some(Duration::from_micros(250)),
            prompt_eval_duration: Some(Duration::from_millis(1)),
            eval_duration: Some(Duration::from_millis(2)),
        };
        let guard = DropGuard {
            cancelled: self.cancelled.clone(),
            ended: false,
        };
        let mut rng = SmallRng::seed_from_u64(self.seed.fetch_add(1, Ordering::Relaxed));
        let (delay, fail_before, fail_midway, hang) = match self.behaviour {
            Behaviour::Echo { delay } => (delay, false, false, false),
            Behaviour::Midway => (Duration::ZERO, false, true, false),
            Behaviour::Hang => (Duration::ZERO, false, false, true),
            Behaviour::Faulty { before, midway } => {
                let roll: f64 = rng.random();
                (
                    Duration::ZERO,
                    roll < before,
                    roll >= before && roll < before + midway,
                    false,
                )
            }
        };
        let state = Play {
            tokens: tokens.into(),
            emitted: 0,
            stats: Some(stats),
            guard,
        };
        Box::pin(futures_util::stream::unfold(
            state,
            move |mut s| async move {
                let stats = s.stats.take()?;
                if fail_before {
                    s.guard.ended = true;
                    return Some((
                        Err(BackendError::Status {
                            status: 500,
                            message: "injected fault".into(),
                        }),
                        s,
                    ));
                }
                if s.emitted == 1 && hang {
                    std::future::pending::<()>().await;
                }
                if s.emitted == 1 && fail_midway {
                    s.guard.ended = true;
                    return Some((
                        Err(BackendError::StreamError {
                            message: "injected midway fault".into(),
                        }),
                        s,
                    ));
                }
                if let Some(token) = s.tokens.pop_front() {
                    if !delay.is_zero() {
                        tokio::time::sleep(delay).await;
                    }
                    s.emitted += 1;
                    s.stats = Some(stats);
                    return Some((Ok(Chunk::Delta(token)), s));
                }
                s.guard.ended = true;
                Some((Ok(Chunk::Done(stats)), s))
            },
        ))
    }
}

/// Where a test backend's answer is.
struct Play {
    tokens: std::collections::VecDeque<String>,
    emitted: usize,
    /// Taken when the stream ends; `None` means ended.
    stats: Option<FinalStats>,
    guard: DropGuard,
}
