//! Change events → rows with their [`RowKind`]: `canal_json` and `debezium_json`, as
//! SeaTunnel's `CanalJsonDeserializationSchema` and `DebeziumJsonDeserializationSchema` read
//! them. One message gives zero (a DDL event, a tombstone), one or several rows.
//!
//! Where SeaTunnel's Kafka source drops a message it cannot read without a word (it builds
//! both with `ignoreParseErrors = true`), Weir hands the reason to `format_error_handle_way`,
//! as for every other format: `skip` drops and counts it, `fail` fails the job.

use base64::Engine as _;
use chrono::{DateTime, NaiveDate, NaiveTime};
use serde_json::{Map, Value as Json};
use weir_core::row::{Row, RowKind, Value};
use weir_core::schema::DataType;

use crate::codec::{describe, from_json};

/// The schema's fields, by name and type.
pub(crate) type Fields = [(String, DataType)];

/// The rows of one Canal JSON message.
///
/// `type` INSERT gives a `+I` row per element of `data`; UPDATE a `-U` row (the element of
/// `old` at the same position, fields it does not name taken from the new row: Canal lists
/// only the changed ones) then a `+U` row per element; DELETE a `-D` row per element.
/// QUERY, CREATE and ALTER events without `data` (DDL) give no row; any other type, or a
/// row event without `data`, is an error. An empty value (or a tombstone) gives no row.
pub(crate) fn canal(fields: &Fields, payload: Option<&[u8]>) -> Result<Vec<Row>, String> {
    let payload = match payload {
        None | Some([]) => return Ok(Vec::new()),
        Some(payload) => payload,
    };
    let mut event: Map<String, Json> = serde_json::from_slice(payload)
        .map_err(|error| format!("not a Canal JSON object: {error}"))?;
    let kind = match event.get("type") {
        Some(Json::String(kind)) => kind.clone(),
        Some(other) => {
            return Err(format!(
                "Canal 'type' must be a string, found {}",
                describe(other)
            ));
        }
        None => return Err("the Canal event has no 'type'".into()),
    };
    let data = match event.remove("data") {
        None | Some(Json::Null) => {
            return match kind.as_str() {
                // DDL and other statements carry no rows.
                "QUERY" | "CREATE" | "ALTER" => Ok(Vec::new()),
                _ => Err(format!("the Canal {kind} event has no 'data'")),
            };
        }
        Some(Json::Array(data)) => data,
        Some(other) => {
            return Err(format!(
                "Canal 'data' must be an array, found {}",
                describe(&other)
            ));
        }
    };
    match kind.as_str() {
        "INSERT" | "DELETE" => {
            let row_kind = if kind == "INSERT" {
                RowKind::Insert
            } else {
                RowKind::Delete
            };
            data.into_iter()
                .map(|element| object_row(fields, element, "Canal 'data'"))
                .map(|values| values.map(|values| Row::with_kind(values, row_kind)))
                .collect()
        }
        "UPDATE" => {
            let old = match event.remove("old") {
                Some(Json::Array(old)) => old,
                _ => return Err("the Canal UPDATE event has no 'old' array".into()),
            };
            if old.len() < data.len() {
                return Err(format!(
                    "the Canal UPDATE event has {} rows in 'data' but {} in 'old'",
                    data.len(),
                    old.len()
                ));
            }
            // SeaTunnel looks a field up in all of `old` (Jackson's `findValue`): a field named
            // in any element is one that changed.
            let named_in_old = |name: &str| {
                old.iter()
                    .any(|element| element.as_object().is_some_and(|o| o.contains_key(name)))
            };
            let changed: Vec<bool> = fields.iter().map(|(name, _)| named_in_old(name)).collect();
            let mut rows = Vec::with_capacity(2 * data.len());
            for (after, before) in data.into_iter().zip(old.iter().cloned()) {
                let after = object_row(fields, after, "Canal 'data'")?;
                let mut before = object_row(fields, before, "Canal 'old'")?;
                for ((value, new), changed) in before.iter_mut().zip(&after).zip(&changed) {
                    if !changed && *value == Value::Null {
                        value.clone_from(new);
                    }
                }
                rows.push(Row::with_kind(before, RowKind::UpdateBefore));
                rows.push(Row::with_kind(after, RowKind::UpdateAfter));
            }
            Ok(rows)
        }
        other => Err(format!("unknown Canal operation type '{other}'")),
    }
}

/// The values of a JSON object's fields, by name, as the `json` format reads them.
fn object_row(fields: &Fields, element: Json, what: &str) -> Result<Vec<Value>, String> {
    let Json::Object(mut object) = element else {
        return Err(format!(
            "{what} must hold objects, found {}",
            describe(&element)
        ));
    };
    fields
        .iter()
        .map(|(name, data_type)| match object.remove(name) {
            None | Some(Json::Null) => Ok(Value::Null),
            Some(value) => from_json(value, data_type)
                .map_err(|found| format!("field '{name}' must be {data_type}, found {found}")),
        })
        .collect()
}

