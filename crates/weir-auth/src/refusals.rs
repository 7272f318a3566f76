//! Refused requests: counted for `/metrics`, logged without letting a flood of them flood the
//! log.
//!
//! Anyone who reaches a port can send refused requests as fast as the network allows; one log
//! line each would let them fill the disk and bury the events that matter. So each surface logs
//! its first [`LOG_BURST`] refusals of every [`LOG_WINDOW`], then only counts; the next line
//! logged says how many were left out. The counters of every refusal are exported as
//! `weir_security_refusals_total` (docs/observability.md), so nothing is lost to the throttle.

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// Refusals of one surface logged per window before the rest of the window is only counted.
pub const LOG_BURST: u32 = 10;

/// The window [`LOG_BURST`] applies to.
pub const LOG_WINDOW: Duration = Duration::from_secs(10);

/// Where a request was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Surface {
    /// A gRPC call (the guard in front of the master's and the worker's services).
    Grpc,
    /// An HTTP request (console, JSON API, `/metrics`).
    Http,
}

impl Surface {
    /// Every surface, in the order of the metric's samples.
    pub const ALL: [Surface; 2] = [Surface::Grpc, Surface::Http];

    /// The `surface` label of the metric.
    pub fn label(self) -> &'static str {
        match self {
            Surface::Grpc => "grpc",
            Surface::Http => "http",
        }
    }
}

/// What to do with one refusal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogDecision {
    /// Log it; `left_out` refusals before it were counted and not logged.
    Log { left_out: u64 },
    /// Count it only.
    Quiet,
}

/// The throttle of one surface: a pure decision on the time it is given.
#[derive(Debug)]
pub struct LogWindow {
    started: Option<Instant>,
    logged: u32,
    left_out: u64,
}

impl LogWindow {
    /// A window that has logged nothing yet.
    pub const fn new() -> Self {
        LogWindow {
            started: None,
            logged: 0,
            left_out: 0,
        }
    }

    /// Decides for a refusal at `now`.
    pub fn decide(&mut self, now: Instant) -> LogDecision {
        let expired = self
            .started
            .is_none_or(|started| now.saturating_duration_since(started) >= LOG_WINDOW);
        if expired {
            self.started = Some(now);
            self.logged = 0;
        }
        if self.logged < LOG_BURST {
            self.logged += 1;
            LogDecision::Log {
                left_out: std::mem::take(&mut self.left_out),
            }
        } else {
            self.left_out += 1;
            LogDecision::Quiet
        }
    }
}

struct Record {
    total: AtomicU64,
    window: Mutex<LogWindow>,
}

impl Record {
    const fn new() -> Self {
        Record {
            total: AtomicU64::new(0),
            window: Mutex::new(LogWindow::new()),
        }
    }
}

// Process-wide: the guard and the HTTP middleware record with a plain call, and a process runs
// one master or one worker.
static GRPC: Record = Record::new();
static HTTP: Record = Record::new();

fn record(surface: Surface) -> &'static Record {
    match surface {
        Surface::Grpc => &GRPC,
        Surface::Http => &HTTP,
    }
}

/// Counts a refusal on `surface` and says whether to log it.
pub fn refused(surface: Surface) -> LogDecision {
    let record = record(surface);
    record.total.fetch_add(1, Ordering::Relaxed);
    // A poisoned lock only means another thread panicked mid-decision; the window is still a
    // valid state to decide on.
    let mut window = record
        .window
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    window.decide(Instant::now())
}

impl Default for LogWindow {
    fn default() -> Self {
        Self::new()
    }
}

/// Refusals on `surface` since the process started.
pub fn refusals_total(surface: Surface) -> u64 {
    record(surface).total.load(Ordering::Relaxed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_is_logged_then_counted_and_the_next_window_says_how_many_were_left_out() {
        let mut window = LogWindow::default();
        let start = Instant::now();
        for n in 0..LOG_BURST {
            assert_eq!(
                window.decide(start + Duration::from_millis(u64::from(n))),
                LogDecision::Log { left_out: 0 }
            );
        }
        for _ in 0..25 {
            assert_eq!(window.decide(start + LOG_WINDOW / 2), LogDecision::Quiet);
        }
        assert_eq!(
            window.decide(start + LOG_WINDOW),
            LogDecision::Log { left_out: 25 }
        );
        // The count was reported once.
        assert_eq!(
            window.decide(start + LOG_WINDOW + Duration::from_millis(1)),
            LogDecision::Log { left_out: 0 }
        );
    }

    #[test]
    fn every_refusal_is_counted_logged_or_not() {
        let before = refusals_total(Surface::Http);
        for _ in 0..(LOG_BURST + 5) {
            refused(Surface::Http);
        }
        // Other tests of this process may refuse too; this one's are all in.
        assert!(refusals_total(Surface::Http) >= before + u64::from(LOG_BURST) + 5);
    }
}
