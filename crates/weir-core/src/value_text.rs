//! Values → text, as SeaTunnel's formats write them, so that a job moved from SeaTunnel
//! writes the same files.
//!
//! - Text and CSV (SeaTunnel's `TextSerializationSchema`): null is empty; numbers as Java's
//!   `toString` (`1.0`, `1.0E10`, decimals as `BigDecimal.toString`); dates `yyyy-MM-dd`,
//!   times `HH:mm:ss`, timestamps `yyyy-MM-dd HH:mm:ss` (the file sinks' default
//!   `date_format` / `time_format` / `datetime_format`; fractions of a second are not
//!   written); bytes as their UTF-8 text; nested values joined by the level separators
//!   `\u{2}`, `\u{3}`, … (array elements and row fields one level down, a map's key and value
//!   two).
//! - JSON (SeaTunnel's `RowToJsonConverters`, through Jackson): numbers as Java writes them,
//!   decimals unquoted, bytes base64, dates ISO (`2024-01-31`), times and timestamps ISO with
//!   the fraction only when there is one (`10:11:12.5`, `2024-01-31T10:11:12`), arrays as
//!   arrays, maps and rows as objects (map keys as their text), NaN and infinities as the
//!   strings `"NaN"`, `"Infinity"`, `"-Infinity"` (Jackson's default).

use std::fmt::Write as _;

use base64::Engine as _;
use chrono::{NaiveDate, NaiveDateTime, NaiveTime, Timelike as _};

use crate::row::Value;
use crate::schema::DataType;

/// SeaTunnel's text separators of nested levels (`TextFormatConstant.SEPARATOR`); level 0 is
/// the sink's own `field_delimiter`.
pub const NESTED_SEPARATORS: [&str; 7] = [
    "\u{1}", "\u{2}", "\u{3}", "\u{4}", "\u{5}", "\u{6}", "\u{7}",
];

/// Appends `value` as text: the form of the text and csv file formats, partition directory
/// names and [`crate::row::Row::to_text`].
pub fn push_text(out: &mut String, value: &Value) {
    push_text_at(out, value, 0);
}

fn separator(level: usize) -> &'static str {
    NESTED_SEPARATORS[level.min(NESTED_SEPARATORS.len() - 1)]
}

fn push_text_at(out: &mut String, value: &Value, level: usize) {
    // `write!` into a String cannot fail; the fmt::Result is always Ok.
    let _ = match value {
        Value::Null => Ok(()),
        Value::Boolean(b) => write!(out, "{b}"),
        Value::Tinyint(n) => write!(out, "{n}"),
        Value::Smallint(n) => write!(out, "{n}"),
        Value::Int(n) => write!(out, "{n}"),
        Value::Bigint(n) => write!(out, "{n}"),
        Value::Float(f) => {
            push_java_float(out, *f);
            Ok(())
        }
        Value::Double(f) => {
            push_java_double(out, *f);
            Ok(())
        }
        Value::Decimal { unscaled, scale } => {
            push_decimal(out, *unscaled, *scale);
            Ok(())
        }
        Value::String(text) => {
            out.push_str(text);
            Ok(())
        }
        Value::Bytes(bytes) => {
            out.push_str(&String::from_utf8_lossy(bytes));
            Ok(())
        }
        Value::Date(date) => write!(out, "{}", date.format("%Y-%m-%d")),
        Value::Time(time) => write!(out, "{}", time.format("%H:%M:%S")),
        Value::Timestamp(at) => write!(out, "{}", at.format("%Y-%m-%d %H:%M:%S")),
        Value::Array(values) | Value::Row(values) => {
            for (position, element) in values.iter().enumerate() {
                if position > 0 {
                    out.push_str(separator(level + 1));
                }
                push_text_at(out, element, level + 1);
            }
            Ok(())
        }
        Value::Map(entries) => {
            for (position, (key, element)) in entries.iter().enumerate() {
                if position > 0 {
                    out.push_str(separator(level + 1));
                }
                push_text_at(out, key, level + 1);
                out.push_str(separator(level + 2));
                push_text_at(out, element, level + 1);
            }
            Ok(())
        }
    };
}

