//! Rows: positional values matching a [`Schema`].

use std::mem::size_of;

use chrono::{NaiveDate, NaiveDateTime, NaiveTime};

use crate::schema::Schema;
pub use crate::value_text::push_text;
use crate::value_text::{push_json_string, push_json_value};

/// One column value.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// SQL-style null: the value of the `null` type and of every absent field.
    Null,
    /// `boolean`.
    Boolean(bool),
    /// `tinyint`.
    Tinyint(i8),
    /// `smallint`.
    Smallint(i16),
    /// `int`.
    Int(i32),
    /// `bigint`.
    Bigint(i64),
    /// `float`.
    Float(f32),
    /// `double`.
    Double(f64),
    /// `decimal(p, s)`: `unscaled × 10^-scale`.
    Decimal {
        /// The digits, without the point.
        unscaled: i128,
        /// Digits after the point.
        scale: u8,
    },
    /// `string`.
    String(String),
    /// `bytes`.
    Bytes(Vec<u8>),
    /// `date`.
    Date(NaiveDate),
    /// `time`.
    Time(NaiveTime),
    /// `timestamp`.
    Timestamp(NaiveDateTime),
    /// `array<T>`.
    Array(Vec<Value>),
    /// `map<K, V>`, in insertion order.
    Map(Vec<(Value, Value)>),
    /// A nested row, values in the nested schema's field order.
    Row(Vec<Value>),
}

impl Value {
    /// Heap bytes this value owns (capacity, not length: that is what the allocator holds),
    /// nested values' slots and payloads included.
    pub fn heap_bytes(&self) -> usize {
        match self {
            Value::String(text) => text.capacity(),
            Value::Bytes(bytes) => bytes.capacity(),
            Value::Array(values) | Value::Row(values) => {
                values.capacity() * size_of::<Value>()
                    + values.iter().map(Value::heap_bytes).sum::<usize>()
            }
            Value::Map(entries) => {
                entries.capacity() * size_of::<(Value, Value)>()
                    + entries
                        .iter()
                        .map(|(key, value)| key.heap_bytes() + value.heap_bytes())
                        .sum::<usize>()
            }
            Value::Null
            | Value::Boolean(_)
            | Value::Tinyint(_)
            | Value::Smallint(_)
            | Value::Int(_)
            | Value::Bigint(_)
            | Value::Float(_)
            | Value::Double(_)
            | Value::Decimal { .. }
            | Value::Date(_)
            | Value::Time(_)
            | Value::Timestamp(_) => 0,
        }
    }
}

/// What a row says about the table it comes from, as SeaTunnel's `RowKind`: change-data
/// formats (`canal_json`, `debezium_json`) produce all four kinds, every other source inserts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Hash)]
pub enum RowKind {
    /// A new row (`+I`).
    #[default]
    Insert,
    /// The row as it was before an update (`-U`).
    UpdateBefore,
    /// The row as it is after an update (`+U`).
    UpdateAfter,
    /// A deleted row (`-D`).
    Delete,
}

impl RowKind {
    /// SeaTunnel's short name: `+I`, `-U`, `+U` or `-D`.
    pub fn short_name(self) -> &'static str {
        match self {
            RowKind::Insert => "+I",
            RowKind::UpdateBefore => "-U",
            RowKind::UpdateAfter => "+U",
            RowKind::Delete => "-D",
        }
    }

    /// SeaTunnel's enum name: `INSERT`, `UPDATE_BEFORE`, `UPDATE_AFTER` or `DELETE`.
    pub fn name(self) -> &'static str {
        match self {
            RowKind::Insert => "INSERT",
            RowKind::UpdateBefore => "UPDATE_BEFORE",
            RowKind::UpdateAfter => "UPDATE_AFTER",
            RowKind::Delete => "DELETE",
        }
    }
}

/// A record: one value per schema field, in schema order.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Row {
    /// The values, positionally matching `Schema::fields`.
    pub values: Vec<Value>,
    /// The change this row stands for; [`RowKind::Insert`] unless a change-data format says
    /// otherwise.
    pub kind: RowKind,
}

impl Row {
    /// Wraps values into an inserted row.
    pub fn new(values: Vec<Value>) -> Self {
        Row {
            values,
            kind: RowKind::Insert,
        }
    }

    /// Wraps values into a row of the given kind.
    pub fn with_kind(values: Vec<Value>, kind: RowKind) -> Self {
        Row { values, kind }
    }

    /// An honest estimate of the memory this row occupies, used for byte bounds.
    ///
    /// `size_of::<Row>()` (the inline `Vec` header)
    /// `+ values.capacity() × size_of::<Value>()` (the value slots, 32 bytes each on 64-bit)
    /// `+ Σ capacity of every `String` / `Vec<u8>` payload`.
    ///
    /// Allocator rounding and per-allocation metadata are not counted: they depend on the
    /// allocator, and are small next to payloads of the sizes byte bounds exist for.
    pub fn size_bytes(&self) -> u64 {
        let inline = size_of::<Row>() + self.values.capacity() * size_of::<Value>();
        let heap: usize = self.values.iter().map(Value::heap_bytes).sum();
        (inline + heap) as u64
    }

