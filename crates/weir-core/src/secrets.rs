//! Which option values are secrets, and their redaction.
//!
//! One rule for every place that shows job text or options to someone: `weir job` for a viewer,
//! log lines, error messages. A key is secret when its last path segment (or the whole key)
//! contains one of [`SECRET_KEY_MARKERS`], case-insensitively: `sasl.password`,
//! `ssl.key.password`, `sasl.jaas.config`, `client_secret`, `auth_token` …

/// What a redacted value is shown as.
pub const REDACTED: &str = "******";

/// Substrings that make a key secret (compared in lower case).
pub const SECRET_KEY_MARKERS: [&str; 5] = ["password", "secret", "token", "sasl.jaas", "ssl.key"];

/// Whether the value of `key` (a dotted option path or a librdkafka property name) is a secret.
pub fn is_secret_key(key: &str) -> bool {
    let key = key.to_ascii_lowercase();
    SECRET_KEY_MARKERS.iter().any(|marker| key.contains(marker))
}

/// `value`, or [`REDACTED`] when `key` names a secret.
pub fn redact_value<'a>(key: &str, value: &'a str) -> &'a str {
    if is_secret_key(key) { REDACTED } else { value }
}

/// Job text (HOCON) with the value of every secret-looking key replaced by [`REDACTED`].
///
/// Works on lines, without parsing, so it also redacts text that does not parse: a line
/// `KEY = VALUE` or `KEY : VALUE` (the key possibly quoted) whose key is secret keeps its key
/// and loses everything after the separator up to the end of the line, a trailing comma or
/// closing brace aside. Values spanning lines (triple-quoted strings) lose their first line
/// only; Weir's own options never need them for secrets.
pub fn redact_job_text(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for line in text.split_inclusive('\n') {
        out.push_str(&redact_line(line));
    }
    out
}

/// The byte offset of the separator of a `KEY = VALUE` / `KEY : VALUE` line whose key is
/// secret; `None` for any other line.
fn secret_separator(line: &str) -> Option<usize> {
    let separator = line.find(['=', ':'])?;
    let key = line[..separator]
        .trim()
        .trim_matches(|c| c == '"' || c == '\'' || c == '{' || c == ',')
        .trim();
    (!key.is_empty() && is_secret_key(key)).then_some(separator)
}

/// The value of a job-text line `KEY = VALUE` whose key is secret (trimmed, without a trailing
/// comma or brace and without quotes), as [`redact_job_text`] would hide it; `None` for any
/// other line or an empty value.
pub fn secret_value_of_line(line: &str) -> Option<&str> {
    let separator = secret_separator(line)?;
    let value = line[separator + 1..]
        .trim()
        .trim_end_matches([',', '}'])
        .trim()
        .trim_matches(|c| c == '"' || c == '\'');
    (!value.is_empty()).then_some(value)
}

/// `message` (an error about the text `secret` came from) with every occurrence of `secret`
/// and every quoted fragment (`"…"`, `'…'`) replaced by [`REDACTED`]: parsers quote the
/// offending piece of a value, which for a secret option is a piece of the secret.
pub fn redact_message(message: &str, secret: &str) -> String {
    let message = if secret.is_empty() {
        message.to_string()
    } else {
        message.replace(secret, REDACTED)
    };
    let mut out = String::with_capacity(message.len());
    let mut rest = message.as_str();
    while let Some(open) = rest.find(['"', '\'']) {
        let quote = rest[open..].chars().next().unwrap_or('"');
        let Some(close) = rest[open + 1..].find(quote) else {
            break;
        };
        out.push_str(&rest[..open]);
        out.push(quote);
        out.push_str(REDACTED);
        out.push(quote);
        rest = &rest[open + 1 + close + 1..];
    }
    out.push_str(rest);
    out
}

fn redact_line(line: &str) -> std::borrow::Cow<'_, str> {
    let Some(separator) = secret_separator(line) else {
        return line.into();
    };
    let value_and_end = &line[separator + 1..];
    let keep_from = value_and_end
        .trim_end_matches(['\n', '\r'])
        .trim_end()
        .trim_end_matches([',', '}'])
        // The blank before a closing brace stays with it: `s3cr3t }` → `"******" }`.
        .trim_end()
        .len();
    let mut redacted = String::with_capacity(line.len());
    redacted.push_str(&line[..=separator]);
    redacted.push(' ');
    redacted.push('"');
    redacted.push_str(REDACTED);
    redacted.push('"');
    redacted.push_str(&value_and_end[keep_from..]);
    redacted.into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_keys_are_recognised_in_any_case() {
        for key in [
            "sasl.password",
            "ssl.key.password",
            "sasl.jaas.config",
            "ssl.keystore.password",
            "CLIENT_SECRET",
            "auth.Token",
            "source.Kafka.kafka.config.sasl.password",
            "ssl.key.pem",
        ] {
            assert!(is_secret_key(key), "{key}");
        }
        for key in [
            "sasl.username",
            "bootstrap.servers",
            "ssl.ca.location",
            "topic",
        ] {
            assert!(!is_secret_key(key), "{key}");
        }
    }

    #[test]
    fn job_text_loses_secret_values_and_keeps_the_rest() {
        let text = "source { Kafka {\n  topic = t\n  kafka.config = {\n    sasl.username = alice\n    sasl.password = \"hunter2\",\n    \"ssl.key.password\": s3cr3t }\n}}\n";
        let redacted = redact_job_text(text);
        assert!(!redacted.contains("hunter2"), "{redacted}");
        assert!(!redacted.contains("s3cr3t"), "{redacted}");
        assert!(redacted.contains("sasl.username = alice"), "{redacted}");
        assert!(
            redacted.contains("sasl.password = \"******\","),
            "{redacted}"
        );
        assert!(
            redacted.contains("\"ssl.key.password\": \"******\" }"),
            "{redacted}"
        );
        assert_eq!(redacted.lines().count(), text.lines().count());
    }

    #[test]
    fn secret_values_of_lines_are_found() {
        assert_eq!(
            secret_value_of_line("  sasl.password = \"hunter2\","),
            Some("hunter2")
        );
        assert_eq!(
            secret_value_of_line("\"ssl.key.password\": s3cr3t }"),
            Some("s3cr3t")
        );
        assert_eq!(secret_value_of_line("sasl.username = alice"), None);
        assert_eq!(secret_value_of_line("sasl.password ="), None);
        assert_eq!(secret_value_of_line("no separator"), None);
    }

    #[test]
    fn messages_lose_the_secret_and_quoted_fragments() {
        assert_eq!(
            redact_message(
                "reserved character '+' in \"hunter2+x\" (quote it)",
                "hunter2+x"
            ),
            "reserved character '******' in \"******\" (quote it)"
        );
        assert_eq!(
            redact_message("must be a string, found number 12345", "12345"),
            "must be a string, found number ******"
        );
        assert_eq!(
            redact_message("unterminated \"string", ""),
            "unterminated \"string"
        );
    }

    #[test]
    fn redact_value_hides_only_secrets() {
        assert_eq!(redact_value("sasl.password", "x"), REDACTED);
        assert_eq!(redact_value("group.id", "g"), "g");
    }
}
