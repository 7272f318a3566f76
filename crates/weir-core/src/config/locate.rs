//! Maps dotted option paths back to the lines where they are written.
//!
//! hocon-parser reports decode errors by path, not position, so the job parser walks the token
//! stream once, tracking the enclosing object path, and records where each key appears. Paths
//! are segments joined by `.`, the same form [`super::flatten`] produces.

use std::collections::HashMap;

use hocon::{Token, TokenKind};

/// Positions of every key in a document.
#[derive(Debug, Default)]
pub(crate) struct KeyIndex {
    lines: HashMap<String, u32>,
}

impl KeyIndex {
    pub(crate) fn build(tokens: &[Token]) -> Self {
        let mut lines = HashMap::new();
        // Paths of the objects currently open; the root is "".
        let mut open_objects: Vec<String> = Vec::new();
        // Transform blocks seen: the line of the first, and how many.
        let mut transform_blocks: HashMap<String, (usize, u32)> = HashMap::new();
        let mut i = 0;
        while i < tokens.len() {
            match tokens[i].kind {
                TokenKind::RBrace => {
                    open_objects.pop();
                    i += 1;
                }
                TokenKind::LBrace => {
                    // Braces around the whole document, or an object value continued on a
                    // new line: keys inside belong to the enclosing path.
                    let prefix = open_objects.last().cloned().unwrap_or_default();
                    open_objects.push(prefix);
                    i += 1;
                }
                TokenKind::Unquoted | TokenKind::QuotedString => {
                    let (segments, after_key) = read_key(tokens, i);
                    let prefix = open_objects.last().map(String::as_str).unwrap_or("");
                    let mut path = join(prefix, &segments.join("."));
                    // A transform block repeated on another line is a transform of its own,
                    // named as the document names it (`normalize::repeated_block_name`).
                    if prefix == "transform"
                        && segments.len() == 1
                        && opens_object(tokens, after_key)
                    {
                        let line = tokens[i].line;
                        let (first_line, count) =
                            transform_blocks.entry(path.clone()).or_insert((line, 0));
                        *count += 1;
                        if *count > 1 && *first_line != line {
                            path = format!("{path}#{count}");
                        }
                    }
                    // Later definitions override earlier ones in HOCON: report the last.
                    lines.insert(
                        path.clone(),
                        u32::try_from(tokens[i].line).unwrap_or(u32::MAX),
                    );
                    i = skip_after_key(tokens, after_key, path, &mut open_objects);
                }
                _ => i += 1,
            }
        }
        KeyIndex { lines }
    }

    /// Whether `path` itself is written in the file.
    pub(crate) fn is_written(&self, path: &str) -> bool {
        self.lines.contains_key(path)
    }

    /// The line of `path`, or of its nearest enclosing object when `path` itself is not
    /// written in the file (a missing option, or one produced by a substitution).
    pub(crate) fn line_of(&self, path: &str) -> Option<u32> {
        let mut candidate = path;
        loop {
            if let Some(line) = self.lines.get(candidate) {
                return Some(*line);
            }
            candidate = &candidate[..candidate.rfind('.')?];
        }
    }
}

fn join(prefix: &str, rest: &str) -> String {
    if prefix.is_empty() {
        rest.to_string()
    } else {
        format!("{prefix}.{rest}")
    }
}

/// Reads a key made of adjacent string tokens (`a.b`, `a."b.c".d`); unquoted dots separate
/// segments, quoted ones do not.
fn read_key(tokens: &[Token], start: usize) -> (Vec<String>, usize) {
    let mut segments = Vec::new();
    let mut current = String::new();
    let mut i = start;
    while let Some(token) = tokens.get(i) {
        let adjacent = i == start || !token.preceding_space;
        match token.kind {
            TokenKind::Unquoted if adjacent => {
                for c in token.value.chars() {
                    if c == '.' {
                        segments.push(std::mem::take(&mut current));
                    } else {
                        current.push(c);
                    }
                }
            }
            TokenKind::QuotedString if adjacent => current.push_str(&token.value),
            _ => break,
        }
        i += 1;
    }
    segments.push(current);
    (segments, i)
}

