//! A subtask's source as the task runtime sees it: split readers, per-split state, and the
//! optional parts a source with splits has (a way to add splits, a background driver).

use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use tokio_util::sync::CancellationToken;

use crate::context::{BoxFuture, SourceReader};
use crate::error::ConnectorError;

/// Sentinel for "not known yet" in the atomics below.
const UNKNOWN: i64 = i64::MIN;

/// Live state of one split, shared by its reader, the task runtime and the source's driver;
/// readable at any time for metrics (and, later, checkpoints).
#[derive(Debug)]
pub struct SplitState {
    name: String,
    /// The Kafka partition this split reads; `None` for sources without splits.
    split: Option<weir_core::split::SplitId>,
    position: AtomicI64,
    /// The position of the last completed checkpoint the sink has committed.
    committed: AtomicI64,
    high_watermark: AtomicI64,
    prefetch_bytes: AtomicI64,
    records_skipped: AtomicU64,
    /// Kafka: the partition's fetching is paused (its reader waits for room or for the read
    /// limit; librdkafka holds no prefetch for it).
    fetch_paused: AtomicBool,
    /// Time the split's reader waited for its source (Kafka: the next message from
    /// librdkafka, or a fetch slot).
    source_wait: weir_core::wait::WaitClock,
}

impl SplitState {
    /// A split named `name` (Kafka: `topic-partition`), nothing known about it yet.
    pub fn new(name: impl Into<String>) -> Self {
        SplitState {
            name: name.into(),
            split: None,
            position: AtomicI64::new(UNKNOWN),
            committed: AtomicI64::new(UNKNOWN),
            high_watermark: AtomicI64::new(UNKNOWN),
            prefetch_bytes: AtomicI64::new(UNKNOWN),
            records_skipped: AtomicU64::new(0),
            fetch_paused: AtomicBool::new(false),
            source_wait: weir_core::wait::WaitClock::default(),
        }
    }

    /// The state of Kafka partition `split`, named `topic-partition`.
    pub fn of_split(split: weir_core::split::SplitId) -> Self {
        SplitState {
            split: Some(split.clone()),
            ..SplitState::new(split.to_string())
        }
    }

    /// The split's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The Kafka partition the split reads; `None` for sources without splits.
    pub fn split(&self) -> Option<&weir_core::split::SplitId> {
        self.split.as_ref()
    }

    /// The position a completed checkpoint committed (the offset to commit to the consumer
    /// group); `None` before the first commit.
    pub fn committed_position(&self) -> Option<i64> {
        known(self.committed.load(Ordering::Acquire))
    }

    /// Records the position of a committed checkpoint.
    pub fn set_committed_position(&self, next: i64) {
        self.committed.store(next, Ordering::Release);
    }

    /// The next position to read: one past the last row the sink has taken, or the start
    /// position while the sink has taken none.
    pub fn position(&self) -> Option<i64> {
        known(self.position.load(Ordering::Acquire))
    }

    /// Records that the sink has taken every row up to `next - 1` (the runtime calls this).
    pub fn set_position(&self, next: i64) {
        self.position.store(next, Ordering::Release);
    }

    /// Sets the start position, unless a position is already known (a row was written).
    pub fn init_position(&self, start: i64) {
        // An Err means a position is already set; it stays.
        let _ = self
            .position
            .compare_exchange(UNKNOWN, start, Ordering::AcqRel, Ordering::Acquire);
    }

    /// The end of the split's log (Kafka's high watermark) when last queried.
    pub fn high_watermark(&self) -> Option<i64> {
        known(self.high_watermark.load(Ordering::Relaxed))
    }

    /// Records the end of the split's log.
    pub fn set_high_watermark(&self, end: i64) {
        self.high_watermark.store(end, Ordering::Relaxed);
    }

    /// Bytes the client library holds prefetched for this split, ahead of its queue (Kafka:
    /// librdkafka's partition fetch queue, bounded by `prefetch.max_bytes` + one fetch), as
    /// of its last statistics report.
    pub fn prefetch_bytes(&self) -> Option<u64> {
        known(self.prefetch_bytes.load(Ordering::Relaxed))
            .and_then(|bytes| u64::try_from(bytes).ok())
    }

    /// Records the prefetched bytes.
    pub fn set_prefetch_bytes(&self, bytes: u64) {
        self.prefetch_bytes
            .store(i64::try_from(bytes).unwrap_or(i64::MAX), Ordering::Relaxed);
    }

    /// Records dropped because they could not be decoded (`format_error_handle_way = skip`).
    pub fn records_skipped(&self) -> u64 {
        self.records_skipped.load(Ordering::Relaxed)
    }

    /// Where the reader's waits for its source are timed (see [`weir_core::wait::timed`]).
    pub fn source_wait_clock(&self) -> &weir_core::wait::WaitClock {
        &self.source_wait
    }

