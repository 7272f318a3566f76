//! The JSON of `/api/v1/`: the gRPC views (`JobService` ListJobs, GetJob, ListWorkers) with
//! the same field names as `weir jobs|job|workers -o json`, states as words. Conversions from
//! the protocol types live here and nowhere else on the HTTP side.

use serde::Serialize;
use weir_proto::v1 as pb;

pub fn job_state(state: i32) -> &'static str {
    match pb::JobState::try_from(state).unwrap_or(pb::JobState::Unspecified) {
        pb::JobState::Unspecified => "Unknown",
        pb::JobState::Submitted => "Submitted",
        pb::JobState::Queued => "Queued",
        pb::JobState::Scheduled => "Scheduled",
        pb::JobState::Running => "Running",
        pb::JobState::Recovering => "Recovering",
        pb::JobState::Cancelling => "Cancelling",
        pb::JobState::Cancelled => "Cancelled",
        pb::JobState::Failed => "Failed",
        pb::JobState::Finished => "Finished",
        pb::JobState::Stopping => "Stopping",
        pb::JobState::Stopped => "Stopped",
    }
}

fn task_state(state: i32) -> &'static str {
    match pb::TaskState::try_from(state).unwrap_or(pb::TaskState::Unspecified) {
        pb::TaskState::Unspecified => "Pending",
        pb::TaskState::Deploying => "Deploying",
        pb::TaskState::Running => "Running",
        pb::TaskState::Finished => "Finished",
        pb::TaskState::Failed => "Failed",
        pb::TaskState::Cancelled => "Cancelled",
        pb::TaskState::Lost => "Lost",
    }
}

fn worker_state(state: i32) -> &'static str {
    match pb::WorkerState::try_from(state).unwrap_or(pb::WorkerState::Unspecified) {
        pb::WorkerState::Alive => "ALIVE",
        pb::WorkerState::Dead => "DEAD",
        pb::WorkerState::Unspecified => "UNKNOWN",
    }
}

fn pressure(state: i32) -> &'static str {
    match pb::MemoryPressure::try_from(state).unwrap_or(pb::MemoryPressure::Unspecified) {
        pb::MemoryPressure::Normal => "normal",
        pb::MemoryPressure::Paused => "paused",
        pb::MemoryPressure::Unspecified => "unknown",
    }
}

/// One job of `GET /api/v1/jobs` (`weir jobs -o json`).
#[derive(Debug, Serialize)]
pub struct JobSummary {
    pub job_id: String,
    pub name: String,
    pub state: &'static str,
    pub state_reason: String,
    pub submitted_at_ms: i64,
    pub state_changed_at_ms: i64,
    pub parallelism: u32,
    pub subtask_reservation_bytes: u64,
    pub rows_read: u64,
    pub rows_written: u64,
    pub bytes_read: u64,
    pub rows_per_second: f64,
    pub bytes_per_second: f64,
    pub consumer_lag: i64,
    pub records_skipped: u64,
    pub queue_rows: u64,
    pub queue_bytes: u64,
    pub sink_buffer_bytes: u64,
    pub sink_buffer_max_bytes: u64,
    pub last_checkpoint_id: u64,
}

impl From<&pb::JobSummary> for JobSummary {
    fn from(job: &pb::JobSummary) -> Self {
        JobSummary {
            job_id: job.job_id.clone(),
            name: job.name.clone(),
            state: job_state(job.state),
            state_reason: job.state_reason.clone(),
            submitted_at_ms: job.submitted_at_ms,
            state_changed_at_ms: job.state_changed_at_ms,
            parallelism: job.parallelism,
            subtask_reservation_bytes: job.subtask_reservation_bytes,
            rows_read: job.rows_read,
            rows_written: job.rows_written,
            bytes_read: job.bytes_read,
            rows_per_second: job.rows_per_second,
            bytes_per_second: job.bytes_per_second,
            consumer_lag: job.consumer_lag,
            records_skipped: job.records_skipped,
            queue_rows: job.queue_rows,
            queue_bytes: job.queue_bytes,
            sink_buffer_bytes: job.sink_buffer_bytes,
            sink_buffer_max_bytes: job.sink_buffer_max_bytes,
            last_checkpoint_id: job.last_checkpoint_id,
        }
    }
}