    /// Renders the row as one JSON object keyed by schema field names, in schema order, as
    /// SeaTunnel's JSON format writes it (see [`crate::value_text`]).
    ///
    /// Values beyond the schema are keyed `_<position>`.
    pub fn to_json(&self, schema: &Schema) -> String {
        let mut out = String::with_capacity(16 * self.values.len() + 2);
        self.push_json(schema, &mut out);
        out
    }

    /// Appends [`Self::to_json`]'s rendering to `out` (a buffer reused between rows saves
    /// the allocation and the growth of a new string per row).
    pub fn push_json(&self, schema: &Schema, out: &mut String) {
        out.push('{');
        for (position, value) in self.values.iter().enumerate() {
            if position > 0 {
                out.push(',');
            }
            match schema.fields.get(position) {
                Some(field) => push_json_string(out, &field.name),
                None => push_json_string(out, &format!("_{position}")),
            }
            out.push(':');
            push_json_value(
                out,
                value,
                schema.fields.get(position).map(|field| &field.data_type),
            );
        }
        out.push('}');
    }

    /// Renders the values joined by `delimiter` as SeaTunnel's text format does (see
    /// [`crate::value_text::push_text`]).
    pub fn to_text(&self, delimiter: &str) -> String {
        let mut out = String::new();
        for (position, value) in self.values.iter().enumerate() {
            if position > 0 {
                out.push_str(delimiter);
            }
            push_text(&mut out, value);
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema::DataType;

    #[test]
    fn json_strings_are_escaped_like_serde_json() {
        for text in [
            "",
            "plain",
            "quote \" and backslash \\ and / slash",
            "line\nbreak\r\ttab \u{1} \u{1f} \u{7f}",
            "ünïcödé → 漢字 🚀 at the end\u{0}",
        ] {
            let mut ours = String::from("x");
            push_json_string(&mut ours, text);
            let theirs = serde_json::to_string(text).unwrap();
            assert_eq!(&ours[1..], theirs, "{text:?}");
            let back: String = serde_json::from_str(&ours[1..]).unwrap();
            assert_eq!(back, text);
        }
    }

    fn sample() -> (Schema, Row) {
        let schema = Schema::new([
            ("id", DataType::Bigint),
            ("name", DataType::String),
            ("score", DataType::Double),
            ("ok", DataType::Boolean),
            ("raw", DataType::Bytes),
            ("n", DataType::Int),
        ]);
        let row = Row::new(vec![
            Value::Bigint(7),
            Value::String("a \"q\"\n\u{1}".to_string()),
            Value::Double(1.5),
            Value::Boolean(true),
            Value::Bytes(vec![0x00, 0xab]),
            Value::Null,
        ]);
        (schema, row)
    }

    #[test]
    fn json_is_valid_and_ordered() {
        let (schema, row) = sample();
        let json = row.to_json(&schema);
        assert_eq!(
            json,
            r#"{"id":7,"name":"a \"q\"\n\u0001","score":1.5,"ok":true,"raw":"AKs=","n":null}"#
        );
        let parsed: serde_json::Value = serde_json::from_str(&json).unwrap();
        assert_eq!(parsed["name"], "a \"q\"\n\u{1}");
    }

    #[test]
    fn json_handles_extra_values_and_non_finite_floats() {
        let schema = Schema::new([("x", DataType::Double)]);
        let row = Row::new(vec![Value::Double(f64::NAN), Value::Float(f32::INFINITY)]);
        // Jackson's default: non-finite numbers as strings.
        assert_eq!(row.to_json(&schema), r#"{"x":"NaN","_1":"Infinity"}"#);
    }

    #[test]
    fn text_joins_with_delimiter() {
        let (_, row) = sample();
        // Bytes as their (lossy) UTF-8 text, as SeaTunnel's text format writes them.
        assert_eq!(row.to_text("|"), "7|a \"q\"\n\u{1}|1.5|true|\u{0}\u{fffd}|");
    }

    #[test]
    fn size_counts_inline_slots_and_heap_capacity() {
        let empty = Row::new(Vec::new());
        assert_eq!(empty.size_bytes(), size_of::<Row>() as u64);

        let mut text = String::with_capacity(100);
        text.push('x');
        let row = Row::new(vec![Value::Bigint(1), Value::String(text)]);
        let expected = size_of::<Row>() + row.values.capacity() * size_of::<Value>() + 100;
        assert_eq!(row.size_bytes(), expected as u64);
        assert!(row.size_bytes() > 100);
    }
}
