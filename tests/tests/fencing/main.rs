//! Fencing and orderly shutdown end to end (issue 11): real `weir` processes run Kafka →
//! HdfsFile jobs against the stack's Kafka and HDFS; a fault is injected mid-run, and at the end
//! every id is committed exactly once, read back with Hadoop's FsShell (`weir_e2e::exactly_once`).
//!
//! - `partitioned_worker_stops_its_subtasks_and_the_job_moves`: a TCP proxy in the test process
//!   stands between one worker and the master and blackholes its connections (the worker still
//!   reaches Kafka and HDFS, and the master still reaches the worker);
//! - `sigterm_to_worker_moves_its_subtasks_at_once`: SIGTERM to a worker under load;
//! - `sigterm_to_master_then_restart_resumes_exactly_once`: SIGTERM to the master under load,
//!   then a restart on the same data directory;
//! - `sigterm_to_weir_local_stops_the_job_with_a_final_checkpoint`: SIGTERM to `weir local`.
//!
//! Each test has its own topic, master, workers and HDFS directory, so they run in parallel.
//! Needs the stack (`deploy/local/stack up && eval "$(deploy/local/stack env)"`) and the built
//! binary.
//!
//! Run: `cargo build -p weir-cli --bin weir && cargo test -p weir-e2e --test fencing --
//! --nocapture` (progress lines go to stderr).

use std::path::Path;
use std::time::{Duration, Instant};

use weir_e2e::cluster::{Master, log_lines_with};
use weir_e2e::exactly_once::Scenario;

mod local;
mod partition;
mod sigterm;

/// Records produced before each cluster test's job starts.
const RECORDS: u64 = 100_000;
/// Job-wide read limit: the backlog takes ≥ 10 s, so the fault comes mid-run.
const ROWS_PER_SECOND: u64 = 10_000;

/// Polls the log at `path` until a line contains `needle`, at most `within`; returns the line
/// and when it was first seen, measured from `since`.
fn wait_log(
    scenario: &Scenario,
    master: &Master,
    path: &Path,
    needle: &str,
    since: Instant,
    within: Duration,
) -> (String, Duration) {
    let (line, seen) = master.wait_until(
        &format!("{} logs {needle:?}", path.display()),
        within.saturating_sub(since.elapsed()),
        || match log_lines_with(path, needle).into_iter().next() {
            Some(line) => Ok((line, since.elapsed())),
            None => Err("not yet".to_string()),
        },
    );
    scenario.say(format!("after {seen:.1?}: {line}"));
    (line, seen)
}
