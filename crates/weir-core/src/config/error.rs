//! Job-file errors: every one names the file, the line and (where one exists) the full dotted
//! option path, e.g. `job.conf:3: unknown option 'env.parallelizm' (...)`.
//!
//! Job text may come from anyone who can submit, so errors never repeat an arbitrary amount of
//! it: a quoted value, a key or a path longer than [`MAX_QUOTED_CHARS`] is shown by its start
//! and its length ([`elide`]), and a whole message by at most [`MAX_MESSAGE_CHARS`].

use std::borrow::Cow;
use std::fmt;
use std::sync::Arc;

/// Longest value, key or path an error message repeats in full.
pub const MAX_QUOTED_CHARS: usize = 80;

/// Longest message (after the location) an error shows; longer ones are cut.
pub const MAX_MESSAGE_CHARS: usize = 600;

/// How many characters of an elided text are shown.
const ELIDED_PREFIX_CHARS: usize = 60;

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
    #[error("{at}: syntax error: {}", elide_message(message))]
    Syntax {
        /// Position of the offending token.
        at: Location,
        /// The parser's description.
        message: String,
    },
    /// A `${...}` substitution could not be resolved.
    #[error(
        "{at}: cannot resolve substitution '${{{}}}': {}",
        elide(substitution),
        elide_message(message)
    )]
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
        "{at}: unknown option '{}' ({hint}known options: {known})",
        elide(path),
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
    #[error("{at}: missing required option '{}'", elide(path))]
    MissingOption {
        /// Line of the enclosing block (absent for a missing top-level section).
        at: Location,
        /// Full dotted path of the missing option.
        path: String,
    },
    /// An option has a value of the wrong type, an unknown enum value, or fails validation.
    #[error("{at}: '{}' {}", elide(path), elide_message(message))]
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
        "{at}: unknown {section} plugin '{}' ({hint}known {section} plugins: {known})",
        elide(name),
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
    /// The text exceeds one of the bounds of [`super::limits`]; the message names it.
    #[error("{at}: {message}")]
    Limit {
        /// Where the bound was exceeded (the line, when one is to blame).
        at: Location,
        /// What exceeds which limit, e.g. `the job text is 5000000 bytes, more than the
        /// limit of 4 MiB`.
        message: String,
    },
    /// A key set twice to values that do not merge (only two objects merge).
    #[error(
        "{at}: '{}' is set twice, here and on line {first_line}; only objects merge, so one \
         value would silently replace the other: remove one",
        elide(path)
    )]
    DuplicateKey {
        /// The second assignment.
        at: Location,
        /// Full dotted path.
        path: String,
        /// Line of the first assignment, in the same file.
        first_line: u32,
    },
    /// A SeaTunnel option or plugin Weir recognises but does not support (yet); the message
    /// says why.
    #[error("{at}: '{}' is not supported: {}", elide(path), elide_message(message))]
    Unsupported {
        /// Line of the option or block.
        at: Location,
        /// Full dotted path, e.g. `transform.Sql`.
        path: String,
        /// Why, and what to do instead.
        message: String,
    },
    /// Two blocks of the same plugin in one section: SeaTunnel runs them as two plugins, so
    /// merging them (as HOCON does) would silently drop one.
    #[error(
        "{at}: '{}' is a second {section} block of the same plugin (the first is on line \
         {first_line}): SeaTunnel runs each block as a plugin of its own, and a Weir job has \
         one source and one sink, so this job cannot run as written; keep one block",
        elide(path)
    )]
    RepeatedPlugin {
        /// The second block.
        at: Location,
        /// `source`, `transform` or `sink`.
        section: String,
        /// Full dotted path of the block, e.g. `sink.LocalFile`.
        path: String,
        /// Line of the first block, in the same file.
        first_line: u32,
    },
    /// An `include` that cannot be honoured: refused (job text sent to the master), missing,
    /// unreadable or of an unsupported kind.
    #[error("{at}: {}", elide_message(message))]
    Include {
        /// The include directive.
        at: Location,
        /// What is wrong, naming the file.
        message: String,
    },
    /// The parser failed in a way that is a bug of Weir or of the HOCON library (a panic), or
    /// could not start its thread.
    #[error("{at}: the job text could not be parsed: {}", elide_message(message))]
    Internal {
        /// The text that was being parsed.
        at: Location,
        /// What happened.
        message: String,
    },
}

fn describe_found(found: &[String]) -> String {
    if found.is_empty() {
        "none".to_string()
    } else {
        let names: Vec<Cow<'_, str>> = found.iter().map(|name| elide(name)).collect();
        format!("{} ({})", found.len(), names.join(", "))
    }
}

/// `text` itself when it is at most [`MAX_QUOTED_CHARS`] characters, else its first
/// characters, `…` and its length: `aaaa…(70000 characters)`.
pub(crate) fn elide(text: &str) -> Cow<'_, str> {
    if text.chars().nth(MAX_QUOTED_CHARS).is_none() {
        return Cow::Borrowed(text);
    }
    let shown: String = text.chars().take(ELIDED_PREFIX_CHARS).collect();
    Cow::Owned(format!("{shown}…({} characters)", text.chars().count()))
}

/// `text` as an error message quotes a value: `"ten"`, or elided as [`elide`] does, still
/// between quotes: `"aaaa…" (70000 characters)`.
pub(crate) fn quote(text: &str) -> String {
    if text.chars().nth(MAX_QUOTED_CHARS).is_none() {
        return format!("{text:?}");
    }
    let shown: String = text.chars().take(ELIDED_PREFIX_CHARS).collect();
    format!(
        "{:?} ({} characters)",
        format!("{shown}…"),
        text.chars().count()
    )
}

