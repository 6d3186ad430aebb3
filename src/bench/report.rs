//! The report: figures per path, the overhead between them, memory, and how they were
//! measured; as a table for people or as JSON for programs.

use std::collections::BTreeMap;
use std::fmt::Write;

use serde::Serialize;

use super::load::Mode;
use super::stats::{Overhead, PathStats, Quantiles};

/// Everything a run found.
#[derive(Clone, Debug, Serialize)]
pub struct Report {
    /// `engine`, `fake`, `serve` or the URL measured.
    pub target: String,
    /// What the routed and the direct path are, in words.
    pub paths: String,
    pub mode: ModeReport,
    /// Requests asked for on each path (warm-up not included).
    pub requests: u64,
    pub warmup: u64,
    pub blocks: u32,
    /// The `--duration` cap ended the run before every request was sent.
    pub duration_capped: bool,
    pub elapsed_s: f64,
    pub routed: PathReport,
    pub direct: Option<PathReport>,
    /// Routed minus direct latency, percentile by percentile.
    pub overhead: Option<Overhead>,
    /// Routed minus direct service time (from the send itself), percentile by percentile.
    pub service_overhead: Option<Overhead>,
    pub rss_kib: Rss,
    /// How the figures were measured.
    pub method: String,
}

/// How requests arrived.
#[derive(Clone, Copy, Debug, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ModeReport {
    Closed { concurrency: usize },
    Open { rate: f64, max_in_flight: usize },
}

impl From<Mode> for ModeReport {
    fn from(mode: Mode) -> Self {
        match mode {
            Mode::Closed { concurrency } => ModeReport::Closed { concurrency },
            Mode::Open {
                rate,
                max_in_flight,
            } => ModeReport::Open {
                rate,
                max_in_flight,
            },
        }
    }
}

/// Resident memory at the start of the measured blocks, half-way, and at the end.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize)]
pub struct Rss {
    pub start: Option<u64>,
    pub middle: Option<u64>,
    pub end: Option<u64>,
}

/// One path's figures.
#[derive(Clone, Debug, Serialize)]
pub struct PathReport {
    pub requests: u64,
    pub ok: u64,
    pub errors: BTreeMap<String, u64>,
    /// Requests finished per second of the path's own blocks.
    pub throughput_per_s: f64,
    pub latency: Option<Quantiles>,
    pub service: Option<Quantiles>,
    pub ttft: Option<Quantiles>,
}

impl From<&PathStats> for PathReport {
    fn from(stats: &PathStats) -> Self {
        PathReport {
            requests: stats.requests(),
            ok: stats.ok,
            errors: stats.errors.clone(),
            throughput_per_s: stats.throughput(),
            latency: Quantiles::of(&stats.latency),
            service: Quantiles::of(&stats.service),
            ttft: Quantiles::of(&stats.ttft),
        }
    }
}

