//! Simulated models: an in-process [`Backend`] whose answers follow the scenario's profile
//! in force at the current (virtual) time.
//!
//! Each request carries a seed (`sim_seed` in its options). A model draws everything about
//! its answer from that seed and its own index, so the same request sent to the same model
//! in the same phase behaves the same under every strategy: strategies are compared on
//! common random numbers, and differ only by where they send and by the load they cause.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use futures_util::stream;
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use tokio::time::Instant;

use super::scenario::{Profile, Scenario, State};
use crate::backend::{Backend, BackendError, ChatRequest, Chunk, ChunkStream, FinalStats};

/// The option key that carries a request's seed.
pub const SEED_OPTION: &str = "sim_seed";
/// An answer is streamed in at most this many chunks (the token count is exact).
const MAX_CHUNKS: u64 = 8;

/// The scenario's models as they are now: the ground truth the oracle reads.
pub struct World {
    pub scenario: Scenario,
    pub start: Instant,
    /// Streams open per model.
    active: Vec<AtomicUsize>,
}

impl World {
    pub fn new(scenario: Scenario, start: Instant) -> Arc<World> {
        let active = scenario
            .models
            .iter()
            .map(|_| AtomicUsize::new(0))
            .collect();
        Arc::new(World {
            scenario,
            start,
            active,
        })
    }

    /// Time since the simulation started.
    pub fn elapsed(&self) -> Duration {
        Instant::now().saturating_duration_since(self.start)
    }

    /// Model `index`'s profile now.
    pub fn profile(&self, index: usize) -> &Profile {
        self.scenario.models[index].profile_at(self.elapsed())
    }

    /// A backend for model `index`.
    pub fn backend(self: &Arc<World>, index: usize) -> Arc<dyn Backend> {
        Arc::new(SimBackend {
            world: self.clone(),
            index,
        })
    }
}

/// Multiplier on a model's times with `active` requests in flight there (this one too).
pub fn load_factor(profile: &Profile, active: usize) -> f64 {
    1.0 + profile.load_penalty * active.saturating_sub(1) as f64
}

struct SimBackend {
    world: Arc<World>,
    index: usize,
}

/// What one answer will do, drawn when it is sent.
enum Plan {
    Refuse,
    Hang,
    /// A server error after this long.
    Error(Duration),
    Answer {
        first_token: Duration,
        /// Chunks sent (at most [`MAX_CHUNKS`]), tokens in the whole answer, and the time
        /// before each chunk after the first.
        chunks: u64,
        tokens: u64,
        gap: Duration,
    },
}

impl Backend for SimBackend {
    fn chat(&self, request: ChatRequest) -> ChunkStream {
        let seed = request
            .options
            .get(SEED_OPTION)
            .and_then(|v| v.as_u64())
            .unwrap_or(0);
        let t = self.world.elapsed();
        let profile = *self.world.scenario.models[self.index].profile_at(t);
        let active = &self.world.active[self.index];
        let in_flight = active.fetch_add(1, Ordering::Relaxed) + 1;
        let guard = ActiveGuard {
            world: self.world.clone(),
            index: self.index,
        };
        let plan = plan(&profile, t, in_flight, seed, self.index);
        Box::pin(stream::unfold(
            (plan, 0u64, guard),
            |(plan, sent, guard)| async move {
                let item = step(&plan, sent).await?;
                Some((item, (plan, sent + 1, guard)))
            },
        ))
    }
}

/// Draw everything about one answer from its seed.
fn plan(profile: &Profile, t: Duration, in_flight: usize, seed: u64, index: usize) -> Plan {
    if profile.down_at(t) {
        return Plan::Refuse;
    }
    if profile.state == State::Hang {
        return Plan::Hang;
    }
    // splitmix-style mixing keeps seeds of neighbouring models apart.
    let mixed = seed ^ (index as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    let mut rng = SmallRng::seed_from_u64(mixed);
    let fate: f64 = rng.random();
    let load = load_factor(profile, in_flight);
    let first_token = profile.first_token.sample(rng.random(), rng.random()) * load;
    let per_token = profile.token.sample(rng.random(), rng.random()) * load;
    let tokens = profile
        .tokens
        .sample(rng.random(), rng.random())
        .round()
        .max(1.0) as u64;
    // A draw far in the tail is capped at a day: the engine's limits end it long before.
    let secs = |s: f64| Duration::try_from_secs_f64(s.clamp(0.0, 86_400.0)).unwrap_or_default();
    if fate < profile.refuse {
        return Plan::Refuse;
    }
    if fate < profile.refuse + profile.hang {
        return Plan::Hang;
    }
    if fate < profile.refuse + profile.hang + profile.error {
        return Plan::Error(secs(first_token));
    }
    let chunks = tokens.min(MAX_CHUNKS);
    let rest = tokens - 1;
    let gap = if chunks > 1 {
        secs(per_token * rest as f64 / (chunks - 1) as f64)
    } else {
        Duration::ZERO
    };
    Plan::Answer {
        first_token: secs(first_token),
        chunks,
        tokens,
        gap,
    }
}

/// Item `sent` of the answer, after its delay; `None` when over.
async fn step(plan: &Plan, sent: u64) -> Option<Result<Chunk, BackendError>> {
    match *plan {
        Plan::Refuse if sent == 0 => Some(Err(BackendError::Connect {
            url: "simulated".into(),
            message: "connection refused".into(),
        })),
        Plan::Hang => std::future::pending().await,
        Plan::Error(after) if sent == 0 => {
            tokio::time::sleep(after).await;
            Some(Err(BackendError::Status {
                status: 500,
                message: "simulated server error".into(),
            }))
        }
        Plan::Answer {
            first_token,
            chunks,
            tokens,
            gap,
        } => {
            if sent == 0 {
                tokio::time::sleep(first_token).await;
            } else if sent < chunks {
                tokio::time::sleep(gap).await;
            } else if sent == chunks {
                return Some(Ok(Chunk::Done(FinalStats {
                    done_reason: Some("stop".into()),
                    completion_tokens: Some(tokens),
                    ..FinalStats::default()
                })));
            } else {
                return None;
            }
            Some(Ok(Chunk::Delta("tok ".to_string())))
        }
        _ => None,
    }
}

/// Counts a stream as open at its model until it is dropped.
struct ActiveGuard {
    world: Arc<World>,
    index: usize,
}

impl Drop for ActiveGuard {
    fn drop(&mut self) {
        self.world.active[self.index].fetch_sub(1, Ordering::Relaxed);
    }
}
