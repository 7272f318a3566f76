//! A split queue's live occupancy, for metrics: written under the queue's lock, read from any
//! thread.

use std::sync::atomic::{AtomicU64, Ordering};

/// Live occupancy of one queue, readable by metrics code at any time from any thread.
///
/// The fields are written while the queue's lock is held, so each one is exact; a reader
/// that loads several fields may see them from slightly different instants.
#[derive(Debug, Default)]
pub struct QueueStats {
    rows: AtomicU64,
    bytes: AtomicU64,
    peak_rows: AtomicU64,
    peak_bytes: AtomicU64,
    max_rows: AtomicU64,
    max_bytes: AtomicU64,
    total_rows: AtomicU64,
    total_bytes: AtomicU64,
    /// Nanoseconds senders waited for room (summed over senders).
    full_wait_nanos: AtomicU64,
}

/// A copy of [`QueueStats`] at one moment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct QueueStatsSnapshot {
    /// Items in the queue now.
    pub rows: u64,
    /// Bytes (as declared by senders) in the queue now.
    pub bytes: u64,
    /// Highest `rows` seen.
    pub peak_rows: u64,
    /// Highest `bytes` seen; above `max_bytes` only through the oversize rule.
    pub peak_bytes: u64,
    /// The row bound.
    pub max_rows: u64,
    /// The byte bound.
    pub max_bytes: u64,
    /// Items ever admitted.
    pub total_rows: u64,
    /// Bytes ever admitted.
    pub total_bytes: u64,
    /// Time senders waited for room, summed over senders: how long whatever drains the
    /// queue held its producers back.
    pub full_wait: std::time::Duration,
}

impl QueueStats {
    /// Empty, for a queue of these bounds.
    pub(super) fn with_bounds(max_rows: usize, max_bytes: u64) -> Self {
        let stats = QueueStats::default();
        stats.max_rows.store(max_rows as u64, Ordering::Relaxed);
        stats.max_bytes.store(max_bytes, Ordering::Relaxed);
        stats
    }

    /// Items in the queue now.
    pub fn rows(&self) -> u64 {
        self.rows.load(Ordering::Relaxed)
    }
    /// Bytes in the queue now.
    pub fn bytes(&self) -> u64 {
        self.bytes.load(Ordering::Relaxed)
    }
    /// Highest item count seen.
    pub fn peak_rows(&self) -> u64 {
        self.peak_rows.load(Ordering::Relaxed)
    }
    /// Highest byte count seen.
    pub fn peak_bytes(&self) -> u64 {
        self.peak_bytes.load(Ordering::Relaxed)
    }
    /// The row bound.
    pub fn max_rows(&self) -> u64 {
        self.max_rows.load(Ordering::Relaxed)
    }
    /// The byte bound.
    pub fn max_bytes(&self) -> u64 {
        self.max_bytes.load(Ordering::Relaxed)
    }
    /// Items ever admitted.
    pub fn total_rows(&self) -> u64 {
        self.total_rows.load(Ordering::Relaxed)
    }
    /// Bytes ever admitted.
    pub fn total_bytes(&self) -> u64 {
        self.total_bytes.load(Ordering::Relaxed)
    }
    /// Time senders waited for room, summed over senders.
    pub fn full_wait(&self) -> std::time::Duration {
        std::time::Duration::from_nanos(self.full_wait_nanos.load(Ordering::Relaxed))
    }

    /// All fields at (nearly) one instant.
    pub fn snapshot(&self) -> QueueStatsSnapshot {
        QueueStatsSnapshot {
            rows: self.rows(),
            bytes: self.bytes(),
            peak_rows: self.peak_rows(),
            peak_bytes: self.peak_bytes(),
            max_rows: self.max_rows(),
            max_bytes: self.max_bytes(),
            total_rows: self.total_rows(),
            total_bytes: self.total_bytes(),
            full_wait: self.full_wait(),
        }
    }

    pub(super) fn record_full_wait(&self, since: std::time::Instant) {
        let waited = u64::try_from(since.elapsed().as_nanos()).unwrap_or(u64::MAX);
        self.full_wait_nanos.fetch_add(waited, Ordering::Relaxed);
    }

    /// `added_rows` items of `added_bytes` in all were admitted; the queue now holds
    /// `rows_now` and `bytes_now` (its peak within a batch is its level after it: items only
    /// come in).
    pub(super) fn record_admit(
        &self,
        rows_now: usize,
        bytes_now: u64,
        added_rows: u64,
        added_bytes: u64,
    ) {
        let rows_now = rows_now as u64;
        self.rows.store(rows_now, Ordering::Relaxed);
        self.bytes.store(bytes_now, Ordering::Relaxed);
        self.peak_rows.fetch_max(rows_now, Ordering::Relaxed);
        self.peak_bytes.fetch_max(bytes_now, Ordering::Relaxed);
        self.total_rows.fetch_add(added_rows, Ordering::Relaxed);
        self.total_bytes.fetch_add(added_bytes, Ordering::Relaxed);
    }

    pub(super) fn record_level(&self, rows_now: usize, bytes_now: u64) {
        self.rows.store(rows_now as u64, Ordering::Relaxed);
        self.bytes.store(bytes_now, Ordering::Relaxed);
    }
}