impl Report {
    /// The report as people read it.
    pub fn table(&self) -> String {
        let mut out = String::new();
        let mode = match self.mode {
            ModeReport::Closed { concurrency } => format!("concurrency {concurrency}"),
            ModeReport::Open { rate, .. } => format!("open loop at {rate} requests/s"),
        };
        let _ = writeln!(
            out,
            "signalbox bench: {}, {} requests per path, {mode}, {:.1} s{}",
            self.target,
            self.requests,
            self.elapsed_s,
            if self.duration_capped {
                " (stopped by --duration)"
            } else {
                ""
            }
        );
        let _ = writeln!(out, "  {}", self.paths);
        let _ = writeln!(out);

        let direct = self.direct.as_ref();
        let _ = writeln!(
            out,
            "{:<16}{:>14}{:>14}{:>14}",
            "", "routed", "direct", "overhead"
        );
        let cell = |v: Option<String>| v.unwrap_or_else(|| "-".into());
        let row =
            |out: &mut String, name: &str, r: String, d: Option<String>, o: Option<String>| {
                let _ = writeln!(
                    out,
                    "{name:<16}{r:>14}{:>14}{:>14}",
                    cell(d),
                    o.unwrap_or_default()
                );
            };
        row(
            &mut out,
            "requests",
            self.routed.requests.to_string(),
            direct.map(|d| d.requests.to_string()),
            None,
        );
        row(
            &mut out,
            "ok",
            self.routed.ok.to_string(),
            direct.map(|d| d.ok.to_string()),
            None,
        );
        let errors = |p: &PathReport| p.errors.values().sum::<u64>().to_string();
        row(
            &mut out,
            "errors",
            errors(&self.routed),
            direct.map(errors),
            None,
        );
        let rate = |p: &PathReport| format!("{:.0}/s", p.throughput_per_s);
        row(
            &mut out,
            "throughput",
            rate(&self.routed),
            direct.map(rate),
            None,
        );

        let quantile_rows = |out: &mut String,
                             label: &str,
                             pick: fn(&PathReport) -> Option<Quantiles>,
                             overhead: Option<Overhead>| {
            let rq = pick(&self.routed);
            let dq = direct.and_then(pick);
            let at = |q: Option<Quantiles>, f: fn(&Quantiles) -> f64| q.map(|q| fmt_us(f(&q)));
            let over = |f: fn(&Overhead) -> f64| overhead.map(|o| fmt_signed_us(f(&o)));
            row(
                out,
                &format!("{label} p50"),
                cell(at(rq, |q| q.p50_us)),
                at(dq, |q| q.p50_us),
                over(|o| o.p50_us),
            );
            row(
                out,
                &format!("{label} p95"),
                cell(at(rq, |q| q.p95_us)),
                at(dq, |q| q.p95_us),
                over(|o| o.p95_us),
            );
            row(
                out,
                &format!("{label} p99"),
                cell(at(rq, |q| q.p99_us)),
                at(dq, |q| q.p99_us),
                over(|o| o.p99_us),
            );
            row(
                out,
                &format!("{label} max"),
                cell(at(rq, |q| q.max_us)),
                at(dq, |q| q.max_us),
                None,
            );
        };
        quantile_rows(&mut out, "latency", |p| p.latency, self.overhead);
        if matches!(self.mode, ModeReport::Open { .. }) {
            quantile_rows(&mut out, "service", |p| p.service, self.service_overhead);
        }
        quantile_rows(&mut out, "ttft", |p| p.ttft, None);

        let _ = writeln!(out);
        for (name, path) in [("routed", Some(&self.routed)), ("direct", direct)] {
            let Some(path) = path.filter(|p| !p.errors.is_empty()) else {
                continue;
            };
            let kinds: Vec<String> = path
                .errors
                .iter()
                .map(|(k, n)| format!("{k} {n}"))
                .collect();
            let _ = writeln!(out, "errors ({name}): {}", kinds.join(", "));
        }
        let mib =
            |kib: Option<u64>| kib.map_or("-".into(), |k| format!("{:.1} MiB", k as f64 / 1024.0));
        let _ = writeln!(
            out,
            "memory (VmRSS): start {}, middle {}, end {}",
            mib(self.rss_kib.start),
            mib(self.rss_kib.middle),
            mib(self.rss_kib.end)
        );
        let _ = writeln!(out);
        let _ = writeln!(out, "{}", wrap(&self.method, 100));
        out
    }
}

/// `text` with its words wrapped into lines of at most `width` characters.
fn wrap(text: &str, width: usize) -> String {
    let mut out = String::new();
    let mut line = 0;
    for word in text.split_whitespace() {
        let len = word.chars().count();
        if line > 0 && line + 1 + len > width {
            out.push('\n');
            line = 0;
        } else if line > 0 {
            out.push(' ');
            line += 1;
        }
        out.push_str(word);
        line += len;
    }
    out
}

/// `734 µs`, `12.3 ms`, `1.52 s`; below 10 µs with a decimal.
pub fn fmt_us(us: f64) -> String {
    if us.abs() < 10.0 {
        format!("{us:.1} µs")
    } else if us.abs() < 1000.0 {
        format!("{us:.0} µs")
    } else if us.abs() < 1_000_000.0 {
        format!("{:.2} ms", us / 1000.0)
    } else {
        format!("{:.2} s", us / 1_000_000.0)
    }
}

fn fmt_signed_us(us: f64) -> String {
    let sign = if us >= 0.0 { "+" } else { "-" };
    format!("{sign}{}", fmt_us(us.abs()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_footnote_wraps_at_the_width() {
        assert_eq!(wrap("aaa bbb ccc  dd", 7), "aaa bbb\nccc dd");
    }

    #[test]
    fn durations_read_in_the_unit_that_fits() {
        assert_eq!(fmt_us(3.26), "3.3 µs");
        assert_eq!(fmt_us(734.4), "734 µs");
        assert_eq!(fmt_us(12_345.0), "12.35 ms");
        assert_eq!(fmt_us(1_520_000.0), "1.52 s");
        assert_eq!(fmt_signed_us(-42.0), "-42 µs");
        assert_eq!(fmt_signed_us(42.0), "+42 µs");
    }
}
