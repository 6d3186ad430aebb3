//! The dashboard: chat, one panel per model, the routing line and an event log, drawn
//! from the engine's events.
//!
//! [`app`] holds the state and changes it one message at a time; [`view`] draws it;
//! [`keys`] is the key table; `event_loop` joins them to the terminal and the engine.

pub mod app;
pub mod board;
pub mod chat;
pub mod commands;
mod event_loop;
pub mod keys;
mod logging;
mod metrics_table;
pub mod terminal;
mod text;
pub mod theme;
pub mod view;

#[cfg(test)]
mod app_tests;
#[cfg(test)]
mod fixtures;
#[cfg(test)]
mod loop_tests;

use std::path::PathBuf;

pub use logging::{default_log_path, init_logging};

use crate::engine::Engine;
use app::{App, AppOptions};

/// How the dashboard starts.
#[derive(Clone, Debug, Default)]
pub struct TuiOptions {
    /// Where logs are written, shown in the help overlay.
    pub log_path: Option<PathBuf>,
    /// A line across the top, e.g. that the models are emulated.
    pub banner: Option<String>,
    /// No colours (shapes still tell states apart). `NO_COLOR` in the environment also
    /// turns colour off.
    pub no_color: bool,
}

/// Runs the dashboard until the user quits. The terminal is restored on every exit path,
/// panics included.
pub async fn run(engine: Engine, options: TuiOptions) -> anyhow::Result<()> {
    use std::io::IsTerminal;
    if !std::io::stdout().is_terminal() || !std::io::stdin().is_terminal() {
        anyhow::bail!(
            "the dashboard needs a terminal; to ask one question from a script, use `signalbox ask`"
        );
    }
    let no_color = options.no_color || std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
    let options = AppOptions {
        banner: options.banner,
        log_path: options.log_path,
        no_color,
    };
    let mut app = App::new(engine.model_names(), options);
    let mut bus = engine.subscribe();
    app.board
        .apply_snapshot(engine.snapshot(), app::Now::system().at);
    tracing::info!(models = app.models.len(), no_color, "dashboard started");

    let mut guard = terminal::enter()?;
    let input = crossterm::event::EventStream::new();
    let result =
        event_loop::event_loop(&engine, &mut app, &mut guard.terminal, input, &mut bus).await;
    drop(guard);
    tracing::info!(ok = result.is_ok(), "dashboard stopped");
    result
}
