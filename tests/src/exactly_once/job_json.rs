//! Reading `weir job -o json` (and `weir ARGS -o json`).

use crate::cluster::{Master, describe};
pub use crate::job_json::{is_terminal, splits, tasks, text, u64_of};
use serde_json::Value;

/// The `checkpoints` object of `weir job -o json`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Checkpoints {
    pub last_completed_id: u64,
    completed: u64,
    pub failed: u64,
    pub last_failure: String,
    pub restored_from_id: u64,
}

pub fn checkpoints(job: &Value) -> Checkpoints {
    let stats = &job["checkpoints"];
    Checkpoints {
        // The summary's `last_checkpoint_id` says the same; either will do.
        last_completed_id: stats["last_completed_id"]
            .as_u64()
            .or_else(|| job["last_checkpoint_id"].as_u64())
            .unwrap_or_default(),
        completed: u64_of(stats, "completed"),
        failed: u64_of(stats, "failed"),
        last_failure: text(stats, "last_failure"),
        restored_from_id: u64_of(stats, "restored_from_id"),
    }
}

/// One line about the job: state, lag, rows, checkpoints, where its tasks run.
pub fn status_line(job: &Value) -> String {
    let cp = checkpoints(job);
    let tasks: Vec<String> = tasks(job)
        .iter()
        .map(|task| {
            format!(
                "{}@{}:{}#{}",
                task["subtask_index"],
                text(task, "worker_id"),
                text(task, "state"),
                task["attempt"]
            )
        })
        .collect();
    let mut line = format!(
        "{} lag={} read={} written={} queue_rows={} checkpoints: last={} completed={} failed={} restored_from={} tasks=[{}]",
        text(job, "state"),
        job["consumer_lag"],
        job["rows_read"],
        job["rows_written"],
        job["queue_rows"],
        cp.last_completed_id,
        cp.completed,
        cp.failed,
        cp.restored_from_id,
        tasks.join(" ")
    );
    if !cp.last_failure.is_empty() {
        line.push_str(&format!(" last_failure={:?}", cp.last_failure));
    }
    let reason = text(job, "state_reason");
    if !reason.is_empty() {
        line.push_str(&format!(" reason={reason:?}"));
    }
    line
}

/// Runs `weir ARGS -o json` against the master; returns the parsed stdout and whether it
/// exited 0.
pub fn cli_json(master: &Master, args: &[&str]) -> (Value, bool, String) {
    let mut all = args.to_vec();
    all.extend(["-o", "json"]);
    let output = master.cli(&all);
    let described = describe(&all, &output);
    let value = serde_json::from_slice(&output.stdout)
        .unwrap_or_else(|error| master.fail(format!("stdout is not JSON ({error}): {described}")));
    (value, output.status.success(), described)
}
