//! The tasks deployed on this worker: start, cancel, report, and their metrics for heartbeats.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use tokio::sync::watch;
use tokio_util::task::TaskTracker;
use tracing::{Instrument, info, info_span, warn};
use weir_proto::v1 as pb;

use weir_core::split::SplitId;

use crate::session::CurrentSession;
use crate::task::{
    self, ReadLimitShare, RestorePoint, RunningTask, TaskHandle, TaskOutcome, TaskSpec,
};

/// How long a cancel waits for the task to stop before answering anyway.
const CANCEL_WAIT: Duration = Duration::from_secs(10);

/// Where task status reports go (the master link).
pub trait StatusSink: Send + Sync + 'static {
    fn report(&self, report: pb::TaskStatusReport);
}

struct Slot {
    handle: TaskHandle,
    /// Job id, subtask index and attempt: the labels of its metrics.
    identity: TaskIdentity,
    reserved: u64,
    /// The worker session the task was deployed under; its reports name it.
    session_id: String,
    /// Fires when the task has ended.
    ended: watch::Receiver<bool>,
}

/// Which job, subtask and attempt a task runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskIdentity {
    pub job_id: String,
    pub subtask_index: u32,
    pub attempt: u32,
}

/// The running tasks of this worker.
#[derive(Clone)]
pub struct TaskTable {
    worker_id: String,
    slots: Arc<Mutex<HashMap<String, Slot>>>,
    intake_paused: watch::Receiver<bool>,
    session: CurrentSession,
    /// Tracks each task's watcher, which ends once the task has ended and been reported.
    tracker: TaskTracker,
}

#[derive(Debug, thiserror::Error)]
pub enum DeployError {
    #[error("task {0} is already deployed on this worker")]
    Duplicate(String),
    #[error(
        "task {task} was deployed under worker session {session}, which ended while it started; it was stopped"
    )]
    SessionEnded { task: String, session: String },
    #[error("job file of task {task}: {source}")]
    Config {
        task: String,
        source: Box<weir_core::config::ConfigError>,
    },
    #[error("task {task} could not start: {source}")]
    Start {
        task: String,
        source: task::TaskError,
    },
    #[error("deployment of task {task}: {source}")]
    Malformed {
        task: String,
        source: weir_proto::convert::ConvertError,
    },
}

impl TaskTable {
    pub fn new(
        worker_id: String,
        intake_paused: watch::Receiver<bool>,
        session: CurrentSession,
        tracker: TaskTracker,
    ) -> Self {
        Self {
            worker_id,
            slots: Arc::new(Mutex::new(HashMap::new())),
            intake_paused,
            session,
            tracker,
        }
    }

    fn slots(&self) -> MutexGuard<'_, HashMap<String, Slot>> {
        self.slots.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The handle of a task running here.
    pub(crate) fn handle(&self, task_id: &str) -> Option<task::TaskHandle> {
        self.slots().get(task_id).map(|slot| slot.handle.clone())
    }

