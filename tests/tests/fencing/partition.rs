//! A worker cut off from the master while it still reaches Kafka and HDFS.

use std::net::SocketAddr;

use weir_e2e::cluster::{MasterOptions, Worker, WorkerOptions};
use weir_e2e::exactly_once::job_json::{status_line, tasks, text, u64_of};
use weir_e2e::exactly_once::support::Format;
use weir_e2e::exactly_once::wait::{settle_and_check_job, wait_first_checkpoint, wait_running};
use weir_e2e::exactly_once::{JobFile, START, WORKER_MEMORY};
use weir_e2e::proxy::Proxy;
use weir_proto::v1 as pb;
use weir_proto::v1::worker_service_client::WorkerServiceClient;

use super::*;

/// The master's `--heartbeat-timeout-ms`.
const HEARTBEAT_TIMEOUT: Duration = Duration::from_millis(2000);
/// What the worker may take beyond the heartbeat timeout to stop all its subtasks.
const STOP_SLACK: Duration = Duration::from_secs(2);
/// Bound for the cut-off worker to register again once the network is back (a registration
/// waits 5 s for an answer, then retries after at most 5 s).
const REJOIN: Duration = Duration::from_secs(30);

/// The session ids `worker` logged at each registration, oldest first.
fn sessions(worker: &Worker) -> Vec<String> {
    log_lines_with(worker.log_path(), "registered with the master")
        .iter()
        .filter_map(|line| line.split("session=").nth(1))
        .map(|session| session.trim().to_string())
        .collect()
}

/// `message` as a call of the master addressed to worker session `session`.
fn addressed<T>(session: &str, message: T) -> tonic::Request<T> {
    let mut request = tonic::Request::new(message);
    request.metadata_mut().insert(
        weir_proto::SESSION_METADATA,
        session.parse().expect("a session id is valid metadata"),
    );
    request
}

/// Sends `worker` a TriggerCheckpoint and a CommitCheckpoint for `task_id`, addressed to
/// `session`, straight over gRPC as the master would; returns the two outcomes.
fn checkpoint_calls(
    worker: SocketAddr,
    session: &str,
    task_id: &str,
) -> [Result<(), tonic::Status>; 2] {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime for the gRPC calls");
    runtime.block_on(async {
        let mut client = WorkerServiceClient::connect(format!("http://{worker}"))
            .await
            .expect("the worker's gRPC server answers");
        let trigger = client
            .trigger_checkpoint(addressed(
                session,
                pb::TriggerCheckpointRequest {
                    task_id: task_id.to_string(),
                    checkpoint_id: 99,
                    stop: false,
                },
            ))
            .await
            .map(drop);
        let commit = client
            .commit_checkpoint(addressed(
                session,
                pb::CommitCheckpointRequest {
                    task_id: task_id.to_string(),
                    checkpoint_id: 99,
                    ..Default::default()
                },
            ))
            .await
            .map(drop);
        [trigger, commit]
    })
}

