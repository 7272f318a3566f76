//! Time spent waiting, for the metrics that say where a subtask's time goes: the drain loop
//! idle or held back by its sink, a reader held back by its source.

use std::future::Future;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

/// Time spent waiting, including a wait still going on: a subtask stuck on its sink shows
/// the wait growing, not only once it ends. Begun and ended once per wait, never on a path
/// that does not wait (see [`timed`]).
#[derive(Debug, Default)]
pub struct WaitClock(Mutex<WaitState>);

#[derive(Debug, Default)]
struct WaitState {
    /// Waits that ended.
    total: Duration,
    /// The start of the wait going on, if any.
    since: Option<Instant>,
}

impl WaitClock {
    /// A wait begins (a second call while waiting keeps the first start).
    pub fn begin(&self) {
        let mut state = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        state.since.get_or_insert_with(Instant::now);
    }

    /// The wait going on ends.
    pub fn end(&self) {
        let mut state = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(since) = state.since.take() {
            state.total += since.elapsed();
        }
    }

    /// All time waited so far, the wait going on included.
    pub fn total(&self) -> Duration {
        let state = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        state.total + state.since.map_or(Duration::ZERO, |since| since.elapsed())
    }
}

/// Runs `future`, counting on `clock` the time from its first `Pending` to its completion
/// (or its drop): how long it held its caller back beyond its own work. A future that
/// completes at once costs no clock read.
pub async fn timed<F: Future>(future: F, clock: &WaitClock) -> F::Output {
    /// Ends the wait however the future ends, dropped included.
    struct Waiting<'a>(&'a WaitClock);
    impl Drop for Waiting<'_> {
        fn drop(&mut self) {
            self.0.end();
        }
    }
    let mut future = std::pin::pin!(future);
    let mut waiting: Option<Waiting<'_>> = None;
    std::future::poll_fn(|cx| {
        let poll = future.as_mut().poll(cx);
        if poll.is_pending() && waiting.is_none() {
            clock.begin();
            waiting = Some(Waiting(clock));
        }
        poll
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn only_a_future_that_pends_is_timed_and_a_dropped_one_stops_its_clock() {
        let clock = WaitClock::default();
        timed(async {}, &clock).await;
        assert_eq!(clock.total(), Duration::ZERO, "ready at once: no wait");
        timed(tokio::task::yield_now(), &clock).await;
        let after_yield = clock.total();
        assert!(after_yield > Duration::ZERO, "a pending future is timed");
        assert_eq!(clock.total(), after_yield, "no wait goes on after it ended");

        let (_hold, never) = tokio::sync::oneshot::channel::<()>();
        let waiting = tokio::spawn(async move {
            let clock = WaitClock::default();
            let _ = tokio::time::timeout(Duration::from_millis(1), timed(never, &clock)).await;
            clock.total()
        });
        let dropped = waiting.await.unwrap();
        assert!(dropped >= Duration::from_millis(1), "{dropped:?}");
    }

    #[test]
    fn a_wait_going_on_counts_until_it_ends() {
        let clock = WaitClock::default();
        clock.begin();
        let first = clock.total();
        let began = Instant::now();
        while began.elapsed() < Duration::from_micros(50) {}
        assert!(clock.total() > first, "the running wait grows");
        clock.end();
        let ended = clock.total();
        assert_eq!(clock.total(), ended, "and stops when it ends");
    }
}
