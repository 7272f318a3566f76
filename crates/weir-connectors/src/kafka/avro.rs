//! `format = avro`: one Avro binary datum per record, of the Avro schema SeaTunnel derives
//! from the job's `schema` (its `SeaTunnelRowTypeToAvroSchemaConverter`): a record of the
//! fields in order, none nullable — string → string, bytes → bytes, tinyint / smallint /
//! int → int, bigint → long, float, double, boolean, decimal(p, s) → bytes with the decimal
//! logical type, timestamp → long (local-timestamp-millis), date → int (days since the
//! epoch), "null" → null, array, map (string keys) and nested rows → array, map and record.
//! No container-file header and no schema-registry framing: the datum alone, as SeaTunnel's
//! Kafka sink writes it and its source reads it.
//!
//! The schema is fixed by the job, so this is a walk over the binary encoding of the Avro
//! specification (zig-zag varints, little-endian floats, length-prefixed bytes, blocked
//! arrays and maps), not a general Avro library.

use chrono::{DateTime, NaiveDate};
use weir_core::row::Value;
use weir_core::schema::DataType;

/// Reads records of one schema.
#[derive(Debug)]
pub(crate) struct AvroReader {
    fields: Vec<(String, DataType)>,
}

/// Nesting deeper than this is refused (the schema's depth bounds it; this bounds the
/// recursion whatever the schema).
const MAX_DEPTH: usize = 64;

impl AvroReader {
    pub(crate) fn new(fields: &[(String, DataType)]) -> Self {
        AvroReader {
            fields: fields.to_vec(),
        }
    }

    /// The values of one datum, in schema order, or why it is not one.
    pub(crate) fn read(&self, payload: &[u8]) -> Result<Vec<Value>, String> {
        let mut input = Input {
            bytes: payload,
            at: 0,
        };
        let values = self
            .fields
            .iter()
            .map(|(name, data_type)| {
                input
                    .value(data_type, 0)
                    .map_err(|why| format!("field '{name}' ({data_type}): {why}"))
            })
            .collect::<Result<Vec<_>, _>>()
            .map_err(|why| hint(payload, why))?;
        if input.at != payload.len() {
            return Err(hint(
                payload,
                format!(
                    "{} bytes are left after the record's last field: the data is not of the \
                     schema's Avro record",
                    payload.len() - input.at
                ),
            ));
        }
        Ok(values)
    }
}

/// Adds what a record framed for Confluent's Schema Registry looks like to `why`.
fn hint(payload: &[u8], why: String) -> String {
    if payload.len() > 5 && payload[0] == 0 {
        format!(
            "{why} (a value starting with byte 0 may be framed for a schema registry, magic \
             byte and schema id; format = avro reads plain Avro binary, as SeaTunnel's)"
        )
    } else {
        why
    }
}

