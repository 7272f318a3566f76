//! `source { Kafka { } }`: records of Kafka topics, one split per partition.

mod values;

use std::time::Duration;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::flat_map::{KafkaProperties, PartitionOffsets};
use super::prefetch::PrefetchSettings;
use super::section::{Section, Violation, check_queue_bounds};
use crate::schema::{DataType, Schema};

pub use self::values::{FormatErrorHandleWay, MessageFormat, StartMode};

/// Reads Kafka topics. The master lists the partitions of `topic` and assigns them to the
/// job's subtasks; each subtask reads its partitions with one consumer that uses `assign()`
/// (never consumer-group rebalancing), each partition into its own queue bounded by
/// `queue.size` rows and `queue.max_bytes` bytes, behind a librdkafka prefetch bounded by
/// `prefetch.max_bytes`. All the queues and the prefetch of one subtask share one byte
/// budget, `buffer.max_bytes`, whatever the number of partitions it reads; the per-partition
/// options are fairness limits inside it. A subtask's memory reservation is that budget plus
/// the Kafka clients, the sink's buffer and a fixed overhead (see `weir_core::reservation`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct KafkaSourceConfig {
    /// Brokers to bootstrap from: `host:port[,host:port...]`.
    #[serde(rename = "bootstrap.servers")]
    pub bootstrap_servers: String,
    /// Topics to read: a comma-separated list of names, or one regular expression when
    /// `pattern = true` (it must match a whole topic name; Kafka's internal topics never
    /// match). A listed topic that does not exist fails the job.
    pub topic: String,
    /// Whether `topic` is a regular expression.
    #[serde(default = "default_pattern")]
    pub pattern: bool,
    /// The consumer group Weir commits read positions to, so that Kafka tooling shows the
    /// job's lag, and that `start_mode = group_offsets` resumes from. Weir never joins the
    /// group's rebalancing. Give each job its own group.
    #[serde(rename = "consumer.group", default = "default_consumer_group")]
    pub consumer_group: String,
    /// Where reading starts in each partition: `earliest`, `latest`, `group_offsets` (the
    /// offsets committed to `consumer.group`; a partition without one starts at earliest),
    /// `timestamp` (the first record at or after `start_mode.timestamp`; a partition with
    /// none starts at latest) or `specific_offsets` (`start_mode.offsets`; a partition not
    /// listed starts at earliest). A start position outside the retained log starts at the
    /// earliest retained offset (librdkafka's `auto.offset.reset`, which `kafka.config` may
    /// override).
    #[serde(default = "default_start_mode")]
    pub start_mode: StartMode,
    /// Milliseconds since the epoch to start at; required with `start_mode = timestamp`.
    #[serde(
        rename = "start_mode.timestamp",
        skip_serializing_if = "Option::is_none"
    )]
    pub start_mode_timestamp: Option<i64>,
    /// Start offsets as `{ "<topic>-<partition>" = offset, ... }`; required with
    /// `start_mode = specific_offsets`.
    #[serde(
        rename = "start_mode.offsets",
        default,
        skip_serializing_if = "PartitionOffsets::is_empty"
    )]
    pub start_mode_offsets: PartitionOffsets,
    /// How record values are decoded: `json` (one object per record, fields looked up by
    /// name: missing ones are null, ones of the wrong type are format errors), `text`
    /// (fields separated by `field_delimiter`, in schema order), `raw` (the whole value as
    /// the one field of the schema, `string` or `bytes`), `canal_json` or `debezium_json`
    /// (change events of Canal or Debezium: one record can give several rows, each with its
    /// row kind: insert, update before/after, delete; see docs/seatunnel.md) or `avro`
    /// (Avro binary, with the Avro schema SeaTunnel derives from `schema`; no `time`
    /// fields). Without a `schema`, each record becomes one string field `content` holding
    /// the whole value, whatever the format (as in SeaTunnel).
    #[serde(default = "default_format")]
    pub format: MessageFormat,
    /// With `format = debezium_json`: whether each message wraps its change event in
    /// Kafka Connect's schema envelope (`{"schema": …, "payload": {"before", "after",
    /// "op"}}`, the default, as SeaTunnel's) or is the event itself (`{"before", "after",
    /// "op"}`, with `value.converter.schemas.enable = false`). Only with `debezium_json`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub debezium_record_include_schema: Option<bool>,
    /// Separator between the fields of a `text` record.
    #[serde(default = "default_field_delimiter")]
    pub field_delimiter: String,
    /// Fields of each record: `schema = { fields { id = "bigint", name = "string" } }`.
    /// Absent: one string field `content` with the record's value.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub schema: Option<Schema>,
    /// What a record that cannot be decoded does: `fail` fails the job, naming the topic,
    /// partition and offset; `skip` drops it and counts it in the job's `records_skipped`.
    /// A zero-byte value is never an error in itself (a read limit in bytes included):
    /// without a schema it is an empty `content`, with `format = text` an empty first field
    /// (the other fields null); with `format = json` it is not an object, so it is
    /// undecodable and handled here. A record without a value (a tombstone) reads like a
    /// zero-byte one.
    #[serde(default = "default_format_error_handle_way")]
    pub format_error_handle_way: FormatErrorHandleWay,
    /// Commit the offsets of each completed checkpoint to `consumer.group` once its files
    /// are committed (re-sent every `env.checkpoint.interval` and when the job stops), so
    /// lag shown by Kafka tooling is what is not yet committed downstream and
    /// `start_mode = group_offsets` resumes exactly after it. Recovery and `--restore` use
    /// the checkpoint's own offsets, not these. `false` never commits.
    #[serde(default = "default_commit_on_checkpoint")]
    pub commit_on_checkpoint: bool,
    /// librdkafka consumer properties, e.g. `kafka.config = { client.id = weir, security.protocol
    /// = SSL }`, used by every Kafka client of the job (the master's partition listing, the
    /// workers' readers and offset commits). Values of secret-looking keys (`sasl.password`,
    /// `ssl.key.password`, ...) are redacted wherever Weir shows them (logs, errors). Kafka
    /// with SASL_SSL: docs/security.md. Properties Weir sets itself are rejected, naming the
    /// option to use instead:
    /// bootstrap.servers, metadata.broker.list, group.id, enable.auto.commit,
    /// enable.auto.offset.store, auto.commit.interval.ms, enable.partition.eof,
    /// queued.max.messages.kbytes, queued.min.messages, fetch.message.max.bytes,
    /// max.partition.fetch.bytes, fetch.queue.backoff.ms.
    #[serde(rename = "kafka.config", default)]
    pub kafka_config: KafkaProperties,
    /// Bytes one subtask may hold for all the partitions it reads together, whatever their
    /// number: three quarters for the partitions' queues (in-memory row size), shared, each
    /// partition guaranteed an even part of half of it; one quarter for librdkafka's
    /// prefetch, shared by the subtask's fetch slots: this quarter ÷ 4 MiB partitions (at
    /// least one; 2 at the default) are fetched at once, the others stay paused until a slot
    /// is handed over (when its partition is caught up, idle for 100 ms or after a 500 ms
    /// turn), and each partition's cap is a slot's part of the quarter, at most
    /// `prefetch.max_bytes`. `queue.size`, `queue.max_bytes` and `prefetch.max_bytes` still
    /// bound each partition within it. The reservation counts the queues' part once and, per
    /// fetch slot (not per partition), what librdkafka holds for a partition read at full
    /// speed (10 MiB, measured; more than the cap, since librdkafka keeps whole fetch
    /// responses and record batches). With far more partitions than slots, partitions are
    /// read in turns: raise this for more slots. At least 1 MiB.
    #[serde(rename = "buffer.max_bytes", default = "default_buffer_max_bytes")]
    pub buffer_max_bytes: u64,
    /// Rows each partition's queue holds before that partition's reader waits.
    #[serde(rename = "queue.size", default = "default_queue_size")]
    pub queue_size: u32,
    /// Bytes (in-memory row size) each partition's queue holds before that partition's reader
    /// waits, within the subtask's `buffer.max_bytes`. The default, 8 MiB, lets the 1000-row
    /// bound govern for rows up to about 8 KiB; larger records are bounded by bytes.
    #[serde(rename = "queue.max_bytes", default = "default_queue_max_bytes")]
    pub queue_max_bytes: u64,
    /// Bytes librdkafka may prefetch per partition ahead of the partition's queue, at most:
    /// the cap Weir sets (`queued.max.messages.kbytes`) is the smaller of this and a fetch
    /// slot's part of `buffer.max_bytes`; `fetch.message.max.bytes` is the smaller of the cap
    /// and 256 KiB. At least 1024.
    #[serde(rename = "prefetch.max_bytes", default = "default_prefetch_max_bytes")]
    pub prefetch_max_bytes: u64,
    /// Milliseconds between checks for new partitions of `topic` (by the master); new ones
    /// join the running job. Zero or negative: never.
    #[serde(
        rename = "partition-discovery.interval-millis",
        default = "default_partition_discovery_interval_millis"
    )]
    pub partition_discovery_interval_millis: i64,
    /// Name of the stream this source produces (alias: `result_table_name`). Accepted for
    /// SeaTunnel compatibility; a Weir job has one source and one sink, so it is only a label.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub plugin_output: Option<String>,
}

