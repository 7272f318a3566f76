//! The checkpoint coordinator's bookkeeping, without I/O.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use weir_core::checkpoint::PendingFile;
use weir_core::split::SplitId;
use weir_proto::v1 as pb;

use super::tests::{cluster, job_state, register, run_all, submit};
use super::*;
use crate::checkpoint::CompletedCheckpoint;

fn pending(name: &str) -> PendingFile {
    PendingFile {
        pending_path: format!("/tmp/.weir-tmp/{name}.pending"),
        final_path: format!("/out/{name}.json"),
    }
}

/// Completes `round` with one file per subtask.
fn complete(cluster: &mut Cluster, round: &CheckpointRound) -> Vec<CommitOrder> {
    let checkpoint = CompletedCheckpoint {
        job_id: round.job_id.clone(),
        checkpoint_id: round.checkpoint_id,
        completed_at_ms: 0,
        stop: round.stop,
        offsets: vec![(SplitId::new("t", 0), 100 * round.checkpoint_id as i64)],
        files: round
            .tasks
            .iter()
            .map(|task| {
                let name = format!("{}-{}", task.index, round.checkpoint_id);
                (task.index, vec![pending(&name)])
            })
            .collect::<BTreeMap<_, _>>(),
    };
    match cluster.checkpoint_acked(round, checkpoint, "/chk".into(), Duration::from_millis(5)) {
        // Written: the commit point is passed.
        Ok(_) => cluster.checkpoint_recorded(&round.job_id, round.checkpoint_id, None),
        Err(_) => Vec::new(),
    }
}

/// The first checkpoint of a job that just started running: one interval later.
fn first_round(cluster: &mut Cluster) -> CheckpointRound {
    let now = Instant::now();
    assert!(
        cluster.due_checkpoints(now).is_empty(),
        "the interval starts now"
    );
    cluster
        .due_checkpoints(now + Duration::from_secs(11))
        .pop()
        .expect("a checkpoint is due")
}

#[test]
fn checkpoints_are_due_every_interval_once_every_subtask_runs() {
    let mut cluster = cluster();
    register(&mut cluster, "w-1", 1024);
    let job = submit(&mut cluster, 2, 100, false);
    let start = Instant::now();
    let deployments = cluster.schedule(start);
    assert!(cluster.due_checkpoints(start).is_empty(), "not running yet");
    run_all(&mut cluster, &deployments);
    // The interval (10 s in JobPlan::fixed) starts when the job runs.
    assert!(cluster.due_checkpoints(start).is_empty());
    let later = start + Duration::from_secs(11);
    let rounds = cluster.due_checkpoints(later);
    assert_eq!(rounds.len(), 1);
    let round = &rounds[0];
    assert_eq!(
        (round.checkpoint_id, round.stop, round.tasks.len()),
        (1, false, 2)
    );
    assert!(
        cluster.due_checkpoints(later).is_empty(),
        "one in flight at a time"
    );

    let orders = complete(&mut cluster, round);
    assert_eq!(orders.len(), 2);
    assert!(
        cluster
            .due_checkpoints(later + Duration::from_secs(60))
            .is_empty(),
        "the next barrier waits until the commits are sent"
    );
    cluster.checkpoint_committed(&job, 1);
    assert_eq!(
        orders[0].request.pending_files[0].final_path,
        "/out/0-1.json"
    );
    assert_eq!(
        orders[1].request.pending_files[0].final_path,
        "/out/1-1.json"
    );
    let detail = cluster.job_detail(&job).unwrap();
    let stats = detail.checkpoints.unwrap();
    assert_eq!(
        (stats.last_completed_id, stats.completed, stats.failed),
        (1, 1, 0)
    );
    assert_eq!(detail.summary.unwrap().last_checkpoint_id, 1);

    // A failure is counted; the next checkpoint gets a new id.
    let rounds = cluster.due_checkpoints(later + Duration::from_secs(11));
    assert_eq!(rounds[0].checkpoint_id, 2);
    cluster.checkpoint_failed(&job, 2, "subtask 1 did not take it: boom");
    let stats = cluster.job_detail(&job).unwrap().checkpoints.unwrap();
    assert_eq!((stats.last_completed_id, stats.failed), (1, 1));
    assert_eq!(
        stats.last_failure,
        "checkpoint 2: subtask 1 did not take it: boom"
    );
    let rounds = cluster.due_checkpoints(later + Duration::from_secs(60));
    assert_eq!(rounds[0].checkpoint_id, 3);
}

