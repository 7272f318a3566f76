//! Rows: positional values matching a [`Schema`].

use std::fmt::Write as _;
use std::mem::size_of;

use crate::schema::Schema;

/// One column value.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// SQL-style null.
    Null,
    /// `boolean`.
    Boolean(bool),
    /// `int`.
    Int(i32),
    /// `bigint`.
    Bigint(i64),
    /// `float`.
    Float(f32),
    /// `double`.
    Double(f64),
    /// `string`.
    String(String),
    /// `bytes`.
    Bytes(Vec<u8>),
}

impl Value {
    /// Heap bytes this value owns (capacity, not length: that is what the allocator holds).
    pub fn heap_bytes(&self) -> usize {
        match self {
            Value::String(text) => text.capacity(),
            Value::Bytes(bytes) => bytes.capacity(),
            Value::Null
            | Value::Boolean(_)
            | Value::Int(_)
            | Value::Bigint(_)
            | Value::Float(_)
            | Value::Double(_) => 0,
        }
    }
}

/// A record: one value per schema field, in schema order.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Row {
    /// The values, positionally matching `Schema::fields`.
    pub values: Vec<Value>,
}

impl Row {
    /// Wraps values into a row.
    pub fn new(values: Vec<Value>) -> Self {
        Row { values }
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

    /// Renders the row as one JSON object keyed by schema field names, in schema order.
    ///
    /// Values beyond the schema are keyed `_<position>`; bytes are lowercase hex strings;
    /// non-finite floats are `null` (JSON has no NaN or infinity).
    pub fn to_json(&self, schema: &Schema) -> String {
        let mut out = String::with_capacity(16 * self.values.len() + 2);
        out.push('{');
        for (position, value) in self.values.iter().enumerate() {
            if position > 0 {
                out.push(',');
            }
            match schema.fields.get(position) {
                Some(field) => push_json_string(&mut out, &field.name),
                None => push_json_string(&mut out, &format!("_{position}")),
            }
            out.push(':');
            push_json_value(&mut out, value);
        }
        out.push('}');
        out
    }

    /// Renders the values joined by `delimiter`: null as an empty string, bytes as hex.
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

fn push_json_value(out: &mut String, value: &Value) {
    match value {
        Value::Null => out.push_str("null"),
        Value::Boolean(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::String(text) => push_json_string(out, text),
        Value::Bytes(bytes) => {
            out.push('"');
            push_hex(out, bytes);
            out.push('"');
        }
        Value::Float(f) if !f.is_finite() => out.push_str("null"),
        Value::Double(f) if !f.is_finite() => out.push_str("null"),
        other => push_text(out, other),
    }
}

/// Appends `value` as text: strings verbatim, null as nothing, bytes as lowercase hex — the
/// form of [`Row::to_text`] and of the text and csv file formats.
pub fn push_text(out: &mut String, value: &Value) {
    // `write!` into a String cannot fail; the fmt::Result is always Ok.
    let _ = match value {
        Value::Null => Ok(()),
        Value::Boolean(b) => write!(out, "{b}"),
        Value::Int(n) => write!(out, "{n}"),
        Value::Bigint(n) => write!(out, "{n}"),
        Value::Float(f) => write!(out, "{f}"),
        Value::Double(f) => write!(out, "{f}"),
        Value::String(text) => {
            out.push_str(text);
            Ok(())
        }
        Value::Bytes(bytes) => {
            push_hex(out, bytes);
            Ok(())
        }
    };
}

fn push_hex(out: &mut String, bytes: &[u8]) {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    for byte in bytes {
        out.push(char::from(DIGITS[usize::from(byte >> 4)]));
        out.push(char::from(DIGITS[usize::from(byte & 0x0f)]));
    }
}

fn push_json_string(out: &mut String, text: &str) {
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
            r#"{"id":7,"name":"a \"q\"\n\u0001","score":1.5,"ok":true,"raw":"00ab","n":null}"#
        );
        let parsed: serde_json::Value = serde_json::from_str(&json).unwrap();
        assert_eq!(parsed["name"], "a \"q\"\n\u{1}");
    }

    #[test]
    fn json_handles_extra_values_and_non_finite_floats() {
        let schema = Schema::new([("x", DataType::Double)]);
        let row = Row::new(vec![Value::Double(f64::NAN), Value::Float(f32::INFINITY)]);
        assert_eq!(row.to_json(&schema), r#"{"x":null,"_1":null}"#);
    }

    #[test]
    fn text_joins_with_delimiter() {
        let (_, row) = sample();
        assert_eq!(row.to_text("|"), "7|a \"q\"\n\u{1}|1.5|true|00ab|");
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
