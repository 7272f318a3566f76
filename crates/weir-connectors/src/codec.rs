//! One field's value from JSON or text, for every SeaTunnel type, as SeaTunnel's
//! `JsonToRowConverters` and `TextDeserializationSchema` read them: numbers and booleans
//! also from strings; decimals exact (at most the type's precision and scale); dates
//! `yyyy-MM-dd` (also with `/` or `.`, or `yyyyMMdd`), times `HH:mm[:ss[.f]]`, timestamps a
//! date and a time separated by a space or `T`; JSON arrays, objects for maps and rows; in
//! text, nested values split by the level separators `\u{2}`, `\u{3}`, … (see
//! `weir_core::value_text`).

use base64::Engine as _;
use chrono::{NaiveDate, NaiveDateTime, NaiveTime};
use serde_json::Value as Json;
use weir_core::row::Value;
use weir_core::schema::DataType;
use weir_core::value_text::NESTED_SEPARATORS;

/// Converts one JSON value; the error describes what was found.
pub(crate) fn from_json(value: Json, data_type: &DataType) -> Result<Value, String> {
    if value.is_null() || *data_type == DataType::Null {
        return Ok(Value::Null);
    }
    if *data_type == DataType::String {
        // The parsed string is moved, not copied: it is most of a typical record's bytes.
        return Ok(Value::String(match value {
            Json::String(text) => text,
            // Any other JSON value in a string field is kept as its JSON text (SeaTunnel does).
            other => other.to_string(),
        }));
    }
    let converted = match (&value, data_type) {
        (Json::Bool(flag), DataType::Boolean) => Some(Value::Boolean(*flag)),
        (Json::Number(number), DataType::Tinyint) => number
            .as_i64()
            .and_then(|n| i8::try_from(n).ok())
            .map(Value::Tinyint),
        (Json::Number(number), DataType::Smallint) => number
            .as_i64()
            .and_then(|n| i16::try_from(n).ok())
            .map(Value::Smallint),
        (Json::Number(number), DataType::Int) => number
            .as_i64()
            .and_then(|n| i32::try_from(n).ok())
            .map(Value::Int),
        (Json::Number(number), DataType::Bigint) => number.as_i64().map(Value::Bigint),
        (Json::Number(number), DataType::Float) => number.as_f64().map(|n| Value::Float(n as f32)),
        (Json::Number(number), DataType::Double) => number.as_f64().map(Value::Double),
        (Json::Number(number), DataType::Decimal { precision, scale }) => {
            parse_decimal(&number.to_string(), *precision, *scale)
        }
        (Json::String(text), DataType::Bytes) => base64::engine::general_purpose::STANDARD
            .decode(text.trim())
            .ok()
            .map(Value::Bytes),
        (Json::Array(items), DataType::Array(element)) => items
            .iter()
            .map(|item| from_json(item.clone(), element).ok())
            .collect::<Option<Vec<_>>>()
            .map(Value::Array),
        (Json::Object(entries), DataType::Map(key_type, value_type)) => entries
            .iter()
            .map(|(key, item)| {
                let key = from_text_at(key, key_type, 1).ok()?;
                Some((key, from_json(item.clone(), value_type).ok()?))
            })
            .collect::<Option<Vec<_>>>()
            .map(Value::Map),
        (Json::Object(entries), DataType::Row(fields)) => fields
            .iter()
            .map(|field| match entries.get(&field.name) {
                None => Some(Value::Null),
                Some(item) => from_json(item.clone(), &field.data_type).ok(),
            })
            .collect::<Option<Vec<_>>>()
            .map(Value::Row),
        // Numbers, booleans, decimals, dates and times written as strings parse like text.
        (Json::String(text), _) if !text.trim().is_empty() => from_text(text, data_type).ok(),
        _ => None,
    };
    converted.ok_or_else(|| describe(&value))
}

/// Converts one text field. Empty is null for every type but `string`.
pub(crate) fn from_text(text: &str, data_type: &DataType) -> Result<Value, ()> {
    from_text_at(text, data_type, 0)
}

