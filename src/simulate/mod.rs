//! `signalbox simulate`: the real engine on a virtual clock against simulated models, to
//! compare routing strategies on the same traffic.
//!
//! A [`Scenario`] names the models and how their latency changes over time, and how
//! requests arrive. Every strategy (each alone and each with hedging, plus the
//! [`oracle`]) runs the same seeded arrivals through its own [`Engine`] on a paused tokio
//! clock, so hours of traffic take seconds, and a seed gives the same figures every time.

pub mod cli;
pub mod model;
pub mod oracle;
pub mod report;
pub mod scenario;

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use tokio::time::Instant;

use crate::backend::Message;
use crate::config::{Config, ModelConfig, StrategyKind, TimeoutConfig};
use crate::engine::{Engine, Origin, Request};
use crate::events::ModelName;
use model::{SEED_OPTION, World};
use oracle::Oracle;
pub use report::{Report, StrategyReport};
pub use scenario::{Process, Scenario, ScenarioError};

/// One strategy under test: a configured kind, with or without hedging, or the oracle.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Contender {
    /// `None` for the oracle.
    pub kind: Option<StrategyKind>,
    pub hedge: bool,
}

impl Contender {
    pub const ORACLE: Contender = Contender {
        kind: None,
        hedge: false,
    };

    /// Every strategy alone, every strategy with hedging, and the oracle.
    pub fn all() -> Vec<Contender> {
        let plain = StrategyKind::ALL.iter().map(|&k| Contender {
            kind: Some(k),
            hedge: false,
        });
        let hedged = StrategyKind::ALL.iter().map(|&k| Contender {
            kind: Some(k),
            hedge: true,
        });
        plain.chain(hedged).chain([Contender::ORACLE]).collect()
    }

    /// `p95`, `peak-ewma+hedge`, `oracle`.
    pub fn parse(name: &str) -> Result<Contender, String> {
        let name = name.trim();
        if name == "oracle" {
            return Ok(Contender::ORACLE);
        }
        let (base, hedge) = match name.strip_suffix("+hedge") {
            Some(base) => (base, true),
            None => (name, false),
        };
        match StrategyKind::from_name(base) {
            Some(kind) => Ok(Contender {
                kind: Some(kind),
                hedge,
            }),
            None => {
                let known: Vec<&str> = StrategyKind::ALL.iter().map(|k| k.name()).collect();
                Err(format!(
                    "unknown strategy '{name}'; known: {}, oracle, each with +hedge",
                    known.join(", ")
                ))
            }
        }
    }
}

impl fmt::Display for Contender {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.kind {
            None => f.write_str("oracle"),
            Some(kind) if self.hedge => write!(f, "{}+hedge", kind.name()),
            Some(kind) => f.write_str(kind.name()),
        }
    }
}

/// One request of the traffic: when it arrives, and the seed of its draws.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Arrival {
    pub at: Duration,
    pub seed: u64,
}

/// The scenario's arrivals for `seed`; `count` overrides the scenario's count and
/// duration.
pub fn arrivals(scenario: &Scenario, seed: u64, count: Option<u64>) -> Vec<Arrival> {
    let a = &scenario.arrivals;
    let (limit, duration) = match count {
        Some(n) => (Some(n), None),
        None => (a.count, a.duration),
    };
    let mut rng = StdRng::seed_from_u64(seed);
    let rate_at = |t: f64| {
        let i = a.rates.partition_point(|(from, _)| from.as_secs_f64() <= t);
        a.rates[i.saturating_sub(1)].1
    };
    let mut out = Vec::with_capacity(limit.unwrap_or(1024).min(10_000_000) as usize);
    let mut t = 0.0_f64;
    loop {
        let u: f64 = rng.random();
        t += match a.process {
            Process::Poisson => -(1.0 - u).ln() / rate_at(t),
            Process::Fixed => 1.0 / rate_at(t),
        };
        // `t` grows by finite, positive steps (rates are checked above zero).
        let at = Duration::try_from_secs_f64(t).unwrap_or(Duration::MAX);
        if duration.is_some_and(|d| at > d) || limit.is_some_and(|n| out.len() as u64 >= n) {
            return out;
        }
        out.push(Arrival {
            at,
            seed: rng.random(),
        });
    }
}

/// How one request ended.
#[derive(Clone, Debug, PartialEq)]
pub struct Outcome {
    /// The answering model; `None` when every model failed.
    pub model: Option<ModelName>,
    pub ttft: Option<Duration>,
    pub total: Duration,
    /// It was answered by another model than the first one tried.
    pub fell_back: bool,
}

/// One contender's run over the arrivals.
#[derive(Clone, Debug)]
pub struct Run {
    pub contender: Contender,
    pub outcomes: Vec<Outcome>,
    pub hedges: u64,
    /// Wall-clock time the run took.
    pub wall: std::time::Duration,
}

