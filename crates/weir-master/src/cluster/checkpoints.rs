//! The checkpoint coordinator's bookkeeping: which job is due for a checkpoint, what a
//! completed one commits, what a failed one records, what a restarted subtask resumes from,
//! and `weir stop`. The I/O (barriers, storage, commits) is in `crate::coordinator`.

use std::time::{Duration, Instant};

use tracing::{info, warn};
use weir_proto::v1 as pb;

use super::{Cluster, JobEntry, SubtaskState, task_id, unix_millis};
use crate::checkpoint::{CheckpointLog, CompletedCheckpoint};
use crate::job_state::{JobEvent, JobState};

/// When a job's next checkpoint is due and whether one is in flight (not persisted: after a
/// master restart the jobs are placed again and their first checkpoint is one interval later).
#[derive(Debug, Clone, Default)]
pub struct CheckpointTimer {
    pub in_flight: Option<u64>,
    pub next_at: Option<Instant>,
}

/// One subtask a checkpoint round talks to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoundTask {
    pub index: u32,
    pub task_id: String,
    pub worker_id: String,
    pub address: String,
}

/// Checkpoint `checkpoint_id` of a job, to be triggered on every subtask.
#[derive(Debug, Clone)]
pub struct CheckpointRound {
    pub job_id: String,
    pub checkpoint_id: u64,
    pub stop: bool,
    pub timeout: Duration,
    pub tasks: Vec<RoundTask>,
}

/// Publish a completed checkpoint on one subtask.
#[derive(Debug, Clone)]
pub struct CommitOrder {
    pub task: RoundTask,
    pub request: pb::CommitCheckpointRequest,
}

/// Why `weir stop` was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StopError {
    #[error("no job with id {0}")]
    UnknownJob(String),
    #[error("job {job} is {state:?}; only a live job can be stopped")]
    NotLive { job: String, state: JobState },
}

impl Cluster {
    /// The checkpoints to take now: for each running (or stopping) job whose subtasks all run,
    /// none in flight, and its interval elapsed (a stop is due at once). Marks them in flight.
    pub fn due_checkpoints(&mut self, now: Instant) -> Vec<CheckpointRound> {
        let stopping: Vec<String> = self
            .jobs
            .values()
            .filter(|job| {
                job.record.state == JobState::Running && job.record.checkpoints.stop_requested
            })
            .map(|job| job.record.id.clone())
            .collect();
        for job_id in stopping {
            self.transition(&job_id, JobEvent::StopRequested, STOP_REASON);
        }
        let mut rounds = Vec::new();
        let job_ids: Vec<String> = self.jobs.keys().cloned().collect();
        for job_id in job_ids {
            let Some(job) = self.jobs.get(&job_id) else {
                continue;
            };
            // A bounded job whose subtasks all read their input takes its final checkpoint
            // at once, like a stop; its subtasks then end and the job is Finished.
            let input_ended = job
                .subtasks
                .iter()
                .all(|subtask| subtask.metrics.input_ended);
            let stop = job.record.state == JobState::Stopping || input_ended;
            let tasks = self.round_tasks(job);
            let Some(job) = self.jobs.get_mut(&job_id) else {
                continue;
            };
            let runs = matches!(job.record.state, JobState::Running | JobState::Stopping)
                && tasks.len() == job.subtasks.len();
            if !runs {
                // The interval starts again once every subtask runs.
                job.checkpoint_timer = CheckpointTimer::default();
                continue;
            }
            if job.checkpoint_timer.in_flight.is_some() {
                continue;
            }
            let interval = job.plan.checkpoint_interval;
            let next_at = *job.checkpoint_timer.next_at.get_or_insert(now + interval);
            if !stop && now < next_at {
                continue;
            }
            let log = &mut job.record.checkpoints;
            log.last_id += 1;
            let checkpoint_id = log.last_id;
            job.checkpoint_timer.in_flight = Some(checkpoint_id);
            // Ids are never reused, even across a master restart.
            if let Err(error) = self.store.put(&job.record) {
                warn!(job = %job_id, %error, "could not persist the checkpoint id");
            }
            rounds.push(CheckpointRound {
                job_id,
                checkpoint_id,
                stop,
                timeout: job.plan.checkpoint_timeout,
                tasks,
            });
        }
        rounds
    }