    /// Starts a task deployed under worker session `session_id` and reports it running; its end
    /// is reported to `status`.
    pub fn deploy(
        &self,
        request: pb::DeployTaskRequest,
        session_id: String,
        status: Arc<dyn StatusSink>,
    ) -> Result<(), DeployError> {
        let task_id = request.task_id.clone();
        if self.slots().contains_key(&task_id) {
            return Err(DeployError::Duplicate(task_id));
        }
        let config = weir_core::config::parse_job(
            &request.config,
            &request.origin,
            &weir_core::config::ParsePolicy::SelfContained,
        )
        .map_err(|source| DeployError::Config {
            task: task_id.clone(),
            source: Box::new(source),
        })?;
        let spec = TaskSpec {
            job_id: request.job_id.clone(),
            task_id: task_id.clone(),
            subtask_index: request.subtask_index,
            parallelism: request.parallelism,
            config,
            splits: request.splits.iter().map(SplitId::from).collect(),
            read_limit: read_limit_from_proto(request.read_limit),
            attempt: request.attempt,
            restore: request
                .restore
                .as_ref()
                .map(RestorePoint::try_from)
                .transpose()
                .map_err(|source| DeployError::Malformed {
                    task: task_id.clone(),
                    source,
                })?,
        };
        let running = task::spawn_task(spec, self.intake_paused.clone()).map_err(|source| {
            DeployError::Start {
                task: task_id.clone(),
                source,
            }
        })?;
        let (ended_tx, ended) = watch::channel(false);
        {
            let mut slots = self.slots();
            // Checked again under the lock the fence's `cancel_all` takes after it ends the
            // session: either the fence sees this task and stops it, or this sees the fence.
            if !self.session.is(&session_id) {
                drop(slots);
                running.cancel();
                return Err(DeployError::SessionEnded {
                    task: task_id,
                    session: session_id,
                });
            }
            slots.insert(
                task_id.clone(),
                Slot {
                    handle: running.handle(),
                    identity: TaskIdentity {
                        job_id: request.job_id.clone(),
                        subtask_index: request.subtask_index,
                        attempt: request.attempt,
                    },
                    reserved: request.reserved_bytes,
                    session_id,
                    ended,
                },
            );
        }
        info!(task = %task_id, job = %request.job_id, reserved = request.reserved_bytes, "task deployed");
        status.report(self.report(&task_id, pb::TaskState::Running, String::new()));

        let table = self.clone();
        let span = info_span!("task", job = %request.job_id, task = %task_id);
        self.tracker.spawn(
            async move {
                let outcome = table.watch(running).await;
                let (state, message) = match outcome {
                    TaskOutcome::Finished => (pb::TaskState::Finished, String::new()),
                    TaskOutcome::Cancelled => (pb::TaskState::Cancelled, String::new()),
                    TaskOutcome::Failed(error) => (pb::TaskState::Failed, error),
                };
                let report = table.report(&task_id, state, message);
                table.slots().remove(&task_id);
                let _ = ended_tx.send(true);
                status.report(report);
            }
            .instrument(span),
        );
        Ok(())
    }

    async fn watch(&self, mut running: RunningTask) -> TaskOutcome {
        let outcome = running.wait().await;
        match &outcome {
            TaskOutcome::Failed(error) => warn!(%error, "task failed"),
            other => info!(outcome = ?other, "task ended"),
        }
        outcome
    }

    fn report(&self, task_id: &str, state: pb::TaskState, message: String) -> pb::TaskStatusReport {
        let (metrics, session_id) = self
            .slots()
            .get(task_id)
            .map(|slot| {
                let metrics = to_proto(task_id, slot.handle.metrics());
                (Some(metrics), slot.session_id.clone())
            })
            .unwrap_or_default();
        pb::TaskStatusReport {
            worker_id: self.worker_id.clone(),
            task_id: task_id.to_string(),
            state: state as i32,
            message,
            metrics,
            session_id,
        }
    }

    /// Adds splits to a running task (partition discovery) and re-rates its read limit.
    pub fn add_splits(&self, request: pb::AddSplitsRequest) -> Result<(), AddSplitsError> {
        let mut slots = self.slots();
        let slot = slots
            .get_mut(&request.task_id)
            .ok_or_else(|| AddSplitsError::UnknownTask(request.task_id.clone()))?;
        let splits = request.splits.iter().map(SplitId::from).collect();
        slot.handle
            .add_splits(splits, read_limit_from_proto(request.read_limit))
            .map_err(|source| AddSplitsError::Task {
                task: request.task_id.clone(),
                source,
            })?;
        slot.reserved = request.reserved_bytes;
        Ok(())
    }

    /// Stops a task and waits (bounded) until it has stopped. False if it was not running.
    /// With `discard_uncommitted` (the job was cancelled) the task's sink deletes every file
    /// not committed yet.
    pub async fn cancel(&self, task_id: &str, discard_uncommitted: bool) -> bool {
        let ended = {
            let slots = self.slots();
            let Some(slot) = slots.get(task_id) else {
                return false;
            };
            if discard_uncommitted {
                slot.handle.cancel_discarding();
            } else {
                slot.handle.cancel();
            }
            slot.ended.clone()
        };
        let mut ended = ended;
        let stopped = tokio::time::timeout(CANCEL_WAIT, ended.wait_for(|ended| *ended)).await;
        if stopped.is_err() {
            warn!(task = %task_id, "task did not stop within {CANCEL_WAIT:?} of its cancel");
        }
        true
    }

