//! Configuration problems: each names the setting it is about and, when it came from a
//! file, the line and column.

use std::fmt;

/// Where a problem was found: a file (or other named source) and, when known, the line
/// and column there (both 1-based; the column counts characters).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Location {
    pub source: String,
    pub line: Option<(usize, usize)>,
}

impl Location {
    /// The location of byte `offset` in `text`, named `source`.
    pub fn at(source: &str, text: &str, offset: usize) -> Location {
        let (mut line, mut column) = (1, 1);
        for (index, c) in text.char_indices() {
            if index >= offset {
                break;
            }
            if c == '\n' {
                line += 1;
                column = 1;
            } else {
                column += 1;
            }
        }
        Location {
            source: source.to_string(),
            line: Some((line, column)),
        }
    }

    /// A whole source, with no line.
    pub fn whole(source: &str) -> Location {
        Location {
            source: source.to_string(),
            line: None,
        }
    }
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.line {
            Some((line, column)) => write!(f, "{}:{line}:{column}", self.source),
            None => f.write_str(&self.source),
        }
    }
}

/// One problem with the configuration.
///
/// `key` is the setting's path as written in the configuration file
/// (`model[1].breaker.failure_threshold`, `routing.strategy`), or the name of the
/// environment variable or command-line flag it came from (`OLLAMA_HOST`, `--listen`).
/// Model indexes count from 0 in the order the `[[model]]` tables appear.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfigError {
    pub key: String,
    pub message: String,
    pub location: Option<Location>,
}

impl ConfigError {
    pub fn new(key: impl Into<String>, message: impl Into<String>) -> Self {
        ConfigError {
            key: key.into(),
            message: message.into(),
            location: None,
        }
    }

    pub(crate) fn at(mut self, location: Location) -> Self {
        self.location = Some(location);
        self
    }

    /// The line the problem was found on, when it came from a file.
    pub fn line(&self) -> Option<usize> {
        self.location
            .as_ref()
            .and_then(|l| l.line)
            .map(|(line, _)| line)
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(location) = &self.location {
            write!(f, "{location}: ")?;
        }
        if !self.key.is_empty() {
            write!(f, "{}: ", self.key)?;
        }
        f.write_str(&self.message)
    }
}

impl std::error::Error for ConfigError {}

/// Every problem found in a configuration, in file order. Never empty.
///
/// Displays one problem per line: `config.toml:12:1: model[1].timeout: "0s" must be more
/// than zero`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfigErrors {
    problems: Vec<ConfigError>,
}

impl ConfigErrors {
    /// `None` when there is nothing to report.
    pub(crate) fn from_vec(mut problems: Vec<ConfigError>) -> Option<ConfigErrors> {
        // Located problems first, in file order; the rest keep the order they were found.
        problems.sort_by(|a, b| match (&a.location, &b.location) {
            (Some(x), Some(y)) => x.line.is_none().cmp(&y.line.is_none()).then(x.cmp(y)),
            (Some(_), None) => std::cmp::Ordering::Less,
            (None, Some(_)) => std::cmp::Ordering::Greater,
            (None, None) => std::cmp::Ordering::Equal,
        });
        let mut unique: Vec<ConfigError> = Vec::with_capacity(problems.len());
        for problem in problems {
            if !unique.contains(&problem) {
                unique.push(problem);
            }
        }
        let problems = unique;
        if problems.is_empty() {
            None
        } else {
            Some(ConfigErrors { problems })
        }
    }

    pub fn problems(&self) -> &[ConfigError] {
        &self.problems
    }

    pub fn len(&self) -> usize {
        self.problems.len()
    }

    /// Always false: a `ConfigErrors` holds at least one problem.
    pub fn is_empty(&self) -> bool {
        self.problems.is_empty()
    }

    pub fn iter(&self) -> std::slice::Iter<'_, ConfigError> {
        self.problems.iter()
    }
}

impl From<ConfigError> for ConfigErrors {
    fn from(problem: ConfigError) -> Self {
        ConfigErrors {
            problems: vec![problem],
        }
    }
}

impl IntoIterator for ConfigErrors {
    type Item = ConfigError;
    type IntoIter = std::vec::IntoIter<ConfigError>;

    fn into_iter(self) -> Self::IntoIter {
        self.problems.into_iter()
    }
}

impl<'a> IntoIterator for &'a ConfigErrors {
    type Item = &'a ConfigError;
    type IntoIter = std::slice::Iter<'a, ConfigError>;

    fn into_iter(self) -> Self::IntoIter {
        self.problems.iter()
    }
}

impl fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (index, problem) in self.problems.iter().enumerate() {
            if index > 0 {
                f.write_str("\n")?;
            }
            write!(f, "{problem}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigErrors {}

/// The closest of `candidates` to `word`, when it is close enough to be a likely typo.
pub(crate) fn did_you_mean<'a>(word: &str, candidates: &[&'a str]) -> Option<&'a str> {
    let limit = (word.chars().count() / 3).max(1);
    candidates
        .iter()
        .map(|c| (edit_distance(word, c), *c))
        .filter(|(d, _)| *d <= limit)
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

/// Edit distance over characters, a swap of two neighbours counting as one edit.
fn edit_distance(a: &str, b: &str) -> usize {
    let (a, b): (Vec<char>, Vec<char>) = (a.chars().collect(), b.chars().collect());
    let mut d = vec![vec![0usize; b.len() + 1]; a.len() + 1];
    for (i, row) in d.iter_mut().enumerate() {
        row[0] = i;
    }
    for (j, cell) in d[0].iter_mut().enumerate() {
        *cell = j;
    }
    for i in 1..=a.len() {
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut best = (d[i - 1][j] + 1)
                .min(d[i][j - 1] + 1)
                .min(d[i - 1][j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                best = best.min(d[i - 2][j - 2] + 1);
            }
            d[i][j] = best;
        }
    }
    d[a.len()][b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn location_counts_lines_and_characters_from_one() {
        let text = "a = 1\n[é]\nbb = 2\n";
        assert_eq!(Location::at("f", text, 0).line, Some((1, 1)));
        assert_eq!(Location::at("f", text, 6).line, Some((2, 1)));
        // 'é' is two bytes but one column.
        assert_eq!(Location::at("f", text, 9).line, Some((2, 3)));
        assert_eq!(Location::at("f", text, 14).line, Some((3, 4)));
        assert_eq!(Location::at("f", text, 10_000).line, Some((4, 1)));
    }

    #[test]
    fn display_prints_one_problem_per_line_with_location_and_key() {
        let errors = ConfigErrors::from_vec(vec![
            ConfigError::new("model", "no models"),
            ConfigError::new("model[1].timeout", "\"0s\" must be more than zero").at(Location {
                source: "config.toml".into(),
                line: Some((12, 1)),
            }),
        ])
        .unwrap();
        assert_eq!(
            errors.to_string(),
            "config.toml:12:1: model[1].timeout: \"0s\" must be more than zero\nmodel: no models"
        );
    }

    #[test]
    fn suggestion_finds_close_keys_only() {
        let keys = ["timeout", "stall_timeout", "bulkhead"];
        assert_eq!(did_you_mean("timout", &keys), Some("timeout"));
        assert_eq!(did_you_mean("bulkhed", &keys), Some("bulkhead"));
        assert_eq!(did_you_mean("colour", &keys), None);
    }
}
