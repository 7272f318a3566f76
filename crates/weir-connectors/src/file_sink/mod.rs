//! The `HdfsFile` and `LocalFile` sinks: rows to files, exactly once through checkpoints.
//!
//! Each subtask writes in-progress files under `<tmp_path>/<job>/<subtask>/`
//! (`a<attempt>-<seq>.inprogress`, created at a partition's first row, so no file is ever
//! empty), rolls them to `a<attempt>-<seq>.pending` by rows, size or age, and at checkpoint
//! `n` closes every open file and lists all uncommitted pending files with their final paths
//! `<path>/<partition>/<file_name_expression>_<seq>.<ext>`, the expression expanded for the
//! first checkpoint that listed the file (so a late commit of `n - 1` and a commit or recovery
//! of `n` agree). The commit of a completed checkpoint renames them; recovery commits the
//! restored checkpoint's files and deletes everything else in the subtask's directory. An
//! abort deletes the attempt's in-progress files and the pending files no checkpoint listed
//! yet; listed ones may belong to a completed checkpoint and are left to recovery.
//!
//! Every file operation goes through [`Confined`] with the job's `path` and `tmp_path` as
//! roots, and recovery accepts only restored files that follow this naming for the job and
//! subtask (docs/security.md, "Workers confined to their jobs' paths"). A restored file found at neither its pending nor
//! its final path was published and then moved away downstream: a warning, not a failure.
//!
//! Memory: one bounded output buffer (`write.buffer_bytes`) per open file, plus gzip state,
//! plus what the HDFS client keeps in flight ([`FileSinkConfig::buffer_bytes`]); a Parquet
//! file also holds its row group in progress (`parquet_row_group_bytes`) and the rows waiting
//! to be encoded (see `parquet.rs`). What the sink holds is the task metric
//! `sink_buffer_bytes`, against [`FileSinkConfig::writer_bytes_per_file`] × the open-files
//! bound (the fixed gzip and HDFS allowances are not counted there).

mod closing;
mod commit;
mod format;
mod lzop;
mod naming;
mod parquet;
mod parquet_columns;
mod save_modes;
mod writer;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use weir_core::config::{FileFormat, FileSinkConfig, FileSystemKind};
use weir_core::schema::Schema;

use self::format::RowEncoder;
use self::naming::Naming;
use self::parquet::ParquetLayout;
pub use self::parquet::ParquetWriteError;
pub use self::writer::FileSink;
use self::writer::Limits;
use crate::context::{SinkBufferStats, SubtaskInfo};
use crate::error::ConnectorError;
use crate::fs::{Confined, FsOptions, open_filesystem};

