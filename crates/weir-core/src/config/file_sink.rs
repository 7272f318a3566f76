//! `sink { HdfsFile { } }` and `sink { LocalFile { } }`: rows to files, exactly once through
//! checkpoints. Both read the same options ([`FileSinkConfig`]); HdfsFile requires
//! `fs.defaultFS`, LocalFile rejects it and the other HDFS-only options.

mod validate;
mod values;

use hocon::HoconValue;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use self::validate::{FileSystemProblem, trim_dir};
pub use self::values::{
    ByteSize, Charset, CompressCodec, DataSaveMode, FileFormat, ORC_REFUSAL, SchemaSaveMode,
    Template, format_utc_time,
};
use self::values::{deserialize_names, deserialize_optional_names};
use super::error::ConfigError;
use super::flat_map::KafkaProperties;
use super::section::{Context, join, parse_section};

/// Writes rows to files under `path`, exactly once: each subtask writes in-progress files
/// under `tmp_path` (never visible under `path`), rolls them by `batch_size`,
/// `rolling.file_size` and `rolling.interval`, closes them to pending at every checkpoint and
/// renames them into `path` once the checkpoint completes. Final names carry the job, the
/// subtask and the checkpoint (`file_name_expression`), so no two attempts collide. A
/// subtask's memory reservation covers `write.buffer_bytes` per open file plus the gzip or
/// lzo encoder and the HDFS client's write pipeline (see `max_open_files`), and one rolled
/// file closing in the background while the next takes rows.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FileSinkConfig {
    /// HdfsFile only, required there: the NameNode, `hdfs://host:port`, or a name service,
    /// `hdfs://<nameservice>`, whose HA settings go in `hdfs.config`. LocalFile rejects it.
    #[serde(rename = "fs.defaultFS", skip_serializing_if = "Option::is_none")]
    pub fs_default_fs: Option<String>,
    /// Directory the committed files go to: an absolute path (on `fs.defaultFS` for
    /// HdfsFile; LocalFile also accepts `file:///...`). Only complete, committed files ever
    /// appear under it.
    pub path: String,
    /// Directory for in-progress and pending files, on the same file system as `path` and
    /// never inside it. Absent: `.weir-tmp` beside `path` (in its parent directory). Each
    /// subtask uses `<tmp_path>/<job id>/<subtask index>/`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tmp_path: Option<String>,
    /// How rows are written: `text` (fields joined by `field_delimiter`, written verbatim,
    /// null as empty), `csv` (RFC 4180 quoting; null is empty, an empty string is `""`),
    /// `json` (one object per line, as the Console sink prints rows) or `parquet` (columns
    /// typed as the row schema, row groups bounded by `parquet_row_group_bytes`; files named
    /// `.parquet`, after the codec's SeaTunnel infix such as `.snappy`). `orc` is refused:
    /// the only Rust ORC writer (orc-rust 0.9) cannot encode decimal, time, array, map or row
    /// columns.
    #[serde(default = "default_file_format_type")]
    pub file_format_type: FileFormat,
    /// Separator between the fields of a `text` or `csv` row. Absent: `\u0001` for text (as
    /// SeaTunnel) and `,` for csv. `json` rejects it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field_delimiter: Option<String>,
    /// Written after every row.
    #[serde(default = "default_row_delimiter")]
    pub row_delimiter: String,
    /// text and csv only: start every file with a header line, the written columns' names
    /// joined by `field_delimiter` (csv-quoted for csv), as SeaTunnel writes it.
    #[serde(default)]
    pub enable_header_write: bool,
    /// text, csv and json only: the character set of the files (absent: UTF-8), a label of the WHATWG
    /// Encoding Standard (`UTF-8`, `GBK`, `gb18030`, `Big5`, `Shift_JIS`, `EUC-KR`,
    /// `windows-1252`, …; UTF-16 is refused), except that Java's names of ISO-8859-1
    /// (`latin1`, …) and US-ASCII keep Java's meaning, which the standard reads as
    /// windows-1252. A character the set cannot represent is
    /// written as `?`, as SeaTunnel's Java writer does. Parquet files are UTF-8 by their
    /// format and refuse another.
    #[serde(default, skip_serializing_if = "Charset::is_utf8")]
    pub encoding: Charset,
    /// What happens to `path` when the job starts from no checkpoint (its first start, or a
    /// restart before its first checkpoint completed, when nothing of it is committed yet):
    /// `CREATE_SCHEMA_WHEN_NOT_EXIST` (the first committed file creates it), `IGNORE`,
    /// `RECREATE_SCHEMA` (delete it
    /// with everything in it, then create it) or `ERROR_WHEN_SCHEMA_NOT_EXIST` (fail the
    /// job without it). Every subtask applies it before its first row, on its worker's file
    /// system; a recovery from a checkpoint never applies it again.
    #[serde(default)]
    pub schema_save_mode: SchemaSaveMode,
    /// What happens to what is under `path` when the job starts from no checkpoint (after
    /// `schema_save_mode`): `APPEND_DATA` (keep it), `DROP_DATA` (delete it) or
    /// `ERROR_WHEN_DATA_EXISTS` (fail the job if there is any).
    #[serde(default)]
    pub data_save_mode: DataSaveMode,
    /// Compression of each file: `none`, `gzip` (one gzip stream per file, named `.gz`) or,
    /// for text, csv and json, `lzo` (an lzop file of 256 KiB LZO1X blocks, named `.lzo.txt`
    /// as SeaTunnel names it, read by `lzop -d` and by Hadoop's and SeaTunnel's lzop
    /// readers); with `parquet` also `snappy`, `zstd` and `lz4` (pages compressed inside the
    /// file). `brotli` is refused.
    #[serde(default = "default_compress_codec")]
    pub compress_codec: CompressCodec,
    /// Write each row under a directory named by its `partition_by` values.
    #[serde(default = "default_have_partition")]
    pub have_partition: bool,
    /// Fields whose values name a row's directory, in order, e.g. `["day", "country"]`;
    /// required with `have_partition = true`. Values are escaped as Hive does (`/` is
    /// `%2F`); null and empty values become `__HIVE_DEFAULT_PARTITION__`.
    #[serde(
        default,
        deserialize_with = "deserialize_names",
        skip_serializing_if = "Vec::is_empty"
    )]
    #[schemars(with = "Vec<String>")]
    pub partition_by: Vec<String>,
    /// The directory of a row below `path`, from `${k0}`/`${v0}` (the first `partition_by`
    /// field's name and value), `${k1}`/`${v1}`, ... Absent: `${k0}=${v0}/${k1}=${v1}/...`,
    /// one level per `partition_by` field (Hive style).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub partition_dir_expression: Option<String>,
    /// Also write the `partition_by` fields in the files (SeaTunnel's default leaves them
    /// out: their values are in the directory names).
    #[serde(default = "default_is_partition_field_write_in_file")]
    pub is_partition_field_write_in_file: bool,
    /// Name of each committed file, before `_<sequence>.<extension>`, set by the first
    /// checkpoint that closes the file (a file of a failed checkpoint keeps its name in the
    /// next one). Variables: `${transactionId}` (`<job id>_<subtask>_<checkpoint>`),
    /// `${job_id}`, `${subtask}`,
    /// `${checkpoint}` and `${now}` (when the checkpoint closed the file, UTC, formatted by
    /// `filename_time_format`). It must contain `${transactionId}`, or `${job_id}`,
    /// `${subtask}` and `${checkpoint}`, so that names never collide.
    #[serde(default = "default_file_name_expression")]
    pub file_name_expression: String,
    /// SeaTunnel's switch for `file_name_expression`: `false` names files
    /// `${transactionId}` whatever the expression says (as SeaTunnel does); `true` or absent
    /// uses the expression.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub custom_filename: Option<bool>,
    /// Format of `${now}`: `yyyy`, `yy`, `MM`, `dd`, `HH`, `mm`, `ss` and `SSS` as in Java,
    /// other characters (not letters, not `/`) as they are.
    #[serde(default = "default_filename_time_format")]
    pub filename_time_format: String,
    /// Accepted for SeaTunnel compatibility; must be `true`: Weir always writes files
    /// transactionally (in-progress files published by checkpoints).
    #[serde(default = "default_is_enable_transaction")]
    pub is_enable_transaction: bool,
    /// Rows per file: a file holding this many rows is closed and a new one started.
    #[serde(default = "default_batch_size")]
    pub batch_size: u64,
    /// Bytes per file (after compression), e.g. `128MiB`: a file reaching this size is closed
    /// and a new one started.
    #[serde(rename = "rolling.file_size", default = "default_rolling_file_size")]
    pub rolling_file_size: ByteSize,
    /// Milliseconds a file stays open before it is closed and a new one started (checked
    /// when a row arrives). `0`: files are only closed at checkpoints (and by the other
    /// rolling options).
    #[serde(rename = "rolling.interval", default = "default_rolling_interval")]
    pub rolling_interval_ms: u64,
    /// Bytes of encoded (and compressed) rows each open file holds in memory before they are
    /// written out, e.g. `1MiB`. Their level over all open files is the task metric
    /// `sink_buffer_bytes`. The default, 96 KiB, stays under the allocator's large-block
    /// threshold (128 KiB): each buffer handed to the file system comes back to the heap and
    /// is reused, where a 1 MiB buffer was a fresh mapping whose every page faulted on first
    /// write (8 % of the worker's CPU at full speed; docs/benchmarks.md).
    #[serde(rename = "write.buffer_bytes", default = "default_write_buffer_bytes")]
    pub write_buffer_bytes: ByteSize,
    /// Partition directories a subtask writes to at once: a row for another one closes the
    /// least recently used file (to pending). Rows that cycle through more directories than
    /// this close a file almost every row, making many small files: set it to at least the
    /// number of directories one checkpoint interval writes to. Each open file reserves its
    /// write buffer; on HDFS, `write.max_in_flight_bytes` bounds what their pipelines hold.
    #[serde(default = "default_max_open_files")]
    pub max_open_files: u32,
    /// HdfsFile only: bytes the HDFS client may hold for all the files one subtask has open
    /// together, awaiting the DataNodes' acknowledgement (default `64MiB`). Each open file's
    /// write pipeline may hold up to 12.6 MiB of packets, plus the write buffer they come
    /// from; each file counts what was written to it since it was last acknowledged, at most
    /// that much. When the sum would pass this bound, the file with the most is synced
    /// (`hsync`: the writer waits for its acknowledgements) before more is written, so a
    /// partitioned sink keeps all its files open within the bound, and a sink writing one or
    /// a few files never waits for it. The reservation counts
    /// the smaller of this and what the open files' pipelines could hold; the task metrics
    /// `sink_in_flight_bytes` and `sink_in_flight_bytes_max` show it.
    #[serde(
        rename = "write.max_in_flight_bytes",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub write_max_in_flight_bytes: Option<ByteSize>,
    /// Fields to write, in this order, e.g. `["id", "name"]`. Absent: every field.
    #[serde(
        default,
        deserialize_with = "deserialize_optional_names",
        skip_serializing_if = "Option::is_none"
    )]
    #[schemars(with = "Option<Vec<String>>")]
    pub sink_columns: Option<Vec<String>>,
    /// HdfsFile only: Hadoop client settings, e.g. the name service of an HA pair:
    /// `hdfs.config = { dfs.nameservices = ns1, dfs.ha.namenodes.ns1 = "nn1,nn2", ... }`.
    #[serde(
        rename = "hdfs.config",
        default,
        skip_serializing_if = "KafkaProperties::is_empty"
    )]
    pub hdfs_config: KafkaProperties,
    /// HdfsFile only: the user the files are written as. Absent: `HADOOP_USER_NAME`, or the
    /// worker's user.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub remote_user: Option<String>,
    /// Parquet only: bytes of encoded columns a file holds in memory before they are written
    /// out as one row group, e.g. `8MiB` (default). Larger row groups read faster and cost
    /// memory: each open file reserves twice this (the row group, then its bytes on their way
    /// to the file system), and it counts in the task metric `sink_buffer_bytes`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub parquet_row_group_bytes: Option<ByteSize>,
    /// Accepted for SeaTunnel compatibility; must be `false`: Weir writes timestamps as
    /// INT64 `TIMESTAMP(MICROS)`, which every current reader takes (Weir's Parquet library
    /// cannot write the deprecated INT96).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub parquet_avro_write_timestamp_as_int96: Option<bool>,
    /// Accepted for SeaTunnel compatibility; must be empty (INT96 is not written, see
    /// `parquet_avro_write_timestamp_as_int96`).
    #[serde(
        default,
        deserialize_with = "deserialize_optional_names",
        skip_serializing_if = "Option::is_none"
    )]
    #[schemars(with = "Option<Vec<String>>")]
    pub parquet_avro_write_fixed_as_int96: Option<Vec<String>>,
    /// Name of the stream this sink consumes (alias: `source_table_name`). Accepted for
    /// SeaTunnel compatibility; a Weir job has one source and one sink, so it is only a label.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub plugin_input: Option<String>,
}

