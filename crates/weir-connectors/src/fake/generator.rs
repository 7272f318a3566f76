//! Row values for FakeSource.

use chrono::{NaiveDate, NaiveDateTime, TimeDelta};
use rand::rngs::SmallRng;
use rand::{Rng, RngCore, SeedableRng};
use weir_core::row::{Row, Value};
use weir_core::schema::{DataType, Schema};

/// The characters of generated strings (SeaTunnel's FakeSource uses letters and digits).
const ALPHANUMERIC: &[u8; 62] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";

/// Elements in each generated array and map (SeaTunnel's FakeSource default).
const FAKE_COLLECTION_SIZE: usize = 5;

/// A timestamp derived from a row's sequence number: one second apart from 2024-01-01.
fn fake_timestamp(sequence: u64) -> NaiveDateTime {
    let start = NaiveDate::from_ymd_opt(2024, 1, 1)
        .and_then(|date| date.and_hms_opt(0, 0, 0))
        .unwrap_or_default();
    // Wraps around after about 136 years of rows, far beyond any run.
    start + TimeDelta::seconds((sequence % (1 << 32)) as i64)
}

/// Generates rows for one subtask. Deterministic: the same subtask of the same config always
/// produces the same rows.
pub(crate) struct RowGenerator {
    types: Vec<DataType>,
    subtask_index: u64,
    parallelism: u64,
    next_index: u64,
    random: RandomValues,
}

struct RandomValues {
    string_length: usize,
    rng: SmallRng,
}

impl RowGenerator {
    pub(crate) fn new(
        schema: &Schema,
        string_length: u32,
        subtask_index: u32,
        parallelism: u32,
    ) -> Self {
        RowGenerator {
            types: schema
                .fields
                .iter()
                .map(|field| field.data_type.clone())
                .collect(),
            subtask_index: u64::from(subtask_index),
            parallelism: u64::from(parallelism.max(1)),
            next_index: 0,
            random: RandomValues {
                string_length: string_length as usize,
                rng: SmallRng::seed_from_u64(0x5EED_0000 ^ u64::from(subtask_index)),
            },
        }
    }

    /// The next row. Its sequence number, `index × parallelism + subtask`, is unique across
    /// the job's subtasks: `bigint` columns carry it, `int` columns carry it modulo 2³¹;
    /// strings, bytes, booleans and floats are pseudo-random.
    pub(crate) fn next_row(&mut self) -> Row {
        let sequence = self
            .next_index
            .wrapping_mul(self.parallelism)
            .wrapping_add(self.subtask_index);
        self.next_index += 1;
        let values = self
            .types
            .iter()
            .map(|data_type| self.random.value(data_type, sequence))
            .collect();
        Row::new(values)
    }
}

impl RandomValues {
    /// A value of `data_type` for the row numbered `sequence`.
    fn value(&mut self, data_type: &DataType, sequence: u64) -> Value {
        match data_type {
            // Masking keeps the values non-negative; wrapping happens only after 2^63 rows.
            DataType::Bigint => Value::Bigint((sequence & i64::MAX as u64) as i64),
            DataType::Int => Value::Int((sequence & i32::MAX as u64) as i32),
            DataType::Smallint => Value::Smallint((sequence & i16::MAX as u64) as i16),
            DataType::Tinyint => Value::Tinyint((sequence & i8::MAX as u64) as i8),
            DataType::Boolean => Value::Boolean(self.rng.random_bool(0.5)),
            DataType::String => Value::String(self.string()),
            DataType::Bytes => Value::Bytes(self.bytes()),
            DataType::Double => Value::Double(self.rng.random_range(0.0..100.0)),
            DataType::Float => Value::Float(self.rng.random_range(0.0f32..100.0)),
            DataType::Decimal { precision, scale } => {
                // Any value with at most `precision` digits fits.
                let bound = 10_i128.saturating_pow(u32::from(*precision).min(18));
                Value::Decimal {
                    unscaled: self.rng.random_range(0..bound),
                    scale: *scale,
                }
            }
            DataType::Date => Value::Date(fake_timestamp(sequence).date()),
            DataType::Time => Value::Time(fake_timestamp(sequence).time()),
            DataType::Timestamp => Value::Timestamp(fake_timestamp(sequence)),
            DataType::Null => Value::Null,
            // SeaTunnel's FakeSource fills collections with `array.size` / `map.size`
            // elements (default 5).
            DataType::Array(element) => Value::Array(
                (0..FAKE_COLLECTION_SIZE)
                    .map(|_| self.value(element, sequence))
                    .collect(),
            ),
            DataType::Map(key, value) => Value::Map(
                (0..FAKE_COLLECTION_SIZE)
                    .map(|_| (self.value(key, sequence), self.value(value, sequence)))
                    .collect(),
            ),
            DataType::Row(fields) => Value::Row(
                fields
                    .iter()
                    .map(|field| self.value(&field.data_type, sequence))
                    .collect(),
            ),
        }
    }

