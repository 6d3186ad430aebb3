//! `signalbox serve`: the engine behind the HTTP API, headless, logging to stderr as
//! services do.

use std::net::SocketAddr;
use std::time::Duration;

use anyhow::Context;
use tracing_subscriber::EnvFilter;

use super::Server;
use crate::config::{Config, Overrides, ProxyConfig};
use crate::engine::Engine;

/// Flags of `signalbox serve`; each overrides the configuration file.
#[derive(Clone, Debug, Default, clap::Args)]
pub struct ServeArgs {
    /// Address to listen on [default: 127.0.0.1:11435]. A non-loopback address also needs
    /// --allow-remote and --token-env.
    #[arg(long, value_name = "ADDR")]
    pub listen: Option<SocketAddr>,
    /// Allow listening on a non-loopback address (a bearer token is still required).
    #[arg(long)]
    pub allow_remote: bool,
    /// Environment variable holding the bearer token clients must send.
    #[arg(long, value_name = "VAR")]
    pub token_env: Option<String>,
    /// Browser origin allowed by CORS (repeatable; `*` for any). None by default.
    #[arg(long = "cors-origin", value_name = "ORIGIN")]
    pub cors_origins: Vec<String>,
    /// How long answers in flight may run on after SIGTERM or Ctrl+C (e.g. `10s`).
    #[arg(long, value_name = "DURATION", value_parser = humantime::parse_duration)]
    pub shutdown_grace: Option<Duration>,
    /// Log line format on stderr.
    #[arg(long, value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
}

/// How `serve` writes its log lines.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    #[default]
    Text,
    /// One JSON object per line, for log collectors.
    Json,
}

impl ServeArgs {
    /// The flags the configuration loader checks with the file's own values
    /// (`proxy.listen`, `proxy.allow_remote`); pass them to the loader, then [`run`].
    pub fn overrides(&self) -> Overrides {
        Overrides {
            listen: self.listen.map(|addr| addr.to_string()),
            allow_remote: self.allow_remote.then_some(true),
            ..Overrides::default()
        }
    }

    /// Apply the flags over the configuration's proxy section.
    pub fn apply(&self, proxy: &mut ProxyConfig) {
        if let Some(listen) = self.listen {
            proxy.listen = listen;
        }
        proxy.allow_remote |= self.allow_remote;
        if let Some(var) = &self.token_env {
            proxy.token_env = Some(var.clone());
        }
        if !self.cors_origins.is_empty() {
            proxy.cors_origins = self.cors_origins.clone();
        }
        if let Some(grace) = self.shutdown_grace {
            proxy.shutdown_grace = grace;
        }
    }
}

/// Log to stderr, filtered by `RUST_LOG` if set, else by the configured level. A logger
/// the caller installed already is kept.
pub fn init_logging(format: LogFormat, level: &str) -> anyhow::Result<()> {
    if tracing::dispatcher::has_been_set() {
        return Ok(());
    }
    let filter = EnvFilter::try_from_default_env()
        .or_else(|_| EnvFilter::try_new(level))
        .with_context(|| {
            format!("log level '{level}' is not a valid tracing filter (try `info`)")
        })?;
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let installed = match format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.json().try_init(),
    };
    installed.map_err(|e| anyhow::anyhow!("cannot install the logger: {e}"))
}

/// Completes on Ctrl+C or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => tracing::info!("Ctrl+C received"),
        () = terminate => tracing::info!("SIGTERM received"),
    }
}

/// Run `signalbox serve`: apply the flags, start logging, serve until Ctrl+C or SIGTERM.
/// `config` is the loaded configuration and `engine` the engine built from it.
pub async fn run(args: &ServeArgs, mut config: Config, engine: Engine) -> anyhow::Result<()> {
    init_logging(args.log_format, &config.log.level)?;
    args.apply(&mut config.proxy);
    let server = Server::bind(engine, config.proxy.clone())
        .await?
        .log_content(config.log.log_content);
    server.run(shutdown_signal()).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        serve: ServeArgs,
    }

    #[test]
    fn flags_override_the_proxy_section() {
        let cli = Cli::try_parse_from([
            "serve",
            "--listen",
            "127.0.0.1:9000",
            "--cors-origin",
            "http://localhost:3000",
            "--shutdown-grace",
            "3s",
            "--log-format",
            "json",
        ])
        .unwrap();
        let mut proxy = ProxyConfig::default();
        cli.serve.apply(&mut proxy);
        assert_eq!(proxy.listen, "127.0.0.1:9000".parse().unwrap());
        assert_eq!(
            proxy.cors_origins,
            vec!["http://localhost:3000".to_string()]
        );
        assert_eq!(proxy.shutdown_grace, Duration::from_secs(3));
        assert_eq!(cli.serve.log_format, LogFormat::Json);
        assert!(!proxy.allow_remote);
        assert_eq!(
            cli.serve.overrides().listen.as_deref(),
            Some("127.0.0.1:9000")
        );
    }

    #[test]
    fn without_flags_the_default_is_loopback_11435() {
        let cli = Cli::try_parse_from(["serve"]).unwrap();
        let mut proxy = ProxyConfig::default();
        cli.serve.apply(&mut proxy);
        assert_eq!(proxy.listen, "127.0.0.1:11435".parse().unwrap());
    }
}
