//! A subtask's counters, readable at any time (heartbeats read them every second).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use weir_connectors::{ReadLimiter, SinkBufferStats, SourceStatus, SplitState};
use weir_core::budget::ByteBudget;
use weir_core::queue::QueueStats;
use weir_core::wait::WaitClock;

/// Counters of one subtask. Reads and queue levels come from its queues' own statistics, so
/// "read" means "admitted into a bounded queue".
#[derive(Debug)]
pub(crate) struct TaskMetrics {
    rows_written: AtomicU64,
    /// In-memory size of the rows the sink writer accepted (the unit of `bytes_read`).
    bytes_written: AtomicU64,
    /// What committed checkpoints published; see [`Committed`].
    committed: Mutex<Committed>,
    /// The subtask's read limiter, for the time it held reading back.
    read_limit: ReadLimiter,
    input_ended: std::sync::atomic::AtomicBool,
    /// One entry per split, in the order the splits were started; grows when splits are
    /// added.
    splits: Mutex<Vec<SplitEntry>>,
    status: Arc<SourceStatus>,
    /// The sink writer's write buffers.
    sink: Arc<SinkBufferStats>,
    /// The byte budget the split queues share, once the pipeline has made it.
    budget: std::sync::OnceLock<Arc<ByteBudget>>,
    /// Time the drain loop waited for rows, commands or timers (nothing to do).
    pub(crate) idle: WaitClock,
    /// Time the drain loop waited for the sink writer's writes and flushes to complete (its
    /// file system holding it back).
    pub(crate) sink_wait: WaitClock,
}

/// Rows and bytes written as of each checkpoint barrier not yet committed, and what the
/// committed ones published. A barrier's figures become committed with its commit; at most a
/// few barriers wait for their commit (the master runs one checkpoint at a time per job).
#[derive(Debug, Default)]
struct Committed {
    /// `(checkpoint id, rows written, bytes written)` at each barrier taken, oldest first.
    barriers: Vec<(u64, u64, u64)>,
    rows: u64,
    bytes: u64,
    files: u64,
}

/// Barriers remembered at most; a longer backlog means commits stopped coming, and the oldest
/// figures are dropped (a later commit covers them).
const BARRIERS_KEPT: usize = 8;

#[derive(Debug)]
struct SplitEntry {
    state: Arc<SplitState>,
    queue: Arc<QueueStats>,
}

/// A copy of one split's counters at one moment.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SplitMetricsSnapshot {
    /// The split's name: `topic-partition` for Kafka, `subtask-<i>` for FakeSource.
    pub split: String,
    /// Rows admitted into the split's queue.
    pub rows_read: u64,
    /// Bytes (in-memory row size) admitted into the split's queue.
    pub bytes_read: u64,
    /// Rows in the split's queue now.
    pub queue_rows: u64,
    /// Bytes in the split's queue now.
    pub queue_bytes: u64,
    /// Highest `queue_bytes` seen.
    pub queue_peak_bytes: u64,
    /// The queue's byte bound (`queue.max_bytes`).
    pub queue_max_bytes: u64,
    /// The queue's row bound (`queue.size`).
    pub queue_max_rows: u64,
    /// Bytes prefetched by the client library ahead of the queue (Kafka: librdkafka's
    /// partition fetch queue, bounded by `prefetch.max_bytes` + one fetch; refreshed every
    /// 5 s); `None` for sources without a prefetch.
    pub prefetch_bytes: Option<u64>,
    /// The next offset to read: the last offset handed to the sink + 1 (the start offset
    /// before any row was handed over); `None` until known.
    pub position: Option<i64>,
    /// The end of the split's log when last queried (Kafka's high watermark); lag is
    /// `high_watermark - position`.
    pub high_watermark: Option<i64>,
    /// Undecodable records dropped (`format_error_handle_way = skip`).
    pub records_skipped: u64,
    /// The split's fetching is paused: its reader waits for room or for the read limit, and
    /// the client library holds no prefetch for it (Kafka).
    pub fetch_paused: bool,
    /// Time the split's reader waited for room in its queue: the drain loop (transforms,
    /// encoding, the sink) held it back.
    pub queue_full_wait: std::time::Duration,
    /// Time the split's reader waited for its source (Kafka: the next message from
    /// librdkafka, or a fetch slot).
    pub source_wait: std::time::Duration,
}

