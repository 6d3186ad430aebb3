//! Logs go to a file, never over the screen.

use std::ffi::OsString;
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
    log_path_from(std::env::var_os("XDG_STATE_HOME"), std::env::var_os("HOME"))
}

/// The XDG rule: a relative or empty `XDG_STATE_HOME` is ignored.
fn log_path_from(xdg_state_home: Option<OsString>, home: Option<OsString>) -> Option<PathBuf> {
    let state = xdg_state_home
        .map(PathBuf::from)
        .filter(|p| p.is_absolute())
        .or_else(|| {
            home.filter(|h| !h.is_empty())
                .map(|h| PathBuf::from(h).join(".local/state"))
        })?;
    Some(state.join("signalbox").join("signalbox.log"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_goes_under_xdg_state_home_else_home_local_state() {
        let xdg = log_path_from(Some("/x/state".into()), Some("/home/u".into()));
        assert_eq!(xdg, Some(PathBuf::from("/x/state/signalbox/signalbox.log")));
        let home = log_path_from(None, Some("/home/u".into()));
        assert_eq!(
            home,
            Some(PathBuf::from(
                "/home/u/.local/state/signalbox/signalbox.log"
            ))
        );
        let relative = log_path_from(Some("rel".into()), Some("/home/u".into()));
        assert_eq!(relative, home, "a relative XDG_STATE_HOME is ignored");
        assert_eq!(log_path_from(None, None), None);
    }

    #[test]
    fn init_logging_writes_to_the_file_and_creates_its_directory() {
        let dir = std::env::temp_dir().join(format!("signalbox-log-test-{}", std::process::id()));
        let path = dir.join("nested").join("test.log");
        let (written, guard) = init_logging(Some(path.clone()), "info").expect("logging starts");
        assert_eq!(written, path);
        tracing::info!(answer = 42, "a structured line");
        drop(guard);
        let text = std::fs::read_to_string(&path).expect("log file exists");
        assert!(
            text.contains("a structured line") && text.contains("answer=42"),
            "{text}"
        );
        let _ = std::fs::remove_dir_all(&dir);
    }
}
