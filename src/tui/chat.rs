//! The conversation: what was asked, what each model answered and how, notices, and the
//! scroll position. Each entry caches its screen lines for the last width, so a frame with
//! hundreds of messages lays out only the one that changed.

use std::time::Duration;

use ratatui::style::Style;
use ratatui::text::{Line, Span};

use super::text::{markdown_lines, plain_lines};
use super::theme::Theme;
use crate::backend::Message;
use crate::events::ModelName;

/// How an answer stands.
#[derive(Clone, Debug, PartialEq)]
pub enum AnswerStatus {
    /// Submitted; no model has it yet.
    Waiting,
    Streaming,
    Done {
        total: Duration,
        first_token: Option<Duration>,
        tokens_per_sec: Option<f64>,
    },
    Cancelled,
    /// Every model failed; the reasons, one per model.
    Failed(String),
}

/// One answer, as it grows.
#[derive(Clone, Debug, PartialEq)]
pub struct AnswerEntry {
    pub model: Option<ModelName>,
    pub text: String,
    pub status: AnswerStatus,
    /// Models that failed before the one that answered, with why.
    pub fallbacks: Vec<(ModelName, String)>,
    /// Attempts whose partial text was discarded.
    pub retries: Vec<String>,
    /// Why the router chose the model now answering.
    pub reason: Option<String>,
}

/// How a notice reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NoticeKind {
    Info,
    Warn,
    Error,
}

/// One item of the conversation.
#[derive(Clone, Debug, PartialEq)]
pub enum Entry {
    User(String),
    Answer(AnswerEntry),
    Notice(NoticeKind, String),
    /// Preformatted text (the metrics table): never wrapped.
    Table(String),
}

struct Cached {
    width: u16,
    lines: Vec<Line<'static>>,
}

/// The conversation and its scroll position.
pub struct Chat {
    entries: Vec<Entry>,
    cache: Vec<Option<Cached>>,
    /// First visible row; `None` follows the bottom.
    top: Option<usize>,
    /// Rows and height seen by the last frame, for scrolling by keys between frames.
    last_total: usize,
    last_height: usize,
}

impl Default for Chat {
    fn default() -> Self {
        Chat {
            entries: Vec::new(),
            cache: Vec::new(),
            top: None,
            last_total: 0,
            last_height: 1,
        }
    }
}

impl Chat {
    pub fn entries(&self) -> &[Entry] {
        &self.entries
    }

    pub fn push(&mut self, entry: Entry) {
        self.entries.push(entry);
        self.cache.push(None);
    }

    pub fn clear(&mut self) {
        *self = Chat::default();
    }

    /// The answer being written, if the last one is still open.
    pub fn open_answer(&mut self) -> Option<&mut AnswerEntry> {
        let index = self
            .entries
            .iter()
            .rposition(|e| matches!(e, Entry::Answer(_)))?;
        self.cache[index] = None;
        match &mut self.entries[index] {
            Entry::Answer(a)
                if matches!(a.status, AnswerStatus::Waiting | AnswerStatus::Streaming) =>
            {
                Some(a)
            }
            _ => None,
        }
    }

    /// The conversation so far as the models see it: each prompt with its finished answer,
    /// and the prompt being answered now. Prompts whose answer failed or was cancelled are
    /// left out, so a retried prompt is not sent twice.
    pub fn history(&self) -> Vec<Message> {
        let mut messages = Vec::new();
        let mut prompt: Option<&str> = None;
        for entry in &self.entries {
            match entry {
                Entry::User(text) => prompt = Some(text),
                Entry::Answer(a) => {
                    let Some(asked) = prompt.take() else { continue };
                    match &a.status {
                        AnswerStatus::Done { .. } => {
                            messages.push(Message::user(asked));
                            messages.push(Message::assistant(a.text.clone()));
                        }
                        AnswerStatus::Waiting | AnswerStatus::Streaming => {
                            messages.push(Message::user(asked));
                        }
                        AnswerStatus::Cancelled | AnswerStatus::Failed(_) => {}
                    }
                }
                Entry::Notice(..) | Entry::Table(_) => {}
            }
        }
        messages
    }

    pub fn following(&self) -> bool {
        self.top.is_none()
    }

    /// Scrolls by `rows` (negative is up). Reaching the bottom resumes following.
    pub fn scroll(&mut self, rows: isize) {
        let bottom = self.last_total.saturating_sub(self.last_height);
        let top = self.top.unwrap_or(bottom) as isize + rows;
        let top = top.clamp(0, bottom as isize) as usize;
        self.top = (top < bottom).then_some(top);
    }

    pub fn page(&self) -> isize {
        self.last_height.saturating_sub(2).max(1) as isize
    }

    pub fn scroll_to_top(&mut self) {
        self.top = (self.last_total > self.last_height).then_some(0);
    }

    pub fn follow(&mut self) {
        self.top = None;
    }