/// Appends `value` as JSON. `data_type` names a nested row's fields (without it, a row is
/// written as an array).
pub fn push_json_value(out: &mut String, value: &Value, data_type: Option<&DataType>) {
    match value {
        Value::Null => out.push_str("null"),
        Value::String(text) => push_json_string(out, text),
        Value::Bytes(bytes) => {
            out.push('"');
            base64::engine::general_purpose::STANDARD.encode_string(bytes, out);
            out.push('"');
        }
        Value::Float(f) if !f.is_finite() => push_json_non_finite(out, f64::from(*f)),
        Value::Double(f) if !f.is_finite() => push_json_non_finite(out, *f),
        Value::Date(date) => {
            out.push('"');
            push_iso_date(out, *date);
            out.push('"');
        }
        Value::Time(time) => {
            out.push('"');
            push_iso_time(out, *time);
            out.push('"');
        }
        Value::Timestamp(at) => {
            out.push('"');
            push_iso_timestamp(out, *at);
            out.push('"');
        }
        Value::Array(values) => {
            let element = match data_type {
                Some(DataType::Array(element)) => Some(element.as_ref()),
                _ => None,
            };
            out.push('[');
            for (position, item) in values.iter().enumerate() {
                if position > 0 {
                    out.push(',');
                }
                push_json_value(out, item, element);
            }
            out.push(']');
        }
        Value::Map(entries) => {
            let (key_type, value_type) = match data_type {
                Some(DataType::Map(key, value)) => (Some(key.as_ref()), Some(value.as_ref())),
                _ => (None, None),
            };
            out.push('{');
            for (position, (key, item)) in entries.iter().enumerate() {
                if position > 0 {
                    out.push(',');
                }
                push_json_string(out, &json_key(key, key_type));
                out.push(':');
                push_json_value(out, item, value_type);
            }
            out.push('}');
        }
        Value::Row(values) => match data_type {
            Some(DataType::Row(fields)) => {
                out.push('{');
                for (position, item) in values.iter().enumerate() {
                    if position > 0 {
                        out.push(',');
                    }
                    match fields.get(position) {
                        Some(field) => push_json_string(out, &field.name),
                        None => push_json_string(out, &format!("_{position}")),
                    }
                    out.push(':');
                    push_json_value(out, item, fields.get(position).map(|f| &f.data_type));
                }
                out.push('}');
            }
            _ => push_json_value(out, &Value::Array(values.clone()), None),
        },
        Value::Boolean(_)
        | Value::Tinyint(_)
        | Value::Smallint(_)
        | Value::Int(_)
        | Value::Bigint(_)
        | Value::Float(_)
        | Value::Double(_)
        | Value::Decimal { .. } => push_text(out, value),
    }
}

/// A map key as Jackson's `keyNode.isTextual() ? asText() : toString()`: strings, dates and
/// times bare, everything else as its JSON text.
fn json_key(key: &Value, key_type: Option<&DataType>) -> String {
    let mut text = String::new();
    match key {
        Value::String(key) => text.push_str(key),
        Value::Date(date) => push_iso_date(&mut text, *date),
        Value::Time(time) => push_iso_time(&mut text, *time),
        Value::Timestamp(at) => push_iso_timestamp(&mut text, *at),
        other => push_json_value(&mut text, other, key_type),
    }
    text
}

fn push_json_non_finite(out: &mut String, f: f64) {
    out.push_str(if f.is_nan() {
        "\"NaN\""
    } else if f > 0.0 {
        "\"Infinity\""
    } else {
        "\"-Infinity\""
    });
}

fn push_iso_date(out: &mut String, date: NaiveDate) {
    let _ = write!(out, "{}", date.format("%Y-%m-%d"));
}

/// `HH:mm:ss` and, when the nanoseconds are not zero, `.` and their digits without trailing
/// zeros (Java's `appendFraction(NANO_OF_SECOND, 0, 9, true)`).
fn push_iso_time(out: &mut String, time: NaiveTime) {
    let _ = write!(out, "{}", time.format("%H:%M:%S"));
    // A leap second (nanosecond ≥ 10⁹) has no Java form; its fraction is written as if it
    // were the last second.
    let nanos = time.nanosecond() % 1_000_000_000;
    if nanos > 0 {
        let digits = format!("{nanos:09}");
        out.push('.');
        out.push_str(digits.trim_end_matches('0'));
    }
}

