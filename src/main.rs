use std::net::SocketAddr;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};

use signalbox::app::{self, AutoDemo, CommonArgs};
use signalbox::ask::{self, AskOptions};
use signalbox::config::Overrides;
use signalbox::proxy::Server;
use signalbox::tui::{self, TuiOptions};
use tokio_util::sync::CancellationToken;

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

    /// Dashboard: also serve the Ollama- and OpenAI-compatible API on this address, and
    /// show its requests live. (`serve` runs the same API headless.)
    #[arg(long, value_name = "ADDR")]
    listen: Option<SocketAddr>,

    /// With --listen: allow a non-loopback address (a bearer token is then required).
    #[arg(long, requires = "listen")]
    allow_remote: bool,
}

#[derive(Subcommand)]
enum Command {
    /// Ask one question: the answer on stdout, which model answered and how fast on stderr.
    Ask(AskArgs),
    /// Serve the router headless over an Ollama- and OpenAI-compatible HTTP API.
    Serve(signalbox::proxy::cli::ServeArgs),
    /// Run an Ollama-compatible emulator with scripted latency and faults.
    Emulate(signalbox::emulator::cli::EmulateArgs),
    /// Compare routing strategies on a simulated scenario, in virtual time.
    Simulate(signalbox::simulate::cli::SimulateArgs),
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
            let _health = prepared.start_health_checks();
            // Keeps the demo's emulator serving for as long as the proxy runs.
            let _demo = prepared.demo;
            signalbox::proxy::cli::run(&args, prepared.config, prepared.engine).await?;
            Ok(ExitCode::SUCCESS)
        }
        Some(Command::Emulate(args)) => {
            signalbox::emulator::cli::run_cli(args).await?;
            Ok(ExitCode::SUCCESS)
        }
        Some(Command::Simulate(args)) => signalbox::simulate::cli::run_cli(args).await,
        Some(Command::Bench(args)) => signalbox::bench::cli::run_cli(*args).await,
        None => run_dashboard(&cli.common, cli.listen, cli.allow_remote).await,
    }
}

/// The dashboard, with the HTTP API beside it when `listen` is given.
async fn run_dashboard(
    common: &CommonArgs,
    listen: Option<SocketAddr>,
    allow_remote: bool,
) -> anyhow::Result<ExitCode> {
    let flags = Overrides {
        listen: listen.map(|addr| addr.to_string()),
        allow_remote: allow_remote.then_some(true),
        ..Overrides::default()
    };
    let prepared = app::prepare(common, flags, AutoDemo::WhenNothingAnswers).await?;
    let log = &prepared.config.log;
    let (log_path, _log_guard) = tui::init_logging(log.file.clone(), &log.level)?;
    let _health = prepared.start_health_checks();

    // Bind the API before the screen takes over, so a busy port is reported plainly.
    let mut banner = prepared.banner.clone();
    let api = match listen {
        Some(_) => {
            let api = Api::start(&prepared).await?;
            let line = format!("API at http://{}", api.addr);
            banner = Some(banner.map_or(line.clone(), |b| format!("{b} {line}")));
            Some(api)
        }
        None => None,
    };

    let options = TuiOptions {
        log_path: Some(log_path),
        banner,
        no_color: false,
    };
    // `prepared` (and the demo's emulator in it) lives until the dashboard closes.
    let result = tui::run(prepared.engine.clone(), options).await;
    if let Some(api) = api {
        api.stop().await;
    }
    result?;
    Ok(ExitCode::SUCCESS)
}

/// The HTTP API served beside the dashboard.
struct Api {
    addr: SocketAddr,
    stop: CancellationToken,
    task: tokio::task::JoinHandle<anyhow::Result<()>>,
}

impl Api {
    async fn start(prepared: &app::Prepared) -> anyhow::Result<Api> {
        let server = Server::bind(prepared.engine.clone(), prepared.config.proxy.clone())
            .await?
            .log_content(prepared.config.log.log_content);
        let addr = server.local_addr();
        let stop = CancellationToken::new();
        let stopped = stop.clone();
        let task = tokio::spawn(async move { server.run(stopped.cancelled_owned()).await });
        Ok(Api { addr, stop, task })
    }

    /// Stop accepting, let answers in flight drain, and say if the server failed.
    async fn stop(self) {
        self.stop.cancel();
        match self.task.await {
            Ok(Ok(())) => {}
            Ok(Err(error)) => eprintln!("signalbox: the API server failed: {error:#}"),
            Err(error) => eprintln!("signalbox: the API server task ended abnormally: {error}"),
        }
    }
}
