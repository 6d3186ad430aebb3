//! Distributions as a scenario writes them, and how they are drawn from.

use std::time::Duration;

use serde::{Deserialize, Deserializer};

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
    pub(super) fn build(&self, key: &str) -> Result<Dist, String> {
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
