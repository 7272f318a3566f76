//! Exactly-once across a NameNode outage.

use weir_e2e::cluster::Worker;
use weir_e2e::stack::ServiceOutage;

use super::*;

const RECORDS: u64 = 200_000;
const ROWS_PER_SECOND: u64 = 20_000;
/// How long a failure of the job may take to show once the NameNode is down.
const NOTICE: Duration = Duration::from_secs(120);
/// The outage lasts at least this many checkpoint intervals.
const OUTAGE_INTERVALS: u32 = 3;

/// What in `weir job` shows the job noticed HDFS is gone: a failed checkpoint, a task that
/// failed or restarted, the job recovering, or a task's last error.
fn failure_seen(job: &Value, failed_before: u64, attempts_before: &[u64]) -> Option<String> {
    let cp = checkpoints(job);
    if cp.failed > failed_before {
        return Some(format!(
            "checkpoint failures {failed_before} → {} (last_failure {:?})",
            cp.failed, cp.last_failure
        ));
    }
    let state = text(job, "state");
    if state != "Running" {
        return Some(format!("job state {state} ({})", text(job, "state_reason")));
    }
    for (index, task) in tasks(job).iter().enumerate() {
        let task_state = text(task, "state");
        if task_state != "Running" {
            return Some(format!(
                "subtask {index} is {task_state} ({})",
                text(task, "state_reason")
            ));
        }
        if attempts_before
            .get(index)
            .is_some_and(|&before| u64_of(task, "attempt") > before)
        {
            return Some(format!(
                "subtask {index} was restarted (attempt {})",
                task["attempt"]
            ));
        }
        let error = text(&task["metrics"], "last_error");
        if !error.is_empty() {
            return Some(format!("subtask {index} reports last_error {error:?}"));
        }
    }
    None
}

/// 200 000 records; Kafka → HdfsFile (text). Once the job has completed a checkpoint, the
/// NameNode is stopped (`deploy/local/stack stop namenode`) until `weir job` shows a failed
/// checkpoint or task and at least 3 checkpoint intervals have passed, then started again. The
/// job (job.retry.times = 10, job.retry.interval.seconds = 2) must run again, read to the end,
/// and the committed files must hold every id exactly once.
///
/// Holds HDFS exclusively: the other tests of this binary wait while it runs.
#[test]
fn hdfs_restart() {
    let name = "hdfs_restart";
    let format = Format::Text;
    let _hdfs = hdfs_exclusive();
    let scenario = Scenario::new(name);
    scenario.produce(format, 0..RECORDS);
    let ends = scenario.end_offsets();

    let master = Master::start_default(name);
    let _worker = Worker::start(&master, "w-hdfs-restart", WORKER_MEMORY);
    let mut job = JobFile::new(format, ROWS_PER_SECOND);
    // A checkpoint stuck on the dead NameNode fails within 10 s rather than the default.
    job.env.push("checkpoint.timeout = 10000".to_string());
    let job_id = job.submit(&scenario, &master);
    wait_running(&scenario, &master, &job_id, None, START);
    let before = wait_first_checkpoint(&scenario, &master, &job_id);
    let failed_before = checkpoints(&before).failed;
    let attempts_before: Vec<u64> = tasks(&before)
        .iter()
        .map(|task| u64_of(task, "attempt"))
        .collect();

    scenario.say(format!(
        "stopping the NameNode mid-run: {}",
        status_line(&before)
    ));
    let mut outage = ServiceOutage::begin("namenode");
    let noticed = master.wait_until(
        &format!("job {job_id} shows a failed checkpoint or task while the NameNode is down"),
        NOTICE,
        || {
            let job = master.try_job(&job_id)?;
            match failure_seen(&job, failed_before, &attempts_before) {
                Some(seen) => Ok((seen, job)),
                None => Err(status_line(&job)),
            }
        },
    );
    scenario.say(format!(
        "{:.1?} into the outage the job noticed: {}; {}",
        outage.elapsed(),
        noticed.0,
        status_line(&noticed.1)
    ));
    master.check(text(&noticed.1, "state") != "Failed", || {
        format!(
            "the job failed for good instead of retrying (job.retry.times = 10): {:#}",
            noticed.1
        )
    });
    // The outage itself is the scenario: hold it for a few checkpoint intervals.
    let minimum = Duration::from_millis(CHECKPOINT_INTERVAL_MS) * OUTAGE_INTERVALS;
    if let Some(left) = minimum.checked_sub(outage.elapsed()) {
        std::thread::sleep(left);
    }
    let during = master.job(&job_id);
    scenario.say(format!(
        "starting the NameNode again after {:.1?}: {}",
        outage.elapsed(),
        status_line(&during)
    ));
    outage.end();

    wait_running(&scenario, &master, &job_id, None, START);
    let (settled, committed) =
        settle_and_check_job(&scenario, &master, &job_id, &ends, format, 0..RECORDS);
    scenario.say(format!(
        "every id 0..{RECORDS} committed exactly once across the NameNode outage ({}; checkpoints failed during it: {})",
        committed.summary(),
        checkpoints(&settled).failed - failed_before
    ));
}