    /// Time the reader waited for its source so far, the wait going on included.
    pub fn source_wait(&self) -> std::time::Duration {
        self.source_wait.total()
    }

    /// Counts one skipped record.
    pub fn add_skipped(&self) {
        self.records_skipped.fetch_add(1, Ordering::Relaxed);
    }

    /// Whether the split's fetching is paused because its reader cannot move (Kafka).
    pub fn fetch_paused(&self) -> bool {
        self.fetch_paused.load(Ordering::Relaxed)
    }

    /// Records whether the split's fetching is paused.
    pub fn set_fetch_paused(&self, paused: bool) {
        self.fetch_paused.store(paused, Ordering::Relaxed);
    }
}

fn known(value: i64) -> Option<i64> {
    (value != UNKNOWN).then_some(value)
}

/// Health of a subtask's source: the latest transient error it is retrying through (broker
/// unreachable, ...), cleared once it works again.
#[derive(Debug, Default)]
pub struct SourceStatus {
    has_error: AtomicBool,
    last_error: Mutex<Option<String>>,
}

impl SourceStatus {
    /// Records a transient error. Logged when the source goes from healthy to failing (the
    /// details of every retry are in librdkafka's own log).
    pub fn set_error(&self, error: impl Into<String>) {
        let error = error.into();
        let mut last = self
            .last_error
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if last.is_none() {
            tracing::warn!(error = %error, "source is retrying");
        }
        *last = Some(error);
        self.has_error.store(true, Ordering::Release);
        drop(last);
    }

    /// Clears the error after something worked; cheap when there is none (one atomic load,
    /// so readers may call it for every record).
    pub fn clear_error(&self) {
        if !self.has_error.load(Ordering::Acquire) {
            return;
        }
        // The flag changes only under the lock, so it always agrees with the message.
        let mut last = self
            .last_error
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        self.has_error.store(false, Ordering::Release);
        if let Some(error) = last.take() {
            tracing::info!(previous_error = %error, "source recovered");
        }
    }

    /// The error being retried, if any.
    pub fn last_error(&self) -> Option<String> {
        if !self.has_error.load(Ordering::Acquire) {
            return None;
        }
        self.last_error
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

/// A reader for one split, with the split's shared state.
pub struct SplitReader {
    /// The split's state; the runtime updates its position as the sink takes rows.
    pub state: Arc<SplitState>,
    /// The reader, to be run with its own bounded queue.
    pub reader: Box<dyn SourceReader>,
}

/// Opens readers for splits added to a running source (partition discovery).
pub trait SplitOpener: Send {
    /// Readers for `splits`; splits already being read are skipped.
    fn open_splits(
        &mut self,
        splits: Vec<weir_core::split::SplitId>,
    ) -> Result<Vec<SplitReader>, ConnectorError>;
}

/// Background work of a source besides its readers (Kafka: serving the consumer's event
/// queue, assigning partitions, committing offsets, refreshing high watermarks).
pub trait SourceDriver: Send {
    /// Runs until `stop` fires (`Ok`, after a final best-effort commit) or the source fails
    /// in a way that must fail the task (`Err`).
    fn run(
        self: Box<Self>,
        stop: CancellationToken,
    ) -> BoxFuture<'static, Result<(), ConnectorError>>;
}

/// A subtask's opened source.
pub struct OpenedSource {
    /// One reader per initial split.
    pub readers: Vec<SplitReader>,
    /// Adds splits while running; `None` for sources without splits.
    pub opener: Option<Box<dyn SplitOpener>>,
    /// To run alongside the readers for the life of the task, if the source has one.
    pub driver: Option<Box<dyn SourceDriver>>,
    /// The source's health (`last_error`).
    pub status: Arc<SourceStatus>,
    /// The input never ends by itself (a streaming Kafka job): the subtask keeps running
    /// even with no split, waiting for splits to be added.
    pub unbounded: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_are_kept_until_cleared() {
        let status = SourceStatus::default();
        assert_eq!(status.last_error(), None);
        status.set_error("brokers down");
        status.set_error("still down");
        assert_eq!(status.last_error().as_deref(), Some("still down"));
        status.clear_error();
        assert_eq!(status.last_error(), None);
        status.clear_error();
    }

    #[test]
    fn a_written_position_is_not_overridden_by_the_start() {
        let state = SplitState::new("t-0");
        assert_eq!((state.position(), state.high_watermark()), (None, None));
        state.init_position(10);
        assert_eq!(state.position(), Some(10));
        state.set_position(12);
        state.init_position(0);
        assert_eq!(state.position(), Some(12));
        state.set_prefetch_bytes(1024);
        assert_eq!(state.prefetch_bytes(), Some(1024));
    }
}
