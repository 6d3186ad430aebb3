//! The routing line, the event log, the footer and the help overlay.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Clear, Paragraph};

use crate::tui::app::App;
use crate::tui::board::Level;
use crate::tui::commands::COMMANDS;

/// `strategy p95 · warm-up 3/4 · #12 → gemma3:1b (then gemma2:2b): lowest p95`.
pub fn render_routing(frame: &mut Frame, app: &App, area: Rect) {
    let theme = &app.theme;
    let mut spans = vec![Span::styled(" signalbox ", theme.title)];
    let strategy = app.board.strategy.unwrap_or("…");
    spans.push(Span::raw(format!("strategy {strategy}")));
    if let Some(s) = &app.board.snapshot {
        let warm = if s.routed >= u64::from(s.warmup) {
            format!(" · warmed up ({} routed)", s.routed)
        } else {
            format!(" · warm-up {}/{}", s.routed, s.warmup)
        };
        spans.push(Span::raw(warm));
    }
    if let Some(route) = &app.board.last_route {
        spans.push(Span::styled(format!(" · {route}"), theme.info));
    }
    if app.board.stale {
        spans.push(Span::styled(" · ⚠ catching up", theme.warn));
    }
    frame.render_widget(Paragraph::new(Line::from(spans)), area);
}

/// Breaker transitions, fallbacks, failures and health changes; newest at the bottom.
pub fn render_log(frame: &mut Frame, app: &App, area: Rect) {
    let theme = &app.theme;
    let block = Block::default()
        .borders(Borders::ALL)
        .title(Line::styled(" events (UTC) ", theme.title));
    let inner = block.inner(area);
    let skip = app.board.log.len().saturating_sub(inner.height as usize);
    let lines: Vec<Line> = app
        .board
        .log
        .iter()
        .skip(skip)
        .map(|l| {
            let style = match l.level {
                Level::Info => theme.info,
                Level::Warn => theme.warn,
                Level::Error => theme.error,
            };
            let at = format!(
                "{:02}:{:02}:{:02} ",
                l.at.hour(),
                l.at.minute(),
                l.at.second()
            );
            Line::from(vec![
                Span::styled(at, theme.dim),
                Span::styled(l.text.as_str(), style),
            ])
        })
        .collect();
    frame.render_widget(block, area);
    frame.render_widget(Paragraph::new(lines), inner);
}

/// The keys that work now, most useful first; those that do not fit are left out whole.
pub fn render_footer(frame: &mut Frame, app: &App, area: Rect) {
    let mut spans = Vec::new();
    let mut used = 0;
    for (keys, label) in app.keys.footer(app.context()) {
        let key = format!(" {keys} ");
        let label = format!(" {label}  ");
        let width = key.chars().count() + label.chars().count();
        if used + width > area.width as usize + 2 {
            break;
        }
        used += width;
        spans.push(Span::styled(key, app.theme.key));
        spans.push(Span::raw(label));
    }
    frame.render_widget(Paragraph::new(Line::from(spans)), area);
}

/// Every key and command, and where the log is written.
pub fn render_help(frame: &mut Frame, app: &App, area: Rect) {
    let theme = &app.theme;
    let [_, mid, _] = Layout::vertical([
        Constraint::Fill(1),
        Constraint::Percentage(90),
        Constraint::Fill(1),
    ])
    .areas(area);
    let [_, popup, _] = Layout::horizontal([
        Constraint::Fill(1),
        Constraint::Max(96),
        Constraint::Fill(1),
    ])
    .areas(mid);
    let block = Block::default()
        .borders(Borders::ALL)
        .border_style(theme.focus_border)
        .title(Line::styled(" help · Esc closes ", theme.title));

    let key_width = app
        .keys
        .help_rows()
        .map(|(k, _)| k.chars().count())
        .max()
        .unwrap_or(10)
        .min(36)
        + 2;
    // The longest description is about 56 columns.
    let stacked = (popup.width as usize).saturating_sub(2) < key_width + 56;
    let mut lines = vec![Line::styled("Keys", theme.heading)];
    for (keys, help) in app.keys.help_rows() {
        lines.extend(row(keys, help, key_width, stacked, theme.key_text()));
    }
    lines.push(Line::default());
    lines.push(Line::styled(
        "Commands (type them, then Enter)",
        theme.heading,
    ));
    for (command, help) in COMMANDS {
        lines.extend(row(command, help, key_width, stacked, theme.key_text()));
    }
    lines.push(Line::default());
    let log = app
        .options
        .log_path
        .as_ref()
        .map_or("not written".to_string(), |p| p.display().to_string());
    lines.push(Line::from(vec![
        Span::styled("Log file: ", theme.heading),
        Span::raw(log),
    ]));

    // Scrolling stops with the last line at the bottom.
    let room = popup.height.saturating_sub(2) as usize;
    let scroll = app.help_scroll.min(lines.len().saturating_sub(room) as u16);
    frame.render_widget(Clear, popup);
    frame.render_widget(
        Paragraph::new(lines).block(block).scroll((scroll, 0)),
        popup,
    );
}

/// One help entry: keys and description side by side, or stacked when the overlay is too
/// narrow for both.
fn row<'a>(
    keys: &'a str,
    help: &'a str,
    width: usize,
    stacked: bool,
    style: Style,
) -> Vec<Line<'a>> {
    if stacked {
        return vec![Line::styled(keys, style), Line::raw(format!("    {help}"))];
    }
    vec![Line::from(vec![
        Span::styled(format!("{keys:<width$}"), style),
        Span::raw(help),
    ])]
}
