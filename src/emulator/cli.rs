//! `signalbox emulate`: run the emulator as its own process.

use std::net::SocketAddr;

use anyhow::Context as _;

use super::profile::{ModelSpec, Profile};
use super::{EmulatorConfig, start};

/// Run an Ollama-compatible emulator with scripted latency and faults.
#[derive(Clone, Debug, clap::Args)]
pub struct EmulateArgs {
    /// Address to listen on (Ollama's own port by default).
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:11434")]
    pub listen: SocketAddr,
    /// Run this many times faster than real time (10 = ten times faster).
    #[arg(long, value_name = "F", default_value_t = 1.0)]
    pub speed: f64,
    /// Seed for answers, latencies and faults; the same seed repeats a run.
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub seed: u64,
    /// A model and its profile: NAME=PROFILE[,key=value...], PROFILE one of fast, accurate,
    /// zero, flaky; keys load, first, token, tokens, failure, parallel, penalty. Repeatable.
    /// Default: gemma3:1b=fast and gemma2:2b=accurate.
    #[arg(long = "model", value_name = "NAME=PROFILE")]
    pub models: Vec<ModelSpec>,
}

/// Runs the emulator until Ctrl-C.
pub async fn run_cli(args: EmulateArgs) -> anyhow::Result<()> {
    let models = if args.models.is_empty() {
        Profile::defaults()
    } else {
        args.models
            .into_iter()
            .map(|s| (s.name, s.profile))
            .collect()
    };
    let cfg = EmulatorConfig {
        models,
        seed: args.seed,
        speed: args.speed,
    };
    let handle = start(args.listen, cfg).await.with_context(|| {
        format!(
            "cannot listen on {}; is Ollama (or another emulator) already there? \
             Pass --listen 127.0.0.1:11435",
            args.listen
        )
    })?;
    let url = handle.url();
    println!(
        "signalbox emulator listening on {url} (speed {}x, seed {})",
        args.speed, args.seed
    );
    for model in handle.models() {
        println!("  model {model}");
    }
    println!(
        "faults:  curl -X POST {url}admin/fault -d '{{\"model\":\"gemma3:1b\",\"fault\":\"hang_after\",\"chunks\":3}}'"
    );
    println!(
        "         (add \"times\":N or \"probability\":P; faults: refuse, no_answer, hang_after, server_error,"
    );
    println!(
        "          busy, not_installed, error_mid_stream, no_done, malformed, slow_drip, keep_alive_only,"
    );
    println!("          empty_chunks)");
    println!("clear:   curl -X DELETE {url}admin/fault/gemma3:1b   (or {url}admin/fault for all)");
    println!("state:   curl {url}admin/state");
    tokio::signal::ctrl_c()
        .await
        .context("cannot wait for Ctrl-C")?;
    handle.shutdown().await;
    Ok(())
}
