//! The bounded split queue: the centre of Weir's memory model.
//!
//! A source reader pushes rows in; the subtask loop takes them out. The queue is bounded by
//! **rows and bytes at once**: [`QueueSender::send`] waits while admitting the item would take
//! the queue past `max_rows` items or past `max_bytes` bytes. Nothing is dropped and nothing
//! grows past the bound — with one exception, so that a record larger than the byte bound
//! cannot deadlock the pipeline:
//!
//! > An item larger than `max_bytes` is admitted only when the queue is empty.
//!
//! That is the only way the queue overshoots its byte bound, by at most that one item; the
//! queue's `peak_bytes` then equals that item's size. Zero-byte items are never an error.
//!
//! Waking is event-driven ([`tokio::sync::Notify`]), never polled. Both `send` and `recv` are
//! cancellation-safe: dropping a pending `send` enqueues nothing (the item is dropped with the
//! future), dropping a pending `recv` takes nothing out.
//!
//! Items also move in batches: [`QueueSender::send_batch`] admits as many items of a batch as
//! fit under one lock and one wake-up (waiting for room for the rest), and
//! [`QueueReceiver::recv_batch`] takes up to a number of items and bytes under one lock, with
//! one wake-up for the senders. The bounds are the same, item by item: a batch is never
//! admitted past them (the oversize rule included), so batching changes how often the lock is
//! taken and tasks are woken, not what the queue holds. Measured in docs/benchmarks.md
//! ("rows through the queues in batches").

use std::collections::VecDeque;
use std::fmt;
use std::pin::pin;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use tokio::sync::Notify;

pub use self::stats::{QueueStats, QueueStatsSnapshot};
use crate::budget::{ByteBudget, SplitSlot};
use crate::row::Row;

#[path = "queue_stats.rs"]
mod stats;

/// The most items a reader hands to its queue, or the drain loop takes from one, in one
/// batch ([`QueueSender::send_batch`], [`QueueReceiver::recv_batch`]).
pub const HAND_OVER_ROWS: usize = 256;

/// The bytes of such a batch: the drain loop takes no item past its first that would go
/// beyond them, and a reader takes no further record once its batch holds them (so a
/// reader's batch passes them by at most one record's rows). What a reader may hold decoded
/// before it enqueues, and the drain loop taken before the sink has it. Small against the
/// queue bounds, counted in the subtask's fixed overhead
/// ([`crate::reservation::SUBTASK_OVERHEAD_BYTES`]); large enough that a batch of 1 KiB rows
/// pays one lock and one wake-up for 64 rows.
pub const HAND_OVER_BYTES: u64 = 64 * 1024;

/// The send failed because the receiver is gone; the item is handed back.
pub struct SendError<T>(pub T);

impl<T> fmt::Debug for SendError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SendError(..)")
    }
}

impl<T> fmt::Display for SendError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("the queue's receiver was dropped")
    }
}

impl<T> std::error::Error for SendError<T> {}

/// Why [`QueueReceiver::try_recv`] returned nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TryRecvError {
    /// Nothing queued now; senders are still alive.
    #[error("the queue is empty")]
    Empty,
    /// Nothing queued and every sender has been dropped: nothing will ever arrive.
    #[error("the queue is empty and all senders were dropped")]
    Disconnected,
}

struct State<T> {
    items: VecDeque<(T, u64)>,
    bytes: u64,
    senders: usize,
    receiver_alive: bool,
}

struct Shared<T> {
    state: Mutex<State<T>>,
    /// Senders wait here for room.
    space_freed: Notify,
    /// The receiver waits here for items or for the last sender to leave.
    item_ready: Notify,
    stats: Arc<QueueStats>,
    max_rows: usize,
    max_bytes: u64,
    /// The subtask's byte budget this queue also draws from, and its slot in it.
    budget: Option<(Arc<ByteBudget>, SplitSlot)>,
}