/// `level` is the nesting of `text`: its elements are split by separator `level + 1`.
fn from_text_at(text: &str, data_type: &DataType, level: usize) -> Result<Value, ()> {
    if *data_type == DataType::String {
        return Ok(Value::String(text.to_string()));
    }
    let trimmed = text.trim();
    if trimmed.is_empty() || *data_type == DataType::Null {
        return Ok(Value::Null);
    }
    let separator = |at: usize| NESTED_SEPARATORS[at.min(NESTED_SEPARATORS.len() - 1)];
    let parsed = match data_type {
        DataType::Boolean => match trimmed.to_ascii_lowercase().as_str() {
            "true" => Some(Value::Boolean(true)),
            "false" => Some(Value::Boolean(false)),
            _ => None,
        },
        DataType::Tinyint => trimmed.parse().ok().map(Value::Tinyint),
        DataType::Smallint => trimmed.parse().ok().map(Value::Smallint),
        DataType::Int => trimmed.parse().ok().map(Value::Int),
        DataType::Bigint => trimmed.parse().ok().map(Value::Bigint),
        DataType::Float => trimmed.parse().ok().map(Value::Float),
        DataType::Double => trimmed.parse().ok().map(Value::Double),
        DataType::Decimal { precision, scale } => parse_decimal(trimmed, *precision, *scale),
        DataType::Bytes => Some(Value::Bytes(text.as_bytes().to_vec())),
        DataType::String | DataType::Null => None,
        DataType::Date => parse_date(trimmed).map(Value::Date),
        DataType::Time => parse_time(trimmed).map(Value::Time),
        DataType::Timestamp => parse_timestamp(trimmed).map(Value::Timestamp),
        DataType::Array(element) => text
            .split(separator(level + 1))
            .map(|item| from_text_at(item, element, level + 1).ok())
            .collect::<Option<Vec<_>>>()
            .map(Value::Array),
        DataType::Map(key_type, value_type) => text
            .split(separator(level + 1))
            .map(|entry| {
                let (key, item) = entry.split_once(separator(level + 2))?;
                Some((
                    from_text_at(key, key_type, level + 1).ok()?,
                    from_text_at(item, value_type, level + 1).ok()?,
                ))
            })
            .collect::<Option<Vec<_>>>()
            .map(Value::Map),
        DataType::Row(fields) => {
            let parts: Vec<&str> = text.split(separator(level + 1)).collect();
            (parts.len() <= fields.len())
                .then(|| {
                    fields
                        .iter()
                        .enumerate()
                        .map(|(at, field)| match parts.get(at) {
                            None => Some(Value::Null),
                            Some(part) => from_text_at(part, &field.data_type, level + 1).ok(),
                        })
                        .collect::<Option<Vec<_>>>()
                })
                .flatten()
                .map(Value::Row)
        }
    };
    parsed.ok_or(())
}

/// A decimal literal (`-12.5`, `1e3`) as `unscaled × 10^-scale`; `None` when it has more
/// digits after the point than `scale`, or more than `precision` in all.
fn parse_decimal(text: &str, precision: u8, scale: u8) -> Option<Value> {
    let (mantissa, exponent) = match text.split_once(['e', 'E']) {
        Some((mantissa, exponent)) => (mantissa, exponent.parse::<i32>().ok()?),
        None => (text, 0),
    };
    let (negative, digits) = match mantissa.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, mantissa.strip_prefix('+').unwrap_or(mantissa)),
    };
    let (whole, fraction) = digits.split_once('.').unwrap_or((digits, ""));
    if whole.is_empty() && fraction.is_empty()
        || !whole
            .chars()
            .chain(fraction.chars())
            .all(|c| c.is_ascii_digit())
    {
        return None;
    }
    // Digits after the point once the exponent is applied.
    let fraction_digits = i32::try_from(fraction.len()).ok()? - exponent;
    let all: String = format!("{whole}{fraction}");
    let all = all.trim_start_matches('0');
    let shift = i32::from(scale) - fraction_digits;
    let unscaled_digits = if shift >= 0 {
        format!("{all}{}", "0".repeat(shift as usize))
    } else {
        // More digits after the point than the scale: only zeros may be dropped.
        let cut = all.len().checked_sub((-shift) as usize)?;
        if !all[cut..].chars().all(|c| c == '0') {
            return None;
        }
        all[..cut].to_string()
    };
    let unscaled_digits = unscaled_digits.trim_start_matches('0');
    if unscaled_digits.len() > usize::from(precision) {
        return None;
    }
    let magnitude: i128 = if unscaled_digits.is_empty() {
        0
    } else {
        unscaled_digits.parse().ok()?
    };
    Some(Value::Decimal {
        unscaled: if negative { -magnitude } else { magnitude },
        scale,
    })
}

fn parse_date(text: &str) -> Option<NaiveDate> {
    ["%Y-%m-%d", "%Y/%m/%d", "%Y.%m.%d", "%Y%m%d"]
        .iter()
        .find_map(|format| NaiveDate::parse_from_str(text, format).ok())
}

fn parse_time(text: &str) -> Option<NaiveTime> {
    ["%H:%M:%S%.f", "%H:%M"]
        .iter()
        .find_map(|format| NaiveTime::parse_from_str(text, format).ok())
}

fn parse_timestamp(text: &str) -> Option<NaiveDateTime> {
    if let Some(at) = text.find([' ', 'T']) {
        let date = parse_date(&text[..at])?;
        let time = parse_time(text[at + 1..].trim_end_matches('Z'))?;
        return Some(date.and_time(time));
    }
    NaiveDateTime::parse_from_str(text, "%Y%m%d%H%M%S").ok()
}