fn default_pattern() -> bool {
    false
}
fn default_consumer_group() -> String {
    "weir".into()
}
fn default_start_mode() -> StartMode {
    StartMode::GroupOffsets
}
fn default_format() -> MessageFormat {
    MessageFormat::Json
}
fn default_field_delimiter() -> String {
    ",".into()
}
fn default_format_error_handle_way() -> FormatErrorHandleWay {
    FormatErrorHandleWay::Fail
}
fn default_commit_on_checkpoint() -> bool {
    true
}
fn default_buffer_max_bytes() -> u64 {
    32 * 1024 * 1024
}
fn default_queue_size() -> u32 {
    1000
}
fn default_queue_max_bytes() -> u64 {
    8 * 1024 * 1024
}
fn default_prefetch_max_bytes() -> u64 {
    1024 * 1024
}
fn default_partition_discovery_interval_millis() -> i64 {
    -1
}

/// The smallest `buffer.max_bytes`: below it the prefetch part divided among a few partitions
/// falls to the floor and reading slows.
pub const MIN_BUFFER_MAX_BYTES: u64 = 1024 * 1024;

/// The field of a record read without a schema.
pub const CONTENT_FIELD: &str = "content";

/// librdkafka properties Weir sets itself, each with the reason a job may not.
pub const OWNED_KAFKA_PROPERTIES: &[(&str, &str)] = &[
    (
        "bootstrap.servers",
        "set the source's `bootstrap.servers` option instead",
    ),
    (
        "metadata.broker.list",
        "set the source's `bootstrap.servers` option instead",
    ),
    (
        "group.id",
        "set the source's `consumer.group` option instead",
    ),
    (
        "enable.auto.commit",
        "Weir commits offsets itself, those of completed checkpoints (see `commit_on_checkpoint`)",
    ),
    (
        "enable.auto.offset.store",
        "Weir commits offsets itself, those of completed checkpoints (see `commit_on_checkpoint`)",
    ),
    (
        "auto.commit.interval.ms",
        "Weir commits offsets every `env.checkpoint.interval` (see `commit_on_checkpoint`)",
    ),
    (
        "enable.partition.eof",
        "Weir's partition readers run without end-of-partition events",
    ),
    (
        "queued.max.messages.kbytes",
        "it is Weir's per-partition prefetch bound; set `prefetch.max_bytes` instead",
    ),
    (
        "queued.min.messages",
        "it bounds the per-partition prefetch in messages; Weir derives it from `prefetch.max_bytes`",
    ),
    (
        "fetch.message.max.bytes",
        "it is part of Weir's per-partition prefetch bound, derived from `prefetch.max_bytes`",
    ),
    (
        "max.partition.fetch.bytes",
        "it is part of Weir's per-partition prefetch bound, derived from `prefetch.max_bytes`",
    ),
    (
        "fetch.queue.backoff.ms",
        "Weir sets it to 10 ms: with a bounded prefetch, librdkafka's default slows reading 4-15x",
    ),
    (
        "fetch.wait.max.ms",
        "Weir sets it to 20 ms: a partition given a fetch slot must be fetched before the slot is handed on",
    ),
];