    /// The rows visible in a `width`×`height` view, laying out only entries whose text or
    /// width changed since the last frame.
    pub fn visible(&mut self, width: u16, height: u16, theme: &Theme) -> Vec<Line<'static>> {
        let mut total = 0;
        for (entry, slot) in self.entries.iter().zip(self.cache.iter_mut()) {
            if slot.as_ref().is_none_or(|c| c.width != width) {
                let lines = entry_lines(entry, width as usize, theme);
                *slot = Some(Cached { width, lines });
            }
            total += slot.as_ref().map_or(0, |c| c.lines.len());
        }
        let height = height as usize;
        self.last_total = total;
        self.last_height = height.max(1);
        let bottom = total.saturating_sub(height);
        let top = self.top.map_or(bottom, |t| t.min(bottom));
        if self.top.is_some() && top >= bottom {
            self.top = None;
        }
        self.cache
            .iter()
            .flatten()
            .flat_map(|c| c.lines.iter())
            .skip(top)
            .take(height)
            .cloned()
            .collect()
    }

    /// Rows above the view, for the scroll hint in the title.
    pub fn rows_below(&self) -> usize {
        let bottom = self.last_total.saturating_sub(self.last_height);
        self.top.map_or(0, |t| bottom.saturating_sub(t))
    }

    /// The chat as Markdown, for `/save`.
    pub fn to_markdown(&self) -> String {
        let mut out = String::from("# signalbox chat\n\n");
        for entry in &self.entries {
            match entry {
                Entry::User(text) => out.push_str(&format!("## You\n\n{text}\n\n")),
                Entry::Answer(a) => {
                    out.push_str(&format!("## {}\n\n", answer_header(a)));
                    out.push_str(&a.text);
                    out.push_str("\n\n");
                    for note in answer_notes(a) {
                        out.push_str(&format!("> {note}\n"));
                    }
                    out.push('\n');
                }
                Entry::Notice(_, text) => out.push_str(&format!("> {text}\n\n")),
                Entry::Table(text) => out.push_str(&format!("```\n{text}\n```\n\n")),
            }
        }
        out
    }
}

fn ms(d: Duration) -> String {
    if d >= Duration::from_secs(10) {
        format!("{:.0} s", d.as_secs_f64())
    } else if d >= Duration::from_secs(1) {
        format!("{:.1} s", d.as_secs_f64())
    } else {
        format!("{} ms", d.as_millis())
    }
}

/// The line that labels an answer: its model and figures.
fn answer_header(a: &AnswerEntry) -> String {
    let model = a.model.as_deref().unwrap_or("…");
    match &a.status {
        AnswerStatus::Waiting => "waiting for a model…".to_string(),
        AnswerStatus::Streaming => match &a.reason {
            Some(reason) => format!("{model} · streaming… · {reason}"),
            None => format!("{model} · streaming…"),
        },
        AnswerStatus::Done {
            total,
            first_token,
            tokens_per_sec,
        } => {
            let mut s = format!("{model} · {}", ms(*total));
            if let Some(t) = first_token {
                s.push_str(&format!(" · first token {}", ms(*t)));
            }
            if let Some(tps) = tokens_per_sec {
                s.push_str(&format!(" · {tps:.0} tok/s"));
            }
            s
        }
        AnswerStatus::Cancelled => format!("{model} · cancelled"),
        AnswerStatus::Failed(_) => "no answer".to_string(),
    }
}

/// Notes under an answer: retries, fallbacks, cancel, failure.
fn answer_notes(a: &AnswerEntry) -> Vec<String> {
    let mut notes: Vec<String> = a.retries.iter().map(|r| format!("↻ {r}")).collect();
    if !a.fallbacks.is_empty() && matches!(a.status, AnswerStatus::Done { .. }) {
        let failed: Vec<String> = a
            .fallbacks
            .iter()
            .map(|(m, why)| format!("{m} ({why})"))
            .collect();
        notes.push(format!("↪ by fallback: {} failed first", failed.join(", ")));
    }
    match &a.status {
        AnswerStatus::Cancelled => notes.push("✕ cancelled; the server was told to stop".into()),
        AnswerStatus::Failed(why) => {
            notes.push(format!("✕ every model failed: {why}"));
            notes.push(
                "Your prompt is back in the input box: edit it or press Enter to retry.".into(),
            );
        }
        _ => {}
    }
    notes
}

fn entry_lines(entry: &Entry, width: usize, theme: &Theme) -> Vec<Line<'static>> {
    let mut lines = Vec::new();
    match entry {
        Entry::User(text) => {
            lines.push(Line::from(Span::styled("› you", theme.user)));
            lines.extend(plain_lines(text, width, "  ", Style::new()));
        }
        Entry::Answer(a) => {
            let header = format!("‹ {}", answer_header(a));
            lines.extend(plain_lines(&header, width, "", theme.model));
            if !a.text.is_empty() {
                lines.extend(markdown_lines(&a.text, width, "  ", theme));
            }
            for note in answer_notes(a) {
                let style = if note.starts_with('✕') {
                    theme.error
                } else {
                    theme.warn
                };
                lines.extend(plain_lines(&note, width, "  ", style));
            }
        }
        Entry::Notice(kind, text) => {
            let style = match kind {
                NoticeKind::Info => theme.info,
                NoticeKind::Warn => theme.warn,
                NoticeKind::Error => theme.error,
            };
            lines.extend(plain_lines(text, width, "· ", style));
        }
        Entry::Table(text) => {
            lines.extend(
                text.lines()
                    .map(|l| Line::from(Span::styled(l.to_string(), theme.code))),
            );
        }
    }
    lines.push(Line::default());
    lines
}
