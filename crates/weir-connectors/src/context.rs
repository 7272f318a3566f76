//! What the task runtime gives connectors, and the traits it drives them through.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use tokio::sync::watch;
use tokio_util::sync::CancellationToken;
use weir_core::queue::QueueSender;
use weir_core::row::Row;

use crate::error::ConnectorError;
use crate::limiter::ReadLimiter;

/// A boxed, sendable future (connectors are driven through trait objects).
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Which parallel instance of a job a reader or writer belongs to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubtaskInfo {
    /// The job's id, for logs.
    pub job_id: String,
    /// This subtask's index, `0..parallelism`.
    pub subtask_index: u32,
    /// How many subtasks the job runs.
    pub parallelism: u32,
    /// Which placement of the subtask this is, from 1; raised every time the master places
    /// the subtask again. Sinks put it in the names of files they have not committed, so a
    /// stale attempt and its successor never write the same file.
    pub attempt: u32,
}

/// What a running source reader observes besides its output queue.
#[derive(Debug, Clone)]
pub struct SourceContext {
    /// Fired when the task is cancelled; the reader returns `Ok(())` promptly, even while
    /// waiting for room in its queue.
    pub cancel: CancellationToken,
    /// The worker's memory governor: while `true`, the reader produces nothing. A dropped
    /// sender counts as "not paused".
    pub paused: watch::Receiver<bool>,
    /// The subtask's share of the job's `read_limit.*`, shared by all of its split readers;
    /// acquired before a row enters a queue.
    pub read_limit: ReadLimiter,
}

impl SourceContext {
    /// Waits while intake is paused. Returns `false` if the task was cancelled meanwhile.
    pub async fn wait_while_paused(&mut self) -> bool {
        if !*self.paused.borrow() {
            return !self.cancel.is_cancelled();
        }
        tracing::debug!("intake paused by the memory governor");
        tokio::select! {
            biased;
            () = self.cancel.cancelled() => false,
            // An error means the governor is gone: nobody can pause us any more.
            _ = self.paused.wait_for(|paused| !*paused) => {
                tracing::debug!("intake resumed");
                !self.cancel.is_cancelled()
            }
        }
    }
}

/// One row of a split, with its position in the split.
#[derive(Debug, Clone, PartialEq)]
pub struct SourceRecord {
    /// The decoded row.
    pub row: Row,
    /// Where the row is in its split: the Kafka offset, FakeSource's row index. Once the
    /// sink has taken the row, the split's position (the next one to read) is
    /// `position + 1`.
    pub position: i64,
    /// More rows of the same position follow this one (a Kafka record decoded into several
    /// rows: a change event's update, or many rows of one Canal message). The sink takes
    /// them all before a barrier, and the split's position moves past the record only with
    /// its last row, so a checkpoint never holds part of a record.
    pub more_at_position: bool,
}

/// Reads one split (FakeSource: the subtask's whole generated stream; Kafka: one partition)
/// into one bounded queue.
pub trait SourceReader: Send {
    /// Runs until the split is exhausted (`Ok`), the task is cancelled (`Ok`), or reading
    /// fails (`Err`). Must take the read limit and then await `out.send` (or
    /// `out.send_batch`) for every row — that order makes the limit and a full queue slow
    /// the reading itself. Rows may go in batches of at most
    /// [`weir_core::queue::HAND_OVER_ROWS`] and [`weir_core::queue::HAND_OVER_BYTES`] beyond
    /// the first row, and only while no read limit is set, so that a limit paces rows.
    fn run(
        self: Box<Self>,
        out: QueueSender<SourceRecord>,
        ctx: SourceContext,
    ) -> BoxFuture<'static, Result<(), ConnectorError>>;
}

/// Which uncommitted files a cancelled subtask's sink deletes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Discard {
    /// Only files no checkpoint has listed: a listed one may belong to a checkpoint the master
    /// completed, which a recovery or `--restore` will commit (a failed job, a lost master).
    Unlisted,
    /// Every uncommitted file: the job was cancelled and nothing of it will be committed.
    All,
}

/// A file a checkpoint has closed but not yet published (defined with the other checkpoint
/// data in `weir_core::checkpoint`).
pub use weir_core::checkpoint::PendingFile;

