//! SeaTunnel options that are both a value and the prefix of other options.
//!
//! SeaTunnel reads `start_mode = timestamp` and `start_mode.timestamp = 1700000000000` as two
//! flat options. HOCON reads the second as a path into the first: `start_mode` becomes the
//! object `{ timestamp = ... }` and the string is lost (or, in the other order, the object
//! is). Before parsing, such keys are quoted — `"start_mode.timestamp"` is one HOCON key —
//! which keeps both, and keeps every line where it was.

use std::borrow::Cow;

use hocon::{Token, TokenKind};

/// Options that are values and also prefixes of other options' names.
const SCALAR_PREFIXES: &[&str] = &["start_mode"];

/// `text` with every unquoted key `<prefix>.<rest>` (for a prefix in [`SCALAR_PREFIXES`])
/// written as the quoted key `"<prefix>.<rest>"`.
pub(crate) fn quote_scalar_prefixed_keys<'a>(text: &'a str, tokens: &[Token]) -> Cow<'a, str> {
    let line_starts: Vec<usize> = std::iter::once(0)
        .chain(text.match_indices('\n').map(|(at, _)| at + 1))
        .collect();
    let mut edits: Vec<(usize, usize)> = Vec::new();
    let mut at_key_position = true;
    for token in tokens {
        match token.kind {
            TokenKind::Newline | TokenKind::LBrace | TokenKind::Comma => {
                at_key_position = true;
                continue;
            }
            TokenKind::Unquoted if at_key_position && is_scalar_prefixed(&token.value) => {
                if let Some(start) = byte_offset(text, &line_starts, token.line, token.col)
                    && text[start..].starts_with(&token.value)
                {
                    edits.push((start, start + token.value.len()));
                }
            }
            _ => {}
        }
        at_key_position = false;
    }
    if edits.is_empty() {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 2 * edits.len());
    let mut copied = 0;
    for (start, end) in edits {
        out.push_str(&text[copied..start]);
        out.push('"');
        out.push_str(&text[start..end]);
        out.push('"');
        copied = end;
    }
    out.push_str(&text[copied..]);
    Cow::Owned(out)
}

fn is_scalar_prefixed(key: &str) -> bool {
    SCALAR_PREFIXES.iter().any(|prefix| {
        key.strip_prefix(prefix)
            .and_then(|rest| rest.strip_prefix('.'))
            .is_some_and(|rest| !rest.is_empty() && !rest.ends_with('.'))
    })
}

/// The byte offset of 1-based `line` and character `column`.
fn byte_offset(text: &str, line_starts: &[usize], line: usize, column: usize) -> Option<usize> {
    let start = *line_starts.get(line.checked_sub(1)?)?;
    let skip = column.checked_sub(1)?;
    text[start..]
        .char_indices()
        .nth(skip)
        .map(|(offset, _)| start + offset)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rewrite(text: &str) -> String {
        let tokens = hocon::tokenize(text).unwrap();
        quote_scalar_prefixed_keys(text, &tokens).into_owned()
    }

    #[test]
    fn quotes_only_prefixed_keys() {
        assert_eq!(
            rewrite(
                "a {\n start_mode = timestamp\n  start_mode.timestamp = 5, x = start_mode.y\n}"
            ),
            "a {\n start_mode = timestamp\n  \"start_mode.timestamp\" = 5, x = start_mode.y\n}"
        );
        assert_eq!(
            rewrite("é = 1\nstart_mode.offsets = { t-0 = 1 }"),
            "é = 1\n\"start_mode.offsets\" = { t-0 = 1 }"
        );
        let unchanged = "start_mode = latest\nstart_modes.x = 1";
        assert!(matches!(
            quote_scalar_prefixed_keys(unchanged, &hocon::tokenize(unchanged).unwrap()),
            Cow::Borrowed(_)
        ));
    }

    #[test]
    fn both_values_survive_parsing() {
        let text = rewrite("start_mode = timestamp\nstart_mode.timestamp = 5\n");
        let parsed = hocon::parse(&text).unwrap();
        assert_eq!(
            parsed.get("start_mode").and_then(|v| v.as_str()),
            Some("timestamp")
        );
        assert!(
            parsed.keys().contains(&"start_mode.timestamp"),
            "{:?}",
            parsed.keys()
        );
    }
}
