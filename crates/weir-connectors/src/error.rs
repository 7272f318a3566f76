//! Connector errors.

/// Why a source reader or sink writer failed.
#[derive(Debug, thiserror::Error)]
pub enum ConnectorError {
    /// The subtask stopped consuming while the reader still had rows to hand over.
    #[error("the subtask's queue was closed while the source was still producing")]
    QueueClosed,
    /// Writing to standard output failed (e.g. a closed pipe).
    #[error("console sink could not write to stdout: {0}")]
    Stdout(#[source] std::io::Error),
    /// A background I/O job was lost (its thread panicked or the runtime shut down).
    #[error("{what} was interrupted: {reason}")]
    Interrupted {
        /// The operation that did not complete.
        what: &'static str,
        /// Why, as reported by the runtime.
        reason: String,
    },
    /// The Kafka client failed in a way retrying cannot fix (bad `kafka.config`, a fatal
    /// librdkafka error).
    #[error("Kafka {what}: {detail}")]
    Kafka {
        /// What Weir was doing, e.g. `consumer could not be created`.
        what: &'static str,
        /// librdkafka's description.
        detail: String,
    },
    /// A record could not be decoded and `format_error_handle_way = fail`.
    #[error(
        "cannot decode the record at topic '{topic}' partition {partition} offset {offset}: \
         {reason} (format_error_handle_way = fail)"
    )]
    UndecodableRecord {
        /// The record's topic.
        topic: String,
        /// The record's partition.
        partition: i32,
        /// The record's offset.
        offset: i64,
        /// What is wrong with it.
        reason: String,
    },
    /// A partition being read no longer exists.
    #[error("partition {split} no longer exists (topic deleted or partitions removed): {detail}")]
    PartitionGone {
        /// `topic-partition`.
        split: String,
        /// librdkafka's description.
        detail: String,
    },
    /// A file system operation failed, e.g. `HDFS hdfs://127.0.0.1:9000: connection refused
    /// while creating /x/y`.
    #[error("{fs}: {cause} while {action} {path}")]
    FileSystem {
        /// The file system: `HDFS hdfs://host:port` or `local file system`.
        fs: String,
        /// What Weir was doing, e.g. `creating`, `renaming`.
        action: &'static str,
        /// The path (for a rename: `from -> to`).
        path: String,
        /// Why, as the file system or its client reported it.
        cause: String,
        /// The kind of failure, for callers that tolerate some (a missing file).
        kind: crate::fs::FsErrorKind,
    },
    /// A file of a completed checkpoint is neither pending nor committed: it was lost.
    #[error(
        "cannot commit {pending}: neither it nor its final path {final_path} exists \
         (the checkpoint's file was deleted)"
    )]
    PendingFileLost {
        /// Where the checkpoint left the file.
        pending: String,
        /// Where the commit puts it.
        final_path: String,
    },
    /// A file operation outside the directories of the job the sink writes for (see
    /// `fs::Confined`): refused, and logged as a security event.
    #[error("refused {action} {path}: it {reason} (this job's files are under {roots})")]
    OutsideJobPaths {
        /// What was attempted, e.g. `renaming`.
        action: &'static str,
        /// The path as it was given.
        path: String,
        /// Why it was refused, phrased to follow "it", e.g. `contains a '..' segment`.
        reason: String,
        /// The job's directories.
        roots: String,
    },
    /// A file handed to a sink to publish (a restore point's pending file) is not one the sink
    /// could have written for this job and subtask: refused, and logged as a security event.
    #[error("refused to recover {pending} -> {final_path}: {reason}")]
    ForeignFile {
        /// The pending path given.
        pending: String,
        /// The final path given.
        final_path: String,
        /// How it differs from the sink's own naming.
        reason: String,
    },
    /// A sink option does not fit the rows the job produces (e.g. `partition_by` names a
    /// field the rows do not have).
    #[error("sink option '{option}' {message}")]
    InvalidSinkOption {
        /// The option's name, e.g. `partition_by`.
        option: &'static str,
        /// What is wrong, phrased to follow the quoted name.
        message: String,
    },
    /// A file sink's `schema_save_mode` or `data_save_mode` fails the job's fresh start
    /// (`ERROR_WHEN_SCHEMA_NOT_EXIST`, `ERROR_WHEN_DATA_EXISTS`).
    #[error("sink option '{option}' is {mode}, and {found}")]
    SaveMode {
        /// `schema_save_mode` or `data_save_mode`.
        option: &'static str,
        /// Its value, as SeaTunnel spells it.
        mode: &'static str,
        /// What was found, e.g. `hdfs://nn:9000/out holds 3 entries`.
        found: String,
    },
    /// librdkafka refuses a property of the consumer a Kafka subtask would create (an unknown
    /// name, often a Java client's, or a value it cannot take).
    #[error("'source.Kafka.{option}' is refused by librdkafka: {message}")]
    KafkaProperty {
        /// `kafka.config.<name>`, or the name of a property Weir sets from an option.
        option: String,
        /// librdkafka's reason.
        message: String,
    },
    /// Rows could not be encoded as Parquet into the file being written.
    #[error("writing Parquet file {path}: {source}")]
    ParquetWrite {
        /// The in-progress file, within the file system.
        path: String,
        /// What the encoder reported (boxed: the Parquet library's error is large, and every
        /// `Result` of this crate would carry its size).
        #[source]
        source: Box<crate::file_sink::ParquetWriteError>,
    },
}