/// A message made safe to show: every quoted run and every other run without whitespace
/// longer than [`MAX_QUOTED_CHARS`] elided, and the whole cut at [`MAX_MESSAGE_CHARS`].
/// Messages quote values with `{:?}` or in single quotes; this catches both, and the messages
/// of the HOCON library and of serde too.
pub(crate) fn elide_message(message: &str) -> Cow<'_, str> {
    let too_long = |run: &str| run.chars().nth(MAX_QUOTED_CHARS + 2).is_some();
    let long_run = runs(message).any(|(start, end)| too_long(&message[start..end]));
    if !long_run && message.chars().nth(MAX_MESSAGE_CHARS).is_none() {
        return Cow::Borrowed(message);
    }
    let mut out = String::new();
    let mut copied = 0;
    for (start, end) in runs(message) {
        let run = &message[start..end];
        if !too_long(run) {
            continue;
        }
        out.push_str(&message[copied..start]);
        match run.strip_prefix('"') {
            Some(quoted) => {
                let inner = quoted.strip_suffix('"').unwrap_or(quoted);
                let shown: String = inner.chars().take(ELIDED_PREFIX_CHARS).collect();
                out.push_str(&format!(
                    "\"{shown}…\" ({} characters)",
                    inner.chars().count()
                ));
            }
            None => out.push_str(&elide(run)),
        }
        copied = end;
    }
    out.push_str(&message[copied..]);
    if out.chars().nth(MAX_MESSAGE_CHARS).is_some() {
        let total = out.chars().count();
        out = out.chars().take(MAX_MESSAGE_CHARS).collect();
        out.push_str(&format!("… (message cut, {total} characters)"));
    }
    Cow::Owned(out)
}

/// Byte ranges of the runs of `message`: `"..."` (quotes included; `\"` does not close it,
/// an unclosed one runs to the end) and maximal runs of other non-whitespace characters.
fn runs(message: &str) -> impl Iterator<Item = (usize, usize)> + '_ {
    let bytes = message.as_bytes();
    let mut at = 0;
    std::iter::from_fn(move || {
        while at < bytes.len() && bytes[at].is_ascii_whitespace() {
            at += 1;
        }
        if at >= bytes.len() {
            return None;
        }
        let start = at;
        if bytes[at] == b'"' {
            let mut i = at + 1;
            while i < bytes.len() {
                match bytes[i] {
                    b'\\' => i += 2,
                    b'"' => break,
                    _ => i += 1,
                }
            }
            at = (i + 1).min(bytes.len());
        } else {
            while at < bytes.len() && !bytes[at].is_ascii_whitespace() && bytes[at] != b'"' {
                at += 1;
            }
        }
        Some((start, at))
    })
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
            | ConfigError::PluginCount { at, .. }
            | ConfigError::Limit { at, .. }
            | ConfigError::DuplicateKey { at, .. }
            | ConfigError::Unsupported { at, .. }
            | ConfigError::RepeatedPlugin { at, .. }
            | ConfigError::Include { at, .. }
            | ConfigError::Internal { at, .. } => at,
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
            | ConfigError::InvalidValue { path, .. }
            | ConfigError::DuplicateKey { path, .. }
            | ConfigError::Unsupported { path, .. }
            | ConfigError::RepeatedPlugin { path, .. } => Some(path),
            ConfigError::PluginCount { section, .. } => Some(section),
            ConfigError::Syntax { .. }
            | ConfigError::Substitution { .. }
            | ConfigError::UnknownPlugin { .. }
            | ConfigError::Limit { .. }
            | ConfigError::Include { .. }
            | ConfigError::Internal { .. } => None,
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

    #[test]
    fn long_values_keys_and_messages_are_elided() {
        let long = "x".repeat(70_000);
        assert_eq!(elide("short"), "short");
        assert_eq!(
            elide(&long),
            format!("{}…(70000 characters)", "x".repeat(60))
        );
        assert_eq!(quote("ten"), "\"ten\"");
        assert_eq!(
            quote(&long),
            format!("\"{}…\" (70000 characters)", "x".repeat(60))
        );
        let message = format!("must be an integer, found string \"{long}\" here");
        assert_eq!(
            elide_message(&message),
            format!(
                "must be an integer, found string \"{}…\" (70000 characters) here",
                "x".repeat(60)
            )
        );
        let escaped = format!("found \"a\\\"{long}\"");
        assert!(
            elide_message(&escaped).ends_with("(70003 characters)"),
            "{}",
            elide_message(&escaped)
        );
        assert_eq!(
            elide_message(&format!("'{long}' is not a byte size")),
            format!(
                "{}…(70002 characters) is not a byte size",
                "'".to_owned() + &"x".repeat(59)
            )
        );
        let plain = "y ".repeat(2500);
        let cut = elide_message(&plain);
        assert!(cut.ends_with("… (message cut, 5000 characters)"), "{cut}");
        assert!(cut.chars().count() < MAX_MESSAGE_CHARS + 50);

        let error = ConfigError::InvalidValue {
            at: Location {
                origin: Arc::from("job.conf"),
                line: Some(1),
                column: None,
            },
            path: long.clone(),
            message: message.clone(),
        };
        assert!(error.to_string().len() < 300, "{error}");
    }
}