/// A copy of a subtask's counters at one moment.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TaskMetricsSnapshot {
    /// Rows the source side admitted into the subtask's queues.
    pub rows_read: u64,
    /// Bytes (in-memory row size) admitted into the queues.
    pub bytes_read: u64,
    /// Rows the sink writer accepted.
    pub rows_written: u64,
    /// In-memory size of those rows (the unit of `bytes_read`).
    pub bytes_written: u64,
    /// Rows in the files of committed checkpoints: the rows written before the barrier of the
    /// last checkpoint this attempt committed.
    pub rows_committed: u64,
    /// In-memory size of those rows.
    pub bytes_committed: u64,
    /// Files published by this attempt's commits (re-commits after a restore included).
    pub files_committed: u64,
    /// Time the read limiter held this subtask's reading back.
    pub read_limit_wait: std::time::Duration,
    /// A bounded subtask read all its input and waits for its final checkpoint.
    pub input_ended: bool,
    /// Rows in the queues now.
    pub queue_rows: u64,
    /// Bytes in the queues now.
    pub queue_bytes: u64,
    /// Sum of each queue's peak bytes (an upper bound on the peak of the sum).
    pub queue_peak_bytes: u64,
    /// Sum of the queues' byte bounds.
    pub queue_max_bytes: u64,
    /// One entry per split.
    pub splits: Vec<SplitMetricsSnapshot>,
    /// Undecodable records dropped, over all splits.
    pub records_skipped: u64,
    /// The transient error the source is retrying through (e.g. brokers down), if any;
    /// cleared once it works again.
    pub last_error: Option<String>,
    /// Bytes the sink writer holds in its write buffers now (not yet handed to the OS or the
    /// file system client).
    pub sink_buffer_bytes: u64,
    /// The bound of `sink_buffer_bytes` (the configured write buffers).
    pub sink_buffer_max_bytes: u64,
    /// Files the sink writer holds open now; on HDFS each holds a write pipeline of packets
    /// awaiting acknowledgement (see `write.max_in_flight_bytes`).
    pub sink_open_files: u64,
    /// The bound of `sink_open_files`.
    pub sink_open_files_max: u64,
    /// Bytes written to the sink's open files that the file system client may still hold,
    /// awaiting acknowledgement (HDFS; 0 for other sinks).
    pub sink_in_flight_bytes: u64,
    /// The bound of `sink_in_flight_bytes` (`write.max_in_flight_bytes`; 0 when none).
    pub sink_in_flight_max_bytes: u64,
    /// Bytes all the subtask's split queues hold now, against their shared budget (Kafka:
    /// the queue part of `buffer.max_bytes`); 0 for a source without one.
    pub budget_bytes: u64,
    /// Highest `budget_bytes` seen.
    pub budget_peak_bytes: u64,
    /// The shared budget of the split queues; 0 for a source without one.
    pub budget_max_bytes: u64,
    /// Splits whose fetching is paused now (Kafka: waiting for a fetch slot, or their reader
    /// waits for room or for the read limit).
    pub paused_splits: u64,
    /// Time the drain loop, which moves rows from the queues through the transforms into the
    /// sink, waited with nothing to do (its queues empty): the source side held it back.
    pub idle: std::time::Duration,
    /// Time the drain loop waited for the sink writer's writes and flushes (e.g. for HDFS
    /// acknowledgements): the file system held it back.
    pub sink_wait: std::time::Duration,
    /// Time the readers waited for room in their queues, summed over splits: the drain loop
    /// held them back.
    pub queue_full_wait: std::time::Duration,
    /// Time the readers waited for their source, summed over splits (Kafka: the next
    /// message from librdkafka, or a fetch slot).
    pub source_wait: std::time::Duration,
}

