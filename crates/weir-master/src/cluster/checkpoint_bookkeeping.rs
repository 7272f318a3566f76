//! The checkpoint coordinator's bookkeeping: which job is due for a checkpoint, what a
//! completed one must record and then commits, what a failed one records, what a restarted
//! subtask resumes from, and `weir stop`. The I/O (barriers, storage, the job store, commits) is
//! in `crate::checkpoint::coordinator`.
//!
//! Two job-store writes bracket a checkpoint, and the coordinator waits for each:
//! - its id, before any barrier ([`CheckpointRound::revision`]): ids never repeat, even after a
//!   crash, so no file is ever named twice;
//! - the completed checkpoint ([`Cluster::checkpoint_acked`] → [`CompletionRecord`]), before any
//!   commit: the commit point. Until its outcome is known ([`Cluster::checkpoint_recorded`]) the
//!   job's other writes and its placements wait, and the model keeps resuming from the previous
//!   checkpoint; only a durable checkpoint becomes the one subtasks resume from.

use std::time::{Duration, Instant};

use tracing::{info, warn};
use weir_proto::v1 as pb;

use super::{Cluster, JobEntry, SubtaskState, task_id, unix_millis};
use crate::checkpoint::{CheckpointLog, CompletedCheckpoint};
use crate::job_state::{JobEvent, JobState};
use crate::store::JobRecord;

/// When a job's next checkpoint is due and whether one is in flight (not persisted: after a
/// master restart the jobs are placed again and their first checkpoint is one interval later).
#[derive(Debug, Clone, Default)]
pub struct CheckpointTimer {
    pub in_flight: Option<u64>,
    pub next_at: Option<Instant>,
    /// The completed checkpoint whose job-store write is under way.
    pub recording: Option<Recording>,
}

/// A completed checkpoint being written to the job store.
#[derive(Debug, Clone)]
pub struct Recording {
    pub checkpoint: CompletedCheckpoint,
    /// Where it was persisted in checkpoint storage.
    pub path: String,
    pub duration: Duration,
}

impl Recording {
    /// `log` with this checkpoint as the last completed one.
    fn apply_to(&self, log: &mut CheckpointLog) {
        log.completed += 1;
        log.last_duration_ms = u64::try_from(self.duration.as_millis()).unwrap_or(u64::MAX);
        log.last_completed_path = self.path.clone();
        log.last_completed = Some(self.checkpoint.clone());
    }
}

/// One subtask a checkpoint round talks to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoundTask {
    pub index: u32,
    pub task_id: String,
    pub worker_id: String,
    pub address: String,
}

/// Checkpoint `checkpoint_id` of a job, to be triggered on every subtask once revision
/// `revision` of the job's record (the first holding the id) is durable.
#[derive(Debug, Clone)]
pub struct CheckpointRound {
    pub job_id: String,
    pub checkpoint_id: u64,
    pub stop: bool,
    pub timeout: Duration,
    pub tasks: Vec<RoundTask>,
    pub revision: u64,
}

/// The job-store write that makes a checkpoint complete: `record` holds it as the job's last
/// completed checkpoint. Its outcome goes to [`Cluster::checkpoint_recorded`].
#[derive(Debug, Clone)]
pub struct CompletionRecord {
    pub job_id: String,
    pub checkpoint_id: u64,
    pub record: JobRecord,
}

