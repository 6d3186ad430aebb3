//! The scenario file as written, and its checking into a [`Scenario`].

use std::collections::HashSet;
use std::time::Duration;

use serde::Deserialize;

use super::{Arrivals, Dist, DistSpec, Dur, Process, Profile, Scenario, SimModel, State};

/// The scenario file.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct File {
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

pub(super) fn build(file: File, origin: &str) -> Result<Scenario, Vec<String>> {
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
