//! Typed commands: `/metrics`, `/trip MODEL`, `/strategy NAME`, … and the original system's
//! bare `metrics` and `exit`.

use std::path::PathBuf;

/// A command typed into the input box.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Command {
    Metrics,
    Exit,
    Help,
    Clear,
    Retry,
    /// A model by name or by its 1-based number on screen.
    Trip(String),
    Reset(String),
    /// `None` asks for the current strategy and the valid names.
    Strategy(Option<String>),
    Save(Option<PathBuf>),
}

/// A line that looks like a command but is not one.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum CommandError {
    #[error("unknown command '/{0}'. Commands: {list}", list = COMMAND_LIST)]
    Unknown(String),
    #[error("/{0} needs a model: /{0} NAME or /{0} NUMBER")]
    MissingModel(&'static str),
}

/// Every command, for messages and the help overlay.
pub const COMMANDS: &[(&str, &str)] = &[
    (
        "/metrics",
        "a metrics table per model into the chat (also: metrics)",
    ),
    ("/trip MODEL", "open a model's breaker now (name or number)"),
    (
        "/reset MODEL",
        "close a model's breaker and clear its backoff",
    ),
    ("/strategy [NAME]", "show or change the routing strategy"),
    ("/save [FILE]", "save the chat as Markdown"),
    ("/retry", "send the last prompt again"),
    ("/clear", "clear the chat"),
    ("/help", "all keys and commands"),
    ("/exit, /quit", "leave (also: exit)"),
];

const COMMAND_LIST: &str = "/metrics, /trip MODEL, /reset MODEL, /strategy [NAME], /save [FILE], /retry, /clear, /help, /exit";

/// Reads a submitted line: `None` when it is a prompt for the models.
pub fn parse(line: &str) -> Option<Result<Command, CommandError>> {
    let line = line.trim();
    match line {
        "metrics" => return Some(Ok(Command::Metrics)),
        "exit" | "quit" => return Some(Ok(Command::Exit)),
        _ => {}
    }
    let rest = line.strip_prefix('/')?;
    // A path such as `/usr/bin is slow?` spans words; only a lone first word is a command.
    let mut words = rest.split_whitespace();
    let name = words.next().unwrap_or("");
    let arg = words.next().map(str::to_string);
    let command = match name {
        "metrics" => Command::Metrics,
        "exit" | "quit" | "q" => Command::Exit,
        "help" | "?" => Command::Help,
        "clear" => Command::Clear,
        "retry" => Command::Retry,
        "trip" | "reset" => {
            let Some(model) = arg else {
                let name = if name == "trip" { "trip" } else { "reset" };
                return Some(Err(CommandError::MissingModel(name)));
            };
            if name == "trip" {
                Command::Trip(model)
            } else {
                Command::Reset(model)
            }
        }
        "strategy" => Command::Strategy(arg),
        "save" => Command::Save(arg.map(PathBuf::from)),
        other => return Some(Err(CommandError::Unknown(other.to_string()))),
    };
    Some(Ok(command))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slash_commands_and_bare_originals_parse() {
        assert_eq!(parse("/metrics"), Some(Ok(Command::Metrics)));
        assert_eq!(parse("  metrics "), Some(Ok(Command::Metrics)));
        assert_eq!(parse("exit"), Some(Ok(Command::Exit)));
        assert_eq!(parse("/quit"), Some(Ok(Command::Exit)));
        assert_eq!(
            parse("/trip gemma3:1b"),
            Some(Ok(Command::Trip("gemma3:1b".into())))
        );
        assert_eq!(parse("/reset 2"), Some(Ok(Command::Reset("2".into()))));
        assert_eq!(parse("/strategy"), Some(Ok(Command::Strategy(None))));
        assert_eq!(
            parse("/strategy round-robin"),
            Some(Ok(Command::Strategy(Some("round-robin".into()))))
        );
        assert_eq!(parse("/save"), Some(Ok(Command::Save(None))));
        assert_eq!(
            parse("/save out.md"),
            Some(Ok(Command::Save(Some("out.md".into()))))
        );
    }

    #[test]
    fn prompts_are_not_commands() {
        assert_eq!(parse("what is a circuit breaker?"), None);
        assert_eq!(parse("exit the loop how?"), None);
        assert_eq!(parse("metrics please"), None);
    }

    #[test]
    fn unknown_command_names_every_valid_one() {
        let err = parse("/frobnicate")
            .and_then(Result::err)
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(err.contains("unknown command '/frobnicate'"), "{err}");
        assert!(
            err.contains("/metrics") && err.contains("/trip MODEL") && err.contains("/exit"),
            "{err}"
        );
    }

    #[test]
    fn trip_without_a_model_says_how_to_use_it() {
        let err = parse("/trip")
            .and_then(Result::err)
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert_eq!(err, "/trip needs a model: /trip NAME or /trip NUMBER");
    }
}
