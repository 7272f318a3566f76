//! One byte budget per subtask, shared by all the split queues it feeds.
//!
//! A subtask that reads many splits (Kafka partitions) must not hold `splits × queue.max_bytes`:
//! with 1 000 partitions that is gigabytes. Every split queue of a subtask therefore also draws
//! from one [`ByteBudget`], and the sum of the bytes queued in all of them stays within the
//! budget whatever the split count. Per-split bounds (`queue.size`, `queue.max_bytes`) remain
//! as fairness limits inside it.
//!
//! Fairness: half of the budget is *guaranteed*, divided evenly among the live splits (a
//! split holding less than its guaranteed share is always admitted up to it, so a hot
//! partition or a slow sink cannot starve the others); the other half is *shared*, first come
//! first served. The accounting is exact:
//!
//! ```text
//! Σ over live splits of max(bytes_i, guaranteed)  ≤  max_bytes
//! guaranteed = max_bytes / (2 × live splits)
//! ```
//!
//! so the queued bytes never pass `max_bytes` — except through the queue's oversize rule: a
//! split whose queue is empty admits one item of any size (a record larger than its share must
//! not deadlock its split), which overshoots by at most that item per split.
//!
//! [`Ledger`] is the arithmetic (pure, no I/O, no waiting); [`ByteBudget`] wraps it for the
//! queues of one subtask: a lock, and a wake-up for senders waiting for room. Waiters are woken
//! when an eighth of the budget has been freed since the last wake-up (or the budget emptied),
//! not for every item: with a thousand waiting senders a wake-up per item would cost more than
//! the item. A sender never depends on that wake-up to make progress — its own queue notifies
//! it whenever an item leaves, and an empty queue always admits — so the hysteresis only
//! trades a little latency for far fewer wake-ups.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError};

use tokio::sync::Notify;

/// The arithmetic of one budget: live splits, the bytes each holds, and the total.
#[derive(Debug, Clone)]
pub struct Ledger {
    max_bytes: u64,
    /// Bytes held per split slot; `None` for a slot whose split has ended.
    splits: Vec<Option<u64>>,
    live: u64,
    /// Σ bytes_i over live splits.
    used: u64,
    /// Σ max(bytes_i, guaranteed) over live splits: what the budget counts as taken.
    charged: u64,
    /// Bytes released since waiters were last woken.
    freed_since_wake: u64,
}

/// A split's slot in a [`Ledger`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SplitSlot(usize);

impl Ledger {
    /// An empty budget of `max_bytes` (at least 1).
    pub fn new(max_bytes: u64) -> Self {
        Ledger {
            max_bytes: max_bytes.max(1),
            splits: Vec::new(),
            live: 0,
            used: 0,
            charged: 0,
            freed_since_wake: 0,
        }
    }

    /// The budget.
    pub fn max_bytes(&self) -> u64 {
        self.max_bytes
    }

    /// Bytes held by all splits now.
    pub fn used(&self) -> u64 {
        self.used
    }

    /// Live splits.
    pub fn live_splits(&self) -> u64 {
        self.live
    }

    /// Each live split's guaranteed share: half the budget, divided evenly.
    pub fn guaranteed(&self) -> u64 {
        (self.max_bytes / 2) / self.live.max(1)
    }

    /// Bytes split `slot` holds now (0 for an ended split).
    pub fn held(&self, slot: SplitSlot) -> u64 {
        self.splits.get(slot.0).copied().flatten().unwrap_or(0)
    }

    /// Adds a split holding nothing; the guaranteed share of every split shrinks.
    pub fn add_split(&mut self) -> SplitSlot {
        self.splits.push(Some(0));
        self.live += 1;
        self.recharge();
        SplitSlot(self.splits.len() - 1)
    }

    /// Ends a split: its bytes are released and its share goes to the others. Returns whether
    /// waiters should be woken (something was freed).
    pub fn remove_split(&mut self, slot: SplitSlot) -> bool {
        let Some(entry) = self.splits.get_mut(slot.0) else {
            return false;
        };
        let Some(held) = entry.take() else {
            return false;
        };
        self.live -= 1;
        self.used -= held;
        self.recharge();
        self.freed_since_wake = 0;
        true
    }

