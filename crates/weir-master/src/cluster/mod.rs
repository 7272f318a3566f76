//! The master's picture of the cluster: registered workers, jobs and their subtasks.
//!
//! Everything here is synchronous and free of I/O except the job store writes, so it runs under
//! one lock and its rules are unit-tested directly. The gRPC layer (`crate::service`) turns
//! requests into calls on [`Cluster`] and sends the [`Deployment`]s and [`CancelOrder`]s those
//! calls return.

mod checkpoints;
mod jobs;
mod observe;
mod plan;
mod splits;
mod views;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use tracing::{info, warn};
use weir_proto::v1 as pb;

use crate::job_state::{JobEvent, JobState};
use crate::store::{JobRecord, JobStore};

pub use checkpoints::{
    CheckpointRound, CheckpointTimer, CommitOrder, RoundTask, StopError, now_ms,
};
pub use jobs::SubmitError;
pub use plan::{JobPlan, JobReadLimit, ListSplitsError, SplitLister};
pub use splits::{SplitUpdate, Splits};

/// Tunables of the cluster model, from the master's configuration.
#[derive(Debug, Clone, Copy)]
pub struct ClusterSettings {
    pub heartbeat_timeout: Duration,
    pub heartbeat_interval: Duration,
    pub high_watermark: f64,
}

/// A registered worker.
#[derive(Debug, Clone)]
pub struct WorkerEntry {
    pub id: String,
    /// Where it serves `WorkerService`.
    pub address: String,
    pub cores: u32,
    pub memory_limit: u64,
    /// Identifies the current registration; messages of older ones are refused.
    pub session_id: String,
    pub alive: bool,
    pub last_heard: Instant,
    pub memory: pb::MemoryReport,
}

/// Lifecycle of one attempt of one subtask.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SubtaskState {
    /// Needs a worker.
    Pending,
    Deploying,
    Running,
    Finished,
    Failed,
    Cancelled,
    /// Its worker died; needs a worker again.
    Lost,
}

impl SubtaskState {
    /// Whether the subtask holds memory on a worker.
    pub fn holds_reservation(self) -> bool {
        matches!(self, Self::Deploying | Self::Running)
    }

    fn to_proto(self) -> pb::TaskState {
        match self {
            Self::Pending => pb::TaskState::Unspecified,
            Self::Deploying => pb::TaskState::Deploying,
            Self::Running => pb::TaskState::Running,
            Self::Finished => pb::TaskState::Finished,
            Self::Failed => pb::TaskState::Failed,
            Self::Cancelled => pb::TaskState::Cancelled,
            Self::Lost => pb::TaskState::Lost,
        }
    }
}

/// One parallel instance of a job.
#[derive(Debug, Clone)]
pub struct Subtask {
    pub index: u32,
    /// Raised each time the subtask is placed; part of its task id, so reports of an older
    /// attempt are recognised and ignored.
    pub attempt: u32,
    pub worker_id: Option<String>,
    pub state: SubtaskState,
    pub reason: String,
    pub metrics: pb::TaskMetrics,
    pub failures: u32,
    /// A failed subtask is retried no earlier than this.
    pub not_before: Option<Instant>,
}

impl Subtask {
    fn new(index: u32) -> Self {
        Self {
            index,
            attempt: 0,
            worker_id: None,
            state: SubtaskState::Pending,
            reason: String::new(),
            metrics: pb::TaskMetrics::default(),
            failures: 0,
            not_before: None,
        }
    }

    fn needs_placement(&self, now: Instant) -> bool {
        matches!(self.state, SubtaskState::Pending | SubtaskState::Lost)
            && self.not_before.is_none_or(|at| at <= now)
    }
}

/// A job with its subtasks.
#[derive(Debug, Clone)]
pub struct JobEntry {
    pub record: JobRecord,
    pub plan: JobPlan,
    pub subtasks: Vec<Subtask>,
    /// The source's splits and which subtask reads which.
    pub splits: Splits,
    pub checkpoint_timer: CheckpointTimer,
}

