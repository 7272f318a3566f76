//! `sink { HdfsFile { } }` and `sink { LocalFile { } }`: rows to files, exactly once through
//! checkpoints. Both read the same options ([`FileSinkConfig`]); HdfsFile requires
//! `fs.defaultFS`, LocalFile rejects it and the other HDFS-only options.

use std::borrow::Cow;

use hocon::HoconValue;
use schemars::{JsonSchema, SchemaGenerator};
use serde::de::{self, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::env::deserialize_variant;
use super::error::ConfigError;
use super::flat_map::KafkaProperties;
use super::section::{Context, Section, Violation, join, parse_section};
use crate::bytesize::parse_bytes;

/// Writes rows to files under `path`, exactly once: each subtask writes in-progress files
/// under `tmp_path` (never visible under `path`), rolls them by `batch_size`,
/// `rolling.file_size` and `rolling.interval`, closes them to pending at every checkpoint and
/// renames them into `path` once the checkpoint completes. Final names carry the job, the
/// subtask and the checkpoint (`file_name_expression`), so no two attempts collide. A
/// subtask's memory reservation covers `write.buffer_bytes` per open file plus the gzip
/// encoder and the HDFS client's write pipeline (see `max_open_files`).
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
    /// null as empty), `csv` (RFC 4180 quoting; null is empty, an empty string is `""`) or
    /// `json` (one object per line, as the Console sink prints rows).
    #[serde(default = "default_file_format_type")]
    pub file_format_type: FileFormat,
    /// Separator between the fields of a `text` or `csv` row. Absent: `\u0001` for text (as
    /// SeaTunnel) and `,` for csv. `json` rejects it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field_delimiter: Option<String>,
    /// Written after every row.
    #[serde(default = "default_row_delimiter")]
    pub row_delimiter: String,
    /// Compression of each file: `none` or `gzip` (one gzip stream per file, named `.gz`).
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
    /// Name of each committed file, before `_<sequence>.<extension>`. Variables:
    /// `${transactionId}` (`<job id>_<subtask>_<checkpoint>`), `${job_id}`, `${subtask}`,
    /// `${checkpoint}` and `${now}` (the commit's checkpoint time, UTC, formatted by
    /// `filename_time_format`). It must contain `${transactionId}`, or `${job_id}`,
    /// `${subtask}` and `${checkpoint}`, so that names never collide.
    #[serde(default = "default_file_name_expression")]
    pub file_name_expression: String,
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
    /// written out, e.g. `1MiB`.
    #[serde(rename = "write.buffer_bytes", default = "default_write_buffer_bytes")]
    pub write_buffer_bytes: ByteSize,
    /// Partition directories a subtask writes to at once: a row for another one closes the
    /// least recently used file (to pending). Only partitioned sinks open more than one file.
    #[serde(default = "default_max_open_files")]
    pub max_open_files: u32,
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
    ByteSize(1 << 20)
}
fn default_max_open_files() -> u32 {
    16
}

/// Memory of one open gzip file besides its output buffer: miniz_oxide's deflate state
/// (32 KiB window, 2 × 64 KiB hash chains, 64 KiB LZ codes, 83 KiB output staging), flate2's
/// 32 KiB input buffer, and one staged output chunk by which the output buffer may pass
/// `write.buffer_bytes` before it is written out.
pub const GZIP_ENCODER_BYTES: u64 = 512 * 1024;

/// What the HDFS client (hdfs-native) holds per open file: up to 100 packets queued for the
/// DataNode pipeline, 100 awaiting acknowledgement and the one being filled, 64 KiB each
/// (the NameNode's default `dfs.client-write-packet-size`). They are slices of the sink's
/// write buffers, so one partly acknowledged buffer (`write.buffer_bytes`) is held with them.
pub const HDFS_WRITE_PIPELINE_BYTES: u64 = 201 * 64 * 1024;

