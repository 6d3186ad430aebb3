use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};

use signalbox::app::{self, AutoDemo, CommonArgs};
use signalbox::ask::{self, AskOptions};
use signalbox::config::Overrides;

/// signalbox: a terminal dashboard and router for local language models.
///
/// With no command it opens the dashboard. With no configuration file and no Ollama
/// answering, it starts the built-in demo and says so.
#[derive(Parser)]
#[command(name = "signalbox", version, about, long_about)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,

    #[command(flatten)]
    common: CommonArgs,
}

#[derive(Subcommand)]
enum Command {
    /// Ask one question: the answer on stdout, which model answered and how fast on stderr.
    Ask(AskArgs),
    /// Serve the router headless over an Ollama- and OpenAI-compatible HTTP API.
    Serve(signalbox::proxy::cli::ServeArgs),
    /// Run an Ollama-compatible emulator with scripted latency and faults.
    Emulate(signalbox::emulator::cli::EmulateArgs),
    /// Measure signalbox's own cost under load: routed versus direct.
    Bench(Box<signalbox::bench::cli::BenchArgs>),
}

#[derive(Args)]
struct AskArgs {
    /// The question.
    #[arg(required = true, num_args = 1..)]
    question: Vec<String>,
    /// Send to this model (by its configured name) instead of letting the router choose.
    #[arg(long, short = 'm')]
    model: Option<String>,
    /// With --model: fall back to the other models if it fails.
    #[arg(long, requires = "model")]
    fallback: bool,
    /// A system message sent before the question.
    #[arg(long)]
    system: Option<String>,
    /// Print tokens as they arrive even when stdout is not a terminal.
    #[arg(long)]
    stream: bool,
    /// Print one JSON object with the answer and its figures.
    #[arg(long, conflicts_with = "stream")]
    json: bool,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("signalbox: cannot start the async runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(code) => code,
        Err(error) => {
            eprintln!("signalbox: {error:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Some(Command::Ask(args)) => {
            let prepared = app::prepare(&cli.common, Overrides::default(), AutoDemo::Never).await?;
            let options = AskOptions {
                model: args.model,
                fallback: args.fallback,
                system: args.system,
                stream: args.stream,
                json: args.json,
            };
            ask::run(&prepared.engine, &args.question.join(" "), &options).await
        }
        Some(Command::Serve(args)) => {
            let prepared = app::prepare(&cli.common, args.overrides(), AutoDemo::Never).await?;
            // Keeps the demo's emulator serving for as long as the proxy runs.
            let _demo = prepared.demo;
            signalbox::proxy::cli::run(&args, prepared.config, prepared.engine).await?;
            Ok(ExitCode::SUCCESS)
        }
        Some(Command::Emulate(args)) => {
            signalbox::emulator::cli::run_cli(args).await?;
            Ok(ExitCode::SUCCESS)
        }
        Some(Command::Bench(args)) => signalbox::bench::cli::run_cli(*args).await,
        None => {
            let prepared = app::prepare(
                &cli.common,
                Overrides::default(),
                AutoDemo::WhenNothingAnswers,
            )
            .await?;
            if let Some(banner) = &prepared.banner {
                eprintln!("{banner}");
            }
            eprintln!(
                "signalbox: the dashboard is not built yet; try `signalbox ask --demo hello`"
            );
            Ok(ExitCode::SUCCESS)
        }
    }
}
