//! Row values → Arrow arrays, one column at a time, and the Arrow type of each column type.
//!
//! The Parquet types follow SeaTunnel's mapping (its file connector's Parquet writer):
//! `string` → BYTE_ARRAY (UTF8), `bytes` → BYTE_ARRAY, `boolean` → BOOLEAN, `tinyint` and
//! `smallint` → INT32 (INT(8) / INT(16)), `int` → INT32, `bigint` → INT64, `float` → FLOAT,
//! `double` → DOUBLE, `decimal(p, s)` → DECIMAL(p, s), `date` → INT32 (DATE), `array` → LIST,
//! `map` → MAP, `row` → a group of its fields. Where SeaTunnel differs, Weir keeps the value
//! whole: `timestamp` → INT64 TIMESTAMP(MICROS, not adjusted to UTC) (SeaTunnel: millis, shifted
//! by the JVM's zone), `time` → INT64 TIME(MICROS) and `null` → a column of nulls (SeaTunnel
//! refuses both). Every column is optional (nullable); map keys are required, as Parquet demands.

use std::sync::Arc;

use arrow_array::builder::{BinaryBuilder, StringBuilder};
use arrow_array::{
    ArrayRef, BooleanArray, Date32Array, Decimal128Array, Float32Array, Float64Array, Int8Array,
    Int16Array, Int32Array, Int64Array, ListArray, MapArray, NullArray, StructArray,
    Time64MicrosecondArray, TimestampMicrosecondArray,
};
use arrow_buffer::{NullBuffer, OffsetBuffer};
use arrow_schema::{DataType as ArrowType, Field as ArrowField, Fields, TimeUnit};
use chrono::{NaiveDate, Timelike as _};
use weir_core::row::Value;
use weir_core::schema::DataType;

use super::parquet::ParquetWriteError;

/// The widest decimal Arrow's `Decimal128` (and so this writer) holds.
const MAX_DECIMAL_PRECISION: u8 = 38;

/// The Arrow type a column of `data_type` is written as; an error names what Parquet cannot
/// hold (a decimal wider than 38 digits).
pub(super) fn arrow_type(name: &str, data_type: &DataType) -> Result<ArrowType, ParquetWriteError> {
    Ok(match data_type {
        DataType::String => ArrowType::Utf8,
        DataType::Boolean => ArrowType::Boolean,
        DataType::Tinyint => ArrowType::Int8,
        DataType::Smallint => ArrowType::Int16,
        DataType::Int => ArrowType::Int32,
        DataType::Bigint => ArrowType::Int64,
        DataType::Float => ArrowType::Float32,
        DataType::Double => ArrowType::Float64,
        DataType::Bytes => ArrowType::Binary,
        DataType::Decimal { precision, scale } => {
            if *precision == 0 || *precision > MAX_DECIMAL_PRECISION || scale > precision {
                return Err(ParquetWriteError::Unsupported {
                    column: name.to_string(),
                    reason: format!(
                        "{data_type}: Parquet decimals here have 1 to \
                         {MAX_DECIMAL_PRECISION} digits and a scale of at most the precision"
                    ),
                });
            }
            ArrowType::Decimal128(*precision, *scale as i8)
        }
        DataType::Date => ArrowType::Date32,
        DataType::Time => ArrowType::Time64(TimeUnit::Microsecond),
        DataType::Timestamp => ArrowType::Timestamp(TimeUnit::Microsecond, None),
        DataType::Null => ArrowType::Null,
        DataType::Array(element) => ArrowType::List(Arc::new(element_field(
            &format!("{name}.element"),
            element,
        )?)),
        DataType::Map(key, value) => {
            ArrowType::Map(Arc::new(entries_field(name, key, value)?), false)
        }
        DataType::Row(fields) => ArrowType::Struct(struct_fields(name, fields)?),
    })
}

fn element_field(name: &str, data_type: &DataType) -> Result<ArrowField, ParquetWriteError> {
    Ok(ArrowField::new(
        "element",
        arrow_type(name, data_type)?,
        true,
    ))
}

fn entries_field(
    name: &str,
    key: &DataType,
    value: &DataType,
) -> Result<ArrowField, ParquetWriteError> {
    let fields = Fields::from(vec![
        ArrowField::new("key", arrow_type(&format!("{name}.key"), key)?, false),
        ArrowField::new("value", arrow_type(&format!("{name}.value"), value)?, true),
    ]);
    Ok(ArrowField::new(
        "key_value",
        ArrowType::Struct(fields),
        false,
    ))
}