#[test]
fn a_replaced_subtask_resumes_from_the_last_completed_checkpoint() {
    let mut cluster = cluster();
    let session = register(&mut cluster, "w-1", 1024);
    let job = submit(&mut cluster, 2, 100, false);
    let deployments = cluster.schedule(Instant::now());
    assert!(deployments.iter().all(|d| d.request.restore.is_none()));
    run_all(&mut cluster, &deployments);
    let round = first_round(&mut cluster);
    complete(&mut cluster, &round);
    cluster.checkpoint_committed(&round.job_id, round.checkpoint_id);

    cluster.worker_lost("w-1", &session, "heartbeat stream closed");
    register(&mut cluster, "w-2", 1024);
    let deployments = cluster.schedule(Instant::now());
    assert_eq!(deployments.len(), 2);
    for deployment in &deployments {
        let restore = deployment
            .request
            .restore
            .as_ref()
            .expect("a restore point");
        assert_eq!(restore.checkpoint_id, 1);
        let expected = format!("/out/{}-1.json", deployment.request.subtask_index);
        assert_eq!(restore.pending_files[0].final_path, expected);
        assert_eq!(deployment.request.attempt, 2);
    }
    // A round started before the loss cannot complete afterwards.
    let stale = CheckpointRound {
        job_id: job.clone(),
        checkpoint_id: 9,
        stop: false,
        timeout: Duration::from_secs(1),
        tasks: Vec::new(),
        revision: 0,
    };
    assert!(complete(&mut cluster, &stale).is_empty());
}

#[test]
fn stop_takes_a_final_checkpoint_then_the_job_is_stopped_and_restorable() {
    let mut cluster = cluster();
    register(&mut cluster, "w-1", 1024);
    let job = submit(&mut cluster, 1, 100, false);
    let deployments = cluster.schedule(Instant::now());
    assert!(
        cluster
            .restore_source(&job)
            .unwrap_err()
            .contains("stop it first")
    );
    run_all(&mut cluster, &deployments);

    assert_eq!(cluster.request_stop(&job), Ok(JobState::Stopping));
    assert_eq!(
        cluster.request_stop(&job),
        Ok(JobState::Stopping),
        "idempotent"
    );
    // Due at once, not one interval later.
    let rounds = cluster.due_checkpoints(Instant::now());
    assert_eq!(rounds.len(), 1);
    assert!(rounds[0].stop);
    complete(&mut cluster, &rounds[0]);
    let task = &deployments[0].request.task_id;
    cluster.task_status("w-1", task, pb::TaskState::Finished, "");
    let (state, reason) = job_state(&cluster, &job);
    assert_eq!(state, JobState::Stopped);
    assert_eq!(reason, "stopped after checkpoint 1");

    let log = cluster.restore_source(&job).unwrap();
    assert_eq!(log.last_id, 1, "ids continue after the restored checkpoint");
    assert_eq!(log.resume_point().map(|c| c.checkpoint_id), Some(1));
    assert!(matches!(
        cluster.request_stop(&job),
        Err(StopError::NotLive { .. })
    ));
}

#[test]
fn a_cancelled_job_cannot_be_restored() {
    let mut cluster = cluster();
    register(&mut cluster, "w-1", 1024);
    let job = submit(&mut cluster, 1, 100, false);
    let deployments = cluster.schedule(Instant::now());
    run_all(&mut cluster, &deployments);
    let round = first_round(&mut cluster);
    complete(&mut cluster, &round);
    cluster.checkpoint_committed(&round.job_id, round.checkpoint_id);
    cluster.cancel(&job);
    let task = &deployments[0].request.task_id;
    cluster.task_status("w-1", task, pb::TaskState::Cancelled, "");
    assert_eq!(job_state(&cluster, &job).0, JobState::Cancelled);
    let error = cluster.restore_source(&job).unwrap_err();
    assert!(error.contains("was cancelled"), "{error}");
    assert!(
        cluster
            .restore_source("j-nope")
            .unwrap_err()
            .contains("no job")
    );
}

