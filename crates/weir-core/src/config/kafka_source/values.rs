//! The values of the Kafka source's enumerated options (`start_mode`, `format`,
//! `format_error_handle_way`), read by the names SeaTunnel's job files use.

use schemars::JsonSchema;
use serde::{Deserialize, Deserializer, Serialize};

use crate::config::env::{deserialize_variant, variant_name};

/// Where a Kafka source starts reading each partition.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum StartMode {
    /// The earliest retained offset.
    Earliest,
    /// The end of the partition: only records produced after the job started.
    Latest,
    /// The offset committed to `consumer.group`; earliest when there is none.
    GroupOffsets,
    /// The first record at or after `start_mode.timestamp`.
    Timestamp,
    /// The offsets in `start_mode.offsets`; earliest for partitions not listed.
    SpecificOffsets,
}

impl StartMode {
    const VARIANTS: [(&'static str, StartMode); 5] = [
        ("earliest", StartMode::Earliest),
        ("latest", StartMode::Latest),
        ("group_offsets", StartMode::GroupOffsets),
        ("timestamp", StartMode::Timestamp),
        ("specific_offsets", StartMode::SpecificOffsets),
    ];

    /// The name as written in job files.
    pub fn name(self) -> &'static str {
        variant_name(&Self::VARIANTS, self)
    }
}

impl<'de> Deserialize<'de> for StartMode {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserialize_variant(deserializer, &StartMode::VARIANTS)
    }
}

/// How a Kafka record's value is decoded into rows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum MessageFormat {
    /// One JSON object per record.
    Json,
    /// Delimited text.
    Text,
    /// The whole value as one `string` or `bytes` field.
    Raw,
    /// Canal's JSON change events: rows of `data` (and `old`), by `type`.
    CanalJson,
    /// Debezium's JSON change events: `before` / `after` rows, by `op`.
    DebeziumJson,
    /// Avro binary records of the schema derived from the job's `schema`.
    Avro,
}

impl MessageFormat {
    const VARIANTS: [(&'static str, MessageFormat); 6] = [
        ("json", MessageFormat::Json),
        ("text", MessageFormat::Text),
        ("raw", MessageFormat::Raw),
        ("canal_json", MessageFormat::CanalJson),
        ("debezium_json", MessageFormat::DebeziumJson),
        ("avro", MessageFormat::Avro),
    ];

    /// The name as written in job files.
    pub fn name(self) -> &'static str {
        variant_name(&Self::VARIANTS, self)
    }
}

impl<'de> Deserialize<'de> for MessageFormat {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserialize_variant(deserializer, &MessageFormat::VARIANTS)
    }
}

/// What happens to a record that cannot be decoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum FormatErrorHandleWay {
    /// Fail the job, naming the record's topic, partition and offset.
    Fail,
    /// Drop the record and count it.
    Skip,
}

impl<'de> Deserialize<'de> for FormatErrorHandleWay {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserialize_variant(
            deserializer,
            &[
                ("fail", FormatErrorHandleWay::Fail),
                ("skip", FormatErrorHandleWay::Skip),
            ],
        )
    }
}