    /// Whether `size` more bytes may enter split `slot`. A split holding nothing always may
    /// (the oversize rule); otherwise the charged total must stay within the budget.
    pub fn admits(&self, slot: SplitSlot, size: u64) -> bool {
        let Some(Some(held)) = self.splits.get(slot.0).copied() else {
            // An ended split takes nothing more.
            return false;
        };
        if held == 0 {
            return true;
        }
        let guaranteed = self.guaranteed();
        let before = held.max(guaranteed);
        let after = held.saturating_add(size).max(guaranteed);
        self.charged - before + after <= self.max_bytes
    }

    /// Records that `size` bytes entered split `slot` (after [`admits`](Self::admits)).
    pub fn take(&mut self, slot: SplitSlot, size: u64) {
        let guaranteed = self.guaranteed();
        let Some(Some(held)) = self.splits.get_mut(slot.0) else {
            return;
        };
        let before = (*held).max(guaranteed);
        *held = held.saturating_add(size);
        let after = (*held).max(guaranteed);
        self.used = self.used.saturating_add(size);
        self.charged = self.charged - before + after;
    }

    /// Records that `size` bytes left split `slot`. Returns whether waiters should be woken:
    /// an eighth of the budget was freed since the last wake-up, or nothing is held any more.
    pub fn release(&mut self, slot: SplitSlot, size: u64) -> bool {
        let guaranteed = self.guaranteed();
        let Some(Some(held)) = self.splits.get_mut(slot.0) else {
            return false;
        };
        let size = size.min(*held);
        let before = (*held).max(guaranteed);
        *held -= size;
        let after = (*held).max(guaranteed);
        self.used -= size;
        self.charged = self.charged - before + after;
        self.freed_since_wake = self.freed_since_wake.saturating_add(size);
        if self.freed_since_wake >= (self.max_bytes / 8).max(1) || self.used == 0 {
            self.freed_since_wake = 0;
            return true;
        }
        false
    }

    /// Recomputes the charged total after the guaranteed share changed.
    fn recharge(&mut self) {
        let guaranteed = self.guaranteed();
        self.charged = self
            .splits
            .iter()
            .flatten()
            .map(|held| (*held).max(guaranteed))
            .sum();
    }
}

/// A [`Ledger`] shared by the split queues of one subtask.
#[derive(Debug)]
pub struct ByteBudget {
    ledger: Mutex<Ledger>,
    /// Senders waiting for room in the budget wait here.
    freed: Notify,
    /// Bytes held now, readable without the lock (metrics).
    used: AtomicU64,
    /// Highest `used` seen.
    peak: AtomicU64,
}

impl ByteBudget {
    /// A budget of `max_bytes` for all the split queues of one subtask.
    pub fn new(max_bytes: u64) -> Self {
        ByteBudget {
            ledger: Mutex::new(Ledger::new(max_bytes)),
            freed: Notify::new(),
            used: AtomicU64::new(0),
            peak: AtomicU64::new(0),
        }
    }

    /// The ledger, locked. Only ledger arithmetic runs under the lock (no code that can
    /// panic), so a poisoned lock still guards a consistent ledger.
    pub(crate) fn lock(&self) -> MutexGuard<'_, Ledger> {
        self.ledger.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The budget.
    pub fn max_bytes(&self) -> u64 {
        self.lock().max_bytes()
    }

    /// Bytes held by all the subtask's split queues now.
    pub fn used(&self) -> u64 {
        self.used.load(Ordering::Relaxed)
    }

    /// Highest [`used`](Self::used) seen.
    pub fn peak(&self) -> u64 {
        self.peak.load(Ordering::Relaxed)
    }

    /// Live splits drawing from the budget.
    pub fn live_splits(&self) -> u64 {
        self.lock().live_splits()
    }

