//! The master aborted at each of 10 points of a checkpoint cycle, then started again on the
//! same data directory: the job goes on, and after `weir stop` every id is committed exactly
//! once.

use weir_e2e::cluster::{Master, MasterOptions, Worker};

use crate::run::{
    FORMAT, WORKER_MEMORY, check_committed, expect_abort_and_restart, scenario, status_line,
    stop_and_check, submit, wait_caught_up, wait_job,
};
use crate::stack_shared;

/// Records produced before the job starts.
const RECORDS: u64 = 12_000;
/// Job-wide read limit: the records take ≥ 6 s, so the faults (from the second checkpoint on)
/// come mid-run.
const ROWS_PER_SECOND: u64 = 2_000;
/// `WEIR_FAULT_ABORT_AT`: the master's test hook.
const FAULT_ENV: &str = "WEIR_FAULT_ABORT_AT";

/// A master armed to abort the `occurrence`-th time it reaches `point`, a worker, the job;
/// the master aborts, is started again, the job reads to the end and is stopped; every id is
/// committed exactly once.
fn killed_at(name: &'static str, point: &str, occurrence: u32) {
    let _stack = stack_shared();
    let scenario = scenario(name);
    scenario.produce(FORMAT, 0..RECORDS);
    let ends = scenario.end_offsets();
    let options = MasterOptions {
        env: vec![(FAULT_ENV.to_string(), format!("{point}:{occurrence}"))],
        ..MasterOptions::default()
    };
    let mut master = Master::start(name, options);
    let _worker = Worker::start(
        &master,
        &format!("w-{}", name.replace('_', "-")),
        WORKER_MEMORY,
    );
    let job_id = submit(&scenario, &master, ROWS_PER_SECOND, &[]);

    expect_abort_and_restart(&scenario, &mut master, point);
    let job = wait_caught_up(&scenario, &master, &job_id, &ends);
    scenario.say(format!(
        "caught up after the restart: {}",
        status_line(&job)
    ));
    let committed = stop_and_check(&scenario, &master, &job_id, RECORDS);
    scenario.say(format!(
        "every id 0..{RECORDS} committed exactly once across the abort at {point} ({})",
        committed.summary()
    ));
}

#[test]
fn master_killed_before_trigger() {
    killed_at("master_killed_before_trigger", "before-trigger", 2);
}

#[test]
fn master_killed_after_trigger_sent() {
    killed_at("master_killed_after_trigger_sent", "trigger-sent", 2);
}

#[test]
fn master_killed_after_some_acks() {
    killed_at("master_killed_after_some_acks", "some-acks", 2);
}

#[test]
fn master_killed_after_all_acks() {
    killed_at("master_killed_after_all_acks", "all-acks", 2);
}

#[test]
fn master_killed_after_checkpoint_storage_write() {
    killed_at(
        "master_killed_after_checkpoint_storage_write",
        "storage-written",
        2,
    );
}

#[test]
fn master_killed_after_job_store_write_the_commit_point() {
    killed_at(
        "master_killed_after_job_store_write_the_commit_point",
        "store-written",
        2,
    );
}

#[test]
fn master_killed_after_first_commit_sent() {
    killed_at("master_killed_after_first_commit_sent", "first-commit", 2);
}

#[test]
fn master_killed_after_all_commits() {
    killed_at("master_killed_after_all_commits", "all-commits", 2);
}

#[test]
fn master_killed_after_checkpoint_committed() {
    killed_at("master_killed_after_checkpoint_committed", "committed", 2);
}

/// The stop's final checkpoint is recorded in the job store when the master aborts, before
/// its commits: after the restart the job is placed again from it (re-committing its files),
/// the stop is taken again, and the job ends Stopped with every id committed exactly once.
#[test]
fn master_killed_during_stop_final_checkpoint() {
    let name = "master_killed_during_stop_final_checkpoint";
    let point = "stop-recorded";
    let _stack = stack_shared();
    let scenario = scenario(name);
    scenario.produce(FORMAT, 0..RECORDS);
    let ends = scenario.end_offsets();
    let options = MasterOptions {
        env: vec![(FAULT_ENV.to_string(), format!("{point}:1"))],
        ..MasterOptions::default()
    };
    let mut master = Master::start(name, options);
    let _worker = Worker::start(&master, "w-stop-final", WORKER_MEMORY);
    let job_id = submit(&scenario, &master, ROWS_PER_SECOND, &[]);
    wait_caught_up(&scenario, &master, &job_id, &ends);

    // The stop's final checkpoint is where the master dies: the command fails with it.
    let stop = master.cli(&["stop", &job_id]);
    scenario.say(format!(
        "`weir stop` ended with {} as the master died",
        stop.status
    ));
    expect_abort_and_restart(&scenario, &mut master, point);
    let job = wait_job(
        &scenario,
        &master,
        &job_id,
        "the job is Stopped (the stop taken again after the restart)",
        crate::run::CATCH_UP,
        |job| job["state"] == "Stopped",
    );
    let committed = check_committed(&scenario, &master, &job_id, &job, RECORDS);
    scenario.say(format!(
        "every id 0..{RECORDS} committed exactly once across the abort during the stop ({})",
        committed.summary()
    ));
}
