//! The master's picture of the cluster: registered workers, jobs and their subtasks.
//!
//! Everything here is synchronous and free of I/O, so it runs under one lock and its rules are
//! unit-tested directly: methods take what was observed and return what must be done. The gRPC
//! layer (`crate::service`) turns requests into calls on [`Cluster`] and sends the
//! [`Deployment`]s and [`CancelOrder`]s those calls return. A method that changes a job marks its
//! record; [`Cluster::take_writes`] hands the marked records to the caller, which writes them to
//! the job store with the lock released and only then sends (`crate::persist`).

mod checkpoint_bookkeeping;
mod identity;
mod jobs;
mod observe;
mod persist;
mod plan;
mod splits;
mod views;

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use tracing::{info, warn};
use weir_proto::v1 as pb;

use crate::job_state::{JobEvent, JobState};
use crate::store::JobRecord;
pub use crate::subtask_state::{SubtaskEvent, SubtaskState};

pub use checkpoint_bookkeeping::{
    CheckpointRound, CheckpointTimer, CommitOrder, CompletionRecord, Recording, RoundEnded,
    RoundTask, StopError, now_ms,
};
pub use identity::ReportRefused;
pub use jobs::SubmitError;
pub use persist::WriteOutcome;
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
    /// A heartbeat of the current session arrived: its stream is up, so another registration
    /// under this id is refused rather than evicting it.
    pub streaming: bool,
    pub last_heard: Instant,
    pub memory: pb::MemoryReport,
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
        self.state.wants_placement() && self.not_before.is_none_or(|at| at <= now)
    }

    /// Applies `event` through the subtask lifecycle ([`SubtaskState::on`]); an illegal one is
    /// logged and changes nothing. Returns whether the state changed.
    fn on(&mut self, job_id: &str, event: SubtaskEvent) -> bool {
        match self.state.on(event) {
            Ok(next) => {
                self.state = next;
                true
            }
            Err(illegal) => {
                warn!(job = %job_id, subtask = self.index, attempt = self.attempt, %illegal, "ignored an illegal subtask transition");
                false
            }
        }
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
    workers: BTreeMap<String, WorkerEntry>,
    jobs: BTreeMap<String, JobEntry>,
    /// Jobs whose record changed since it was last handed out by [`Cluster::take_writes`].
    unwritten: BTreeSet<String>,
    /// Jobs whose last write failed (logged once until one succeeds).
    failing_writes: BTreeSet<String>,
}

pub(crate) fn unix_millis() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|elapsed| elapsed.as_millis() as i64)
        .unwrap_or_default()
}

impl Cluster {
    pub fn new(settings: ClusterSettings) -> Self {
        Self {
            settings,
            workers: BTreeMap::new(),
            jobs: BTreeMap::new(),
            unwritten: BTreeSet::new(),
            failing_writes: BTreeSet::new(),
        }
    }

    pub fn settings(&self) -> ClusterSettings {
        self.settings
    }

    /// Records a worker's (re-)registration and returns its new session id.
    ///
    /// A worker that registers while the master still believes an older registration alive has
    /// restarted: the subtasks of the old registration are lost. (`ClusterService` refuses the
    /// registration instead while the old one's heartbeat stream is up, see
    /// [`Cluster::has_live_stream`]: that is a takeover, not a restart.)
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
                streaming: false,
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
        worker.streaming = true;
        if let Some(memory) = beat.memory {
            worker.memory = memory;
        }
        for metrics in &beat.tasks {
            // Only for the tasks placed on this worker: metrics such as "input exhausted"
            // drive the job, and one worker must not speak for another's tasks.
            if let Some(subtask) = self
                .current_subtask_mut(&metrics.task_id)
                .filter(|subtask| subtask.worker_id.as_deref() == Some(beat.worker_id.as_str()))
            {
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
        if !self.is_current_session(worker_id, session_id) {
            return false;
        }
        warn!(worker = %worker_id, %cause, "worker is DEAD");
        self.end_session(worker_id, &format!("worker {worker_id} lost: {cause}"));
        true
    }

    /// A stopping worker ended its session (`DeregisterWorker`): like [`Cluster::worker_lost`],
    /// its subtasks are placed elsewhere at once, but this is an orderly exit, not an alarm.
    pub fn worker_deregistered(&mut self, worker_id: &str, session_id: &str) -> bool {
        if !self.is_current_session(worker_id, session_id) {
            return false;
        }
        info!(worker = %worker_id, "worker deregistered (it is stopping)");
        self.end_session(worker_id, &format!("worker {worker_id} stopped"));
        true
    }

    fn end_session(&mut self, worker_id: &str, reason: &str) {
        if let Some(worker) = self.workers.get_mut(worker_id) {
            worker.alive = false;
        }
        let job_ids: Vec<String> = self.jobs.keys().cloned().collect();
        for job_id in job_ids {
            self.lose_subtasks_on(&job_id, worker_id, reason);
        }
    }

    /// Whether `session_id` is the current registration of a live `worker_id`: only then are its
    /// heartbeats, task reports and deregistration taken.
    pub fn is_current_session(&self, worker_id: &str, session_id: &str) -> bool {
        self.workers
            .get(worker_id)
            .is_some_and(|worker| worker.alive && worker.session_id == session_id)
    }

    /// The session of the live worker serving at `address`, which calls to it are addressed to.
    pub fn live_session_at(&self, address: &str) -> Option<String> {
        self.workers
            .values()
            .find(|worker| worker.alive && worker.address == address)
            .map(|worker| worker.session_id.clone())
    }

    /// The session to send the deployment of `task_id` to `worker_id` under: the worker's
    /// current one, if the task is still that subtask's current attempt waiting for that worker.
    /// `None` when it was superseded meanwhile (the worker was lost or registered again).
    pub fn deployment_session(&self, worker_id: &str, task_id: &str) -> Option<String> {
        let (job_id, index, attempt) = parse_task_id(task_id)?;
        let subtask = self.jobs.get(job_id)?.subtasks.get(index as usize)?;
        let waiting = subtask.attempt == attempt
            && subtask.state == SubtaskState::Deploying
            && subtask.worker_id.as_deref() == Some(worker_id);
        let worker = self.workers.get(worker_id).filter(|worker| worker.alive)?;
        waiting.then(|| worker.session_id.clone())
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

    /// Applies `event` to a job, records `reason`, and marks the record to be written when it
    /// changed.
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
        self.record_changed(job_id);
    }

    fn job_state(&self, job_id: &str) -> Option<JobState> {
        self.jobs.get(job_id).map(|job| job.record.state)
    }
}

#[cfg(test)]
mod checkpoint_bookkeeping_tests;
#[cfg(test)]
mod fencing_tests;
#[cfg(test)]
mod tests;
