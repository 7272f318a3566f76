//! Read-only views of the cluster model, in the protocol's terms, for `JobService`.

use std::time::Instant;

use weir_proto::v1 as pb;

use super::{Cluster, JobEntry, task_id};

impl Cluster {
    /// Every job, oldest submission first.
    pub fn job_summaries(&self) -> Vec<pb::JobSummary> {
        let mut jobs: Vec<&JobEntry> = self.jobs.values().collect();
        jobs.sort_by_key(|job| (job.record.submitted_at_ms, job.record.id.clone()));
        jobs.into_iter().map(summary).collect()
    }

    /// One job with its tasks, configuration and checkpoint figures; `None` for an unknown id.
    pub fn job_detail(&self, job_id: &str) -> Option<pb::JobDetail> {
        let job = self.jobs.get(job_id)?;
        let tasks = job
            .subtasks
            .iter()
            .map(|subtask| pb::TaskDetail {
                task_id: task_id(job_id, subtask.index, subtask.attempt),
                subtask_index: subtask.index,
                attempt: subtask.attempt,
                worker_id: subtask.worker_id.clone().unwrap_or_default(),
                state: pb::TaskState::from(subtask.state) as i32,
                state_reason: subtask.reason.clone(),
                reserved_bytes: if subtask.state.holds_reservation() {
                    job.reservation_of(subtask.index)
                } else {
                    0
                },
                metrics: Some(subtask.metrics.clone()),
            })
            .collect();
        Some(pb::JobDetail {
            summary: Some(summary(job)),
            tasks,
            // Redacted for every caller: job text may carry Kafka credentials, and no client
            // command needs them back (a restore resubmits the user's own file).
            config: weir_core::secrets::redact_job_text(&job.record.config),
            checkpoints: Some(pb::CheckpointStats::from(&job.record.checkpoints)),
        })
    }

    /// Every registered worker (DEAD ones too) as `weir workers` shows it: reservations both as
    /// the master counts them and as the worker last reported them.
    pub fn worker_summaries(&self, now: Instant) -> Vec<pb::WorkerSummary> {
        self.workers
            .values()
            .map(|worker| {
                let task_ids = self
                    .jobs
                    .iter()
                    .flat_map(|(job_id, job)| {
                        job.subtasks
                            .iter()
                            .filter(|subtask| {
                                subtask.state.holds_reservation()
                                    && subtask.worker_id.as_deref() == Some(worker.id.as_str())
                            })
                            .map(|subtask| task_id(job_id, subtask.index, subtask.attempt))
                    })
                    .collect();
                // The worker's own figure is kept apart rather than overwritten: if the two
                // disagree for long, a reservation leaked on one side, and only showing both
                // makes that visible.
                let worker_reserved_bytes = worker.memory.reserved_bytes;
                let mut memory = worker.memory;
                memory.memory_limit_bytes = worker.memory_limit;
                memory.reserved_bytes = self.reserved_on(&worker.id);
                pb::WorkerSummary {
                    worker_id: worker.id.clone(),
                    address: worker.address.clone(),
                    state: if worker.alive {
                        pb::WorkerState::Alive
                    } else {
                        pb::WorkerState::Dead
                    } as i32,
                    cores: worker.cores,
                    memory: Some(memory),
                    task_ids,
                    last_heartbeat_age_ms: now.duration_since(worker.last_heard).as_millis() as u64,
                    worker_reserved_bytes,
                }
            })
            .collect()
    }
}

fn summary(job: &JobEntry) -> pb::JobSummary {
    let metrics: Vec<&pb::TaskMetrics> = job
        .subtasks
        .iter()
        .map(|subtask| &subtask.metrics)
        .collect();
    let consumer_lag = weir_core::split::total_lag(metrics.iter().map(|task| task.consumer_lag));
    pb::JobSummary {
        job_id: job.record.id.clone(),
        name: job.record.name.clone(),
        state: pb::JobState::from(job.record.state) as i32,
        state_reason: job.record.reason.clone(),
        submitted_at_ms: job.record.submitted_at_ms,
        state_changed_at_ms: job.record.state_changed_at_ms,
        parallelism: job.plan.parallelism,
        subtask_reservation_bytes: (0..job.plan.parallelism)
            .map(|index| job.reservation_of(index))
            .max()
            .unwrap_or_default(),
        rows_read: metrics.iter().map(|task| task.rows_read).sum(),
        rows_written: metrics.iter().map(|task| task.rows_written).sum(),
        bytes_read: metrics.iter().map(|task| task.bytes_read).sum(),
        rows_per_second: metrics.iter().map(|task| task.rows_per_second).sum(),
        bytes_per_second: metrics.iter().map(|task| task.bytes_per_second).sum(),
        consumer_lag,
        records_skipped: metrics.iter().map(|task| task.records_skipped).sum(),
        queue_rows: metrics.iter().map(|task| task.queue_rows).sum(),
        queue_bytes: metrics.iter().map(|task| task.queue_bytes).sum(),
        sink_buffer_bytes: metrics.iter().map(|task| task.sink_buffer_bytes).sum(),
        sink_buffer_max_bytes: metrics.iter().map(|task| task.sink_buffer_max_bytes).sum(),
        last_checkpoint_id: job
            .record
            .checkpoints
            .last_completed
            .as_ref()
            .map_or(0, |checkpoint| checkpoint.checkpoint_id),
    }
}
