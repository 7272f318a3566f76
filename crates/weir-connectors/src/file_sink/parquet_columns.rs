//! Row values → Arrow arrays, one column at a time, and the Arrow type of each column type.
//!
//! The Parquet types follow SeaTunnel's mapping (its file connector's Parquet writer):
//! `string` → BYTE_ARRAY (UTF8), `bytes` → BYTE_ARRAY, `boolean` → BOOLEAN, `int` → INT32,
//! `bigint` → INT64, `float` → FLOAT, `double` → DOUBLE. Every column is optional (nullable).

use std::sync::Arc;

use arrow_array::ArrayRef;
use arrow_array::builder::{BinaryBuilder, StringBuilder};
use arrow_array::{BooleanArray, Float32Array, Float64Array, Int32Array, Int64Array};
use arrow_schema::DataType as ArrowType;
use weir_core::row::Value;
use weir_core::schema::DataType;

use super::parquet::ParquetWriteError;

/// The Arrow type a column of `data_type` is written as.
pub(super) fn arrow_type(data_type: &DataType) -> ArrowType {
    match data_type {
        DataType::String => ArrowType::Utf8,
        DataType::Boolean => ArrowType::Boolean,
        DataType::Int => ArrowType::Int32,
        DataType::Bigint => ArrowType::Int64,
        DataType::Float => ArrowType::Float32,
        DataType::Double => ArrowType::Float64,
        DataType::Bytes => ArrowType::Binary,
    }
}

/// The array of column `name` (of `data_type`) from one value per row; a missing value
/// (`None`: a row shorter than the schema) is null.
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
    // Each arm: the value of the column's type → `Some`, null or missing → `None`.
    macro_rules! primitive {
        ($array:ty, $variant:ident) => {{
            let values = values
                .iter()
                .map(|value| match value {
                    None | Some(Value::Null) => Ok(None),
                    Some(Value::$variant(value)) => Ok(Some(*value)),
                    Some(other) => Err(mismatch(other)),
                })
                .collect::<Result<Vec<_>, _>>()?;
            Arc::new(<$array>::from(values)) as ArrayRef
        }};
    }
    Ok(match data_type {
        DataType::Boolean => primitive!(BooleanArray, Boolean),
        DataType::Int => primitive!(Int32Array, Int),
        DataType::Bigint => primitive!(Int64Array, Bigint),
        DataType::Float => primitive!(Float32Array, Float),
        DataType::Double => primitive!(Float64Array, Double),
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
    })
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
