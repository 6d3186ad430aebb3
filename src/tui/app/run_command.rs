//! Carrying out typed commands.

use std::path::PathBuf;

use time::OffsetDateTime;

use super::{App, Effect, Now};
use crate::config::StrategyKind;
use crate::events::ModelName;
use crate::tui::chat::{Entry, NoticeKind};
use crate::tui::commands::Command;
use crate::tui::metrics_table::metrics_table;

impl App {
    pub(super) fn run_command(&mut self, command: Command, now: Now) -> Vec<Effect> {
        match command {
            Command::Metrics => {
                match &self.board.snapshot {
                    Some(snapshot) => self.chat.push(Entry::Table(metrics_table(snapshot))),
                    None => self.notice(
                        NoticeKind::Info,
                        "No figures yet: the engine has not reported.".into(),
                    ),
                }
                self.chat.follow();
            }
            Command::Exit => return vec![Effect::Quit],
            Command::Help => self.help_open = true,
            Command::Clear => self.chat.clear(),
            Command::Retry => return self.retry(),
            Command::Trip(name) => return self.model_command(&name, Effect::Trip),
            Command::Reset(name) => return self.model_command(&name, Effect::Reset),
            Command::Strategy(name) => return self.strategy_command(name),
            Command::Save(path) => {
                let path = path.unwrap_or_else(|| default_save_path(now.wall));
                return vec![Effect::Save {
                    path,
                    markdown: self.chat.to_markdown(),
                }];
            }
        }
        Vec::new()
    }

    fn model_command(&mut self, name: &str, effect: fn(ModelName) -> Effect) -> Vec<Effect> {
        let by_number = name
            .parse::<usize>()
            .ok()
            .and_then(|n| n.checked_sub(1))
            .and_then(|i| self.models.get(i));
        match by_number.or_else(|| self.models.iter().find(|m| &***m == name)) {
            Some(model) => vec![effect(model.clone())],
            None => {
                let known: Vec<String> = self
                    .models
                    .iter()
                    .enumerate()
                    .map(|(i, m)| format!("{} {m}", i + 1))
                    .collect();
                self.notice(
                    NoticeKind::Error,
                    format!("No model '{name}'. Models: {}", known.join(", ")),
                );
                Vec::new()
            }
        }
    }

    fn strategy_command(&mut self, name: Option<String>) -> Vec<Effect> {
        let valid: Vec<&str> = StrategyKind::ALL.iter().map(|k| k.name()).collect();
        let valid = valid.join(", ");
        match name.as_deref().map(|n| (n, StrategyKind::from_name(n))) {
            Some((_, Some(kind))) => vec![Effect::SetStrategy(kind)],
            Some((n, None)) => {
                self.notice(
                    NoticeKind::Error,
                    format!("No strategy '{n}'. Strategies: {valid}"),
                );
                Vec::new()
            }
            None => {
                let current = self.board.strategy.unwrap_or("unknown");
                self.notice(
                    NoticeKind::Info,
                    format!("Strategy: {current}. Strategies: {valid}"),
                );
                Vec::new()
            }
        }
    }
}

/// `signalbox-chat-20261203-170405.md` in the current directory.
pub fn default_save_path(wall: OffsetDateTime) -> PathBuf {
    let name = format!(
        "signalbox-chat-{:04}{:02}{:02}-{:02}{:02}{:02}.md",
        wall.year(),
        u8::from(wall.month()),
        wall.day(),
        wall.hour(),
        wall.minute(),
        wall.second()
    );
    PathBuf::from(name)
}