    /// Stops every task, all at once, and waits (each bounded) until they have stopped: the
    /// worker lost its master or is stopping, and can no longer be told what to run. Returns how
    /// many there were.
    pub async fn cancel_all(&self) -> usize {
        let task_ids: Vec<String> = self.slots().keys().cloned().collect();
        futures::future::join_all(task_ids.iter().map(|task_id| self.cancel(task_id, false))).await;
        task_ids.len()
    }

    /// Sum of the reservations of the deployed tasks.
    pub fn reserved(&self) -> u64 {
        self.slots().values().map(|slot| slot.reserved).sum()
    }

    /// Every task's identity and counters now, for `/metrics` (the same snapshots heartbeats
    /// carry).
    pub fn snapshots(&self) -> Vec<(TaskIdentity, task::TaskMetricsSnapshot)> {
        self.slots()
            .values()
            .map(|slot| (slot.identity.clone(), slot.handle.metrics()))
            .collect()
    }

    /// Metrics of every task, for a heartbeat.
    pub fn metrics(&self) -> Vec<pb::TaskMetrics> {
        self.slots()
            .iter()
            .map(|(task_id, slot)| to_proto(task_id, slot.handle.metrics()))
            .collect()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum AddSplitsError {
    #[error("task {0} is not running on this worker")]
    UnknownTask(String),
    #[error("task {task} could not take the new splits: {source}")]
    Task {
        task: String,
        source: task::TaskError,
    },
}

fn read_limit_from_proto(limit: Option<pb::ReadLimit>) -> ReadLimitShare {
    let limit = limit.unwrap_or_default();
    ReadLimitShare {
        rows_per_second: limit.rows_per_second,
        bytes_per_second: limit.bytes_per_second,
    }
}

fn to_proto(task_id: &str, snapshot: task::TaskMetricsSnapshot) -> pb::TaskMetrics {
    let known = |value: Option<i64>| value.unwrap_or(-1);
    let splits: Vec<pb::SplitMetrics> = snapshot
        .splits
        .iter()
        .map(|split| {
            let lag = match (split.high_watermark, split.position) {
                (Some(end), Some(position)) => (end - position).max(0),
                _ => -1,
            };
            pb::SplitMetrics {
                split: split.split.clone(),
                rows_read: split.rows_read,
                bytes_read: split.bytes_read,
                queue_rows: split.queue_rows,
                queue_bytes: split.queue_bytes,
                queue_peak_bytes: split.queue_peak_bytes,
                queue_max_bytes: split.queue_max_bytes,
                position: known(split.position),
                high_watermark: known(split.high_watermark),
                lag,
                records_skipped: split.records_skipped,
                prefetch_bytes: split.prefetch_bytes.unwrap_or_default(),
                // Rates are filled in by the heartbeat, which knows the previous sample.
                rows_per_second: 0.0,
                bytes_per_second: 0.0,
            }
        })
        .collect();
    let consumer_lag = weir_core::split::total_lag(splits.iter().map(|split| split.lag));
    pb::TaskMetrics {
        task_id: task_id.to_string(),
        rows_read: snapshot.rows_read,
        bytes_read: snapshot.bytes_read,
        rows_written: snapshot.rows_written,
        rows_per_second: 0.0,
        queue_rows: snapshot.queue_rows,
        queue_bytes: snapshot.queue_bytes,
        queue_peak_bytes: snapshot.queue_peak_bytes,
        queue_max_bytes: snapshot.queue_max_bytes,
        splits,
        records_skipped: snapshot.records_skipped,
        consumer_lag,
        last_error: snapshot.last_error.unwrap_or_default(),
        bytes_per_second: 0.0,
        input_ended: snapshot.input_ended,
        sink_buffer_bytes: snapshot.sink_buffer_bytes,
        sink_buffer_max_bytes: snapshot.sink_buffer_max_bytes,
    }
}
