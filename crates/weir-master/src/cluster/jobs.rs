//! Job operations of the cluster model: submission, placement, task reports, cancellation.

use std::time::{Duration, Instant};

use tracing::info;
use weir_proto::v1 as pb;

use super::CheckpointTimer;
use super::{
    CancelOrder, Cluster, Deployment, JobEntry, JobPlan, Splits, Subtask, SubtaskEvent,
    SubtaskState, task_id, unix_millis,
};
use crate::job_state::{JobEvent, JobState};
use crate::placement::{Capacity, place};
use crate::store::JobRecord;

/// A submission the master refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SubmitError {
    #[error("job {job_id} rejected: {reason}")]
    Rejected { job_id: String, reason: String },
}

/// The longest pause between two attempts of a failing subtask.
const MAX_RETRY_DELAY: Duration = Duration::from_secs(300);

/// The pause before retry number `failures` (from 1): `job.retry.interval.seconds`, doubled
/// for each failure since the subtask last completed a checkpoint, at most
/// [`MAX_RETRY_DELAY`]. An outage (HDFS down) is waited out with few attempts.
pub(super) fn retry_delay(interval: Duration, failures: u32) -> Duration {
    let doublings = failures.saturating_sub(1).min(16);
    interval
        .saturating_mul(1 << doublings)
        .min(MAX_RETRY_DELAY.max(interval))
}

impl Cluster {
    /// Adds a job in state Submitted, whose record the caller has written to the job store
    /// (`crate::persist`): a submission is accepted only once it survives a restart. Call
    /// [`Cluster::schedule`] afterwards.
    pub fn submit(&mut self, record: JobRecord, plan: JobPlan) {
        let subtasks = (0..plan.parallelism).map(Subtask::new).collect();
        let splits = Splits::initial(&plan);
        self.jobs.insert(
            record.id.clone(),
            JobEntry {
                record,
                plan,
                subtasks,
                splits,
                checkpoint_timer: CheckpointTimer::default(),
            },
        );
    }

    /// Re-creates a job read from the store after a master restart. Nothing of it runs any
    /// more (workers stop their tasks when they lose the master), so a live job is placed again.
    pub fn restore(&mut self, record: JobRecord, plan: JobPlan) {
        let job_id = record.id.clone();
        let state = record.state;
        let subtasks = (0..plan.parallelism)
            .map(|index| {
                let mut subtask = Subtask::new(index);
                subtask.attempt = record.attempts.get(index as usize).copied().unwrap_or(0);
                subtask
            })
            .collect();
        let splits = Splits::initial(&plan);
        self.jobs.insert(
            job_id.clone(),
            JobEntry {
                record,
                plan,
                subtasks,
                splits,
                checkpoint_timer: CheckpointTimer::default(),
            },
        );
        let reason = "master restarted; placing its subtasks again";
        match state {
            JobState::Scheduled | JobState::Running | JobState::Stopping => {
                self.transition(&job_id, JobEvent::SubtaskLost, reason)
            }
            JobState::Cancelling => self.transition(&job_id, JobEvent::AllTasksEnded, "cancelled"),
            _ => {}
        }
    }

    /// Restores a stored job, or fails it when its job file no longer parses (after an upgrade
    /// that dropped an option, say).
    pub fn restore_record(&mut self, record: JobRecord) {
        match weir_core::config::parse_job(
            &record.config,
            &record.origin,
            &weir_core::config::ParsePolicy::SelfContained,
        ) {
            Ok(config) => self.restore(record, crate::plan::plan_for(&config)),
            Err(error) => {
                let job_id = record.id.clone();
                let live = !record.state.is_terminal();
                self.restore(record, JobPlan::unrunnable());
                if live {
                    let reason = format!("its job file no longer parses: {error}");
                    self.transition(&job_id, JobEvent::Failed, reason);
                }
            }
        }
    }