/// Options only HdfsFile takes.
pub const HDFS_ONLY_OPTIONS: &[&str] = &["fs.defaultFS", "hdfs.config", "remote_user"];

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
            compress_codec: default_compress_codec(),
            have_partition: default_have_partition(),
            partition_by: Vec::new(),
            partition_dir_expression: None,
            is_partition_field_write_in_file: default_is_partition_field_write_in_file(),
            file_name_expression: default_file_name_expression(),
            filename_time_format: default_filename_time_format(),
            is_enable_transaction: default_is_enable_transaction(),
            batch_size: default_batch_size(),
            rolling_file_size: default_rolling_file_size(),
            rolling_interval_ms: default_rolling_interval(),
            write_buffer_bytes: default_write_buffer_bytes(),
            max_open_files: default_max_open_files(),
            sink_columns: None,
            hdfs_config: KafkaProperties::default(),
            remote_user: None,
            plugin_input: None,
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

    /// How many files one subtask holds open at most: `max_open_files` when partitioned,
    /// else one.
    pub fn open_files_bound(&self) -> u64 {
        if self.have_partition {
            u64::from(self.max_open_files)
        } else {
            1
        }
    }

    /// Bytes one subtask's writer may hold: per open file ([`Self::open_files_bound`]) its
    /// `write.buffer_bytes`, plus [`GZIP_ENCODER_BYTES`] with gzip, plus on HDFS
    /// [`HDFS_WRITE_PIPELINE_BYTES`] and one more write buffer (held by the pipeline).
    pub fn buffer_bytes(&self, kind: FileSystemKind) -> u64 {
        let buffer = self.write_buffer_bytes.0;
        let mut per_file = buffer;
        if self.compress_codec == CompressCodec::Gzip {
            per_file = per_file.saturating_add(GZIP_ENCODER_BYTES);
        }
        if kind == FileSystemKind::Hdfs {
            per_file = per_file
                .saturating_add(HDFS_WRITE_PIPELINE_BYTES)
                .saturating_add(buffer);
        }
        self.open_files_bound().saturating_mul(per_file)
    }

    /// The checks that depend on the plugin: `fs.defaultFS` and the form of the paths.
    fn check_file_system(&self, kind: FileSystemKind) -> Result<(), FileSystemProblem> {
        match kind {
            FileSystemKind::Hdfs => {
                let Some(default_fs) = &self.fs_default_fs else {
                    return Err(FileSystemProblem::Missing("fs.defaultFS"));
                };
                check_default_fs(default_fs)
                    .map_err(|message| Violation::new("fs.defaultFS", message))?;
            }
            FileSystemKind::Local => {
                let set: Vec<&str> = [
                    self.fs_default_fs.is_some(),
                    !self.hdfs_config.is_empty(),
                    self.remote_user.is_some(),
                ]
                .iter()
                .zip(HDFS_ONLY_OPTIONS)
                .filter(|(set, _)| **set)
                .map(|(_, name)| *name)
                .collect();
                if let Some(name) = set.first() {
                    return Err(Violation::new(
                        *name,
                        "is only used by HdfsFile: LocalFile writes to the worker's own file \
                         system (use the HdfsFile sink to write to HDFS)",
                    )
                    .into());
                }
            }
        }
        let path = local_form(kind, &self.path);
        check_dir("path", path)?;
        if path == "/" {
            return Err(Violation::new("path", "must not be the root directory").into());
        }
        if let Some(tmp) = &self.tmp_path {
            let tmp = local_form(kind, tmp);
            check_dir("tmp_path", tmp)?;
            let (path, tmp) = (trim_dir(path), trim_dir(tmp));
            if is_within(tmp, path) || is_within(path, tmp) {
                return Err(Violation::new(
                    "tmp_path",
                    format!(
                        "must be outside 'path' ({path}) and not contain it: readers of \
                         'path' must never see in-progress files"
                    ),
                )
                .into());
            }
        }
        Ok(())
    }
}