impl KafkaSourceConfig {
    /// A config with every default for `topic` on `bootstrap_servers`.
    pub fn new(bootstrap_servers: impl Into<String>, topic: impl Into<String>) -> Self {
        KafkaSourceConfig {
            bootstrap_servers: bootstrap_servers.into(),
            topic: topic.into(),
            pattern: default_pattern(),
            consumer_group: default_consumer_group(),
            start_mode: default_start_mode(),
            start_mode_timestamp: None,
            start_mode_offsets: PartitionOffsets::default(),
            format: default_format(),
            debezium_record_include_schema: None,
            field_delimiter: default_field_delimiter(),
            schema: None,
            format_error_handle_way: default_format_error_handle_way(),
            commit_on_checkpoint: default_commit_on_checkpoint(),
            kafka_config: KafkaProperties::default(),
            buffer_max_bytes: default_buffer_max_bytes(),
            queue_size: default_queue_size(),
            queue_max_bytes: default_queue_max_bytes(),
            prefetch_max_bytes: default_prefetch_max_bytes(),
            partition_discovery_interval_millis: default_partition_discovery_interval_millis(),
            plugin_output: None,
        }
    }

    /// The topic names of a non-pattern `topic`: the comma-separated list, trimmed.
    pub fn topics(&self) -> Vec<String> {
        self.topic
            .split(',')
            .map(str::trim)
            .filter(|name| !name.is_empty())
            .map(String::from)
            .collect()
    }

