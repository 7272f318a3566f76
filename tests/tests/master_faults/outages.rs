//! Services of the stack restarted under a running job: the NameNode holding the checkpoint
//! storage, and the Kafka broker mid-checkpoint.

use weir_e2e::cluster::{Master, MasterOptions, Worker};
use weir_e2e::stack::ServiceOutage;

use crate::run::{
    CHECKPOINT_INTERVAL_MS, FORMAT, START, WORKER_MEMORY, checkpoints, scenario, status_line,
    stop_and_check, submit, wait_caught_up, wait_job, wait_running,
};
use crate::stack_exclusive;

const RECORDS: u64 = 20_000;
const ROWS_PER_SECOND: u64 = 2_000;
/// The broker stays away for at least this many checkpoint intervals, and until as many
/// checkpoints were attempted meanwhile (librdkafka's prefetched records keep the job busy for
/// the first seconds).
const OUTAGE_INTERVALS: u64 = 5;
/// A checkpoint stuck on a stopped service fails after this long (ms).
const CHECKPOINT_TIMEOUT_MS: u64 = 8_000;

/// `--checkpoint-storage hdfs://…/checkpoints`. Once a checkpoint is stored there, the NameNode
/// is stopped until a checkpoint fails, then started again: checkpoints complete again (stored
/// on HDFS), the job reads to the end, and every id is committed exactly once.
#[test]
fn hdfs_checkpoint_storage_while_namenode_restarts() {
    let name = "hdfs_checkpoint_storage_while_namenode_restarts";
    let _stack = stack_exclusive();
    let scenario = scenario(name);
    scenario.produce(FORMAT, 0..RECORDS);
    let ends = scenario.end_offsets();
    let storage = format!("{}{}/checkpoints", scenario.hdfs, scenario.base);
    let options = MasterOptions {
        extra_args: vec!["--checkpoint-storage".to_string(), storage.clone()],
        ..MasterOptions::default()
    };
    let master = Master::start(name, options);
    let _worker = Worker::start(&master, "w-namenode", WORKER_MEMORY);
    let timeout = format!("checkpoint.timeout = {CHECKPOINT_TIMEOUT_MS}");
    let job_id = submit(&scenario, &master, ROWS_PER_SECOND, &[&timeout]);
    let before = wait_job(
        &scenario,
        &master,
        &job_id,
        "a checkpoint is stored on HDFS",
        START,
        |job| checkpoints(job).last_completed_id >= 1,
    );
    let stored = checkpoints(&before).last_completed_path;
    master.check(stored.starts_with(&storage), || {
        format!("the checkpoint should be stored under {storage}, not at {stored:?}")
    });

    let mut outage = ServiceOutage::begin("namenode");
    let failed_before = checkpoints(&before).failed;
    let during = wait_job(
        &scenario,
        &master,
        &job_id,
        "a checkpoint failed while the NameNode is down",
        START,
        |job| checkpoints(job).failed > failed_before,
    );
    let stuck_at = checkpoints(&during).last_completed_id;
    scenario.say(format!(
        "{:.1?} into the outage: {}; starting the NameNode again",
        outage.elapsed(),
        status_line(&during)
    ));
    outage.end();

    let after = wait_job(
        &scenario,
        &master,
        &job_id,
        &format!("a checkpoint after {stuck_at} is stored on HDFS"),
        START,
        |job| checkpoints(job).last_completed_id > stuck_at,
    );
    let stored = checkpoints(&after).last_completed_path;
    master.check(stored.starts_with(&storage), || {
        format!("the checkpoint should be stored under {storage}, not at {stored:?}")
    });
    wait_caught_up(&scenario, &master, &job_id, &ends);
    let committed = stop_and_check(&scenario, &master, &job_id, RECORDS);
    scenario.say(format!(
        "every id 0..{RECORDS} committed exactly once across the NameNode restart ({})",
        committed.summary()
    ));
}

/// Once a checkpoint completed, the broker is stopped right after the next one completes, so
/// the following barriers, acknowledgements and commits (whose consumer-group offset commit
/// needs the broker) happen while it is away; it stays away for at least five checkpoint
/// intervals and until five checkpoints were attempted meanwhile, then starts again. The job reads
/// to the end and every id is committed exactly once.
#[test]
fn kafka_broker_restart_mid_checkpoint() {
    let name = "kafka_broker_restart_mid_checkpoint";
    let _stack = stack_exclusive();
    let scenario = scenario(name);
    scenario.produce(FORMAT, 0..RECORDS);
    let ends = scenario.end_offsets();
    let master = Master::start(name, MasterOptions::default());
    let _worker = Worker::start(&master, "w-broker", WORKER_MEMORY);
    let timeout = format!("checkpoint.timeout = {CHECKPOINT_TIMEOUT_MS}");
    let job_id = submit(&scenario, &master, ROWS_PER_SECOND, &[&timeout]);
    let first = wait_job(
        &scenario,
        &master,
        &job_id,
        "a checkpoint completed",
        START,
        |job| checkpoints(job).last_completed_id >= 1,
    );
    let at = checkpoints(&first).last_completed_id;
    let before = wait_job(
        &scenario,
        &master,
        &job_id,
        &format!("checkpoint {} completed", at + 1),
        START,
        |job| checkpoints(job).last_completed_id > at,
    );

    let mut outage = ServiceOutage::begin("kafka");
    let attempted = |job: &serde_json::Value| {
        let (now, then) = (checkpoints(job), checkpoints(&before));
        (now.completed + now.failed) - (then.completed + then.failed)
    };
    let minimum = std::time::Duration::from_millis(OUTAGE_INTERVALS * CHECKPOINT_INTERVAL_MS);
    let during = wait_job(
        &scenario,
        &master,
        &job_id,
        "checkpoints were taken (or failed) while the broker is down",
        START,
        |job| attempted(job) >= OUTAGE_INTERVALS && outage.elapsed() >= minimum,
    );
    scenario.say(format!(
        "{:.1?} into the outage, {} checkpoint(s) attempted: {}; starting the broker again",
        outage.elapsed(),
        attempted(&during),
        status_line(&during)
    ));
    outage.end();

    wait_running(&scenario, &master, &job_id);
    wait_caught_up(&scenario, &master, &job_id, &ends);
    let committed = stop_and_check(&scenario, &master, &job_id, RECORDS);
    scenario.say(format!(
        "every id 0..{RECORDS} committed exactly once across the broker restart ({})",
        committed.summary()
    ));
}
