//! Reading typed values out of a spanned TOML document, recording each problem with the
//! key it is about and the byte span it came from.

use std::collections::HashMap;
use std::ops::Range;
use std::time::Duration;

use toml::Spanned;
use toml::de::{DeTable, DeValue};

use crate::config::ConfigError;
use crate::config::error::{Location, did_you_mean};

/// Where a setting's value came from.
#[derive(Clone, Debug)]
pub(crate) enum Origin {
    /// A key in the file (its path there may differ: `defaults.timeout` serves
    /// `model[1].timeout`), with the byte span of its value.
    File { key: String, span: Range<usize> },
    /// An environment variable or a flag, by name.
    Outside(String),
}

/// The state of one read: the text, the problems found so far, and where each setting
/// came from, so later checks can point at the line.
pub(crate) struct Reader<'s> {
    pub source: String,
    pub text: &'s str,
    pub problems: Vec<ConfigError>,
    /// Setting path (`model[1].timeout`) to its origin.
    pub origins: HashMap<String, Origin>,
}

/// A table in the document and its key path (`model[1].breaker`, `` for the root).
#[derive(Clone)]
pub(crate) struct Table<'t, 'i> {
    pub entries: &'t DeTable<'i>,
    pub path: String,
}

/// What keys a table may hold.
pub(crate) enum Shape {
    Value,
    Table(&'static [(&'static str, Shape)]),
    /// A table of any keys (`options`).
    AnyTable,
    /// `[[name]]`: an array of tables of this shape.
    Tables(&'static [(&'static str, Shape)]),
}

pub(crate) fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_string()
    } else {
        format!("{path}.{key}")
    }
}

/// A value found in a layer: the value, its span, and its key path in the file.
pub(crate) struct Found<'t, 'i> {
    pub value: &'t Spanned<DeValue<'i>>,
    pub key: String,
}

impl<'t, 'i> Table<'t, 'i> {
    /// The value at a dotted path below this table (`breaker.failure_rate.window`).
    pub fn lookup(&self, relative: &str) -> Option<Found<'t, 'i>> {
        let mut entries = self.entries;
        let mut segments = relative.split('.').peekable();
        while let Some(segment) = segments.next() {
            let value = entries.get(segment)?;
            if segments.peek().is_none() {
                return Some(Found {
                    value,
                    key: join(&self.path, relative),
                });
            }
            entries = value.get_ref().as_table()?;
        }
        None
    }
}

impl<'s> Reader<'s> {
    pub fn new(source: &str, text: &'s str) -> Self {
        Reader {
            source: source.to_string(),
            text,
            problems: Vec::new(),
            origins: HashMap::new(),
        }
    }

    pub fn location(&self, span: &Range<usize>) -> Location {
        Location::at(&self.source, self.text, span.start)
    }

    pub fn problem(&mut self, key: &str, span: &Range<usize>, message: impl Into<String>) {
        let location = self.location(span);
        self.problems
            .push(ConfigError::new(key, message).at(location));
    }

    pub fn note_origin(&mut self, setting: String, found: &Found<'_, '_>) {
        self.origins.insert(
            setting,
            Origin::File {
                key: found.key.clone(),
                span: found.value.span(),
            },
        );
    }

