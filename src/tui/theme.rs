//! Named styles. With colour off (`NO_COLOR`, `--no-color`) every style keeps only its
//! modifiers, and the shapes (● ◐ ○, `│` before code, `✕`, `↻`) still tell states apart.

use ratatui::style::{Color, Modifier, Style};

use crate::engine::BreakerState;

/// The dashboard's styles, built once for colour or no colour.
#[derive(Clone, Copy, Debug)]
pub struct Theme {
    pub color: bool,
    pub title: Style,
    pub dim: Style,
    pub user: Style,
    pub model: Style,
    pub code: Style,
    pub heading: Style,
    pub info: Style,
    pub warn: Style,
    pub error: Style,
    pub key: Style,
    pub sparkline: Style,
    pub gauge_full: Style,
    pub banner: Style,
    pub focus_border: Style,
}

impl Theme {
    pub fn new(no_color: bool) -> Theme {
        let bold = Style::new().add_modifier(Modifier::BOLD);
        let dim = Style::new().add_modifier(Modifier::DIM);
        if no_color {
            return Theme {
                color: false,
                title: bold,
                dim,
                user: bold,
                model: bold,
                code: Style::new(),
                heading: bold,
                info: Style::new(),
                warn: bold,
                error: bold,
                key: Style::new().add_modifier(Modifier::REVERSED),
                sparkline: Style::new(),
                gauge_full: Style::new(),
                banner: Style::new().add_modifier(Modifier::REVERSED),
                focus_border: bold,
            };
        }
        Theme {
            color: true,
            title: bold.fg(Color::Cyan),
            dim: Style::new().fg(Color::DarkGray),
            user: bold.fg(Color::LightBlue),
            model: bold.fg(Color::Magenta),
            code: Style::new().fg(Color::LightYellow),
            heading: bold.fg(Color::White),
            info: Style::new().fg(Color::Gray),
            warn: Style::new().fg(Color::Yellow),
            error: Style::new().fg(Color::LightRed),
            key: bold.fg(Color::Black).bg(Color::Gray),
            sparkline: Style::new().fg(Color::Cyan),
            gauge_full: Style::new().fg(Color::Yellow),
            banner: bold.fg(Color::Black).bg(Color::Yellow),
            focus_border: Style::new().fg(Color::Cyan),
        }
    }

    /// Keys and command names in the help overlay.
    pub fn key_text(&self) -> Style {
        self.title
    }

    /// The breaker's signal: a shape that reads without colour, and its colour.
    pub fn signal(&self, state: BreakerState) -> (&'static str, Style) {
        let (symbol, color) = match state {
            BreakerState::Closed => ("●", Color::Green),
            BreakerState::HalfOpen => ("◐", Color::Yellow),
            BreakerState::Open => ("○", Color::Red),
        };
        let style = Style::new().add_modifier(Modifier::BOLD);
        (symbol, if self.color { style.fg(color) } else { style })
    }
}