/// `GET /api/v1/jobs/{id}` (`weir job ID -o json`), plus what the console's job page needs
/// besides: the job's read limit and queue row bound, and its job file with secrets redacted.
#[derive(Debug, Serialize)]
pub struct JobDetail {
    #[serde(flatten)]
    pub summary: JobSummary,
    pub tasks: Vec<Task>,
    pub checkpoints: Checkpoints,
    /// `env.read_limit.*` of the whole job; `null` when unlimited.
    pub read_limit: ReadLimit,
    /// `queue.size` of each split queue; `null` when the job file no longer parses.
    pub queue_max_rows: Option<u64>,
    /// The job file, with the values of secret-looking options replaced.
    pub config: String,
}

#[derive(Debug, Default, Serialize)]
pub struct ReadLimit {
    pub rows_per_second: Option<u64>,
    pub bytes_per_second: Option<u64>,
}

impl From<&pb::JobDetail> for JobDetail {
    fn from(detail: &pb::JobDetail) -> Self {
        let parsed = weir_core::config::parse_job(
            &detail.config,
            "job file",
            &weir_core::config::ParsePolicy::SelfContained,
        )
        .ok();
        JobDetail {
            summary: JobSummary::from(&detail.summary.clone().unwrap_or_default()),
            tasks: detail.tasks.iter().map(Task::from).collect(),
            checkpoints: Checkpoints::from(&detail.checkpoints.clone().unwrap_or_default()),
            read_limit: parsed
                .as_ref()
                .map(|config| ReadLimit {
                    rows_per_second: config.env.read_limit_rows_per_second,
                    bytes_per_second: config.env.read_limit_bytes_per_second,
                })
                .unwrap_or_default(),
            queue_max_rows: parsed
                .as_ref()
                .map(|config| config.source.queue_bounds().max_rows as u64),
            config: weir_core::secrets::redact_job_text(&detail.config),
        }
    }
}

#[derive(Debug, Serialize)]
pub struct Task {
    pub task_id: String,
    pub subtask_index: u32,
    pub attempt: u32,
    pub worker_id: String,
    pub state: &'static str,
    pub state_reason: String,
    pub reserved_bytes: u64,
    pub metrics: Option<TaskMetrics>,
}

impl From<&pb::TaskDetail> for Task {
    fn from(task: &pb::TaskDetail) -> Self {
        Task {
            task_id: task.task_id.clone(),
            subtask_index: task.subtask_index,
            attempt: task.attempt,
            worker_id: task.worker_id.clone(),
            state: task_state(task.state),
            state_reason: task.state_reason.clone(),
            reserved_bytes: task.reserved_bytes,
            metrics: task.metrics.as_ref().map(TaskMetrics::from),
        }
    }
}

#[derive(Debug, Serialize)]
pub struct TaskMetrics {
    pub rows_read: u64,
    pub bytes_read: u64,
    pub rows_written: u64,
    pub rows_per_second: f64,
    pub queue_rows: u64,
    pub queue_bytes: u64,
    pub queue_peak_bytes: u64,
    pub queue_max_bytes: u64,
    pub bytes_per_second: f64,
    pub records_skipped: u64,
    pub consumer_lag: i64,
    pub last_error: String,
    pub sink_buffer_bytes: u64,
    pub sink_buffer_max_bytes: u64,
    pub splits: Vec<SplitMetrics>,
}

impl From<&pb::TaskMetrics> for TaskMetrics {
    fn from(metrics: &pb::TaskMetrics) -> Self {
        TaskMetrics {
            rows_read: metrics.rows_read,
            bytes_read: metrics.bytes_read,
            rows_written: metrics.rows_written,
            rows_per_second: metrics.rows_per_second,
            queue_rows: metrics.queue_rows,
            queue_bytes: metrics.queue_bytes,
            queue_peak_bytes: metrics.queue_peak_bytes,
            queue_max_bytes: metrics.queue_max_bytes,
            bytes_per_second: metrics.bytes_per_second,
            records_skipped: metrics.records_skipped,
            consumer_lag: metrics.consumer_lag,
            last_error: metrics.last_error.clone(),
            sink_buffer_bytes: metrics.sink_buffer_bytes,
            sink_buffer_max_bytes: metrics.sink_buffer_max_bytes,
            splits: metrics.splits.iter().map(SplitMetrics::from).collect(),
        }
    }
}

#[derive(Debug, Serialize)]
pub struct SplitMetrics {
    pub split: String,
    pub rows_read: u64,
    pub bytes_read: u64,
    pub queue_rows: u64,
    pub queue_bytes: u64,
    pub queue_peak_bytes: u64,
    pub queue_max_bytes: u64,
    pub position: i64,
    pub high_watermark: i64,
    pub lag: i64,
    pub records_skipped: u64,
    pub prefetch_bytes: u64,
    pub rows_per_second: f64,
    pub bytes_per_second: f64,
}

