//! FakeSource's `rows`: the literal rows SeaTunnel's FakeSource emits instead of generated
//! ones, `rows = [ { kind = INSERT, fields = [1, "a"] }, ... ]`, each value typed by the
//! schema as SeaTunnel's JSON reader types it (numbers and booleans also from strings,
//! decimals exact, bytes base64, dates `yyyy-MM-dd`, times `HH:mm:ss[.f]`, timestamps a date
//! and a time separated by `T` or a space, maps from objects, nested rows from lists or
//! objects).

use base64::Engine as _;
use chrono::{NaiveDate, NaiveDateTime, NaiveTime};
use hocon::{HoconValue, ScalarType};

use super::error::ConfigError;
use super::options::describe;
use super::section::{Context, join};
use crate::row::{Row, RowKind, Value};
use crate::schema::{DataType, Schema};

/// Most rows `rows` may list: they are held in memory by every subtask's configuration.
pub const MAX_FAKE_ROWS: usize = 10_000;

/// Removes `rows` from a FakeSource block, to be typed once the schema is known
/// ([`typed_rows`]).
pub(crate) fn take_rows(block: &HoconValue) -> (HoconValue, Option<HoconValue>) {
    let Some(entries) = block.as_object() else {
        return (block.clone(), None);
    };
    let mut kept = entries.clone();
    let rows = kept.shift_remove("rows");
    (HoconValue::Object(kept), rows)
}

