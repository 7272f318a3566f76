//! Sessions and fencing in the cluster model: which registration speaks for a worker, what a
//! deregistration does, and that nothing of a replaced attempt completes a checkpoint.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use weir_proto::v1 as pb;

use super::tests::{cluster, job_state, register, run_all, submit};
use super::*;
use crate::checkpoint::CompletedCheckpoint;

#[test]
fn a_deregistered_worker_moves_its_subtasks_at_once() {
    let mut cluster = cluster();
    let leaving = register(&mut cluster, "w-1", 1024);
    register(&mut cluster, "w-2", 512);
    let job = submit(&mut cluster, 1, 100, false);
    let deployments = cluster.schedule(Instant::now());
    assert_eq!(deployments[0].worker_id, "w-1", "the most free budget wins");
    run_all(&mut cluster, &deployments);

    assert!(cluster.worker_deregistered("w-1", &leaving));
    let (state, reason) = job_state(&cluster, &job);
    assert_eq!(state, JobState::Recovering);
    assert!(reason.contains("worker w-1 stopped"), "{reason}");
    assert_eq!(cluster.reserved_on("w-1"), 0);
    let moved = cluster.schedule(Instant::now());
    assert_eq!(moved.len(), 1, "placed again without waiting for a timeout");
    assert_eq!(moved[0].worker_id, "w-2");
    assert_eq!(moved[0].request.attempt, 2);

    // The ended session says nothing any more: not twice, not by heartbeat.
    assert!(!cluster.worker_deregistered("w-1", &leaving));
    assert!(!cluster.worker_lost("w-1", &leaving, "its heartbeat stream ended"));
    let beat = pb::HeartbeatRequest {
        worker_id: "w-1".into(),
        session_id: leaving,
        ..Default::default()
    };
    assert!(cluster.heartbeat(&beat).is_err());
}

#[test]
fn only_the_current_registration_speaks_for_a_worker() {
    let mut cluster = cluster();
    let first = register(&mut cluster, "w-1", 1024);
    assert!(cluster.is_current_session("w-1", &first));
    assert_eq!(
        cluster.live_session_at("http://w-1").as_deref(),
        Some(first.as_str())
    );
    submit(&mut cluster, 1, 100, false);
    let deployments = cluster.schedule(Instant::now());
    let task = deployments[0].request.task_id.clone();
    assert_eq!(
        cluster.deployment_session("w-1", &task).as_deref(),
        Some(first.as_str()),
        "a deployment goes out under the session it was placed under"
    );
    assert_eq!(cluster.deployment_session("w-2", &task), None);

    // The worker registers again (it was fenced): the first session is over, and so is the
    // deployment placed under it.
    let second = register(&mut cluster, "w-1", 1024);
    assert_ne!(first, second);
    assert!(!cluster.is_current_session("w-1", &first));
    assert!(cluster.is_current_session("w-1", &second));
    assert_eq!(
        cluster.live_session_at("http://w-1").as_deref(),
        Some(second.as_str())
    );
    assert_eq!(
        cluster.deployment_session("w-1", &task),
        None,
        "the attempt placed under the first session is lost, never sent under the second"
    );

    let expired = Instant::now() + Duration::from_secs(6);
    cluster.expire_silent_workers(expired);
    assert!(!cluster.is_current_session("w-1", &second));
    assert_eq!(cluster.live_session_at("http://w-1"), None, "DEAD");
}

#[test]
fn an_ack_of_a_replaced_attempt_cannot_complete_a_checkpoint() {
    let mut cluster = cluster();
    let partitioned = register(&mut cluster, "w-1", 1024);
    let job = submit(&mut cluster, 1, 100, false);
    let deployments = cluster.schedule(Instant::now());
    run_all(&mut cluster, &deployments);
    let now = Instant::now();
    assert!(cluster.due_checkpoints(now).is_empty());
    let round = cluster
        .due_checkpoints(now + Duration::from_secs(11))
        .pop()
        .expect("a checkpoint is due");
    // Attempt 1 acked (over a path that still worked), then its worker was declared dead and
    // the subtask placed again — resuming from no checkpoint — before the round completed.
    assert!(cluster.worker_lost("w-1", &partitioned, "no heartbeat for 5000 ms"));
    register(&mut cluster, "w-2", 1024);
    let replaced = cluster.schedule(Instant::now());
    assert_eq!(replaced[0].request.attempt, 2);
    assert!(replaced[0].request.restore.is_none());

    let checkpoint = CompletedCheckpoint {
        job_id: job.clone(),
        checkpoint_id: round.checkpoint_id,
        completed_at_ms: 0,
        stop: false,
        offsets: Vec::new(),
        files: BTreeMap::from([(0, Vec::new())]),
    };
    let acked =
        cluster.checkpoint_acked(&round, checkpoint, "/chk".into(), Duration::from_millis(1));
    assert!(
        acked.is_err(),
        "no record (and so no commit) of the replaced attempt's checkpoint"
    );
    assert!(
        cluster.jobs[&job]
            .record
            .checkpoints
            .last_completed
            .is_none(),
        "attempt 2 resumes from nothing, so the checkpoint of attempt 1 must not complete"
    );
}