    /// One admission pass: places what waits for a place, oldest job first.
    pub fn schedule(&mut self, now: Instant) -> Vec<Deployment> {
        let mut capacities: Vec<Capacity> = self
            .workers
            .values()
            .map(|worker| Capacity {
                worker_id: worker.id.clone(),
                alive: worker.alive,
                memory_limit: worker.memory_limit,
                reserved: self.reserved_on(&worker.id),
                rss: worker.memory.process_rss_bytes,
            })
            .collect();
        let mut waiting: Vec<(i64, String)> = self
            .jobs
            .values()
            // A job whose completed checkpoint is being recorded waits: what a new attempt
            // resumes from is decided by that write's outcome.
            .filter(|job| {
                job.record.state.wants_placement()
                    && job.splits.known()
                    && job.checkpoint_timer.recording.is_none()
            })
            .map(|job| (job.record.submitted_at_ms, job.record.id.clone()))
            .collect();
        waiting.sort();

        let mut deployments = Vec::new();
        for (_, job_id) in waiting {
            let Some(job) = self.jobs.get(&job_id) else {
                continue;
            };
            let unplaced: Vec<u32> = job
                .subtasks
                .iter()
                .filter(|subtask| subtask.needs_placement(now))
                .map(|subtask| subtask.index)
                .collect();
            if unplaced.is_empty() {
                continue;
            }
            let needs: Vec<u64> = unplaced
                .iter()
                .map(|&index| job.reservation_of(index))
                .collect();
            match place(&needs, &mut capacities, self.settings.high_watermark) {
                Ok(workers) => {
                    let before = deployments.len();
                    for (index, worker_id) in unplaced.into_iter().zip(workers) {
                        if let Some(deployment) = self.assign(&job_id, index, &worker_id) {
                            deployments.push(deployment);
                        }
                    }
                    crate::http::metrics::admission_placed();
                    // A subtask still waiting out its retry delay keeps the job wanting
                    // placement: once Scheduled, the job would no longer be looked at here and
                    // that subtask would never be placed.
                    let waiting = self.jobs.get(&job_id).is_some_and(|job| {
                        job.subtasks
                            .iter()
                            .any(|subtask| subtask.state.wants_placement())
                    });
                    if !waiting {
                        let placed = deployments.len() - before;
                        let reason = format!("placed {placed} subtask(s)");
                        self.transition(&job_id, JobEvent::Placed, reason);
                    }
                }
                Err(no_fit) => {
                    let state = job.record.state;
                    let rejected = state == JobState::Submitted && job.plan.reject_when_full;
                    // A job still waiting for the same reason is the same decision again.
                    if job.record.reason != no_fit.0 {
                        crate::http::metrics::admission_refused(rejected, &no_fit);
                    }
                    if state == JobState::Submitted && job.plan.reject_when_full {
                        self.transition(&job_id, JobEvent::Rejected, no_fit.0);
                    } else {
                        self.transition(&job_id, JobEvent::NoCapacity, no_fit.0);
                    }
                }
            }
        }
        deployments
    }

    fn assign(&mut self, job_id: &str, index: u32, worker_id: &str) -> Option<Deployment> {
        let address = self.workers.get(worker_id)?.address.clone();
        let job = self.jobs.get_mut(job_id)?;
        let subtask = job.subtasks.get_mut(index as usize)?;
        if !subtask.on(job_id, SubtaskEvent::Placed) {
            return None;
        }
        subtask.attempt += 1;
        // A checkpoint in flight cannot complete any more: the new attempt resumes from the last
        // completed one, so an ack of the attempt it replaces must not become a later one.
        job.checkpoint_timer.in_flight = None;
        subtask.worker_id = Some(worker_id.to_string());
        subtask.reason = String::new();
        subtask.not_before = None;
        subtask.metrics = pb::TaskMetrics::default();
        let attempt = subtask.attempt;
        let attempts = &mut job.record.attempts;
        if attempts.len() <= index as usize {
            attempts.resize(index as usize + 1, 0);
        }
        attempts[index as usize] = attempt;
        let task = task_id(job_id, index, attempt);
        info!(job = %job_id, task = %task, worker = %worker_id, "subtask placed");
        Some(Deployment {
            worker_id: worker_id.to_string(),
            address,
            request: pb::DeployTaskRequest {
                job_id: job_id.to_string(),
                task_id: task,
                subtask_index: index,
                parallelism: job.plan.parallelism,
                config: job.record.config.clone(),
                origin: job.record.origin.clone(),
                reserved_bytes: job.reservation_of(index),
                splits: job.splits_of(index).iter().map(pb::Split::from).collect(),
                read_limit: Some(job.read_limit_of(index)),
                attempt,
                restore: Cluster::restore_point_of(job, index),
            },
        })
    }

    /// The state a submission ended in after its first admission pass, as an error if it was
    /// rejected.
    pub fn submission_outcome(&self, job_id: &str) -> Result<(JobState, String), SubmitError> {
        let job = self
            .jobs
            .get(job_id)
            .map(|job| (job.record.state, job.record.reason.clone()))
            .unwrap_or((JobState::Failed, "job vanished".into()));
        match job {
            (JobState::Failed, reason) => Err(SubmitError::Rejected {
                job_id: job_id.to_string(),
                reason,
            }),
            outcome => Ok(outcome),
        }
    }