fn default_file_format_type() -> FileFormat {
    FileFormat::Text
}
fn default_row_delimiter() -> String {
    "\n".into()
}
fn default_compress_codec() -> CompressCodec {
    CompressCodec::None
}
fn default_have_partition() -> bool {
    false
}
fn default_is_partition_field_write_in_file() -> bool {
    false
}
fn default_file_name_expression() -> String {
    "${transactionId}".into()
}
fn default_filename_time_format() -> String {
    "yyyy.MM.dd".into()
}
fn default_is_enable_transaction() -> bool {
    true
}
fn default_batch_size() -> u64 {
    1_000_000
}
fn default_rolling_file_size() -> ByteSize {
    ByteSize(128 << 20)
}
fn default_rolling_interval() -> u64 {
    0
}
fn default_write_buffer_bytes() -> ByteSize {
    ByteSize(96 << 10)
}
fn default_max_open_files() -> u32 {
    16
}

/// `parquet_row_group_bytes` when absent: a subtask writing one HDFS file reserves about
/// 40 MiB with it (see [`FileSinkConfig::buffer_bytes`]).
pub const DEFAULT_PARQUET_ROW_GROUP_BYTES: u64 = 8 << 20;

/// Memory of one open gzip file besides its output buffer: miniz_oxide's deflate state
/// (32 KiB window, 2 × 64 KiB hash chains, 64 KiB LZ codes, 83 KiB output staging), flate2's
/// 32 KiB input buffer, and one staged output chunk by which the output buffer may pass
/// `write.buffer_bytes` before it is written out.
pub const GZIP_ENCODER_BYTES: u64 = 512 * 1024;

