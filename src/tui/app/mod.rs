//! The dashboard's state and how it changes: `update` takes one message (a key, a reply
//! event, a bus event, a tick) and returns the effects for the loop to carry out. Nothing
//! here draws or does I/O, so every behaviour is tested by feeding messages.

use std::path::PathBuf;
use std::time::Instant;

use crossterm::event::{KeyEvent, MouseEvent, MouseEventKind};
use ratatui::style::Style;
use ratatui::widgets::{Block, Borders};
use ratatui_textarea::{TextArea, WrapMode};
use time::OffsetDateTime;

mod run_command;

pub use run_command::default_save_path;

use super::board::Board;
use super::chat::{AnswerEntry, AnswerStatus, Chat, Entry, NoticeKind};
use super::commands;
use super::keys::{Action, Context, KeyMap};
use super::theme::Theme;
use crate::config::StrategyKind;
use crate::engine::{ReplyEvent, Request};
use crate::events::{Event, ModelName};

/// The moment a message is handled: a monotonic instant for countdowns and the wall clock
/// for the times people read. Injected so tests are deterministic.
#[derive(Clone, Copy, Debug)]
pub struct Now {
    pub at: Instant,
    pub wall: OffsetDateTime,
}

impl Now {
    pub fn system() -> Now {
        Now {
            at: Instant::now(),
            wall: OffsetDateTime::now_utc(),
        }
    }
}

/// Something that happened.
#[derive(Debug)]
pub enum Msg {
    Key(KeyEvent),
    Mouse(MouseEvent),
    Paste(String),
    /// An event of the streaming answer's reply.
    Reply(ReplyEvent),
    /// The reply stream ended.
    ReplyEnded,
    Bus(Event),
    /// The bus dropped this many events before we read them.
    Lagged(u64),
    Tick,
    Resize,
}

/// Something for the loop to do.
#[derive(Debug)]
pub enum Effect {
    Submit(Request),
    /// Drop the streaming reply; the engine tells the server to stop.
    Cancel,
    Trip(ModelName),
    Reset(ModelName),
    SetStrategy(StrategyKind),
    /// Ask the engine for a whole snapshot (after missed events).
    RefreshSnapshot,
    Save {
        path: PathBuf,
        markdown: String,
    },
    Quit,
}

/// Shown in the help overlay and the banner line.
#[derive(Clone, Debug, Default)]
pub struct AppOptions {
    pub banner: Option<String>,
    pub log_path: Option<PathBuf>,
    pub no_color: bool,
}

/// Everything the dashboard shows.
pub struct App {
    pub chat: Chat,
    pub input: TextArea<'static>,
    pub board: Board,
    pub keys: KeyMap,
    /// Configured models in the engine's order: model N is tripped by F(N+1).
    pub models: Vec<ModelName>,
    pub options: AppOptions,
    pub theme: Theme,
    pub help_open: bool,
    /// Rows the help overlay is scrolled by, for terminals too short to show it whole.
    pub help_scroll: u16,
    /// An answer is streaming.
    pub streaming: bool,
    last_prompt: Option<String>,
}

impl App {
    pub fn new(models: Vec<ModelName>, options: AppOptions) -> App {
        let theme = Theme::new(options.no_color);
        App {
            chat: Chat::default(),
            input: new_input(&theme),
            board: Board::default(),
            keys: KeyMap::new(&models),
            models,
            theme,
            options,
            help_open: false,
            help_scroll: 0,
            streaming: false,
            last_prompt: None,
        }
    }

    /// What is true now, for the key table.
    pub fn context(&self) -> Context {
        Context {
            streaming: self.streaming,
            input_empty: self.input_text().is_empty(),
            help_open: self.help_open,
        }
    }

    pub fn input_text(&self) -> String {
        self.input.lines().join("\n")
    }

    /// Whether the clock must tick once a second: a countdown is on screen.
    pub fn needs_tick(&self, now: Instant) -> bool {
        self.board.counting_down(now)
    }