impl<T> Shared<T> {
    fn lock(&self) -> MutexGuard<'_, State<T>> {
        // No code that can panic runs while the lock is held (only VecDeque and integer
        // updates), so a poisoned lock still guards a consistent state.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Runs `take` until it finds items, waiting for one between tries; `None` once every
    /// sender is gone and the queue is drained. The wake-up is armed before each try, so an
    /// item sent between a try and the wait still wakes it. Cancellation-safe: `take` moves
    /// items only when it returns them. Only the single receiver calls this.
    async fn take_when_ready<R>(
        &self,
        mut take: impl FnMut(&Self) -> Result<R, TryRecvError>,
    ) -> Option<R> {
        loop {
            let mut item_ready = pin!(self.item_ready.notified());
            item_ready.as_mut().enable();
            match take(self) {
                Ok(taken) => return Some(taken),
                Err(TryRecvError::Disconnected) => return None,
                Err(TryRecvError::Empty) => {}
            }
            item_ready.await;
        }
    }

    /// Only the single receiver calls this (through `&mut QueueReceiver`).
    fn take(&self) -> Result<T, TryRecvError> {
        let mut taken = None;
        self.take_batch(|item| taken = Some(item), 1, u64::MAX)?;
        taken.ok_or(TryRecvError::Empty)
    }

    /// Hands up to `max_items` items to `put`, and past the first only while their bytes
    /// stay within `max_bytes`; how many. One lock, one release to the budget and one wake-up
    /// of the senders for all of them. Only the single receiver calls this.
    fn take_batch(
        &self,
        mut put: impl FnMut(T),
        max_items: usize,
        max_bytes: u64,
    ) -> Result<usize, TryRecvError> {
        let mut state = self.lock();
        let (mut taken, mut taken_bytes) = (0usize, 0u64);
        while taken < max_items.max(1) {
            let fits = state.items.front().is_some_and(|(_, size)| {
                taken == 0 || taken_bytes.saturating_add(*size) <= max_bytes
            });
            if !fits {
                break;
            }
            let Some((item, size_bytes)) = state.items.pop_front() else {
                break;
            };
            put(item);
            taken += 1;
            taken_bytes = taken_bytes.saturating_add(size_bytes);
        }
        if taken == 0 {
            return Err(if state.senders == 0 {
                TryRecvError::Disconnected
            } else {
                TryRecvError::Empty
            });
        }
        state.bytes = state.bytes.saturating_sub(taken_bytes);
        self.stats.record_level(state.items.len(), state.bytes);
        let wake_budget_waiters = self.budget.as_ref().is_some_and(|(budget, slot)| {
            let mut ledger = budget.lock();
            let wake = ledger.release(*slot, taken_bytes);
            budget.record(&ledger);
            wake
        });
        drop(state);
        if wake_budget_waiters && let Some((budget, _)) = &self.budget {
            budget.freed().notify_waiters();
        }
        // Several senders may be waiting and the freed room may fit any of them.
        self.space_freed.notify_waiters();
        Ok(taken)
    }

    /// Whether the item fits; if so, and the queue draws from a budget, the budget has taken
    /// it (the caller must then enqueue it).
    fn admits(&self, state: &State<T>, size_bytes: u64) -> bool {
        let rows = state.items.len();
        // The oversize rule: an empty queue admits any item, however large.
        let fits = rows < self.max_rows
            && (rows == 0 || state.bytes.saturating_add(size_bytes) <= self.max_bytes);
        match &self.budget {
            Some((budget, slot)) if fits => {
                let mut ledger = budget.lock();
                if !ledger.admits(*slot, size_bytes) {
                    return false;
                }
                ledger.take(*slot, size_bytes);
                budget.record(&ledger);
                true
            }
            _ => fits,
        }
    }
}

/// Creates a queue bounded by `max_rows` items and `max_bytes` bytes.
///
/// `max_rows` of 0 is treated as 1 (a queue that can hold nothing could never move data).
pub fn bounded_queue<T>(max_rows: usize, max_bytes: u64) -> (QueueSender<T>, QueueReceiver<T>) {
    new_queue(max_rows, max_bytes, None)
}

/// Creates a queue bounded by `max_rows` items and `max_bytes` bytes that also draws every
/// item's bytes from `budget`, shared with the subtask's other split queues (see
/// [`crate::budget`]). The queue holds a split slot in the budget until its receiver is
/// dropped.
pub fn budgeted_queue<T>(
    max_rows: usize,
    max_bytes: u64,
    budget: &Arc<ByteBudget>,
) -> (QueueSender<T>, QueueReceiver<T>) {
    let slot = {
        let mut ledger = budget.lock();
        ledger.add_split()
    };
    new_queue(max_rows, max_bytes, Some((Arc::clone(budget), slot)))
}