impl TaskMetrics {
    pub(crate) fn new(
        status: Arc<SourceStatus>,
        sink: Arc<SinkBufferStats>,
        read_limit: ReadLimiter,
    ) -> Self {
        TaskMetrics {
            rows_written: AtomicU64::new(0),
            bytes_written: AtomicU64::new(0),
            committed: Mutex::default(),
            read_limit,
            input_ended: std::sync::atomic::AtomicBool::new(false),
            splits: Mutex::default(),
            status,
            sink,
            budget: std::sync::OnceLock::new(),
            idle: WaitClock::default(),
            sink_wait: WaitClock::default(),
        }
    }

    /// The byte budget the subtask's split queues share, for its gauges.
    pub(crate) fn set_budget(&self, budget: Arc<ByteBudget>) {
        // Set once, when the pipeline starts; a second call keeps the first.
        let _ = self.budget.set(budget);
    }

    pub(crate) fn add_split(&self, state: Arc<SplitState>, queue: Arc<QueueStats>) {
        self.splits
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(SplitEntry { state, queue });
    }

    /// The subtask read all its input and waits for its final checkpoint.
    pub(crate) fn set_input_ended(&self) {
        self.input_ended.store(true, Ordering::Release);
    }

    pub(crate) fn add_written(&self, rows: u64, bytes: u64) {
        self.rows_written.fetch_add(rows, Ordering::Relaxed);
        self.bytes_written.fetch_add(bytes, Ordering::Relaxed);
    }

    /// Barrier `checkpoint_id` was taken: the rows written so far are in its files.
    pub(crate) fn barrier_taken(&self, checkpoint_id: u64) {
        let rows = self.rows_written.load(Ordering::Relaxed);
        let bytes = self.bytes_written.load(Ordering::Relaxed);
        let mut committed = self
            .committed
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if committed.barriers.len() >= BARRIERS_KEPT {
            committed.barriers.remove(0);
        }
        committed.barriers.push((checkpoint_id, rows, bytes));
    }

    /// Checkpoint `checkpoint_id` was committed, publishing `files` files.
    pub(crate) fn checkpoint_committed(&self, checkpoint_id: u64, files: usize) {
        let mut committed = self
            .committed
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        committed.files += files as u64;
        let covered = committed
            .barriers
            .iter()
            .filter(|(id, _, _)| *id <= checkpoint_id)
            .map(|&(_, rows, bytes)| (rows, bytes))
            .max();
        if let Some((rows, bytes)) = covered {
            committed.rows = committed.rows.max(rows);
            committed.bytes = committed.bytes.max(bytes);
        }
        committed.barriers.retain(|(id, _, _)| *id > checkpoint_id);
    }