/// Memory of one open lzo file besides its output buffer: the block of input not compressed
/// yet (lzop's and SeaTunnel's 256 KiB block).
pub const LZO_BLOCK_BYTES: u64 = 256 * 1024;

/// Memory of compressing one lzo block, taken by one file at a time and freed after: the LZO
/// compressor's dictionary (about 450 KiB, zeroed for every block) and the compressed block
/// (at most 273 KiB).
pub const LZO_COMPRESSOR_BYTES: u64 = 768 * 1024;

/// What the HDFS client (hdfs-native) holds per open file: up to 100 packets queued for the
/// DataNode pipeline, 100 awaiting acknowledgement and the one being filled, 64 KiB each
/// (the NameNode's default `dfs.client-write-packet-size`). They are slices of the sink's
/// write buffers, so one partly acknowledged buffer (`write.buffer_bytes`) is held with them.
pub const HDFS_WRITE_PIPELINE_BYTES: u64 = 201 * 64 * 1024;

/// The default of `write.max_in_flight_bytes`: five open files' full pipelines, so an
/// unpartitioned sink never waits for it.
pub const DEFAULT_HDFS_IN_FLIGHT_BYTES: u64 = 64 * 1024 * 1024;

/// Options only HdfsFile takes.
pub const HDFS_ONLY_OPTIONS: &[&str] = &[
    "fs.defaultFS",
    "hdfs.config",
    "remote_user",
    "write.max_in_flight_bytes",
];

