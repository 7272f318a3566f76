//! The checkpoint coordinator (`docs/architecture.md`, "Checkpoints and exactly-once files"):
//!
//! ```text
//! due ─▶ record id n in the job store ─▶ TriggerCheckpoint(n) on every subtask ─▶ all acked?
//!   ─▶ write chk-n to checkpoint storage ─▶ record n as completed in the job store (the commit
//!   point) ─▶ CommitCheckpoint(n) on every subtask (publish files, commit offsets)
//! ```
//!
//! Each step waits for the one before: no barrier leaves before its id is durable (ids never
//! repeat, so no file is named twice), and no commit leaves before the job store holds the
//! completed checkpoint. From then on a restarted subtask resumes from it and re-commits its
//! files, so a commit that never arrives (worker lost, master killed) loses nothing. A missing or
//! failed ack, or a failed write, fails checkpoint `n` (counted, reason in `weir job`); subtasks
//! list its files again in `n + 1`. The bookkeeping is in `crate::cluster` (checkpoints.rs);
//! `crate::fault` marks the points a test can abort the master at.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::StreamExt;
use futures::stream::FuturesUnordered;
use tokio::task::JoinHandle;
use tracing::{Instrument, info_span, warn};
use weir_core::checkpoint::PendingFile;
use weir_core::split::SplitId;
use weir_proto::v1 as pb;

use crate::checkpoint::CompletedCheckpoint;
use crate::checkpoint::storage::CheckpointStorage;
use crate::cluster::{CheckpointRound, CommitOrder, RoundEnded, RoundTask, WriteOutcome};
use crate::convert::Ack;
use crate::fault::{FaultPoint, reached};
use crate::service::Master;

/// How often the coordinator looks for due checkpoints (a stop wakes it at once).
const COORDINATOR_TICK: Duration = Duration::from_millis(100);
/// How long a worker may take to publish a checkpoint's files.
const COMMIT_TIMEOUT: Duration = Duration::from_secs(60);

/// How one checkpoint round ended: what metrics and logs count.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CheckpointOutcome {
    /// Recorded in the job store and its commits sent.
    Completed { files: usize, duration: Duration },
    /// Counted as failed in the job's checkpoint log, for this reason.
    Failed { reason: String },
    /// The job stopped running meanwhile; nothing was counted.
    Abandoned,
}

impl Master {
    /// Takes every job's checkpoints when due, forever.
    pub async fn run_checkpoints(self: Arc<Self>, storage: Arc<CheckpointStorage>) {
        loop {
            tokio::select! {
                () = self.wake_checkpoints.notified() => {}
                () = tokio::time::sleep(COORDINATOR_TICK) => {}
            }
            self.start_due_checkpoints(&storage).await;
        }
    }

    /// Starts the checkpoints due now, each once its id is durable; returns their rounds.
    pub(crate) async fn start_due_checkpoints(
        self: &Arc<Self>,
        storage: &Arc<CheckpointStorage>,
    ) -> Vec<JoinHandle<CheckpointOutcome>> {
        let (rounds, outcomes) = self
            .update_with_outcomes(|cluster| cluster.due_checkpoints(Instant::now()))
            .await;
        rounds
            .into_iter()
            .map(|round| {
                let span = info_span!("checkpoint", job = %round.job_id, checkpoint_id = round.checkpoint_id);
                let id_error = WriteOutcome::error_of(&outcomes, &round.job_id, round.revision);
                let master = Arc::clone(self);
                let storage = Arc::clone(storage);
                self.spawn_tracked(
                    master
                        .take_checkpoint(round, id_error, storage)
                        .instrument(span),
                )
            })
            .collect()
    }

    /// One checkpoint round, from the barrier to the commits. `id_error` is why its id could
    /// not be recorded, if it could not.
    async fn take_checkpoint(
        self: Arc<Self>,
        round: CheckpointRound,
        id_error: Option<String>,
        storage: Arc<CheckpointStorage>,
    ) -> CheckpointOutcome {
        let started = Instant::now();
        let (job_id, checkpoint_id) = (round.job_id.clone(), round.checkpoint_id);
        // No barrier before the id is durable: after a crash it is never issued again.
        if let Some(error) = id_error {
            let reason = format!("its id could not be recorded in the job store: {error}");
            return self.fail(&round, reason).await;
        }
        reached(FaultPoint::BeforeTrigger);
        let completed = match self.collect_acks(&round).await {
            Ok(completed) => completed,
            Err(reason) => return self.fail(&round, reason).await,
        };
        reached(FaultPoint::AllAcks);
        let files = completed.file_count();
        let path = match storage.save(&completed).await {
            Ok(path) => path,
            Err(error) => {
                let reason = format!("could not be persisted: {error}");
                return self.fail(&round, reason).await;
            }
        };
        reached(FaultPoint::StorageWritten);

        // The commit point: the job store must hold the completed checkpoint before any
        // commit leaves.
        let acked = self
            .update(|cluster| cluster.checkpoint_acked(&round, completed, path, started.elapsed()))
            .await;
        let completion = match acked {
            Ok(completion) => completion,
            Err(RoundEnded::Abandoned) => return CheckpointOutcome::Abandoned,
            Err(RoundEnded::Failed(reason)) => return CheckpointOutcome::Failed { reason },
        };
        let revision = completion.record.revision;
        let outcomes = self.write_records(vec![completion.record]).await;
        let error = WriteOutcome::error_of(&outcomes, &job_id, revision);
        let orders = self
            .update(|cluster| cluster.checkpoint_recorded(&job_id, checkpoint_id, error.as_deref()))
            .await;
        // Placements of the job waited for this outcome.
        self.wake_scheduler();
        if let Some(error) = error {
            let reason = format!("could not be recorded in the job store: {error}");
            return CheckpointOutcome::Failed { reason };
        }
        reached(FaultPoint::StoreWritten);
        crate::http::metrics::checkpoint_completed(started.elapsed());
        if round.stop {
            reached(FaultPoint::StopRecorded);
        }

        let mut commits: FuturesUnordered<_> = orders
            .into_iter()
            .map(|order| self.send_commit(order))
            .collect();
        let mut answered = 0;
        while commits.next().await.is_some() {
            answered += 1;
            if answered == 1 {
                reached(FaultPoint::FirstCommit);
            }
        }
        reached(FaultPoint::AllCommits);
        self.update(|cluster| cluster.checkpoint_committed(&job_id, checkpoint_id))
            .await;
        reached(FaultPoint::Committed);
        if round.stop {
            // The subtasks end after the stop commit; their reports move the job to Stopped.
            self.wake_scheduler();
        }
        CheckpointOutcome::Completed {
            files,
            duration: started.elapsed(),
        }
    }

