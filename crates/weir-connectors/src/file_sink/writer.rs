//! [`FileSink`]: the open files of one subtask: rows encoded into them, files rolled and closed
//! (their two-phase commit is in `commit.rs`).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use tokio::time::Instant;
use weir_core::config::{CompressCodec, DataSaveMode, SchemaSaveMode};
use weir_core::row::Row;

use super::closing::{Closing, Ending};
use super::format::{Content, ContentError, RowEncoder};
use super::naming::Naming;
use super::parquet::ParquetLayout;
use crate::context::{BoxFuture, Discard, PendingFile, Restored, SinkBufferStats, SinkWriter};
use crate::error::ConnectorError;
use crate::fs::{Confined, FileSystem, FileWriter};

/// Renames (commits) or closes run this many at a time: enough to hide NameNode round trips,
/// few enough not to flood it.
pub(super) const CONCURRENT_FILE_OPERATIONS: usize = 16;

/// The encoding buffer of the row being written is kept for the next row up to this size.
pub(super) const SCRATCH_KEEP_BYTES: usize = 64 * 1024;

/// When an open file is closed and a new one started.
pub(super) struct Limits {
    pub batch_size: u64,
    pub file_size: u64,
    pub interval: Option<Duration>,
    /// `write.buffer_bytes`.
    pub buffer: usize,
    pub max_open_files: usize,
    /// `write.max_in_flight_bytes` on HDFS: bytes written to the open files and not yet
    /// acknowledged, summed over them; `None` on the local file system.
    pub in_flight: Option<u64>,
    /// The most the file system client holds for one file (`pipeline_bytes_per_file`):
    /// a file counts at most this in flight, however much was written since it was settled.
    pub pipeline: u64,
    pub codec: CompressCodec,
    /// The allocation bound of an output buffer: `write.buffer_bytes`, or for Parquet at
    /// least a row group (which arrives in the output whole).
    pub output_cap: usize,
    /// Set when the files are Parquet: rows go to the file's columnar writer.
    pub parquet: Option<Arc<ParquetLayout>>,
    /// The header line every file starts with (`enable_header_write`), delimiter included.
    pub header: Option<Vec<u8>>,
}

/// How much `len` more bytes for a file with `unsettled` bytes add to the in-flight count,
/// where a file counts at most `pipeline` (what its client holds at most).
fn in_flight_growth(unsettled: u64, len: u64, pipeline: u64) -> u64 {
    unsettled
        .saturating_add(len)
        .min(pipeline)
        .saturating_sub(unsettled.min(pipeline))
}

/// What one row adds to its file: its encoding, or (Parquet) the row itself.
enum Addition<'a> {
    Encoded(&'a [u8]),
    Row(Row),
}

/// Writes one subtask's rows to files, exactly once through checkpoints (see the crate's
/// [`SinkWriter`] contract and `FileSinkConfig`).
pub struct FileSink {
    /// Confined to the job's `path` and `tmp_path`: every file operation goes through it.
    pub(super) fs: Arc<Confined>,
    pub(super) naming: Naming,
    pub(super) encoder: RowEncoder,
    pub(super) limits: Limits,
    /// `schema_save_mode` and `data_save_mode`, applied by a start from no checkpoint.
    pub(super) save_modes: (SchemaSaveMode, DataSaveMode),
    pub(super) attempt: u32,
    /// Sequence number of the next file of this attempt.
    pub(super) next_seq: u64,
    /// Open files by partition directory (`""` when not partitioned).
    pub(super) open: HashMap<String, OpenFile>,
    /// Counter for least-recently-used eviction.
    pub(super) tick: u64,
    /// Closed files of this attempt not committed yet, in sequence order.
    pub(super) pending: Vec<Pending>,
    /// The rolled file being closed in the background, if any: at most one, so that the
    /// HDFS pipelines held are the open files' and one more (counted in the reservation).
    pub(super) closing: Option<Closing>,
    /// The encoding of the row being written (reused).
    pub(super) scratch: Vec<u8>,
    /// Bytes the open files' clients may hold, summed: per file, what was written since it
    /// was last settled, at most [`Limits::pipeline`] (see [`Limits::in_flight`]).
    pub(super) in_flight: u64,
    /// Output bytes the open files hold, against `write.buffer_bytes` × the open-files bound.
    pub(super) stats: Arc<SinkBufferStats>,
}