    /// Every subtask of `job` that runs, with its worker's address.
    fn round_tasks(&self, job: &JobEntry) -> Vec<RoundTask> {
        job.subtasks
            .iter()
            .filter(|subtask| subtask.state == SubtaskState::Running)
            .filter_map(|subtask| {
                let worker_id = subtask.worker_id.clone()?;
                let address = self.workers.get(&worker_id)?.address.clone();
                Some(RoundTask {
                    index: subtask.index,
                    task_id: task_id(&job.record.id, subtask.index, subtask.attempt),
                    worker_id,
                    address,
                })
            })
            .collect()
    }

    /// A checkpoint did not complete: counted, and the next one is one interval later (a stop
    /// checkpoint too, so a failing stop does not spin).
    pub fn checkpoint_failed(&mut self, job_id: &str, checkpoint_id: u64, reason: &str) {
        let Some(job) = self.jobs.get_mut(job_id) else {
            return;
        };
        if job.checkpoint_timer.in_flight != Some(checkpoint_id) {
            return;
        }
        warn!(job = %job_id, checkpoint_id, %reason, "checkpoint failed");
        job.checkpoint_timer = CheckpointTimer {
            in_flight: None,
            next_at: Some(Instant::now() + job.plan.checkpoint_interval),
        };
        let log = &mut job.record.checkpoints;
        log.failed += 1;
        log.last_failure = format!("checkpoint {checkpoint_id}: {reason}");
        if let Err(error) = self.store.put(&job.record) {
            warn!(job = %job_id, %error, "could not persist the checkpoint failure");
        }
    }

    /// Records a checkpoint persisted at `path` as the job's last completed one (what its
    /// subtasks resume from from now on), and returns the commits to send.
    pub fn checkpoint_completed(
        &mut self,
        checkpoint: CompletedCheckpoint,
        path: String,
        duration: Duration,
    ) -> Vec<CommitOrder> {
        let job_id = checkpoint.job_id.clone();
        let checkpoint_id = checkpoint.checkpoint_id;
        let Some(job) = self.jobs.get(&job_id) else {
            return Vec::new();
        };
        if job.checkpoint_timer.in_flight != Some(checkpoint_id) {
            return Vec::new();
        }
        let tasks = self.round_tasks(job);
        let Some(job) = self.jobs.get_mut(&job_id) else {
            return Vec::new();
        };
        // Stays in flight until its commits are sent (`checkpoint_committed`): a barrier of
        // the next checkpoint must not overtake them.
        job.checkpoint_timer.next_at = Some(Instant::now() + job.plan.checkpoint_interval);
        // Progress was made: `job.retry.times` counts failures since the last checkpoint,
        // so a long-running job is not failed by occasional, unrelated errors.
        for subtask in &mut job.subtasks {
            subtask.failures = 0;
        }
        let orders = tasks
            .into_iter()
            .map(|task| {
                let point = checkpoint.restore_point(
                    task.index,
                    job.plan.parallelism,
                    job.splits_of(task.index),
                );
                let request = pb::CommitCheckpointRequest {
                    task_id: task.task_id.clone(),
                    checkpoint_id,
                    pending_files: checkpoint
                        .files
                        .get(&task.index)
                        .into_iter()
                        .flatten()
                        .map(|file| pb::PendingFile {
                            pending_path: file.pending_path.clone(),
                            final_path: file.final_path.clone(),
                        })
                        .collect(),
                    offsets: point.offsets,
                };
                CommitOrder { task, request }
            })
            .collect();
        info!(
            job = %job_id,
            checkpoint_id,
            files = checkpoint.file_count(),
            duration_ms = duration.as_millis() as u64,
            "checkpoint completed"
        );
        let log = &mut job.record.checkpoints;
        log.completed += 1;
        log.last_duration_ms = u64::try_from(duration.as_millis()).unwrap_or(u64::MAX);
        log.last_completed_path = path;
        log.last_completed = Some(checkpoint);
        if let Err(error) = self.store.put(&job.record) {
            warn!(job = %job_id, %error, "could not persist the completed checkpoint");
        }
        orders
    }

