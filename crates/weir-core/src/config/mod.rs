//! SeaTunnel-compatible HOCON job files.
//!
//! ```hocon
//! env { parallelism = 2, job.mode = "STREAMING" }
//! source { FakeSource { row.num = 1000, schema = { fields { id = "bigint" } } } }
//! sink { Console { log.print.data = false } }
//! ```
//!
//! [`parse_job`] reads such a text, under a [`ParsePolicy`] that says whether environment
//! variables and included files may be read (the client's) or not (the master's and the
//! workers'); [`parse_job_file`] is the client's, and gives the text to submit. Every error
//! names the file, the line and the full dotted option path ([`ConfigError`]); unknown options
//! are errors, never silently ignored. Hostile text is refused by the bounds of [`limits`]
//! before it costs more than they allow. [`reference_markdown`] renders the option reference
//! from the same structs.

mod bound;
mod compat;
mod compat_kafka;
mod compat_sink;
mod console;
mod document;
mod dotted_keys;
mod env;
mod error;
mod fake_rows;
mod fake_source;
mod file_sink;
mod flat_map;
mod hdfs_site;
mod kafka_source;
pub mod limits;
mod locate;
mod normalize;
mod options;
mod parse;
mod placeholders;
mod policy;
mod prefetch;
mod redact;
mod reference;
mod render;
mod section;
mod syntax;
mod transform;
mod transform_parse;

use serde::{Deserialize, Serialize};

pub use self::console::{
    CONSOLE_WRITE_BUFFER_BYTES, CONSOLE_WRITE_BUFFER_MAX_BYTES, ConsoleSinkConfig,
};
pub use self::env::{EnvConfig, JobMode, ScheduleStrategy};
pub use self::error::{ConfigError, Location};
pub use self::fake_source::{
    FakeSourceConfig, MAX_COLLECTION_SIZE, MAX_GENERATED_ROW_BYTES, MAX_STRING_LENGTH,
};
pub use self::file_sink::{
    ByteSize, Charset, CompressCodec, DEFAULT_HDFS_IN_FLIGHT_BYTES,
    DEFAULT_PARQUET_ROW_GROUP_BYTES, DataSaveMode, FILE_NAME_VARIABLES, FileFormat, FileSinkConfig,
    FileSystemKind, GZIP_ENCODER_BYTES, HDFS_ONLY_OPTIONS, HDFS_WRITE_PIPELINE_BYTES,
    LZO_BLOCK_BYTES, LZO_COMPRESSOR_BYTES, ORC_REFUSAL, SchemaSaveMode, Template, format_utc_time,
};
pub use self::flat_map::{KafkaProperties, PartitionOffsets};
pub use self::kafka_source::{
    CONTENT_FIELD, FormatErrorHandleWay, KafkaSourceConfig, MIN_BUFFER_MAX_BYTES, MessageFormat,
    OWNED_KAFKA_PROPERTIES, StartMode,
};
pub use self::locate::line_of_option;
pub use self::parse::{JobFile, parse_job, parse_job_file};
pub use self::placeholders::table::NAMES as TABLE_PLACEHOLDERS;
pub use self::policy::{ClientHost, ParsePolicy};
pub use self::prefetch::{
    ASSUMED_MAX_RECORD_BYTES, FETCH_MESSAGE_MAX_BYTES_CAP, FETCH_QUEUE_BACKOFF_MS,
    FETCH_SLOT_BYTES, FULL_SPEED_SLOT_BYTES, KAFKA_CLIENT_OVERHEAD_BYTES,
    PREFETCH_BYTES_PER_MESSAGE, PREFETCH_FLOOR_BYTES, PrefetchSettings, fetch_slots,
};
pub use self::reference::{reference_markdown, settings_markdown};
pub use self::transform::{
    CopyConfig, FieldMapperConfig, FieldPairs, FilterConfig, FilterRowKindConfig, ReplaceConfig,
    SplitConfig, TransformConfig,
};
pub use crate::schema::{DataType, Field, Schema};
use crate::transform::TransformChain;

/// A whole job file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JobConfig {
    /// `env { }`: job-wide settings.
    pub env: EnvConfig,
    /// `source { <Plugin> { } }`: where rows come from.
    pub source: SourceConfig,
    /// `sink { <Plugin> { } }`: where rows go.
    pub sink: SinkConfig,
    /// `transform { <Plugin> { } ... }`: what happens to each row between the source and
    /// the sink, checked against the source's schema (empty: nothing). Serialized as its
    /// blocks; built only by parsing a job text, since it needs the source's schema.
    #[serde(skip_deserializing, skip_serializing_if = "TransformChain::is_empty")]
    pub transform: TransformChain,
    /// What the job file sets that Weir accepts but does not apply (e.g. `env.spark.*`),
    /// one line each, `file:line: 'option' is ignored: why`: `weir validate` and
    /// `weir submit` print them and the master logs them with the job.
    #[serde(skip)]
    pub warnings: Vec<String>,
}

/// The source plugin of a job, keyed by its SeaTunnel plugin name.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum SourceConfig {
    /// Generated rows.
    FakeSource(FakeSourceConfig),
    /// Kafka topics, one split per partition.
    Kafka(KafkaSourceConfig),
}

/// The sink plugin of a job, keyed by its SeaTunnel plugin name.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum SinkConfig {
    /// Standard output.
    Console(ConsoleSinkConfig),
    /// Files on HDFS, exactly once through checkpoints.
    HdfsFile(FileSinkConfig),
    /// Files on the worker's local file system, exactly once through checkpoints.
    LocalFile(FileSinkConfig),
}