struct Input<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl Input<'_> {
    fn take(&mut self, count: usize) -> Result<&[u8], String> {
        let end = self
            .at
            .checked_add(count)
            .filter(|end| *end <= self.bytes.len())
            .ok_or_else(|| {
                format!(
                    "the value ends early: {count} more bytes needed at byte {}, {} left",
                    self.at,
                    self.bytes.len() - self.at
                )
            })?;
        let taken = &self.bytes[self.at..end];
        self.at = end;
        Ok(taken)
    }

    /// A zig-zag varint `long` (at most 10 bytes).
    fn long(&mut self) -> Result<i64, String> {
        let mut raw: u64 = 0;
        for shift in (0..70).step_by(7) {
            let byte = self.take(1)?[0];
            raw |= u64::from(byte & 0x7f) << shift;
            if byte & 0x80 == 0 {
                return Ok((raw >> 1) as i64 ^ -((raw & 1) as i64));
            }
        }
        Err("a variable-length integer is longer than 10 bytes".into())
    }

    fn int(&mut self) -> Result<i32, String> {
        let value = self.long()?;
        i32::try_from(value).map_err(|_| format!("{value} does not fit an Avro int"))
    }

    fn length(&mut self) -> Result<usize, String> {
        let length = self.long()?;
        usize::try_from(length).map_err(|_| format!("negative length {length}"))
    }

    fn bytes(&mut self) -> Result<&[u8], String> {
        let length = self.length()?;
        self.take(length)
    }

    /// The item count of the next block of an array or map; 0 at the end. A negative count is
    /// followed by the block's size in bytes.
    fn block(&mut self) -> Result<usize, String> {
        let count = self.long()?;
        if count < 0 {
            self.long()?;
        }
        let count = count.unsigned_abs();
        // Items of type null take no bytes, so a count cannot be checked against the bytes
        // left exactly; more than eight items per byte of the value is surely corrupt, and
        // bounds the work a hostile count can ask for.
        usize::try_from(count)
            .ok()
            .filter(|count| *count <= self.bytes.len().max(1) * 8)
            .ok_or_else(|| format!("a block of {count} items is longer than the value"))
    }

    fn value(&mut self, data_type: &DataType, depth: usize) -> Result<Value, String> {
        if depth > MAX_DEPTH {
            return Err(format!("nested more than {MAX_DEPTH} levels deep"));
        }
        let narrow = |value: i32, what: &str| format!("{value} does not fit {what}");
        Ok(match data_type {
            DataType::Null => Value::Null,
            DataType::Boolean => match self.take(1)?[0] {
                0 => Value::Boolean(false),
                1 => Value::Boolean(true),
                other => return Err(format!("a boolean byte is 0 or 1, found {other}")),
            },
            DataType::Tinyint => {
                let value = self.int()?;
                Value::Tinyint(i8::try_from(value).map_err(|_| narrow(value, "tinyint"))?)
            }
            DataType::Smallint => {
                let value = self.int()?;
                Value::Smallint(i16::try_from(value).map_err(|_| narrow(value, "smallint"))?)
            }
            DataType::Int => Value::Int(self.int()?),
            DataType::Bigint => Value::Bigint(self.long()?),
            DataType::Float => {
                let raw: [u8; 4] = self.take(4)?.try_into().map_err(|_| "float")?;
                Value::Float(f32::from_le_bytes(raw))
            }
            DataType::Double => {
                let raw: [u8; 8] = self.take(8)?.try_into().map_err(|_| "double")?;
                Value::Double(f64::from_le_bytes(raw))
            }
            DataType::String => {
                let raw = self.bytes()?;
                Value::String(
                    std::str::from_utf8(raw)
                        .map_err(|error| format!("the string is not UTF-8: {error}"))?
                        .to_string(),
                )
            }
            DataType::Bytes => Value::Bytes(self.bytes()?.to_vec()),
            DataType::Decimal { precision, scale } => {
                let raw = self.bytes()?;
                decimal(raw, *precision, *scale)?
            }
            DataType::Date => {
                let days = self.int()?;
                Value::Date(
                    NaiveDate::from_epoch_days(days)
                        .ok_or_else(|| format!("{days} days since the epoch is out of range"))?,
                )
            }
            DataType::Timestamp => {
                let millis = self.long()?;
                Value::Timestamp(
                    DateTime::from_timestamp_millis(millis)
                        .ok_or_else(|| format!("{millis} ms since the epoch is out of range"))?
                        .naive_utc(),
                )
            }
            DataType::Time => {
                return Err("time has no Avro type in SeaTunnel's avro format".into());
            }
            DataType::Array(element) => {
                let mut items = Vec::new();
                loop {
                    let count = self.block()?;
                    if count == 0 {
                        break;
                    }
                    for _ in 0..count {
                        items.push(self.value(element, depth + 1)?);
                    }
                }
                Value::Array(items)
            }
            DataType::Map(key_type, value_type) => {
                let mut entries = Vec::new();
                loop {
                    let count = self.block()?;
                    if count == 0 {
                        break;
                    }
                    for _ in 0..count {
                        let key = self.value(&DataType::String, depth + 1)?;
                        if **key_type != DataType::String {
                            return Err("Avro map keys are strings".into());
                        }
                        entries.push((key, self.value(value_type, depth + 1)?));
                    }
                }
                Value::Map(entries)
            }
            DataType::Row(fields) => Value::Row(
                fields
                    .iter()
                    .map(|field| {
                        self.value(&field.data_type, depth + 1)
                            .map_err(|why| format!("field '{}': {why}", field.name))
                    })
                    .collect::<Result<Vec<_>, _>>()?,
            ),
        })
    }
}

/// The decimal logical type (also Kafka Connect's `Decimal`): the unscaled value's
/// two's-complement big-endian bytes, at most `precision` digits.
pub(crate) fn decimal(raw: &[u8], precision: u8, scale: u8) -> Result<Value, String> {
    if raw.is_empty() || raw.len() > 16 {
        return Err(format!(
            "a decimal of {} bytes (1 to 16 expected)",
            raw.len()
        ));
    }
    let fill = if raw[0] & 0x80 != 0 { 0xff } else { 0 };
    let mut wide = [fill; 16];
    wide[16 - raw.len()..].copy_from_slice(raw);
    let unscaled = i128::from_be_bytes(wide);
    let digits = unscaled
        .unsigned_abs()
        .checked_ilog10()
        .map_or(1, |d| d + 1);
    if digits > u32::from(precision) {
        return Err(format!(
            "the decimal's {digits} digits exceed its precision {precision}"
        ));
    }
    Ok(Value::Decimal { unscaled, scale })
}

#[cfg(test)]
#[path = "avro_tests.rs"]
mod tests;