/// Why [`FileSinkConfig::check_file_system`] refused a config.
enum FileSystemProblem {
    Missing(&'static str),
    Invalid(Violation),
}

impl From<Violation> for FileSystemProblem {
    fn from(violation: Violation) -> Self {
        FileSystemProblem::Invalid(violation)
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

/// `path` without a `file://` scheme, for LocalFile (which accepts `file:///abs`).
fn local_form(kind: FileSystemKind, path: &str) -> &str {
    match kind {
        FileSystemKind::Local => path.strip_prefix("file://").unwrap_or(path),
        FileSystemKind::Hdfs => path,
    }
}

fn check_default_fs(default_fs: &str) -> Result<(), String> {
    let Some(rest) = default_fs.strip_prefix("hdfs://") else {
        return Err(format!(
            "must be an hdfs:// URL such as hdfs://namenode:9000, found {default_fs:?}"
        ));
    };
    let authority = rest.trim_end_matches('/');
    if authority.is_empty() || authority.contains('/') {
        return Err(format!(
            "must be hdfs://<host:port> or hdfs://<nameservice> without a path (put the \
             directory in 'path'), found {default_fs:?}"
        ));
    }
    Ok(())
}

fn check_dir(option: &'static str, dir: &str) -> Result<(), Violation> {
    if !dir.starts_with('/') {
        return Err(Violation::new(
            option,
            format!("must be an absolute path such as /data/orders, found {dir:?}"),
        ));
    }
    if dir
        .split('/')
        .any(|segment| segment == ".." || segment == ".")
    {
        return Err(Violation::new(
            option,
            format!("must not contain '.' or '..' segments, found {dir:?}"),
        ));
    }
    Ok(())
}

fn trim_dir(dir: &str) -> &str {
    let trimmed = dir.trim_end_matches('/');
    if trimmed.is_empty() { "/" } else { trimmed }
}

/// Whether `inner` is `outer` or below it.
fn is_within(inner: &str, outer: &str) -> bool {
    inner == outer
        || outer == "/"
        || inner
            .strip_prefix(outer)
            .is_some_and(|rest| rest.starts_with('/'))
}

impl Section for FileSinkConfig {
    const ALIASES: &'static [(&'static str, &'static str)] =
        &[("source_table_name", "plugin_input")];

    fn validate(&self) -> Result<(), Violation> {
        if !self.is_enable_transaction {
            return Err(Violation::new(
                "is_enable_transaction",
                "cannot be false: Weir always writes files transactionally (in-progress \
                 files are published by checkpoints, exactly once); remove the option",
            ));
        }
        match (&self.field_delimiter, self.file_format_type) {
            (Some(_), FileFormat::Json) => {
                return Err(Violation::new(
                    "field_delimiter",
                    "is only used with file_format_type = text or csv",
                ));
            }
            (Some(delimiter), _) if delimiter.is_empty() => {
                return Err(Violation::new("field_delimiter", "must not be empty"));
            }
            (Some(delimiter), FileFormat::Csv) if delimiter.contains('"') => {
                return Err(Violation::new(
                    "field_delimiter",
                    "must not contain '\"', which quotes csv fields",
                ));
            }
            _ => {}
        }
        if self.row_delimiter.is_empty() {
            return Err(Violation::new("row_delimiter", "must not be empty"));
        }
        self.validate_partitioning()?;
        self.validate_file_name()?;
        for (option, value) in [
            ("batch_size", self.batch_size),
            ("rolling.file_size", self.rolling_file_size.0),
            ("write.buffer_bytes", self.write_buffer_bytes.0),
            ("max_open_files", u64::from(self.max_open_files)),
        ] {
            if value == 0 {
                return Err(Violation::new(option, "must be at least 1, found 0"));
            }
        }
        if let Some(columns) = &self.sink_columns {
            if columns.is_empty() {
                return Err(Violation::new(
                    "sink_columns",
                    "must name at least one field (leave it out to write every field)",
                ));
            }
            check_unique("sink_columns", columns)?;
        }
        Ok(())
    }
}

impl FileSinkConfig {
    fn validate_partitioning(&self) -> Result<(), Violation> {
        if !self.have_partition {
            for (option, set) in [
                ("partition_by", !self.partition_by.is_empty()),
                (
                    "partition_dir_expression",
                    self.partition_dir_expression.is_some(),
                ),
            ] {
                if set {
                    return Err(Violation::new(
                        option,
                        "is only used with have_partition = true",
                    ));
                }
            }
            return Ok(());
        }
        if self.partition_by.is_empty() {
            return Err(Violation::new(
                "partition_by",
                "is required with have_partition = true, e.g. [\"day\"]",
            ));
        }
        check_unique("partition_by", &self.partition_by)?;
        let expression = self.partition_dir_expression();
        let template = Template::parse(&expression)
            .map_err(|message| Violation::new("partition_dir_expression", message))?;
        let fields = self.partition_by.len();
        for variable in template.variables() {
            let index = variable
                .strip_prefix('k')
                .or_else(|| variable.strip_prefix('v'))
                .and_then(|n| n.parse::<usize>().ok());
            match index {
                Some(n) if n < fields => {}
                _ => {
                    return Err(Violation::new(
                        "partition_dir_expression",
                        format!(
                            "uses ${{{variable}}}; it may use ${{k0}}..${{k{last}}} and \
                             ${{v0}}..${{v{last}}} (one pair per partition_by field)",
                            last = fields - 1
                        ),
                    ));
                }
            }
        }
        if expression.starts_with('/')
            || expression
                .split('/')
                .any(|segment| segment == ".." || segment == "." || segment.is_empty())
        {
            return Err(Violation::new(
                "partition_dir_expression",
                format!("must be a relative directory like ${{k0}}=${{v0}}, found {expression:?}"),
            ));
        }
        Ok(())
    }

    fn validate_file_name(&self) -> Result<(), Violation> {
        let option = "file_name_expression";
        let template = Template::parse(&self.file_name_expression)
            .map_err(|message| Violation::new(option, message))?;
        let variables: Vec<&str> = template.variables().collect();
        if let Some(unknown) = variables
            .iter()
            .find(|name| !FILE_NAME_VARIABLES.contains(name))
        {
            return Err(Violation::new(
                option,
                format!(
                    "uses unknown variable ${{{unknown}}} (known: {})",
                    FILE_NAME_VARIABLES
                        .iter()
                        .map(|name| format!("${{{name}}}"))
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            ));
        }
        let unique = variables.contains(&"transactionId")
            || ["job_id", "subtask", "checkpoint"]
                .iter()
                .all(|needed| variables.contains(needed));
        if !unique {
            return Err(Violation::new(
                option,
                "must contain ${transactionId}, or ${job_id}, ${subtask} and ${checkpoint}, \
                 so that files of different subtasks and checkpoints never share a name",
            ));
        }
        if self.file_name_expression.contains('/') {
            return Err(Violation::new(option, "must not contain '/'"));
        }
        format_utc_time(&self.filename_time_format, 0)
            .map_err(|message| Violation::new("filename_time_format", message))?;
        Ok(())
    }
}

fn check_unique(option: &'static str, names: &[String]) -> Result<(), Violation> {
    for (index, name) in names.iter().enumerate() {
        if names[..index].contains(name) {
            return Err(Violation::new(
                option,
                format!("names field '{name}' twice"),
            ));
        }
    }
    Ok(())
}

/// How a file sink encodes rows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum FileFormat {
    /// Fields joined by `field_delimiter`, written verbatim.
    Text,
    /// RFC 4180 comma-separated values.
    Csv,
    /// One JSON object per line.
    Json,
}

impl FileFormat {
    /// The extension of committed files (before `.gz`).
    pub fn extension(self) -> &'static str {
        match self {
            FileFormat::Text => "txt",
            FileFormat::Csv => "csv",
            FileFormat::Json => "json",
        }
    }
}

impl<'de> Deserialize<'de> for FileFormat {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserialize_variant(
            deserializer,
            &[
                ("text", FileFormat::Text),
                ("csv", FileFormat::Csv),
                ("json", FileFormat::Json),
            ],
        )
    }
}

/// How a file sink compresses files.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum CompressCodec {
    /// Plain files.
    None,
    /// One gzip stream per file.
    Gzip,
}

