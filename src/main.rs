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
    /// Measure signalbox's own cost under load: routed versus direct.
    Bench(Box<signalbox::bench::cli::BenchArgs>),
}

#[tokio::main]
async fn main() -> anyhow::Result<ExitCode> {
    let cli = Cli::parse();
    match cli.command {
        Some(Command::Emulate(args)) => signalbox::emulator::cli::run_cli(args)
            .await
            .map(|()| ExitCode::SUCCESS),
        Some(Command::Bench(args)) => signalbox::bench::cli::run_cli(*args).await,
        None => {
            println!("signalbox: the dashboard is being built; try `signalbox emulate --help`");
            Ok(ExitCode::SUCCESS)
        }
    }
}
