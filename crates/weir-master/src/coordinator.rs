//! The checkpoint coordinator (DESIGN.md, "Exactly-once files"):
//!
//! ```text
//! due ─▶ TriggerCheckpoint(n) on every subtask ─▶ all acked? ─▶ persist n (checkpoint.storage,
//!   then the job store) ─▶ CommitCheckpoint(n) on every subtask (publish files, commit offsets)
//! ```
//!
//! A checkpoint is complete once persisted: from then on a restarted subtask resumes from it
//! and re-commits its files, so a commit that never arrives (worker lost) loses nothing. A
//! missing or failed ack, or a failed write of the checkpoint, fails checkpoint `n`; subtasks
//! list its files again in `n + 1`.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::future::join_all;
use tracing::{Instrument, info_span, warn};
use weir_connectors::PendingFile;
use weir_core::split::SplitId;
use weir_proto::v1 as pb;

use crate::checkpoint::CompletedCheckpoint;
use crate::checkpoint_store::CheckpointStorage;
use crate::cluster::{CheckpointRound, CommitOrder, RoundTask};
use crate::service::Master;

/// How often the coordinator looks for due checkpoints (a stop wakes it at once).
const COORDINATOR_TICK: Duration = Duration::from_millis(100);
/// How long a worker may take to publish a checkpoint's files.
const COMMIT_TIMEOUT: Duration = Duration::from_secs(60);

impl Master {
    /// Takes every job's checkpoints when due, forever.
    pub async fn run_checkpoints(self: Arc<Self>, storage: Arc<CheckpointStorage>) {
        loop {
            tokio::select! {
                () = self.wake_checkpoints.notified() => {}
                () = tokio::time::sleep(COORDINATOR_TICK) => {}
            }
            let rounds = self.cluster().due_checkpoints(Instant::now());
            for round in rounds {
                let span = info_span!("checkpoint", job = %round.job_id, checkpoint_id = round.checkpoint_id);
                let master = Arc::clone(&self);
                let storage = Arc::clone(&storage);
                tokio::spawn(master.take_checkpoint(round, storage).instrument(span));
            }
        }
    }

    async fn take_checkpoint(
        self: Arc<Self>,
        round: CheckpointRound,
        storage: Arc<CheckpointStorage>,
    ) {
        let started = Instant::now();
        let (job_id, checkpoint_id) = (round.job_id.clone(), round.checkpoint_id);
        let completed = match self.collect_acks(&round).await {
            Ok(completed) => completed,
            Err(reason) => {
                self.cluster()
                    .checkpoint_failed(&job_id, checkpoint_id, &reason);
                return;
            }
        };
        let path = match storage.save(&completed).await {
            Ok(path) => path,
            Err(error) => {
                let reason = format!("could not be persisted: {error}");
                self.cluster()
                    .checkpoint_failed(&job_id, checkpoint_id, &reason);
                return;
            }
        };
        let took = started.elapsed();
        crate::http::metrics::checkpoint_completed(took);
        let orders = self.cluster().checkpoint_completed(completed, path, took);
        join_all(orders.into_iter().map(|order| self.send_commit(order))).await;
        self.cluster().checkpoint_committed(&job_id, checkpoint_id);
        if round.stop {
            // The subtasks end after the stop commit; their reports move the job to Stopped.
            self.wake_scheduler();
        }
    }

    /// Triggers the round on every subtask and merges their answers.
    async fn collect_acks(&self, round: &CheckpointRound) -> Result<CompletedCheckpoint, String> {
        let answers = join_all(round.tasks.iter().map(|task| self.trigger(task, round))).await;
        let mut offsets: Vec<(SplitId, i64)> = Vec::new();
        let mut files: BTreeMap<u32, Vec<PendingFile>> = BTreeMap::new();
        for (task, answer) in round.tasks.iter().zip(answers) {
            let answer = answer.map_err(|error| {
                format!(
                    "subtask {} ({}) did not take it: {error}",
                    task.index, task.task_id
                )
            })?;
            offsets.extend(answer.offsets.into_iter().filter_map(|offset| {
                let split = offset.split?;
                Some((SplitId::new(split.topic, split.partition), offset.offset))
            }));
            files.insert(
                task.index,
                answer
                    .pending_files
                    .into_iter()
                    .map(|file| PendingFile {
                        pending_path: file.pending_path,
                        final_path: file.final_path,
                    })
                    .collect(),
            );
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
            .client(&task.address)
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
        let result = match self.client(&task.address) {
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