impl<'de> Deserialize<'de> for CompressCodec {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserialize_variant(
            deserializer,
            &[("none", CompressCodec::None), ("gzip", CompressCodec::Gzip)],
        )
    }
}

/// A byte quantity option: a number of bytes, or a number with a unit (`"128MiB"`, see
/// [`crate::bytesize`]). Written back with the largest binary unit that divides it exactly.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ByteSize(pub u64);

impl Serialize for ByteSize {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let bytes = self.0;
        let unit = [("TiB", 40), ("GiB", 30), ("MiB", 20), ("KiB", 10)]
            .into_iter()
            .find(|(_, shift)| bytes != 0 && bytes.trailing_zeros() >= *shift);
        match unit {
            Some((name, shift)) => serializer.serialize_str(&format!("{}{name}", bytes >> shift)),
            None => serializer.serialize_u64(bytes),
        }
    }
}

impl<'de> Deserialize<'de> for ByteSize {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct ByteSizeVisitor;

        impl Visitor<'_> for ByteSizeVisitor {
            type Value = ByteSize;

            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a number of bytes or a size such as \"128MiB\"")
            }

            fn visit_u64<E: de::Error>(self, bytes: u64) -> Result<ByteSize, E> {
                Ok(ByteSize(bytes))
            }

            fn visit_i64<E: de::Error>(self, bytes: i64) -> Result<ByteSize, E> {
                u64::try_from(bytes)
                    .map(ByteSize)
                    .map_err(|_| E::custom(format!("must be a non-negative size, found {bytes}")))
            }

            fn visit_f64<E: de::Error>(self, bytes: f64) -> Result<ByteSize, E> {
                Err(E::custom(format!(
                    "must be a whole number of bytes or a size such as \"1.5MiB\", found {bytes}"
                )))
            }

            fn visit_str<E: de::Error>(self, text: &str) -> Result<ByteSize, E> {
                parse_bytes(text).map(ByteSize).map_err(E::custom)
            }
        }

        deserializer.deserialize_any(ByteSizeVisitor)
    }
}

impl JsonSchema for ByteSize {
    fn schema_name() -> Cow<'static, str> {
        "ByteSize".into()
    }

    fn json_schema(_generator: &mut SchemaGenerator) -> schemars::Schema {
        // "string" first: the reference calls it a string, and the parser then accepts
        // numbers too (they are scalars); the deserializer reads both.
        schemars::json_schema!({ "type": ["string", "integer"] })
    }
}

