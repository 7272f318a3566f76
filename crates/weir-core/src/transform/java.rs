//! What SeaTunnel's transforms inherit from Java's `String`: the replacement syntax of
//! `replaceAll` and the piece rules of `split(regex, limit)`.

use regex::Regex;

use crate::row::Value;

/// Translates a Java `replaceAll` replacement into the `regex` crate's syntax: `\x` is the
/// character `x`, `$n` group `n` (Java reads digits while the number stays a group of the
/// pattern), `${name}` a named group; a literal `$` becomes `$$`.
pub(super) fn replacement(java: &str, regex: &Regex) -> Result<String, String> {
    let groups = regex.captures_len().saturating_sub(1);
    let mut out = String::with_capacity(java.len());
    let mut chars = java.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' => match chars.next() {
                Some('$') => out.push_str("$$"),
                Some(escaped) => out.push(escaped),
                None => {
                    return Err("ends with a lone '\\' (write \"\\\\\\\\\" for a backslash)".into());
                }
            },
            '$' => match chars.next() {
                Some('{') => {
                    let mut name = String::new();
                    loop {
                        match chars.next() {
                            Some('}') => break,
                            Some(part) if part.is_ascii_alphanumeric() => name.push(part),
                            _ => {
                                return Err(format!(
                                    "has a group reference '${{{name}' that is not a name \
                                     closed by '}}'"
                                ));
                            }
                        }
                    }
                    if !regex.capture_names().flatten().any(|group| group == name) {
                        return Err(format!(
                            "refers to group '{name}', which the pattern does not name"
                        ));
                    }
                    out.push_str(&format!("${{{name}}}"));
                }
                Some(digit) if digit.is_ascii_digit() => {
                    let mut number = digit.to_digit(10).unwrap_or(0) as usize;
                    if number > groups {
                        return Err(format!(
                            "refers to group {number}, but the pattern has {groups} (write \
                             \"\\\\$\" for a dollar sign)"
                        ));
                    }
                    while let Some(next) = chars.peek().and_then(|next| next.to_digit(10)) {
                        let longer = number * 10 + next as usize;
                        if longer > groups {
                            break;
                        }
                        number = longer;
                        chars.next();
                    }
                    out.push_str(&format!("${{{number}}}"));
                }
                _ => {
                    return Err(
                        "has a '$' that starts no group reference (write \"\\\\$\" for a dollar \
                         sign)"
                            .into(),
                    );
                }
            },
            other => out.push(other),
        }
    }
    Ok(out)
}

/// `text.split(separator, pieces)` as Java does it, padded with nulls to `pieces` values:
/// at most `pieces` pieces, the last one the rest of the text; a zero-width match at the
/// start makes no empty first piece.
pub(super) fn split(separator: &Regex, text: &str, pieces: usize) -> Vec<Value> {
    let mut values = Vec::with_capacity(pieces);
    let mut start = 0;
    for found in separator.find_iter(text) {
        if values.len() + 1 >= pieces {
            break;
        }
        if found.end() == 0 {
            continue;
        }
        values.push(Value::String(text[start..found.start()].to_string()));
        start = found.end();
    }
    if pieces > 0 {
        values.push(Value::String(text[start..].to_string()));
    }
    values.resize(pieces, Value::Null);
    values
}
