//! The file format: what loads, and every problem with its key and line.

mod problems;
mod properties;
mod reading;

use std::time::Duration;

use url::Url;

use crate::backend::BackendKind;
use crate::config::*;

fn local() -> Url {
    Url::parse(DEFAULT_OLLAMA_URL).unwrap()
}

fn load(text: &str) -> Result<Config, ConfigErrors> {
    Config::from_toml_str_with(text, "config.toml", local())
}

/// Each problem as `line: key: message`.
fn problems(text: &str) -> Vec<String> {
    let errors = load(text).expect_err("the document should have problems");
    errors
        .iter()
        .map(|p| format!("{}: {}: {}", p.line().unwrap_or(0), p.key, p.message))
        .collect()
}

/// The single problem, which must be about `key` on `line` and mention `needle`.
fn assert_one(text: &str, line: usize, key: &str, needle: &str) {
    let found = problems(text);
    assert_eq!(found.len(), 1, "{found:#?}");
    let prefix = format!("{line}: {key}: ");
    assert!(
        found[0].starts_with(&prefix) && found[0].contains(needle),
        "{:?} !~ {prefix}..{needle}",
        found[0]
    );
}

const TWO: &str = "[[model]]\nname = \"a\"\n\n[[model]]\nname = \"b\"\n";