/// Opens the file sink writer of `subtask` for rows of `schema`. Checks the options that
/// depend on the schema (`partition_by`, `sink_columns`) and connects to the file system
/// (HDFS connects lazily, on the first file operation).
pub fn open(
    config: &FileSinkConfig,
    kind: FileSystemKind,
    schema: &Schema,
    subtask: &SubtaskInfo,
) -> Result<FileSink, ConnectorError> {
    let (columns, partition_fields) = columns_of(config, schema)?;
    let root_url = match (kind, &config.fs_default_fs) {
        (FileSystemKind::Hdfs, Some(default_fs)) => {
            format!("{}{}", default_fs.trim_end_matches('/'), config.path)
        }
        (FileSystemKind::Hdfs, None) => {
            return Err(ConnectorError::InvalidSinkOption {
                option: "fs.defaultFS",
                message: "is required by HdfsFile".to_string(),
            });
        }
        (FileSystemKind::Local, _) => config.path.clone(),
    };
    let options = FsOptions {
        hdfs_config: config.hdfs_config.0.clone(),
        remote_user: config.remote_user.clone(),
    };
    let (fs, root) = open_filesystem(&root_url, &options)?;
    let tmp = config.tmp_path();
    let tmp = tmp.strip_prefix("file://").unwrap_or(&tmp).to_string();
    // Every file operation of the sink goes through this: only the job's own directories.
    let owner = format!(
        "job {} subtask {} attempt {}",
        subtask.job_id, subtask.subtask_index, subtask.attempt
    );
    let fs = Arc::new(Confined::new(
        fs,
        &[&root, &tmp],
        kind == FileSystemKind::Local,
        owner,
    )?);
    let (root, tmp) = match fs.roots() {
        [root, tmp] => (root.clone(), tmp.clone()),
        _ => (root, tmp),
    };
    let naming =
        Naming::new(config, (&root, &tmp), subtask, partition_fields).map_err(|message| {
            ConnectorError::InvalidSinkOption {
                option: "file_name_expression",
                message,
            }
        })?;
    let encoder = RowEncoder::new(
        config.file_format_type,
        config.field_delimiter(),
        &config.row_delimiter,
        columns,
        schema,
    )
    .with_charset(config.encoding);
    let as_usize = |bytes: u64| usize::try_from(bytes).unwrap_or(usize::MAX);
    let parquet = match config.file_format_type {
        FileFormat::Parquet => Some(Arc::new(
            ParquetLayout::new(
                encoder.written_schema().clone(),
                config.compress_codec,
                as_usize(config.parquet_row_group_bytes()),
                as_usize(config.write_buffer_bytes.0),
            )
            .map_err(|error| ConnectorError::InvalidSinkOption {
                option: "file_format_type",
                message: format!("= \"parquet\" cannot write these rows: {error}"),
            })?,
        )),
        _ => None,
    };
    let limits = Limits {
        batch_size: config.batch_size,
        file_size: config.rolling_file_size.0,
        interval: (config.rolling_interval_ms > 0)
            .then(|| Duration::from_millis(config.rolling_interval_ms)),
        buffer: as_usize(config.write_buffer_bytes.0),
        max_open_files: as_usize(config.open_files_bound()),
        in_flight: config.in_flight_limit(kind),
        pipeline: config.pipeline_bytes_per_file(),
        codec: config.compress_codec,
        // A Parquet file's output receives whole row groups (written out right after).
        output_cap: as_usize(match parquet {
            Some(_) => config
                .write_buffer_bytes
                .0
                .max(config.parquet_row_group_bytes()),
            None => config.write_buffer_bytes.0,
        }),
        parquet,
        header: (config.enable_header_write
            && matches!(config.file_format_type, FileFormat::Text | FileFormat::Csv))
        .then(|| encoder.header()),
    };
    Ok(FileSink {
        fs,
        naming,
        encoder,
        limits,
        save_modes: (config.schema_save_mode, config.data_save_mode),
        attempt: subtask.attempt,
        next_seq: 0,
        open: HashMap::new(),
        tick: 0,
        pending: Vec::new(),
        closing: None,
        scratch: Vec::new(),
        in_flight: 0,
        stats: Arc::new(
            SinkBufferStats::with_files(
                config
                    .writer_bytes_per_file()
                    .saturating_mul(config.open_files_bound()),
                config.open_files_bound(),
            )
            .with_in_flight(config.in_flight_limit(kind).unwrap_or(0)),
        ),
    })
}

/// The positions of the written columns (in output order) and of the `partition_by` fields.
fn columns_of(
    config: &FileSinkConfig,
    schema: &Schema,
) -> Result<(Vec<usize>, Vec<usize>), ConnectorError> {
    let names = || {
        schema
            .fields
            .iter()
            .map(|field| field.name.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    };
    let position = |option: &'static str, name: &str| {
        schema
            .fields
            .iter()
            .position(|field| field.name == name)
            .ok_or_else(|| ConnectorError::InvalidSinkOption {
                option,
                message: format!(
                    "names field '{name}', which the rows do not have (fields: {})",
                    names()
                ),
            })
    };
    let partition_fields = if config.have_partition {
        config
            .partition_by
            .iter()
            .map(|name| position("partition_by", name))
            .collect::<Result<Vec<_>, _>>()?
    } else {
        Vec::new()
    };
    let mut columns = match &config.sink_columns {
        Some(selected) => selected
            .iter()
            .map(|name| position("sink_columns", name))
            .collect::<Result<Vec<_>, _>>()?,
        None => (0..schema.fields.len()).collect(),
    };
    if !config.is_partition_field_write_in_file {
        columns.retain(|column| !partition_fields.contains(column));
    }
    if columns.is_empty() {
        return Err(ConnectorError::InvalidSinkOption {
            option: "sink_columns",
            message: format!(
                "leaves no field to write (fields: {}; partition_by fields are only written \
                 with is_partition_field_write_in_file = true)",
                names()
            ),
        });
    }
    Ok((columns, partition_fields))
}

#[cfg(test)]
mod parquet_tests;
#[cfg(test)]
mod tests;
