use std::time::{Duration, Instant};

use weir_proto::v1 as pb;

use super::*;

const MIB: u64 = 1024 * 1024;

pub(super) fn cluster() -> Cluster {
    let settings = ClusterSettings {
        heartbeat_timeout: Duration::from_secs(5),
        heartbeat_interval: Duration::from_secs(1),
        high_watermark: 0.9,
    };
    Cluster::new(settings)
}

pub(super) fn register(cluster: &mut Cluster, id: &str, limit_mib: u64) -> String {
    cluster.register_worker(&pb::RegisterWorkerRequest {
        worker_id: id.into(),
        address: format!("http://{id}"),
        cores: 2,
        memory_limit_bytes: limit_mib * MIB,
        memory: Some(pb::MemoryReport {
            process_rss_bytes: 10 * MIB,
            ..Default::default()
        }),
    })
}

pub(super) fn submit(
    cluster: &mut Cluster,
    parallelism: u32,
    reservation_mib: u64,
    reject: bool,
) -> String {
    let record = Cluster::new_record("test".into(), "env {}".into(), "test.conf".into());
    let id = record.id.clone();
    let mut plan = JobPlan::fixed(parallelism, reservation_mib * MIB);
    plan.reject_when_full = reject;
    plan.retry_times = 1;
    cluster.submit(record, plan);
    id
}

pub(super) fn job_state(cluster: &Cluster, job_id: &str) -> (JobState, String) {
    let job = &cluster.jobs[job_id];
    (job.record.state, job.record.reason.clone())
}

pub(super) fn run_all(cluster: &mut Cluster, deployments: &[Deployment]) {
    for deployment in deployments {
        let task = &deployment.request.task_id;
        cluster.task_status(&deployment.worker_id, task, pb::TaskState::Running, "");
    }
}

#[test]
fn a_job_too_big_waits_in_queue_until_a_worker_fits() {
    let mut cluster = cluster();
    register(&mut cluster, "small", 200);
    let job = submit(&mut cluster, 1, 320, false);
    assert!(cluster.schedule(Instant::now()).is_empty());
    let (state, reason) = job_state(&cluster, &job);
    assert_eq!(state, JobState::Queued);
    assert_eq!(
        reason,
        "subtask needs 320 MiB; largest free budget is 200 MiB on worker small"
    );

    register(&mut cluster, "large", 1024);
    let deployments = cluster.schedule(Instant::now());
    assert_eq!(deployments.len(), 1);
    assert_eq!(deployments[0].worker_id, "large");
    assert_eq!(cluster.reserved_on("large"), 320 * MIB);
    run_all(&mut cluster, &deployments);
    assert_eq!(job_state(&cluster, &job).0, JobState::Running);
}

#[test]
fn reject_strategy_fails_the_submission_with_the_reason() {
    let mut cluster = cluster();
    register(&mut cluster, "small", 100);
    let job = submit(&mut cluster, 1, 320, true);
    cluster.schedule(Instant::now());
    let outcome = cluster.submission_outcome(&job).unwrap_err();
    assert!(
        outcome.to_string().contains("subtask needs 320 MiB"),
        "{outcome}"
    );
    assert_eq!(job_state(&cluster, &job).0, JobState::Failed);
}

#[test]
fn a_lost_worker_sends_its_subtasks_elsewhere() {
    let mut cluster = cluster();
    let session = register(&mut cluster, "w-1", 1024);
    let job = submit(&mut cluster, 2, 100, false);
    let deployments = cluster.schedule(Instant::now());
    run_all(&mut cluster, &deployments);
    assert_eq!(job_state(&cluster, &job).0, JobState::Running);

    assert!(cluster.worker_lost("w-1", &session, "heartbeat stream closed"));
    let (now, reason) = job_state(&cluster, &job);
    assert_eq!(now, JobState::Recovering);
    assert!(reason.contains("worker w-1 lost"), "{reason}");
    assert_eq!(
        cluster.reserved_on("w-1"),
        0,
        "a dead worker's reservations end"
    );
    assert!(
        cluster.schedule(Instant::now()).is_empty(),
        "nowhere to go yet"
    );

    register(&mut cluster, "w-2", 1024);
    let deployments = cluster.schedule(Instant::now());
    assert_eq!(deployments.len(), 2);
    assert!(
        deployments
            .iter()
            .all(|d| d.request.task_id.ends_with(".2")),
        "second attempt"
    );
    run_all(&mut cluster, &deployments);
    assert_eq!(job_state(&cluster, &job).0, JobState::Running);
}