/// Bounds of one split queue, in rows and bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QueueBounds {
    /// At most this many rows.
    pub max_rows: usize,
    /// At most this many bytes (see the oversize rule in [`crate::queue`]).
    pub max_bytes: u64,
}

impl SourceConfig {
    /// Names accepted in `source { }`, in documentation order.
    pub const PLUGIN_NAMES: &'static [&'static str] = &["FakeSource", "Kafka"];

    /// The plugin name as written in job files.
    pub fn plugin_name(&self) -> &'static str {
        match self {
            SourceConfig::FakeSource(_) => "FakeSource",
            SourceConfig::Kafka(_) => "Kafka",
        }
    }

    /// The schema of the rows this source produces.
    pub fn output_schema(&self) -> Schema {
        match self {
            SourceConfig::FakeSource(fake) => fake.schema.clone(),
            SourceConfig::Kafka(kafka) => kafka.output_schema(),
        }
    }

    /// The largest row (in [`crate::row::Row::size_bytes`]) the reservation assumes this
    /// source produces: FakeSource's generated row; for Kafka the record size the prefetch
    /// reservation assumes, [`ASSUMED_MAX_RECORD_BYTES`]. Transforms that allocate reserve
    /// a multiple of it ([`TransformChain::reserved_bytes`]).
    pub fn max_row_bytes(&self) -> u64 {
        match self {
            SourceConfig::FakeSource(fake) => fake.generated_row_bytes(),
            SourceConfig::Kafka(_) => ASSUMED_MAX_RECORD_BYTES,
        }
    }

    /// The schema of the rows the sink receives: the source's, through `transform`.
    pub fn sink_schema(&self, transform: &TransformChain) -> Schema {
        transform.output_schema(&self.output_schema())
    }

    /// Whether the master enumerates this source's splits and assigns them to subtasks
    /// (Kafka: one per partition). A source without splits runs one split per subtask.
    pub fn has_splits(&self) -> bool {
        match self {
            SourceConfig::FakeSource(_) => false,
            SourceConfig::Kafka(_) => true,
        }
    }

    /// Bounds of each split queue this source feeds.
    pub fn queue_bounds(&self) -> QueueBounds {
        match self {
            SourceConfig::FakeSource(fake) => QueueBounds {
                max_rows: fake.queue_size as usize,
                max_bytes: fake.queue_max_bytes,
            },
            SourceConfig::Kafka(kafka) => QueueBounds {
                max_rows: kafka.queue_size as usize,
                max_bytes: kafka.queue_max_bytes,
            },
        }
    }

    /// Bytes one subtask's source side may hold when it reads `splits` splits.
    ///
    /// FakeSource: its one queue's `queue.max_bytes` (the split count is ignored). Kafka:
    /// [`KAFKA_CLIENT_OVERHEAD_BYTES`] + the subtask's `buffer.max_bytes` and the record
    /// batches its fetch slots may hold ([`KafkaSourceConfig::subtask_buffer_bytes`]): the
    /// same for any split count. (`_splits` stays in the signature for sources whose buffers
    /// would be per split; neither of today's has any.)
    pub fn buffer_bytes(&self, _splits: usize) -> u64 {
        match self {
            SourceConfig::FakeSource(fake) => fake.queue_max_bytes,
            SourceConfig::Kafka(kafka) => {
                KAFKA_CLIENT_OVERHEAD_BYTES.saturating_add(kafka.subtask_buffer_bytes())
            }
        }
    }

    /// The byte budget all the split queues of one subtask share; `None` for a source with
    /// one split per subtask (FakeSource), whose queue is bounded by its own options.
    pub fn queue_budget_bytes(&self) -> Option<u64> {
        match self {
            SourceConfig::FakeSource(_) => None,
            SourceConfig::Kafka(kafka) => Some(kafka.queue_budget_bytes()),
        }
    }
}

impl SinkConfig {
    /// Names accepted in `sink { }`, in documentation order.
    pub const PLUGIN_NAMES: &'static [&'static str] = &["Console", "HdfsFile", "LocalFile"];

    /// The plugin name as written in job files.
    pub fn plugin_name(&self) -> &'static str {
        match self {
            SinkConfig::Console(_) => "Console",
            SinkConfig::HdfsFile(_) => "HdfsFile",
            SinkConfig::LocalFile(_) => "LocalFile",
        }
    }

    /// Bytes one subtask's sink writer may buffer. Console: its `write.buffer_bytes`.
    /// File sinks: [`FileSinkConfig::buffer_bytes`] (write buffers, gzip state and the HDFS
    /// write pipeline of every file a subtask may hold open).
    pub fn buffer_bytes(&self) -> u64 {
        match self {
            SinkConfig::Console(console) => console.write_buffer_bytes.0,
            SinkConfig::HdfsFile(file) => file.buffer_bytes(FileSystemKind::Hdfs),
            SinkConfig::LocalFile(file) => file.buffer_bytes(FileSystemKind::Local),
        }
    }
}

#[cfg(test)]
mod corpus_tests;
#[cfg(test)]
mod file_sink_parquet_tests;
#[cfg(test)]
mod file_sink_tests;
#[cfg(test)]
mod hostile_tests;
#[cfg(test)]
mod kafka_tests;
#[cfg(test)]
mod seatunnel_options_tests;
#[cfg(test)]
mod seatunnel_reading_tests;
#[cfg(test)]
mod seatunnel_tests;
#[cfg(test)]
mod test_host;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod transform_tests;
