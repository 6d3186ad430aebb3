//! Latency profiles: how long an emulated model takes to answer, how much it says, how
//! often it fails and how it slows down under load.
//!
//! Every random figure is drawn from the request's own seeded generator, so the same
//! emulator seed gives the same answers and the same timings run after run.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use rand::Rng;

use super::fault::Fault;

/// A latency distribution.
#[derive(Clone, Debug, PartialEq)]
pub enum Latency {
    /// Always the same.
    Fixed(Duration),
    /// Anywhere between `low` and `high`, evenly.
    Uniform { low: Duration, high: Duration },
    /// Log-normal around `median`: `median × e^(sigma × z)` with `z` a standard normal
    /// clamped to ±4, so a rare draw is slow but never absurd.
    LogNormal { median: Duration, sigma: f64 },
}

impl Latency {
    /// No latency at all.
    pub const ZERO: Latency = Latency::Fixed(Duration::ZERO);

    /// A log-normal latency around `median_ms` milliseconds.
    pub fn log_normal(median_ms: u64, sigma: f64) -> Self {
        Latency::LogNormal {
            median: Duration::from_millis(median_ms),
            sigma,
        }
    }

    /// Draws one latency.
    pub fn sample(&self, rng: &mut impl Rng) -> Duration {
        match self {
            Latency::Fixed(d) => *d,
            Latency::Uniform { low, high } if high > low => {
                let span = (*high - *low).as_nanos() as u64;
                *low + Duration::from_nanos(rng.random_range(0..=span))
            }
            Latency::Uniform { low, .. } => *low,
            Latency::LogNormal { median, sigma } => {
                let z = standard_normal(rng).clamp(-4.0, 4.0);
                median.mul_f64((sigma * z).exp())
            }
        }
    }

    /// Whether every draw is zero, so the emulator can skip the timer altogether.
    pub fn is_zero(&self) -> bool {
        match self {
            Latency::Fixed(d) => d.is_zero(),
            Latency::Uniform { low, high } => low.is_zero() && high.is_zero(),
            Latency::LogNormal { median, .. } => median.is_zero(),
        }
    }
}

/// A standard normal draw (Box–Muller), so no distribution crate is needed.
fn standard_normal(rng: &mut impl Rng) -> f64 {
    let u1: f64 = rng.random_range(f64::EPSILON..1.0);
    let u2: f64 = rng.random();
    (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
}

/// How one emulated model behaves.
#[derive(Clone, Debug, PartialEq)]
pub struct Profile {
    /// Paid once, by the first request, as a cold model load (reported in `load_duration`).
    pub load: Duration,
    /// From the start of generation to the first token (prompt evaluation).
    pub first_token: Latency,
    /// Between two tokens.
    pub per_token: Latency,
    /// Answer length in tokens, both ends included.
    pub answer_tokens: (u32, u32),
    /// Chance (0–1) that a request fails with `failure` instead of answering.
    pub failure_rate: f64,
    /// The fault a failing request shows.
    pub failure: Fault,
    /// Requests generated at once, like `OLLAMA_NUM_PARALLEL`; the rest wait their turn with
    /// no bytes sent. 0 means no limit.
    pub parallel: usize,
    /// Slow-down per extra request generating at the same time: latencies are multiplied
    /// by `1 + load_penalty × (generating − 1)`.
    pub load_penalty: f64,
}

impl Profile {
    /// `gemma3:1b` in the original system: answers in about 2–8 s.
    pub fn fast() -> Self {
        Profile {
            load: Duration::from_millis(1200),
            first_token: Latency::log_normal(500, 0.35),
            per_token: Latency::log_normal(38, 0.25),
            answer_tokens: (40, 180),
            failure_rate: 0.0,
            failure: Fault::default_failure(),
            parallel: 2,
            load_penalty: 0.35,
        }
    }

    /// `gemma2:2b` in the original system: slower and longer, about 10–40 s.
    pub fn accurate() -> Self {
        Profile {
            load: Duration::from_millis(2500),
            first_token: Latency::log_normal(1800, 0.35),
            per_token: Latency::log_normal(115, 0.25),
            answer_tokens: (70, 300),
            failure_rate: 0.0,
            failure: Fault::default_failure(),
            parallel: 2,
            load_penalty: 0.35,
        }
    }

    /// No latency at all and short answers: for benchmarks that measure the router itself.
    pub fn zero() -> Self {
        Profile {
            load: Duration::ZERO,
            first_token: Latency::ZERO,
            per_token: Latency::ZERO,
            answer_tokens: (8, 24),
            failure_rate: 0.0,
            failure: Fault::default_failure(),
            parallel: 0,
            load_penalty: 0.0,
        }
    }

    /// Like [`Profile::fast`], but one request in five fails with a 500.
    pub fn flaky() -> Self {
        Profile {
            failure_rate: 0.2,
            ..Profile::fast()
        }
    }

    /// The built-in profile of this name: `fast`, `accurate`, `zero` or `flaky`.
    pub fn named(name: &str) -> Option<Self> {
        match name {
            "fast" => Some(Profile::fast()),
            "accurate" => Some(Profile::accurate()),
            "zero" => Some(Profile::zero()),
            "flaky" => Some(Profile::flaky()),
            _ => None,
        }
    }

    /// The models of the original system: `gemma3:1b` fast and `gemma2:2b` accurate.
    pub fn defaults() -> Vec<(String, Profile)> {
        vec![
            ("gemma3:1b".to_string(), Profile::fast()),
            ("gemma2:2b".to_string(), Profile::accurate()),
        ]
    }

    /// Sets the failure rate and the fault a failing request shows.
    pub fn with_failures(mut self, rate: f64, fault: Fault) -> Self {
        self.failure_rate = rate;
        self.failure = fault;
        self
    }
}

/// A model and its profile as given on the command line: `NAME=PROFILE[,key=value...]`.
///
/// `PROFILE` is a built-in name (`fast`, `accurate`, `zero`, `flaky`); the keys override
/// its figures: `load=1s`, `first=800ms` (median), `token=40ms` (median), `tokens=40-180`,
/// `failure=0.1`, `parallel=2`, `penalty=0.3`.
#[derive(Clone, Debug, PartialEq)]
pub struct ModelSpec {
    pub name: String,
    pub profile: Profile,
}

/// Why a `--model` argument could not be read.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
#[error("{0} (expected NAME=PROFILE[,key=value...], e.g. gemma3:1b=fast,failure=0.1)")]
pub struct SpecError(String);

impl FromStr for ModelSpec {
    type Err = SpecError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (name, rest) = s
            .split_once('=')
            .ok_or_else(|| SpecError(format!("no '=' in '{s}'")))?;
        if name.is_empty() {
            return Err(SpecError(format!("no model name in '{s}'")));
        }
        let mut parts = rest.split(',');
        let base = parts.next().unwrap_or_default();
        let mut profile = Profile::named(base).ok_or_else(|| {
            SpecError(format!(
                "unknown profile '{base}'; use fast, accurate, zero or flaky"
            ))
        })?;
        for part in parts {
            apply_override(&mut profile, part)?;
        }
        Ok(ModelSpec {
            name: name.to_string(),
            profile,
        })
    }
}

