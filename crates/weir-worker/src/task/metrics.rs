//! A subtask's counters, readable at any time (heartbeats read them every second).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use weir_core::queue::QueueStats;

/// Counters of one subtask. Reads and queue levels come from its queues' own statistics, so
/// "read" means "admitted into a bounded queue".
#[derive(Debug)]
pub(crate) struct TaskMetrics {
    rows_written: AtomicU64,
    queues: Vec<Arc<QueueStats>>,
}

/// A copy of a subtask's counters at one moment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct TaskMetricsSnapshot {
    /// Rows the source side admitted into the subtask's queues.
    pub rows_read: u64,
    /// Bytes (in-memory row size) admitted into the queues.
    pub bytes_read: u64,
    /// Rows the sink writer accepted.
    pub rows_written: u64,
    /// Rows in the queues now.
    pub queue_rows: u64,
    /// Bytes in the queues now.
    pub queue_bytes: u64,
    /// Sum of each queue's peak bytes (an upper bound on the peak of the sum).
    pub queue_peak_bytes: u64,
    /// Sum of the queues' byte bounds.
    pub queue_max_bytes: u64,
}

impl TaskMetrics {
    pub(crate) fn new(queues: Vec<Arc<QueueStats>>) -> Self {
        TaskMetrics {
            rows_written: AtomicU64::new(0),
            queues,
        }
    }

    pub(crate) fn add_written(&self, rows: u64) {
        self.rows_written.fetch_add(rows, Ordering::Relaxed);
    }

    pub(crate) fn snapshot(&self) -> TaskMetricsSnapshot {
        let mut snapshot = TaskMetricsSnapshot {
            rows_written: self.rows_written.load(Ordering::Relaxed),
            ..TaskMetricsSnapshot::default()
        };
        for queue in &self.queues {
            let stats = queue.snapshot();
            snapshot.rows_read += stats.total_rows;
            snapshot.bytes_read += stats.total_bytes;
            snapshot.queue_rows += stats.rows;
            snapshot.queue_bytes += stats.bytes;
            snapshot.queue_peak_bytes += stats.peak_bytes;
            snapshot.queue_max_bytes += stats.max_bytes;
        }
        snapshot
    }
}