#[test]
fn silent_workers_expire_and_stale_sessions_are_refused() {
    let mut cluster = cluster();
    let session = register(&mut cluster, "w-1", 1024);
    let later = Instant::now() + Duration::from_secs(6);
    assert_eq!(
        cluster.expire_silent_workers(later),
        vec!["w-1".to_string()]
    );
    let beat = pb::HeartbeatRequest {
        worker_id: "w-1".into(),
        session_id: session,
        ..Default::default()
    };
    assert!(cluster.heartbeat(&beat).is_err());
}

#[test]
fn cancel_releases_the_reservation_once_tasks_stop() {
    let mut cluster = cluster();
    register(&mut cluster, "w-1", 1024);
    let job = submit(&mut cluster, 1, 100, false);
    let deployments = cluster.schedule(Instant::now());
    run_all(&mut cluster, &deployments);
    let (after, orders) = cluster.cancel(&job).unwrap();
    assert_eq!(after, JobState::Cancelling);
    assert_eq!(orders.len(), 1);
    assert_eq!(cluster.reserved_on("w-1"), 100 * MIB);
    cluster.task_status("w-1", &orders[0].task_id, pb::TaskState::Cancelled, "");
    assert_eq!(job_state(&cluster, &job).0, JobState::Cancelled);
    assert_eq!(cluster.reserved_on("w-1"), 0);
}

#[test]
fn a_failed_subtask_is_retried_then_fails_the_job() {
    let mut cluster = cluster();
    register(&mut cluster, "w-1", 1024);
    let job = submit(&mut cluster, 1, 100, false);
    let first = cluster.schedule(Instant::now());
    run_all(&mut cluster, &first);
    cluster.task_status(
        "w-1",
        &first[0].request.task_id,
        pb::TaskState::Failed,
        "boom",
    );
    let (now, reason) = job_state(&cluster, &job);
    assert_eq!(now, JobState::Recovering);
    assert!(reason.contains("retry 1 of 1"), "{reason}");

    let second = cluster.schedule(Instant::now());
    assert_eq!(second.len(), 1);
    run_all(&mut cluster, &second);
    cluster.task_status(
        "w-1",
        &second[0].request.task_id,
        pb::TaskState::Failed,
        "boom again",
    );
    let (now, reason) = job_state(&cluster, &job);
    assert_eq!(now, JobState::Failed);
    assert!(reason.contains("boom again"), "{reason}");
}

#[test]
fn a_subtask_still_waiting_out_its_retry_delay_is_placed_after_it() {
    let mut cluster = cluster();
    register(&mut cluster, "w-1", 1024);
    let job = submit(&mut cluster, 2, 100, false);
    let start = Instant::now();
    let first = cluster.schedule(start);
    run_all(&mut cluster, &first);
    for deployment in &first {
        cluster.task_status(
            "w-1",
            &deployment.request.task_id,
            pb::TaskState::Failed,
            "boom",
        );
    }
    assert_eq!(job_state(&cluster, &job).0, JobState::Recovering);
    // Subtask 1 failed later than subtask 0: its retry delay ends later.
    let later = start + Duration::from_secs(60);
    cluster.jobs.get_mut(&job).unwrap().subtasks[1].not_before = Some(later);

    let second = cluster.schedule(start + Duration::from_secs(30));
    assert_eq!(second.len(), 1, "only subtask 0's delay is over");
    assert_eq!(
        job_state(&cluster, &job).0,
        JobState::Recovering,
        "subtask 1 still waits to be placed"
    );
    let third = cluster.schedule(later);
    assert_eq!(third.len(), 1, "subtask 1 is placed once its delay is over");
    let (state, reason) = job_state(&cluster, &job);
    assert_eq!(state, JobState::Scheduled);
    assert_eq!(reason, "placed 1 subtask(s)");
}

#[test]
fn reports_of_an_older_attempt_are_ignored() {
    let mut cluster = cluster();
    let session = register(&mut cluster, "w-1", 1024);
    let job = submit(&mut cluster, 1, 100, false);
    let first = cluster.schedule(Instant::now());
    cluster.worker_lost("w-1", &session, "gone");
    register(&mut cluster, "w-2", 1024);
    let second = cluster.schedule(Instant::now());
    cluster.task_status(
        "w-1",
        &first[0].request.task_id,
        pb::TaskState::Finished,
        "",
    );
    assert_eq!(job_state(&cluster, &job).0, JobState::Scheduled);
    run_all(&mut cluster, &second);
    cluster.task_status(
        "w-2",
        &second[0].request.task_id,
        pb::TaskState::Finished,
        "",
    );
    assert_eq!(job_state(&cluster, &job).0, JobState::Finished);
}