#[test]
fn retries_back_off_exponentially_up_to_a_cap() {
    let interval = Duration::from_secs(3);
    let delays: Vec<u64> = (1..=5)
        .map(|failures| super::jobs::retry_delay(interval, failures).as_secs())
        .collect();
    assert_eq!(delays, [3, 6, 12, 24, 48]);
    assert_eq!(super::jobs::retry_delay(interval, 40).as_secs(), 300);
    assert_eq!(super::jobs::retry_delay(Duration::ZERO, 3), Duration::ZERO);
}

#[test]
fn a_bounded_job_takes_its_final_checkpoint_once_every_subtask_read_its_input() {
    let mut cluster = cluster();
    register(&mut cluster, "w-1", 1024);
    let job = submit(&mut cluster, 2, 100, false);
    let deployments = cluster.schedule(Instant::now());
    run_all(&mut cluster, &deployments);
    assert!(cluster.due_checkpoints(Instant::now()).is_empty());
    let report_ended = |cluster: &mut Cluster, deployment: &Deployment| {
        let subtask = cluster
            .current_subtask_mut(&deployment.request.task_id)
            .unwrap();
        subtask.metrics.input_ended = true;
    };
    report_ended(&mut cluster, &deployments[0]);
    assert!(
        cluster.due_checkpoints(Instant::now()).is_empty(),
        "one subtask still reads"
    );
    report_ended(&mut cluster, &deployments[1]);
    let rounds = cluster.due_checkpoints(Instant::now());
    assert_eq!(rounds.len(), 1, "due at once, not one interval later");
    assert!(rounds[0].stop, "the subtasks end after its commit");
    complete(&mut cluster, &rounds[0]);
    for deployment in &deployments {
        let task = &deployment.request.task_id;
        cluster.task_status("w-1", task, pb::TaskState::Finished, "");
    }
    assert_eq!(job_state(&cluster, &job).0, JobState::Finished);
}

/// Checkpoint `round` of one file per subtask, acknowledged and persisted but not recorded.
fn acked(cluster: &mut Cluster, round: &CheckpointRound) -> Result<CompletionRecord, RoundEnded> {
    let checkpoint = CompletedCheckpoint {
        job_id: round.job_id.clone(),
        checkpoint_id: round.checkpoint_id,
        completed_at_ms: 0,
        stop: round.stop,
        offsets: Vec::new(),
        files: round
            .tasks
            .iter()
            .map(|task| (task.index, vec![pending(&format!("{}", task.index))]))
            .collect(),
    };
    cluster.checkpoint_acked(round, checkpoint, "/chk".into(), Duration::from_millis(5))
}

#[test]
fn a_checkpoint_id_is_written_before_its_round_is_handed_out() {
    let mut cluster = cluster();
    register(&mut cluster, "w-1", 1024);
    let job = submit(&mut cluster, 1, 100, false);
    let deployments = cluster.schedule(Instant::now());
    run_all(&mut cluster, &deployments);
    cluster.take_writes();
    let round = first_round(&mut cluster);
    let writes = cluster.take_writes();
    assert_eq!(writes.len(), 1);
    assert_eq!(writes[0].checkpoints.last_id, round.checkpoint_id);
    assert_eq!(
        writes[0].revision, round.revision,
        "the round waits for exactly this write"
    );
    assert_eq!(writes[0].id, job);
}

#[test]
fn while_the_completion_is_written_the_job_s_other_writes_and_placements_wait() {
    let mut cluster = cluster();
    let session = register(&mut cluster, "w-1", 1024);
    let job = submit(&mut cluster, 1, 100, false);
    let deployments = cluster.schedule(Instant::now());
    run_all(&mut cluster, &deployments);
    let round = first_round(&mut cluster);
    cluster.take_writes();
    let completion = acked(&mut cluster, &round).expect("every subtask still runs");
    assert_eq!(
        completion
            .record
            .checkpoints
            .last_completed
            .as_ref()
            .map(|c| c.checkpoint_id),
        Some(1)
    );
    // Not completed in the model until written: a placement now would resume from nothing.
    let stats = cluster.job_detail(&job).unwrap().checkpoints.unwrap();
    assert_eq!((stats.last_completed_id, stats.completed), (0, 0));

    // The worker dies meanwhile: the job recovers, but its record (without checkpoint 1) is
    // not written over the completion, and its subtask is not placed yet.
    cluster.worker_lost("w-1", &session, "killed");
    register(&mut cluster, "w-2", 1024);
    assert!(cluster.take_writes().is_empty(), "held back");
    assert!(
        cluster.schedule(Instant::now()).is_empty(),
        "placement waits for the outcome"
    );

    // Written: the checkpoint is the job's; the held-back change is written next, with it.
    let orders = cluster.checkpoint_recorded(&job, 1, None);
    assert!(
        orders.is_empty(),
        "its subtask no longer runs: no commit to send"
    );
    let writes = cluster.take_writes();
    assert_eq!(writes.len(), 1);
    assert!(writes[0].revision > completion.record.revision);
    assert_eq!(writes[0].state, JobState::Recovering);
    assert_eq!(
        writes[0]
            .checkpoints
            .last_completed
            .as_ref()
            .map(|c| c.checkpoint_id),
        Some(1)
    );
    let deployments = cluster.schedule(Instant::now());
    let restore = deployments[0]
        .request
        .restore
        .as_ref()
        .expect("a restore point");
    assert_eq!(restore.checkpoint_id, 1);
    assert_eq!(restore.pending_files[0].final_path, "/out/0.json");
}