    /// The commits of a completed checkpoint were sent (delivered or not): the next
    /// checkpoint may start.
    pub fn checkpoint_committed(&mut self, job_id: &str, checkpoint_id: u64) {
        if let Some(job) = self.jobs.get_mut(job_id)
            && job.checkpoint_timer.in_flight == Some(checkpoint_id)
        {
            job.checkpoint_timer.in_flight = None;
        }
    }

    /// `weir stop`: the job takes a final checkpoint as soon as every subtask runs, commits it,
    /// and ends Stopped. Idempotent.
    pub fn request_stop(&mut self, job_id: &str) -> Result<JobState, StopError> {
        let job = self
            .jobs
            .get_mut(job_id)
            .ok_or_else(|| StopError::UnknownJob(job_id.to_string()))?;
        let state = job.record.state;
        if state.is_terminal() || state == JobState::Cancelling {
            return Err(StopError::NotLive {
                job: job_id.to_string(),
                state,
            });
        }
        if !job.record.checkpoints.stop_requested {
            job.record.checkpoints.stop_requested = true;
            if let Err(error) = self.store.put(&job.record) {
                warn!(job = %job_id, %error, "could not persist the stop request");
            }
        }
        if state == JobState::Running {
            self.transition(job_id, JobEvent::StopRequested, STOP_REASON);
        } else if matches!(state, JobState::Submitted | JobState::Queued) {
            // Nothing runs, so nothing needs a final checkpoint.
            self.transition(job_id, JobEvent::CancelRequested, "stopped before it ran");
        }
        Ok(self.job_state(job_id).unwrap_or(state))
    }

    /// What subtask `index` of `job` resumes from, if the job has a checkpoint.
    pub(super) fn restore_point_of(job: &JobEntry, index: u32) -> Option<pb::RestorePoint> {
        job.record.checkpoints.resume_point().map(|checkpoint| {
            checkpoint.restore_point(index, job.plan.parallelism, job.splits_of(index))
        })
    }

    /// The checkpoint log a job resumes from when submitted with `--restore OLD`: OLD must have
    /// ended (stopped or failed; a cancelled job discarded its files) and hold a checkpoint.
    pub fn restore_source(&self, old_job_id: &str) -> Result<CheckpointLog, String> {
        let old = self
            .jobs
            .get(old_job_id)
            .ok_or_else(|| format!("no job with id {old_job_id} to restore from"))?;
        let state = old.record.state;
        if !state.is_terminal() {
            return Err(format!(
                "job {old_job_id} is {state:?}; stop it first (`weir stop {old_job_id}`)"
            ));
        }
        if state == JobState::Cancelled {
            return Err(format!(
                "job {old_job_id} was cancelled, which discards its uncommitted files; only a stopped, failed or finished job can be restored"
            ));
        }
        let checkpoint = old.record.checkpoints.resume_point().ok_or_else(|| {
            format!("job {old_job_id} completed no checkpoint; there is nothing to restore")
        })?;
        Ok(CheckpointLog::restored(checkpoint.clone()))
    }
}

const STOP_REASON: &str = "stop requested: taking a final checkpoint";

/// Milliseconds since the epoch, for checkpoint timestamps.
pub fn now_ms() -> i64 {
    unix_millis()
}