#[test]
fn task_ids_round_trip() {
    let id = task_id("j-abc", 3, 7);
    assert_eq!(parse_task_id(&id), Some(("j-abc", 3, 7)));
    assert_eq!(parse_task_id("nonsense"), None);
}

#[test]
fn attempts_continue_after_a_master_restart() {
    let mut cluster = cluster();
    register(&mut cluster, "w-1", 1024);
    let job = submit(&mut cluster, 1, 100, false);
    let first = cluster.schedule(Instant::now());
    run_all(&mut cluster, &first);
    assert!(first[0].request.task_id.ends_with(".1"));

    let record = cluster.jobs[&job].record.clone();
    let mut restarted = self::cluster();
    restarted.restore(record, cluster.jobs[&job].plan.clone());
    assert_eq!(job_state(&restarted, &job).0, JobState::Recovering);
    register(&mut restarted, "w-1", 1024);
    let second = restarted.schedule(Instant::now());
    assert!(
        second[0].request.task_id.ends_with(".2"),
        "{}",
        second[0].request.task_id
    );
    // The old attempt's late report must not touch the new one.
    restarted.task_status(
        "w-1",
        &first[0].request.task_id,
        pb::TaskState::Cancelled,
        "",
    );
    assert_eq!(job_state(&restarted, &job).0, JobState::Scheduled);
    run_all(&mut restarted, &second);
    assert_eq!(job_state(&restarted, &job).0, JobState::Running);
}

struct NoLister;

impl SplitLister for NoLister {
    fn list(
        &self,
    ) -> futures::future::BoxFuture<'static, Result<Vec<weir_core::split::SplitId>, ListSplitsError>>
    {
        Box::pin(async { Ok(Vec::new()) })
    }
    fn discovery_interval(&self) -> Option<Duration> {
        None
    }
    fn describe(&self) -> String {
        "topic t".into()
    }
}

fn submit_kafka(cluster: &mut Cluster, parallelism: u32, rows_per_second: u64) -> String {
    let record = Cluster::new_record("kafka".into(), "env {}".into(), "kafka.conf".into());
    let id = record.id.clone();
    let mut plan = JobPlan::fixed(parallelism, 10 * MIB);
    plan.split_reservation = 5 * MIB;
    plan.read_limit.rows_per_second = Some(rows_per_second);
    plan.split_lister = Some(std::sync::Arc::new(NoLister));
    cluster.submit(record, plan);
    id
}

fn partitions(topic: &str, count: i32) -> Vec<weir_core::split::SplitId> {
    (0..count)
        .map(|partition| weir_core::split::SplitId::new(topic, partition))
        .collect()
}

#[test]
fn kafka_jobs_wait_for_their_splits_then_reserve_per_partition() {
    let mut cluster = cluster();
    register(&mut cluster, "w-1", 1024);
    let job = submit_kafka(&mut cluster, 2, 200);
    assert!(
        cluster.schedule(Instant::now()).is_empty(),
        "no placement before listing"
    );

    cluster.splits_listed(&job, partitions("t", 3));
    let deployments = cluster.schedule(Instant::now());
    assert_eq!(deployments.len(), 2);
    let by_subtask = |index: u32| {
        deployments
            .iter()
            .find(|deployment| deployment.request.subtask_index == index)
            .unwrap()
            .request
            .clone()
    };
    let (first, second) = (by_subtask(0), by_subtask(1));
    assert_eq!(first.splits.len(), 2);
    assert_eq!(second.splits.len(), 1);
    assert_eq!(first.reserved_bytes, 20 * MIB);
    assert_eq!(second.reserved_bytes, 15 * MIB);
    assert_eq!(cluster.reserved_on("w-1"), 35 * MIB);
    // The job's 200 rows/s are shared by partitions: 2/3 and 1/3, not 200 each.
    let rate =
        |request: &pb::DeployTaskRequest| request.read_limit.unwrap().rows_per_second.unwrap();
    assert!((rate(&first) - 400.0 / 3.0).abs() < 1e-9);
    assert!((rate(&second) - 200.0 / 3.0).abs() < 1e-9);
}

