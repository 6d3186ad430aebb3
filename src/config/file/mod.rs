//! The configuration file: TOML, read with spans so every problem names its line.
//!
//! The format is documented in `docs/configuration.md`, and `assets/config.toml` shows
//! every key with its default.

mod document;
mod reader;
mod schema;
mod write;

use std::collections::HashMap;
use std::path::Path;

use toml::de::DeTable;
use url::Url;

pub(crate) use document::{OllamaDefault, parse_listen, parse_strategy};
use reader::{Origin, Reader};

use super::error::Location;
use super::validate::validate;
use super::{Config, ConfigError, ConfigErrors, OLLAMA_HOST_VAR, ollama_host_from_env};

/// A configuration read but not yet validated: overrides may still change it, and its
/// problems are reported together when it is finished.
pub(crate) struct Draft {
    pub config: Config,
    pub problems: Vec<ConfigError>,
    origins: HashMap<String, Origin>,
    source: String,
    text: String,
}

impl Draft {
    /// Reads a TOML document. Syntax errors stop the reading there: what follows a
    /// broken line cannot be trusted to mean what it says.
    pub fn from_toml(text: &str, source: &str, ollama: &OllamaDefault) -> Draft {
        let (root, syntax) = DeTable::parse_recoverable(text);
        let mut reader = Reader::new(source, text);
        let config = if syntax.is_empty() {
            document::read_config(&mut reader, root.get_ref(), ollama)
        } else {
            for error in syntax {
                let location = match error.span() {
                    Some(span) => reader.location(&span),
                    None => Location::whole(source),
                };
                reader
                    .problems
                    .push(ConfigError::new("", error.message().trim()).at(location));
            }
            Config::default_for(super::default_ollama_url())
        };
        Draft {
            config,
            problems: reader.problems,
            origins: reader.origins,
            source: source.to_string(),
            text: text.to_string(),
        }
    }

    /// The built-in defaults, for when there is no file.
    pub fn from_defaults(ollama: &OllamaDefault) -> Draft {
        let mut draft = Draft {
            config: Config::default_for(super::default_ollama_url()),
            problems: Vec::new(),
            origins: HashMap::new(),
            source: String::new(),
            text: String::new(),
        };
        match &ollama.url {
            Ok(url) => {
                for index in 0..draft.config.models.len() {
                    draft.config.models[index].base_url = url.clone();
                    if let Some(origin) = &ollama.origin {
                        draft.set_origin(format!("model[{index}].url"), origin);
                    }
                }
            }
            Err(problem) => draft.problems.push(problem.clone()),
        }
        draft
    }

    /// Records that `setting` now comes from an environment variable or flag.
    pub fn set_origin(&mut self, setting: impl Into<String>, label: &str) {
        self.origins
            .insert(setting.into(), Origin::Outside(label.to_string()));
    }

    /// Validates, and points each problem at where its value came from.
    pub fn finish(self) -> Result<Config, ConfigErrors> {
        let mut problems = self.problems;
        if problems.iter().all(|p| !p.key.is_empty()) {
            for problem in validate(&self.config) {
                let problem = locate(problem, &self.origins, &self.source, &self.text);
                // A setting already reported as unreadable holds a stand-in value; checking
                // that would only repeat the problem in other words.
                if !problems.iter().any(|p| p.key == problem.key) {
                    problems.push(problem);
                }
            }
        }
        match ConfigErrors::from_vec(problems) {
            Some(errors) => Err(errors),
            None => Ok(self.config),
        }
    }
}

/// Gives a problem found on the typed configuration the key and line it came from:
/// the setting's own origin, or else the nearest enclosing table's line.
fn locate(
    mut problem: ConfigError,
    origins: &HashMap<String, Origin>,
    source: &str,
    text: &str,
) -> ConfigError {
    let mut setting = problem.key.as_str();
    let mut exact = true;
    loop {
        match origins.get(setting) {
            Some(Origin::File { key, span }) => {
                if exact {
                    problem.key = key.clone();
                }
                problem.location = Some(Location::at(source, text, span.start));
                return problem;
            }
            Some(Origin::Outside(label)) => {
                if exact {
                    problem.key = label.clone();
                } else {
                    problem.key = format!("{label} ({})", problem.key);
                }
                return problem;
            }
            None => {}
        }
        match setting.rfind(['.', '[']) {
            Some(cut) if cut > 0 => {
                setting = &setting[..cut];
                exact = false;
            }
            _ => break,
        }
    }
    if !source.is_empty() {
        problem.location = Some(Location::whole(source));
    }
    problem
}

impl Config {
    /// Reads a configuration from TOML text; `source_name` names it in problems
    /// (usually the file's path). Models without a `url` use `OLLAMA_HOST`, or
    /// `http://127.0.0.1:11434` when it is unset.
    pub fn from_toml_str(text: &str, source_name: &str) -> Result<Config, ConfigErrors> {
        let ollama = OllamaDefault {
            url: ollama_host_from_env(),
            origin: Some(OLLAMA_HOST_VAR.into()),
        };
        Draft::from_toml(text, source_name, &ollama).finish()
    }

    /// [`Config::from_toml_str`] with the Ollama address for models without a `url`
    /// given, rather than read from the environment.
    pub fn from_toml_str_with(
        text: &str,
        source_name: &str,
        ollama_url: Url,
    ) -> Result<Config, ConfigErrors> {
        let ollama = OllamaDefault {
            url: Ok(ollama_url),
            origin: None,
        };
        Draft::from_toml(text, source_name, &ollama).finish()
    }

    /// Reads a configuration file (see [`Config::from_toml_str`]).
    pub fn load(path: &Path) -> Result<Config, ConfigErrors> {
        let text = read_file(path)?;
        Config::from_toml_str(&text, &path.display().to_string())
    }

    /// This configuration as a TOML document that loads back to an equal one. Every
    /// setting is written out; server options that TOML cannot hold (JSON `null`) are
    /// left out.
    pub fn to_toml_string(&self) -> String {
        write::to_toml(self)
    }
}

pub(crate) fn read_file(path: &Path) -> Result<String, ConfigError> {
    std::fs::read_to_string(path).map_err(|e| {
        let hint = match e.kind() {
            std::io::ErrorKind::NotFound => {
                "; check the path, or leave out --config to use the defaults"
            }
            _ => "",
        };
        ConfigError::new("", format!("cannot read the configuration file: {e}{hint}"))
            .at(Location::whole(&path.display().to_string()))
    })
}

#[cfg(test)]
mod tests;
