//! Keys are data: one table drives key handling, the footer and the help overlay.
//!
//! Global keys are looked up here before the input box sees a key, because the text area's
//! own defaults bind Ctrl+C, Ctrl+U, Ctrl+R and others.
//!
//! Breaker keys: F2, F3, … trip model 1, 2, … (F1 is help); Shift+F2, … or Ctrl+F2, …
//! reset them. Alternates that need no function keys: Alt+1…9 trip, Alt+Shift+1…9 reset
//! (read as Alt+`!`, Alt+`@`, … as a US layout types them). tmux sends them all
//! (`send-keys F2`, `S-F2`, `C-F2`, `M-1`, `M-@`).
//!
//! Limitation: xterm-style terminals encode Shift+F3 and Ctrl+F3 exactly as a cursor
//! position report, so those two cannot be told apart and never arrive; model 2 is reset
//! with Alt+Shift+2 or `/reset 2` there. Terminals with the kitty keyboard protocol send
//! them unambiguously.

use crossterm::event::{KeyCode, KeyEvent, KeyEventKind, KeyModifiers};

/// What Shift turns the digits 1..9 into on a US layout, for Alt+Shift+digit.
const SHIFTED_DIGITS: [char; 9] = ['!', '@', '#', '$', '%', '^', '&', '*', '('];

/// Function keys F2..F9 carry the breaker keys, so at most eight models get them.
const MAX_F_KEY_MODELS: usize = 8;

/// The footer's order when it cannot show every key.
const FOOTER_ORDER: &[&str] = &[
    "close", "send", "cancel", "trip", "help", "quit", "new line", "retry", "scroll",
];

/// What a key does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    Send,
    NewLine,
    /// Cancel the streaming answer (drops the reply; the server stops generating).
    Cancel,
    /// Ctrl+C: cancel the streaming answer if there is one, else quit.
    CancelOrQuit,
    Quit,
    Retry,
    ClearChat,
    ToggleHelp,
    CloseHelp,
    HelpUp,
    HelpDown,
    ScrollUp,
    ScrollDown,
    PageUp,
    PageDown,
    ScrollTop,
    ScrollBottom,
    /// Trip the breaker of model N (0-based).
    Trip(usize),
    /// Reset the breaker of model N (0-based).
    Reset(usize),
}

/// When a binding applies.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum When {
    Always,
    /// Only while an answer streams.
    Streaming,
    /// Only while the input box is empty (so `?` can still be typed in a prompt).
    InputEmpty,
    /// Only while the help overlay is open.
    Help,
}

/// One key combination.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Chord {
    pub code: KeyCode,
    pub mods: KeyModifiers,
}

impl Chord {
    const fn new(code: KeyCode, mods: KeyModifiers) -> Chord {
        Chord { code, mods }
    }

    /// Whether a key press is this chord. Shift is ignored for characters, because
    /// terminals differ in whether `?` arrives with Shift.
    fn matches(&self, key: &KeyEvent) -> bool {
        let mut mods = key.modifiers;
        if matches!(key.code, KeyCode::Char(_)) {
            mods.remove(KeyModifiers::SHIFT);
        }
        let code = match key.code {
            KeyCode::Char(c) => KeyCode::Char(c.to_ascii_lowercase()),
            other => other,
        };
        code == self.code && mods == self.mods
    }
}

/// A row of the key table.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Binding {
    pub chords: Vec<Chord>,
    pub action: Action,
    pub when: When,
    /// How the keys read in the help overlay: `Alt+Enter / Shift+Enter`.
    pub keys: String,
    /// What they do, in the help overlay.
    pub help: String,
    /// A short label for the footer; `None` keeps it out of the footer.
    pub footer: Option<(String, String)>,
}

/// The whole key table, for a given set of models.
#[derive(Clone, Debug)]
pub struct KeyMap {
    bindings: Vec<Binding>,
}