    /// Handles one message; returns what the loop must do.
    pub fn update(&mut self, msg: Msg, now: Now) -> Vec<Effect> {
        match msg {
            Msg::Key(key) => self.on_key(key, now),
            Msg::Mouse(mouse) => {
                match mouse.kind {
                    MouseEventKind::ScrollUp => self.chat.scroll(-3),
                    MouseEventKind::ScrollDown => self.chat.scroll(3),
                    _ => {}
                }
                Vec::new()
            }
            Msg::Paste(text) => {
                self.input.insert_str(text.replace("\r\n", "\n"));
                Vec::new()
            }
            Msg::Reply(event) => self.on_reply(event),
            Msg::ReplyEnded => {
                if self.streaming {
                    self.fail("the reply ended without an answer".to_string());
                }
                Vec::new()
            }
            Msg::Bus(event) => {
                self.board.apply_event(&event, now.at, now.wall);
                Vec::new()
            }
            Msg::Lagged(missed) => {
                self.board.mark_stale(missed, now.wall);
                vec![Effect::RefreshSnapshot]
            }
            Msg::Tick | Msg::Resize => Vec::new(),
        }
    }

    fn on_key(&mut self, key: KeyEvent, now: Now) -> Vec<Effect> {
        let Some(action) = self.keys.action(&key, self.context()) else {
            if !self.help_open {
                self.input.input(key);
            }
            return Vec::new();
        };
        match action {
            Action::Send => return self.send(now),
            Action::NewLine => self.input.insert_newline(),
            Action::Cancel => return self.cancel(),
            Action::CancelOrQuit if self.streaming => return self.cancel(),
            Action::CancelOrQuit | Action::Quit => return vec![Effect::Quit],
            Action::Retry => return self.retry(),
            Action::ClearChat => self.chat.clear(),
            Action::ToggleHelp => {
                self.help_open = !self.help_open;
                self.help_scroll = 0;
            }
            Action::CloseHelp => self.help_open = false,
            Action::HelpUp => self.help_scroll = self.help_scroll.saturating_sub(3),
            Action::HelpDown => self.help_scroll = self.help_scroll.saturating_add(3).min(200),
            Action::ScrollUp => self.chat.scroll(-1),
            Action::ScrollDown => self.chat.scroll(1),
            Action::PageUp => self.chat.scroll(-self.chat.page()),
            Action::PageDown => self.chat.scroll(self.chat.page()),
            Action::ScrollTop => self.chat.scroll_to_top(),
            Action::ScrollBottom => self.chat.follow(),
            Action::Trip(i) => return self.breaker_effect(i, Effect::Trip),
            Action::Reset(i) => return self.breaker_effect(i, Effect::Reset),
        }
        Vec::new()
    }

    fn send(&mut self, now: Now) -> Vec<Effect> {
        let text = self.input_text();
        if text.trim().is_empty() {
            return Vec::new();
        }
        match commands::parse(&text) {
            Some(Ok(command)) => {
                self.input = new_input(&self.theme);
                self.run_command(command, now)
            }
            Some(Err(error)) => {
                self.notice(NoticeKind::Error, error.to_string());
                Vec::new()
            }
            None if self.streaming => {
                self.notice(
                    NoticeKind::Warn,
                    "An answer is still streaming; Esc cancels it.".into(),
                );
                Vec::new()
            }
            None => {
                self.input = new_input(&self.theme);
                self.submit(text)
            }
        }
    }

    fn submit(&mut self, prompt: String) -> Vec<Effect> {
        self.chat.push(Entry::User(prompt.clone()));
        self.chat.push(Entry::Answer(AnswerEntry {
            model: None,
            text: String::new(),
            status: AnswerStatus::Waiting,
            fallbacks: Vec::new(),
            retries: Vec::new(),
            reason: None,
        }));
        self.chat.follow();
        self.streaming = true;
        self.last_prompt = Some(prompt);
        vec![Effect::Submit(Request::chat(self.history_for_request()))]
    }

    /// The conversation to send: earlier prompts and finished answers, then the new prompt.
    fn history_for_request(&self) -> Vec<crate::backend::Message> {
        self.chat.history()
    }

    fn cancel(&mut self) -> Vec<Effect> {
        if !self.streaming {
            return Vec::new();
        }
        self.streaming = false;
        if let Some(answer) = self.chat.open_answer() {
            answer.status = AnswerStatus::Cancelled;
        }
        vec![Effect::Cancel]
    }

