//! Which partitions of a subtask librdkafka may fetch at once.
//!
//! Every fetch brings at least one whole record batch of each partition it includes (up to the
//! producer's `batch.size`, 1 MB by default) plus ~0.5 KiB of librdkafka bookkeeping per
//! record, whatever the per-partition cap says. With every partition of a subtask fetching,
//! memory would grow by one batch per partition — the partition count again. So a subtask has
//! a fixed number of *fetch slots* (`KafkaSourceConfig::fetch_slots`: the prefetch part of
//! `buffer.max_bytes` over `FETCH_SLOT_BYTES`); a partition is paused from its assignment on
//! unless its reader holds a slot.
//!
//! A reader hands its slot over when another reader waits for one and its partition delivered
//! nothing for [`IDLE_HANDOVER`] while not known to have records (caught up), or after holding
//! it for [`TURN`] (so that backlogs are read in turns). A caught-up reader takes a free slot,
//! but queues for a taken one only once its high watermark shows records (`kafka/reader.rs`,
//! `take_slot`): caught-up partitions do not take turns ahead of those with a backlog. To hand
//! over, it pauses its partition, polls its partition queue empty, and only then frees the slot: no partition without a slot holds prefetched
//! records. A pause makes what librdkafka prefetched for the partition outdated (it moves the
//! partition's fetch version on, and fetching resumes later from the last record delivered),
//! so polling delivers none of it: librdkafka drops it, and polling is what frees it at once
//! rather than at the partition's next turn. A reader whose record waits for the read limit
//! or for queue room keeps its slot (the stall stops every reader alike). Uncontended slots
//! are kept: a subtask with no more partitions than slots never pauses for want of one.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// A reader whose partition delivered nothing for this long hands its slot to a waiting one.
/// Several times the longest a fetch without data waits at the broker (`fetch.wait.max.ms`,
/// 20 ms), so a resumed partition is fetched at least once in its turn; a caught-up partition
/// fetched again later costs only latency (its records wait in Kafka, not in memory).
pub(crate) const IDLE_HANDOVER: Duration = Duration::from_millis(100);

/// The longest a reader keeps a slot another reader waits for.
pub(crate) const TURN: Duration = Duration::from_millis(500);

/// The fetch slots of one subtask.
pub(crate) struct FetchSlots {
    permits: Arc<Semaphore>,
    /// Readers waiting for a slot: a holder hands its slot over only when this is non-zero.
    waiting: AtomicUsize,
}

/// A held slot; dropping it frees the slot (after the holder paused its partition).
pub(crate) struct FetchSlot {
    _permit: OwnedSemaphorePermit,
}

/// Counts a reader as waiting until dropped, so a cancelled wait is not counted forever.
struct Waiting<'a>(&'a AtomicUsize);

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

impl FetchSlots {
    pub(crate) fn new(slots: usize) -> Self {
        FetchSlots {
            permits: Arc::new(Semaphore::new(slots.max(1))),
            waiting: AtomicUsize::new(0),
        }
    }

    /// Waits for a free slot (first come, first served); `None` only if the slots were closed,
    /// which they never are while a reader runs.
    pub(crate) async fn acquire(&self) -> Option<FetchSlot> {
        if let Some(free) = self.try_acquire() {
            return Some(free);
        }
        self.waiting.fetch_add(1, Ordering::Relaxed);
        let _waiting = Waiting(&self.waiting);
        let permit = Arc::clone(&self.permits).acquire_owned().await.ok()?;
        Some(FetchSlot { _permit: permit })
    }

    /// A free slot, if there is one now (none while readers wait: freed slots go to them).
    pub(crate) fn try_acquire(&self) -> Option<FetchSlot> {
        let permit = Arc::clone(&self.permits).try_acquire_owned().ok()?;
        Some(FetchSlot { _permit: permit })
    }

    /// Whether a reader waits for a slot.
    pub(crate) fn contended(&self) -> bool {
        self.waiting.load(Ordering::Relaxed) > 0
    }
}

/// A fetch slot held by a reader, with what decides when it hands the slot over.
pub(crate) struct HeldSlot {
    _slot: FetchSlot,
    since: Instant,
    /// When the reader last took a record.
    pub(crate) last_record: Instant,
    /// Paused to hand the slot over: the reader polls its partition queue empty (librdkafka
    /// drops, when polled, what it prefetched before the pause), then frees the slot, so no
    /// prefetch stays behind without a slot.
    pub(crate) handing_over: bool,
}

impl HeldSlot {
    pub(crate) fn new(slot: FetchSlot) -> Self {
        let now = Instant::now();
        HeldSlot {
            _slot: slot,
            since: now,
            last_record: now,
            handing_over: false,
        }
    }

    /// Its turn is over: another reader waits and this one has held the slot for [`TURN`].
    pub(crate) fn turn_over(&self, slots: &FetchSlots) -> bool {
        slots.contended() && self.since.elapsed() >= TURN
    }

    /// Idle: another reader waits and no record came for [`IDLE_HANDOVER`] while the partition
    /// is not known to have records (`has_records`: below its high watermark), or the turn is
    /// over.
    pub(crate) fn idle_over(&self, slots: &FetchSlots, has_records: bool) -> bool {
        slots.contended()
            && ((!has_records && self.last_record.elapsed() >= IDLE_HANDOVER)
                || self.since.elapsed() >= TURN)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn slots_are_handed_over_first_come_first_served() {
        let slots = Arc::new(FetchSlots::new(1));
        let first = slots.acquire().await.unwrap();
        assert!(!slots.contended());
        let waiter = tokio::spawn({
            let slots = Arc::clone(&slots);
            async move { slots.acquire().await.map(|_| ()) }
        });
        while !slots.contended() {
            tokio::task::yield_now().await;
        }
        drop(first);
        waiter.await.unwrap().unwrap();
        assert!(!slots.contended(), "the waiter is no longer counted");
    }

    #[tokio::test]
    async fn a_cancelled_wait_is_not_counted() {
        let slots = FetchSlots::new(1);
        let _held = slots.acquire().await.unwrap();
        let waited = tokio::time::timeout(Duration::from_millis(10), slots.acquire()).await;
        assert!(waited.is_err());
        assert!(!slots.contended());
        let at_least_one = FetchSlots::new(0);
        assert!(at_least_one.acquire().await.is_some(), "at least one slot");
    }
}