    /// How often the master looks for new partitions, if at all.
    pub fn partition_discovery_interval(&self) -> Option<Duration> {
        u64::try_from(self.partition_discovery_interval_millis)
            .ok()
            .filter(|millis| *millis > 0)
            .map(Duration::from_millis)
    }

    /// The rows this source produces: `schema`, or one string field `content`.
    pub fn output_schema(&self) -> Schema {
        self.schema
            .clone()
            .unwrap_or_else(|| Schema::new([(CONTENT_FIELD, DataType::String)]))
    }

    /// The librdkafka prefetch settings of every partition of a subtask: the prefetch part of
    /// `buffer.max_bytes` divided among its fetch slots (see
    /// [`PrefetchSettings::for_budget`]), at most `prefetch.max_bytes`.
    pub fn prefetch(&self) -> PrefetchSettings {
        PrefetchSettings::for_budget(self.prefetch_budget_bytes(), self.prefetch_max_bytes)
    }

    /// How many partitions of a subtask librdkafka fetches at once; the others are paused
    /// until one of these hands over its slot (see `weir-connectors`' `kafka/fetch_slots.rs`).
    pub fn fetch_slots(&self) -> usize {
        super::prefetch::fetch_slots(self.prefetch_budget_bytes())
    }

    /// The part of `buffer.max_bytes` for librdkafka's prefetch: a quarter.
    pub fn prefetch_budget_bytes(&self) -> u64 {
        self.buffer_max_bytes / 4
    }

