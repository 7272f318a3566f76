//! Fault points: a test hook that makes the master abort at a named point of a checkpoint cycle,
//! so end-to-end tests can kill it (as `kill -9` would) exactly there and check that nothing is
//! lost or written twice after a restart.
//!
//! `WEIR_FAULT_ABORT_AT=<point>[:<n>]` makes the master call `std::process::abort()` the `n`-th
//! time (default 1) it reaches `<point>`, one of the names of [`FaultPoint`]. The variable is read
//! once, at the first point reached; without it every point is inert (one atomic load). It is
//! a test hook, not a setting: production deployments never set it.

use std::sync::OnceLock;
use std::sync::atomic::{AtomicU32, Ordering};

/// The environment variable that arms a fault point.
pub const FAULT_ENV: &str = "WEIR_FAULT_ABORT_AT";

/// Where in a checkpoint cycle the master may be made to abort, in cycle order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FaultPoint {
    /// The checkpoint's id is recorded in the job store; no barrier has been sent.
    BeforeTrigger,
    /// The barriers are out and a subtask has answered; no answer has been taken in.
    TriggerSent,
    /// Some, not all, subtasks' acknowledgements are taken in.
    SomeAcks,
    /// Every acknowledgement is in; nothing is persisted yet.
    AllAcks,
    /// The checkpoint is written to checkpoint storage, not yet to the job store.
    StorageWritten,
    /// The job store holds the completed checkpoint (the commit point); no commit is sent.
    StoreWritten,
    /// The first subtask answered its commit; others may not have.
    FirstCommit,
    /// Every commit was answered; the coordinator has not yet recorded that.
    AllCommits,
    /// The checkpoint is committed and the next one may start.
    Committed,
    /// A stop's (or a bounded job's) final checkpoint is recorded in the job store; its commits
    /// are not sent.
    StopRecorded,
}

impl FaultPoint {
    pub const ALL: [FaultPoint; 10] = [
        FaultPoint::BeforeTrigger,
        FaultPoint::TriggerSent,
        FaultPoint::SomeAcks,
        FaultPoint::AllAcks,
        FaultPoint::StorageWritten,
        FaultPoint::StoreWritten,
        FaultPoint::FirstCommit,
        FaultPoint::AllCommits,
        FaultPoint::Committed,
        FaultPoint::StopRecorded,
    ];

    /// The name used in `WEIR_FAULT_ABORT_AT`.
    pub fn name(self) -> &'static str {
        match self {
            FaultPoint::BeforeTrigger => "before-trigger",
            FaultPoint::TriggerSent => "trigger-sent",
            FaultPoint::SomeAcks => "some-acks",
            FaultPoint::AllAcks => "all-acks",
            FaultPoint::StorageWritten => "storage-written",
            FaultPoint::StoreWritten => "store-written",
            FaultPoint::FirstCommit => "first-commit",
            FaultPoint::AllCommits => "all-commits",
            FaultPoint::Committed => "committed",
            FaultPoint::StopRecorded => "stop-recorded",
        }
    }

    fn parse(name: &str) -> Option<FaultPoint> {
        FaultPoint::ALL
            .into_iter()
            .find(|point| point.name() == name)
    }
}

/// An armed fault: abort at the `nth` time `point` is reached.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Armed {
    point: FaultPoint,
    nth: u32,
}

/// `<point>[:<n>]`, or why not.
fn parse_spec(spec: &str) -> Result<Armed, String> {
    let (name, nth) = match spec.split_once(':') {
        Some((name, nth)) => {
            let nth = nth
                .parse::<u32>()
                .ok()
                .filter(|nth| *nth >= 1)
                .ok_or_else(|| format!("{nth:?} is not a count from 1"))?;
            (name, nth)
        }
        None => (spec, 1),
    };
    let point = FaultPoint::parse(name).ok_or_else(|| {
        let names: Vec<&str> = FaultPoint::ALL.iter().map(|point| point.name()).collect();
        format!("{name:?} is not a fault point ({})", names.join(", "))
    })?;
    Ok(Armed { point, nth })
}

fn armed() -> Option<Armed> {
    static ARMED: OnceLock<Option<Armed>> = OnceLock::new();
    *ARMED.get_or_init(|| {
        let spec = std::env::var(FAULT_ENV).ok()?;
        match parse_spec(spec.trim()) {
            Ok(armed) => {
                tracing::warn!(
                    point = armed.point.name(),
                    nth = armed.nth,
                    "{FAULT_ENV} is set: the master aborts there (a test hook)"
                );
                Some(armed)
            }
            Err(problem) => {
                tracing::error!("{FAULT_ENV}={spec} is ignored: {problem}");
                None
            }
        }
    })
}

/// Reads `WEIR_FAULT_ABORT_AT` now (so a bad value is reported at start-up, not at the first
/// checkpoint).
pub fn init() {
    armed();
}

/// Marks `point` reached; aborts the process if it is the armed point's `n`-th time.
pub fn reached(point: FaultPoint) {
    static COUNT: AtomicU32 = AtomicU32::new(0);
    let Some(armed) = armed() else {
        return;
    };
    if armed.point != point {
        return;
    }
    let count = COUNT.fetch_add(1, Ordering::SeqCst) + 1;
    if count == armed.nth {
        // stderr directly: the tracing subscriber may buffer, and abort flushes nothing.
        eprintln!(
            "weir master: aborting at fault point {} (time {count}), as {FAULT_ENV} asks",
            point.name()
        );
        std::process::abort();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn specs_name_a_point_and_an_occurrence() {
        assert_eq!(
            parse_spec("store-written:2"),
            Ok(Armed {
                point: FaultPoint::StoreWritten,
                nth: 2
            })
        );
        assert_eq!(
            parse_spec("before-trigger"),
            Ok(Armed {
                point: FaultPoint::BeforeTrigger,
                nth: 1
            })
        );
        assert!(parse_spec("store-written:0").unwrap_err().contains("count"));
        let error = parse_spec("nowhere").unwrap_err();
        assert!(error.contains("stop-recorded"), "{error}");
        let names: std::collections::BTreeSet<&str> =
            FaultPoint::ALL.iter().map(|point| point.name()).collect();
        assert_eq!(names.len(), 10);
    }
}
