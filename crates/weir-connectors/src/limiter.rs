//! The read limit: `read_limit.rows_per_second` / `read_limit.bytes_per_second`, applied before
//! a row enters a split queue so that it really limits reading (not just emission).

use std::sync::{Arc, Mutex, PoisonError};

use tokio::time::Instant;
use weir_core::config::EnvConfig;
use weir_core::rate::{TokenBucket, per_subtask_share};

#[derive(Debug)]
struct Buckets {
    rows: Option<TokenBucket>,
    bytes: Option<TokenBucket>,
}

/// A rows-and-bytes token bucket pair, shared (cloned) by all split readers of one subtask.
/// The default is unlimited.
#[derive(Debug, Clone, Default)]
pub struct ReadLimiter {
    buckets: Option<Arc<Mutex<Buckets>>>,
}

impl ReadLimiter {
    /// No limit: [`acquire`](Self::acquire) returns at once.
    pub fn unlimited() -> Self {
        Self::default()
    }

    /// Limits to the given rates; `None` leaves that dimension unlimited.
    pub fn new(rows_per_second: Option<f64>, bytes_per_second: Option<f64>) -> Self {
        if rows_per_second.is_none() && bytes_per_second.is_none() {
            return Self::unlimited();
        }
        let now = Instant::now().into_std();
        let bucket = |rate: f64| TokenBucket::new(rate, TokenBucket::default_burst(rate), now);
        ReadLimiter {
            buckets: Some(Arc::new(Mutex::new(Buckets {
                rows: rows_per_second.map(bucket),
                bytes: bytes_per_second.map(bucket),
            }))),
        }
    }

    /// This subtask's share of the job's `read_limit.*`: the job-wide budget divided evenly by
    /// `parallelism`, so the whole job reads at most the configured rate.
    pub fn for_subtask(env: &EnvConfig, parallelism: u32) -> Self {
        let share = |limit: Option<u64>| limit.map(|limit| per_subtask_share(limit, parallelism));
        Self::new(
            share(env.read_limit_rows_per_second),
            share(env.read_limit_bytes_per_second),
        )
    }

    /// Whether this limiter never waits.
    pub fn is_unlimited(&self) -> bool {
        self.buckets.is_none()
    }

    /// Takes `rows` and `bytes` from the budget, waiting (tokio timer, no spinning) until the
    /// budget covers them. Cancellation-safe; a cancelled acquire still counts as spent.
    pub async fn acquire(&self, rows: u64, bytes: u64) {
        let Some(buckets) = &self.buckets else {
            return;
        };
        let now = Instant::now();
        let wait = {
            // Bucket arithmetic cannot panic, so a poisoned lock still holds valid buckets.
            let mut buckets = buckets.lock().unwrap_or_else(PoisonError::into_inner);
            let std_now = now.into_std();
            let rows_wait = buckets.rows.as_mut().map(|b| b.reserve(rows, std_now));
            let bytes_wait = buckets.bytes.as_mut().map(|b| b.reserve(bytes, std_now));
            rows_wait.max(bytes_wait).unwrap_or_default()
        };
        if !wait.is_zero() {
            tokio::time::sleep_until(now + wait).await;
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
    }

    #[tokio::test(start_paused = true)]
    async fn the_stricter_dimension_wins() {
        let limiter = ReadLimiter::new(Some(1000.0), Some(100.0));
        let start = Instant::now();
        for _ in 0..11 {
            limiter.acquire(1, 100).await;
        }
        // Bytes: 1100 at 100 B/s with a 10-byte burst → 10.9 s; rows would allow ~0 s.
        let elapsed = start.elapsed().as_secs_f64();
        assert!((elapsed - 10.9).abs() < 0.01, "{elapsed}");
    }

    #[tokio::test(start_paused = true)]
    async fn job_budget_is_split_across_subtasks() {
        let env = EnvConfig {
            read_limit_rows_per_second: Some(20),
            ..EnvConfig::default()
        };
        let limiter = ReadLimiter::for_subtask(&env, 4);
        let start = Instant::now();
        for _ in 0..11 {
            limiter.acquire(1, 0).await;
        }
        // 5 rows/s per subtask: 10 rows after the 1-row burst take 2 s.
        assert_eq!(start.elapsed(), Duration::from_secs(2));
        assert!(ReadLimiter::for_subtask(&EnvConfig::default(), 4).is_unlimited());
    }
}