/// The engine configuration for the scenario's models and this contender.
pub fn engine_config(scenario: &Scenario, contender: Contender) -> Config {
    // Never contacted: the simulator gives the engine its own backends.
    let url = url::Url::parse("http://127.0.0.1:9").unwrap_or_else(|_| unreachable!());
    let mut config = Config::default_for(url.clone());
    config.models = scenario
        .models
        .iter()
        .map(|m| {
            let mut c = ModelConfig::ollama(m.name.clone(), url.clone(), m.timeout);
            c.timeouts = TimeoutConfig::with_total(m.timeout);
            c.bulkhead.max_in_flight = m.max_in_flight;
            c.bulkhead.queue_capacity = m.queue;
            c
        })
        .collect();
    config.routing.strategy = contender.kind.unwrap_or(StrategyKind::P95);
    config.routing.hedge = contender.hedge;
    config
}

/// Run one contender over the arrivals on a paused clock.
pub fn run(scenario: &Scenario, arrivals: &[Arrival], contender: Contender) -> anyhow::Result<Run> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .start_paused(true)
        .build()?;
    let wall = std::time::Instant::now();
    let (outcomes, hedges) = runtime.block_on(simulate(scenario.clone(), arrivals, contender));
    drop(runtime);
    Ok(Run {
        contender,
        outcomes,
        hedges,
        wall: wall.elapsed(),
    })
}

async fn simulate(
    scenario: Scenario,
    arrivals: &[Arrival],
    contender: Contender,
) -> (Vec<Outcome>, u64) {
    let start = Instant::now();
    let config = engine_config(&scenario, contender);
    let world = World::new(scenario, start);
    let backends = (0..world.scenario.models.len())
        .map(|i| world.backend(i))
        .collect();
    let engine = Engine::with_backends(&config, backends);
    if contender.kind.is_none() {
        engine.set_custom_strategy(Box::new(Oracle::new(Arc::clone(&world))));
    }

    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    for (i, arrival) in arrivals.iter().enumerate() {
        tokio::time::sleep_until(start + arrival.at).await;
        let submitted = Instant::now();
        let reply = engine.submit(request(arrival.seed));
        let tx = tx.clone();
        tokio::spawn(async move {
            let outcome = match reply.answer().await {
                Ok(answer) => Outcome {
                    fell_back: !answer.fallbacks.is_empty(),
                    model: Some(answer.model),
                    ttft: answer.time_to_first_token,
                    total: answer.total,
                },
                Err(_) => Outcome {
                    model: None,
                    ttft: None,
                    total: submitted.elapsed(),
                    fell_back: false,
                },
            };
            let _ = tx.send((i, outcome));
        });
    }
    drop(tx);
    let mut outcomes: Vec<Option<Outcome>> = vec![None; arrivals.len()];
    while let Some((i, outcome)) = rx.recv().await {
        outcomes[i] = Some(outcome);
    }
    let hedges = engine.snapshot().hedges();
    // Every spawned request sends its outcome before its sender drops.
    let outcomes = outcomes.into_iter().flatten().collect();
    (outcomes, hedges)
}

/// Every contender's run, in the given order, spread over the machine's cores. Each run
/// has its own runtime and clock, so running them side by side changes no figure.
fn run_all(
    scenario: &Scenario,
    arrivals: &[Arrival],
    contenders: &[Contender],
) -> anyhow::Result<Vec<Run>> {
    let workers = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(contenders.len())
        .max(1);
    let next = std::sync::atomic::AtomicUsize::new(0);
    let mut results: Vec<(usize, anyhow::Result<Run>)> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..workers)
            .map(|_| {
                scope.spawn(|| {
                    let mut done = Vec::new();
                    loop {
                        let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        let Some(&contender) = contenders.get(i) else {
                            return done;
                        };
                        done.push((i, run(scenario, arrivals, contender)));
                    }
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| {
                h.join()
                    .unwrap_or_else(|_| vec![(usize::MAX, Err(anyhow::anyhow!("a run panicked")))])
            })
            .collect()
    });
    results.sort_by_key(|(i, _)| *i);
    results.into_iter().map(|(_, run)| run).collect()
}

fn request(seed: u64) -> Request {
    let mut request = Request::chat(vec![Message::user("simulated question")]);
    request.origin = Origin::Load;
    request
        .options
        .insert(SEED_OPTION.to_string(), serde_json::Value::from(seed));
    request
}

