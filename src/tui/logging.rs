//! Logs go to a file, never over the screen.

use std::path::PathBuf;

use anyhow::Context;
use tracing_appender::non_blocking::WorkerGuard;
use tracing_subscriber::EnvFilter;

/// Sends `tracing` output at `level` (a filter such as `info` or `signalbox=debug`) to a
/// file through a background writer, so logging never blocks the screen. Returns the file's
/// path and the guard that flushes it: keep the guard alive until exit.
///
/// The default file is `$XDG_STATE_HOME/signalbox/signalbox.log`, falling back to
/// `~/.local/state/signalbox/signalbox.log`. Prompt and answer text are never logged here.
pub fn init_logging(path: Option<PathBuf>, level: &str) -> anyhow::Result<(PathBuf, WorkerGuard)> {
    let path = match path {
        Some(path) => path,
        None => default_log_path()
            .context("cannot find a place for the log: set XDG_STATE_HOME or HOME")?,
    };
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .map_or_else(|| PathBuf::from("."), PathBuf::from);
    std::fs::create_dir_all(&dir)
        .with_context(|| format!("cannot create log directory {}", dir.display()))?;
    let file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)
        .with_context(|| format!("cannot open log file {}", path.display()))?;
    let filter = EnvFilter::try_new(level)
        .with_context(|| format!("bad log level '{level}': try info or debug"))?;
    let (writer, guard) = tracing_appender::non_blocking(file);
    tracing_subscriber::fmt()
        .with_writer(writer)
        .with_ansi(false)
        .with_env_filter(filter)
        .try_init()
        .map_err(|e| anyhow::anyhow!("logging is already set up: {e}"))?;
    Ok((path, guard))
}

/// `$XDG_STATE_HOME/signalbox/signalbox.log`, or under `~/.local/state` without it.
pub fn default_log_path() -> Option<PathBuf> {
    let state = std::env::var_os("XDG_STATE_HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .filter(|p| p.is_absolute())
        .or_else(|| {
            std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".local/state"))
        })?;
    Some(state.join("signalbox").join("signalbox.log"))
}
