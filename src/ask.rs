//! `signalbox ask`: one routed answer, for scripts and quick checks.
//!
//! The answer goes to stdout; which model answered, fallbacks, time to first token and
//! tokens per second go to stderr. The exit status is non-zero when every model failed,
//! and stderr then says why for each one.

use std::io::{IsTerminal, Write};
use std::process::ExitCode;

use futures_util::StreamExt;
use serde_json::json;

use crate::backend::Message;
use crate::engine::{Answer, AttemptError, Engine, Origin, ReplyEvent, Request, Target};
use crate::events::ModelName;

/// How `ask` prints.
#[derive(Clone, Debug, Default)]
pub struct AskOptions {
    /// Send to this model only (with fallback to the others when `fallback` is set).
    pub model: Option<String>,
    pub fallback: bool,
    /// A system message sent before the question.
    pub system: Option<String>,
    /// Print tokens as they arrive even when stdout is not a terminal.
    pub stream: bool,
    /// Print one JSON object with the answer and its figures instead of plain text.
    pub json: bool,
}

/// Ask one question and print the answer. Returns the process exit status.
pub async fn run(
    engine: &Engine,
    question: &str,
    options: &AskOptions,
) -> anyhow::Result<ExitCode> {
    let request = build_request(question, options);
    let stream_tokens = !options.json && (options.stream || std::io::stdout().is_terminal());
    let mut reply = engine.submit(request);
    let mut stdout = std::io::stdout().lock();
    let mut shown = 0usize;

    while let Some(event) = reply.next().await {
        match event {
            ReplyEvent::Routed { model, reason, .. } => {
                eprintln!("signalbox: routed to {model} ({reason})");
            }
            ReplyEvent::Token(text) => {
                if stream_tokens {
                    stdout.write_all(text.as_bytes())?;
                    stdout.flush()?;
                    shown += text.len();
                }
            }
            ReplyEvent::Retrying {
                failed,
                error,
                next,
            } => {
                if shown > 0 {
                    // The failed attempt's partial text is already on the terminal.
                    writeln!(stdout)?;
                    eprintln!("signalbox: the partial answer above from {failed} is discarded");
                    shown = 0;
                }
                eprintln!("signalbox: {failed} failed ({error}); falling back to {next}");
            }
            ReplyEvent::Done(answer) => {
                if options.json {
                    writeln!(stdout, "{}", answer_json(&answer))?;
                } else {
                    if !stream_tokens {
                        stdout.write_all(answer.text.as_bytes())?;
                    }
                    writeln!(stdout)?;
                }
                stdout.flush()?;
                eprintln!("signalbox: {}", summary(&answer));
                return Ok(ExitCode::SUCCESS);
            }
            ReplyEvent::Failed(all) => {
                if options.json {
                    let attempts = attempts_json(&all.attempts);
                    writeln!(
                        stdout,
                        "{}",
                        json!({ "error": all.to_string(), "attempts": attempts })
                    )?;
                }
                eprintln!("signalbox: every model failed: {all}");
                return Ok(ExitCode::FAILURE);
            }
        }
    }
    anyhow::bail!(
        "the engine ended the reply without an answer or an error; this is a bug in signalbox, \
         please report it with the question you asked"
    )
}

fn build_request(question: &str, options: &AskOptions) -> Request {
    let mut messages = Vec::new();
    if let Some(system) = &options.system {
        messages.push(Message::system(system.clone()));
    }
    messages.push(Message::user(question));
    let target = match &options.model {
        Some(name) => Target::Model {
            name: name.clone(),
            fallback: options.fallback,
        },
        None => Target::Routed,
    };
    Request {
        messages,
        target,
        origin: Origin::Cli,
        ..Request::default()
    }
}

/// `answered by gemma3:1b in 2.31 s (first token 0.42 s, 41.8 tokens/s)`, plus fallbacks.
pub fn summary(answer: &Answer) -> String {
    let mut line = format!(
        "answered by {} in {:.2} s",
        answer.model,
        answer.total.as_secs_f64()
    );
    let mut figures = Vec::new();
    if let Some(ttft) = answer.time_to_first_token {
        figures.push(format!("first token {:.2} s", ttft.as_secs_f64()));
    }
    if let Some(rate) = answer.tokens_per_sec {
        figures.push(format!("{rate:.1} tokens/s"));
    }
    if !figures.is_empty() {
        line.push_str(&format!(" ({})", figures.join(", ")));
    }
    for (model, error) in &answer.fallbacks {
        line.push_str(&format!("; fell back from {model}: {error}"));
    }
    line
}

fn attempts_json(attempts: &[(ModelName, AttemptError)]) -> Vec<serde_json::Value> {
    attempts
        .iter()
        .map(|(model, error)| json!({ "model": &**model, "error": error.to_string() }))
        .collect()
}

fn answer_json(answer: &Answer) -> serde_json::Value {
    json!({
        "model": &*answer.model,
        "text": answer.text,
        "total_ms": answer.total.as_secs_f64() * 1000.0,
        "first_token_ms": answer.time_to_first_token.map(|d| d.as_secs_f64() * 1000.0),
        "tokens_per_sec": answer.tokens_per_sec,
        "completion_tokens": answer.stats.completion_tokens,
        "done_reason": answer.stats.done_reason,
        "fallbacks": attempts_json(&answer.fallbacks),
    })
}