    /// A worker could not take a deployment: the subtask needs a place again.
    pub fn deployment_failed(&mut self, task: &str, error: &str) {
        let Some((job_id, _, _)) = super::parse_task_id(task) else {
            return;
        };
        let Some(subtask) = self.current_subtask_mut(task) else {
            return;
        };
        // Only a deployment still under way failed; a later report (running, lost) stands.
        if subtask.state != SubtaskState::Deploying {
            return;
        }
        subtask.on(job_id, SubtaskEvent::DeployFailed);
        subtask.reason = format!("deployment failed: {error}");
        // Avoid a tight deploy loop against a worker that keeps refusing.
        subtask.not_before = Some(Instant::now() + Duration::from_secs(1));
        let reason = format!("deploying {task} failed: {error}");
        self.after_subtask_ended(job_id, JobEvent::SubtaskLost, reason);
    }

    /// A worker reports that a task changed state. Returns cancel orders when the job failed and
    /// its other subtasks must stop.
    pub fn task_status(
        &mut self,
        worker_id: &str,
        task: &str,
        state: pb::TaskState,
        message: &str,
    ) -> Vec<CancelOrder> {
        let Some((job_id, _, _)) = super::parse_task_id(task) else {
            return Vec::new();
        };
        let job_id = job_id.to_string();
        let Some(subtask) = self.current_subtask_mut(task) else {
            return Vec::new();
        };
        if subtask.worker_id.as_deref() != Some(worker_id) || !subtask.state.holds_reservation() {
            return Vec::new();
        }
        match state {
            pb::TaskState::Running => {
                subtask.on(&job_id, SubtaskEvent::Started);
                let all_running = self.jobs.get(&job_id).is_some_and(|job| {
                    job.subtasks.iter().all(|subtask| {
                        matches!(
                            subtask.state,
                            SubtaskState::Running | SubtaskState::Finished
                        )
                    })
                });
                if all_running && self.job_state(&job_id) == Some(JobState::Scheduled) {
                    self.transition(&job_id, JobEvent::AllRunning, "every subtask runs");
                }
                Vec::new()
            }
            pb::TaskState::Finished => {
                subtask.on(&job_id, SubtaskEvent::Finished);
                self.after_subtask_ended(&job_id, JobEvent::AllFinished, "finished".into());
                Vec::new()
            }
            pb::TaskState::Cancelled => {
                subtask.on(&job_id, SubtaskEvent::Cancelled);
                self.after_subtask_ended(&job_id, JobEvent::AllTasksEnded, "cancelled".into());
                Vec::new()
            }
            // Lost, not cancelled: it is placed again (unless its job is being cancelled).
            pb::TaskState::Lost => {
                subtask.on(&job_id, SubtaskEvent::Lost);
                let reason = if message.is_empty() {
                    format!("its worker {worker_id} lost it")
                } else {
                    format!("its worker {worker_id} lost it: {message}")
                };
                subtask.reason = reason.clone();
                let reason = format!("{task} lost; {reason}");
                self.after_subtask_ended(&job_id, JobEvent::SubtaskLost, reason);
                Vec::new()
            }
            pb::TaskState::Failed => self.subtask_failed(&job_id, task, message),
            pb::TaskState::Deploying | pb::TaskState::Unspecified => Vec::new(),
        }
    }

    fn subtask_failed(&mut self, job_id: &str, task: &str, message: &str) -> Vec<CancelOrder> {
        let Some(job) = self.jobs.get(job_id) else {
            return Vec::new();
        };
        let plan = job.plan.clone();
        let Some(subtask) = self.current_subtask_mut(task) else {
            return Vec::new();
        };
        subtask.on(job_id, SubtaskEvent::Failed);
        subtask.failures += 1;
        subtask.reason = message.to_string();
        let (index, failures) = (subtask.index, subtask.failures);
        if self.job_state(job_id) == Some(JobState::Cancelling) {
            self.after_subtask_ended(job_id, JobEvent::AllTasksEnded, "cancelled".into());
            return Vec::new();
        }
        if failures <= plan.retry_times {
            let delay = retry_delay(plan.retry_interval, failures);
            if let Some(subtask) = self.current_subtask_mut(task) {
                subtask.on(job_id, SubtaskEvent::Retry);
                subtask.not_before = Some(Instant::now() + delay);
            }
            let reason = format!(
                "subtask {index} failed: {message}; retry {failures} of {} in {} s",
                plan.retry_times,
                delay.as_secs()
            );
            self.transition(job_id, JobEvent::SubtaskLost, reason);
            return Vec::new();
        }
        let reason = format!("subtask {index} failed after {failures} attempt(s): {message}");
        self.transition(job_id, JobEvent::Failed, reason);
        self.cancel_orders(job_id)
    }

