//! SIGTERM — how systemd and Kubernetes stop a process — to a worker and to the master under load.

use weir_e2e::cluster::{MasterOptions, Worker};
use weir_e2e::exactly_once::job_json::{checkpoints, status_line, tasks, u64_of};
use weir_e2e::exactly_once::support::Format;
use weir_e2e::exactly_once::wait::{settle_and_check_job, wait_first_checkpoint, wait_running};
use weir_e2e::exactly_once::{JobFile, START, WORKER_MEMORY};

use super::*;

/// Bound for a process to exit after SIGTERM.
const EXIT: Duration = Duration::from_secs(30);

/// The attempt of every task of `job`.
fn attempts(job: &serde_json::Value) -> Vec<u64> {
    tasks(job)
        .iter()
        .map(|task| u64_of(task, "attempt"))
        .collect()
}

/// 100 000 records; Kafka → HdfsFile (json) with parallelism 2 on worker `w-leaving`, under a
/// master whose heartbeat timeout is 30 s. Mid-run, with worker `w-b` up, `w-leaving` gets
/// SIGTERM: it must log `shutting down (SIGTERM)`, deregister and exit 0, and the master must run
/// the job on `w-b` long before the heartbeat timeout — a deregistration, not a death (no
/// `worker is DEAD` in its log). At the end every id is committed exactly once.
#[test]
fn sigterm_to_worker_moves_its_subtasks_at_once() {
    let name = "sigterm_worker";
    let heartbeat_timeout = Duration::from_secs(30);
    let format = Format::Json;
    let scenario = Scenario::new(name);
    scenario.produce(format, 0..RECORDS);
    let ends = scenario.end_offsets();
    let master = Master::start(
        name,
        MasterOptions {
            heartbeat_timeout_ms: heartbeat_timeout.as_millis() as u64,
            ..MasterOptions::default()
        },
    );
    let mut leaving = Worker::start(&master, "w-leaving", WORKER_MEMORY);
    let job_id = JobFile::new(format, ROWS_PER_SECOND).submit(&scenario, &master);
    wait_running(&scenario, &master, &job_id, Some(leaving.id()), START);
    let other = Worker::start(&master, "w-b", WORKER_MEMORY);
    let before = wait_first_checkpoint(&scenario, &master, &job_id);

    scenario.say(format!("SIGTERM to w-leaving: {}", status_line(&before)));
    let sent = Instant::now();
    let status = leaving
        .terminate(EXIT)
        .unwrap_or_else(|error| master.fail(error));
    scenario.say(format!(
        "w-leaving exited with {status} after {:.1?}",
        sent.elapsed()
    ));
    master.check(status.success(), || {
        format!("a worker stopped with SIGTERM should exit 0, not {status}")
    });
    for needle in [
        "shutting down (SIGTERM)",
        "deregistered from the master",
        "worker stopped",
    ] {
        master.check(
            !log_lines_with(leaving.log_path(), needle).is_empty(),
            || format!("w-leaving's log should say {needle:?}"),
        );
    }

    let moved = wait_running(
        &scenario,
        &master,
        &job_id,
        Some(other.id()),
        heartbeat_timeout / 2,
    );
    let moved_after = sent.elapsed();
    scenario.say(format!(
        "the job runs on w-b {moved_after:.1?} after the SIGTERM (heartbeat timeout {heartbeat_timeout:?})"
    ));
    for (after, before) in attempts(&moved).iter().zip(attempts(&before)) {
        master.check(*after > before, || {
            format!(
                "the subtasks should run as new attempts on w-b: {}",
                status_line(&moved)
            )
        });
    }
    let master_log = master.log_path();
    master.check(
        !log_lines_with(&master_log, "worker deregistered").is_empty()
            && log_lines_with(&master_log, "worker is DEAD").is_empty(),
        || "the master should log w-leaving's deregistration, and no worker death".to_string(),
    );

    let (_, committed) =
        settle_and_check_job(&scenario, &master, &job_id, &ends, format, 0..RECORDS);
    scenario.say(format!(
        "every id 0..{RECORDS} committed exactly once across the SIGTERM ({})",
        committed.summary()
    ));
}

/// 100 000 records; Kafka → HdfsFile (json) with parallelism 2 on worker `w-a`. Mid-run the
/// master gets SIGTERM: it must log `shutting down (SIGTERM)` and exit 0, and the worker, told
/// that its master is stopping, must stop its subtasks. The master starts again on the same data
/// directory: the job runs again (new attempts, from a checkpoint no older than before) and at
/// the end every id is committed exactly once.
#[test]
fn sigterm_to_master_then_restart_resumes_exactly_once() {
    let name = "sigterm_master";
    let format = Format::Json;
    let scenario = Scenario::new(name);
    scenario.produce(format, 0..RECORDS);
    let ends = scenario.end_offsets();
    let mut master = Master::start_default(name);
    let worker = Worker::start(&master, "w-a", WORKER_MEMORY);
    let job_id = JobFile::new(format, ROWS_PER_SECOND).submit(&scenario, &master);
    wait_running(&scenario, &master, &job_id, Some(worker.id()), START);
    let before = wait_first_checkpoint(&scenario, &master, &job_id);

    scenario.say(format!("SIGTERM to the master: {}", status_line(&before)));
    let sent = Instant::now();
    let status = master.terminate(EXIT);
    scenario.say(format!(
        "the master exited with {status} after {:.1?}",
        sent.elapsed()
    ));
    master.check(status.success(), || {
        format!("a master stopped with SIGTERM should exit 0, not {status}")
    });
    for needle in ["shutting down (SIGTERM)", "master stopped"] {
        master.check(
            !log_lines_with(&master.log_path(), needle).is_empty(),
            || format!("the master's log should say {needle:?}"),
        );
    }
    let (cause, _) = wait_log(
        &scenario,
        &master,
        worker.log_path(),
        "lost the master: fenced",
        sent,
        EXIT,
    );
    master.check(cause.contains("the master is shutting down"), || {
        format!("the worker should hear that its master is stopping: {cause}")
    });
    let (stopped, _) = wait_log(
        &scenario,
        &master,
        worker.log_path(),
        "fenced: all tasks stopped",
        sent,
        EXIT,
    );
    master.check(stopped.contains("tasks=2"), || {
        format!("the worker should have stopped the job's 2 subtasks: {stopped}")
    });

    master.start_again();
    let restarted = Instant::now();
    let resumed = wait_running(&scenario, &master, &job_id, Some(worker.id()), START);
    scenario.say(format!(
        "running again {:.1?} after the restart: {}",
        restarted.elapsed(),
        status_line(&resumed)
    ));
    for (after, before) in attempts(&resumed).iter().zip(attempts(&before)) {
        master.check(*after > before, || {
            format!(
                "the subtasks should run as new attempts: {}",
                status_line(&resumed)
            )
        });
    }
    let (kept, had) = (
        checkpoints(&resumed).last_completed_id,
        checkpoints(&before).last_completed_id,
    );
    master.check(kept >= had, || {
        format!("the last completed checkpoint went back from {had} to {kept} across the restart")
    });

    let (_, committed) =
        settle_and_check_job(&scenario, &master, &job_id, &ends, format, 0..RECORDS);
    scenario.say(format!(
        "every id 0..{RECORDS} committed exactly once across the master's SIGTERM ({})",
        committed.summary()
    ));
}
