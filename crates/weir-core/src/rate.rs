//! Token-bucket arithmetic for read limits and generator pacing.
//!
//! Pure arithmetic over caller-supplied instants: the caller (a connector, with tokio's clock)
//! does the waiting. The bucket runs into *debt* rather than refusing an amount larger than it
//! holds, so one large record never stalls forever, while the long-run rate still holds: the
//! next reservation waits until the debt is paid off.

use std::time::{Duration, Instant};

/// A token bucket refilling at `rate_per_second` up to `burst` tokens.
#[derive(Debug, Clone)]
pub struct TokenBucket {
    rate_per_second: f64,
    burst: f64,
    tokens: f64,
    last_refill: Instant,
}

impl TokenBucket {
    /// The default burst: a tenth of a second's worth, and at least one token, so a limit of
    /// 1 row/s admits one row at once and then paces, and high rates are not throttled into
    /// tiny slices.
    pub fn default_burst(rate_per_second: f64) -> f64 {
        (rate_per_second / 10.0).max(1.0)
    }

    /// A full bucket. `rate_per_second` must be positive and finite; non-positive rates are
    /// raised to the smallest positive rate (a bucket that never refills would wait forever).
    pub fn new(rate_per_second: f64, burst: f64, now: Instant) -> Self {
        let rate_per_second = if rate_per_second.is_finite() && rate_per_second > 0.0 {
            rate_per_second
        } else {
            f64::MIN_POSITIVE
        };
        let burst = if burst.is_finite() {
            burst.max(0.0)
        } else {
            0.0
        };
        TokenBucket {
            rate_per_second,
            burst,
            tokens: burst,
            last_refill: now,
        }
    }

    /// The refill rate.
    pub fn rate_per_second(&self) -> f64 {
        self.rate_per_second
    }

    /// Takes `amount` tokens now and returns how long the caller must wait before using
    /// them (zero when the bucket covered them).
    pub fn reserve(&mut self, amount: u64, now: Instant) -> Duration {
        let elapsed = now
            .saturating_duration_since(self.last_refill)
            .as_secs_f64();
        self.last_refill = self.last_refill.max(now);
        self.tokens = (self.tokens + elapsed * self.rate_per_second).min(self.burst);
        self.tokens -= amount as f64;
        if self.tokens >= 0.0 {
            Duration::ZERO
        } else {
            Duration::try_from_secs_f64(-self.tokens / self.rate_per_second)
                .unwrap_or(Duration::MAX)
        }
    }
}

/// Splits a job-wide per-second budget evenly over `parallelism` subtasks.
///
/// The design point (unlike SeaTunnel and Flink, where the limit applies per subtask and the
/// job reads `parallelism ×` the limit): `read_limit.*` is a budget for the whole job.
pub fn per_subtask_share(job_limit: u64, parallelism: u32) -> f64 {
    job_limit as f64 / f64::from(parallelism.max(1))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn full_bucket_covers_its_burst_then_paces() {
        let start = Instant::now();
        let mut bucket = TokenBucket::new(10.0, 2.0, start);
        assert_eq!(bucket.reserve(1, start), Duration::ZERO);
        assert_eq!(bucket.reserve(1, start), Duration::ZERO);
        // Third token: 1 token of debt at 10/s = 100 ms.
        assert_eq!(bucket.reserve(1, start), Duration::from_millis(100));
        // Debt accumulates: the next one waits 200 ms from the same instant.
        assert_eq!(bucket.reserve(1, start), Duration::from_millis(200));
    }

    #[test]
    fn refill_pays_debt_and_caps_at_burst() {
        let start = Instant::now();
        let mut bucket = TokenBucket::new(100.0, 10.0, start);
        assert_eq!(bucket.reserve(30, start), Duration::from_millis(200));
        // After 200 ms the debt is gone, the bucket is empty.
        let later = start + Duration::from_millis(200);
        assert!(bucket.reserve(1, later) > Duration::ZERO);
        // After a long idle period, only `burst` tokens are available.
        let much_later = later + Duration::from_secs(100);
        assert_eq!(bucket.reserve(10, much_later), Duration::ZERO);
        assert!(bucket.reserve(1, much_later) > Duration::ZERO);
    }

    #[test]
    fn long_run_rate_holds_for_large_items() {
        let start = Instant::now();
        let mut bucket = TokenBucket::new(1_000.0, TokenBucket::default_burst(1_000.0), start);
        let mut now = start;
        for _ in 0..50 {
            now += bucket.reserve(500, now);
        }
        // 25 000 tokens at 1000/s, minus the 100-token initial burst: 24.9 s.
        let elapsed = now - start;
        assert!((elapsed.as_secs_f64() - 24.9).abs() < 1e-6, "{elapsed:?}");
    }

    #[test]
    fn degenerate_rates_do_not_panic() {
        let start = Instant::now();
        let mut bucket = TokenBucket::new(0.0, f64::NAN, start);
        assert!(bucket.reserve(1, start) > Duration::from_secs(1_000_000));
    }

    #[test]
    fn job_budget_is_split_across_subtasks() {
        assert_eq!(per_subtask_share(1000, 4), 250.0);
        assert_eq!(per_subtask_share(1, 2), 0.5);
        assert_eq!(per_subtask_share(10, 0), 10.0);
    }
}