impl From<&pb::SplitMetrics> for SplitMetrics {
    fn from(split: &pb::SplitMetrics) -> Self {
        SplitMetrics {
            split: split.split.clone(),
            rows_read: split.rows_read,
            bytes_read: split.bytes_read,
            queue_rows: split.queue_rows,
            queue_bytes: split.queue_bytes,
            queue_peak_bytes: split.queue_peak_bytes,
            queue_max_bytes: split.queue_max_bytes,
            position: split.position,
            high_watermark: split.high_watermark,
            lag: split.lag,
            records_skipped: split.records_skipped,
            prefetch_bytes: split.prefetch_bytes,
            rows_per_second: split.rows_per_second,
            bytes_per_second: split.bytes_per_second,
        }
    }
}

#[derive(Debug, Serialize)]
pub struct Checkpoints {
    pub last_completed_id: u64,
    pub last_completed_at_ms: i64,
    pub last_duration_ms: u64,
    pub completed: u64,
    pub failed: u64,
    pub last_failure: String,
    pub last_completed_path: String,
    pub restored_from_id: u64,
}

impl From<&pb::CheckpointStats> for Checkpoints {
    fn from(stats: &pb::CheckpointStats) -> Self {
        Checkpoints {
            last_completed_id: stats.last_completed_id,
            last_completed_at_ms: stats.last_completed_at_ms,
            last_duration_ms: stats.last_duration_ms,
            completed: stats.completed,
            failed: stats.failed,
            last_failure: stats.last_failure.clone(),
            last_completed_path: stats.last_completed_path.clone(),
            restored_from_id: stats.restored_from_id,
        }
    }
}

/// One worker of `GET /api/v1/workers` (`weir workers -o json`): `reserved_bytes` is the
/// master's bookkeeping (what admission uses), `worker_reserved_bytes` the worker's own.
#[derive(Debug, Serialize)]
pub struct Worker {
    pub worker_id: String,
    pub address: String,
    pub state: &'static str,
    pub cores: u32,
    pub rss_bytes: u64,
    pub memory_limit_bytes: u64,
    pub reserved_bytes: u64,
    pub worker_reserved_bytes: u64,
    pub system_total_bytes: u64,
    pub system_available_bytes: u64,
    pub cgroup_limit_bytes: Option<u64>,
    pub pressure: &'static str,
    pub task_ids: Vec<String>,
    pub last_heartbeat_age_ms: u64,
}

impl From<&pb::WorkerSummary> for Worker {
    fn from(worker: &pb::WorkerSummary) -> Self {
        let memory = worker.memory.unwrap_or_default();
        Worker {
            worker_id: worker.worker_id.clone(),
            address: worker.address.clone(),
            state: worker_state(worker.state),
            cores: worker.cores,
            rss_bytes: memory.process_rss_bytes,
            memory_limit_bytes: memory.memory_limit_bytes,
            reserved_bytes: memory.reserved_bytes,
            worker_reserved_bytes: worker.worker_reserved_bytes,
            system_total_bytes: memory.system_total_bytes,
            system_available_bytes: memory.system_available_bytes,
            cgroup_limit_bytes: memory.cgroup_limit_bytes,
            pressure: pressure(memory.pressure),
            task_ids: worker.task_ids.clone(),
            last_heartbeat_age_ms: worker.last_heartbeat_age_ms,
        }
    }
}

/// `GET /api/v1/workers/{id}`: the worker and the tasks placed on it.
#[derive(Debug, Serialize)]
pub struct WorkerDetail {
    #[serde(flatten)]
    pub worker: Worker,
    /// Each of `task_ids` with its job and metrics.
    pub tasks: Vec<WorkerTask>,
}

#[derive(Debug, Serialize)]
pub struct WorkerTask {
    pub job_id: String,
    pub job_name: String,
    #[serde(flatten)]
    pub task: Task,
}

/// `GET /api/v1/cluster`: everything the console's cluster page shows, in one answer.
#[derive(Debug, Serialize)]
pub struct ClusterView {
    /// Unix milliseconds on the master when the answer was made.
    pub now_ms: i64,
    pub workers: Vec<Worker>,
    pub jobs: Vec<JobSummary>,
}