    /// The part of `buffer.max_bytes` all the partitions' queues of a subtask share.
    pub fn queue_budget_bytes(&self) -> u64 {
        self.buffer_max_bytes - self.prefetch_budget_bytes()
    }

    /// Bytes the partitions of one subtask may hold in all, whatever their count: the queues'
    /// part of `buffer.max_bytes` plus what its fetch slots may prefetch
    /// ([`PrefetchSettings::subtask_reservation_bytes`]).
    pub fn subtask_buffer_bytes(&self) -> u64 {
        self.queue_budget_bytes()
            .saturating_add(PrefetchSettings::subtask_reservation_bytes(
                self.prefetch_budget_bytes(),
                self.prefetch_max_bytes,
            ))
    }
}

impl Section for KafkaSourceConfig {
    const ALIASES: &'static [(&'static str, &'static str)] =
        &[("result_table_name", "plugin_output")];

    fn validate(&self) -> Result<(), Violation> {
        if self.bootstrap_servers.trim().is_empty() {
            return Err(Violation::new("bootstrap.servers", "must not be empty"));
        }
        self.validate_topic()?;
        self.validate_start_mode()?;
        if self.field_delimiter.is_empty() {
            return Err(Violation::new("field_delimiter", "must not be empty"));
        }
        if self.consumer_group.trim().is_empty() {
            return Err(Violation::new("consumer.group", "must not be empty"));
        }
        for key in self.kafka_config.0.keys() {
            if let Some((_, why)) = OWNED_KAFKA_PROPERTIES
                .iter()
                .find(|(owned, _)| owned == key)
            {
                return Err(Violation::new(
                    format!("kafka.config.{key}"),
                    format!("cannot be set: {why}"),
                ));
            }
        }
        self.validate_format()?;
        check_queue_bounds(self.queue_size, self.queue_max_bytes)?;
        if self.buffer_max_bytes < MIN_BUFFER_MAX_BYTES {
            return Err(Violation::new(
                "buffer.max_bytes",
                format!(
                    "must be at least {MIN_BUFFER_MAX_BYTES} (1 MiB), found {}",
                    self.buffer_max_bytes
                ),
            ));
        }
        PrefetchSettings::check_max_bytes(self.prefetch_max_bytes)
            .map_err(|message| Violation::new("prefetch.max_bytes", message))?;
        Ok(())
    }
}

impl KafkaSourceConfig {
    fn validate_topic(&self) -> Result<(), Violation> {
        if self.pattern {
            return regex::Regex::new(&self.topic).map(drop).map_err(|error| {
                Violation::new(
                    "topic",
                    format!("is not a valid regular expression: {error}"),
                )
            });
        }
        let names: Vec<&str> = self.topic.split(',').map(str::trim).collect();
        if names.iter().any(|name| name.is_empty()) {
            return Err(Violation::new(
                "topic",
                format!(
                    "must be a comma-separated list of topic names, found {:?}",
                    self.topic
                ),
            ));
        }
        Ok(())
    }

    /// What each format needs of the schema (none is needed without one: every format then
    /// reads the value as `content`, as SeaTunnel does).
    fn validate_format(&self) -> Result<(), Violation> {
        if self.debezium_record_include_schema.is_some()
            && self.format != MessageFormat::DebeziumJson
        {
            return Err(Violation::new(
                "debezium_record_include_schema",
                format!(
                    "is only used with format = debezium_json, not {}",
                    self.format.name()
                ),
            ));
        }
        let Some(schema) = &self.schema else {
            return Ok(());
        };
        match self.format {
            MessageFormat::Raw => match schema.fields.as_slice() {
                [field] if matches!(field.data_type, DataType::String | DataType::Bytes) => Ok(()),
                _ => Err(Violation::new(
                    "schema",
                    format!(
                        "must have exactly one field, of type string or bytes, with format = \
                         raw (the whole value is that field), found {} field(s): {}",
                        schema.fields.len(),
                        describe_fields(schema)
                    ),
                )),
            },
            MessageFormat::Avro => schema
                .fields
                .iter()
                .try_for_each(|field| avro_supports(&field.name, &field.data_type))
                .map_err(|message| Violation::new("schema", message)),
            MessageFormat::Json
            | MessageFormat::Text
            | MessageFormat::CanalJson
            | MessageFormat::DebeziumJson => Ok(()),
        }
    }

