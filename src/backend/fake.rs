//! A scriptable in-memory backend for tests, the simulator and benchmarks.
//!
//! Each call takes the next [`Script`] from a queue, or the default one when the queue is
//! empty. Delays use `tokio::time::sleep`, so a paused clock drives them. The backend
//! counts calls, streams finished, and streams dropped before their end (proof that a
//! cancellation reached the server).

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use futures_util::stream;

use super::{Backend, BackendError, ChatRequest, Chunk, ChunkStream, FinalStats};

/// How a script's stream ends after its chunks.
#[derive(Clone, Debug, PartialEq)]
pub enum Ending {
    /// `Chunk::Done` with the completion token count.
    Done,
    /// This error instead of the chunk at `at` (0 = before any text).
    Fail { at: usize, error: BackendError },
    /// Never answer again (after `at` chunks).
    Hang { at: usize },
}

/// One call's behaviour.
#[derive(Clone, Debug, PartialEq)]
pub struct Script {
    /// The text chunks, in order.
    pub chunks: Vec<String>,
    /// Before the first chunk.
    pub first_delay: Duration,
    /// Between chunks.
    pub between: Duration,
    /// Empty keep-alive deltas sent this often while waiting for the first chunk.
    pub keepalive: Option<Duration>,
    pub ending: Ending,
}

impl Script {
    /// `text` split into `chunks` pieces (at least one), answered at once.
    pub fn answer(text: &str, chunks: usize) -> Script {
        Script {
            chunks: split(text, chunks.max(1)),
            first_delay: Duration::ZERO,
            between: Duration::ZERO,
            keepalive: None,
            ending: Ending::Done,
        }
    }

    /// Wait this long before the first chunk.
    pub fn first_after(mut self, delay: Duration) -> Script {
        self.first_delay = delay;
        self
    }

    /// Wait this long between chunks (`Done` follows the last one at once).
    pub fn every(mut self, delay: Duration) -> Script {
        self.between = delay;
        self
    }

    /// Send empty deltas this often while the first chunk is pending.
    pub fn keepalive(mut self, every: Duration) -> Script {
        self.keepalive = Some(every);
        self
    }

    /// Fail with `error` where chunk `at` would have come.
    pub fn fail_at(mut self, at: usize, error: BackendError) -> Script {
        self.ending = Ending::Fail { at, error };
        self
    }

    /// Go silent for ever where chunk `at` would have come.
    pub fn hang_at(mut self, at: usize) -> Script {
        self.ending = Ending::Hang { at };
        self
    }

    /// Never send anything.
    pub fn hang() -> Script {
        Script::answer("", 1).hang_at(0)
    }

    /// Fail at once with `error`.
    pub fn error(error: BackendError) -> Script {
        Script::answer("", 1).fail_at(0, error)
    }

    /// Ollama's 503: the server is busy.
    pub fn busy() -> Script {
        Script::error(BackendError::Busy {
            message: "server busy, please try again".into(),
        })
    }

    /// Ollama's 404 for a model it does not have.
    pub fn not_installed(model: &str) -> Script {
        Script::error(BackendError::NotInstalled {
            model: model.to_string(),
            kind: crate::backend::BackendKind::Ollama,
        })
    }

    /// Nothing listening.
    pub fn refused() -> Script {
        Script::error(BackendError::Connect {
            url: "http://127.0.0.1:11434".into(),
            message: "connection refused".into(),
        })
    }

    /// A 400 caused by the request.
    pub fn bad_request() -> Script {
        Script::error(BackendError::BadRequest {
            status: 400,
            message: "invalid request".into(),
        })
    }

    /// A 500 from the server.
    pub fn server_error() -> Script {
        Script::error(BackendError::Status {
            status: 500,
            message: "internal error".into(),
        })
    }
}

fn split(text: &str, n: usize) -> Vec<String> {
    let chars: Vec<char> = text.chars().collect();
    let size = chars.len().div_ceil(n).max(1);
    let mut out: Vec<String> = chars.chunks(size).map(|c| c.iter().collect()).collect();
    out.retain(|c| !c.is_empty());
    out
}

