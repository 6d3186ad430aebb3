//! `signalbox simulate SCENARIO`: the command line.

use std::process::ExitCode;

use anyhow::Context as _;

use super::{Contender, Scenario, compare};

/// Compare routing strategies on a simulated scenario, in virtual time.
#[derive(Clone, Debug, clap::Args)]
pub struct SimulateArgs {
    /// A built-in scenario (original-demo, fast-degrades, outage-recovery, flapping,
    /// overload) or the path of a scenario TOML file.
    pub scenario: String,

    /// Seed of the arrivals and of every model's draws; the same seed gives the same
    /// figures.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,

    /// Strategies to compare, comma-separated: p95, round-robin, peak-ewma, ttft-ewma,
    /// each optionally with +hedge, and oracle. Default: all, alone and hedged. The
    /// oracle always runs, for the ratios.
    #[arg(long, value_delimiter = ',')]
    pub strategies: Option<Vec<String>>,

    /// Send this many requests instead of the scenario's count or duration.
    #[arg(long)]
    pub requests: Option<u64>,

    /// Print JSON instead of a table.
    #[arg(long)]
    pub json: bool,
}

/// Run the comparison and print it.
pub async fn run_cli(args: SimulateArgs) -> anyhow::Result<ExitCode> {
    // The simulation builds its own paused-clock runtimes, one per strategy; those
    // cannot nest inside the caller's runtime, so they run on a plain thread.
    tokio::task::spawn_blocking(move || run_blocking(&args))
        .await
        .context("the simulation thread stopped")?
}

/// The same, for callers outside a runtime.
pub fn run_blocking(args: &SimulateArgs) -> anyhow::Result<ExitCode> {
    let scenario = Scenario::load(&args.scenario)?;
    let contenders = match &args.strategies {
        None => Contender::all(),
        Some(names) => names
            .iter()
            .filter(|n| !n.trim().is_empty())
            .map(|n| Contender::parse(n))
            .collect::<Result<Vec<_>, String>>()
            .map_err(anyhow::Error::msg)?,
    };
    let started = std::time::Instant::now();
    let (report, runs) = compare(&scenario, args.seed, args.requests, &contenders)?;
    let wall = started.elapsed();
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print!("{}", report.table());
        let slowest = runs.iter().map(|r| r.wall).max().unwrap_or_default();
        println!(
            "{} runs of {} requests in {:.2} s of wall time (slowest run {:.2} s)",
            runs.len(),
            report.requests,
            wall.as_secs_f64(),
            slowest.as_secs_f64()
        );
    }
    Ok(ExitCode::SUCCESS)
}
