//! What the task runtime gives connectors, and the traits it drives them through.

use std::future::Future;
use std::pin::Pin;

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
}

/// Reads one split (FakeSource: the subtask's whole generated stream; Kafka: one partition)
/// into one bounded queue.
pub trait SourceReader: Send {
    /// Runs until the split is exhausted (`Ok`), the task is cancelled (`Ok`), or reading
    /// fails (`Err`). Must take the read limit and then await `out.send` for every row —
    /// that order makes the limit and a full queue slow the reading itself.
    fn run(
        self: Box<Self>,
        out: QueueSender<SourceRecord>,
        ctx: SourceContext,
    ) -> BoxFuture<'static, Result<(), ConnectorError>>;
}

/// Writes one subtask's rows somewhere. The runtime calls `write` for each row in queue
/// order, then `flush` once when the input ends; a cancelled task is not flushed.
pub trait SinkWriter: Send {
    /// Takes one row. May buffer it, up to the sink's `buffer_bytes`.
    fn write(&mut self, row: Row) -> BoxFuture<'_, Result<(), ConnectorError>>;

    /// Writes out everything buffered.
    fn flush(&mut self) -> BoxFuture<'_, Result<(), ConnectorError>>;
}