/// The scriptable backend. Cheap to clone: clones share the script queue and counters.
#[derive(Clone)]
pub struct FakeBackend {
    shared: Arc<Shared>,
}

struct Shared {
    default: Mutex<Script>,
    queue: Mutex<VecDeque<Script>>,
    last_request: Mutex<Option<ChatRequest>>,
    calls: AtomicU64,
    finished: AtomicU64,
    dropped: AtomicU64,
}

impl FakeBackend {
    /// Answers every call with `default` unless a queued script comes first.
    pub fn new(default: Script) -> FakeBackend {
        FakeBackend {
            shared: Arc::new(Shared {
                default: Mutex::new(default),
                queue: Mutex::new(VecDeque::new()),
                last_request: Mutex::new(None),
                calls: AtomicU64::new(0),
                finished: AtomicU64::new(0),
                dropped: AtomicU64::new(0),
            }),
        }
    }

    /// Answers "ok" in one chunk, at once.
    pub fn instant() -> FakeBackend {
        FakeBackend::new(Script::answer("ok", 1))
    }

    /// The next calls follow these scripts, in order.
    pub fn push(&self, script: Script) -> &Self {
        lock(&self.shared.queue).push_back(script);
        self
    }

    pub fn set_default(&self, script: Script) {
        *lock(&self.shared.default) = script;
    }

    /// Calls made so far.
    pub fn calls(&self) -> u64 {
        self.shared.calls.load(Ordering::SeqCst)
    }

    /// Streams that reached their end (done or error).
    pub fn finished(&self) -> u64 {
        self.shared.finished.load(Ordering::SeqCst)
    }

    /// Streams dropped before their end: the caller cancelled or gave up.
    pub fn dropped(&self) -> u64 {
        self.shared.dropped.load(Ordering::SeqCst)
    }

    pub fn last_request(&self) -> Option<ChatRequest> {
        lock(&self.shared.last_request).clone()
    }