/// Whether the value after a key (at `i`) is an object literal: `key {` or `key = {`.
fn opens_object(tokens: &[Token], i: usize) -> bool {
    match tokens.get(i).map(|t| &t.kind) {
        Some(TokenKind::LBrace) => true,
        Some(TokenKind::Equals | TokenKind::Colon) => {
            matches!(tokens.get(i + 1).map(|t| &t.kind), Some(TokenKind::LBrace))
        }
        _ => false,
    }
}

/// Skips the separator and value after a key; opens an object when the value is one.
fn skip_after_key(
    tokens: &[Token],
    mut i: usize,
    path: String,
    open_objects: &mut Vec<String>,
) -> usize {
    match tokens.get(i).map(|t| &t.kind) {
        Some(TokenKind::LBrace) => {
            open_objects.push(path);
            return i + 1;
        }
        Some(TokenKind::Equals | TokenKind::Colon | TokenKind::PlusEquals) => i += 1,
        // Not a key/value statement (e.g. `include "file"`): skip the rest of the line.
        _ => {}
    }
    while let Some(token) = tokens.get(i) {
        match token.kind {
            TokenKind::Newline | TokenKind::Comma | TokenKind::RBrace | TokenKind::Eof => {
                return i;
            }
            TokenKind::LBrace => {
                open_objects.push(path);
                return i + 1;
            }
            TokenKind::LBracket => i = skip_array(tokens, i),
            _ => i += 1,
        }
    }
    i
}

/// Returns the index just past the `]` matching the `[` at `start`.
fn skip_array(tokens: &[Token], start: usize) -> usize {
    let mut depth = 0usize;
    for (i, token) in tokens.iter().enumerate().skip(start) {
        match token.kind {
            TokenKind::LBracket => depth += 1,
            TokenKind::RBracket => {
                depth = depth.saturating_sub(1);
                if depth == 0 {
                    return i + 1;
                }
            }
            _ => {}
        }
    }
    tokens.len()
}

/// The line of the option at the dotted `path` in a job text (or of its closest enclosing
/// block the text writes), for errors found after the text was parsed: librdkafka's check of
/// `kafka.config`. `None` when the text does not tokenize or writes none of it.
pub fn line_of_option(text: &str, path: &str) -> Option<u32> {
    let source = super::syntax::SourceText::tokenize(text, std::sync::Arc::from("")).ok()?;
    KeyIndex::build(source.tokens()).line_of(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn index(text: &str) -> KeyIndex {
        KeyIndex::build(&hocon::tokenize(text).unwrap())
    }

    #[test]
    fn records_nested_and_dotted_keys() {
        let idx = index(
            "env {\n  parallelism = 2\n  job.mode = \"X\"\n  job { retry.times = 3 }\n}\n\
             source {\n  FakeSource {\n    row.num = 5\n    schema = { fields { id = bigint } }\n  }\n}\n",
        );
        assert_eq!(idx.line_of("env"), Some(1));
        assert_eq!(idx.line_of("env.parallelism"), Some(2));
        assert_eq!(idx.line_of("env.job.mode"), Some(3));
        assert_eq!(idx.line_of("env.job.retry.times"), Some(4));
        assert_eq!(idx.line_of("source.FakeSource"), Some(7));
        assert_eq!(idx.line_of("source.FakeSource.row.num"), Some(8));
        assert_eq!(idx.line_of("source.FakeSource.schema.fields.id"), Some(9));
        // Absent paths fall back to the nearest enclosing block.
        assert_eq!(idx.line_of("source.FakeSource.string.length"), Some(7));
        assert_eq!(idx.line_of("nowhere"), None);
    }

    #[test]
    fn arrays_quoted_keys_and_root_braces() {
        let idx = index(
            "{\n a = [ { x = 1 }, [2] ]\n b = 1\n \"c.d\".e : 2\n include \"other.conf\"\n f = ${?HOME} { g = 1 }\n}\n",
        );
        assert_eq!(idx.line_of("a"), Some(2));
        assert_eq!(idx.line_of("a.x"), Some(2));
        assert_eq!(idx.line_of("b"), Some(3));
        assert_eq!(idx.line_of("c.d.e"), Some(4));
        assert_eq!(idx.line_of("f.g"), Some(6));
    }

    #[test]
    fn repeated_keys_report_the_last_definition() {
        let idx = index("a = 1\na = 2\n");
        assert_eq!(idx.line_of("a"), Some(2));
    }
}