/// The task id of one attempt of one subtask: `<job>.<subtask>.<attempt>`.
pub fn task_id(job_id: &str, index: u32, attempt: u32) -> String {
    format!("{job_id}.{index}.{attempt}")
}

/// The inverse of [`task_id`].
pub fn parse_task_id(task_id: &str) -> Option<(&str, u32, u32)> {
    let mut parts = task_id.rsplitn(3, '.');
    let attempt = parts.next()?.parse().ok()?;
    let index = parts.next()?.parse().ok()?;
    let job = parts.next()?;
    Some((job, index, attempt))
}

/// Send this deployment to a worker.
#[derive(Debug, Clone)]
pub struct Deployment {
    pub worker_id: String,
    pub address: String,
    pub request: pb::DeployTaskRequest,
}

/// Ask a worker to stop a task.
#[derive(Debug, Clone)]
pub struct CancelOrder {
    pub worker_id: String,
    pub address: String,
    pub task_id: String,
    /// The job was cancelled: the task's sink discards every uncommitted file.
    pub discard_uncommitted: bool,
}

/// A heartbeat from a registration that is no longer current.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("worker {0} is not registered under this session; it must register again")]
pub struct StaleSession(pub String);

pub struct Cluster {
    settings: ClusterSettings,
    store: JobStore,
    workers: BTreeMap<String, WorkerEntry>,
    jobs: BTreeMap<String, JobEntry>,
}

pub(crate) fn unix_millis() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|elapsed| elapsed.as_millis() as i64)
        .unwrap_or_default()
}

impl Cluster {
    pub fn new(settings: ClusterSettings, store: JobStore) -> Self {
        Self {
            settings,
            store,
            workers: BTreeMap::new(),
            jobs: BTreeMap::new(),
        }
    }

    pub fn settings(&self) -> ClusterSettings {
        self.settings
    }

    /// Records a worker's (re-)registration and returns its new session id.
    ///
    /// A worker that registers while the master still believes an older registration alive has
    /// restarted: the subtasks of the old registration are lost.
    pub fn register_worker(&mut self, request: &pb::RegisterWorkerRequest) -> String {
        let worker_id = request.worker_id.clone();
        if let Some(previous) = self.workers.get(&worker_id).filter(|worker| worker.alive) {
            let session = previous.session_id.clone();
            self.worker_lost(&worker_id, &session, "it registered again (restarted)");
        }
        let session_id = uuid::Uuid::new_v4().simple().to_string();
        info!(worker = %worker_id, address = %request.address, memory_limit = request.memory_limit_bytes, "worker registered");
        self.workers.insert(
            worker_id.clone(),
            WorkerEntry {
                id: worker_id,
                address: request.address.clone(),
                cores: request.cores,
                memory_limit: request.memory_limit_bytes,
                session_id: session_id.clone(),
                alive: true,
                last_heard: Instant::now(),
                memory: request.memory.unwrap_or_default(),
            },
        );
        session_id
    }

    /// Takes a heartbeat's memory report and task metrics.
    pub fn heartbeat(&mut self, beat: &pb::HeartbeatRequest) -> Result<(), StaleSession> {
        let worker = self
            .workers
            .get_mut(&beat.worker_id)
            .filter(|worker| worker.alive && worker.session_id == beat.session_id)
            .ok_or_else(|| StaleSession(beat.worker_id.clone()))?;
        worker.last_heard = Instant::now();
        if let Some(memory) = beat.memory {
            worker.memory = memory;
        }
        for metrics in &beat.tasks {
            if let Some(subtask) = self.current_subtask_mut(&metrics.task_id) {
                subtask.metrics = metrics.clone();
            }
        }
        Ok(())
    }

    /// Keeps the last counters a task reported with its final status.
    pub fn record_final_metrics(&mut self, task_id: &str, metrics: pb::TaskMetrics) {
        if let Some(subtask) = self.current_subtask_mut(task_id) {
            subtask.metrics = metrics;
        }
    }

