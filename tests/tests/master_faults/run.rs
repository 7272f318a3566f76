//! What every master-fault test does: a Kafka → HdfsFile job of a [`Scenario`], waiting on
//! `weir job`, a master aborted at a fault point and started again, and the final exactly-once
//! check after `weir stop`.

use std::collections::BTreeMap;
use std::os::unix::process::ExitStatusExt as _;
use std::time::{Duration, Instant};

use serde_json::Value;
use weir_e2e::cluster::{Master, describe, write_file};
use weir_e2e::exactly_once::{Codec, Committed, Format, Scenario};
use weir_e2e::job_json::{is_terminal, splits, tasks, text, u64_of};

/// `env.parallelism` of every job (≥ 2, so that "some acks" lies between none and all).
pub(crate) const PARALLELISM: u64 = 2;
/// `env.checkpoint.interval` of every job, in ms.
pub(crate) const CHECKPOINT_INTERVAL_MS: u64 = 1000;
/// Memory limit of every test worker.
pub(crate) const WORKER_MEMORY: &str = "1GiB";
/// What the jobs write (and the checker reads back).
pub(crate) const FORMAT: Format = Format::Text;

/// Bound for a job to run (also again after a master restart and recovery).
pub(crate) const START: Duration = Duration::from_secs(90);
/// Bound for an armed fault point to be reached and the master to abort.
pub(crate) const ABORT: Duration = Duration::from_secs(90);
/// Bound for reading a whole backlog (debug builds on a loaded machine).
pub(crate) const CATCH_UP: Duration = Duration::from_secs(300);
/// How often a waiting test prints the job's state even when nothing changed.
const PROGRESS_EVERY: Duration = Duration::from_secs(10);

/// A scenario of this binary: topic `weir-mf-<name>-…`, files under
/// `/weir-e2e/master-faults/<name>-…`.
pub(crate) fn scenario(name: &'static str) -> Scenario {
    Scenario::in_suite("master-faults", "weir-mf", name)
}

/// The Kafka → HdfsFile job of `scenario`, reading at most `rows_per_second` job-wide, with
/// further `env` lines.
pub(crate) fn job_text(scenario: &Scenario, rows_per_second: u64, env: &[&str]) -> String {
    let env: String = env.iter().map(|line| format!("  {line}\n")).collect();
    let source: String = FORMAT
        .source_lines()
        .iter()
        .map(|line| format!("    {line}\n"))
        .collect();
    format!(
        r#"env {{
  parallelism = {PARALLELISM}
  job.mode = "STREAMING"
  checkpoint.interval = {CHECKPOINT_INTERVAL_MS}
  read_limit.rows_per_second = {rows_per_second}
  job.retry.times = 10
  job.retry.interval.seconds = 1
{env}}}
source {{
  Kafka {{
    bootstrap.servers = "{bootstrap}"
    topic = "{topic}"
    consumer.group = "{group}"
    start_mode = "earliest"
{source}  }}
}}
sink {{
  HdfsFile {{
    fs.defaultFS = "{hdfs}"
    path = "{path}"
    file_format_type = "{format}"
  }}
}}
"#,
        bootstrap = scenario.bootstrap,
        topic = scenario.topic.name(),
        group = weir_e2e::unique_name("weir-mf-group"),
        hdfs = scenario.hdfs,
        path = scenario.path(),
        format = FORMAT.option(),
    )
}

/// Writes the job file into the master's directory and submits it; returns the job id.
pub(crate) fn submit(
    scenario: &Scenario,
    master: &Master,
    rows_per_second: u64,
    env: &[&str],
) -> String {
    let text = job_text(scenario, rows_per_second, env);
    let path = write_file(master.dir(), &format!("{}.conf", scenario.name), &text);
    let job_id = master.submit(&path);
    scenario.say(format!("submitted job {job_id}"));
    job_id
}

/// The `checkpoints` figures of `weir job -o json`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Checkpoints {
    pub(crate) last_completed_id: u64,
    pub(crate) completed: u64,
    pub(crate) failed: u64,
    pub(crate) last_failure: String,
    pub(crate) last_completed_path: String,
}

pub(crate) fn checkpoints(job: &Value) -> Checkpoints {
    let stats = &job["checkpoints"];
    Checkpoints {
        last_completed_id: u64_of(stats, "last_completed_id"),
        completed: u64_of(stats, "completed"),
        failed: u64_of(stats, "failed"),
        last_failure: text(stats, "last_failure"),
        last_completed_path: text(stats, "last_completed_path"),
    }
}

/// One line about the job: state, lag, checkpoints, where its tasks run.
pub(crate) fn status_line(job: &Value) -> String {
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
        "{} lag={} written={} checkpoints: last={} completed={} failed={} tasks=[{}]",
        text(job, "state"),
        job["consumer_lag"],
        job["rows_written"],
        cp.last_completed_id,
        cp.completed,
        cp.failed,
        tasks.join(" ")
    );
    if !cp.last_failure.is_empty() {
        line.push_str(&format!(" last_failure={:?}", cp.last_failure));
    }
    line
}