/// The rows of `rows` (the option at `path`), in order, typed by `schema`; a wrong shape or
/// value is an error naming the option, its line and the row.
pub(crate) fn typed_rows(
    rows: &HoconValue,
    schema: &Schema,
    path: &str,
    ctx: &Context,
) -> Result<Vec<Row>, ConfigError> {
    let option = join(path, "rows");
    let invalid = |message: String| ctx.invalid(option.clone(), message);
    let HoconValue::Array(items) = rows else {
        return Err(invalid(format!(
            "must be a list of rows `[{{ kind = INSERT, fields = [...] }}]`, found {}",
            describe(rows)
        )));
    };
    if items.len() > MAX_FAKE_ROWS {
        return Err(invalid(format!(
            "lists {} rows, more than {MAX_FAKE_ROWS}: generate larger amounts with row.num",
            items.len()
        )));
    }
    let mut out = Vec::with_capacity(items.len());
    for (index, item) in items.iter().enumerate() {
        let number = index + 1;
        let Some(entries) = item.as_object() else {
            return Err(invalid(format!(
                "row {number} must be a block `{{ kind = INSERT, fields = [...] }}`, found {}",
                describe(item)
            )));
        };
        if let Some(unknown) = entries
            .keys()
            .find(|key| *key != "kind" && *key != "fields")
        {
            return Err(invalid(format!(
                "row {number} has an unknown key '{unknown}' (known: kind, fields)"
            )));
        }
        let kind = match entries.get("kind") {
            None => RowKind::Insert,
            Some(kind) => row_kind(kind).ok_or_else(|| {
                invalid(format!(
                    "row {number}: kind must be INSERT, UPDATE_BEFORE, UPDATE_AFTER or DELETE, \
                     found {}",
                    describe(kind)
                ))
            })?,
        };
        let Some(HoconValue::Array(fields)) = entries.get("fields") else {
            return Err(invalid(format!(
                "row {number} needs `fields = [...]`, one value per schema field"
            )));
        };
        if fields.len() != schema.fields.len() {
            return Err(invalid(format!(
                "row {number} has {} field values, but the schema has {} fields",
                fields.len(),
                schema.fields.len()
            )));
        }
        let values = schema
            .fields
            .iter()
            .zip(fields)
            .map(|(field, value)| {
                typed(value, &field.data_type).map_err(|found| {
                    invalid(format!(
                        "row {number}: field '{}' is {}, found {found}",
                        field.name, field.data_type
                    ))
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        out.push(Row::with_kind(values, kind));
    }
    Ok(out)
}

fn row_kind(value: &HoconValue) -> Option<RowKind> {
    let name = scalar(value)?;
    [
        RowKind::Insert,
        RowKind::UpdateBefore,
        RowKind::UpdateAfter,
        RowKind::Delete,
    ]
    .into_iter()
    .find(|kind| kind.name().eq_ignore_ascii_case(name.trim()) || kind.short_name() == name.trim())
}

/// The text of a scalar that is not null.
fn scalar(value: &HoconValue) -> Option<&str> {
    match value {
        HoconValue::Scalar(scalar) if scalar.value_type != ScalarType::Null => {
            Some(scalar.raw.as_str())
        }
        _ => None,
    }
}

fn is_null(value: &HoconValue) -> bool {
    matches!(value, HoconValue::Scalar(scalar) if scalar.value_type == ScalarType::Null)
}

/// One value typed by `data_type`; the error describes what was found.
fn typed(value: &HoconValue, data_type: &DataType) -> Result<Value, String> {
    if is_null(value) {
        return Ok(Value::Null);
    }
    let found = || describe(value);
    let text = scalar(value).map(str::trim);
    let converted = match (data_type, value) {
        (DataType::Null, _) => None,
        (DataType::String, _) => scalar(value).map(|text| Value::String(text.to_string())),
        (DataType::Boolean, _) => match text.map(str::to_ascii_lowercase).as_deref() {
            Some("true") => Some(Value::Boolean(true)),
            Some("false") => Some(Value::Boolean(false)),
            _ => None,
        },
        (DataType::Tinyint, _) => text.and_then(|t| t.parse().ok()).map(Value::Tinyint),
        (DataType::Smallint, _) => text.and_then(|t| t.parse().ok()).map(Value::Smallint),
        (DataType::Int, _) => text.and_then(|t| t.parse().ok()).map(Value::Int),
        (DataType::Bigint, _) => text.and_then(|t| t.parse().ok()).map(Value::Bigint),
        (DataType::Float, _) => text.and_then(|t| t.parse().ok()).map(Value::Float),
        (DataType::Double, _) => text.and_then(|t| t.parse().ok()).map(Value::Double),
        (DataType::Decimal { precision, scale }, _) => {
            text.and_then(|t| decimal(t, *precision, *scale))
        }
        (DataType::Bytes, _) => text.and_then(|t| {
            base64::engine::general_purpose::STANDARD
                .decode(t)
                .ok()
                .map(Value::Bytes)
        }),
        (DataType::Date, _) => text
            .and_then(|t| NaiveDate::parse_from_str(t, "%Y-%m-%d").ok())
            .map(Value::Date),
        (DataType::Time, _) => text.and_then(time).map(Value::Time),
        (DataType::Timestamp, _) => text
            .and_then(|t| {
                let (date, rest) = t.split_once(['T', ' '])?;
                let date = NaiveDate::parse_from_str(date, "%Y-%m-%d").ok()?;
                Some(NaiveDateTime::new(date, time(rest)?))
            })
            .map(Value::Timestamp),
        (DataType::Array(element), HoconValue::Array(items)) => {
            return items
                .iter()
                .map(|item| typed(item, element))
                .collect::<Result<Vec<_>, _>>()
                .map(Value::Array);
        }
        (DataType::Map(key_type, value_type), HoconValue::Object(entries)) => {
            return entries
                .iter()
                .map(|(key, item)| {
                    let key = typed(
                        &HoconValue::Scalar(hocon::ScalarValue::new(
                            key.clone(),
                            ScalarType::String,
                        )),
                        key_type,
                    )?;
                    Ok((key, typed(item, value_type)?))
                })
                .collect::<Result<Vec<_>, String>>()
                .map(Value::Map);
        }
        (DataType::Row(fields), HoconValue::Array(items)) if items.len() == fields.len() => {
            return fields
                .iter()
                .zip(items)
                .map(|(field, item)| typed(item, &field.data_type))
                .collect::<Result<Vec<_>, _>>()
                .map(Value::Row);
        }
        (DataType::Row(fields), HoconValue::Object(entries)) => {
            if let Some(unknown) = entries
                .keys()
                .find(|key| !fields.iter().any(|field| field.name == **key))
            {
                return Err(format!("a row with the unknown field '{unknown}'"));
            }
            return fields
                .iter()
                .map(|field| match entries.get(&field.name) {
                    None => Ok(Value::Null),
                    Some(item) => typed(item, &field.data_type),
                })
                .collect::<Result<Vec<_>, _>>()
                .map(Value::Row);
        }
        _ => None,
    };
    converted.ok_or_else(found)
}

fn time(text: &str) -> Option<NaiveTime> {
    NaiveTime::parse_from_str(text, "%H:%M:%S%.f")
        .or_else(|_| NaiveTime::parse_from_str(text, "%H:%M"))
        .ok()
}

/// `text` as a decimal of at most `precision` digits, `scale` of them after the point: more
/// fraction digits than `scale` are refused, not rounded, so no value changes silently.
fn decimal(text: &str, precision: u8, scale: u8) -> Option<Value> {
    let (negative, digits) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text.strip_prefix('+').unwrap_or(text)),
    };
    let (whole, fraction) = digits.split_once('.').unwrap_or((digits, ""));
    let fraction = fraction.trim_end_matches('0');
    if (whole.is_empty() && fraction.is_empty())
        || !whole
            .chars()
            .chain(fraction.chars())
            .all(|c| c.is_ascii_digit())
        || fraction.len() > usize::from(scale)
    {
        return None;
    }
    let whole = whole.trim_start_matches('0');
    if whole.len() + usize::from(scale) > usize::from(precision) {
        return None;
    }
    let mut unscaled: i128 = 0;
    let padding = usize::from(scale) - fraction.len();
    for c in whole
        .chars()
        .chain(fraction.chars())
        .chain(std::iter::repeat_n('0', padding))
    {
        unscaled = unscaled
            .checked_mul(10)?
            .checked_add(i128::from(c.to_digit(10)?))?;
    }
    Some(Value::Decimal {
        unscaled: if negative { -unscaled } else { unscaled },
        scale,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimals_keep_their_digits_and_refuse_what_does_not_fit() {
        assert_eq!(
            decimal("2924137191386439303744.39292216", 30, 8),
            Some(Value::Decimal {
                unscaled: 292_413_719_138_643_930_374_439_292_216,
                scale: 8
            })
        );
        assert_eq!(
            decimal("-1.5", 5, 2),
            Some(Value::Decimal {
                unscaled: -150,
                scale: 2
            })
        );
        assert_eq!(decimal("1.234", 5, 2), None);
        assert_eq!(decimal("1234", 5, 2), None);
        assert_eq!(decimal("1e3", 5, 0), None);
    }
}