/// Run every contender (the oracle always, for the ratios) and build the report.
pub fn compare(
    scenario: &Scenario,
    seed: u64,
    count: Option<u64>,
    contenders: &[Contender],
) -> anyhow::Result<(Report, Vec<Run>)> {
    let arrivals = arrivals(scenario, seed, count);
    let mut list: Vec<Contender> = contenders.to_vec();
    if !list.contains(&Contender::ORACLE) {
        list.push(Contender::ORACLE);
    }
    let runs = run_all(scenario, &arrivals, &list)?;
    let report = Report::new(scenario, seed, arrivals.len(), &runs);
    Ok((report, runs))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scenario(extra: &str) -> Scenario {
        let text = format!(
            r#"
            [arrivals]
            poisson = 1.0
            count = 300

            [[model]]
            name = "fast"
            first_token = {{ min = "100ms", max = "200ms" }}
            token = {{ min = "10ms", max = "20ms" }}
            tokens = {{ min = 10, max = 40 }}

            [[model]]
            name = "slow"
            first_token = {{ median = "2s", p95 = "4s" }}
            token = {{ min = "40ms", max = "60ms" }}
            tokens = {{ min = 10, max = 40 }}
            {extra}
            "#
        );
        Scenario::parse(&text, "test").unwrap()
    }

    fn report(s: &Scenario, seed: u64, names: &[&str]) -> Report {
        let contenders: Vec<Contender> =
            names.iter().map(|n| Contender::parse(n).unwrap()).collect();
        compare(s, seed, None, &contenders).unwrap().0
    }

    fn strategy<'r>(r: &'r Report, name: &str) -> &'r StrategyReport {
        r.strategies.iter().find(|s| s.strategy == name).unwrap()
    }

    #[test]
    fn a_seed_gives_identical_results_run_after_run() {
        let s = scenario("");
        let all: Vec<String> = Contender::all().iter().map(|c| c.to_string()).collect();
        let names: Vec<&str> = all.iter().map(String::as_str).collect();
        let first = serde_json::to_string(&report(&s, 7, &names)).unwrap();
        let second = serde_json::to_string(&report(&s, 7, &names)).unwrap();
        assert_eq!(first, second);
        let other = serde_json::to_string(&report(&s, 8, &names)).unwrap();
        assert_ne!(first, other, "another seed, other traffic");
    }

    #[test]
    fn the_oracle_sends_everything_to_a_model_that_is_always_much_faster() {
        let r = report(&scenario(""), 1, &["round-robin", "oracle"]);
        let oracle = strategy(&r, "oracle");
        assert_eq!(oracle.share[0].share, 1.0);
        assert_eq!(oracle.failures, 0);
        let rr = strategy(&r, "round-robin");
        assert!(oracle.ttft_ms.p95 < rr.ttft_ms.p95, "{oracle:?} {rr:?}");
        assert_eq!(oracle.vs_oracle.ttft_p95, Some(1.0));
    }

    #[test]
    fn a_model_that_goes_down_is_fallen_back_from_without_failing_requests() {
        // Light traffic, so that the slow model alone can carry it.
        let down = "[[phase]]\nat = \"0s\"\nrate = 0.25\n\
                    [[phase]]\nat = \"60s\"\nmodel = \"fast\"\nstate = \"down\"";
        let r = report(&scenario(down), 1, &["p95", "peak-ewma"]);
        for name in ["p95", "peak-ewma"] {
            let s = strategy(&r, name);
            assert_eq!(s.failures, 0, "{s:?}");
            assert!(s.fallbacks > 0, "{s:?}");
            assert!(s.share[1].share > 0.5, "most answers after 60 s: {s:?}");
        }
    }

    #[test]
    fn hedging_is_counted_and_capped_by_its_budget() {
        let r = report(&scenario(""), 1, &["round-robin+hedge"]);
        let s = strategy(&r, "round-robin+hedge");
        assert!(s.hedges > 0);
        // One to start with, then a twentieth of a hedge per request.
        assert!(s.hedges as f64 <= 1.0 + 0.05 * r.requests as f64, "{s:?}");
    }

    #[test]
    fn arrivals_follow_the_rate_and_the_count() {
        let s = scenario("");
        let a = arrivals(&s, 3, Some(2000));
        assert_eq!(a.len(), 2000);
        let span = a.last().unwrap().at.as_secs_f64();
        assert!((1800.0..2200.0).contains(&span), "{span}");
        assert!(a.windows(2).all(|w| w[0].at <= w[1].at));
        assert_eq!(arrivals(&s, 3, Some(50)), arrivals(&s, 3, Some(50)));
    }

    #[test]
    fn contenders_are_named_as_on_the_command_line() {
        assert_eq!(
            Contender::parse("peak-ewma+hedge").unwrap().to_string(),
            "peak-ewma+hedge"
        );
        assert_eq!(Contender::parse("oracle"), Ok(Contender::ORACLE));
        let e = Contender::parse("fastest").unwrap_err();
        assert!(e.contains("p95, round-robin, peak-ewma, ttft-ewma"), "{e}");
        assert_eq!(Contender::all().len(), 2 * StrategyKind::ALL.len() + 1);
    }
}