    fn retry(&mut self) -> Vec<Effect> {
        if self.streaming {
            self.notice(
                NoticeKind::Warn,
                "An answer is still streaming; Esc cancels it first.".into(),
            );
            return Vec::new();
        }
        match self.last_prompt.clone() {
            Some(prompt) => self.submit(prompt),
            None => {
                self.notice(NoticeKind::Info, "Nothing to retry yet.".into());
                Vec::new()
            }
        }
    }

    fn on_reply(&mut self, event: ReplyEvent) -> Vec<Effect> {
        if !self.streaming {
            return Vec::new();
        }
        match event {
            ReplyEvent::Failed(all) => self.fail(all.to_string()),
            ReplyEvent::Done(answer) => {
                self.streaming = false;
                if let Some(entry) = self.chat.open_answer() {
                    entry.model = Some(answer.model.clone());
                    entry.text = answer.text;
                    entry.fallbacks = answer
                        .fallbacks
                        .iter()
                        .map(|(m, e)| (m.clone(), e.to_string()))
                        .collect();
                    entry.status = AnswerStatus::Done {
                        total: answer.total,
                        first_token: answer.time_to_first_token,
                        tokens_per_sec: answer.tokens_per_sec,
                    };
                }
            }
            event => {
                let Some(entry) = self.chat.open_answer() else {
                    return Vec::new();
                };
                match event {
                    ReplyEvent::Routed { model, reason, .. } => {
                        entry.model = Some(model);
                        entry.reason = Some(reason);
                        entry.status = AnswerStatus::Streaming;
                    }
                    ReplyEvent::Token(token) => {
                        entry.text.push_str(&token);
                        entry.status = AnswerStatus::Streaming;
                    }
                    ReplyEvent::Retrying {
                        failed,
                        error,
                        next,
                    } => {
                        let discarded = if entry.text.is_empty() {
                            ""
                        } else {
                            "; its partial answer was discarded"
                        };
                        entry.retries.push(format!(
                            "{failed} failed ({error}){discarded}; trying {next}"
                        ));
                        entry.text.clear();
                        entry.model = Some(next);
                        entry.reason = Some("fallback".to_string());
                    }
                    ReplyEvent::Done(_) | ReplyEvent::Failed(_) => {}
                }
            }
        }
        Vec::new()
    }

    /// Every model failed: say why, and put the prompt back so nothing typed is lost.
    fn fail(&mut self, why: String) {
        self.streaming = false;
        if let Some(entry) = self.chat.open_answer() {
            entry.status = AnswerStatus::Failed(why);
        }
        let Some(prompt) = self.last_prompt.clone() else {
            return;
        };
        let typed = self.input_text();
        let restored = if typed.trim().is_empty() {
            prompt
        } else {
            format!("{prompt}\n{typed}")
        };
        self.input = new_input(&self.theme);
        self.input.insert_str(restored);
    }

    fn breaker_effect(&mut self, index: usize, effect: fn(ModelName) -> Effect) -> Vec<Effect> {
        match self.models.get(index) {
            Some(model) => vec![effect(model.clone())],
            None => Vec::new(),
        }
    }

    /// Adds a line to the chat and keeps it in view.
    pub fn notice(&mut self, kind: NoticeKind, text: String) {
        self.chat.push(Entry::Notice(kind, text));
        self.chat.follow();
    }

    /// Reports what came of an effect the loop carried out.
    pub fn effect_result(&mut self, result: Result<String, String>) {
        match result {
            Ok(text) => self.notice(NoticeKind::Info, text),
            Err(text) => self.notice(NoticeKind::Error, text),
        }
    }
}

fn new_input(theme: &Theme) -> TextArea<'static> {
    let mut input = TextArea::default();
    input.set_block(
        Block::default()
            .borders(Borders::ALL)
            .border_style(theme.focus_border)
            .title(" prompt "),
    );
    input.set_cursor_line_style(Style::new());
    input.set_wrap_mode(WrapMode::WordOrGlyph);
    input.set_placeholder_text("Ask anything · Enter sends · Alt+Enter new line · /help");
    input.set_placeholder_style(theme.dim);
    input
}