    pub(crate) fn freed(&self) -> &Notify {
        &self.freed
    }

    /// Publishes the ledger's level (called with the lock held, so it is exact).
    pub(crate) fn record(&self, ledger: &Ledger) {
        self.used.store(ledger.used(), Ordering::Relaxed);
        self.peak.fetch_max(ledger.used(), Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_single_split_may_use_the_whole_budget() {
        let mut ledger = Ledger::new(100);
        let a = ledger.add_split();
        assert!(ledger.admits(a, 100));
        ledger.take(a, 60);
        assert!(ledger.admits(a, 40));
        assert!(!ledger.admits(a, 41));
    }

    #[test]
    fn many_splits_together_stay_within_the_budget() {
        let mut ledger = Ledger::new(1000);
        let slots: Vec<_> = (0..10).map(|_| ledger.add_split()).collect();
        // Fill round-robin in 7-byte items until nobody is admitted.
        let mut progress = true;
        while progress {
            progress = false;
            for slot in &slots {
                // An empty split is always admitted (the oversize rule).
                if ledger.held(*slot) == 0 || ledger.admits(*slot, 7) {
                    ledger.take(*slot, 7);
                    progress = true;
                }
            }
        }
        assert!(ledger.used() <= 1000, "used {}", ledger.used());
        assert!(ledger.used() > 900, "the budget is used, {}", ledger.used());
    }

    #[test]
    fn a_hot_split_cannot_starve_the_others() {
        let mut ledger = Ledger::new(1000);
        let hot = ledger.add_split();
        let cold = ledger.add_split();
        // The hot split takes everything it can.
        while ledger.admits(hot, 10) {
            ledger.take(hot, 10);
        }
        // The cold split still gets its guaranteed share (a quarter of the budget here).
        assert_eq!(ledger.guaranteed(), 250);
        let mut cold_bytes = 0;
        while ledger.admits(cold, 10) {
            ledger.take(cold, 10);
            cold_bytes += 10;
        }
        assert_eq!(cold_bytes, 250);
        assert!(ledger.used() <= 1000);
    }

    #[test]
    fn an_empty_split_admits_one_oversize_item() {
        let mut ledger = Ledger::new(100);
        let a = ledger.add_split();
        let b = ledger.add_split();
        ledger.take(a, 100);
        assert!(ledger.admits(b, 500), "an empty split always admits");
        ledger.take(b, 500);
        assert!(!ledger.admits(b, 1));
        ledger.release(b, 500);
        assert_eq!(ledger.used(), 100);
    }

    #[test]
    fn added_splits_shrink_the_shares_and_removed_ones_return_them() {
        let mut ledger = Ledger::new(1000);
        let a = ledger.add_split();
        ledger.take(a, 900);
        let b = ledger.add_split();
        assert_eq!(ledger.guaranteed(), 250);
        // b's guaranteed share is charged even while b is empty: a cannot grow.
        assert!(!ledger.admits(a, 1));
        assert!(ledger.admits(b, 100));
        assert!(ledger.remove_split(b));
        assert_eq!(ledger.live_splits(), 1);
        assert!(ledger.admits(a, 100));
        assert!(!ledger.admits(b, 1), "an ended split takes nothing");
        assert!(!ledger.remove_split(b), "removing twice is a no-op");
    }

    #[test]
    fn waiters_are_woken_per_eighth_of_the_budget_freed() {
        let mut ledger = Ledger::new(800);
        let a = ledger.add_split();
        ledger.take(a, 400);
        assert!(!ledger.release(a, 50));
        assert!(ledger.release(a, 50), "100 = an eighth of 800");
        assert!(!ledger.release(a, 10));
        assert!(ledger.release(a, 290), "empty");
        assert_eq!(ledger.used(), 0);
    }

    #[test]
    fn release_never_goes_below_zero() {
        let mut ledger = Ledger::new(100);
        let a = ledger.add_split();
        ledger.take(a, 10);
        ledger.release(a, 50);
        assert_eq!((ledger.used(), ledger.held(a)), (0, 0));
    }
}