    /// Reports keys the shape does not know (with a suggestion when one is close) and
    /// sub-tables of the wrong kind; recurses into the ones that fit.
    pub fn check_keys(&mut self, table: &Table<'_, '_>, shape: &[(&'static str, Shape)]) {
        let known: Vec<&str> = shape.iter().map(|(k, _)| *k).collect();
        for (key, value) in table.entries.iter() {
            let name = key.get_ref().as_ref();
            let path = join(&table.path, name);
            let Some((_, inner)) = shape.iter().find(|(k, _)| *k == name) else {
                let hint = match did_you_mean(name, &known) {
                    Some(close) => format!("; did you mean \"{close}\"?"),
                    None if known.is_empty() => String::new(),
                    None => format!("; expected one of: {}", known.join(", ")),
                };
                let message = format!("unknown key \"{name}\"{hint}");
                self.problem(&path, &key.span(), message);
                continue;
            };
            match (inner, value.get_ref()) {
                (Shape::Value, _) => {}
                (Shape::Table(inner), DeValue::Table(entries)) => {
                    self.check_keys(
                        &Table {
                            entries,
                            path: path.clone(),
                        },
                        inner,
                    );
                }
                (Shape::AnyTable, DeValue::Table(_)) => {}
                (Shape::Tables(inner), DeValue::Array(items)) => {
                    for (index, item) in items.iter().enumerate() {
                        let item_path = format!("{path}[{index}]");
                        match item.get_ref() {
                            DeValue::Table(entries) => self.check_keys(
                                &Table {
                                    entries,
                                    path: item_path.clone(),
                                },
                                inner,
                            ),
                            other => self.problem(
                                &item_path,
                                &item.span(),
                                format!("expected a table, found {}", describe(other)),
                            ),
                        }
                    }
                }
                (Shape::Tables(_), other) => {
                    let message = format!(
                        "expected an array of tables (write [[{name}]] for each), found {}",
                        describe(other)
                    );
                    self.problem(&path, &value.span(), message);
                }
                (_, other) => {
                    let message = format!("expected a table ([{path}]), found {}", describe(other));
                    self.problem(&path, &value.span(), message);
                }
            }
        }
    }

    /// Reports a value of the wrong type.
    fn wrong(&mut self, found: &Found<'_, '_>, expected: &str) {
        let message = format!(
            "expected {expected}, found {}",
            describe(found.value.get_ref())
        );
        self.problem(&found.key, &found.value.span(), message);
    }

    pub fn string(&mut self, found: &Found<'_, '_>) -> Option<String> {
        match found.value.get_ref() {
            DeValue::String(s) => Some(s.to_string()),
            _ => {
                self.wrong(found, "a string");
                None
            }
        }
    }

    pub fn boolean(&mut self, found: &Found<'_, '_>) -> Option<bool> {
        match found.value.get_ref() {
            DeValue::Boolean(b) => Some(*b),
            _ => {
                self.wrong(found, "true or false");
                None
            }
        }
    }

    /// A whole number that fits `T`; negative and too-large values are reported.
    pub fn count<T: TryFrom<i128> + Copy>(&mut self, found: &Found<'_, '_>) -> Option<T> {
        let DeValue::Integer(integer) = found.value.get_ref() else {
            self.wrong(found, "a whole number");
            return None;
        };
        let span = found.value.span();
        let Ok(n) = i128::from_str_radix(integer.as_str(), integer.radix()) else {
            self.problem(&found.key, &span, format!("{integer} is too large"));
            return None;
        };
        if n < 0 {
            self.problem(&found.key, &span, format!("{n} must not be negative"));
            return None;
        }
        let converted = T::try_from(n).ok();
        if converted.is_none() {
            self.problem(&found.key, &span, format!("{n} is too large"));
        }
        converted
    }

    /// A number, whole or not.
    pub fn number(&mut self, found: &Found<'_, '_>) -> Option<f64> {
        match found.value.get_ref() {
            DeValue::Float(f) => f.as_str().parse().ok(),
            DeValue::Integer(i) => i64::from_str_radix(i.as_str(), i.radix())
                .ok()
                .map(|n| n as f64),
            _ => {
                self.wrong(found, "a number");
                None
            }
        }
    }

    /// A duration written as a string: `"20s"`, `"1m30s"`, `"500ms"`.
    pub fn duration(&mut self, found: &Found<'_, '_>) -> Option<Duration> {
        let span = found.value.span();
        let text = match found.value.get_ref() {
            DeValue::String(s) => s.to_string(),
            DeValue::Integer(i) => {
                let message = format!(
                    "expected a duration with a unit, found the bare number {i}; write e.g. \"{i}s\""
                );
                self.problem(&found.key, &span, message);
                return None;
            }
            _ => {
                self.wrong(found, "a duration such as \"20s\"");
                return None;
            }
        };
        if text.trim_start().starts_with('-') {
            self.problem(
                &found.key,
                &span,
                format!("\"{text}\" must not be negative"),
            );
            return None;
        }
        match humantime::parse_duration(&text) {
            Ok(duration) => Some(duration),
            Err(e) => {
                let message = format!(
                    "\"{text}\" is not a duration ({e}); write e.g. \"20s\", \"1m30s\" or \"500ms\""
                );
                self.problem(&found.key, &span, message);
                None
            }
        }
    }

    /// An array of strings.
    pub fn strings(&mut self, found: &Found<'_, '_>) -> Option<Vec<String>> {
        let DeValue::Array(items) = found.value.get_ref() else {
            self.wrong(found, "an array of strings");
            return None;
        };
        let mut out = Vec::new();
        for (index, item) in items.iter().enumerate() {
            let found = Found {
                value: item,
                key: format!("{}[{index}]", found.key),
            };
            out.push(self.string(&found)?);
        }
        Some(out)
    }

    /// Any value as JSON, for options passed through to the server.
    pub fn json(&mut self, found: &Found<'_, '_>) -> Option<serde_json::Value> {
        use serde_json::Value as J;
        let span = found.value.span();
        Some(match found.value.get_ref() {
            DeValue::String(s) => J::String(s.to_string()),
            DeValue::Boolean(b) => J::Bool(*b),
            DeValue::Integer(i) => {
                let (text, radix) = (i.as_str(), i.radix());
                match (
                    i64::from_str_radix(text, radix),
                    u64::from_str_radix(text, radix),
                ) {
                    (Ok(n), _) => J::from(n),
                    (_, Ok(n)) => J::from(n),
                    _ => {
                        self.problem(&found.key, &span, format!("{i} is too large"));
                        return None;
                    }
                }
            }
            DeValue::Float(_) => {
                let n = self.number(found)?;
                match serde_json::Number::from_f64(n) {
                    Some(n) => J::Number(n),
                    None => {
                        self.problem(&found.key, &span, format!("{n} cannot be sent to a server"));
                        return None;
                    }
                }
            }
            DeValue::Datetime(_) => {
                self.wrong(found, "a string, number, boolean, array or table");
                return None;
            }
            DeValue::Array(items) => {
                let mut out = Vec::new();
                for (index, item) in items.iter().enumerate() {
                    let found = Found {
                        value: item,
                        key: format!("{}[{index}]", found.key),
                    };
                    out.push(self.json(&found)?);
                }
                J::Array(out)
            }
            DeValue::Table(entries) => J::Object(self.json_object(entries, &found.key)?),
        })
    }

    pub fn json_object(
        &mut self,
        entries: &DeTable<'_>,
        path: &str,
    ) -> Option<serde_json::Map<String, serde_json::Value>> {
        let mut out = serde_json::Map::new();
        let mut ok = true;
        for (key, value) in entries.iter() {
            let found = Found {
                value,
                key: join(path, key.get_ref()),
            };
            match self.json(&found) {
                Some(v) => {
                    out.insert(key.get_ref().to_string(), v);
                }
                None => ok = false,
            }
        }
        ok.then_some(out)
    }
}

/// The type of a value, with the value when it is short, for "found ..." messages.
pub(crate) fn describe(value: &DeValue<'_>) -> String {
    match value {
        DeValue::String(s) if s.chars().count() <= 40 => format!("the string \"{s}\""),
        DeValue::Integer(i) => format!("the number {i}"),
        DeValue::Float(f) => format!("the number {f}"),
        DeValue::Boolean(b) => format!("{b}"),
        other => format!("{} {}", article(other.type_str()), other.type_str()),
    }
}

fn article(word: &str) -> &'static str {
    if word.starts_with(['a', 'e', 'i', 'o', 'u']) {
        "an"
    } else {
        "a"
    }
}