#[test]
fn a_failed_completion_write_commits_nothing_and_the_job_resumes_from_the_previous_checkpoint() {
    let mut cluster = cluster();
    let session = register(&mut cluster, "w-1", 1024);
    let job = submit(&mut cluster, 2, 100, false);
    let deployments = cluster.schedule(Instant::now());
    run_all(&mut cluster, &deployments);
    let round = first_round(&mut cluster);
    complete(&mut cluster, &round);
    cluster.checkpoint_committed(&job, 1);

    let round = cluster
        .due_checkpoints(Instant::now() + Duration::from_secs(30))
        .pop()
        .expect("checkpoint 2 is due");
    assert_eq!(round.checkpoint_id, 2);
    acked(&mut cluster, &round).expect("every subtask still runs");
    let orders = cluster.checkpoint_recorded(&job, 2, Some("disk full"));
    assert!(orders.is_empty(), "no commit without the record");
    let stats = cluster.job_detail(&job).unwrap().checkpoints.unwrap();
    assert_eq!(
        (stats.last_completed_id, stats.completed, stats.failed),
        (1, 1, 1)
    );
    assert_eq!(
        stats.last_failure,
        "checkpoint 2: could not be recorded in the job store: disk full"
    );
    // The failure is written (and retried until it is); the next checkpoint has a new id.
    let writes = cluster.take_writes();
    assert_eq!(writes[0].checkpoints.failed, 1);
    let next = cluster
        .due_checkpoints(Instant::now() + Duration::from_secs(60))
        .pop()
        .expect("checkpoint 3 is due one interval later");
    assert_eq!(next.checkpoint_id, 3);

    // A subtask placed again resumes from checkpoint 1, the last one recorded.
    cluster.worker_lost("w-1", &session, "killed");
    register(&mut cluster, "w-2", 1024);
    let deployments = cluster.schedule(Instant::now());
    assert_eq!(deployments.len(), 2);
    for deployment in deployments {
        assert_eq!(deployment.request.restore.unwrap().checkpoint_id, 1);
    }
}

#[test]
fn a_subtask_replaced_after_its_ack_fails_the_checkpoint() {
    let mut cluster = cluster();
    let session = register(&mut cluster, "w-1", 1024);
    let job = submit(&mut cluster, 1, 100, false);
    let deployments = cluster.schedule(Instant::now());
    run_all(&mut cluster, &deployments);
    let round = first_round(&mut cluster);
    // Lost, placed again and running before the acks are taken in (the coordinator did not
    // look in between): the new attempt resumes without this checkpoint's files.
    cluster.worker_lost("w-1", &session, "killed");
    register(&mut cluster, "w-2", 1024);
    let again = cluster.schedule(Instant::now());
    run_all(&mut cluster, &again);
    assert_eq!(job_state(&cluster, &job).0, JobState::Running);
    // Placing the new attempt voided the round (fencing), or the ack finds its subtask gone:
    // either way the checkpoint never completes with the replaced attempt's files.
    match acked(&mut cluster, &round) {
        Err(RoundEnded::Failed(reason)) => {
            assert!(reason.contains("stopped running"), "{reason}")
        }
        Err(RoundEnded::Abandoned) => {}
        other => panic!("the checkpoint must not complete: {other:?}"),
    }
    assert_eq!(
        cluster
            .job_detail(&job)
            .unwrap()
            .checkpoints
            .unwrap()
            .last_completed_id,
        0
    );
}