/// 100 000 records; Kafka → HdfsFile (json) with parallelism 2 on worker `w-cut`, which reaches
/// the master only through a TCP proxy in the test. Once a checkpoint completed mid-run, worker
/// `w-b` is up and the proxy blackholes every connection (no FIN, no RST: silence). `w-cut`
/// must stop all its subtasks within the heartbeat timeout + 2 s (its log says so), the master
/// must place the job on `w-b` (new attempts), and once the network is back `w-cut` registers
/// again and runs nothing; a checkpoint barrier or commit addressed to its old session is
/// refused. At the end every id is committed exactly once, with nothing else visible under the
/// sink's path: nothing `w-cut` wrote after it was cut off became visible.
#[test]
fn partitioned_worker_stops_its_subtasks_and_the_job_moves() {
    let name = "partitioned_worker";
    let format = Format::Json;
    let scenario = Scenario::new(name);
    scenario.produce(format, 0..RECORDS);
    let ends = scenario.end_offsets();
    let master = Master::start(
        name,
        MasterOptions {
            heartbeat_timeout_ms: HEARTBEAT_TIMEOUT.as_millis() as u64,
            ..MasterOptions::default()
        },
    );
    let proxy = Proxy::start(master.address());
    let cut_off = Worker::start_with(
        &master,
        "w-cut",
        WorkerOptions {
            master_url: Some(proxy.url()),
            ..WorkerOptions::new(WORKER_MEMORY)
        },
    );
    let job_id = JobFile::new(format, ROWS_PER_SECOND).submit(&scenario, &master);
    wait_running(&scenario, &master, &job_id, Some(cut_off.id()), START);
    let other = Worker::start(&master, "w-b", WORKER_MEMORY);
    let before = wait_first_checkpoint(&scenario, &master, &job_id);
    let attempts: Vec<u64> = tasks(&before)
        .iter()
        .map(|task| u64_of(task, "attempt"))
        .collect();

    scenario.say(format!(
        "blackholing w-cut's connections to the master: {}",
        status_line(&before)
    ));
    proxy.blackhole();
    let cut = Instant::now();
    let (line, _) = wait_log(
        &scenario,
        &master,
        cut_off.log_path(),
        "fenced: all tasks stopped",
        cut,
        HEARTBEAT_TIMEOUT + STOP_SLACK,
    );
    master.check(line.contains("tasks=2"), || {
        format!("w-cut should have stopped the job's 2 subtasks: {line}")
    });
    let (cause, _) = wait_log(
        &scenario,
        &master,
        cut_off.log_path(),
        "lost the master: fenced",
        cut,
        HEARTBEAT_TIMEOUT + STOP_SLACK,
    );
    scenario.say(format!("w-cut's cause: {cause}"));

    let moved = wait_running(&scenario, &master, &job_id, Some(other.id()), START);
    for (task, before) in tasks(&moved).iter().zip(&attempts) {
        master.check(u64_of(task, "attempt") > *before, || {
            format!("subtask moved to w-b without a new attempt: {task:#}")
        });
    }
    scenario.say(format!(
        "the job runs on w-b {:.1?} after the cut",
        cut.elapsed()
    ));
    let entry = master
        .try_worker(cut_off.id())
        .unwrap_or_else(|error| master.fail(error));
    master.check(
        entry.as_ref().is_some_and(|entry| entry["state"] == "DEAD"),
        || format!("the master should hold w-cut DEAD: {entry:?}"),
    );

    // The network comes back: w-cut registers again and takes up nothing of its old attempts.
    proxy.heal();
    let healed = Instant::now();
    let entry = master.wait_until(
        "w-cut is ALIVE again, running and reserving nothing",
        REJOIN,
        || match master.try_worker(cut_off.id())? {
            Some(entry)
                if entry["state"] == "ALIVE"
                    && entry["task_ids"].as_array().is_some_and(Vec::is_empty)
                    && entry["worker_reserved_bytes"].as_u64() == Some(0) =>
            {
                Ok(entry)
            }
            entry => Err(format!("{entry:?}")),
        },
    );
    scenario.say(format!(
        "w-cut registered again {:.1?} after the network came back: {}",
        healed.elapsed(),
        text(&entry, "state")
    ));
    // The master records the registration before the worker has read the answer and logged its
    // new session, so the worker's log line is awaited, not assumed.
    let registrations =
        master.wait_until(
            "w-cut logs its second registration",
            REJOIN,
            || match sessions(&cut_off) {
                registrations if registrations.len() >= 2 => Ok(registrations),
                registrations => Err(format!("{registrations:?}")),
            },
        );
    let [old_session, new_session] = &registrations[..] else {
        master.fail(format!(
            "w-cut should have registered twice, under two sessions: {registrations:?}"
        ))
    };
    let old_task = text(&tasks(&before)[0], "task_id");
    for (call, outcome) in ["TriggerCheckpoint", "CommitCheckpoint"]
        .iter()
        .zip(checkpoint_calls(cut_off.address(), old_session, &old_task))
    {
        let refused = outcome.expect_err("an order for an ended session must be refused");
        master.check(
            refused.code() == tonic::Code::FailedPrecondition
                && refused
                    .message()
                    .contains(&format!("this worker's session is {new_session}")),
            || format!("{call} addressed to w-cut's old session {old_session}: {refused:?}"),
        );
    }

    let (_, committed) =
        settle_and_check_job(&scenario, &master, &job_id, &ends, format, 0..RECORDS);
    scenario.say(format!(
        "every id 0..{RECORDS} committed exactly once across the partition ({})",
        committed.summary()
    ));
}
