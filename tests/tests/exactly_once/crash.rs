//! Exactly-once across a worker crash, for `text`, `json` and `parquet` (snappy).

use weir_e2e::cluster::Worker;

use super::*;

/// Records produced before the job starts.
const RECORDS: u64 = 200_000;
/// Job-wide read limit: the 200 000 records take ≥ 10 s, so the crash comes mid-run.
const ROWS_PER_SECOND: u64 = 20_000;

/// 200 000 records with unique ids in 4 partitions; Kafka → HdfsFile with parallelism 2 on
/// worker A. Once the job has completed a checkpoint and written rows (and has not read
/// everything), worker A is killed with SIGKILL and worker B started. The job must run again on
/// B (restored from a completed checkpoint), read to the end, and the committed files must hold
/// every id exactly once, with nothing else visible under `path`.
fn crash_and_recover(name: &'static str, format: Format, codec: Codec) {
    let _hdfs = hdfs_shared();
    let scenario = Scenario::new(name);
    scenario.produce(format, 0..RECORDS);
    let ends = scenario.end_offsets();

    let master = Master::start_default(name);
    let mut worker_a = Worker::start(&master, "w-a", WORKER_MEMORY);
    let mut job = JobFile::new(format, ROWS_PER_SECOND);
    job.codec = codec;
    let job_id = job.submit(&scenario, &master);
    wait_running(&scenario, &master, &job_id, Some(worker_a.id()), START);
    let before = wait_first_checkpoint(&scenario, &master, &job_id);
    let attempts_before: Vec<u64> = tasks(&before)
        .iter()
        .map(|task| u64_of(task, "attempt"))
        .collect();

    scenario.say(format!(
        "kill -9 worker A (pid {}) mid-run: {}",
        worker_a.pid(),
        status_line(&before)
    ));
    worker_a.kill_9();
    let killed = Instant::now();
    let worker_b = Worker::start(&master, "w-b", WORKER_MEMORY);
    let recovered = wait_running(&scenario, &master, &job_id, Some(worker_b.id()), START);
    scenario.say(format!(
        "running again on worker B {:.1?} after the kill",
        killed.elapsed()
    ));
    for (task, before) in tasks(&recovered).iter().zip(&attempts_before) {
        master.check(u64_of(task, "attempt") > *before, || {
            format!(
                "subtask {} runs on worker B but its attempt did not grow past {before}: {task:#}",
                task["subtask_index"]
            )
        });
    }
    // Recovery resumes from the last completed checkpoint, which survives the crash.
    let (kept, had) = (
        checkpoints(&recovered).last_completed_id,
        checkpoints(&before).last_completed_id,
    );
    master.check(kept >= had, || {
        format!(
            "the last completed checkpoint went back from {had} to {kept} across the crash: {}",
            status_line(&recovered)
        )
    });

    let (_, committed) = settle_and_check_job_codec(
        &scenario,
        &master,
        &job_id,
        &ends,
        (format, codec),
        0..RECORDS,
    );
    scenario.say(format!(
        "every id 0..{RECORDS} committed exactly once across the crash ({})",
        committed.summary()
    ));
}

#[test]
fn crash_text() {
    crash_and_recover("crash_text", Format::Text, Codec::None);
}

#[test]
fn crash_json() {
    crash_and_recover("crash_json", Format::Json, Codec::None);
}

/// Parquet files are written whole (footer included) at every checkpoint, so a crash leaves
/// only in-progress files, which recovery deletes; pyarrow and DuckDB read every committed one.
#[test]
fn crash_parquet() {
    crash_and_recover("crash_parquet", Format::Parquet, Codec::Snappy);
}
