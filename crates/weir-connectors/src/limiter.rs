//! The read limit: `read_limit.rows_per_second` / `read_limit.bytes_per_second`, applied before
//! a row enters a split queue so that it really limits reading (not just emission).
//!
//! The job-wide budget is split across subtasks by the master ([`ReadLimitShare`]); one
//! [`ReadLimiter`] per subtask is shared by all of its split readers and re-rated in place
//! when the subtask's splits change.

use std::pin::pin;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use tokio::sync::Notify;
use tokio::time::Instant;
use weir_core::rate::TokenBucket;

/// One subtask's share of the job's `read_limit.*`, computed by the master
/// (`weir_core::split::read_limit_share`). `None`: that dimension is unlimited.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct ReadLimitShare {
    /// Rows per second this subtask may admit into its queues.
    pub rows_per_second: Option<f64>,
    /// Bytes (in-memory row size) per second this subtask may admit into its queues.
    pub bytes_per_second: Option<f64>,
}

/// The longest single sleep; a waiter re-checks at least this often. Re-rating wakes
/// waiters at once, so this only guards against an absurd wait from a near-zero rate.
const MAX_SLEEP: Duration = Duration::from_secs(3600);

#[derive(Debug, Default)]
struct Buckets {
    rows: Option<TokenBucket>,
    bytes: Option<TokenBucket>,
}

