//! One panel per model: the breaker as a signal, a latency sparkline, percentiles,
//! success rate, bulkhead load, tokens per second and health.

use std::time::{Duration, Instant};

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Paragraph, Sparkline};

use crate::engine::{BreakerState, ModelSnapshot, Percentiles, fmt_secs};
use crate::events::Health;
use crate::tui::app::App;
use crate::tui::metrics_table::{rate, short};
use crate::tui::theme::Theme;

/// Rows a full panel takes, borders included.
const PANEL_ROWS: u16 = 9;

/// The model column beside the chat: full panels when they fit, else one line each.
pub fn render_models(frame: &mut Frame, app: &App, area: Rect, now: Instant) {
    let Some(snapshot) = &app.board.snapshot else {
        render_waiting(frame, app, area);
        return;
    };
    let count = snapshot.models.len() as u16;
    if count == 0 || area.height < count * PANEL_ROWS {
        render_summaries(frame, app, area, now);
        return;
    }
    let rows = Layout::vertical(vec![Constraint::Length(PANEL_ROWS); count as usize]).split(area);
    for (i, (model, rect)) in snapshot.models.iter().zip(rows.iter()).enumerate() {
        render_panel(
            frame,
            &app.theme,
            model,
            app.board.countdown(i, now),
            i,
            *rect,
        );
    }
}

/// One line per model, in a single box.
pub fn render_summaries(frame: &mut Frame, app: &App, area: Rect, now: Instant) {
    let Some(snapshot) = &app.board.snapshot else {
        render_waiting(frame, app, area);
        return;
    };
    let theme = &app.theme;
    let block = Block::default()
        .borders(Borders::ALL)
        .title(Line::styled(" models ", theme.title));
    let lines: Vec<Line> = snapshot
        .models
        .iter()
        .enumerate()
        .map(|(i, m)| {
            let (symbol, style) = theme.signal(m.breaker.state);
            let mut spans = vec![
                Span::styled(format!("{symbol} "), style),
                Span::styled(format!("{} ", m.name), theme.model),
            ];
            match m.breaker.state {
                BreakerState::Open => {
                    spans.push(Span::styled(open_text(app.board.countdown(i, now)), style));
                    spans.push(Span::raw("· "));
                }
                BreakerState::HalfOpen => spans.push(Span::styled("half-open · ", style)),
                BreakerState::Closed => {}
            }
            spans.push(Span::raw(format!(
                "p95 {} ok {} {}/{} q{}",
                short(m.latency_recent.p95),
                rate(m.counters.success_rate()),
                m.in_flight,
                m.max_in_flight,
                m.queued
            )));
            if let Some((text, true)) = health_text(m) {
                spans.push(Span::styled(format!(" {text}"), theme.error));
            }
            Line::from(spans)
        })
        .collect();
    frame.render_widget(Paragraph::new(lines).block(block), area);
}

fn render_waiting(frame: &mut Frame, app: &App, area: Rect) {
    let block = Block::default()
        .borders(Borders::ALL)
        .title(Line::styled(" models ", app.theme.title));
    let mut lines = vec![Line::styled(
        "waiting for the engine's figures…",
        app.theme.dim,
    )];
    lines.extend(app.models.iter().map(|m| Line::raw(format!("  {m}"))));
    frame.render_widget(Paragraph::new(lines).block(block), area);
}

