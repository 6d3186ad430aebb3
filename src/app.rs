//! What every command shares: the configuration's layers, demo mode and the engine.

use std::path::PathBuf;

use anyhow::Context;
use clap::Args;

use crate::config::{self, Config, Overrides};
use crate::demo;
use crate::emulator::EmulatorHandle;
use crate::engine::Engine;

/// Options every command takes.
#[derive(Args, Clone, Debug, Default)]
pub struct CommonArgs {
    /// Configuration file [default: $XDG_CONFIG_HOME/signalbox/config.toml]
    #[arg(long, short = 'c', global = true, value_name = "PATH")]
    pub config: Option<PathBuf>,

    /// Serve the configured models from the built-in emulator instead of real servers.
    #[arg(long, global = true)]
    pub demo: bool,

    /// How much faster than the real models the demo's emulated ones answer.
    #[arg(long, global = true, value_name = "FACTOR", default_value_t = demo::DEFAULT_SPEED)]
    pub speed: f64,

    /// Seed for the demo's emulated answers, latencies and faults.
    #[arg(long, global = true, value_name = "N", default_value_t = 0)]
    pub seed: u64,

    /// Routing strategy: peak-ewma (the default), ttft-ewma, p95 or round-robin.
    #[arg(long, global = true, value_name = "NAME")]
    pub strategy: Option<String>,

    /// Ollama's address for models without a `url`, as OLLAMA_HOST takes it.
    #[arg(long, global = true, value_name = "HOST")]
    pub ollama_host: Option<String>,

    /// Log filter, e.g. `info` or `signalbox=debug`.
    #[arg(long, global = true, value_name = "FILTER")]
    pub log_level: Option<String>,

    /// Log file [default: $XDG_STATE_HOME/signalbox/signalbox.log]
    #[arg(long, global = true, value_name = "PATH")]
    pub log_file: Option<PathBuf>,

    /// Log prompt and answer text (off by default).
    #[arg(long, global = true)]
    pub log_content: bool,
}

impl CommonArgs {
    fn overrides(&self) -> Overrides {
        Overrides {
            strategy: self.strategy.clone(),
            log_level: self.log_level.clone(),
            log_file: self.log_file.clone(),
            log_content: self.log_content.then_some(true),
            ollama_host: self.ollama_host.clone(),
            ..Overrides::default()
        }
    }
}

/// Whether to start the demo when nothing says otherwise.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AutoDemo {
    /// With no configuration file and no Ollama answering, start the demo and say so.
    WhenNothingAnswers,
    /// Only with `--demo`.
    Never,
}

/// A configuration ready to serve, with the engine over it.
pub struct Prepared {
    pub config: Config,
    pub engine: Engine,
    /// The emulator serving the demo, if this is one; dropping it stops it.
    pub demo: Option<EmulatorHandle>,
    /// A line to show the user about how this run was set up (demo mode and why).
    pub banner: Option<String>,
    /// The configuration file in use, if any.
    pub file: Option<PathBuf>,
}

/// Load the configuration, decide on demo mode, start the emulator if needed and build the
/// engine. Must run inside the tokio runtime.
pub async fn prepare(
    common: &CommonArgs,
    extra: Overrides,
    auto: AutoDemo,
) -> anyhow::Result<Prepared> {
    let mut flags = common.overrides();
    merge_overrides(&mut flags, extra);
    let loaded = config::load(common.config.as_deref(), &flags)
        .map_err(|errors| anyhow::anyhow!("{errors}"))
        .context("the configuration has problems; fix them and start again")?;
    let mut config = loaded.config;

    let mut banner = None;
    let use_demo = common.demo
        || (auto == AutoDemo::WhenNothingAnswers
            && loaded.file.is_none()
            && !any_ollama_answers(&config).await);
    if use_demo && !common.demo {
        let url = config
            .models
            .first()
            .map(|m| m.base_url.to_string())
            .unwrap_or_default();
        banner = Some(format!(
            "Demo mode: no config file and no Ollama answering at {url}, so the models are \
             emulated. To use a real Ollama, start `ollama serve` (or set OLLAMA_HOST) and run \
             signalbox again, or pass --config PATH."
        ));
    } else if use_demo {
        banner = Some("Demo mode: the models are emulated (--demo).".to_string());
    }

    let demo = if use_demo {
        let handle = demo::start(&mut config, common.speed, common.seed)
            .await
            .context("could not start the demo's emulator on a loopback port")?;
        Some(handle)
    } else {
        None
    };

    let engine = Engine::try_new(&config).context("could not set up the models' backends")?;
    Ok(Prepared {
        config,
        engine,
        demo,
        banner,
        file: loaded.file,
    })
}

impl Prepared {
    /// Check every model's server now and then every [`HEALTH_EVERY`], telling the engine
    /// (and through its bus, the views) what each check found: not installed, cold or
    /// loaded, unreachable. For long-running commands; `ask` learns from its one answer.
    pub fn start_health_checks(&self) -> tokio::task::JoinHandle<()> {
        crate::backend::health::spawn_health_checks(&self.config, self.engine.clone(), HEALTH_EVERY)
    }
}

/// How often the long-running commands check each model's server.
pub const HEALTH_EVERY: std::time::Duration = std::time::Duration::from_secs(30);

fn merge_overrides(into: &mut Overrides, extra: Overrides) {
    let Overrides {
        strategy,
        listen,
        allow_remote,
        log_level,
        log_file,
        log_content,
        ollama_host,
    } = extra;
    into.strategy = strategy.or(into.strategy.take());
    into.listen = listen.or(into.listen.take());
    into.allow_remote = allow_remote.or(into.allow_remote);
    into.log_level = log_level.or(into.log_level.take());
    into.log_file = log_file.or(into.log_file.take());
    into.log_content = log_content.or(into.log_content);
    into.ollama_host = ollama_host.or(into.ollama_host.take());
}

async fn any_ollama_answers(config: &Config) -> bool {
    for model in &config.models {
        if model.backend == crate::backend::BackendKind::Ollama
            && demo::ollama_answers(&model.base_url).await
        {
            return true;
        }
    }
    false
}