    /// Counts checkpoint `round` failed for `reason`.
    async fn fail(&self, round: &CheckpointRound, reason: String) -> CheckpointOutcome {
        self.update(|cluster| {
            cluster.checkpoint_failed(&round.job_id, round.checkpoint_id, &reason)
        })
        .await;
        CheckpointOutcome::Failed { reason }
    }

    /// Triggers the round on every subtask and merges their answers as they come.
    async fn collect_acks(&self, round: &CheckpointRound) -> Result<CompletedCheckpoint, String> {
        let mut answers: FuturesUnordered<_> = round
            .tasks
            .iter()
            .map(|task| async move { (task, self.trigger(task, round).await) })
            .collect();
        let mut offsets: Vec<(SplitId, i64)> = Vec::new();
        let mut files: BTreeMap<u32, Vec<PendingFile>> = BTreeMap::new();
        let mut first = true;
        while let Some((task, answer)) = answers.next().await {
            if first {
                reached(FaultPoint::TriggerSent);
            }
            let answer = answer.map_err(|error| {
                format!(
                    "subtask {} ({}) did not take it: {error}",
                    task.index, task.task_id
                )
            })?;
            let ack = Ack::try_from(answer).map_err(|error| {
                format!(
                    "subtask {} ({}) answered with a {error}",
                    task.index, task.task_id
                )
            })?;
            offsets.extend(ack.offsets);
            files.insert(task.index, ack.files);
            if first && !answers.is_empty() {
                reached(FaultPoint::SomeAcks);
            }
            first = false;
        }
        offsets.sort();
        Ok(CompletedCheckpoint {
            job_id: round.job_id.clone(),
            checkpoint_id: round.checkpoint_id,
            completed_at_ms: crate::cluster::now_ms(),
            stop: round.stop,
            offsets,
            files,
        })
    }

    async fn trigger(
        &self,
        task: &RoundTask,
        round: &CheckpointRound,
    ) -> Result<pb::TriggerCheckpointResponse, String> {
        let mut client = self
            .client(&task.worker_id, &task.address)
            .map_err(|status| status.message().to_string())?;
        let request = pb::TriggerCheckpointRequest {
            task_id: task.task_id.clone(),
            checkpoint_id: round.checkpoint_id,
            stop: round.stop,
        };
        match tokio::time::timeout(round.timeout, client.trigger_checkpoint(request)).await {
            Ok(Ok(response)) => Ok(response.into_inner()),
            Ok(Err(status)) => Err(status.message().to_string()),
            Err(_) => Err(format!(
                "no answer within checkpoint.timeout ({} ms)",
                round.timeout.as_millis()
            )),
        }
    }

    /// Publishes a completed checkpoint on one subtask. A failure is only logged: the files
    /// stay pending, and the subtask lists them again in its next checkpoint or, restarted,
    /// re-commits them from this one.
    async fn send_commit(&self, order: CommitOrder) {
        let CommitOrder { task, request } = order;
        let checkpoint_id = request.checkpoint_id;
        let result = match self.client(&task.worker_id, &task.address) {
            Ok(mut client) => {
                match tokio::time::timeout(COMMIT_TIMEOUT, client.commit_checkpoint(request)).await
                {
                    Ok(Ok(_)) => Ok(()),
                    Ok(Err(status)) => Err(status.message().to_string()),
                    Err(_) => Err(format!("no answer within {} s", COMMIT_TIMEOUT.as_secs())),
                }
            }
            Err(status) => Err(status.message().to_string()),
        };
        if let Err(error) = result {
            warn!(task = %task.task_id, worker = %task.worker_id, checkpoint_id, %error, "commit failed; the subtask re-commits on restart");
        }
    }
}
