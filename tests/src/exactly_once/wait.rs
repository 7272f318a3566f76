//! Waiting for the job: polling `weir job` until a condition holds, and the final
//! exactly-once check.

use std::collections::BTreeMap;
use std::ops::Range;
use std::time::{Duration, Instant};

use crate::cluster::Master;
use serde_json::Value;

use super::job_json::{checkpoints, is_terminal, splits, status_line, tasks, text, u64_of};
use super::scenario::Scenario;
use super::support::{Codec, Committed, Format};
use super::{CATCH_UP, FIRST_CHECKPOINT, PARALLELISM, PROGRESS_EVERY, SETTLE};

/// Polls `weir job` until `condition(job)` holds; prints the job's status line whenever the
/// parts that matter change (and every 10 s); fails at once if the job ends.
pub fn wait_job(
    scenario: &Scenario,
    master: &Master,
    job_id: &str,
    what: &str,
    timeout: Duration,
    mut condition: impl FnMut(&Value) -> bool,
) -> Value {
    let mut last_key = String::new();
    let mut last_print = Instant::now();
    let job = master.wait_until(&format!("job {job_id}: {what}"), timeout, || {
        let job = master.try_job(job_id)?;
        // Print on a change of state, checkpoint or placement (not of every counter).
        let cp = checkpoints(&job);
        let key = format!(
            "{} {} {} {:?}",
            text(&job, "state"),
            cp.last_completed_id,
            cp.failed,
            tasks(&job)
                .iter()
                .map(|task| (text(task, "worker_id"), text(task, "state")))
                .collect::<Vec<_>>()
        );
        if key != last_key || last_print.elapsed() >= PROGRESS_EVERY {
            scenario.say(format!("waiting until {what}: {}", status_line(&job)));
            last_key = key;
            last_print = Instant::now();
        }
        if condition(&job) {
            return Ok(job);
        }
        if is_terminal(&text(&job, "state")) {
            master.fail(format!(
                "job {job_id} ended while waiting until {what}: {job:#}"
            ));
        }
        Err(status_line(&job))
    });
    scenario.say(format!("done: {what}"));
    job
}

/// Whether the job and all its tasks (its `parallelism`, `PARALLELISM` unless the job says)
/// are Running (on `worker`, when given).
pub fn all_running(job: &Value, worker: Option<&str>) -> bool {
    let tasks = tasks(job);
    let parallelism = job["parallelism"].as_u64().unwrap_or(PARALLELISM);
    text(job, "state") == "Running"
        && tasks.len() as u64 == parallelism
        && tasks.iter().all(|task| {
            task["state"] == "Running" && worker.is_none_or(|id| task["worker_id"] == id)
        })
}

/// Waits until the job and all its tasks run (on `worker`, when given).
pub fn wait_running(
    scenario: &Scenario,
    master: &Master,
    job_id: &str,
    worker: Option<&str>,
    timeout: Duration,
) -> Value {
    let what = match worker {
        Some(worker) => format!("the job and all its tasks are Running on {worker}"),
        None => "the job and all its tasks are Running".to_string(),
    };
    wait_job(scenario, master, job_id, &what, timeout, |job| {
        all_running(job, worker)
    })
}

/// Waits until the running job has completed a checkpoint and written rows, and checks it has
/// not read everything yet (so what follows happens mid-run).
pub fn wait_first_checkpoint(scenario: &Scenario, master: &Master, job_id: &str) -> Value {
    let job = wait_job(
        scenario,
        master,
        job_id,
        "≥ 1 checkpoint completed and rows written",
        FIRST_CHECKPOINT,
        |job| {
            all_running(job, None)
                && checkpoints(job).last_completed_id >= 1
                && u64_of(job, "rows_written") > 0
        },
    );
    let lag = job["consumer_lag"].as_i64().unwrap_or(-1);
    master.check(lag > 0, || {
        format!(
            "the job had already read everything (consumer_lag {lag}) by its first checkpoint, so the fault would not happen mid-run; lower read_limit.rows_per_second: {}",
            status_line(&job)
        )
    });
    job
}