pub(super) struct OpenFile {
    pub(super) seq: u64,
    /// The in-progress file, within the file system.
    pub(super) path: String,
    pub(super) writer: Box<dyn FileWriter>,
    pub(super) content: Content,
    rows: u64,
    /// Bytes handed to `writer` so far.
    written: u64,
    /// Of those, bytes written since the file was last settled: its client may still hold
    /// them, awaiting acknowledgement.
    unsettled: u64,
    opened: Instant,
    last_used: u64,
}

/// A closed file waiting for a checkpoint to commit it.
#[derive(Debug, Clone)]
pub(super) struct Pending {
    pub seq: u64,
    pub partition: String,
    /// Within the file system.
    pub path: String,
    /// The final path (a full URL) given by the first `prepare_commit` that returned it.
    /// Once listed, a completed checkpoint may still commit the file, so only recovery may
    /// delete it; and every later listing keeps this name, so that a commit of the earlier
    /// checkpoint arriving after the later barrier, or a recovery from either checkpoint,
    /// finds the file where the other put it.
    pub final_path: Option<String>,
}

impl FileSink {
    async fn write_row(&mut self, row: Row) -> Result<(), ConnectorError> {
        let partition = self.naming.partition_of(&row);
        if self.limits.parquet.is_some() {
            let row = self.encoder.project(row);
            return self.append(partition, Addition::Row(row)).await;
        }
        let mut encoded = std::mem::take(&mut self.scratch);
        encoded.clear();
        self.encoder.encode(row, &mut encoded);
        let result = self.append(partition, Addition::Encoded(&encoded)).await;
        // An unusually large row would otherwise keep its allocation for the whole run.
        if encoded.capacity() <= SCRATCH_KEEP_BYTES {
            self.scratch = encoded;
        }
        result
    }

    async fn append(
        &mut self,
        partition: String,
        addition: Addition<'_>,
    ) -> Result<(), ConnectorError> {
        if !self.open.contains_key(&partition) {
            self.open_file(partition.clone()).await?;
        }
        self.tick += 1;
        let (tick, cap) = (self.tick, self.limits.buffer);
        if let Addition::Encoded(encoded) = &addition {
            let buffered = self
                .open
                .get(&partition)
                .map_or(0, |file| file.content.buffered());
            if self.limits.codec == CompressCodec::None
                && buffered > 0
                && buffered + encoded.len() > cap
            {
                // Written out first, so the buffer never holds more than
                // `write.buffer_bytes`.
                self.write_out(&partition).await?;
            }
        }
        let Some(file) = self.open.get_mut(&partition) else {
            return Ok(());
        };
        file.last_used = tick;
        match addition {
            // Only the compressor can fail here (appending to memory cannot).
            Addition::Encoded(encoded) => file
                .content
                .append(encoded)
                .map_err(|cause| content_error(&*self.fs, &file.path, cause))?,
            Addition::Row(row) => file
                .content
                .append_row(row)
                .map_err(|cause| content_error(&*self.fs, &file.path, cause))?,
        }
        if file.content.buffered() >= cap {
            self.write_out(&partition).await?;
        }
        let limits = &self.limits;
        let Some(file) = self.open.get_mut(&partition) else {
            return Ok(());
        };
        file.rows += 1;
        let size = file.written
            + file.content.buffered() as u64
            + file.content.unwritten_estimate() as u64;
        let full = file.rows >= limits.batch_size
            || size >= limits.file_size
            || limits
                .interval
                .is_some_and(|interval| file.opened.elapsed() >= interval);
        if full {
            self.roll(&partition).await?;
        }
        Ok(())
    }