fn render_panel(
    frame: &mut Frame,
    theme: &Theme,
    m: &ModelSnapshot,
    countdown: Option<Duration>,
    index: usize,
    area: Rect,
) {
    let (symbol, signal) = theme.signal(m.breaker.state);
    let key = if index < 8 {
        format!(" F{} ", index + 2)
    } else {
        String::new()
    };
    let block = Block::default()
        .borders(Borders::ALL)
        .border_style(if m.breaker.state == BreakerState::Closed {
            theme.dim
        } else {
            signal
        })
        .title(Line::from(vec![
            Span::styled(format!(" {symbol} "), signal),
            Span::styled(format!("{} ", m.name), theme.model),
        ]))
        .title(Line::styled(key, theme.dim).right_aligned());
    let inner = block.inner(area);
    frame.render_widget(block, area);

    let [state, spark, rest] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Length(1),
        Constraint::Min(0),
    ])
    .areas(inner);
    frame.render_widget(Paragraph::new(breaker_line(theme, m, countdown)), state);

    let width = spark.width as usize;
    let data = &m.recent_ms[m.recent_ms.len().saturating_sub(width)..];
    if data.is_empty() {
        frame.render_widget(
            Paragraph::new(Line::styled("no latencies yet", theme.dim)),
            spark,
        );
    } else {
        frame.render_widget(
            Sparkline::default().data(data).style(theme.sparkline),
            spark,
        );
    }

    let mut lines = vec![
        percentiles("total", &m.latency_recent),
        percentiles("ttft ", &m.ttft_recent),
        Line::raw(format!(
            "ok {} of {} · {}",
            rate(m.counters.success_rate()),
            m.counters.requests,
            m.tokens_per_sec
                .map_or("- tok/s".to_string(), |t| format!("{t:.0} tok/s"))
        )),
        bulkhead_line(theme, m),
    ];
    match health_text(m) {
        Some((text, bad)) => lines.push(Line::styled(
            text,
            if bad { theme.error } else { theme.info },
        )),
        None => lines.push(Line::styled("no health check yet", theme.dim)),
    }
    frame.render_widget(Paragraph::new(lines), rest);
}

/// `● closed`, `◐ half-open: probing`, `○ open · probe in 7 s · 2 failures`.
fn breaker_line(theme: &Theme, m: &ModelSnapshot, countdown: Option<Duration>) -> Line<'static> {
    let (symbol, style) = theme.signal(m.breaker.state);
    let text = match m.breaker.state {
        BreakerState::Closed if m.breaker.consecutive_failures > 0 => {
            format!(
                "{symbol} closed · {} failed in a row",
                m.breaker.consecutive_failures
            )
        }
        BreakerState::Closed => format!("{symbol} closed"),
        BreakerState::HalfOpen => format!("{symbol} half-open · probing"),
        BreakerState::Open => {
            let mut text = format!("{symbol} {}", open_text(countdown).trim_end());
            match m.breaker.consecutive_failures {
                0 => {}
                1 => text.push_str(" · 1 failure"),
                n => text.push_str(&format!(" · {n} failures")),
            }
            text
        }
    };
    Line::styled(text, style)
}

fn open_text(countdown: Option<Duration>) -> String {
    match countdown {
        Some(d) if !d.is_zero() => format!("open · probe in {} ", fmt_secs(d)),
        Some(_) => "open · probe due ".to_string(),
        None => "open ".to_string(),
    }
}

fn percentiles(label: &str, p: &Percentiles) -> Line<'static> {
    Line::raw(format!(
        "{label} p50 {} p95 {} p99 {}",
        short(p.p50),
        short(p.p95),
        short(p.p99)
    ))
}

/// `▮▮▯ 2/3  queue 0/16`.
fn bulkhead_line(theme: &Theme, m: &ModelSnapshot) -> Line<'static> {
    let cells = m.max_in_flight.min(12);
    let full = m.in_flight.min(cells);
    let style = if m.in_flight >= m.max_in_flight && m.max_in_flight > 0 {
        theme.gauge_full
    } else {
        theme.info
    };
    Line::from(vec![
        Span::styled("▮".repeat(full), style),
        Span::styled("▯".repeat(cells - full), theme.dim),
        Span::raw(format!(
            " {}/{}  queue {}/{}",
            m.in_flight, m.max_in_flight, m.queued, m.queue_capacity
        )),
    ])
}

/// The health line and whether it is bad news; `None` before any check.
fn health_text(m: &ModelSnapshot) -> Option<(String, bool)> {
    let busy = if m.counters.busy > 0 {
        format!(" · busy ×{}", m.counters.busy)
    } else {
        String::new()
    };
    let text = match m.health.as_ref()? {
        Health::Ready {
            loaded: Some(true), ..
        } => (format!("ready · loaded{busy}"), false),
        Health::Ready {
            loaded: Some(false),
            ..
        } => (format!("ready · cold (first answer loads it){busy}"), false),
        Health::Ready { loaded: None, .. } => (format!("ready{busy}"), false),
        Health::NotInstalled { fix } => (format!("✕ not installed · {fix}"), true),
        Health::Unreachable { reason } => (format!("✕ unreachable · {reason}"), true),
    };
    Some(text)
}
