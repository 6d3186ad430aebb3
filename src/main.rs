use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// signalbox: a terminal dashboard and router for local language models.
#[derive(Parser)]
#[command(name = "signalbox", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Run an Ollama-compatible emulator with scripted latency and faults.
    Emulate(signalbox::emulator::cli::EmulateArgs),
    /// Compare routing strategies on a simulated scenario, in virtual time.
    Simulate(signalbox::simulate::cli::SimulateArgs),
}

#[tokio::main]
async fn main() -> anyhow::Result<ExitCode> {
    let cli = Cli::parse();
    match cli.command {
        Some(Command::Emulate(args)) => {
            signalbox::emulator::cli::run_cli(args).await?;
            Ok(ExitCode::SUCCESS)
        }
        Some(Command::Simulate(args)) => {
            // Its problems (a scenario that does not parse) are the user's to fix: said
            // plainly, without a backtrace.
            Ok(signalbox::simulate::cli::run_cli(args)
                .await
                .unwrap_or_else(|e| {
                    eprintln!("signalbox simulate: {e:#}");
                    ExitCode::FAILURE
                }))
        }
        None => {
            println!("signalbox: the dashboard is being built; try `signalbox emulate --help`");
            Ok(ExitCode::SUCCESS)
        }
    }
}