fn new_queue<T>(
    max_rows: usize,
    max_bytes: u64,
    budget: Option<(Arc<ByteBudget>, SplitSlot)>,
) -> (QueueSender<T>, QueueReceiver<T>) {
    let max_rows = max_rows.max(1);
    let stats = Arc::new(QueueStats::with_bounds(max_rows, max_bytes));
    let shared = Arc::new(Shared {
        state: Mutex::new(State {
            items: VecDeque::new(),
            bytes: 0,
            senders: 1,
            receiver_alive: true,
        }),
        space_freed: Notify::new(),
        item_ready: Notify::new(),
        stats,
        max_rows,
        max_bytes,
        budget,
    });
    (
        QueueSender {
            shared: Arc::clone(&shared),
        },
        QueueReceiver { shared },
    )
}

/// The producing end; clone it for several producers.
pub struct QueueSender<T = Row> {
    shared: Arc<Shared<T>>,
}

impl<T> QueueSender<T> {
    /// Enqueues `item`, accounted as `size_bytes`, waiting while it does not fit.
    ///
    /// Fails only when the receiver has been dropped. Cancellation-safe: if this future is
    /// dropped before it completes, nothing was enqueued.
    pub async fn send(&self, item: T, size_bytes: u64) -> Result<(), SendError<T>> {
        let mut pending = Some((item, size_bytes));
        match self.send_from(&mut pending).await {
            Ok(()) => Ok(()),
            // `send_from` fails only with items left, so the item is still here.
            Err(ReceiverGone) => pending.map_or(Ok(()), |(item, _)| Err(SendError(item))),
        }
    }

    /// Enqueues the items of `batch` (each with its size in bytes) in order, as many at a
    /// time as fit, waiting for room for the rest; on return `batch` is empty. Fails only when
    /// the receiver has been dropped, handing back the items not enqueued.
    ///
    /// Cancellation-safe in the same sense as [`send`](Self::send): if this future is
    /// dropped, the items still in `batch` were not enqueued (those before them were).
    pub async fn send_batch(
        &self,
        batch: &mut VecDeque<(T, u64)>,
    ) -> Result<(), SendError<VecDeque<(T, u64)>>> {
        self.send_from(batch)
            .await
            .map_err(|ReceiverGone| SendError(std::mem::take(batch)))
    }

    /// Enqueues what `batch` holds, in order, as much at a time as fits; fails, with items
    /// left in `batch`, only when the receiver is gone.
    async fn send_from(&self, batch: &mut impl Pending<T>) -> Result<(), ReceiverGone> {
        // Set when an attempt finds no room: the clock is read only on that path.
        let mut waiting_since: Option<std::time::Instant> = None;
        while !batch.is_empty() {
            // Register interest before looking at the state, so a wake-up that happens
            // between the check and the await is not lost.
            let mut space_freed = pin!(self.shared.space_freed.notified());
            space_freed.as_mut().enable();
            // Room in the subtask's budget, freed by any of its queues; registered before the
            // check like `space_freed`.
            let mut budget_freed = pin!(
                self.shared
                    .budget
                    .as_ref()
                    .map(|(budget, _)| budget.freed().notified())
            );
            if let Some(notified) = budget_freed.as_mut().as_pin_mut() {
                notified.enable();
            }
            let admitted = {
                let mut state = self.shared.lock();
                if !state.receiver_alive {
                    return Err(ReceiverGone);
                }
                let (mut rows, mut bytes) = (0u64, 0u64);
                while let Some(size_bytes) = batch.front_size() {
                    if !self.shared.admits(&state, size_bytes) {
                        break;
                    }
                    let Some(entry) = batch.pop_front() else {
                        break;
                    };
                    state.bytes = state.bytes.saturating_add(size_bytes);
                    state.items.push_back(entry);
                    rows += 1;
                    bytes += size_bytes;
                }
                if rows > 0 {
                    self.shared
                        .stats
                        .record_admit(state.items.len(), state.bytes, rows, bytes);
                }
                rows > 0
            };
            if admitted {
                self.shared.item_ready.notify_one();
            }
            if batch.is_empty() {
                break;
            }
            waiting_since.get_or_insert_with(std::time::Instant::now);
            let budget_freed = async {
                match budget_freed.as_pin_mut() {
                    Some(notified) => notified.await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                biased;
                () = space_freed => {}
                () = budget_freed => {}
            }
        }
        if let Some(since) = waiting_since {
            self.shared.stats.record_full_wait(since);
        }
        Ok(())
    }

    /// The queue's live statistics.
    pub fn stats(&self) -> &Arc<QueueStats> {
        &self.shared.stats
    }

    /// Whether the receiver has been dropped (every further send would fail).
    pub fn is_closed(&self) -> bool {
        !self.shared.lock().receiver_alive
    }
}

impl<T> Clone for QueueSender<T> {
    fn clone(&self) -> Self {
        self.shared.lock().senders += 1;
        QueueSender {
            shared: Arc::clone(&self.shared),
        }
    }
}

impl<T> Drop for QueueSender<T> {
    fn drop(&mut self) {
        let last = {
            let mut state = self.shared.lock();
            state.senders -= 1;
            state.senders == 0
        };
        if last {
            self.shared.item_ready.notify_one();
        }
    }
}

/// The consuming end; there is exactly one.
pub struct QueueReceiver<T = Row> {
    shared: Arc<Shared<T>>,
}

impl<T> QueueReceiver<T> {
    /// Takes the next item, waiting for one; `None` once all senders are gone and the queue
    /// is drained. Cancellation-safe.
    pub async fn recv(&mut self) -> Option<T> {
        self.shared.take_when_ready(Shared::take).await
    }

