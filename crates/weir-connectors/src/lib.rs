//! Weir's sources and sinks, and the traits the task runtime drives them through.
//!
//! A subtask runs one [`SourceReader`] per split, each feeding its own bounded queue
//! ([`weir_core::queue`]), and one [`SinkWriter`] draining them. FakeSource has one split per
//! subtask; Kafka has one per assigned partition ([`kafka`]).

mod codec;
mod console;
mod context;
mod error;
mod fake;
mod file_sink;
pub mod fs;
pub mod kafka;
mod limiter;
mod source;

use std::sync::Arc;

use weir_core::config::{FileSystemKind, JobConfig, JobMode, SinkConfig, SourceConfig};
use weir_core::schema::Schema;
use weir_core::split::SplitId;

pub use self::console::ConsoleSink;
pub use self::context::{
    BoxFuture, Discard, PendingFile, Restored, SinkBufferStats, SinkWriter, SourceContext,
    SourceReader, SourceRecord, SubtaskInfo,
};
pub use self::error::ConnectorError;
pub use self::fake::FakeSourceReader;
pub use self::file_sink::{FileSink, ParquetWriteError};
pub use self::limiter::{ReadLimitShare, ReadLimiter};
pub use self::source::{
    OpenedSource, SourceDriver, SourceStatus, SplitOpener, SplitReader, SplitState,
};

/// Opens the source of one subtask of `job`: one reader per split, each to be given its own
/// queue bounded by [`SourceConfig::queue_bounds`].
///
/// `splits` are the splits the master assigned to the subtask (Kafka partitions); sources
/// without splits (FakeSource) ignore them and run one split named `subtask-<index>`. Must be
/// called within a tokio runtime.
///
/// `restored` gives the next offset to read of splits resumed from a checkpoint; those
/// splits ignore `start_mode`. FakeSource ignores it (it generates its rows anew).
pub fn open_source(
    job: &JobConfig,
    subtask: &SubtaskInfo,
    splits: &[SplitId],
    restored: &[(SplitId, i64)],
) -> Result<OpenedSource, ConnectorError> {
    match &job.source {
        SourceConfig::FakeSource(fake) => Ok(OpenedSource {
            readers: vec![SplitReader {
                state: Arc::new(SplitState::new(format!(
                    "subtask-{}",
                    subtask.subtask_index
                ))),
                reader: Box::new(FakeSourceReader::new(fake.clone(), subtask.clone())),
            }],
            opener: None,
            driver: None,
            status: Arc::default(),
            // A STREAMING job runs until cancelled, as SeaTunnel's does: after its `row.num`
            // rows the subtask stays up, idle, and its checkpoints go on.
            unbounded: job.env.job_mode == JobMode::Streaming,
        }),
        SourceConfig::Kafka(kafka) => kafka::open(kafka, &job.env, subtask, splits, restored),
    }
}

/// Opens the sink writer of one subtask, for rows of `schema`. File sinks check their
/// schema-dependent options here (`partition_by`, `sink_columns`); must be called within a
/// tokio runtime (the HDFS client spawns its tasks there).
pub fn open_sink(
    config: &SinkConfig,
    schema: &Schema,
    subtask: &SubtaskInfo,
) -> Result<Box<dyn SinkWriter>, ConnectorError> {
    match config {
        SinkConfig::Console(console) => {
            Ok(Box::new(ConsoleSink::new(console, schema.clone(), subtask)))
        }
        SinkConfig::HdfsFile(file) => Ok(Box::new(file_sink::open(
            file,
            FileSystemKind::Hdfs,
            schema,
            subtask,
        )?)),
        SinkConfig::LocalFile(file) => Ok(Box::new(file_sink::open(
            file,
            FileSystemKind::Local,
            schema,
            subtask,
        )?)),
    }
}
