//! `weir stop` and `weir submit --restore`: exactly-once over both runs.

use std::collections::BTreeSet;

use weir_e2e::cluster::Worker;
use weir_e2e::stack::list_recursive;

use super::*;

/// Records produced before each run.
const BATCH: u64 = 50_000;
/// Slow enough that the stop comes before the first batch is read.
const ROWS_PER_SECOND: u64 = 10_000;

/// `weir stop ID -o json`: asserts exit 0, state Stopped and a checkpoint id; returns that id.
fn stop(scenario: &Scenario, master: &Master, job_id: &str) -> u64 {
    let started = Instant::now();
    let (stopped, success, described) = cli_json(master, &["stop", job_id]);
    scenario.say(format!(
        "`weir stop {job_id}` took {:.1?}: {stopped}",
        started.elapsed()
    ));
    master.check(success && text(&stopped, "state") == "Stopped", || {
        format!("`weir stop` should exit 0 with the job Stopped: {described}")
    });
    let checkpoint = u64_of(&stopped, "checkpoint_id");
    master.check(checkpoint >= 1, || {
        format!("`weir stop` should name the final checkpoint (checkpoint_id ≥ 1): {described}")
    });
    let job = master.job(job_id);
    master.check(text(&job, "state") == "Stopped", || {
        format!("after `weir stop`, `weir job` should show Stopped: {job:#}")
    });
    master.check(checkpoints(&job).last_completed_id == checkpoint, || {
        format!(
            "`weir stop` named checkpoint {checkpoint}, `weir job` a last completed checkpoint {}: {}",
            checkpoints(&job).last_completed_id,
            status_line(&job)
        )
    });
    checkpoint
}

/// 50 000 records; Kafka → HdfsFile (json, gzip), stopped with `weir stop` mid-run once a
/// checkpoint completed: exit 0, Stopped, and what is committed then is a prefix of every
/// partition with no duplicates and nothing in-progress. 50 000 more records; `weir submit FILE
/// --restore ID --wait` resumes from the stop's checkpoint, reads to the end and is stopped
/// again: all 100 000 ids exactly once across both runs' files.
#[test]
fn stop_restore() {
    let name = "stop_restore";
    let format = Format::Json;
    let codec = Codec::Gzip;
    let _hdfs = hdfs_shared();
    let scenario = Scenario::new(name);
    scenario.produce(format, 0..BATCH);

    let master = Master::start_default(name);
    let _worker = Worker::start(&master, "w-stop-restore", WORKER_MEMORY);
    let mut job = JobFile::new(format, ROWS_PER_SECOND);
    job.codec = codec;
    let job_file = job.write(&scenario, &master);
    let first = master.submit(&job_file);
    scenario.say(format!("submitted job {first}"));
    wait_running(&scenario, &master, &first, None, START);
    let before = wait_first_checkpoint(&scenario, &master, &first);
    scenario.say(format!("stopping mid-run: {}", status_line(&before)));
    let stopped_at = stop(&scenario, &master, &first);

    let committed = scenario
        .committed(format, codec)
        .unwrap_or_else(|error| master.fail(error));
    scenario.say(format!(
        "after the stop at checkpoint {stopped_at}: {}",
        committed.summary()
    ));
    committed
        .check_no_duplicates()
        .unwrap_or_else(|error| master.fail(error));
    let prefixes = committed
        .check_partition_prefixes()
        .unwrap_or_else(|error| master.fail(error));
    master.check(committed.rows() > 0, || {
        "nothing was committed by the stop's final checkpoint".to_string()
    });
    scenario.say(format!(
        "committed by the first run: the first {prefixes:?} records of each partition"
    ));

    scenario.produce(format, BATCH..2 * BATCH);
    let ends = scenario.end_offsets();
    // `weir stop` returns once the final checkpoint is committed: nothing may be committed
    // after it. Checked again here, before the restore; reported at the end, so that it does
    // not hide what the restore does.
    let mut deferred = Vec::new();
    let listed_again: BTreeSet<String> = list_recursive(&scenario.path())
        .unwrap_or_else(|error| master.fail(error))
        .into_iter()
        .map(|entry| entry.path)
        .collect();
    let late: Vec<String> = listed_again
        .difference(&committed.paths())
        .cloned()
        .collect();
    if !late.is_empty() {
        deferred.push(format!(
            "files were committed after `weir stop {first}` had returned Stopped at checkpoint {stopped_at} (the stop must wait until its final checkpoint is committed): {late:?}; right after the stop only the first {prefixes:?} records of each partition were committed"
        ));
        scenario.say(format!("WRONG (checked at the end): {}", deferred[0]));
    }
    let file = job_file.display().to_string();
    let started = Instant::now();
    let (submitted, success, described) =
        cli_json(&master, &["submit", &file, "--restore", &first, "--wait"]);
    master.check(success, || {
        format!(
            "`weir submit --restore {first} --wait` should exit 0 once the job runs: {described}"
        )
    });
    let second = text(&submitted, "job_id");
    master.check(!second.is_empty(), || {
        format!("`weir submit --restore` printed no job_id: {described}")
    });
    scenario.say(format!(
        "restored as job {second} in {:.1?}",
        started.elapsed()
    ));
    let running = wait_running(&scenario, &master, &second, None, START);
    master.check(checkpoints(&running).restored_from_id == stopped_at, || {
        format!(
            "the restored job should resume from the stop's checkpoint {stopped_at} (checkpoints.restored_from_id): {}",
            status_line(&running)
        )
    });

    let settled = wait_caught_up(&scenario, &master, &second, &ends);
    let last_checkpoint = checkpoints(&settled).last_completed_id.max(stopped_at);
    let final_checkpoint = stop(&scenario, &master, &second);
    let committed = check_exactly_once(&scenario, &master, None, format, codec, 0..2 * BATCH);
    committed
        .check_file_names(
            &[&first, &second],
            PARALLELISM,
            last_checkpoint.max(final_checkpoint),
        )
        .unwrap_or_else(|error| master.fail(error));
    scenario.say(format!(
        "every id 0..{} committed exactly once over both runs ({})",
        2 * BATCH,
        committed.summary()
    ));
    master.check(deferred.is_empty(), || deferred.join("\n"));
}