    /// Takes the next item if one is queued, without waiting.
    pub fn try_recv(&mut self) -> Result<T, TryRecvError> {
        self.shared.take()
    }

    /// Moves the items queued now into `out`, waiting for at least one: up to `max_items`,
    /// and past the first only while their bytes stay within `max_bytes`. Returns how many;
    /// 0 once all senders are gone and the queue is drained. Cancellation-safe.
    pub async fn recv_batch(
        &mut self,
        out: &mut Vec<T>,
        max_items: usize,
        max_bytes: u64,
    ) -> usize {
        self.shared
            .take_when_ready(|shared| {
                // Sized once from the queue's level (a hint, read before the lock), not grown
                // by doubling while the items move.
                let queued = usize::try_from(shared.stats.rows()).unwrap_or(usize::MAX);
                out.reserve(queued.min(max_items));
                shared.take_batch(|item| out.push(item), max_items, max_bytes)
            })
            .await
            .unwrap_or(0)
    }

    /// The queue's live statistics.
    pub fn stats(&self) -> &Arc<QueueStats> {
        &self.shared.stats
    }
}

impl<T> Drop for QueueReceiver<T> {
    fn drop(&mut self) {
        let dropped_items = {
            let mut state = self.shared.lock();
            state.receiver_alive = false;
            state.bytes = 0;
            self.shared.stats.record_level(0, 0);
            if let Some((budget, slot)) = &self.shared.budget {
                let mut ledger = budget.lock();
                ledger.remove_split(*slot);
                budget.record(&ledger);
            }
            std::mem::take(&mut state.items)
        };
        if let Some((budget, _)) = &self.shared.budget {
            budget.freed().notify_waiters();
        }
        // Rows are dropped outside the lock: their destructors may be arbitrarily slow.
        drop(dropped_items);
        self.shared.space_freed.notify_waiters();
    }
}

/// The receiver was dropped: nothing more can be enqueued.
struct ReceiverGone;

/// Items waiting to be enqueued, first to last: one (`send`) or a batch (`send_batch`).
trait Pending<T> {
    fn is_empty(&self) -> bool;
    /// The size in bytes of the next item.
    fn front_size(&self) -> Option<u64>;
    fn pop_front(&mut self) -> Option<(T, u64)>;
}

impl<T> Pending<T> for Option<(T, u64)> {
    fn is_empty(&self) -> bool {
        self.is_none()
    }
    fn front_size(&self) -> Option<u64> {
        self.as_ref().map(|(_, size)| *size)
    }
    fn pop_front(&mut self) -> Option<(T, u64)> {
        self.take()
    }
}

impl<T> Pending<T> for VecDeque<(T, u64)> {
    fn is_empty(&self) -> bool {
        VecDeque::is_empty(self)
    }
    fn front_size(&self) -> Option<u64> {
        self.front().map(|(_, size)| *size)
    }
    fn pop_front(&mut self) -> Option<(T, u64)> {
        VecDeque::pop_front(self)
    }
}

#[cfg(test)]
#[path = "queue_tests.rs"]
mod tests;