/// The variables `file_name_expression` may use.
pub const FILE_NAME_VARIABLES: &[&str] =
    &["transactionId", "job_id", "subtask", "checkpoint", "now"];

/// Which file system a file sink writes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileSystemKind {
    /// HDFS (`HdfsFile`).
    Hdfs,
    /// The worker's local file system (`LocalFile`).
    Local,
}

impl FileSinkConfig {
    /// A config with every default, writing to `path`.
    pub fn new(path: impl Into<String>) -> Self {
        FileSinkConfig {
            fs_default_fs: None,
            path: path.into(),
            tmp_path: None,
            file_format_type: default_file_format_type(),
            field_delimiter: None,
            row_delimiter: default_row_delimiter(),
            enable_header_write: false,
            encoding: Charset::UTF_8,
            schema_save_mode: SchemaSaveMode::default(),
            data_save_mode: DataSaveMode::default(),
            compress_codec: default_compress_codec(),
            have_partition: default_have_partition(),
            partition_by: Vec::new(),
            partition_dir_expression: None,
            is_partition_field_write_in_file: default_is_partition_field_write_in_file(),
            file_name_expression: default_file_name_expression(),
            custom_filename: None,
            filename_time_format: default_filename_time_format(),
            is_enable_transaction: default_is_enable_transaction(),
            batch_size: default_batch_size(),
            rolling_file_size: default_rolling_file_size(),
            rolling_interval_ms: default_rolling_interval(),
            write_buffer_bytes: default_write_buffer_bytes(),
            max_open_files: default_max_open_files(),
            write_max_in_flight_bytes: None,
            sink_columns: None,
            hdfs_config: KafkaProperties::default(),
            remote_user: None,
            parquet_row_group_bytes: None,
            parquet_avro_write_timestamp_as_int96: None,
            parquet_avro_write_fixed_as_int96: None,
            plugin_input: None,
        }
    }