fn push_iso_timestamp(out: &mut String, at: NaiveDateTime) {
    push_iso_date(out, at.date());
    out.push('T');
    push_iso_time(out, at.time());
}

/// Java's `Double.toString`: plain with at least one fractional digit for
/// 10⁻³ ≤ |f| < 10⁷, else `d.dddE±n`; shortest digits that read back as the same value.
pub fn push_java_double(out: &mut String, f: f64) {
    if f.is_nan() {
        out.push_str("NaN");
    } else if f.is_infinite() {
        out.push_str(if f > 0.0 { "Infinity" } else { "-Infinity" });
    } else if f == 0.0 || (1e-3..1e7).contains(&f.abs()) {
        push_plain(out, &format!("{f}"));
    } else {
        push_scientific(out, &format!("{f:e}"));
    }
}

/// Java's `Float.toString` (the same rules as [`push_java_double`], with `float` digits).
pub fn push_java_float(out: &mut String, f: f32) {
    if f.is_nan() {
        out.push_str("NaN");
    } else if f.is_infinite() {
        out.push_str(if f > 0.0 { "Infinity" } else { "-Infinity" });
    } else if f == 0.0 || (1e-3..1e7).contains(&f.abs()) {
        push_plain(out, &format!("{f}"));
    } else {
        push_scientific(out, &format!("{f:e}"));
    }
}

fn push_plain(out: &mut String, rust: &str) {
    out.push_str(rust);
    if !rust.contains('.') {
        out.push_str(".0");
    }
}

/// Rust's `1.5e-7` / `1e10` as Java's `1.5E-7` / `1.0E10`.
fn push_scientific(out: &mut String, rust: &str) {
    let (mantissa, exponent) = rust.split_once('e').unwrap_or((rust, "0"));
    out.push_str(mantissa);
    if !mantissa.contains('.') {
        out.push_str(".0");
    }
    out.push('E');
    out.push_str(exponent);
}

/// Java's `BigDecimal.toString` for `unscaled × 10^-scale`: plain unless the adjusted
/// exponent is below −6, then `d.dddE-n`.
pub fn push_decimal(out: &mut String, unscaled: i128, scale: u8) {
    let digits = unscaled.unsigned_abs().to_string();
    if unscaled < 0 {
        out.push('-');
    }
    let scale = usize::from(scale);
    let adjusted = digits.len() as i64 - 1 - scale as i64;
    if scale == 0 {
        out.push_str(&digits);
    } else if adjusted >= -6 {
        if digits.len() > scale {
            let (whole, fraction) = digits.split_at(digits.len() - scale);
            out.push_str(whole);
            out.push('.');
            out.push_str(fraction);
        } else {
            out.push_str("0.");
            out.extend(std::iter::repeat_n('0', scale - digits.len()));
            out.push_str(&digits);
        }
    } else {
        let (first, rest) = digits.split_at(1);
        out.push_str(first);
        if !rest.is_empty() {
            out.push('.');
            out.push_str(rest);
        }
        let _ = write!(out, "E{adjusted}");
    }
}

/// Appends `text` as a JSON string, escaped as serde_json escapes it.
pub fn push_json_string(out: &mut String, text: &str) {
    out.reserve(text.len() + 2);
    out.push('"');
    // Copies runs of bytes that need no escape in one go: this is the hot loop of every
    // JSON sink, and most text has nothing to escape. Escapes are all ASCII, so slicing at
    // their byte offsets stays on char boundaries.
    let mut run_start = 0;
    for (at, byte) in text.bytes().enumerate() {
        let escape = match byte {
            b'"' => "\\\"",
            b'\\' => "\\\\",
            b'\n' => "\\n",
            b'\r' => "\\r",
            b'\t' => "\\t",
            0..=0x1f => "",
            _ => continue,
        };
        out.push_str(&text[run_start..at]);
        if escape.is_empty() {
            // Writing to a String cannot fail.
            let _ = write!(out, "\\u{:04x}", byte);
        } else {
            out.push_str(escape);
        }
        run_start = at + 1;
    }
    out.push_str(&text[run_start..]);
    out.push('"');
}