    fn next_script(&self) -> Script {
        let queued = lock(&self.shared.queue).pop_front();
        queued.unwrap_or_else(|| lock(&self.shared.default).clone())
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // Plain data: a panic elsewhere cannot leave it half-updated in a way that matters.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Backend for FakeBackend {
    fn chat(&self, request: ChatRequest) -> ChunkStream {
        self.shared.calls.fetch_add(1, Ordering::SeqCst);
        *lock(&self.shared.last_request) = Some(request);
        let run = Run {
            script: self.next_script(),
            next: 0,
            waited: Duration::ZERO,
            over: false,
        };
        let guard = DropGuard {
            shared: self.shared.clone(),
            ended: false,
        };
        Box::pin(stream::unfold(
            (run, guard),
            |(mut run, mut guard)| async move {
                let item = run.step().await?;
                if run.over {
                    guard.ended = true;
                }
                Some((item, (run, guard)))
            },
        ))
    }
}

/// Counts the stream as dropped early unless it reached its end.
struct DropGuard {
    shared: Arc<Shared>,
    ended: bool,
}

impl Drop for DropGuard {
    fn drop(&mut self) {
        let counter = if self.ended {
            &self.shared.finished
        } else {
            &self.shared.dropped
        };
        counter.fetch_add(1, Ordering::SeqCst);
    }
}

/// Sleep, except for no time at all: tokio's timer would still wait for its next tick
/// (up to a millisecond), which would swamp what the benchmarks measure.
async fn pause(delay: Duration) {
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
}

struct Run {
    script: Script,
    next: usize,
    /// Time spent so far on the first delay (keep-alives split it).
    waited: Duration,
    over: bool,
}

impl Run {
    /// The next item, after its delay; `None` once the stream is over.
    async fn step(&mut self) -> Option<Result<Chunk, BackendError>> {
        if self.over {
            return None;
        }
        // The delay before this item; the first may be broken up by keep-alives.
        if self.next == 0 {
            let left = self.script.first_delay.saturating_sub(self.waited);
            if let Some(every) = self.script.keepalive.filter(|e| !e.is_zero() && *e < left) {
                tokio::time::sleep(every).await;
                self.waited += every;
                return Some(Ok(Chunk::Delta(String::new())));
            }
            pause(left).await;
        } else if self.next < self.script.chunks.len() || self.script.ending != Ending::Done {
            // `Done` follows the last chunk at once, as servers send it.
            pause(self.script.between).await;
        }

        match &self.script.ending {
            Ending::Fail { at, error } if *at == self.next => {
                self.over = true;
                return Some(Err(error.clone()));
            }
            Ending::Hang { at } if *at == self.next => {
                std::future::pending::<()>().await;
            }
            _ => {}
        }
        let i = self.next;
        self.next += 1;
        match self.script.chunks.get(i) {
            Some(text) => Some(Ok(Chunk::Delta(text.clone()))),
            None => {
                self.over = true;
                let stats = FinalStats {
                    done_reason: Some("stop".into()),
                    completion_tokens: Some(self.script.chunks.len() as u64),
                    ..FinalStats::default()
                };
                Some(Ok(Chunk::Done(stats)))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use futures_util::StreamExt;
    use tokio::time::Instant;

    use super::*;

    async fn collect(stream: ChunkStream) -> Vec<(Duration, Result<Chunk, BackendError>)> {
        let start = Instant::now();
        stream.map(|item| (start.elapsed(), item)).collect().await
    }

    fn delta(s: &str) -> Result<Chunk, BackendError> {
        Ok(Chunk::Delta(s.to_string()))
    }

    #[tokio::test(start_paused = true)]
    async fn answers_in_chunks_on_the_scripted_clock_then_done() {
        let fake = FakeBackend::new(
            Script::answer("abcdef", 3)
                .first_after(Duration::from_secs(1))
                .every(Duration::from_millis(100)),
        );
        let items = collect(fake.chat(ChatRequest::default())).await;
        let ms = Duration::from_millis;
        assert_eq!(items[0], (ms(1000), delta("ab")));
        assert_eq!(items[1], (ms(1100), delta("cd")));
        assert_eq!(items[2], (ms(1200), delta("ef")));
        let (at, Ok(Chunk::Done(stats))) = &items[3] else {
            panic!("{items:?}")
        };
        assert_eq!((*at, stats.completion_tokens), (ms(1200), Some(3)));
        assert_eq!((fake.calls(), fake.finished(), fake.dropped()), (1, 1, 0));
    }

    #[tokio::test(start_paused = true)]
    async fn queued_scripts_come_first_then_the_default() {
        let fake = FakeBackend::instant();
        fake.push(Script::busy())
            .push(Script::answer("x", 1).fail_at(1, BackendError::CutShort));
        let first = collect(fake.chat(ChatRequest::default())).await;
        assert!(matches!(first[..], [(_, Err(BackendError::Busy { .. }))]));
        let second = collect(fake.chat(ChatRequest::default())).await;
        assert_eq!(second.len(), 2);
        assert_eq!(
            (second[0].1.clone(), second[1].1.clone()),
            (delta("x"), Err(BackendError::CutShort))
        );
        let third = collect(fake.chat(ChatRequest::default())).await;
        assert_eq!(third[0].1, delta("ok"));
    }

    #[tokio::test(start_paused = true)]
    async fn keepalives_are_empty_deltas_before_the_first_chunk() {
        let script = Script::answer("hi", 1)
            .first_after(Duration::from_millis(1000))
            .keepalive(Duration::from_millis(300));
        let items = collect(FakeBackend::new(script).chat(ChatRequest::default())).await;
        let texts: Vec<_> = items
            .iter()
            .map(|(at, item)| (at.as_millis(), item.clone()))
            .collect();
        assert_eq!(
            &texts[..4],
            &[
                (300, delta("")),
                (600, delta("")),
                (900, delta("")),
                (1000, delta("hi"))
            ]
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_stream_dropped_before_its_end_is_counted() {
        let fake = FakeBackend::new(Script::hang());
        let mut stream = fake.chat(ChatRequest::default());
        let waited = tokio::time::timeout(Duration::from_secs(5), stream.next()).await;
        assert!(waited.is_err(), "a hung script sends nothing");
        drop(stream);
        assert_eq!((fake.dropped(), fake.finished()), (1, 0));
    }
}