    /// The expression files are named by: `file_name_expression`, unless `custom_filename`
    /// is `false`.
    pub fn effective_file_name_expression(&self) -> &str {
        if self.custom_filename == Some(false) {
            "${transactionId}"
        } else {
            &self.file_name_expression
        }
    }

    /// `parquet_row_group_bytes`, or [`DEFAULT_PARQUET_ROW_GROUP_BYTES`].
    pub fn parquet_row_group_bytes(&self) -> u64 {
        self.parquet_row_group_bytes
            .map_or(DEFAULT_PARQUET_ROW_GROUP_BYTES, |bytes| bytes.0)
    }

    /// The extension of committed files, with its dot: `.txt`, `.csv.gz`, `.snappy.parquet`
    /// (SeaTunnel's names).
    pub fn file_extension(&self) -> String {
        let format = self.file_format_type.extension();
        match (self.file_format_type, self.compress_codec) {
            (FileFormat::Parquet, codec) => format!("{}.{format}", codec.infix()),
            (_, CompressCodec::Gzip) => format!(".{format}.gz"),
            // SeaTunnel's name for lzo files: the codec before the format, `x.lzo.txt`.
            (_, CompressCodec::Lzo) => format!(".lzo.{format}"),
            _ => format!(".{format}"),
        }
    }

    /// Bytes the sink itself holds per open file (the level `sink_buffer_bytes` reports):
    /// its output buffer (`write.buffer_bytes`; with Parquet at least one row group, which
    /// is written out whole), and with Parquet the row group being encoded plus the rows
    /// waiting to be encoded and their Arrow columns (`write.buffer_bytes` each).
    pub fn writer_bytes_per_file(&self) -> u64 {
        let buffer = self.write_buffer_bytes.0;
        if self.file_format_type != FileFormat::Parquet {
            return buffer;
        }
        let row_group = self.parquet_row_group_bytes();
        self.output_bytes_per_file()
            .saturating_add(row_group)
            .saturating_add(buffer.saturating_mul(2))
    }

    /// The most one output buffer holds before it is handed to the file system.
    fn output_bytes_per_file(&self) -> u64 {
        let buffer = self.write_buffer_bytes.0;
        if self.file_format_type == FileFormat::Parquet {
            buffer.max(self.parquet_row_group_bytes())
        } else {
            buffer
        }
    }

    /// `field_delimiter`, or the format's default.
    pub fn field_delimiter(&self) -> &str {
        match (&self.field_delimiter, self.file_format_type) {
            (Some(delimiter), _) => delimiter,
            (None, FileFormat::Csv) => ",",
            (None, _) => "\u{1}",
        }
    }

    /// `tmp_path`, or `.weir-tmp` in the parent directory of `path`.
    pub fn tmp_path(&self) -> String {
        match &self.tmp_path {
            Some(tmp) => trim_dir(tmp).to_string(),
            None => {
                let path = trim_dir(&self.path);
                let parent = path.rsplit_once('/').map_or("", |(parent, _)| parent);
                format!("{parent}/.weir-tmp")
            }
        }
    }

    /// `partition_dir_expression`, or one `${kN}=${vN}` level per `partition_by` field.
    pub fn partition_dir_expression(&self) -> String {
        match &self.partition_dir_expression {
            Some(expression) => expression.clone(),
            None => (0..self.partition_by.len())
                .map(|n| format!("${{k{n}}}=${{v{n}}}"))
                .collect::<Vec<_>>()
                .join("/"),
        }
    }

