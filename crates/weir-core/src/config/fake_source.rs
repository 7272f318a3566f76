//! `source { FakeSource { } }`: generated rows, for demos, tests and benchmarks.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::section::{Section, Violation, check_queue_bounds};
use crate::schema::{DataType, Schema};

/// Generates rows of the given `schema`. Each parallel subtask generates its own `row.num`
/// rows (as in SeaTunnel, where `row.num` is per degree of parallelism); `bigint` columns carry
/// `index × parallelism + subtask`, so they are unique across subtasks.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FakeSourceConfig {
    /// Columns to generate, in order: `schema = { fields { id = "bigint", name = "string" } }`.
    /// Types: string, boolean, int, bigint, float, double, bytes.
    pub schema: Schema,
    /// Rows each subtask generates before it finishes. Absent: SeaTunnel's default, 5 (set
    /// `unbounded = true` for rows without end).
    #[serde(rename = "row.num", skip_serializing_if = "Option::is_none")]
    #[schemars(extend("default" = DEFAULT_ROW_NUM))]
    pub row_num: Option<u64>,
    /// Weir only: generate rows until the job is cancelled, a load generator (SeaTunnel's
    /// FakeSource always stops after `row.num` rows, so a SeaTunnel job file never sets it).
    /// Refused together with `row.num` or `rows`.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    #[schemars(extend("default" = false))]
    pub unbounded: bool,
    /// Rows per second each subtask generates at most. Absent: as fast as the queue accepts.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rows_per_second: Option<u64>,
    /// Characters in each generated `string` value; at most 16777216.
    #[serde(rename = "string.length", default = "default_string_length")]
    pub string_length: u32,
    /// Bytes in each generated `bytes` value (SeaTunnel's default, 5); at most 16777216.
    #[serde(rename = "bytes.length", default = "default_collection_size")]
    pub bytes_length: u32,
    /// Elements in each generated `array` value (SeaTunnel's default, 5); at most 65536.
    #[serde(rename = "array.size", default = "default_collection_size")]
    pub array_size: u32,
    /// Entries in each generated `map` value (SeaTunnel's default, 5); at most 65536.
    #[serde(rename = "map.size", default = "default_collection_size")]
    pub map_size: u32,
    /// Rows the subtask's bounded queue holds before the generator waits.
    #[serde(rename = "queue.size", default = "default_queue_size")]
    pub queue_size: u32,
    /// Bytes (in-memory row size) the subtask's bounded queue holds before the generator
    /// waits; this is the source's share of the subtask's memory reservation. The default,
    /// 8 MiB, lets the 1000-row bound govern for rows up to about 8 KiB.
    #[serde(rename = "queue.max_bytes", default = "default_queue_max_bytes")]
    pub queue_max_bytes: u64,
    /// SeaTunnel's literal rows, emitted in order instead of generated ones, once per job (by
    /// subtask 0, as SeaTunnel's single split), after which the source finishes (`row.num` is
    /// not used): `rows = [ { kind = INSERT, fields = [1, "a"] }, ... ]`, one value per schema
    /// field, typed as the Kafka source's JSON reader types them; `kind` is INSERT (default),
    /// UPDATE_BEFORE, UPDATE_AFTER or DELETE. At most 10000 rows.
    #[serde(skip)]
    #[schemars(skip)]
    pub rows: Option<Vec<crate::row::Row>>,
    /// Name of the stream this source produces (alias: `result_table_name`). Accepted for
    /// SeaTunnel compatibility; a Weir job has one source and one sink, so it is only a label.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub plugin_output: Option<String>,
}

/// SeaTunnel's FakeSource `row.num` when a job file leaves it out.
pub const DEFAULT_ROW_NUM: u64 = 5;

/// Upper bound for `string.length`: one generated value may not exceed 16 MiB.
pub const MAX_STRING_LENGTH: u32 = 16 * 1024 * 1024;

/// Upper bound for `array.size` and `map.size`.
pub const MAX_COLLECTION_SIZE: u32 = 65536;