    /// Hands the buffered bytes of `partition`'s open file to the file system, within
    /// [`Limits::in_flight`].
    async fn write_out(&mut self, partition: &str) -> Result<(), ConnectorError> {
        let Some(file) = self.open.get_mut(partition) else {
            return Ok(());
        };
        let bytes = file.content.take();
        if bytes.is_empty() {
            return Ok(());
        }
        let len = bytes.len() as u64;
        if let Some(limit) = self.limits.in_flight {
            self.make_room(partition, len, limit).await?;
        }
        let pipeline = self.limits.pipeline;
        let Some(file) = self.open.get_mut(partition) else {
            return Ok(());
        };
        file.written += len;
        self.in_flight += in_flight_growth(file.unsettled, len, pipeline);
        file.unsettled += len;
        self.stats.set_in_flight(self.in_flight);
        file.writer.write(Bytes::from(bytes)).await
    }

    /// Settles the open files with the most bytes in flight until `len` more bytes for
    /// `partition`'s file fit within `limit`, or none is left to settle (then `len` alone may
    /// pass `limit`: it is at most one output buffer, which the reservation counts). A file
    /// counts at most [`Limits::pipeline`], so one file written at full speed never waits
    /// here: its client's own pipeline bound holds it.
    async fn make_room(
        &mut self,
        partition: &str,
        len: u64,
        limit: u64,
    ) -> Result<(), ConnectorError> {
        let pipeline = self.limits.pipeline;
        loop {
            let unsettled = self.open.get(partition).map_or(0, |file| file.unsettled);
            let growth = in_flight_growth(unsettled, len, pipeline);
            if self.in_flight.saturating_add(growth) <= limit {
                break;
            }
            let Some(file) = self
                .open
                .values_mut()
                .filter(|file| file.unsettled > 0)
                .max_by_key(|file| file.unsettled)
            else {
                break;
            };
            file.writer.settle().await?;
            self.in_flight = self.in_flight.saturating_sub(file.unsettled.min(pipeline));
            file.unsettled = 0;
            self.stats.set_in_flight(self.in_flight);
        }
        Ok(())
    }

    /// Starts the next in-progress file for `partition`, first closing the least recently
    /// used open file if `max_open_files` are open.
    async fn open_file(&mut self, partition: String) -> Result<(), ConnectorError> {
        if self.open.len() >= self.limits.max_open_files {
            let oldest = self
                .open
                .iter()
                .min_by_key(|(_, file)| file.last_used)
                .map(|(key, _)| key.clone());
            if let Some(oldest) = oldest {
                self.roll(&oldest).await?;
            }
        }
        let seq = self.next_seq;
        self.next_seq += 1;
        let path = self.naming.in_progress(self.attempt, seq);
        let mut content = Content::new(
            self.limits.codec,
            self.limits.parquet.as_ref(),
            self.limits.output_cap,
            Arc::clone(&self.stats),
        )
        .map_err(|cause| content_error(&*self.fs, &path, cause))?;
        if let Some(header) = &self.limits.header {
            content
                .append(header)
                .map_err(|cause| content_error(&*self.fs, &path, cause))?;
        }
        let writer = self.fs.create(&path).await?;
        self.open.insert(
            partition,
            OpenFile {
                seq,
                path,
                writer,
                content,
                rows: 0,
                written: 0,
                unsettled: 0,
                opened: Instant::now(),
                last_used: self.tick,
            },
        );
        self.stats.set_open_files(self.open.len());
        Ok(())
    }

    /// Closes the open file of `partition` to a pending file, in the background: rows go on
    /// to the next file while the file system acknowledges and completes this one (on HDFS
    /// the close waits for every packet's acknowledgement, and that wait held the subtask's
    /// rows back). A close still running from the previous roll is waited for first.
    async fn roll(&mut self, partition: &str) -> Result<(), ConnectorError> {
        self.finish_closing().await?;
        let Some(file) = self.open.remove(partition) else {
            return Ok(());
        };
        // The reservation counts the closing file's pipeline apart from the open files'.
        self.in_flight = self
            .in_flight
            .saturating_sub(file.unsettled.min(self.limits.pipeline));
        self.stats.set_in_flight(self.in_flight);
        self.stats.set_open_files(self.open.len());
        // The end of the content (gzip trailer, Parquet footer) is made here; only the I/O
        // goes to the background.
        let ending = Ending::of(&*self.fs, &self.naming, self.attempt, file)?;
        let paths = [ending.path.clone(), ending.pending.clone()];
        let fs = self.fs.clone();
        let partition = partition.to_string();
        let task = tokio::spawn(async move { ending.close(&*fs, partition).await });
        self.closing = Some(Closing { task, paths });
        Ok(())
    }

