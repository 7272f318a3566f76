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
    // Copies runs of bytes that need no escape in one go, found eight bytes at a time: this is
    // the hot loop of every JSON sink (16 % of the worker's CPU in the 1 KiB throughput
    // benchmark when it went byte by byte; 7× faster on a 1 000-byte string this way). Escapes
    // are all ASCII, so slicing at their byte offsets stays on char boundaries.
    let bytes = text.as_bytes();
    let mut run_start = 0;
    while let Some(at) = next_json_escape(bytes, run_start) {
        out.push_str(&text[run_start..at]);
        match bytes[at] {
            b'"' => out.push_str("\\\""),
            b'\\' => out.push_str("\\\\"),
            b'\n' => out.push_str("\\n"),
            b'\r' => out.push_str("\\r"),
            b'\t' => out.push_str("\\t"),
            0x08 => out.push_str("\\b"),
            0x0c => out.push_str("\\f"),
            // Writing to a String cannot fail.
            control => {
                let _ = write!(out, "\\u{:04x}", control);
            }
        }
        run_start = at + 1;
    }
    out.push_str(&text[run_start..]);
    out.push('"');
}

const ONES: u64 = 0x0101_0101_0101_0101;
const HIGH_BITS: u64 = 0x8080_8080_8080_8080;

/// The offset of the first byte at or after `from` that JSON must escape: `"`, `\` or a
/// control character below 0x20.
fn next_json_escape(bytes: &[u8], from: usize) -> Option<usize> {
    let mut at = from;
    while let Some(chunk) = bytes.get(at..at + 8) {
        let mut word = [0; 8];
        word.copy_from_slice(chunk);
        if let Some(offset) = first_json_escape(u64::from_le_bytes(word)) {
            return Some(at + offset);
        }
        at += 8;
    }
    bytes
        .get(at..)?
        .iter()
        .position(|byte| matches!(byte, b'"' | b'\\' | 0..=0x1f))
        .map(|offset| at + offset)
}

/// The index of the first of eight bytes (little-endian) that JSON must escape. The usual
/// "has a zero byte" arithmetic: a byte flags itself exactly when it matches, and a borrow can
/// flag only bytes above a matching one, so the lowest flag is always a true match. Bytes of
/// 0x80 and above (UTF-8 beyond ASCII) never match.
fn first_json_escape(word: u64) -> Option<usize> {
    let zero_byte = |value: u64| value.wrapping_sub(ONES) & !value;
    let control = word.wrapping_sub(ONES * 0x20) & !word;
    let quote = zero_byte(word ^ (ONES * u64::from(b'"')));
    let backslash = zero_byte(word ^ (ONES * u64::from(b'\\')));
    let flags = (control | quote | backslash) & HIGH_BITS;
    (flags != 0).then(|| (flags.trailing_zeros() / 8) as usize)
}

/// One test per type: the text (text and csv formats) and JSON that SeaTunnel's
/// `TextSerializationSchema` and `RowToJsonConverters` write for the same value (Java's
/// `toString` of the boxed value, `BigDecimal.toString`, the file sinks' default date and
/// time formats, ISO forms and base64 bytes in JSON).
#[cfg(test)]
mod tests {
    use chrono::{NaiveDate, NaiveTime};

    use super::*;
    use crate::schema::Field;

    fn text(value: &Value) -> String {
        let mut out = String::new();
        push_text(&mut out, value);
        out
    }

    fn json(value: &Value, data_type: &DataType) -> String {
        let mut out = String::new();
        push_json_value(&mut out, value, Some(data_type));
        out
    }

    fn both(value: Value, data_type: DataType) -> (String, String) {
        (text(&value), json(&value, &data_type))
    }

    #[test]
    fn json_strings_are_escaped_as_serde_json_escapes_them() {
        let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        let alphabet: Vec<char> = ('\u{0}'..='\u{7f}')
            .chain(['é', 'ß', '€', '😀', '\u{80}', '\u{2028}'])
            .collect();
        for _ in 0..20_000 {
            let len = (next() % 40) as usize;
            let text: String = (0..len)
                .map(|_| alphabet[(next() % alphabet.len() as u64) as usize])
                .collect();
            let mut out = String::new();
            push_json_string(&mut out, &text);
            assert_eq!(out, serde_json::to_string(&text).unwrap(), "{text:?}");
        }
        let long = "a".repeat(1000) + "\"" + &"b".repeat(17);
        let mut out = String::new();
        push_json_string(&mut out, &long);
        assert_eq!(out, serde_json::to_string(&long).unwrap());
    }

    #[test]
    fn tinyint_smallint_int_bigint() {
        assert_eq!(
            both(Value::Tinyint(-128), DataType::Tinyint),
            ("-128".into(), "-128".into())
        );
        assert_eq!(
            both(Value::Smallint(32767), DataType::Smallint),
            ("32767".into(), "32767".into())
        );
        assert_eq!(
            both(Value::Int(-7), DataType::Int),
            ("-7".into(), "-7".into())
        );
        assert_eq!(
            both(Value::Bigint(i64::MAX), DataType::Bigint),
            ("9223372036854775807".into(), "9223372036854775807".into())
        );
    }

