//! Token-bucket arithmetic for read limits and generator pacing.
//!
//! Pure arithmetic over caller-supplied instants: the caller (a connector, with tokio's clock)
//! does the waiting. The bucket runs into *debt* rather than refusing an amount larger than it
//! holds, so one large record never stalls forever, while the long-run rate still holds: the
//! next reservation waits until the debt is paid off.
//!
//! Two ways to take tokens: [`TokenBucket::reserve`] takes at once and tells the caller how
//! long to wait (a single pacer); [`TokenBucket::try_take`] takes only when the bucket covers
//! the amount and otherwise says how long until it will — callers that wait on it can be
//! re-rated while they wait ([`TokenBucket::set_rate`]) and see the new rate at once.

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

    fn refill(&mut self, now: Instant) {
        let elapsed = now
            .saturating_duration_since(self.last_refill)
            .as_secs_f64();
        self.last_refill = self.last_refill.max(now);
        self.tokens = (self.tokens + elapsed * self.rate_per_second).min(self.burst);
    }

    /// Takes `amount` tokens now and returns how long the caller must wait before using
    /// them (zero when the bucket covered them).
    pub fn reserve(&mut self, amount: u64, now: Instant) -> Duration {
        self.refill(now);
        self.tokens -= amount as f64;
        if self.tokens >= 0.0 {
            Duration::ZERO
        } else {
            Duration::try_from_secs_f64(-self.tokens / self.rate_per_second)
                .unwrap_or(Duration::MAX)
        }
    }
}

impl TokenBucket {
    /// How long until the bucket covers `amount`, zero if it does now. An amount larger
    /// than the burst is covered by a full bucket (and then leaves debt), so it waits at
    /// most as long as a burst takes to refill. A zero amount is covered unless in debt.
    pub fn wait_for(&mut self, amount: u64, now: Instant) -> Duration {
        self.refill(now);
        let needed = (amount as f64).min(self.burst);
        let missing = needed - self.tokens;
        // Tolerances: refill arithmetic in f64 lands a hair off whole numbers, in tokens and
        // in nanoseconds; neither may turn an exact wait into an extra 1 ns wake-up.
        if missing <= 1e-9 {
            Duration::ZERO
        } else {
            let nanos = (missing / self.rate_per_second * 1e9 - 1e-3)
                .ceil()
                .max(1.0);
            Duration::try_from_secs_f64(nanos / 1e9).unwrap_or(Duration::MAX)
        }
    }

    /// Takes `amount` tokens if the bucket covers them now ([`Self::wait_for`] is zero);
    /// otherwise takes nothing and returns how long until it will.
    pub fn try_take(&mut self, amount: u64, now: Instant) -> Result<(), Duration> {
        let wait = self.wait_for(amount, now);
        if wait.is_zero() {
            self.tokens -= amount as f64;
            Ok(())
        } else {
            Err(wait)
        }
    }

    /// Takes `amount` tokens unconditionally (after [`Self::wait_for`] said zero).
    pub fn take(&mut self, amount: u64, now: Instant) {
        self.refill(now);
        self.tokens -= amount as f64;
    }

    /// Changes the rate and burst from `now` on. Tokens earned so far at the old rate are
    /// kept (capped to the new burst); debt is kept, and is now paid off at the new rate.
    pub fn set_rate(&mut self, rate_per_second: f64, burst: f64, now: Instant) {
        self.refill(now);
        let fresh = TokenBucket::new(rate_per_second, burst, now);
        self.rate_per_second = fresh.rate_per_second;
        self.burst = fresh.burst;
        self.tokens = self.tokens.min(self.burst);
    }
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
    fn try_take_waits_for_cover_then_takes() {
        let start = Instant::now();
        let mut bucket = TokenBucket::new(10.0, 1.0, start);
        assert_eq!(bucket.try_take(1, start), Ok(()));
        assert_eq!(bucket.try_take(1, start), Err(Duration::from_millis(100)));
        // Nothing was taken by the refusal.
        let later = start + Duration::from_millis(100);
        assert_eq!(bucket.try_take(1, later), Ok(()));
        // Zero never waits unless in debt; an oversized amount needs a full bucket only.
        assert_eq!(bucket.try_take(0, later), Ok(()));
        let full = later + Duration::from_secs(1);
        assert_eq!(bucket.try_take(25, full), Ok(()));
        assert_eq!(bucket.wait_for(0, full), Duration::from_millis(2400));
    }

    #[test]
    fn set_rate_applies_to_waits_at_once() {
        let start = Instant::now();
        let mut bucket = TokenBucket::new(1.0, 1.0, start);
        bucket.take(1, start);
        assert_eq!(bucket.wait_for(1, start), Duration::from_secs(1));
        bucket.set_rate(10.0, 1.0, start);
        assert_eq!(bucket.wait_for(1, start), Duration::from_millis(100));
        // Debt is kept: 4 tokens of debt at 10/s.
        bucket.take(4, start);
        assert_eq!(bucket.wait_for(0, start), Duration::from_millis(400));
    }
}