fn struct_fields(
    name: &str,
    fields: &[weir_core::schema::Field],
) -> Result<Fields, ParquetWriteError> {
    fields
        .iter()
        .map(|field| {
            let path = format!("{name}.{}", field.name);
            Ok(ArrowField::new(
                &field.name,
                arrow_type(&path, &field.data_type)?,
                true,
            ))
        })
        .collect::<Result<Vec<_>, _>>()
        .map(Fields::from)
}

/// The array of column `name` (of `data_type`) from one value per row; a missing value
/// (`None`: a row or nested row shorter than its schema) is null.
pub(super) fn column(
    name: &str,
    data_type: &DataType,
    values: &[Option<&Value>],
) -> Result<ArrayRef, ParquetWriteError> {
    let mismatch = |value: &Value| ParquetWriteError::Mismatch {
        column: name.to_string(),
        expected: data_type.to_string(),
        found: short_debug(value),
    };
    // The value of the column's type → `Some(converted)`, null or missing → `None`.
    macro_rules! primitive {
        ($array:ty, $pattern:pat => $converted:expr) => {{
            let values = values
                .iter()
                .map(|value| match value {
                    None | Some(Value::Null) => Ok(None),
                    Some($pattern) => Ok(Some($converted)),
                    Some(other) => Err(mismatch(other)),
                })
                .collect::<Result<Vec<_>, _>>()?;
            Arc::new(<$array>::from(values)) as ArrayRef
        }};
    }
    Ok(match data_type {
        DataType::Boolean => primitive!(BooleanArray, Value::Boolean(value) => *value),
        DataType::Tinyint => primitive!(Int8Array, Value::Tinyint(value) => *value),
        DataType::Smallint => primitive!(Int16Array, Value::Smallint(value) => *value),
        DataType::Int => primitive!(Int32Array, Value::Int(value) => *value),
        DataType::Bigint => primitive!(Int64Array, Value::Bigint(value) => *value),
        DataType::Float => primitive!(Float32Array, Value::Float(value) => *value),
        DataType::Double => primitive!(Float64Array, Value::Double(value) => *value),
        DataType::Date => {
            primitive!(Date32Array, Value::Date(date) => days_since_epoch(*date))
        }
        DataType::Time => primitive!(
            Time64MicrosecondArray,
            Value::Time(time) => i64::from(time.num_seconds_from_midnight()) * 1_000_000
                + i64::from(time.nanosecond() / 1000)
        ),
        DataType::Timestamp => primitive!(
            TimestampMicrosecondArray,
            Value::Timestamp(at) => at.and_utc().timestamp_micros()
        ),
        DataType::Decimal { precision, scale } => {
            let limit = 10i128.pow(u32::from(*precision));
            let values = values
                .iter()
                .map(|value| match value {
                    None | Some(Value::Null) => Ok(None),
                    Some(
                        value @ Value::Decimal {
                            unscaled,
                            scale: at,
                        },
                    ) => rescale(*unscaled, *at, *scale)
                        .filter(|unscaled| unscaled.abs() < limit)
                        .map(Some)
                        .ok_or_else(|| mismatch(value)),
                    Some(other) => Err(mismatch(other)),
                })
                .collect::<Result<Vec<_>, _>>()?;
            Arc::new(
                Decimal128Array::from(values).with_precision_and_scale(*precision, *scale as i8)?,
            )
        }
        DataType::Null => {
            if let Some(other) = values
                .iter()
                .flatten()
                .find(|value| **value != &Value::Null)
            {
                return Err(mismatch(other));
            }
            Arc::new(NullArray::new(values.len()))
        }
        DataType::String => {
            let bytes = values
                .iter()
                .map(|value| match value {
                    Some(Value::String(text)) => text.len(),
                    _ => 0,
                })
                .sum();
            let mut builder = StringBuilder::with_capacity(values.len(), bytes);
            for value in values {
                match value {
                    None | Some(Value::Null) => builder.append_null(),
                    Some(Value::String(text)) => builder.append_value(text),
                    Some(other) => return Err(mismatch(other)),
                }
            }
            Arc::new(builder.finish())
        }
        DataType::Bytes => {
            let bytes = values
                .iter()
                .map(|value| match value {
                    Some(Value::Bytes(bytes)) => bytes.len(),
                    _ => 0,
                })
                .sum();
            let mut builder = BinaryBuilder::with_capacity(values.len(), bytes);
            for value in values {
                match value {
                    None | Some(Value::Null) => builder.append_null(),
                    Some(Value::Bytes(bytes)) => builder.append_value(bytes),
                    Some(other) => return Err(mismatch(other)),
                }
            }
            Arc::new(builder.finish())
        }
        DataType::Array(element) => {
            let mut lengths = Vec::with_capacity(values.len());
            let mut children: Vec<Option<&Value>> = Vec::new();
            let mut valid = Vec::with_capacity(values.len());
            for value in values {
                match value {
                    None | Some(Value::Null) => {
                        lengths.push(0);
                        valid.push(false);
                    }
                    Some(Value::Array(items)) => {
                        lengths.push(items.len());
                        children.extend(items.iter().map(Some));
                        valid.push(true);
                    }
                    Some(other) => return Err(mismatch(other)),
                }
            }
            let path = format!("{name}.element");
            let field = Arc::new(element_field(&path, element)?);
            let items = column(&path, element, &children)?;
            Arc::new(ListArray::try_new(
                field,
                OffsetBuffer::from_lengths(lengths),
                items,
                nulls(valid),
            )?)
        }
        DataType::Map(key, value_type) => {
            let mut lengths = Vec::with_capacity(values.len());
            let mut keys: Vec<Option<&Value>> = Vec::new();
            let mut items: Vec<Option<&Value>> = Vec::new();
            let mut valid = Vec::with_capacity(values.len());
            for value in values {
                match value {
                    None | Some(Value::Null) => {
                        lengths.push(0);
                        valid.push(false);
                    }
                    Some(Value::Map(entries)) => {
                        lengths.push(entries.len());
                        for (entry_key, entry_value) in entries {
                            if *entry_key == Value::Null {
                                return Err(ParquetWriteError::NullMapKey {
                                    column: name.to_string(),
                                });
                            }
                            keys.push(Some(entry_key));
                            items.push(Some(entry_value));
                        }
                        valid.push(true);
                    }
                    Some(other) => return Err(mismatch(other)),
                }
            }
            let entries_field = entries_field(name, key, value_type)?;
            let ArrowType::Struct(fields) = entries_field.data_type().clone() else {
                return Err(ParquetWriteError::Unsupported {
                    column: name.to_string(),
                    reason: "map entries are not a struct".to_string(),
                });
            };
            let entries = StructArray::try_new(
                fields,
                vec![
                    column(&format!("{name}.key"), key, &keys)?,
                    column(&format!("{name}.value"), value_type, &items)?,
                ],
                None,
            )?;
            Arc::new(MapArray::try_new(
                Arc::new(entries_field),
                OffsetBuffer::from_lengths(lengths),
                entries,
                nulls(valid),
                false,
            )?)
        }
        DataType::Row(fields) => {
            let mut valid = Vec::with_capacity(values.len());
            for value in values {
                match value {
                    None | Some(Value::Null) => valid.push(false),
                    Some(Value::Row(_)) => valid.push(true),
                    Some(other) => return Err(mismatch(other)),
                }
            }
            let children = fields
                .iter()
                .enumerate()
                .map(|(position, field)| {
                    let nested: Vec<Option<&Value>> = values
                        .iter()
                        .map(|value| match value {
                            Some(Value::Row(inner)) => inner.get(position),
                            _ => None,
                        })
                        .collect();
                    column(&format!("{name}.{}", field.name), &field.data_type, &nested)
                })
                .collect::<Result<Vec<_>, _>>()?;
            Arc::new(StructArray::try_new(
                struct_fields(name, fields)?,
                children,
                nulls(valid),
            )?)
        }
    })
}