    #[test]
    fn float_and_double_as_java_writes_them() {
        for (value, expected) in [
            (1.0, "1.0"),
            (0.5, "0.5"),
            (100.25, "100.25"),
            (1.0e7, "1.0E7"),
            (1.234e10, "1.234E10"),
            (0.001, "0.001"),
            (1.0e-4, "1.0E-4"),
            (-2.5e-7, "-2.5E-7"),
            (0.0, "0.0"),
        ] {
            assert_eq!(both(Value::Double(value), DataType::Double).0, expected);
            assert_eq!(both(Value::Double(value), DataType::Double).1, expected);
        }
        assert_eq!(text(&Value::Float(1.1)), "1.1");
        assert_eq!(text(&Value::Float(3.0e8)), "3.0E8");
        assert_eq!(text(&Value::Double(f64::NAN)), "NaN");
        assert_eq!(
            json(&Value::Double(f64::NEG_INFINITY), &DataType::Double),
            "\"-Infinity\""
        );
    }

    #[test]
    fn decimal_as_bigdecimal_to_string() {
        let d = DataType::Decimal {
            precision: 38,
            scale: 2,
        };
        let dec = |unscaled, scale| Value::Decimal { unscaled, scale };
        assert_eq!(
            both(dec(1250, 2), d.clone()),
            ("12.50".into(), "12.50".into())
        );
        assert_eq!(text(&dec(-5, 2)), "-0.05");
        assert_eq!(text(&dec(42, 0)), "42");
        assert_eq!(text(&dec(1, 7)), "1E-7");
        assert_eq!(text(&dec(12, 8)), "1.2E-7");
        assert_eq!(text(&dec(123, 6)), "0.000123");
        assert_eq!(
            text(&dec(i128::from(i64::MAX) * 1000, 3)),
            "9223372036854775807.000"
        );
    }

    #[test]
    fn boolean_and_string() {
        assert_eq!(
            both(Value::Boolean(true), DataType::Boolean),
            ("true".into(), "true".into())
        );
        assert_eq!(
            both(Value::String("a\"b".into()), DataType::String),
            ("a\"b".into(), r#""a\"b""#.into())
        );
    }

    #[test]
    fn bytes_as_utf8_text_and_base64_json() {
        assert_eq!(
            both(Value::Bytes(b"hi".to_vec()), DataType::Bytes),
            ("hi".into(), "\"aGk=\"".into())
        );
    }

    #[test]
    fn date_time_and_timestamp() {
        let date = NaiveDate::from_ymd_opt(2024, 1, 31).unwrap();
        assert_eq!(
            both(Value::Date(date), DataType::Date),
            ("2024-01-31".into(), "\"2024-01-31\"".into())
        );
        let time = NaiveTime::from_hms_milli_opt(10, 11, 12, 500).unwrap();
        assert_eq!(
            both(Value::Time(time), DataType::Time),
            ("10:11:12".into(), "\"10:11:12.5\"".into())
        );
        let whole = NaiveTime::from_hms_opt(10, 11, 0).unwrap();
        assert_eq!(json(&Value::Time(whole), &DataType::Time), "\"10:11:00\"");
        let at = date.and_time(NaiveTime::from_hms_micro_opt(1, 2, 3, 120).unwrap());
        assert_eq!(
            both(Value::Timestamp(at), DataType::Timestamp),
            (
                "2024-01-31 01:02:03".into(),
                "\"2024-01-31T01:02:03.00012\"".into()
            )
        );
    }

    #[test]
    fn null_and_the_null_type() {
        assert_eq!(
            both(Value::Null, DataType::Null),
            ("".into(), "null".into())
        );
        assert_eq!(both(Value::Null, DataType::Int), ("".into(), "null".into()));
    }

    #[test]
    fn array_map_and_row() {
        let array = Value::Array(vec![Value::Int(1), Value::Null, Value::Int(3)]);
        assert_eq!(
            both(array, DataType::Array(Box::new(DataType::Int))),
            ("1\u{2}\u{2}3".into(), "[1,null,3]".into())
        );
        let map = Value::Map(vec![
            (Value::Int(1), Value::String("a".into())),
            (Value::Int(2), Value::String("b".into())),
        ]);
        assert_eq!(
            both(
                map,
                DataType::Map(Box::new(DataType::Int), Box::new(DataType::String))
            ),
            ("1\u{3}a\u{2}2\u{3}b".into(), r#"{"1":"a","2":"b"}"#.into())
        );
        let row_type = DataType::Row(vec![
            Field {
                name: "x".into(),
                data_type: DataType::Int,
            },
            Field {
                name: "tags".into(),
                data_type: DataType::Array(Box::new(DataType::String)),
            },
        ]);
        let row = Value::Row(vec![
            Value::Int(7),
            Value::Array(vec![Value::String("p".into()), Value::String("q".into())]),
        ]);
        assert_eq!(
            both(row, row_type),
            ("7\u{2}p\u{3}q".into(), r#"{"x":7,"tags":["p","q"]}"#.into())
        );
    }
}