    fn validate_start_mode(&self) -> Result<(), Violation> {
        let mode = self.start_mode;
        match (mode, self.start_mode_timestamp) {
            (StartMode::Timestamp, None) => {
                return Err(Violation::new(
                    "start_mode.timestamp",
                    "is required with start_mode = timestamp (milliseconds since the epoch)",
                ));
            }
            (StartMode::Timestamp, Some(ms)) if ms < 0 => {
                return Err(Violation::new(
                    "start_mode.timestamp",
                    format!("must be a non-negative integer, found {ms}"),
                ));
            }
            (StartMode::Timestamp, Some(_)) | (_, None) => {}
            (_, Some(_)) => {
                return Err(Violation::new(
                    "start_mode.timestamp",
                    format!(
                        "is only used with start_mode = timestamp, not {}",
                        mode.name()
                    ),
                ));
            }
        }
        let offsets = &self.start_mode_offsets;
        match (mode, offsets.is_empty()) {
            (StartMode::SpecificOffsets, true) => Err(Violation::new(
                "start_mode.offsets",
                "is required with start_mode = specific_offsets, e.g. `{ orders-0 = 42 }`",
            )),
            (StartMode::SpecificOffsets, false) => self.validate_offsets(),
            (_, true) => Ok(()),
            (_, false) => Err(Violation::new(
                "start_mode.offsets",
                format!(
                    "is only used with start_mode = specific_offsets, not {}",
                    mode.name()
                ),
            )),
        }
    }

    fn validate_offsets(&self) -> Result<(), Violation> {
        let entries = self.start_mode_offsets.entries().map_err(|key| {
            Violation::new(
                format!("start_mode.offsets.{key}"),
                "must be named <topic>-<partition>, e.g. orders-0",
            )
        })?;
        let topics = self.topics();
        for (topic, partition, offset) in entries {
            let option = || format!("start_mode.offsets.{topic}-{partition}");
            if offset < 0 {
                return Err(Violation::new(
                    option(),
                    format!("must be a non-negative offset, found {offset}"),
                ));
            }
            if !self.pattern && !topics.contains(&topic) {
                return Err(Violation::new(
                    option(),
                    format!("names topic '{topic}', which is not in 'topic'"),
                ));
            }
        }
        Ok(())
    }
}

fn describe_fields(schema: &Schema) -> String {
    schema
        .fields
        .iter()
        .map(|field| format!("{} {}", field.name, field.data_type))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Whether SeaTunnel's Avro schema has a type for `data_type` (its
/// `SeaTunnelRowTypeToAvroSchemaConverter` has none for `time`; map keys are Avro strings).
fn avro_supports(name: &str, data_type: &DataType) -> Result<(), String> {
    match data_type {
        DataType::Time => Err(format!(
            "field '{name}' is time, which has no Avro type in SeaTunnel's avro format; \
             declare it as string or bigint, or read JSON"
        )),
        DataType::Array(element) => avro_supports(name, element),
        DataType::Map(key, value) => {
            if **key != DataType::String {
                return Err(format!(
                    "field '{name}' is {data_type}: Avro map keys are strings, so with format \
                     = avro a map's key type must be string"
                ));
            }
            avro_supports(name, value)
        }
        DataType::Row(fields) => fields
            .iter()
            .try_for_each(|field| avro_supports(&field.name, &field.data_type)),
        _ => Ok(()),
    }
}
