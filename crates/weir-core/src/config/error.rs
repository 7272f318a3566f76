//! Job-file errors: every one names the file, the line and (where one exists) the full dotted
//! option path, e.g. `job.conf:3: unknown option 'env.parallelizm' (...)`.

use std::fmt;
use std::sync::Arc;

/// Where in a job file an error was found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Location {
    /// The name the caller gave the text (usually the file path).
    pub origin: Arc<str>,
    /// 1-based line, when known.
    pub line: Option<u32>,
    /// 1-based column, reported for syntax errors.
    pub column: Option<u32>,
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.origin)?;
        if let Some(line) = self.line {
            write!(f, ":{line}")?;
            if let Some(column) = self.column {
                write!(f, ":{column}")?;
            }
        }
        Ok(())
    }
}

/// A job file that cannot be run, and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    /// The text is not valid HOCON.
    #[error("{at}: syntax error: {message}")]
    Syntax {
        /// Position of the offending token.
        at: Location,
        /// The parser's description.
        message: String,
    },
    /// A `${...}` substitution could not be resolved.
    #[error("{at}: cannot resolve substitution '${{{substitution}}}': {message}")]
    Substitution {
        /// Position of the substitution.
        at: Location,
        /// The substitution's path.
        substitution: String,
        /// The resolver's description.
        message: String,
    },
    /// An option (or top-level section) Weir does not know.
    #[error(
        "{at}: unknown option '{path}' ({hint}known options: {known})",
        hint = suggestion.as_ref().map(|s| format!("did you mean '{s}'? ")).unwrap_or_default(),
        known = known.join(", ")
    )]
    UnknownOption {
        /// Line of the option.
        at: Location,
        /// Full dotted path, e.g. `env.parallelizm`.
        path: String,
        /// The closest known option, if one is close.
        suggestion: Option<String>,
        /// Options known at that level, in documentation order.
        known: Vec<String>,
    },
    /// A required option is absent.
    #[error("{at}: missing required option '{path}'")]
    MissingOption {
        /// Line of the enclosing block (absent for a missing top-level section).
        at: Location,
        /// Full dotted path of the missing option.
        path: String,
    },
    /// An option has a value of the wrong type, an unknown enum value, or fails validation.
    #[error("{at}: '{path}' {message}")]
    InvalidValue {
        /// Line of the option.
        at: Location,
        /// Full dotted path.
        path: String,
        /// What is wrong, phrased to follow the quoted path (`must be an integer, found ...`).
        message: String,
    },
    /// A plugin block whose name is not a known connector.
    #[error(
        "{at}: unknown {section} plugin '{name}' ({hint}known {section} plugins: {known})",
        hint = suggestion.as_ref().map(|s| format!("did you mean '{s}'? ")).unwrap_or_default(),
        known = known.join(", ")
    )]
    UnknownPlugin {
        /// Line of the plugin block.
        at: Location,
        /// `source` or `sink`.
        section: &'static str,
        /// The name as written.
        name: String,
        /// A known plugin with a similar name.
        suggestion: Option<String>,
        /// The known plugin names.
        known: Vec<String>,
    },
    /// `source {}` / `sink {}` must contain exactly one plugin block.
    #[error(
        "{at}: '{section}' must contain exactly one plugin block, found {}",
        describe_found(found)
    )]
    PluginCount {
        /// Line of the section.
        at: Location,
        /// `source` or `sink`.
        section: &'static str,
        /// The plugin names found.
        found: Vec<String>,
    },
}

fn describe_found(found: &[String]) -> String {
    if found.is_empty() {
        "none".to_string()
    } else {
        format!("{} ({})", found.len(), found.join(", "))
    }
}

impl ConfigError {
    /// Where the error was found.
    pub fn location(&self) -> &Location {
        match self {
            ConfigError::Syntax { at, .. }
            | ConfigError::Substitution { at, .. }
            | ConfigError::UnknownOption { at, .. }
            | ConfigError::MissingOption { at, .. }
            | ConfigError::InvalidValue { at, .. }
            | ConfigError::UnknownPlugin { at, .. }
            | ConfigError::PluginCount { at, .. } => at,
        }
    }

    /// 1-based line of the error, when known.
    pub fn line(&self) -> Option<usize> {
        self.location().line.map(|line| line as usize)
    }

    /// The full dotted option path the error is about (`source.FakeSource.row.num`), if any.
    pub fn path(&self) -> Option<&str> {
        match self {
            ConfigError::UnknownOption { path, .. }
            | ConfigError::MissingOption { path, .. }
            | ConfigError::InvalidValue { path, .. } => Some(path),
            ConfigError::PluginCount { section, .. } => Some(section),
            ConfigError::Syntax { .. }
            | ConfigError::Substitution { .. }
            | ConfigError::UnknownPlugin { .. } => None,
        }
    }
}

/// The known name closest to `wanted` (edit distance ≤ 2, or equal ignoring case), if any.
pub(crate) fn suggest<'a>(
    wanted: &str,
    known: impl IntoIterator<Item = &'a str>,
) -> Option<String> {
    let wanted_lower = wanted.to_ascii_lowercase();
    known
        .into_iter()
        .map(|candidate| {
            (
                edit_distance(&wanted_lower, &candidate.to_ascii_lowercase()),
                candidate,
            )
        })
        .filter(|(distance, _)| *distance <= 2)
        .min_by_key(|(distance, _)| *distance)
        .map(|(_, candidate)| candidate.to_string())
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut previous: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut current = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            let substitution = previous[j] + usize::from(ca != *cb);
            current[j + 1] = substitution.min(previous[j + 1] + 1).min(current[j] + 1);
        }
        previous = current;
    }
    previous[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggestions_pick_close_names_only() {
        let known = ["parallelism", "job.mode", "checkpoint.interval"];
        assert_eq!(suggest("parallelizm", known), Some("parallelism".into()));
        assert_eq!(suggest("JOB.MODE", known), Some("job.mode".into()));
        assert_eq!(suggest("completely.else", known), None);
    }

    #[test]
    fn display_includes_origin_line_and_path() {
        let error = ConfigError::UnknownOption {
            at: Location {
                origin: Arc::from("job.conf"),
                line: Some(3),
                column: None,
            },
            path: "env.parallelizm".into(),
            suggestion: Some("parallelism".into()),
            known: vec!["parallelism".into(), "job.mode".into()],
        };
        assert_eq!(
            error.to_string(),
            "job.conf:3: unknown option 'env.parallelizm' (did you mean 'parallelism'? \
             known options: parallelism, job.mode)"
        );
        assert_eq!(error.line(), Some(3));
        assert_eq!(error.path(), Some("env.parallelizm"));
    }
}
