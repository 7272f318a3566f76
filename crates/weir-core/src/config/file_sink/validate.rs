//! The checks of a file sink config: the plugin-independent ones ([`Section::validate`]) and
//! those that depend on the file system ([`FileSinkConfig::check_file_system`]).

use super::super::section::{Section, Violation};
use super::{
    CompressCodec, FILE_NAME_VARIABLES, FileFormat, FileSinkConfig, FileSystemKind,
    HDFS_ONLY_OPTIONS, Template, format_utc_time,
};

impl FileSinkConfig {
    /// The checks that depend on the plugin: `fs.defaultFS` and the form of the paths.
    pub(super) fn check_file_system(&self, kind: FileSystemKind) -> Result<(), FileSystemProblem> {
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
                    self.write_max_in_flight_bytes.is_some(),
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
pub(super) enum FileSystemProblem {
    Missing(&'static str),
    Invalid(Violation),
}

impl From<Violation> for FileSystemProblem {
    fn from(violation: Violation) -> Self {
        FileSystemProblem::Invalid(violation)
    }
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

pub(super) fn trim_dir(dir: &str) -> &str {
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
    const QUOTED: &'static [&'static str] = &["field_delimiter", "row_delimiter"];

    fn validate(&self) -> Result<(), Violation> {
        if !self.is_enable_transaction {
            return Err(Violation::new(
                "is_enable_transaction",
                "cannot be false: Weir always writes files transactionally (in-progress \
                 files are published by checkpoints, exactly once); remove the option",
            ));
        }
        match (&self.field_delimiter, self.file_format_type) {
            (Some(_), FileFormat::Json | FileFormat::Parquet) => {
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
        if self.enable_header_write
            && matches!(
                self.file_format_type,
                FileFormat::Json | FileFormat::Parquet
            )
        {
            return Err(Violation::new(
                "enable_header_write",
                "is only used with file_format_type = text or csv (json and parquet files \
                 name their fields themselves)",
            ));
        }
        if !self.encoding.is_utf8() && self.file_format_type == FileFormat::Parquet {
            return Err(Violation::new(
                "encoding",
                "is only used with file_format_type = text, csv or json (Parquet strings are \
                 UTF-8 by the format)",
            ));
        }
        self.validate_parquet()?;
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
    fn validate_parquet(&self) -> Result<(), Violation> {
        if self.file_format_type != FileFormat::Parquet {
            if self.compress_codec.parquet_only() {
                return Err(Violation::new(
                    "compress_codec",
                    format!(
                        "{} is only used with file_format_type = parquet (text, csv and \
                         json take none, gzip or lzo)",
                        self.compress_codec.infix().trim_start_matches('.')
                    ),
                ));
            }
            for (option, set) in [
                (
                    "parquet_row_group_bytes",
                    self.parquet_row_group_bytes.is_some(),
                ),
                (
                    "parquet_avro_write_timestamp_as_int96",
                    self.parquet_avro_write_timestamp_as_int96.is_some(),
                ),
                (
                    "parquet_avro_write_fixed_as_int96",
                    self.parquet_avro_write_fixed_as_int96.is_some(),
                ),
            ] {
                if set {
                    return Err(Violation::new(
                        option,
                        "is only used with file_format_type = parquet",
                    ));
                }
            }
            return Ok(());
        }
        if self.compress_codec == CompressCodec::Lzo {
            return Err(Violation::new(
                "compress_codec",
                "cannot be lzo with file_format_type = parquet: Weir's Parquet library cannot \
                 write LZO pages; use snappy, lz4 or zstd (lzo is taken by text, csv and json)",
            ));
        }
        if self
            .parquet_row_group_bytes
            .is_some_and(|bytes| bytes.0 == 0)
        {
            return Err(Violation::new(
                "parquet_row_group_bytes",
                "must be at least 1, found 0",
            ));
        }
        if self.parquet_avro_write_timestamp_as_int96 == Some(true) {
            return Err(Violation::new(
                "parquet_avro_write_timestamp_as_int96",
                "cannot be true: Weir writes timestamps as INT64 TIMESTAMP(MICROS), which \
                 Hive 3+, Spark, Trino, DuckDB and pyarrow read; its Parquet library cannot \
                 write the deprecated INT96",
            ));
        }
        if self
            .parquet_avro_write_fixed_as_int96
            .as_ref()
            .is_some_and(|fields| !fields.is_empty())
        {
            return Err(Violation::new(
                "parquet_avro_write_fixed_as_int96",
                "must be empty: Weir's Parquet library cannot write INT96 columns",
            ));
        }
        Ok(())
    }

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