/// Upper bound for the estimated size of one generated row (strings and bytes at their
/// length, other values 16 bytes, collections at their size): nested collections multiply, and
/// one row is generated and queued whole.
pub const MAX_GENERATED_ROW_BYTES: u64 = 256 * 1024 * 1024;

fn default_string_length() -> u32 {
    5
}
fn default_collection_size() -> u32 {
    5
}
fn default_queue_size() -> u32 {
    1000
}
fn default_queue_max_bytes() -> u64 {
    8 * 1024 * 1024
}

impl FakeSourceConfig {
    /// The estimated in-memory size of one generated row (what `validate` bounds by
    /// [`MAX_GENERATED_ROW_BYTES`]), slots included.
    pub fn generated_row_bytes(&self) -> u64 {
        let slots = (std::mem::size_of::<crate::row::Row>()
            + self.schema.fields.len() * std::mem::size_of::<crate::row::Value>())
            as u64;
        self.schema.fields.iter().fold(slots, |sum, field| {
            sum.saturating_add(self.generated_bytes(&field.data_type))
        })
    }

    /// A config with every default and the given schema, generating rows without end.
    pub fn new(schema: Schema) -> Self {
        FakeSourceConfig {
            schema,
            row_num: None,
            unbounded: true,
            rows_per_second: None,
            string_length: default_string_length(),
            bytes_length: default_collection_size(),
            array_size: default_collection_size(),
            map_size: default_collection_size(),
            queue_size: default_queue_size(),
            queue_max_bytes: default_queue_max_bytes(),
            rows: None,
            plugin_output: None,
        }
    }
}

impl Section for FakeSourceConfig {
    const ALIASES: &'static [(&'static str, &'static str)] =
        &[("result_table_name", "plugin_output")];

    fn validate(&self) -> Result<(), Violation> {
        check_queue_bounds(self.queue_size, self.queue_max_bytes)?;
        if self.unbounded && self.row_num.is_some() {
            return Err(Violation::new(
                "unbounded",
                "cannot be set together with row.num: leave out one of them",
            ));
        }
        if self.rows_per_second == Some(0) {
            return Err(Violation::new(
                "rows_per_second",
                "must be at least 1 when set (leave it out for no pacing), found 0",
            ));
        }
        for (option, value, max) in [
            ("string.length", self.string_length, MAX_STRING_LENGTH),
            ("bytes.length", self.bytes_length, MAX_STRING_LENGTH),
            ("array.size", self.array_size, MAX_COLLECTION_SIZE),
            ("map.size", self.map_size, MAX_COLLECTION_SIZE),
        ] {
            if value > max {
                return Err(Violation::new(
                    option,
                    format!("must be at most {max}, found {value}"),
                ));
            }
        }
        let row_bytes = self.schema.fields.iter().fold(0_u64, |sum, field| {
            sum.saturating_add(self.generated_bytes(&field.data_type))
        });
        if row_bytes > MAX_GENERATED_ROW_BYTES {
            return Err(Violation::new(
                "schema",
                format!(
                    "would generate rows of about {row_bytes} bytes with string.length = {}, \
                     bytes.length = {}, array.size = {} and map.size = {}, more than \
                     {MAX_GENERATED_ROW_BYTES}: lower them",
                    self.string_length, self.bytes_length, self.array_size, self.map_size
                ),
            ));
        }
        Ok(())
    }
}

impl FakeSourceConfig {
    /// The estimated in-memory size of one generated value of `data_type`.
    fn generated_bytes(&self, data_type: &DataType) -> u64 {
        match data_type {
            DataType::String => u64::from(self.string_length).max(16),
            DataType::Bytes => u64::from(self.bytes_length).max(16),
            DataType::Array(element) => {
                u64::from(self.array_size).saturating_mul(self.generated_bytes(element))
            }
            DataType::Map(key, value) => u64::from(self.map_size).saturating_mul(
                self.generated_bytes(key)
                    .saturating_add(self.generated_bytes(value)),
            ),
            DataType::Row(fields) => fields.iter().fold(0_u64, |sum, field| {
                sum.saturating_add(self.generated_bytes(&field.data_type))
            }),
            _ => 16,
        }
    }
}