/// What a JSON value is, shortly, for error messages.
pub(crate) fn describe(value: &Json) -> String {
    let text = value.to_string();
    let short: String = text.chars().take(40).collect();
    let ellipsis = if short.len() < text.len() { "…" } else { "" };
    let kind = match value {
        Json::Null => "null",
        Json::Bool(_) => "boolean",
        Json::Number(_) => "number",
        Json::String(_) => "string",
        Json::Array(_) => "array",
        Json::Object(_) => "object",
    };
    format!("{kind} {short}{ellipsis}")
}

#[cfg(test)]
mod tests {
    use weir_core::schema::Field;

    use super::*;

    fn date(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).unwrap()
    }

    #[test]
    fn small_integers_in_range_only() {
        assert_eq!(
            from_json(Json::from(-128), &DataType::Tinyint),
            Ok(Value::Tinyint(-128))
        );
        assert!(from_json(Json::from(128), &DataType::Tinyint).is_err());
        assert_eq!(
            from_text("300", &DataType::Smallint),
            Ok(Value::Smallint(300))
        );
        assert!(from_text("40000", &DataType::Smallint).is_err());
    }

    #[test]
    fn decimals_are_exact_within_precision_and_scale() {
        let d = DataType::Decimal {
            precision: 10,
            scale: 2,
        };
        let value = |unscaled| Value::Decimal { unscaled, scale: 2 };
        assert_eq!(from_text("12.5", &d), Ok(value(1250)));
        assert_eq!(from_text("-0.01", &d), Ok(value(-1)));
        assert_eq!(from_text("1.500", &d), Ok(value(150)));
        assert_eq!(from_json(serde_json::json!(3), &d), Ok(value(300)));
        assert_eq!(from_json(serde_json::json!("1e2"), &d), Ok(value(10000)));
        assert!(
            from_text("1.005", &d).is_err(),
            "more digits than the scale"
        );
        assert!(from_text("123456789", &d).is_err(), "more than 10 digits");
        assert!(from_text("1.2.3", &d).is_err());
    }

    #[test]
    fn dates_times_and_timestamps_in_seatunnels_forms() {
        assert_eq!(
            from_text("2024-01-31", &DataType::Date),
            Ok(Value::Date(date(2024, 1, 31)))
        );
        assert_eq!(
            from_text("2024/01/31", &DataType::Date),
            Ok(Value::Date(date(2024, 1, 31)))
        );
        assert_eq!(
            from_text("10:11:12.5", &DataType::Time),
            Ok(Value::Time(
                NaiveTime::from_hms_milli_opt(10, 11, 12, 500).unwrap()
            ))
        );
        let at = date(2024, 1, 31).and_hms_opt(10, 11, 12).unwrap();
        for text in [
            "2024-01-31 10:11:12",
            "2024-01-31T10:11:12",
            "20240131101112",
        ] {
            assert_eq!(
                from_text(text, &DataType::Timestamp),
                Ok(Value::Timestamp(at)),
                "{text}"
            );
        }
        assert!(from_text("2024-02-30", &DataType::Date).is_err());
    }

    #[test]
    fn nested_values_from_json_and_text() {
        let row = DataType::Row(vec![
            Field {
                name: "a".into(),
                data_type: DataType::Int,
            },
            Field {
                name: "b".into(),
                data_type: DataType::Array(Box::new(DataType::String)),
            },
        ]);
        let map = DataType::Map(Box::new(DataType::Int), Box::new(row.clone()));
        let json = serde_json::json!({"1": {"a": 5, "b": ["x", "y"]}, "2": {}});
        let expected = Value::Map(vec![
            (
                Value::Int(1),
                Value::Row(vec![
                    Value::Int(5),
                    Value::Array(vec![Value::String("x".into()), Value::String("y".into())]),
                ]),
            ),
            (Value::Int(2), Value::Row(vec![Value::Null, Value::Null])),
        ]);
        assert_eq!(from_json(json, &map), Ok(expected));
        assert_eq!(
            from_text("1\u{2}2\u{2}3", &DataType::Array(Box::new(DataType::Int))),
            Ok(Value::Array(vec![
                Value::Int(1),
                Value::Int(2),
                Value::Int(3)
            ]))
        );
        let map = DataType::Map(Box::new(DataType::String), Box::new(DataType::Bigint));
        assert_eq!(
            from_text("k\u{3}1\u{2}j\u{3}2", &map),
            Ok(Value::Map(vec![
                (Value::String("k".into()), Value::Bigint(1)),
                (Value::String("j".into()), Value::Bigint(2)),
            ]))
        );
        assert!(
            from_json(
                serde_json::json!([1, "x"]),
                &DataType::Array(Box::new(DataType::Int))
            )
            .is_err()
        );
    }

    #[test]
    fn null_type_and_json_null_are_null() {
        assert_eq!(from_json(Json::from(1), &DataType::Null), Ok(Value::Null));
        assert_eq!(from_json(Json::Null, &DataType::Int), Ok(Value::Null));
    }
}