/// Waits until the job has read everything (`consumer_lag` 0, every split at its end offset,
/// nothing queued), then until two more checkpoints completed: the second was triggered after
/// everything had been read, so once it is committed the committed files are complete.
pub fn wait_caught_up(
    scenario: &Scenario,
    master: &Master,
    job_id: &str,
    ends: &BTreeMap<String, i64>,
) -> Value {
    let caught_up = wait_job(
        scenario,
        master,
        job_id,
        &format!(
            "consumer_lag is 0 and the {} splits are at their end offsets {:?}",
            ends.len(),
            ends.values().collect::<Vec<_>>()
        ),
        CATCH_UP,
        |job| {
            let positions: BTreeMap<String, (i64, i64)> = splits(job)
                .iter()
                .map(|split| {
                    (
                        text(split, "split"),
                        (
                            split["high_watermark"].as_i64().unwrap_or(-1),
                            split["lag"].as_i64().unwrap_or(-1),
                        ),
                    )
                })
                .collect();
            all_running(job, None)
                && job["consumer_lag"].as_i64() == Some(0)
                && u64_of(job, "queue_rows") == 0
                && ends.iter().all(|(split, end)| {
                    positions
                        .get(split)
                        .is_some_and(|&(high, lag)| high == *end && lag == 0)
                })
        },
    );
    let at = checkpoints(&caught_up).last_completed_id;
    wait_job(
        scenario,
        master,
        job_id,
        &format!(
            "checkpoint {} completed (2 after catching up at {at})",
            at + 2
        ),
        SETTLE,
        |job| checkpoints(job).last_completed_id >= at + 2,
    )
}

/// Reads the committed files and checks every id of `expected` is there exactly once and
/// nothing else is, and that the file names follow the contract. When only ids are missing and
/// the job still runs, it waits two more checkpoints and reads again, to tell "late" from "lost".
pub fn check_exactly_once(
    scenario: &Scenario,
    master: &Master,
    running_job: Option<&str>,
    format: Format,
    codec: Codec,
    expected: Range<u64>,
) -> Committed {
    let read = || {
        scenario
            .committed(format, codec)
            .unwrap_or_else(|error| master.fail(error))
    };
    let committed = read();
    scenario.say(format!("read back: {}", committed.summary()));
    let Err(problem) = committed.check_exactly_once(expected.clone()) else {
        return committed;
    };
    let only_missing = committed.check_no_duplicates().is_ok()
        && committed.distinct().iter().all(|id| expected.contains(id));
    if let (true, Some(job_id)) = (only_missing, running_job) {
        scenario.say(format!("{problem}\nwaiting two more checkpoints to see whether the missing rows are late or lost"));
        let job = master.job(job_id);
        let at = checkpoints(&job).last_completed_id;
        wait_job(
            scenario,
            master,
            job_id,
            &format!("checkpoint {} completed", at + 2),
            SETTLE,
            |job| checkpoints(job).last_completed_id >= at + 2,
        );
        let again = read();
        match again.check_exactly_once(expected) {
            Ok(()) => master.fail(format!(
                "the committed files were incomplete when the job had caught up and two checkpoints had completed since; two checkpoints later they are complete (files are committed late): first read: {problem}"
            )),
            Err(still) => master.fail(format!(
                "rows are lost: still missing two checkpoints later.\nfirst read: {problem}\nsecond read: {still}\njob: {}",
                status_line(&master.job(job_id))
            )),
        }
    }
    master.fail(problem)
}

/// Waits until job `job_id` has read to `ends` and checkpointed, then checks that every id of
/// `expected` is committed exactly once (plain files of `format`) under names of this job.
/// Returns the settled job and what is committed.
pub fn settle_and_check_job(
    scenario: &Scenario,
    master: &Master,
    job_id: &str,
    ends: &BTreeMap<String, i64>,
    format: Format,
    expected: Range<u64>,
) -> (Value, Committed) {
    settle_and_check_job_codec(
        scenario,
        master,
        job_id,
        ends,
        (format, Codec::None),
        expected,
    )
}

/// [`settle_and_check_job`] for a job whose sink compresses with `codec`.
pub fn settle_and_check_job_codec(
    scenario: &Scenario,
    master: &Master,
    job_id: &str,
    ends: &BTreeMap<String, i64>,
    (format, codec): (Format, Codec),
    expected: Range<u64>,
) -> (Value, Committed) {
    let settled = wait_caught_up(scenario, master, job_id, ends);
    let committed = check_exactly_once(scenario, master, Some(job_id), format, codec, expected);
    committed
        .check_file_names(
            &[job_id],
            PARALLELISM,
            checkpoints(&settled).last_completed_id,
        )
        .unwrap_or_else(|error| master.fail(error));
    (settled, committed)
}