    /// Waits for the rolled file closing in the background, if any, and lists it pending.
    pub(super) async fn finish_closing(&mut self) -> Result<(), ConnectorError> {
        let Some(closing) = self.closing.as_mut() else {
            return Ok(());
        };
        let joined = (&mut closing.task).await;
        self.closing = None;
        let pending = joined.map_err(|error| ConnectorError::Interrupted {
            what: "closing a rolled file",
            reason: error.to_string(),
        })??;
        self.pending.push(pending);
        Ok(())
    }

    /// Hands every open file's buffered output to the file system (no durability: that is
    /// the checkpoint's close). With gzip, what the compressor still holds waits for more rows
    /// or the close: forcing it out would cost compression.
    async fn flush_all(&mut self) -> Result<(), ConnectorError> {
        let partitions: Vec<String> = self.open.keys().cloned().collect();
        for partition in partitions {
            self.write_out(&partition).await?;
        }
        Ok(())
    }
}

impl OpenFile {
    /// Output bytes held in memory, for tests of the buffer bound.
    #[cfg(test)]
    pub(super) fn content_buffered(&self) -> usize {
        self.content.buffered()
    }
}

/// A content that could not take rows or end: a gzip failure reads as the file system error
/// it always was; a Parquet one keeps its typed source.
pub(super) fn content_error(
    fs: &dyn FileSystem,
    path: &str,
    cause: ContentError,
) -> ConnectorError {
    match cause {
        ContentError::Compress(cause) => io_error(fs, "compressing", path, &cause),
        ContentError::Parquet(source) => ConnectorError::ParquetWrite {
            path: path.to_string(),
            source: Box::new(source),
        },
    }
}

fn io_error(
    fs: &dyn FileSystem,
    action: &'static str,
    path: &str,
    cause: &std::io::Error,
) -> ConnectorError {
    ConnectorError::FileSystem {
        fs: fs.describe(),
        action,
        path: path.to_string(),
        cause: cause.to_string(),
        kind: crate::fs::FsErrorKind::Other,
    }
}

impl SinkWriter for FileSink {
    fn write(&mut self, row: Row) -> BoxFuture<'_, Result<(), ConnectorError>> {
        Box::pin(self.write_row(row))
    }

    fn flush(&mut self) -> BoxFuture<'_, Result<(), ConnectorError>> {
        Box::pin(self.flush_all())
    }

    fn prepare_commit(
        &mut self,
        checkpoint_id: u64,
    ) -> BoxFuture<'_, Result<Vec<PendingFile>, ConnectorError>> {
        Box::pin(self.prepare(checkpoint_id))
    }

    fn commit(&mut self, files: Vec<PendingFile>) -> BoxFuture<'_, Result<(), ConnectorError>> {
        Box::pin(self.commit_files(files))
    }

    fn recover(&mut self, restored: Restored) -> BoxFuture<'_, Result<(), ConnectorError>> {
        Box::pin(self.recover_files(restored))
    }

    fn commits_on_checkpoints(&self) -> bool {
        true
    }

    fn buffer_stats(&self) -> Arc<SinkBufferStats> {
        Arc::clone(&self.stats)
    }

    fn finish(&mut self) -> BoxFuture<'_, Result<(), ConnectorError>> {
        Box::pin(self.remove_empty_dirs())
    }

    fn abort(&mut self, discard: Discard) -> BoxFuture<'_, Result<(), ConnectorError>> {
        Box::pin(self.abort_files(discard))
    }
}