/// A validity buffer, or none when every entry is valid.
fn nulls(valid: Vec<bool>) -> Option<NullBuffer> {
    if valid.iter().all(|valid| *valid) {
        None
    } else {
        Some(NullBuffer::from(valid))
    }
}

fn days_since_epoch(date: NaiveDate) -> i32 {
    let epoch = NaiveDate::from_ymd_opt(1970, 1, 1).unwrap_or_default();
    i32::try_from(date.signed_duration_since(epoch).num_days()).unwrap_or(i32::MAX)
}

/// `unscaled` × 10^-`from` as an unscaled value of scale `to`; `None` when that loses digits
/// or overflows.
fn rescale(unscaled: i128, from: u8, to: u8) -> Option<i128> {
    if from <= to {
        10i128
            .checked_pow(u32::from(to - from))
            .and_then(|factor| unscaled.checked_mul(factor))
    } else {
        let factor = 10i128.checked_pow(u32::from(from - to))?;
        (unscaled % factor == 0).then(|| unscaled / factor)
    }
}

/// A value's Debug text, cut short: error messages must not carry a whole record.
fn short_debug(value: &Value) -> String {
    let mut text = format!("{value:?}");
    if text.len() > 80 {
        let mut end = 80;
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        text.truncate(end);
        text.push('…');
    }
    text
}