/// What a subtask's sink recovers before its first row: the pending files of the checkpoint it
/// resumes from, and which job took that checkpoint.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Restored {
    /// The job that took the checkpoint: this one, or the one it was submitted to resume from
    /// (`weir submit --restore`). Empty: this one. A file sink recovers only files it could
    /// have written for that job and this subtask.
    pub job_id: String,
    /// The checkpoint's pending files of this subtask (empty for a fresh start).
    pub files: Vec<PendingFile>,
    /// The checkpoint resumed from; `None`: a start from no checkpoint (the job's first, or
    /// a restart before its first checkpoint completed), when nothing of the job is committed
    /// yet. A file sink applies its save modes only then.
    pub checkpoint: Option<u64>,
}

impl From<Vec<PendingFile>> for Restored {
    /// Files of a checkpoint of this job (its id does not matter to a sink: 1).
    fn from(files: Vec<PendingFile>) -> Self {
        Restored {
            job_id: String::new(),
            files,
            checkpoint: Some(1),
        }
    }
}

/// How much a sink writer holds in its bounded write buffers, readable by metrics code at any
/// time from any thread. The writer updates it as its buffers fill and empty; `max_bytes` is
/// the configured bound of what it counts (see [`SinkWriter::buffer_stats`]).
#[derive(Debug, Default)]
pub struct SinkBufferStats {
    bytes: AtomicU64,
    max_bytes: u64,
    open_files: AtomicU64,
    max_open_files: u64,
    in_flight: AtomicU64,
    max_in_flight: u64,
}

impl SinkBufferStats {
    /// Empty stats for buffers bounded by `max_bytes` in all.
    pub fn new(max_bytes: u64) -> Self {
        Self::with_files(max_bytes, 0)
    }

    /// Empty stats for a writer that holds at most `max_open_files` files open, whose buffers
    /// are bounded by `max_bytes` in all.
    pub fn with_files(max_bytes: u64, max_open_files: u64) -> Self {
        SinkBufferStats {
            bytes: AtomicU64::new(0),
            max_bytes,
            open_files: AtomicU64::new(0),
            max_open_files,
            in_flight: AtomicU64::new(0),
            max_in_flight: 0,
        }
    }

    /// The same, for a writer whose file system client holds at most `max_in_flight` bytes
    /// awaiting acknowledgement (HDFS).
    pub fn with_in_flight(self, max_in_flight: u64) -> Self {
        SinkBufferStats {
            max_in_flight,
            ..self
        }
    }

    /// Bytes written to the open files and not known to be acknowledged by the file system
    /// (HDFS: since each file's last sync), which its client may still hold.
    pub fn in_flight(&self) -> u64 {
        self.in_flight.load(Ordering::Relaxed)
    }

    /// The bound of [`in_flight`](Self::in_flight) (`write.max_in_flight_bytes`); 0 for a
    /// file system without one.
    pub fn max_in_flight(&self) -> u64 {
        self.max_in_flight
    }

    /// The open files now have `bytes` in flight.
    pub fn set_in_flight(&self, bytes: u64) {
        self.in_flight.store(bytes, Ordering::Relaxed);
    }

    /// Files the writer holds open now (each with its file system client's write pipeline).
    pub fn open_files(&self) -> u64 {
        self.open_files.load(Ordering::Relaxed)
    }

    /// The bound of [`open_files`](Self::open_files).
    pub fn max_open_files(&self) -> u64 {
        self.max_open_files
    }

    /// The writer now holds `files` files open.
    pub fn set_open_files(&self, files: usize) {
        self.open_files
            .store(u64::try_from(files).unwrap_or(u64::MAX), Ordering::Relaxed);
    }

    /// Bytes buffered now.
    pub fn bytes(&self) -> u64 {
        self.bytes.load(Ordering::Relaxed)
    }

    /// The bound of [`bytes`](Self::bytes).
    pub fn max_bytes(&self) -> u64 {
        self.max_bytes
    }

    /// The buffers now hold `bytes` (for a writer that knows its total).
    pub fn set(&self, bytes: u64) {
        self.bytes.store(bytes, Ordering::Relaxed);
    }