    /// Declares workers dead whose last heartbeat is older than `heartbeat_timeout`.
    pub fn expire_silent_workers(&mut self, now: Instant) -> Vec<String> {
        let timeout = self.settings.heartbeat_timeout;
        let silent: Vec<(String, String)> = self
            .workers
            .values()
            .filter(|worker| worker.alive && now.duration_since(worker.last_heard) > timeout)
            .map(|worker| (worker.id.clone(), worker.session_id.clone()))
            .collect();
        for (worker_id, session) in &silent {
            let cause = format!("no heartbeat for {} ms", timeout.as_millis());
            self.worker_lost(worker_id, session, &cause);
        }
        silent.into_iter().map(|(worker_id, _)| worker_id).collect()
    }

    /// Marks a worker dead (if `session_id` is still its current one) and its subtasks lost.
    pub fn worker_lost(&mut self, worker_id: &str, session_id: &str, cause: &str) -> bool {
        let Some(worker) = self
            .workers
            .get_mut(worker_id)
            .filter(|worker| worker.alive && worker.session_id == session_id)
        else {
            return false;
        };
        worker.alive = false;
        warn!(worker = %worker_id, %cause, "worker is DEAD");
        let reason = format!("worker {worker_id} lost: {cause}");
        let job_ids: Vec<String> = self.jobs.keys().cloned().collect();
        for job_id in job_ids {
            self.lose_subtasks_on(&job_id, worker_id, &reason);
        }
        true
    }

    /// Current reservations on each worker, derived from the subtasks that hold one.
    pub fn reserved_on(&self, worker_id: &str) -> u64 {
        self.jobs
            .values()
            .flat_map(|job| {
                job.subtasks
                    .iter()
                    .filter(|subtask| {
                        subtask.state.holds_reservation()
                            && subtask.worker_id.as_deref() == Some(worker_id)
                    })
                    .map(|subtask| job.reservation_of(subtask.index))
            })
            .sum()
    }

    /// The subtasks of `job` that hold a worker, with that worker's id and address.
    fn deployed<'a>(
        &'a self,
        job: &'a JobEntry,
    ) -> impl Iterator<Item = (&'a Subtask, String, String)> + 'a {
        job.subtasks
            .iter()
            .filter(|subtask| subtask.state.holds_reservation())
            .filter_map(|subtask| {
                let worker_id = subtask.worker_id.clone()?;
                let address = self.workers.get(&worker_id)?.address.clone();
                Some((subtask, worker_id, address))
            })
    }

    fn current_subtask_mut(&mut self, task_id: &str) -> Option<&mut Subtask> {
        let (job_id, index, attempt) = parse_task_id(task_id)?;
        self.jobs
            .get_mut(job_id)?
            .subtasks
            .get_mut(index as usize)
            .filter(|subtask| subtask.attempt == attempt)
    }

    /// Applies `event` to a job, records `reason`, and persists the record when it changed.
    fn transition(&mut self, job_id: &str, event: JobEvent, reason: impl Into<String>) {
        let Some(job) = self.jobs.get_mut(job_id) else {
            return;
        };
        let reason = reason.into();
        let next = match job.record.state.on(event) {
            Ok(next) => next,
            Err(illegal) => {
                warn!(job = %job_id, %illegal, "ignored an illegal job transition");
                return;
            }
        };
        if next == job.record.state && reason == job.record.reason {
            return;
        }
        if next != job.record.state {
            info!(job = %job_id, from = ?job.record.state, to = ?next, %reason, "job state changed");
            job.record.state_changed_at_ms = unix_millis();
        }
        job.record.state = next;
        job.record.reason = reason;
        if let Err(error) = self.store.put(&job.record) {
            warn!(job = %job_id, %error, "could not persist the job's state");
        }
    }

    fn job_state(&self, job_id: &str) -> Option<JobState> {
        self.jobs.get(job_id).map(|job| job.record.state)
    }
}

#[cfg(test)]
mod checkpoint_tests;
#[cfg(test)]
mod tests;