    pub(crate) fn snapshot(&self) -> TaskMetricsSnapshot {
        let splits: Vec<SplitMetricsSnapshot> = {
            // Only pushes and reads of atomics happen under this lock.
            let entries = self.splits.lock().unwrap_or_else(PoisonError::into_inner);
            entries.iter().map(SplitEntry::snapshot).collect()
        };
        let (rows_committed, bytes_committed, files_committed) = {
            let committed = self
                .committed
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            (committed.rows, committed.bytes, committed.files)
        };
        let mut snapshot = TaskMetricsSnapshot {
            rows_written: self.rows_written.load(Ordering::Relaxed),
            bytes_written: self.bytes_written.load(Ordering::Relaxed),
            rows_committed,
            bytes_committed,
            files_committed,
            read_limit_wait: self.read_limit.waited(),
            input_ended: self.input_ended.load(Ordering::Acquire),
            last_error: self.status.last_error(),
            sink_buffer_bytes: self.sink.bytes(),
            sink_buffer_max_bytes: self.sink.max_bytes(),
            sink_open_files: self.sink.open_files(),
            sink_open_files_max: self.sink.max_open_files(),
            sink_in_flight_bytes: self.sink.in_flight(),
            sink_in_flight_max_bytes: self.sink.max_in_flight(),
            idle: self.idle.total(),
            sink_wait: self.sink_wait.total(),
            ..TaskMetricsSnapshot::default()
        };
        for split in &splits {
            snapshot.rows_read += split.rows_read;
            snapshot.bytes_read += split.bytes_read;
            snapshot.queue_rows += split.queue_rows;
            snapshot.queue_bytes += split.queue_bytes;
            snapshot.queue_peak_bytes += split.queue_peak_bytes;
            snapshot.queue_max_bytes += split.queue_max_bytes;
            snapshot.records_skipped += split.records_skipped;
            snapshot.paused_splits += u64::from(split.fetch_paused);
            snapshot.queue_full_wait += split.queue_full_wait;
            snapshot.source_wait += split.source_wait;
        }
        if let Some(budget) = self.budget.get() {
            snapshot.budget_bytes = budget.used();
            snapshot.budget_peak_bytes = budget.peak();
            snapshot.budget_max_bytes = budget.max_bytes();
        }
        snapshot.splits = splits;
        snapshot
    }
}

impl SplitEntry {
    fn snapshot(&self) -> SplitMetricsSnapshot {
        let queue = self.queue.snapshot();
        SplitMetricsSnapshot {
            split: self.state.name().to_string(),
            rows_read: queue.total_rows,
            bytes_read: queue.total_bytes,
            queue_rows: queue.rows,
            queue_bytes: queue.bytes,
            queue_peak_bytes: queue.peak_bytes,
            queue_max_bytes: queue.max_bytes,
            queue_max_rows: queue.max_rows,
            prefetch_bytes: self.state.prefetch_bytes(),
            position: self.state.position(),
            high_watermark: self.state.high_watermark(),
            records_skipped: self.state.records_skipped(),
            fetch_paused: self.state.fetch_paused(),
            queue_full_wait: queue.full_wait,
            source_wait: self.state.source_wait(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_sink_buffer_level_is_read_live() {
        let sink = Arc::new(SinkBufferStats::new(64 * 1024));
        let metrics = TaskMetrics::new(Arc::default(), Arc::clone(&sink), ReadLimiter::default());
        let snapshot = metrics.snapshot();
        assert_eq!(
            (snapshot.sink_buffer_bytes, snapshot.sink_buffer_max_bytes),
            (0, 64 * 1024)
        );
        sink.add(1500);
        sink.sub(200);
        assert_eq!(metrics.snapshot().sink_buffer_bytes, 1300);
        sink.set(0);
        assert_eq!(metrics.snapshot().sink_buffer_bytes, 0);
    }

    #[test]
    fn committed_rows_are_the_rows_written_before_the_committed_barrier() {
        let metrics = TaskMetrics::new(Arc::default(), Arc::default(), ReadLimiter::default());
        metrics.add_written(10, 1000);
        metrics.barrier_taken(1);
        metrics.add_written(5, 500);
        metrics.barrier_taken(2);
        metrics.add_written(1, 100);
        let snapshot = metrics.snapshot();
        assert_eq!((snapshot.rows_written, snapshot.bytes_written), (16, 1600));
        assert_eq!(snapshot.rows_committed, 0, "nothing committed yet");
        metrics.checkpoint_committed(1, 2);
        let snapshot = metrics.snapshot();
        assert_eq!(
            (
                snapshot.rows_committed,
                snapshot.bytes_committed,
                snapshot.files_committed
            ),
            (10, 1000, 2)
        );
        // A late commit of an older checkpoint changes nothing; the newer one covers both.
        metrics.checkpoint_committed(2, 1);
        metrics.checkpoint_committed(1, 0);
        let snapshot = metrics.snapshot();
        assert_eq!((snapshot.rows_committed, snapshot.files_committed), (15, 3));
    }
}