    /// `bytes` more were buffered.
    pub fn add(&self, bytes: u64) {
        self.bytes.fetch_add(bytes, Ordering::Relaxed);
    }

    /// `bytes` left the buffers (never below zero).
    pub fn sub(&self, bytes: u64) {
        // `fetch_update` with a closure that always returns `Some` cannot fail.
        let _ = self
            .bytes
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |now| {
                Some(now.saturating_sub(bytes))
            });
    }
}

/// Writes one subtask's rows somewhere, exactly once through checkpoints.
///
/// The runtime calls `write` for each row in queue order. At checkpoint `n` it calls
/// `prepare_commit(n)`: the sink makes everything written so far durable and returns the
/// files a completed checkpoint `n` publishes; once the master has persisted checkpoint `n`
/// it calls `commit` with them. A sink that publishes directly (Console) keeps the defaults.
pub trait SinkWriter: Send {
    /// Takes one row. May buffer it, up to the sink's `buffer_bytes`.
    fn write(&mut self, row: Row) -> BoxFuture<'_, Result<(), ConnectorError>>;

    /// Writes out everything buffered (to an in-progress file, for transactional sinks).
    fn flush(&mut self) -> BoxFuture<'_, Result<(), ConnectorError>>;

    /// The live level of the writer's write buffers: bytes it holds that it has not handed to
    /// the OS or to a file system client yet, against their configured bound. The runtime
    /// takes it once, after opening the sink, and reads it for the task's metrics. The default
    /// is a sink without buffers (0 of 0).
    fn buffer_stats(&self) -> Arc<SinkBufferStats> {
        Arc::default()
    }

    /// Whether rows become visible only through committed checkpoints (file sinks). A bounded
    /// subtask with such a sink waits at the end of its input for a final checkpoint from the
    /// master, so its last files are committed exactly once like every other.
    fn commits_on_checkpoints(&self) -> bool {
        false
    }

    /// Checkpoint barrier `checkpoint_id`: closes the open files to pending and returns every
    /// pending file not committed yet (including ones listed by an earlier checkpoint that
    /// never completed), named for this checkpoint. Rows written after it returns belong to
    /// the next checkpoint.
    fn prepare_commit(
        &mut self,
        _checkpoint_id: u64,
    ) -> BoxFuture<'_, Result<Vec<PendingFile>, ConnectorError>> {
        Box::pin(async move {
            self.flush().await?;
            Ok(Vec::new())
        })
    }

    /// Publishes `files` (from a completed checkpoint; the runtime passes exactly the files
    /// this writer returned from `prepare_commit` for it). Idempotent: a file already at its
    /// final path is not an error. One at neither path is an error ([`ConnectorError`] naming
    /// it) if this writer still held it uncommitted (it was lost), and a warning if this writer
    /// published it before (moved away downstream since).
    fn commit(&mut self, _files: Vec<PendingFile>) -> BoxFuture<'_, Result<(), ConnectorError>> {
        Box::pin(async { Ok(()) })
    }

    /// Called once before the first `write` of every attempt: publishes `restored` (the
    /// pending files of the checkpoint the subtask resumes from; none for a fresh start) and
    /// removes what earlier attempts of this subtask left uncommitted. The checkpoint is
    /// complete, so a file already published and since moved away downstream (neither at its
    /// pending nor at its final path) is a warning, not an error.
    fn recover(&mut self, _restored: Restored) -> BoxFuture<'_, Result<(), ConnectorError>> {
        Box::pin(async { Ok(()) })
    }

    /// The task ended Finished, its last checkpoint committed: removes what the sink keeps
    /// only while it runs (a file sink's temporary directory, if empty). Best effort.
    fn finish(&mut self) -> BoxFuture<'_, Result<(), ConnectorError>> {
        Box::pin(async { Ok(()) })
    }

    /// The task was cancelled: discards this attempt's in-progress files and the pending
    /// files `discard` names (best effort; recovery removes what remains).
    fn abort(&mut self, _discard: Discard) -> BoxFuture<'_, Result<(), ConnectorError>> {
        Box::pin(async { Ok(()) })
    }
}
