//! A scenario: the simulated models and their latency profiles, the arrival process, and
//! the phases at which things change. Read from TOML; `docs/routing.md` shows the format.

use std::collections::HashSet;
use std::fmt;
use std::path::Path;
use std::time::Duration;

use serde::{Deserialize, Deserializer};

/// Scenarios shipped with signalbox, by name.
pub const BUILT_IN: &[(&str, &str)] = &[
    (
        "original-demo",
        include_str!("../../assets/scenarios/original-demo.toml"),
    ),
    (
        "fast-degrades",
        include_str!("../../assets/scenarios/fast-degrades.toml"),
    ),
    (
        "outage-recovery",
        include_str!("../../assets/scenarios/outage-recovery.toml"),
    ),
    (
        "flapping",
        include_str!("../../assets/scenarios/flapping.toml"),
    ),
    (
        "overload",
        include_str!("../../assets/scenarios/overload.toml"),
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

/// A duration written as text: `"250ms"`, `"4s"`, `"10m"`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Dur(pub Duration);

impl<'de> Deserialize<'de> for Dur {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Dur, D::Error> {
        let text = String::deserialize(d)?;
        humantime::parse_duration(text.trim())
            .map(Dur)
            .map_err(|e| {
                serde::de::Error::custom(format!(
                    "'{text}' is not a duration ({e}); write e.g. \"4s\""
                ))
            })
    }
}

/// A distribution as written: `{ min, max }` (uniform) or `{ median, p95 }` (log-normal).
#[derive(Clone, Copy, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct DistSpec<T> {
    pub min: Option<T>,
    pub max: Option<T>,
    pub median: Option<T>,
    pub p95: Option<T>,
}

/// A distribution of non-negative numbers (seconds or token counts).
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Dist {
    Uniform { min: f64, max: f64 },
    LogNormal { mu: f64, sigma: f64 },
}

/// z of the 95th percentile of the standard normal distribution.
const Z95: f64 = 1.644_853_6;

impl Dist {
    /// A draw from two uniform numbers in [0, 1).
    pub fn sample(&self, u1: f64, u2: f64) -> f64 {
        match *self {
            Dist::Uniform { min, max } => min + (max - min) * u1,
            Dist::LogNormal { mu, sigma } => {
                // Box-Muller: one standard normal from two uniforms.
                let r = (-2.0 * (1.0 - u1).ln()).sqrt();
                let z = r * (std::f64::consts::TAU * u2).cos();
                (mu + sigma * z).exp()
            }
        }
    }

    pub fn mean(&self) -> f64 {
        match *self {
            Dist::Uniform { min, max } => (min + max) / 2.0,
            Dist::LogNormal { mu, sigma } => (mu + sigma * sigma / 2.0).exp(),
        }
    }
}

/// A number a distribution is written in: a duration (as seconds) or a count.
pub trait AsF64: Copy {
    fn as_f64(self) -> f64;
}

impl AsF64 for Dur {
    fn as_f64(self) -> f64 {
        self.0.as_secs_f64()
    }
}

impl AsF64 for u32 {
    fn as_f64(self) -> f64 {
        f64::from(self)
    }
}

impl<T: AsF64> DistSpec<T> {
    fn build(&self, key: &str) -> Result<Dist, String> {
        match (self.min, self.max, self.median, self.p95) {
            (Some(min), Some(max), None, None) => {
                let (min, max) = (min.as_f64(), max.as_f64());
                if min > max {
                    return Err(format!("{key}: min is above max"));
                }
                Ok(Dist::Uniform { min, max })
            }
            (None, None, Some(median), Some(p95)) => {
                let (median, p95) = (median.as_f64(), p95.as_f64());
                if median <= 0.0 || p95 < median {
                    return Err(format!("{key}: need 0 < median <= p95"));
                }
                Ok(Dist::LogNormal {
                    mu: median.ln(),
                    sigma: (p95.ln() - median.ln()) / Z95,
                })
            }
            _ => Err(format!(
                "{key}: give either min and max (uniform) or median and p95 (log-normal)"
            )),
        }
    }
}

/// The scenario file.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    name: Option<String>,
    #[serde(default)]
    description: String,
    arrivals: ArrivalsFile,
    #[serde(rename = "model")]
    models: Vec<ModelFile>,
    #[serde(default, rename = "phase")]
    phases: Vec<PhaseFile>,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ArrivalsFile {
    /// Poisson arrivals at this many requests per second.
    poisson: Option<f64>,
    /// One request every this long.
    every: Option<Dur>,
    count: Option<u64>,
    duration: Option<Dur>,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ModelFile {
    name: String,
    timeout: Option<Dur>,
    max_in_flight: Option<usize>,
    queue: Option<usize>,
    first_token: Option<DistSpec<Dur>>,
    token: Option<DistSpec<Dur>>,
    tokens: Option<DistSpec<u32>>,
    load_penalty: Option<f64>,
    error: Option<f64>,
    hang: Option<f64>,
    refuse: Option<f64>,
    state: Option<StateName>,
    flap_every: Option<Dur>,
}

/// Profile keys, in a model (the distributions required) or a phase (any).
#[derive(Clone, Debug, Default)]
struct PatchFile {
    first_token: Option<DistSpec<Dur>>,
    token: Option<DistSpec<Dur>>,
    tokens: Option<DistSpec<u32>>,
    load_penalty: Option<f64>,
    error: Option<f64>,
    hang: Option<f64>,
    refuse: Option<f64>,
    state: Option<StateName>,
    flap_every: Option<Dur>,
}

#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
enum StateName {
    Up,
    Down,
    Hang,
    Flap,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PhaseFile {
    at: Dur,
    model: Option<String>,
    /// New Poisson rate (or 1/interval) from here on.
    rate: Option<f64>,
    first_token: Option<DistSpec<Dur>>,
    token: Option<DistSpec<Dur>>,
    tokens: Option<DistSpec<u32>>,
    load_penalty: Option<f64>,
    error: Option<f64>,
    hang: Option<f64>,
    refuse: Option<f64>,
    state: Option<StateName>,
    flap_every: Option<Dur>,
}

/// The profile keys of a model or a phase, read field by field (not flattened) so that
/// a problem in one is reported at its own line.
macro_rules! patch_of {
    ($x:expr) => {
        PatchFile {
            first_token: $x.first_token,
            token: $x.token,
            tokens: $x.tokens,
            load_penalty: $x.load_penalty,
            error: $x.error,
            hang: $x.hang,
            refuse: $x.refuse,
            state: $x.state,
            flap_every: $x.flap_every,
        }
    };
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
        let file: File = toml::from_str(text).map_err(|e| invalid(e.to_string()))?;
        build(file, origin).map_err(|problems| invalid(problems.join("; ")))
    }
}

fn build(file: File, origin: &str) -> Result<Scenario, Vec<String>> {
    let mut problems = Vec::new();
    if file.models.is_empty() {
        problems.push("at least one [[model]] is needed".to_string());
    }
    let mut seen = HashSet::new();
    let mut models = Vec::new();
    for (i, m) in file.models.iter().enumerate() {
        let key = format!("model[{i}] ({})", m.name);
        if !seen.insert(m.name.clone()) {
            problems.push(format!("{key}: the name is used twice"));
        }
        match base_profile(&patch_of!(m), &key) {
            Ok(profile) => models.push(SimModel {
                name: m.name.clone(),
                timeout: m.timeout.map_or(Duration::from_secs(20), |d| d.0),
                max_in_flight: m.max_in_flight.unwrap_or(3).max(1),
                queue: m.queue.unwrap_or(16),
                timeline: vec![(Duration::ZERO, profile)],
            }),
            Err(mut p) => problems.append(&mut p),
        }
    }

    let arrivals = arrivals(&file.arrivals, &mut problems);
    let mut rates = arrivals
        .as_ref()
        .map(|a| a.rates.clone())
        .unwrap_or_default();
    let mut phases: Vec<&PhaseFile> = file.phases.iter().collect();
    phases.sort_by_key(|p| p.at.0);
    for (i, phase) in phases.iter().enumerate() {
        let key = format!("phase[{i}] (at {})", humantime::format_duration(phase.at.0));
        if let Some(rate) = phase.rate {
            if !(rate > 0.0 && rate.is_finite()) {
                problems.push(format!("{key}.rate: must be above 0"));
            }
            rates.push((phase.at.0, rate));
        }
        match &phase.model {
            Some(name) => match models.iter_mut().find(|m| &m.name == name) {
                Some(model) => {
                    let last = model.timeline.last().map(|(_, p)| *p);
                    if let Some(last) = last {
                        match patch(last, &patch_of!(phase), phase.at.0, &key) {
                            Ok(p) => model.timeline.push((phase.at.0, p)),
                            Err(mut p) => problems.append(&mut p),
                        }
                    }
                }
                None => problems.push(format!("{key}.model: no model named '{name}'")),
            },
            None if phase.rate.is_none() => {
                problems.push(format!("{key}: name a model or set a rate"))
            }
            None => {}
        }
    }
    if !problems.is_empty() {
        return Err(problems);
    }
    let Some(mut arrivals) = arrivals else {
        return Err(vec!["[arrivals] is incomplete".into()]);
    };
    arrivals.rates = rates;
    Ok(Scenario {
        name: file.name.unwrap_or_else(|| origin.to_string()),
        description: file.description,
        models,
        arrivals,
    })
}

fn arrivals(a: &ArrivalsFile, problems: &mut Vec<String>) -> Option<Arrivals> {
    let (process, rate) = match (a.poisson, a.every) {
        (Some(rate), None) => (Process::Poisson, rate),
        (None, Some(every)) if !every.0.is_zero() => (Process::Fixed, 1.0 / every.0.as_secs_f64()),
        _ => {
            problems.push(
                "arrivals: give either poisson (requests per second) or every (an interval)".into(),
            );
            return None;
        }
    };
    if !(rate > 0.0 && rate.is_finite()) {
        problems.push("arrivals.poisson: must be above 0".into());
    }
    if a.count.is_none() && a.duration.is_none() {
        problems.push("arrivals: give count or duration (or both)".into());
    }
    Some(Arrivals {
        process,
        rates: vec![(Duration::ZERO, rate)],
        count: a.count,
        duration: a.duration.map(|d| d.0),
    })
}

fn base_profile(p: &PatchFile, key: &str) -> Result<Profile, Vec<String>> {
    let mut problems = Vec::new();
    for (name, missing) in [
        ("first_token", p.first_token.is_none()),
        ("token", p.token.is_none()),
        ("tokens", p.tokens.is_none()),
    ] {
        if missing {
            problems.push(format!("{key}.{name}: missing"));
        }
    }
    if !problems.is_empty() {
        return Err(problems);
    }
    let unit = Dist::Uniform { min: 0.0, max: 0.0 };
    let start = Profile {
        first_token: unit,
        token: unit,
        tokens: unit,
        load_penalty: 0.0,
        error: 0.0,
        hang: 0.0,
        refuse: 0.0,
        state: State::Up,
    };
    patch(start, p, Duration::ZERO, key)
}

fn patch(
    mut profile: Profile,
    p: &PatchFile,
    at: Duration,
    key: &str,
) -> Result<Profile, Vec<String>> {
    let mut problems = Vec::new();
    let mut dist = |spec: &Option<DistSpec<Dur>>, name: &str, into: &mut Dist| {
        if let Some(spec) = spec {
            match spec.build(&format!("{key}.{name}")) {
                Ok(d) => *into = d,
                Err(e) => problems.push(e),
            }
        }
    };
    dist(&p.first_token, "first_token", &mut profile.first_token);
    dist(&p.token, "token", &mut profile.token);
    if let Some(spec) = &p.tokens {
        match spec.build(&format!("{key}.tokens")) {
            Ok(d) => profile.tokens = d,
            Err(e) => problems.push(e),
        }
    }
    for (name, value, into) in [
        ("error", p.error, &mut profile.error),
        ("hang", p.hang, &mut profile.hang),
        ("refuse", p.refuse, &mut profile.refuse),
    ] {
        if let Some(v) = value {
            if !(0.0..=1.0).contains(&v) {
                problems.push(format!("{key}.{name}: a share between 0 and 1"));
            }
            *into = v;
        }
    }
    if let Some(v) = p.load_penalty {
        if !(v >= 0.0 && v.is_finite()) {
            problems.push(format!("{key}.load_penalty: 0 or more"));
        }
        profile.load_penalty = v;
    }
    match (p.state, p.flap_every) {
        (Some(StateName::Flap), Some(every)) if !every.0.is_zero() => {
            profile.state = State::Flap {
                every: every.0,
                since: at,
            }
        }
        (Some(StateName::Flap), _) => {
            problems.push(format!("{key}.flap_every: needed with state = \"flap\""))
        }
        (_, Some(_)) => problems.push(format!("{key}.flap_every: only with state = \"flap\"")),
        (Some(StateName::Up), None) => profile.state = State::Up,
        (Some(StateName::Down), None) => profile.state = State::Down,
        (Some(StateName::Hang), None) => profile.state = State::Hang,
        (None, None) => {}
    }
    if problems.is_empty() {
        Ok(profile)
    } else {
        Err(problems)
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

#[cfg(test)]
mod tests {
    use super::*;

    const SMALL: &str = r#"
        [arrivals]
        poisson = 2.0
        count = 100

        [[model]]
        name = "a"
        first_token = { min = "100ms", max = "300ms" }
        token = { median = "20ms", p95 = "40ms" }
        tokens = { min = 10, max = 50 }

        [[phase]]
        at = "10s"
        model = "a"
        state = "flap"
        flap_every = "5s"
    "#;

    #[test]
    fn every_built_in_scenario_parses() {
        for (name, text) in BUILT_IN {
            let s = Scenario::parse(text, name).unwrap_or_else(|e| panic!("{e}"));
            assert!(s.models.len() >= 2, "{name}");
        }
    }

    #[test]
    fn phases_change_the_profile_from_their_time_on() {
        let s = Scenario::parse(SMALL, "small").unwrap();
        let a = &s.models[0];
        assert_eq!(a.profile_at(Duration::from_secs(9)).state, State::Up);
        let flapping = a.profile_at(Duration::from_secs(10));
        assert!(flapping.down_at(Duration::from_secs(12)));
        assert!(!flapping.down_at(Duration::from_secs(16)));
        assert!(flapping.down_at(Duration::from_secs(21)));
    }

    #[test]
    fn a_misspelt_key_is_named() {
        let text = SMALL.replace("poisson", "poison");
        let e = Scenario::parse(&text, "small").unwrap_err().to_string();
        assert!(e.contains("poison"), "{e}");
    }

    #[test]
    fn a_bad_duration_names_its_key_and_value() {
        let text = SMALL.replace("at = \"10s\"", "at = \"ten\"");
        let e = Scenario::parse(&text, "small").unwrap_err().to_string();
        assert!(e.contains("at") && e.contains("'ten'"), "{e}");
    }

    #[test]
    fn a_half_given_distribution_and_an_unknown_model_are_both_reported() {
        let text = SMALL
            .replace("{ min = 10, max = 50 }", "{ min = 10 }")
            .replace("model = \"a\"", "model = \"b\"");
        let e = Scenario::parse(&text, "small").unwrap_err().to_string();
        assert!(e.contains("model[0] (a).tokens: give either"), "{e}");
        assert!(e.contains("no model named 'b'"), "{e}");
    }

    #[test]
    fn log_normal_draws_have_the_given_median_and_p95() {
        let d = DistSpec {
            min: None,
            max: None,
            median: Some(Dur(Duration::from_secs(2))),
            p95: Some(Dur(Duration::from_secs(6))),
        }
        .build("x")
        .unwrap();
        let mut draws: Vec<f64> = (0..10_000)
            .map(|i| {
                let u1 = (f64::from(i) + 0.5) / 10_000.0;
                let u2 = ((f64::from(i) * 0.618_034) % 1.0 + 1.0) % 1.0;
                d.sample(u1, u2)
            })
            .collect();
        draws.sort_by(f64::total_cmp);
        let (median, p95) = (draws[5000], draws[9500]);
        assert!((median - 2.0).abs() < 0.15, "{median}");
        assert!((p95 - 6.0).abs() < 0.5, "{p95}");
    }
}
