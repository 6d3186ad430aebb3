//! What the emulator keeps between requests: its models, their faults and counters.
//!
//! Everything is fixed in size at start (one entry per configured model), so a million
//! requests leave memory where it was.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};

use serde::Serialize;
use time::OffsetDateTime;
use tokio::sync::Semaphore;

use super::fault::FaultSlot;
use super::profile::Profile;

/// Requests seen for one model.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct ModelStats {
    /// Chat, generate and completion requests that named this model.
    pub requests: u64,
    /// Answers that ended with `done` (or `[DONE]`).
    pub served: u64,
    /// Requests that a fault or a profile failure broke.
    pub faulted: u64,
    /// Requests whose client went away before the answer ended; generation stopped then.
    pub cancelled: u64,
    /// Requests being answered now (queued, hanging or generating).
    pub in_flight: u64,
}

/// Counters for every model, by name.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Stats {
    pub models: BTreeMap<String, ModelStats>,
    /// Requests for models the emulator does not serve.
    pub unknown_model: u64,
}

impl Stats {
    /// One model's counters; all zero for a name the emulator does not serve.
    pub fn model(&self, name: &str) -> ModelStats {
        self.models.get(name).copied().unwrap_or_default()
    }
}

#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub requests: AtomicU64,
    pub served: AtomicU64,
    pub faulted: AtomicU64,
    pub cancelled: AtomicU64,
    pub in_flight: AtomicU64,
}

impl Counters {
    fn snapshot(&self) -> ModelStats {
        ModelStats {
            requests: self.requests.load(Ordering::Relaxed),
            served: self.served.load(Ordering::Relaxed),
            faulted: self.faulted.load(Ordering::Relaxed),
            cancelled: self.cancelled.load(Ordering::Relaxed),
            in_flight: self.in_flight.load(Ordering::Relaxed),
        }
    }
}

/// One emulated model.
#[derive(Debug)]
pub(crate) struct ModelEntry {
    /// Canonical `name:tag`.
    pub name: String,
    pub profile: Profile,
    pub faults: FaultSlot,
    pub counters: Counters,
    /// Generation slots when the profile limits them.
    pub slots: Option<Arc<Semaphore>>,
    /// Set once the cold load has been paid.
    pub loaded: AtomicBool,
    /// Requests generating now, for the load penalty.
    pub generating: AtomicUsize,
    /// Requests numbered in arrival order, to seed each one.
    sequence: AtomicU64,
    /// A stable per-model number mixed into every seed.
    pub name_hash: u64,
}

impl ModelEntry {
    pub(crate) fn new(name: String, profile: Profile) -> Self {
        let name = canonical(&name);
        let slots = (profile.parallel > 0).then(|| Arc::new(Semaphore::new(profile.parallel)));
        ModelEntry {
            name_hash: fnv1a(name.as_bytes()),
            name,
            profile,
            faults: FaultSlot::default(),
            counters: Counters::default(),
            slots,
            loaded: AtomicBool::new(false),
            generating: AtomicUsize::new(0),
            sequence: AtomicU64::new(0),
        }
    }

    /// Counts a request and returns its number for this model.
    pub(crate) fn next_request(&self) -> u64 {
        self.counters.requests.fetch_add(1, Ordering::Relaxed);
        self.sequence.fetch_add(1, Ordering::Relaxed)
    }
}

/// State shared by every connection.
#[derive(Debug)]
pub(crate) struct Shared {
    pub models: Vec<Arc<ModelEntry>>,
    pub seed: u64,
    pub speed: f64,
    /// When the emulator started: the models' `modified_at`.
    pub started: OffsetDateTime,
    pub unknown_model: AtomicU64,
}

impl Shared {
    /// The model a client named, as Ollama resolves it (`name` means `name:latest`).
    pub(crate) fn find(&self, sent: &str) -> Option<&Arc<ModelEntry>> {
        self.models.iter().find(|m| {
            m.name == sent || (!sent.contains(':') && m.name.strip_suffix(":latest") == Some(sent))
        })
    }

    pub(crate) fn stats(&self) -> Stats {
        Stats {
            models: self
                .models
                .iter()
                .map(|m| (m.name.clone(), m.counters.snapshot()))
                .collect(),
            unknown_model: self.unknown_model.load(Ordering::Relaxed),
        }
    }
}

/// `name` with `:latest` added when it has no tag.
pub(crate) fn canonical(name: &str) -> String {
    if name.contains(':') {
        name.to_string()
    } else {
        format!("{name}:latest")
    }
}

/// FNV-1a: a stable hash, the same on every run and every platform.
pub(crate) fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x100_0000_01b3)
    })
}

/// Mixes two numbers into a well-spread seed (splitmix64's finaliser).
pub(crate) fn mix(a: u64, b: u64) -> u64 {
    let mut z = a ^ b.wrapping_add(0x9e37_79b9_7f4a_7c15).rotate_left(17);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}