#[test]
fn discovered_partitions_go_to_the_least_loaded_subtask_and_rerate_all() {
    let mut cluster = cluster();
    register(&mut cluster, "w-1", 1024);
    let job = submit_kafka(&mut cluster, 2, 300);
    cluster.splits_listed(&job, partitions("t", 2));
    let deployments = cluster.schedule(Instant::now());
    run_all(&mut cluster, &deployments);

    assert!(
        cluster.splits_listed(&job, partitions("t", 2)).is_empty(),
        "nothing new"
    );
    let updates = cluster.splits_listed(&job, partitions("t", 3));
    assert_eq!(updates.len(), 2, "every running subtask gets its new share");
    let added: Vec<usize> = updates
        .iter()
        .map(|update| update.request.splits.len())
        .collect();
    assert_eq!(added.iter().sum::<usize>(), 1);
    let total: f64 = updates
        .iter()
        .map(|update| update.request.read_limit.unwrap().rows_per_second.unwrap())
        .sum();
    assert!(
        (total - 300.0).abs() < 1e-9,
        "shares still add up to the job's limit"
    );
}

#[test]
fn a_missing_topic_fails_the_job_and_an_unreachable_broker_waits() {
    let mut cluster = cluster();
    let job = submit_kafka(&mut cluster, 1, 10);
    let unreachable = ListSplitsError {
        message: "cannot reach Kafka at 127.0.0.1:1".into(),
        retryable: true,
    };
    cluster.splits_unlisted(&job, &unreachable, Duration::from_secs(2));
    let (state, reason) = job_state(&cluster, &job);
    assert_eq!(state, JobState::Queued);
    assert!(
        reason.contains("cannot reach Kafka") && reason.contains("retrying in 2 s"),
        "{reason}"
    );

    let missing = ListSplitsError {
        message: "topic 'nope' does not exist".into(),
        retryable: false,
    };
    cluster.splits_unlisted(&job, &missing, Duration::from_secs(2));
    let (state, reason) = job_state(&cluster, &job);
    assert_eq!(state, JobState::Failed);
    assert!(reason.contains("does not exist"), "{reason}");
}

#[test]
fn capacity_freed_by_a_job_ending_places_the_queued_job() {
    let mut cluster = cluster();
    register(&mut cluster, "w-1", 1024);
    // A fills w-1 exactly: two subtasks of 512 MiB.
    let a = submit(&mut cluster, 2, 512, false);
    let a_tasks = cluster.schedule(Instant::now());
    assert_eq!(a_tasks.len(), 2);
    assert!(a_tasks.iter().all(|d| d.worker_id == "w-1"));
    run_all(&mut cluster, &a_tasks);
    assert_eq!(job_state(&cluster, &a).0, JobState::Running);
    assert_eq!(cluster.reserved_on("w-1"), 1024 * MIB);

    let b = submit(&mut cluster, 1, 300, false);
    assert!(cluster.schedule(Instant::now()).is_empty());
    assert_eq!(
        job_state(&cluster, &b),
        (
            JobState::Queued,
            "subtask needs 300 MiB; largest free budget is 0 B on worker w-1".to_string()
        )
    );

    // Cancelling A frees nothing until its tasks have really stopped: until then they still
    // hold their memory on the worker.
    let (after, orders) = cluster.cancel(&a).unwrap();
    assert_eq!(after, JobState::Cancelling);
    assert_eq!(orders.len(), 2);
    assert!(cluster.schedule(Instant::now()).is_empty());
    assert_eq!(job_state(&cluster, &b).0, JobState::Queued);
    assert_eq!(cluster.reserved_on("w-1"), 1024 * MIB);

    cluster.task_status("w-1", &orders[0].task_id, pb::TaskState::Cancelled, "");
    assert_eq!(job_state(&cluster, &a).0, JobState::Cancelling);
    assert_eq!(cluster.reserved_on("w-1"), 512 * MIB);
    // Half of A is gone, but 512 MiB free already holds B's 300 MiB.
    let b_tasks = cluster.schedule(Instant::now());
    assert_eq!(b_tasks.len(), 1);
    assert_eq!(b_tasks[0].worker_id, "w-1");
    assert_eq!(b_tasks[0].request.job_id, b);
    assert_eq!(b_tasks[0].request.reserved_bytes, 300 * MIB);
    assert_eq!(cluster.reserved_on("w-1"), (512 + 300) * MIB);

    cluster.task_status("w-1", &orders[1].task_id, pb::TaskState::Cancelled, "");
    assert_eq!(job_state(&cluster, &a).0, JobState::Cancelled);
    run_all(&mut cluster, &b_tasks);
    assert_eq!(job_state(&cluster, &b).0, JobState::Running);
    assert_eq!(cluster.reserved_on("w-1"), 300 * MIB);
    let detail = cluster.job_detail(&b).unwrap();
    assert_eq!(detail.tasks[0].worker_id, "w-1");
    assert_eq!(detail.tasks[0].reserved_bytes, 300 * MIB);
    let a_detail = cluster.job_detail(&a).unwrap();
    assert!(a_detail.tasks.iter().all(|task| task.reserved_bytes == 0));
    let workers = cluster.worker_summaries(Instant::now());
    assert_eq!(workers[0].memory.unwrap().reserved_bytes, 300 * MIB);
    assert_eq!(
        workers[0].task_ids,
        vec![b_tasks[0].request.task_id.clone()]
    );
}