/// What is true now, to choose which bindings apply.
#[derive(Clone, Copy, Debug, Default)]
pub struct Context {
    pub streaming: bool,
    pub input_empty: bool,
    pub help_open: bool,
}

impl KeyMap {
    /// The table for these models, in the engine's order.
    pub fn new(models: &[impl AsRef<str>]) -> KeyMap {
        use KeyCode::*;
        let none = KeyModifiers::NONE;
        let ctrl = KeyModifiers::CONTROL;
        let alt = KeyModifiers::ALT;
        let shift = KeyModifiers::SHIFT;
        let mut b = Vec::new();
        let mut add =
            |chords: Vec<Chord>, action, when, keys: &str, help: &str, footer: Option<&str>| {
                b.push(Binding {
                    chords,
                    action,
                    when,
                    keys: keys.to_string(),
                    help: help.to_string(),
                    footer: footer.map(|f| {
                        (
                            keys.split(" / ").next().unwrap_or(keys).to_string(),
                            f.to_string(),
                        )
                    }),
                });
            };
        let c = Chord::new;

        add(
            vec![
                c(Esc, none),
                c(F(1), none),
                c(Char('?'), none),
                c(Char('q'), none),
            ],
            Action::CloseHelp,
            When::Help,
            "Esc / F1 / ? / q",
            "close this help",
            Some("close"),
        );
        add(
            vec![c(Down, none), c(PageDown, none)],
            Action::HelpDown,
            When::Help,
            "Up/Down / PgUp/PgDn",
            "scroll this help",
            Some("scroll"),
        );
        add(
            vec![c(Up, none), c(PageUp, none)],
            Action::HelpUp,
            When::Help,
            "",
            "",
            None,
        );
        add(
            vec![c(Enter, none)],
            Action::Send,
            When::Always,
            "Enter",
            "send the prompt (or run a /command)",
            Some("send"),
        );
        add(
            vec![c(Enter, alt), c(Enter, shift), c(Char('j'), ctrl)],
            Action::NewLine,
            When::Always,
            "Alt+Enter / Shift+Enter / Ctrl+J",
            "new line in the prompt",
            Some("new line"),
        );
        add(
            vec![c(Esc, none)],
            Action::Cancel,
            When::Streaming,
            "Esc",
            "cancel the streaming answer",
            Some("cancel"),
        );
        add(
            vec![c(Char('c'), ctrl)],
            Action::CancelOrQuit,
            When::Always,
            "Ctrl+C",
            "cancel the streaming answer; quit when none streams",
            None,
        );
        add(
            vec![c(Char('q'), ctrl)],
            Action::Quit,
            When::Always,
            "Ctrl+Q",
            "quit",
            Some("quit"),
        );
        add(
            vec![c(Char('r'), ctrl), c(F(5), none)],
            Action::Retry,
            When::Always,
            "Ctrl+R / F5",
            "send the last prompt again",
            Some("retry"),
        );
        add(
            vec![c(Char('l'), ctrl)],
            Action::ClearChat,
            When::Always,
            "Ctrl+L",
            "clear the chat",
            None,
        );
        add(
            vec![c(F(1), none)],
            Action::ToggleHelp,
            When::Always,
            "F1",
            "all keys and commands",
            Some("help"),
        );
        add(
            vec![c(Char('?'), none)],
            Action::ToggleHelp,
            When::InputEmpty,
            "?",
            "help (when the input is empty)",
            None,
        );
        add(
            vec![c(PageUp, none)],
            Action::PageUp,
            When::Always,
            "PgUp / PgDn",
            "scroll the chat a page",
            Some("scroll"),
        );
        add(
            vec![c(PageDown, none)],
            Action::PageDown,
            When::Always,
            "PgDn",
            "",
            None,
        );
        add(
            vec![c(Up, shift), c(Up, ctrl)],
            Action::ScrollUp,
            When::Always,
            "Shift+Up/Down / Ctrl+Up/Down / wheel",
            "scroll the chat a line",
            None,
        );
        add(
            vec![c(Down, shift), c(Down, ctrl)],
            Action::ScrollDown,
            When::Always,
            "",
            "",
            None,
        );
        add(
            vec![c(Home, ctrl)],
            Action::ScrollTop,
            When::Always,
            "Ctrl+Home / Ctrl+End",
            "top of the chat / back to the bottom (follow the answer)",
            None,
        );
        add(
            vec![c(End, ctrl)],
            Action::ScrollBottom,
            When::Always,
            "",
            "",
            None,
        );

        for (i, name) in models.iter().enumerate().take(9) {
            let name = name.as_ref();
            let digit = char::from(b'1' + i as u8);
            let mut trip = vec![c(Char(digit), alt)];
            // `i < 9` (the loop takes nine), so the index is in bounds.
            let mut reset = vec![c(Char(SHIFTED_DIGITS[i]), alt)];
            let (trip_keys, reset_keys) = if i < MAX_F_KEY_MODELS {
                let f = F(i as u8 + 2);
                trip.insert(0, c(f, none));
                reset.splice(0..0, [c(f, shift), c(f, ctrl)]);
                (
                    format!("F{} / Alt+{digit}", i + 2),
                    format!("Shift+F{0} / Ctrl+F{0} / Alt+Shift+{digit}", i + 2),
                )
            } else {
                (format!("Alt+{digit}"), format!("Alt+Shift+{digit}"))
            };
            let footer = (i == 0).then(|| trip_footer(models.len()));
            b.push(Binding {
                chords: trip,
                action: Action::Trip(i),
                when: When::Always,
                keys: trip_keys,
                help: format!("trip {name}'s breaker (open it now)"),
                footer,
            });
            b.push(Binding {
                chords: reset,
                action: Action::Reset(i),
                when: When::Always,
                keys: reset_keys,
                help: format!("reset {name}'s breaker (close it, clear its backoff)"),
                footer: None,
            });
        }
        KeyMap { bindings: b }
    }

