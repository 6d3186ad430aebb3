//! Drawing: a pure function of the app state and the instant. Layout gives way on small
//! terminals: the event log goes first, then model panels shrink to one line each, then
//! move above the chat as a strip.

mod chrome;
mod models;

#[cfg(test)]
mod tests;

use std::time::Instant;

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::Line;
use ratatui::widgets::{Block, Borders, Paragraph, Wrap};

use super::app::App;

/// Narrower than this, model panels move above the chat.
const SIDE_PANEL_MIN_WIDTH: u16 = 76;
/// The model column's width beside the chat.
const SIDE_PANEL_WIDTH: u16 = 38;
/// Shorter than this, the event log is left out.
const EVENT_LOG_MIN_HEIGHT: u16 = 28;

/// Draws the whole screen.
pub fn render(frame: &mut Frame, app: &mut App, now: Instant) {
    let area = frame.area();
    let input_rows = (app.input.lines().len() as u16 + 2)
        .clamp(3, 8)
        .min(area.height / 3)
        .max(3);
    let banner_rows = u16::from(app.options.banner.is_some());
    let log_rows = if area.height >= EVENT_LOG_MIN_HEIGHT {
        7
    } else {
        0
    };
    let [banner, routing, body, log, input, footer] = Layout::vertical([
        Constraint::Length(banner_rows),
        Constraint::Length(1),
        Constraint::Min(3),
        Constraint::Length(log_rows),
        Constraint::Length(input_rows),
        Constraint::Length(1),
    ])
    .areas(area);

    if let Some(text) = &app.options.banner {
        frame.render_widget(
            Paragraph::new(Line::styled(text.as_str(), app.theme.banner)),
            banner,
        );
    }
    chrome::render_routing(frame, app, routing);
    render_body(frame, app, body, now);
    if log_rows > 0 {
        chrome::render_log(frame, app, log);
    }
    frame.render_widget(&app.input, input);
    chrome::render_footer(frame, app, footer);
    if app.help_open {
        chrome::render_help(frame, app, area);
    }
}

fn render_body(frame: &mut Frame, app: &mut App, area: Rect, now: Instant) {
    let models = app
        .board
        .snapshot
        .as_ref()
        .map_or(app.models.len(), |s| s.models.len()) as u16;
    if area.width >= SIDE_PANEL_MIN_WIDTH {
        let [chat, side] =
            Layout::horizontal([Constraint::Min(30), Constraint::Length(SIDE_PANEL_WIDTH)])
                .areas(area);
        render_chat(frame, app, chat);
        models::render_models(frame, app, side, now);
    } else {
        let strip = (models + 2).min(area.height / 2);
        let [top, chat] =
            Layout::vertical([Constraint::Length(strip), Constraint::Min(1)]).areas(area);
        models::render_summaries(frame, app, top, now);
        render_chat(frame, app, chat);
    }
}

fn render_chat(frame: &mut Frame, app: &mut App, area: Rect) {
    let mut block = Block::default()
        .borders(Borders::ALL)
        .title(Line::styled(" chat ", app.theme.title));
    let inner = block.inner(area);
    let lines = app.chat.visible(inner.width, inner.height, &app.theme);
    let below = app.chat.rows_below();
    if below > 0 {
        block = block.title_bottom(Line::styled(
            format!(" ↓ {below} more · Ctrl+End follows "),
            app.theme.warn,
        ));
    }
    frame.render_widget(block, area);
    if app.chat.entries().is_empty() {
        frame.render_widget(
            Paragraph::new(welcome(app)).wrap(Wrap { trim: false }),
            inner,
        );
        return;
    }
    frame.render_widget(Paragraph::new(lines), inner);
}

/// What an empty chat says: how to start, and the keys worth knowing first.
fn welcome(app: &App) -> Vec<Line<'static>> {
    let theme = &app.theme;
    let mut lines = vec![
        Line::styled(
            "Ask a question in the box below; the router picks the model.",
            theme.info,
        ),
        Line::default(),
    ];
    let trips: Vec<String> = app
        .models
        .iter()
        .take(8)
        .enumerate()
        .map(|(i, m)| format!("F{} trips {m}", i + 2))
        .collect();
    if !trips.is_empty() {
        lines.push(Line::styled(
            format!("{} (Shift+F… resets).", trips.join(", ")),
            theme.dim,
        ));
    }
    lines.push(Line::styled(
        "/metrics for figures · F1 for every key and command.",
        theme.dim,
    ));
    lines
}
