//! A scenario: the simulated models and their latency profiles, the arrival process, and
//! the phases at which things change. Read from TOML; `docs/routing.md` shows the format.

mod dist;
mod file;
#[cfg(test)]
mod tests;

use std::fmt;
use std::path::Path;
use std::time::Duration;

pub use dist::{AsF64, Dist, DistSpec, Dur};

/// Scenarios shipped with signalbox, by name.
pub const BUILT_IN: &[(&str, &str)] = &[
    (
        "original-demo",
        include_str!("../../../assets/scenarios/original-demo.toml"),
    ),
    (
        "fast-degrades",
        include_str!("../../../assets/scenarios/fast-degrades.toml"),
    ),
    (
        "outage-recovery",
        include_str!("../../../assets/scenarios/outage-recovery.toml"),
    ),
    (
        "flapping",
        include_str!("../../../assets/scenarios/flapping.toml"),
    ),
    (
        "overload",
        include_str!("../../../assets/scenarios/overload.toml"),
    ),
];

/// A scenario could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ScenarioError {
    #[error("cannot read scenario {path}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("scenario {origin}: {message}")]
    Invalid { origin: String, message: String },
}

/// What a model is doing, beyond its latency draws.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum State {
    Up,
    /// Refuses every connection, as a stopped server.
    Down,
    /// Accepts and never answers.
    Hang,
    /// Down and up in turns of `every`, down first, from `since`.
    Flap {
        every: Duration,
        since: Duration,
    },
}

/// A model's true behaviour over a stretch of time.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Profile {
    /// Seconds from sending to the first token.
    pub first_token: Dist,
    /// Seconds per token after the first.
    pub token: Dist,
    /// Tokens in an answer.
    pub tokens: Dist,
    /// Each other request in flight at the model stretches its times by this share.
    pub load_penalty: f64,
    /// Shares of requests that fail with a server error, hang, or are refused.
    pub error: f64,
    pub hang: f64,
    pub refuse: f64,
    pub state: State,
}

impl Profile {
    /// Whether the model is down (refusing) at `t` since the start.
    pub fn down_at(&self, t: Duration) -> bool {
        match self.state {
            State::Down => true,
            State::Flap { every, since } => {
                let turns = t.saturating_sub(since).as_nanos() / every.as_nanos().max(1);
                turns.is_multiple_of(2)
            }
            State::Up | State::Hang => false,
        }
    }
}

/// One simulated model.
#[derive(Clone, Debug, PartialEq)]
pub struct SimModel {
    pub name: String,
    pub timeout: Duration,
    pub max_in_flight: usize,
    pub queue: usize,
    /// (from, profile) in rising time; the first is from zero.
    pub timeline: Vec<(Duration, Profile)>,
}

impl SimModel {
    /// The profile in force at `t` since the start.
    pub fn profile_at(&self, t: Duration) -> &Profile {
        let i = self.timeline.partition_point(|(from, _)| *from <= t);
        &self.timeline[i.saturating_sub(1)].1
    }
}

/// How requests arrive.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Process {
    Poisson,
    Fixed,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Arrivals {
    pub process: Process,
    /// (from, requests per second) in rising time; the first is from zero.
    pub rates: Vec<(Duration, f64)>,
    pub count: Option<u64>,
    pub duration: Option<Duration>,
}

/// A whole scenario, checked.
#[derive(Clone, Debug, PartialEq)]
pub struct Scenario {
    pub name: String,
    pub description: String,
    pub models: Vec<SimModel>,
    pub arrivals: Arrivals,
}

impl Scenario {
    /// A built-in scenario by name, or a TOML file by path.
    pub fn load(name_or_path: &str) -> Result<Scenario, ScenarioError> {
        if let Some((name, text)) = BUILT_IN.iter().find(|(n, _)| *n == name_or_path) {
            return Scenario::parse(text, name);
        }
        let path = Path::new(name_or_path);
        let text = std::fs::read_to_string(path).map_err(|source| ScenarioError::Read {
            path: format!(
                "{name_or_path} (built in: {})",
                BUILT_IN
                    .iter()
                    .map(|(n, _)| *n)
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            source,
        })?;
        let stem = path
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        Scenario::parse(&text, &stem).map_err(|e| match e {
            ScenarioError::Invalid { message, .. } => ScenarioError::Invalid {
                origin: name_or_path.to_string(),
                message,
            },
            other => other,
        })
    }

    /// Parse and check a scenario; `origin` names it in errors and when it has no name.
    pub fn parse(text: &str, origin: &str) -> Result<Scenario, ScenarioError> {
        let invalid = |message: String| ScenarioError::Invalid {
            origin: origin.to_string(),
            message,
        };
        let file: file::File = toml::from_str(text).map_err(|e| invalid(e.to_string()))?;
        file::build(file, origin).map_err(|problems| invalid(problems.join("; ")))
    }
}

impl fmt::Display for Scenario {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.name)?;
        if !self.description.is_empty() {
            write!(f, ": {}", self.description)?;
        }
        Ok(())
    }
}