/// The rows of one Debezium JSON message.
///
/// `op` c (create) and r (snapshot read) give `after` as a `+I` row; u gives `before` as `-U`
/// then `after` as `+U`; d gives `before` as `-D`. With `include_schema`, the event is the
/// message's `payload` (Kafka Connect's schema envelope). A tombstone or an empty value (what
/// Debezium sends after a delete) gives no row.
pub(crate) fn debezium(
    fields: &Fields,
    include_schema: bool,
    payload: Option<&[u8]>,
) -> Result<Vec<Row>, String> {
    let payload = match payload {
        None | Some([]) => return Ok(Vec::new()),
        Some(payload) => payload,
    };
    let mut event: Map<String, Json> = serde_json::from_slice(payload)
        .map_err(|error| format!("not a Debezium JSON object: {error}"))?;
    if include_schema {
        event = match event.remove("payload") {
            Some(Json::Object(inner)) => inner,
            Some(other) => {
                return Err(format!(
                    "the Debezium 'payload' must be an object, found {}",
                    describe(&other)
                ));
            }
            None => {
                return Err(
                    "the message has no 'payload' (Kafka Connect's schema envelope); \
                            set debezium_record_include_schema = false to read events \
                            without it"
                        .into(),
                );
            }
        };
    }
    let op = match event.get("op") {
        Some(Json::String(op)) => op.clone(),
        Some(other) => {
            return Err(format!(
                "Debezium 'op' must be a string, found {}",
                describe(other)
            ));
        }
        None => return Err("the Debezium event has no 'op'".into()),
    };
    let mut image = |name: &str, op: &str| match event.remove(name) {
        Some(Json::Object(object)) => debezium_row(fields, object),
        None | Some(Json::Null) if name == "before" => Err(format!(
            "the 'before' of a Debezium '{op}' event is null; with the Debezium Postgres \
             connector, set the table's REPLICA IDENTITY to FULL"
        )),
        None | Some(Json::Null) => Err(format!("the Debezium '{op}' event has no '{name}'")),
        Some(other) => Err(format!(
            "the Debezium '{name}' must be an object, found {}",
            describe(&other)
        )),
    };
    match op.as_str() {
        "c" | "r" => Ok(vec![Row::with_kind(image("after", &op)?, RowKind::Insert)]),
        "u" => {
            let before = image("before", &op)?;
            let after = image("after", &op)?;
            Ok(vec![
                Row::with_kind(before, RowKind::UpdateBefore),
                Row::with_kind(after, RowKind::UpdateAfter),
            ])
        }
        "d" => Ok(vec![Row::with_kind(image("before", &op)?, RowKind::Delete)]),
        other => Err(format!("unknown Debezium operation '{other}'")),
    }
}

fn debezium_row(fields: &Fields, mut object: Map<String, Json>) -> Result<Vec<Value>, String> {
    fields
        .iter()
        .map(|(name, data_type)| match object.remove(name) {
            None | Some(Json::Null) => Ok(Value::Null),
            Some(value) => from_debezium(value, data_type)
                .map_err(|found| format!("field '{name}' must be {data_type}, found {found}")),
        })
        .collect()
}

/// One value as Debezium's JSON converter writes it, as SeaTunnel's `DebeziumRowConverter`
/// reads it: dates as days since the epoch, times as microseconds of the day, timestamps as
/// milliseconds since the epoch (UTC) or `yyyy-MM-ddTHH:mm:ssZ`, decimals as numbers or as
/// the base64 of their unscaled big-endian bytes (`decimal.handling.mode = precise`); the
/// rest as the `json` format reads it.
fn from_debezium(value: Json, data_type: &DataType) -> Result<Value, String> {
    let converted = match (&value, data_type) {
        (Json::Null, _) => Some(Value::Null),
        (Json::Number(days), DataType::Date) => days
            .as_i64()
            .and_then(|days| i32::try_from(days).ok())
            .and_then(NaiveDate::from_epoch_days)
            .map(Value::Date),
        (Json::Number(micros), DataType::Time) => micros
            .as_i64()
            .and_then(|micros| {
                let seconds = u32::try_from(micros.div_euclid(1_000_000)).ok()?;
                let nanos = u32::try_from(micros.rem_euclid(1_000_000) * 1000).ok()?;
                NaiveTime::from_num_seconds_from_midnight_opt(seconds, nanos)
            })
            .map(Value::Time),
        (Json::Number(millis), DataType::Timestamp) => millis
            .as_i64()
            .and_then(DateTime::from_timestamp_millis)
            .map(|at| Value::Timestamp(at.naive_utc())),
        (Json::String(encoded), DataType::Decimal { precision, scale })
            if encoded.parse::<f64>().is_err() =>
        {
            decimal_from_bytes(encoded, *precision, *scale)
        }
        (Json::Array(items), DataType::Array(element)) => items
            .iter()
            .map(|item| from_debezium(item.clone(), element).ok())
            .collect::<Option<Vec<_>>>()
            .map(Value::Array),
        (Json::Object(entries), DataType::Map(key_type, value_type)) => entries
            .iter()
            .map(|(key, item)| {
                let key = from_json(Json::String(key.clone()), key_type).ok()?;
                Some((key, from_debezium(item.clone(), value_type).ok()?))
            })
            .collect::<Option<Vec<_>>>()
            .map(Value::Map),
        (Json::Object(entries), DataType::Row(nested)) => nested
            .iter()
            .map(|field| match entries.get(&field.name) {
                None => Some(Value::Null),
                Some(item) => from_debezium(item.clone(), &field.data_type).ok(),
            })
            .collect::<Option<Vec<_>>>()
            .map(Value::Row),
        _ => return from_json(value, data_type),
    };
    converted.ok_or_else(|| describe(&value))
}

/// A decimal of Kafka Connect's `Decimal` logical type: the base64 of the unscaled value's
/// two's-complement big-endian bytes, at the field's scale.
fn decimal_from_bytes(encoded: &str, precision: u8, scale: u8) -> Option<Value> {
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .ok()?;
    super::avro::decimal(&bytes, precision, scale).ok()
}

#[cfg(test)]
#[path = "changes_tests.rs"]
mod tests;