#[test]
fn a_finished_job_frees_its_capacity_for_the_queue() {
    let mut cluster = cluster();
    register(&mut cluster, "w-1", 1024);
    let a = submit(&mut cluster, 1, 1000, false);
    let a_tasks = cluster.schedule(Instant::now());
    run_all(&mut cluster, &a_tasks);
    let b = submit(&mut cluster, 1, 100, false);
    assert!(cluster.schedule(Instant::now()).is_empty());
    assert_eq!(job_state(&cluster, &b).0, JobState::Queued);

    cluster.task_status(
        "w-1",
        &a_tasks[0].request.task_id,
        pb::TaskState::Finished,
        "",
    );
    assert_eq!(job_state(&cluster, &a).0, JobState::Finished);
    assert_eq!(cluster.reserved_on("w-1"), 0);
    let b_tasks = cluster.schedule(Instant::now());
    assert_eq!(b_tasks.len(), 1);
    assert_eq!(b_tasks[0].request.job_id, b);
    assert_eq!(cluster.reserved_on("w-1"), 100 * MIB);
}

#[test]
fn worker_summaries_keep_the_workers_own_reservation_apart() {
    let mut cluster = cluster();
    let session = register(&mut cluster, "w-1", 1024);
    let job = submit(&mut cluster, 1, 100, false);
    let deployments = cluster.schedule(Instant::now());
    run_all(&mut cluster, &deployments);
    let beat = |reserved: u64| pb::HeartbeatRequest {
        worker_id: "w-1".into(),
        session_id: session.clone(),
        memory: Some(pb::MemoryReport {
            process_rss_bytes: 10 * MIB,
            memory_limit_bytes: 1024 * MIB,
            reserved_bytes: reserved,
            ..Default::default()
        }),
        tasks: Vec::new(),
        sequence: 1,
    };
    cluster.heartbeat(&beat(100 * MIB)).unwrap();
    let worker = &cluster.worker_summaries(Instant::now())[0];
    assert_eq!(worker.memory.unwrap().reserved_bytes, 100 * MIB);
    assert_eq!(worker.worker_reserved_bytes, 100 * MIB);

    // The job ends on the master's side, but the worker still counts its task: a leak the
    // summary must show rather than hide behind the master's figure.
    let (_, orders) = cluster.cancel(&job).unwrap();
    cluster.task_status("w-1", &orders[0].task_id, pb::TaskState::Cancelled, "");
    cluster.heartbeat(&beat(100 * MIB)).unwrap();
    let worker = &cluster.worker_summaries(Instant::now())[0];
    assert_eq!(worker.memory.unwrap().reserved_bytes, 0);
    assert_eq!(worker.worker_reserved_bytes, 100 * MIB);
    assert_eq!(worker.memory.unwrap().process_rss_bytes, 10 * MIB);
}

#[test]
fn a_subtask_its_worker_reports_lost_shows_lost_and_is_placed_again() {
    let mut cluster = cluster();
    register(&mut cluster, "w-1", 1024);
    let job = submit(&mut cluster, 2, 100, false);
    let deployments = cluster.schedule(Instant::now());
    run_all(&mut cluster, &deployments);
    let task = &deployments[0].request.task_id;
    cluster.task_status("w-1", task, pb::TaskState::Lost, "its slot vanished");
    let detail = cluster.job_detail(&job).unwrap();
    let lost = &detail.tasks[deployments[0].request.subtask_index as usize];
    assert_eq!(lost.state, pb::TaskState::Lost as i32, "not Cancelled");
    assert!(
        lost.state_reason.contains("its slot vanished"),
        "{}",
        lost.state_reason
    );
    assert_eq!(job_state(&cluster, &job).0, JobState::Recovering);
    let again = cluster.schedule(Instant::now());
    assert_eq!(again.len(), 1);
    assert_eq!(
        again[0].request.subtask_index,
        deployments[0].request.subtask_index
    );
    assert_eq!(again[0].request.attempt, 2);
    run_all(&mut cluster, &again);
    assert_eq!(job_state(&cluster, &job).0, JobState::Running);
}