    /// After a subtask stopped holding its worker: decides what that means for the job.
    fn after_subtask_ended(&mut self, job_id: &str, event: JobEvent, reason: String) {
        let Some(job) = self.jobs.get(job_id) else {
            return;
        };
        let all_finished = job
            .subtasks
            .iter()
            .all(|subtask| subtask.state == SubtaskState::Finished);
        let none_holding = job
            .subtasks
            .iter()
            .all(|subtask| !subtask.state.holds_reservation());
        match job.record.state {
            JobState::Cancelling if none_holding => {
                self.transition(job_id, JobEvent::AllTasksEnded, "cancelled")
            }
            JobState::Scheduled | JobState::Running | JobState::Recovering | JobState::Stopping
                if event == JobEvent::SubtaskLost =>
            {
                self.transition(job_id, event, reason)
            }
            JobState::Scheduled | JobState::Running if all_finished => {
                self.transition(job_id, JobEvent::AllFinished, "every subtask finished")
            }
            JobState::Stopping if all_finished => {
                let checkpoint = job
                    .record
                    .checkpoints
                    .last_completed
                    .as_ref()
                    .map_or(0, |checkpoint| checkpoint.checkpoint_id);
                let reason = format!("stopped after checkpoint {checkpoint}");
                self.transition(job_id, JobEvent::AllFinished, reason)
            }
            _ => {}
        }
    }

    /// The subtasks of `job_id` on `worker_id` are lost with their worker.
    pub(super) fn lose_subtasks_on(&mut self, job_id: &str, worker_id: &str, reason: &str) {
        let Some(job) = self.jobs.get_mut(job_id) else {
            return;
        };
        let mut lost = 0;
        for subtask in &mut job.subtasks {
            if subtask.state.holds_reservation()
                && subtask.worker_id.as_deref() == Some(worker_id)
                && subtask.on(job_id, SubtaskEvent::Lost)
            {
                subtask.reason = reason.to_string();
                lost += 1;
            }
        }
        if lost > 0 {
            let reason = format!("{reason}; {lost} subtask(s) to place again");
            self.after_subtask_ended(job_id, JobEvent::SubtaskLost, reason);
        }
    }

    /// Cancels a job: returns its state afterwards and the tasks to stop.
    pub fn cancel(&mut self, job_id: &str) -> Option<(JobState, Vec<CancelOrder>)> {
        let state = self.job_state(job_id)?;
        if state.is_terminal() {
            return Some((state, Vec::new()));
        }
        let mut orders = self.cancel_orders(job_id);
        for order in &mut orders {
            order.discard_uncommitted = true;
        }
        if let Some(job) = self.jobs.get_mut(job_id) {
            for subtask in &mut job.subtasks {
                // What runs is cancelled by its worker and reported; the rest ends here.
                if subtask.state.on(SubtaskEvent::JobCancelled).is_ok() {
                    subtask.on(job_id, SubtaskEvent::JobCancelled);
                }
            }
        }
        self.transition(job_id, JobEvent::CancelRequested, "cancel requested");
        if orders.is_empty() && self.job_state(job_id) == Some(JobState::Cancelling) {
            self.transition(job_id, JobEvent::AllTasksEnded, "cancelled");
        }
        Some((self.job_state(job_id)?, orders))
    }

    pub(super) fn cancel_orders(&self, job_id: &str) -> Vec<CancelOrder> {
        let Some(job) = self.jobs.get(job_id) else {
            return Vec::new();
        };
        self.deployed(job)
            .map(|(subtask, worker_id, address)| CancelOrder {
                worker_id,
                address,
                task_id: task_id(job_id, subtask.index, subtask.attempt),
                discard_uncommitted: false,
            })
            .collect()
    }

    /// A new job record with a fresh id.
    pub fn new_record(name: String, config: String, origin: String) -> JobRecord {
        let now = unix_millis();
        let id = uuid::Uuid::new_v4().simple().to_string();
        JobRecord {
            id: format!("j-{}", &id[..12]),
            name,
            config,
            origin,
            state: JobState::Submitted,
            reason: "submitted".into(),
            submitted_at_ms: now,
            state_changed_at_ms: now,
            attempts: Vec::new(),
            checkpoints: Default::default(),
            revision: 1,
        }
    }
}