/// Polls `weir job` until `condition(job)` holds, printing the job's status line when it
/// changes; fails if the job ends before.
pub(crate) fn wait_job(
    scenario: &Scenario,
    master: &Master,
    job_id: &str,
    what: &str,
    timeout: Duration,
    mut condition: impl FnMut(&Value) -> bool,
) -> Value {
    let mut last_line = String::new();
    let mut last_print = Instant::now();
    let job = master.wait_until(&format!("job {job_id}: {what}"), timeout, || {
        let job = master.try_job(job_id)?;
        let cp = checkpoints(&job);
        let line = format!(
            "{} {} {} {:?}",
            text(&job, "state"),
            cp.last_completed_id,
            cp.failed,
            tasks(&job)
                .iter()
                .map(|task| text(task, "state"))
                .collect::<Vec<_>>()
        );
        if line != last_line || last_print.elapsed() >= PROGRESS_EVERY {
            scenario.say(format!("waiting until {what}: {}", status_line(&job)));
            last_line = line;
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

/// Whether the job and all its tasks run.
pub(crate) fn all_running(job: &Value) -> bool {
    let tasks = tasks(job);
    text(job, "state") == "Running"
        && tasks.len() as u64 == PARALLELISM
        && tasks.iter().all(|task| task["state"] == "Running")
}

/// Waits until the job and all its tasks run.
pub(crate) fn wait_running(scenario: &Scenario, master: &Master, job_id: &str) -> Value {
    wait_job(
        scenario,
        master,
        job_id,
        "the job and its tasks are Running",
        START,
        all_running,
    )
}

/// Waits until the job runs and has read everything: `consumer_lag` 0, every split at its end
/// offset, nothing queued.
pub(crate) fn wait_caught_up(
    scenario: &Scenario,
    master: &Master,
    job_id: &str,
    ends: &BTreeMap<String, i64>,
) -> Value {
    wait_job(
        scenario,
        master,
        job_id,
        &format!("the job has read to the end offsets {ends:?}"),
        CATCH_UP,
        |job| {
            let positions: BTreeMap<String, (i64, i64)> = splits(job)
                .iter()
                .map(|split| {
                    let high = split["high_watermark"].as_i64().unwrap_or(-1);
                    let lag = split["lag"].as_i64().unwrap_or(-1);
                    (text(split, "split"), (high, lag))
                })
                .collect();
            all_running(job)
                && job["consumer_lag"].as_i64() == Some(0)
                && u64_of(job, "queue_rows") == 0
                && ends.iter().all(|(split, end)| {
                    positions
                        .get(split)
                        .is_some_and(|&(high, lag)| high == *end && lag == 0)
                })
        },
    )
}

/// Waits until the master, armed with `WEIR_FAULT_ABORT_AT=<point>…`, aborted there: killed by
/// SIGABRT, its log naming the point. Then starts it again, unarmed, on the same data directory.
pub(crate) fn expect_abort_and_restart(scenario: &Scenario, master: &mut Master, point: &str) {
    let status = master.wait_exited(ABORT).unwrap_or_else(|error| {
        master.fail(format!("the fault point {point} was not reached: {error}"))
    });
    let logs = master.logs();
    master.check(
        status.signal() == Some(SIGABRT)
            && logs.contains(&format!("aborting at fault point {point}")),
        || format!("the master should have aborted at fault point {point} (SIGABRT); it exited with {status}"),
    );
    scenario.say(format!(
        "the master aborted at {point} ({status}); starting it again"
    ));
    master.options_mut().env.clear();
    master.restart();
}

/// The signal `std::process::abort` ends a process with (Linux).
const SIGABRT: i32 = 6;

/// `weir stop JOB` (which returns once the final checkpoint is committed and the job
/// Stopped), then reads everything committed and checks every id of `0..records` is there
/// exactly once, nothing else is visible under the sink's path, and the file names follow the
/// contract (no two files share a job, subtask, checkpoint and sequence number). Returns what
/// is committed.
pub(crate) fn stop_and_check(
    scenario: &Scenario,
    master: &Master,
    job_id: &str,
    records: u64,
) -> Committed {
    let args = ["stop", job_id, "-o", "json"];
    let output = master.cli(&args);
    let described = describe(&args, &output);
    master.check(output.status.success(), || {
        format!("`weir stop` should exit 0: {described}")
    });
    let job = master.job(job_id);
    master.check(text(&job, "state") == "Stopped", || {
        format!(
            "after `weir stop` the job should be Stopped: {}",
            status_line(&job)
        )
    });
    scenario.say(format!("stopped: {}", status_line(&job)));
    check_committed(scenario, master, job_id, &job, records)
}

/// Reads everything committed (the job `job` having ended) and checks it, as
/// [`stop_and_check`] does.
pub(crate) fn check_committed(
    scenario: &Scenario,
    master: &Master,
    job_id: &str,
    job: &Value,
    records: u64,
) -> Committed {
    let committed = scenario
        .committed(FORMAT, Codec::None)
        .unwrap_or_else(|error| master.fail(error));
    scenario.say(format!("read back: {}", committed.summary()));
    committed
        .check_exactly_once(0..records)
        .unwrap_or_else(|error| master.fail(error));
    committed
        .check_file_names(&[job_id], PARALLELISM, checkpoints(job).last_completed_id)
        .unwrap_or_else(|error| master.fail(error));
    committed
}