    fn bytes(&mut self) -> Vec<u8> {
        let mut bytes = vec![0; self.string_length];
        self.rng.fill_bytes(&mut bytes);
        bytes
    }

    fn string(&mut self) -> String {
        // One random byte per character, mapped onto the alphabet: a generator that drew one
        // sample per character spent more CPU than the rest of a FakeSource job together. The
        // slight bias of `% 62` does not matter for generated test data.
        let mut bytes = vec![0_u8; self.string_length];
        self.rng.fill_bytes(&mut bytes);
        for byte in &mut bytes {
            *byte = ALPHANUMERIC[usize::from(*byte) % ALPHANUMERIC.len()];
        }
        // Every byte is ASCII, so this never fails; the fallback only satisfies the type.
        String::from_utf8(bytes).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::*;

    fn schema() -> Schema {
        Schema::new([
            ("id", DataType::Bigint),
            ("name", DataType::String),
            ("n", DataType::Int),
            ("ok", DataType::Boolean),
            ("score", DataType::Double),
            ("f", DataType::Float),
            ("raw", DataType::Bytes),
        ])
    }

    #[test]
    fn values_follow_the_schema() {
        let mut generator = RowGenerator::new(&schema(), 12, 0, 1);
        let row = generator.next_row();
        assert_eq!(row.values.len(), 7);
        assert_eq!(row.values[0], Value::Bigint(0));
        match &row.values[1] {
            Value::String(text) => {
                assert_eq!(text.len(), 12);
                assert!(text.chars().all(|c| c.is_ascii_alphanumeric()));
            }
            other => panic!("expected a string, got {other:?}"),
        }
        assert_eq!(row.values[2], Value::Int(0));
        assert!(matches!(row.values[3], Value::Boolean(_)));
        assert!(matches!(row.values[4], Value::Double(d) if (0.0..100.0).contains(&d)));
        assert!(matches!(row.values[5], Value::Float(f) if (0.0..100.0).contains(&f)));
        assert!(matches!(&row.values[6], Value::Bytes(b) if b.len() == 12));
    }

    #[test]
    fn bigint_ids_are_unique_across_subtasks() {
        let schema = Schema::new([("id", DataType::Bigint)]);
        let mut seen = HashSet::new();
        for subtask in 0..3 {
            let mut generator = RowGenerator::new(&schema, 5, subtask, 3);
            for _ in 0..100 {
                let Value::Bigint(id) = generator.next_row().values[0] else {
                    panic!("bigint expected")
                };
                assert!(seen.insert(id), "duplicate id {id}");
            }
        }
        assert_eq!(seen.len(), 300);
        assert_eq!(seen.iter().max(), Some(&299));
    }

    #[test]
    fn generation_is_deterministic_per_subtask() {
        let mut a = RowGenerator::new(&schema(), 8, 1, 2);
        let mut b = RowGenerator::new(&schema(), 8, 1, 2);
        for _ in 0..10 {
            assert_eq!(a.next_row(), b.next_row());
        }
    }
}