fn apply_override(profile: &mut Profile, part: &str) -> Result<(), SpecError> {
    let (key, value) = part
        .split_once('=')
        .ok_or_else(|| SpecError(format!("no '=' in '{part}'")))?;
    let bad = |what: &str| SpecError(format!("{key}: '{value}' is not {what}"));
    let duration = || humantime::parse_duration(value).map_err(|_| bad("a duration"));
    let fraction = || {
        value
            .parse::<f64>()
            .ok()
            .filter(|f| (0.0..=1.0).contains(f))
    };
    match key {
        "load" => profile.load = duration()?,
        "first" => profile.first_token = with_median(&profile.first_token, duration()?),
        "token" => profile.per_token = with_median(&profile.per_token, duration()?),
        "tokens" => {
            let (lo, hi) = value.split_once('-').unwrap_or((value, value));
            let lo = lo.parse().map_err(|_| bad("a range like 40-180"))?;
            let hi = hi.parse().map_err(|_| bad("a range like 40-180"))?;
            if lo > hi || hi == 0 {
                return Err(bad("a range like 40-180"));
            }
            profile.answer_tokens = (lo, hi);
        }
        "failure" => profile.failure_rate = fraction().ok_or_else(|| bad("between 0 and 1"))?,
        "parallel" => profile.parallel = value.parse().map_err(|_| bad("a count"))?,
        "penalty" => {
            profile.load_penalty = value
                .parse()
                .ok()
                .filter(|p: &f64| *p >= 0.0)
                .ok_or_else(|| bad("≥ 0"))?;
        }
        _ => {
            return Err(SpecError(format!(
                "unknown key '{key}'; use load, first, token, tokens, failure, parallel, penalty"
            )));
        }
    }
    Ok(())
}

/// The same shape of distribution, centred on a new median.
fn with_median(latency: &Latency, median: Duration) -> Latency {
    match latency {
        Latency::LogNormal { sigma, .. } => Latency::LogNormal {
            median,
            sigma: *sigma,
        },
        _ if median.is_zero() => Latency::ZERO,
        _ => Latency::LogNormal {
            median,
            sigma: 0.25,
        },
    }
}

impl fmt::Display for ModelSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} ({}–{} tokens)",
            self.name, self.profile.answer_tokens.0, self.profile.answer_tokens.1
        )
    }
}

#[cfg(test)]
mod tests {
    use rand::SeedableRng;
    use rand::rngs::SmallRng;

    use super::*;

    #[test]
    fn log_normal_draws_centre_on_the_median() {
        let mut rng = SmallRng::seed_from_u64(7);
        let latency = Latency::log_normal(100, 0.3);
        let mut draws: Vec<Duration> = (0..2001).map(|_| latency.sample(&mut rng)).collect();
        draws.sort();
        let median = draws[1000].as_millis();
        assert!((90..=110).contains(&median), "median {median} ms");
    }

    #[test]
    fn uniform_draws_stay_in_range() {
        let mut rng = SmallRng::seed_from_u64(7);
        let low = Duration::from_millis(10);
        let high = Duration::from_millis(20);
        let latency = Latency::Uniform { low, high };
        assert!(
            (0..500)
                .map(|_| latency.sample(&mut rng))
                .all(|d| d >= low && d <= high)
        );
    }

    #[test]
    fn model_spec_reads_a_profile_with_overrides() {
        let spec: ModelSpec = "m:1b=zero,tokens=5-9,failure=0.5,first=1s".parse().unwrap();
        assert_eq!(spec.name, "m:1b");
        assert_eq!(spec.profile.answer_tokens, (5, 9));
        assert_eq!(spec.profile.failure_rate, 0.5);
        let median = Duration::from_secs(1);
        assert!(
            matches!(spec.profile.first_token, Latency::LogNormal { median: m, .. } if m == median)
        );
    }

    #[test]
    fn model_spec_rejects_unknown_profiles_and_keys() {
        assert!("m=turbo".parse::<ModelSpec>().is_err());
        assert!("m=fast,colour=red".parse::<ModelSpec>().is_err());
        assert!("m=fast,failure=2".parse::<ModelSpec>().is_err());
        assert!("fast".parse::<ModelSpec>().is_err());
    }
}
