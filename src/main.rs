use std::process::ExitCode;

use clap::Parser;

/// signalbox: a terminal dashboard and router for local language models.
#[derive(Parser)]
#[command(name = "signalbox", version)]
enum Cli {
    /// Compare routing strategies on a simulated scenario, in virtual time.
    Simulate(signalbox::simulate::cli::SimulateArgs),
}

#[tokio::main]
async fn main() -> ExitCode {
    let result = match Cli::parse() {
        Cli::Simulate(args) => signalbox::simulate::cli::run_cli(args).await,
    };
    result.unwrap_or_else(|e| {
        eprintln!("signalbox: {e:#}");
        ExitCode::FAILURE
    })
}
