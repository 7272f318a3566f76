//! Row values for FakeSource.

use chrono::{NaiveDate, NaiveDateTime, TimeDelta};
use rand::rngs::SmallRng;
use rand::{Rng, RngCore, SeedableRng};
use weir_core::row::{Row, Value};
use weir_core::schema::{DataType, Schema};

/// The characters of generated strings (SeaTunnel's FakeSource uses letters and digits).
const ALPHANUMERIC: &[u8; 62] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";

/// The sizes of generated values: FakeSource's `string.length`, `bytes.length`, `array.size`
/// and `map.size`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Sizes {
    pub(crate) string_length: u32,
    pub(crate) bytes_length: u32,
    pub(crate) array_size: u32,
    pub(crate) map_size: u32,
}

impl Sizes {
    /// The sizes of `config`.
    pub(crate) fn of(config: &weir_core::config::FakeSourceConfig) -> Self {
        Sizes {
            string_length: config.string_length,
            bytes_length: config.bytes_length,
            array_size: config.array_size,
            map_size: config.map_size,
        }
    }
}

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
    sizes: Sizes,
    rng: SmallRng,
}

impl RowGenerator {
    pub(crate) fn new(schema: &Schema, sizes: Sizes, subtask_index: u32, parallelism: u32) -> Self {
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
                sizes,
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
            // As SeaTunnel's FakeSource: `array.size` / `map.size` elements (default 5).
            DataType::Array(element) => Value::Array(
                (0..self.sizes.array_size)
                    .map(|_| self.value(element, sequence))
                    .collect(),
            ),
            DataType::Map(key, value) => Value::Map(
                (0..self.sizes.map_size)
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
        // ASCII letters, as SeaTunnel's FakeSource makes them (`randomAlphabetic(n).getBytes()`):
        // random bytes would put line breaks and invalid UTF-8 into text files.
        const LETTERS: &[u8] = ALPHANUMERIC.split_at(52).0;
        let mut bytes = vec![0; self.sizes.bytes_length as usize];
        self.rng.fill_bytes(&mut bytes);
        for byte in &mut bytes {
            *byte = LETTERS[usize::from(*byte) % LETTERS.len()];
        }
        bytes
    }

    fn string(&mut self) -> String {
        // One random byte per character, mapped onto the alphabet: a generator that drew one
        // sample per character spent more CPU than the rest of a FakeSource job together. The
        // slight bias of `% 62` does not matter for generated test data.
        let mut bytes = vec![0_u8; self.sizes.string_length as usize];
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

    /// Every size `n`, but bytes of `n + 1` (so the two cannot be confused).
    fn sizes(n: u32) -> Sizes {
        Sizes {
            string_length: n,
            bytes_length: n + 1,
            array_size: n,
            map_size: n,
        }
    }

    #[test]
    fn collections_and_bytes_have_their_configured_sizes() {
        let schema = Schema::new([
            ("list", DataType::Array(Box::new(DataType::Int))),
            (
                "tags",
                DataType::Map(Box::new(DataType::String), Box::new(DataType::Bytes)),
            ),
        ]);
        let sizes = Sizes {
            string_length: 2,
            bytes_length: 3,
            array_size: 7,
            map_size: 4,
        };
        let row = RowGenerator::new(&schema, sizes, 0, 1).next_row();
        let Value::Array(list) = &row.values[0] else {
            panic!("array expected: {row:?}")
        };
        assert_eq!(list.len(), 7);
        let Value::Map(tags) = &row.values[1] else {
            panic!("map expected: {row:?}")
        };
        assert_eq!(tags.len(), 4);
        for (key, value) in tags {
            assert!(
                matches!(key, Value::String(text) if text.len() == 2),
                "{key:?}"
            );
            assert!(
                matches!(value, Value::Bytes(bytes) if bytes.len() == 3),
                "{value:?}"
            );
        }
    }

    #[test]
    fn values_follow_the_schema() {
        let mut generator = RowGenerator::new(&schema(), sizes(12), 0, 1);
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
        assert!(matches!(&row.values[6], Value::Bytes(b) if b.len() == 13));
        // Letters only, as SeaTunnel's: no line break or invalid UTF-8 in a text file.
        assert!(
            matches!(&row.values[6], Value::Bytes(b) if b.iter().all(u8::is_ascii_alphabetic)),
            "{:?}",
            row.values[6]
        );
    }

    #[test]
    fn bigint_ids_are_unique_across_subtasks() {
        let schema = Schema::new([("id", DataType::Bigint)]);
        let mut seen = HashSet::new();
        for subtask in 0..3 {
            let mut generator = RowGenerator::new(&schema, sizes(5), subtask, 3);
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
        let mut a = RowGenerator::new(&schema(), sizes(8), 1, 2);
        let mut b = RowGenerator::new(&schema(), sizes(8), 1, 2);
        for _ in 0..10 {
            assert_eq!(a.next_row(), b.next_row());
        }
    }
}