/// Why a round ended without a completed checkpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RoundEnded {
    /// The job stopped running meanwhile (a lost worker, a cancel): the round is forgotten, not
    /// counted; the next one starts once every subtask runs again.
    Abandoned,
    /// Counted as a failed checkpoint, for this reason (shown in `weir job`).
    Failed(String),
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
            if job.checkpoint_timer.recording.is_some() {
                continue;
            }
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
            job.record.checkpoints.last_id += 1;
            let checkpoint_id = job.record.checkpoints.last_id;
            job.checkpoint_timer.in_flight = Some(checkpoint_id);
            let timeout = job.plan.checkpoint_timeout;
            // Ids are never reused, even across a master restart: the id is written before the
            // barrier goes out (the caller waits for `revision`).
            self.record_changed(&job_id);
            let revision = self.jobs.get(&job_id).map_or(0, |job| job.record.revision);
            rounds.push(CheckpointRound {
                job_id,
                checkpoint_id,
                stop,
                timeout,
                tasks,
                revision,
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
        // A checkpoint being recorded ends with the outcome of its write, nothing else.
        if job.checkpoint_timer.in_flight != Some(checkpoint_id)
            || job.checkpoint_timer.recording.is_some()
        {
            return;
        }
        warn!(job = %job_id, checkpoint_id, %reason, "checkpoint failed");
        job.checkpoint_timer = CheckpointTimer {
            in_flight: None,
            next_at: Some(Instant::now() + job.plan.checkpoint_interval),
            recording: None,
        };
        let log = &mut job.record.checkpoints;
        log.failed += 1;
        log.last_failure = format!("checkpoint {checkpoint_id}: {reason}");
        self.record_changed(job_id);
    }

    /// Every subtask acknowledged `checkpoint` of `round` and it is persisted at `path`:
    /// returns the job-store write that completes it. The round is over instead when the job
    /// stopped running meanwhile, and failed when a subtask of the round no longer runs as the
    /// attempt that acknowledged it: a new attempt resumes from the previous checkpoint and
    /// discards the files this one would publish.
    pub fn checkpoint_acked(
        &mut self,
        round: &CheckpointRound,
        checkpoint: CompletedCheckpoint,
        path: String,
        duration: Duration,
    ) -> Result<CompletionRecord, RoundEnded> {
        let job_id = round.job_id.clone();
        let checkpoint_id = round.checkpoint_id;
        let job = self.jobs.get(&job_id).ok_or(RoundEnded::Abandoned)?;
        if job.checkpoint_timer.in_flight != Some(checkpoint_id)
            || job.checkpoint_timer.recording.is_some()
        {
            return Err(RoundEnded::Abandoned);
        }
        let current = self.round_tasks(job);
        if let Some(task) = round.tasks.iter().find(|task| !current.contains(task)) {
            let reason = format!(
                "subtask {} ({}) stopped running before it was recorded",
                task.index, task.task_id
            );
            self.checkpoint_failed(&job_id, checkpoint_id, &reason);
            return Err(RoundEnded::Failed(reason));
        }
        let job = self.jobs.get_mut(&job_id).ok_or(RoundEnded::Abandoned)?;
        let recording = Recording {
            checkpoint,
            path,
            duration,
        };
        let mut record = job.record.clone();
        recording.apply_to(&mut record.checkpoints);
        // The snapshot takes the next revision; changes made while it is written get later
        // ones, and are written after it (`take_writes` holds them back meanwhile).
        job.record.revision += 1;
        record.revision = job.record.revision;
        job.checkpoint_timer.recording = Some(recording);
        Ok(CompletionRecord {
            job_id,
            checkpoint_id,
            record,
        })
    }

    /// The outcome of a [`CompletionRecord`]'s write. Written (`error` is `None`): the
    /// checkpoint is the job's last completed one — what its subtasks resume from — and the
    /// commits to send are returned. Not written: the checkpoint failed (counted, with the
    /// store's error as its reason); nothing is committed, the subtasks list its files again in
    /// the next checkpoint, which is one interval later.
    pub fn checkpoint_recorded(
        &mut self,
        job_id: &str,
        checkpoint_id: u64,
        error: Option<&str>,
    ) -> Vec<CommitOrder> {
        let Some(job) = self.jobs.get_mut(job_id) else {
            return Vec::new();
        };
        let recording = match job.checkpoint_timer.recording.take() {
            Some(recording) if recording.checkpoint.checkpoint_id == checkpoint_id => recording,
            other => {
                job.checkpoint_timer.recording = other;
                return Vec::new();
            }
        };
        if let Some(error) = error {
            let reason = format!("could not be recorded in the job store: {error}");
            self.checkpoint_failed(job_id, checkpoint_id, &reason);
            return Vec::new();
        }
        let Some(job) = self.jobs.get(job_id) else {
            return Vec::new();
        };
        let tasks = self.round_tasks(job);
        let Some(job) = self.jobs.get_mut(job_id) else {
            return Vec::new();
        };
        // Memory now matches the written snapshot (plus changes made meanwhile, which are
        // marked and written next), so this needs no write of its own.
        recording.apply_to(&mut job.record.checkpoints);
        // Stays in flight until its commits are sent (`checkpoint_committed`): a barrier of
        // the next checkpoint must not overtake them.
        job.checkpoint_timer.next_at = Some(Instant::now() + job.plan.checkpoint_interval);
        // Progress was made: `job.retry.times` counts failures since the last checkpoint,
        // so a long-running job is not failed by occasional, unrelated errors.
        for subtask in &mut job.subtasks {
            subtask.failures = 0;
        }
        let checkpoint = &recording.checkpoint;
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
                        .map(pb::PendingFile::from)
                        .collect(),
                    offsets: point.offsets.iter().map(pb::SplitOffset::from).collect(),
                };
                CommitOrder { task, request }
            })
            .collect();
        info!(
            job = %job_id,
            checkpoint_id,
            files = checkpoint.file_count(),
            duration_ms = recording.duration.as_millis() as u64,
            "checkpoint completed"
        );
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
            self.record_changed(job_id);
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
            let point = checkpoint.restore_point(index, job.plan.parallelism, job.splits_of(index));
            pb::RestorePoint::from(&point)
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