#[derive(Debug, Default)]
struct Shared {
    buckets: Mutex<Buckets>,
    /// Woken when the rates change, so waiters recompute their wait.
    rerated: Notify,
    /// Taken for the whole of an acquire: readers waiting for the budget are served in
    /// arrival order (tokio's mutex is FIFO), so sibling splits share it evenly. Without it,
    /// waiters woken at the same instant race for each token and one split can take most of
    /// the subtask's share for seconds at a time.
    turn: tokio::sync::Mutex<()>,
    /// Nanoseconds readers slept waiting for the budget (`weir_task_read_limit_wait_seconds`).
    /// Only the reader holding the turn sleeps, so this is the time the subtask's reading was
    /// held back, not a sum over its waiting readers.
    waited_nanos: std::sync::atomic::AtomicU64,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Buckets> {
        // Bucket arithmetic cannot panic, so a poisoned lock still holds valid buckets.
        self.buckets.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// A rows-and-bytes token bucket pair, shared (cloned) by all split readers of one subtask.
/// The default is unlimited and cannot be re-rated.
#[derive(Debug, Clone, Default)]
pub struct ReadLimiter {
    shared: Option<Arc<Shared>>,
}

fn bucket(rate: f64, now: std::time::Instant) -> TokenBucket {
    TokenBucket::new(rate, TokenBucket::default_burst(rate), now)
}

impl ReadLimiter {
    /// No limit, ever: [`acquire`](Self::acquire) returns at once.
    pub fn unlimited() -> Self {
        Self::default()
    }

    /// Limits to the given rates; `None` leaves that dimension unlimited. The limiter can be
    /// re-rated with [`set_share`](Self::set_share), even when both are `None`.
    pub fn new(rows_per_second: Option<f64>, bytes_per_second: Option<f64>) -> Self {
        let limiter = ReadLimiter {
            shared: Some(Arc::default()),
        };
        limiter.set_share(ReadLimitShare {
            rows_per_second,
            bytes_per_second,
        });
        limiter
    }

    /// A limiter for a subtask's share of the job's read limit.
    pub fn from_share(share: ReadLimitShare) -> Self {
        Self::new(share.rows_per_second, share.bytes_per_second)
    }

    /// Changes the rates from now on, for every clone of this limiter; waiting readers
    /// recompute their wait at once. Tokens and debt are kept. No effect on
    /// [`unlimited`](Self::unlimited) limiters.
    pub fn set_share(&self, share: ReadLimitShare) {
        let Some(shared) = &self.shared else {
            return;
        };
        let now = Instant::now().into_std();
        {
            let mut buckets = shared.lock();
            let rerate = |slot: &mut Option<TokenBucket>, rate: Option<f64>| match (slot, rate) {
                (slot, None) => *slot = None,
                (Some(existing), Some(rate)) => {
                    existing.set_rate(rate, TokenBucket::default_burst(rate), now);
                }
                (slot, Some(rate)) => *slot = Some(bucket(rate, now)),
            };
            rerate(&mut buckets.rows, share.rows_per_second);
            rerate(&mut buckets.bytes, share.bytes_per_second);
        }
        shared.rerated.notify_waiters();
    }

    /// How long readers have waited for the budget, in total, since the limiter was made.
    pub fn waited(&self) -> Duration {
        self.shared.as_ref().map_or(Duration::ZERO, |shared| {
            Duration::from_nanos(
                shared
                    .waited_nanos
                    .load(std::sync::atomic::Ordering::Relaxed),
            )
        })
    }

    /// Whether this limiter never waits now.
    pub fn is_unlimited(&self) -> bool {
        self.shared.as_ref().is_none_or(|shared| {
            let buckets = shared.lock();
            buckets.rows.is_none() && buckets.bytes.is_none()
        })
    }

    /// Takes `rows` and `bytes` from the budget, waiting (tokio timer, no spinning) until the
    /// budget covers both. A record larger than the burst waits for a full bucket and leaves
    /// debt that the next records wait off, so the long-run rate holds; zero bytes never
    /// error. Cancellation-safe: a cancelled acquire takes nothing.
    pub async fn acquire(&self, rows: u64, bytes: u64) {
        let Some(shared) = &self.shared else {
            return;
        };
        // Cancel-safe: a dropped acquire leaves the queue, or releases its turn.
        let _turn = shared.turn.lock().await;
        loop {
            // Registered before the check, so a re-rate between check and sleep is not lost.
            let mut rerated = pin!(shared.rerated.notified());
            rerated.as_mut().enable();
            let now = Instant::now();
            let wait = {
                let mut buckets = shared.lock();
                let std_now = now.into_std();
                let rows_wait = buckets.rows.as_mut().map(|b| b.wait_for(rows, std_now));
                let bytes_wait = buckets.bytes.as_mut().map(|b| b.wait_for(bytes, std_now));
                let wait = rows_wait.max(bytes_wait).unwrap_or_default();
                if wait.is_zero() {
                    if let Some(bucket) = buckets.rows.as_mut() {
                        bucket.take(rows, std_now);
                    }
                    if let Some(bucket) = buckets.bytes.as_mut() {
                        bucket.take(bytes, std_now);
                    }
                    return;
                }
                wait
            };
            tokio::select! {
                () = tokio::time::sleep_until(now + wait.min(MAX_SLEEP)) => {}
                () = &mut rerated => {}
            }
            // Measured only on this slow path: an acquire that does not wait reads no clock
            // beyond the one above.
            let slept = u64::try_from(now.elapsed().as_nanos()).unwrap_or(u64::MAX);
            shared
                .waited_nanos
                .fetch_add(slept, std::sync::atomic::Ordering::Relaxed);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[tokio::test(start_paused = true)]
    async fn paces_rows_to_the_configured_rate() {
        let limiter = ReadLimiter::new(Some(10.0), None);
        let start = Instant::now();
        for _ in 0..21 {
            limiter.acquire(1, 1_000_000).await;
        }
        // Burst of 1 token, then 20 more at 10/s.
        assert_eq!(start.elapsed(), Duration::from_secs(2));
        assert_eq!(
            limiter.waited(),
            Duration::from_secs(2),
            "all of it waiting"
        );
        assert_eq!(ReadLimiter::unlimited().waited(), Duration::ZERO);
    }

    #[tokio::test(start_paused = true)]
    async fn the_stricter_dimension_wins() {
        let limiter = ReadLimiter::new(Some(1000.0), Some(100.0));
        let start = Instant::now();
        for _ in 0..11 {
            limiter.acquire(1, 100).await;
        }
        // Bytes: a 100-byte record needs the full 10-byte burst and leaves 90 of debt, so
        // each further record takes 1 s: 10 s for 11; rows would allow ~0 s.
        let elapsed = start.elapsed().as_secs_f64();
        assert!((elapsed - 10.0).abs() < 0.01, "{elapsed}");
    }

    #[tokio::test(start_paused = true)]
    async fn readers_sharing_a_limiter_get_even_shares() {
        let limiter = ReadLimiter::new(Some(100.0), None);
        let counts: Arc<[std::sync::atomic::AtomicU64; 2]> = Arc::default();
        for reader in 0..2 {
            let (limiter, counts) = (limiter.clone(), Arc::clone(&counts));
            tokio::spawn(async move {
                loop {
                    limiter.acquire(1, 0).await;
                    counts[reader].fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                }
            });
        }
        let mut before = [0u64; 2];
        for second in 0..10 {
            tokio::time::sleep(Duration::from_secs(1)).await;
            let now = counts
                .each_ref()
                .map(|count| count.load(std::sync::atomic::Ordering::Relaxed));
            let taken = [now[0] - before[0], now[1] - before[1]];
            if second > 0 {
                assert!(
                    taken.iter().all(|&rows| rows.abs_diff(50) <= 1),
                    "second {second}: {taken:?}, expected 50 each"
                );
            }
            before = now;
        }
    }

    #[tokio::test(start_paused = true)]
    async fn zero_byte_records_pass_a_byte_limit() {
        let limiter = ReadLimiter::new(None, Some(1.0));
        let start = Instant::now();
        for _ in 0..1000 {
            limiter.acquire(1, 0).await;
        }
        assert_eq!(start.elapsed(), Duration::ZERO);
    }

    #[tokio::test(start_paused = true)]
    async fn rerating_applies_to_waiting_readers_at_once() {
        let limiter = ReadLimiter::new(Some(0.001), None);
        limiter.acquire(1, 0).await;
        let start = Instant::now();
        let waiter = tokio::spawn({
            let limiter = limiter.clone();
            async move { limiter.acquire(1, 0).await }
        });
        tokio::time::sleep(Duration::from_secs(1)).await;
        assert!(
            !waiter.is_finished(),
            "at 0.001/s the second row waits 1000 s"
        );
        limiter.set_share(ReadLimitShare {
            rows_per_second: Some(10.0),
            bytes_per_second: None,
        });
        waiter.await.unwrap();
        // Re-rated after 1 s with 0.001 tokens earned: the rest takes ~0.1 s at 10/s (not
        // the ~999 s the old rate would have taken).
        assert!(
            start.elapsed() <= Duration::from_millis(1100),
            "{:?}",
            start.elapsed()
        );
        assert!(!limiter.is_unlimited());
        limiter.set_share(ReadLimitShare::default());
        assert!(limiter.is_unlimited());
        assert!(ReadLimiter::unlimited().is_unlimited());
    }
}