    /// How many files one subtask holds open at most: one unless partitioned; else
    /// `max_open_files`.
    pub fn open_files_bound(&self) -> u64 {
        if self.have_partition {
            u64::from(self.max_open_files)
        } else {
            1
        }
    }

    /// HdfsFile: the bound of bytes written to open files and not yet acknowledged by the
    /// DataNodes, summed over the subtask's open files (`write.max_in_flight_bytes`).
    /// LocalFile: none (a local write is done when it returns).
    pub fn in_flight_limit(&self, kind: FileSystemKind) -> Option<u64> {
        match kind {
            FileSystemKind::Local => None,
            FileSystemKind::Hdfs => Some(
                self.write_max_in_flight_bytes
                    .map_or(DEFAULT_HDFS_IN_FLIGHT_BYTES, |bytes| bytes.0),
            ),
        }
    }

    /// What the HDFS client holds at most for the open files: their pipelines' packets, each
    /// with the output buffer whose slices they are, and no more than
    /// [`Self::in_flight_limit`] (which one more output buffer may pass: the sink syncs files
    /// until the next write fits, or until nothing is left to sync). Zero for LocalFile.
    pub fn in_flight_bytes(&self, kind: FileSystemKind) -> u64 {
        let Some(limit) = self.in_flight_limit(kind) else {
            return 0;
        };
        let output = self.output_bytes_per_file();
        let pipelines = self
            .open_files_bound()
            .saturating_mul(self.pipeline_bytes_per_file());
        pipelines.min(limit.max(output))
    }

    /// The most the HDFS client holds for one open file: its pipeline's packets and the
    /// output buffer they are slices of. Bytes written to a file beyond this have been
    /// acknowledged (the client takes no more until they are), so the sink counts at most
    /// this per file against `write.max_in_flight_bytes`.
    pub fn pipeline_bytes_per_file(&self) -> u64 {
        HDFS_WRITE_PIPELINE_BYTES.saturating_add(self.output_bytes_per_file())
    }

    /// Bytes one subtask's writer may hold: per open file ([`Self::open_files_bound`]) its
    /// [`Self::writer_bytes_per_file`], plus [`GZIP_ENCODER_BYTES`] with gzip text; on HDFS
    /// also [`Self::in_flight_bytes`]; and [`Self::closing_bytes`] for the rolled file closing
    /// in the background.
    pub fn buffer_bytes(&self, kind: FileSystemKind) -> u64 {
        let mut per_file = self.writer_bytes_per_file();
        let mut once = 0;
        if self.file_format_type != FileFormat::Parquet {
            match self.compress_codec {
                CompressCodec::Gzip => per_file = per_file.saturating_add(GZIP_ENCODER_BYTES),
                CompressCodec::Lzo => {
                    per_file = per_file.saturating_add(LZO_BLOCK_BYTES);
                    once = LZO_COMPRESSOR_BYTES;
                }
                _ => {}
            }
        }
        self.open_files_bound()
            .saturating_mul(per_file)
            .saturating_add(once)
            .saturating_add(self.in_flight_bytes(kind))
            .saturating_add(self.closing_bytes(kind))
    }

    /// What the one rolled file that closes in the background while the next takes rows
    /// holds: its last output buffer, and on HDFS the packets of its pipeline until the
    /// DataNodes acknowledge them.
    pub fn closing_bytes(&self, kind: FileSystemKind) -> u64 {
        match kind {
            FileSystemKind::Local => self.output_bytes_per_file(),
            FileSystemKind::Hdfs => self.pipeline_bytes_per_file(),
        }
    }
}

/// Parses the block of a file sink plugin at `path` (`sink.HdfsFile`, `sink.LocalFile`).
pub(super) fn parse_file_sink(
    block: &HoconValue,
    path: &str,
    kind: FileSystemKind,
    ctx: &Context,
) -> Result<FileSinkConfig, ConfigError> {
    let config: FileSinkConfig = parse_section(block, path, ctx)?;
    config
        .check_file_system(kind)
        .map_err(|problem| match problem {
            FileSystemProblem::Missing(option) => ConfigError::MissingOption {
                at: ctx.at(path),
                path: join(path, option),
            },
            FileSystemProblem::Invalid(violation) => {
                ctx.invalid(join(path, &violation.option), violation.message)
            }
        })?;
    Ok(config)
}