/// Field names as a list, or as one comma-separated string.
fn deserialize_names<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Names {
        List(Vec<String>),
        Text(String),
    }
    let names = match Names::deserialize(deserializer)
        .map_err(|_| de::Error::custom("must be a list of field names, e.g. [\"id\", \"name\"]"))?
    {
        Names::List(names) => names,
        Names::Text(text) => text.split(',').map(|name| name.to_string()).collect(),
    };
    let names: Vec<String> = names.iter().map(|name| name.trim().to_string()).collect();
    if names.iter().any(String::is_empty) {
        return Err(de::Error::custom("must not contain an empty field name"));
    }
    Ok(names)
}

fn deserialize_optional_names<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<Vec<String>>, D::Error> {
    deserialize_names(deserializer).map(Some)
}

/// A string with `${name}` variables, such as `file_name_expression`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Template {
    parts: Vec<TemplatePart>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum TemplatePart {
    Literal(String),
    Variable(String),
}

impl Template {
    /// Splits `text` into literals and `${name}` variables; an unclosed `${` is an error.
    pub fn parse(text: &str) -> Result<Self, String> {
        let mut parts = Vec::new();
        let mut rest = text;
        while let Some(start) = rest.find("${") {
            if start > 0 {
                parts.push(TemplatePart::Literal(rest[..start].to_string()));
            }
            let after = &rest[start + 2..];
            let Some(end) = after.find('}') else {
                return Err(format!("has an unclosed '${{' in {text:?}"));
            };
            let name = after[..end].trim();
            if name.is_empty() {
                return Err(format!("has an empty variable '${{}}' in {text:?}"));
            }
            parts.push(TemplatePart::Variable(name.to_string()));
            rest = &after[end + 1..];
        }
        if !rest.is_empty() {
            parts.push(TemplatePart::Literal(rest.to_string()));
        }
        Ok(Template { parts })
    }

    /// The names of the variables used, in order.
    pub fn variables(&self) -> impl Iterator<Item = &str> {
        self.parts.iter().filter_map(|part| match part {
            TemplatePart::Variable(name) => Some(name.as_str()),
            TemplatePart::Literal(_) => None,
        })
    }

    /// The text with each variable replaced by `value(name)` (empty when it gives `None`).
    pub fn render(&self, mut value: impl FnMut(&str) -> Option<String>) -> String {
        let mut out = String::new();
        for part in &self.parts {
            match part {
                TemplatePart::Literal(text) => out.push_str(text),
                TemplatePart::Variable(name) => out.push_str(&value(name).unwrap_or_default()),
            }
        }
        out
    }
}

/// Formats `unix_millis` (UTC) with a Java-style pattern: `yyyy`, `yy`, `MM`, `dd`, `HH`,
/// `mm`, `ss`, `SSS`; other characters are copied, except letters (unknown fields) and `/`.
pub fn format_utc_time(pattern: &str, unix_millis: i64) -> Result<String, String> {
    let days = unix_millis.div_euclid(86_400_000);
    let in_day = unix_millis.rem_euclid(86_400_000);
    let (year, month, day) = civil_from_days(days);
    let fields: [(&str, String); 8] = [
        ("yyyy", format!("{year:04}")),
        ("yy", format!("{:02}", year.rem_euclid(100))),
        ("MM", format!("{month:02}")),
        ("dd", format!("{day:02}")),
        ("HH", format!("{:02}", in_day / 3_600_000)),
        ("mm", format!("{:02}", in_day / 60_000 % 60)),
        ("ss", format!("{:02}", in_day / 1000 % 60)),
        ("SSS", format!("{:03}", in_day % 1000)),
    ];
    let mut out = String::new();
    let mut rest = pattern;
    'next: while let Some(c) = rest.chars().next() {
        for (token, value) in &fields {
            if let Some(after) = rest.strip_prefix(token) {
                out.push_str(value);
                rest = after;
                continue 'next;
            }
        }
        if c.is_alphabetic() || c == '/' {
            return Err(format!(
                "has '{c}' in {pattern:?}; use yyyy, yy, MM, dd, HH, mm, ss, SSS and \
                 separators other than '/'"
            ));
        }
        out.push(c);
        rest = &rest[c.len_utf8()..];
    }
    Ok(out)
}

/// Days since 1970-01-01 → (year, month, day) in the proleptic Gregorian calendar
/// (Howard Hinnant's `civil_from_days`).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}