    /// The action a key press triggers now, if any. Key releases never act.
    pub fn action(&self, key: &KeyEvent, ctx: Context) -> Option<Action> {
        if key.kind == KeyEventKind::Release {
            return None;
        }
        self.active(ctx)
            .find(|b| b.chords.iter().any(|c| c.matches(key)))
            .map(|b| b.action)
    }

    /// The bindings that apply now. While the help overlay is open only its keys and the
    /// quit keys apply.
    pub fn active(&self, ctx: Context) -> impl Iterator<Item = &Binding> {
        self.bindings.iter().filter(move |b| match b.when {
            When::Help => ctx.help_open,
            _ if ctx.help_open => matches!(b.action, Action::Quit | Action::CancelOrQuit),
            When::Always => true,
            When::Streaming => ctx.streaming,
            When::InputEmpty => ctx.input_empty,
        })
    }

    /// Footer items (keys, label) for the keys that work now, most useful first.
    pub fn footer(&self, ctx: Context) -> Vec<(String, String)> {
        let mut items: Vec<_> = self.active(ctx).filter_map(|b| b.footer.clone()).collect();
        items.sort_by_key(|(_, label)| {
            FOOTER_ORDER
                .iter()
                .position(|l| l == label)
                .unwrap_or(usize::MAX)
        });
        items
    }

    /// Every binding with a description, for the help overlay.
    pub fn help_rows(&self) -> impl Iterator<Item = (&str, &str)> {
        self.bindings
            .iter()
            .filter(|b| !b.help.is_empty())
            .map(|b| (b.keys.as_str(), b.help.as_str()))
    }
}

fn trip_footer(models: usize) -> (String, String) {
    let last = models.min(MAX_F_KEY_MODELS) + 1;
    let keys = if last > 2 {
        format!("F2‥F{last}")
    } else {
        "F2".to_string()
    };
    (keys, "trip".to_string())
}

#[cfg(test)]
mod tests;
