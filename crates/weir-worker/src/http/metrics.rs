//! The worker's metrics, read at scrape time from the same memory sample and task snapshots
//! the heartbeat sends, plus two histograms of checkpoint phases recorded where the task
//! runtime handles barriers and commits. Names and meanings: docs/observability.md.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::LazyLock;
use std::time::Duration;

use prometheus_client::collector::Collector;
use prometheus_client::encoding::DescriptorEncoder;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;
use weir_http::metrics::{Labels, counter, duration_buckets, gauge};

use super::WorkerView;
use crate::task::TaskMetricsSnapshot;
use crate::task_table::TaskIdentity;

/// Time a sink took to close its files for a checkpoint barrier. Process-wide, so the task
/// runtime records into it with a plain call; a process runs one worker (tests that run
/// several in one process share it).
static CHECKPOINT_PREPARE: LazyLock<Histogram> =
    LazyLock::new(|| Histogram::new(duration_buckets()));
/// Time a sink took to publish a committed checkpoint's files.
static CHECKPOINT_COMMIT: LazyLock<Histogram> =
    LazyLock::new(|| Histogram::new(duration_buckets()));

/// Records how long a barrier's `prepare_commit` took.
pub(crate) fn checkpoint_prepared(took: Duration) {
    CHECKPOINT_PREPARE.observe(took.as_secs_f64());
}

/// Records how long a commit's publishing took.
pub(crate) fn checkpoint_committed(took: Duration) {
    CHECKPOINT_COMMIT.observe(took.as_secs_f64());
}

pub(super) fn register(registry: &mut Registry, view: WorkerView) {
    registry.register(
        "weir_worker_checkpoint_prepare_seconds",
        "Time a subtask's sink took to close its files for a checkpoint barrier",
        CHECKPOINT_PREPARE.clone(),
    );
    registry.register(
        "weir_worker_checkpoint_commit_seconds",
        "Time a subtask's sink took to publish the files of a committed checkpoint",
        CHECKPOINT_COMMIT.clone(),
    );
    registry.register_collector(Box::new(WorkerCollector(view)));
}

struct WorkerCollector(WorkerView);

impl fmt::Debug for WorkerCollector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("WorkerCollector")
    }
}

fn none() -> Labels {
    Vec::new()
}

fn flag(value: bool) -> u64 {
    u64::from(value)
}

impl Collector for WorkerCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> fmt::Result {
        let view = &self.0;
        let sample = view.memory.latest();
        let e = &mut encoder;
        gauge(
            e,
            "weir_worker_rss_bytes",
            "Resident set size of the worker process, as the memory governor last sampled it",
            [(none(), sample.process_rss)],
        )?;
        gauge(
            e,
            "weir_worker_memory_limit_bytes",
            "The worker's memory_limit: the budget admission control places subtasks against",
            [(none(), view.memory_limit)],
        )?;
        gauge(
            e,
            "weir_worker_reserved_bytes",
            "Sum of the reservations of the subtasks deployed on the worker",
            [(none(), view.tasks.reserved())],
        )?;
        gauge(
            e,
            "weir_worker_memory_pause_threshold_bytes",
            "RSS at or above which the memory governor pauses all intake (soft_watermark x memory_limit)",
            [(none(), view.watermarks.pause_at)],
        )?;
        gauge(
            e,
            "weir_worker_intake_paused",
            "1 while the memory governor has intake paused (pressure state paused), else 0",
            [(none(), flag(view.memory.paused()))],
        )?;
        gauge(
            e,
            "weir_worker_cgroup_limit_bytes",
            "The cgroup memory limit the worker runs under (absent without one)",
            sample.cgroup_limit.map(|limit| (none(), limit)),
        )?;
        gauge(
            e,
            "weir_worker_system_memory_total_bytes",
            "Total memory of the host",
            [(none(), sample.system_total)],
        )?;
        gauge(
            e,
            "weir_worker_system_memory_available_bytes",
            "Memory of the host available to new allocations",
            [(none(), sample.system_available)],
        )?;
        gauge(
            e,
            "weir_worker_registered",
            "1 while the worker is registered with a master (its heartbeat stream is up), else 0",
            [(none(), flag(view.registration.registered()))],
        )?;
        let tasks = latest_attempts(view.tasks.snapshots());
        gauge(
            e,
            "weir_worker_tasks",
            "Subtasks running on the worker",
            [(none(), tasks.len() as u64)],
        )?;
        encode_tasks(e, &tasks)?;
        encode_splits(e, &tasks)
    }
}

/// One subtask's latest attempt per (job, subtask): an attempt that is still ending while the
/// next one starts must not give the same labels two values.
fn latest_attempts(
    snapshots: Vec<(TaskIdentity, TaskMetricsSnapshot)>,
) -> Vec<(TaskIdentity, TaskMetricsSnapshot)> {
    let mut latest: BTreeMap<(String, u32), (TaskIdentity, TaskMetricsSnapshot)> = BTreeMap::new();
    for (identity, snapshot) in snapshots {
        let key = (identity.job_id.clone(), identity.subtask_index);
        match latest.get(&key) {
            Some((kept, _)) if kept.attempt >= identity.attempt => {}
            _ => {
                latest.insert(key, (identity, snapshot));
            }
        }
    }
    latest.into_values().collect()
}

/// `job_id`, not `job`: Prometheus sets `job` on every scraped series (the scrape job's name).
fn task_labels(identity: &TaskIdentity) -> Labels {
    vec![
        ("job_id", identity.job_id.clone()),
        ("subtask", identity.subtask_index.to_string()),
    ]
}

type Tasks = [(TaskIdentity, TaskMetricsSnapshot)];

fn per_task<V>(
    tasks: &Tasks,
    value: impl Fn(&TaskMetricsSnapshot) -> V,
) -> impl Iterator<Item = (Labels, V)> {
    tasks
        .iter()
        .map(move |(identity, snapshot)| (task_labels(identity), value(snapshot)))
}

fn encode_tasks(e: &mut DescriptorEncoder, tasks: &Tasks) -> fmt::Result {
    counter(
        e,
        "weir_task_records_written",
        "Rows the subtask's sink writer accepted (this attempt)",
        per_task(tasks, |t| t.rows_written),
    )?;
    counter(
        e,
        "weir_task_bytes_written",
        "In-memory size of the rows the sink writer accepted (the unit of weir_split_bytes_read_total)",
        per_task(tasks, |t| t.bytes_written),
    )?;
    counter(
        e,
        "weir_task_records_committed",
        "Rows in files published by committed checkpoints (this attempt)",
        per_task(tasks, |t| t.rows_committed),
    )?;
    counter(
        e,
        "weir_task_bytes_committed",
        "In-memory size of the rows in files published by committed checkpoints",
        per_task(tasks, |t| t.bytes_committed),
    )?;
    counter(
        e,
        "weir_task_files_committed",
        "Files published by committed checkpoints (this attempt)",
        per_task(tasks, |t| t.files_committed),
    )?;
    counter(
        e,
        "weir_task_read_limit_wait_seconds",
        "Time the read limit (read_limit.*) held the subtask's reading back",
        per_task(tasks, |t| t.read_limit_wait.as_secs_f64()),
    )?;
    counter(
        e,
        "weir_task_idle_seconds",
        "Time the subtask's drain loop waited with its queues empty (the source held it back)",
        per_task(tasks, |t| t.idle.as_secs_f64()),
    )?;
    counter(
        e,
        "weir_task_sink_wait_seconds",
        "Time the subtask's drain loop waited for the sink's writes and flushes (the file system held it back)",
        per_task(tasks, |t| t.sink_wait.as_secs_f64()),
    )?;
    counter(
        e,
        "weir_task_queue_full_seconds",
        "Time the subtask's readers waited for room in their queues, summed over splits (the drain loop held them back)",
        per_task(tasks, |t| t.queue_full_wait.as_secs_f64()),
    )?;
    counter(
        e,
        "weir_task_source_wait_seconds",
        "Time the subtask's split readers waited for their source, summed over splits (Kafka: the next message from librdkafka, or a fetch slot)",
        per_task(tasks, |t| t.source_wait.as_secs_f64()),
    )?;
    gauge(
        e,
        "weir_task_sink_buffer_bytes",
        "Bytes the sink writer holds in its write buffers now",
        per_task(tasks, |t| t.sink_buffer_bytes),
    )?;
    gauge(
        e,
        "weir_task_sink_buffer_max_bytes",
        "The bound of weir_task_sink_buffer_bytes (the configured write buffers)",
        per_task(tasks, |t| t.sink_buffer_max_bytes),
    )?;
    gauge(
        e,
        "weir_task_sink_open_files",
        "Files the sink writer holds open now (on HDFS, each with a write pipeline)",
        per_task(tasks, |t| t.sink_open_files),
    )?;
    gauge(
        e,
        "weir_task_sink_open_files_max",
        "The bound of weir_task_sink_open_files (max_open_files)",
        per_task(tasks, |t| t.sink_open_files_max),
    )?;
    gauge(
        e,
        "weir_task_sink_in_flight_bytes",
        "Bytes written to the sink's open files that the HDFS client may still hold",
        per_task(tasks, |t| t.sink_in_flight_bytes),
    )?;
    gauge(
        e,
        "weir_task_sink_in_flight_max_bytes",
        "The bound of weir_task_sink_in_flight_bytes (write.max_in_flight_bytes)",
        per_task(tasks, |t| t.sink_in_flight_max_bytes),
    )?;
    gauge(
        e,
        "weir_task_buffer_bytes",
        "Bytes all the subtask's split queues hold now, against their shared budget",
        per_task(tasks, |t| t.budget_bytes),
    )?;
    gauge(
        e,
        "weir_task_buffer_peak_bytes",
        "Highest weir_task_buffer_bytes seen",
        per_task(tasks, |t| t.budget_peak_bytes),
    )?;
    gauge(
        e,
        "weir_task_buffer_max_bytes",
        "The budget the subtask's split queues share (Kafka: 3/4 of buffer.max_bytes; 0: none)",
        per_task(tasks, |t| t.budget_max_bytes),
    )?;
    gauge(
        e,
        "weir_task_paused_splits",
        "Splits whose fetching is paused (waiting for a fetch slot, for room or for the read limit)",
        per_task(tasks, |t| t.paused_splits),
    )?;
    gauge(
        e,
        "weir_task_source_retrying",
        "1 while the subtask's source retries through an error (e.g. brokers unreachable), else 0",
        per_task(tasks, |t| flag(t.last_error.is_some())),
    )
}

fn per_split<V>(
    tasks: &Tasks,
    value: impl Fn(&crate::task::SplitMetricsSnapshot) -> Option<V>,
) -> Vec<(Labels, V)> {
    let mut samples = Vec::new();
    for (identity, snapshot) in tasks {
        for split in &snapshot.splits {
            if let Some(value) = value(split) {
                let mut labels = task_labels(identity);
                labels.push(("split", split.split.clone()));
                samples.push((labels, value));
            }
        }
    }
    samples
}

fn encode_splits(e: &mut DescriptorEncoder, tasks: &Tasks) -> fmt::Result {
    counter(
        e,
        "weir_split_records_read",
        "Rows admitted into the split's bounded queue",
        per_split(tasks, |s| Some(s.rows_read)),
    )?;
    counter(
        e,
        "weir_split_bytes_read",
        "In-memory size of the rows admitted into the split's queue",
        per_split(tasks, |s| Some(s.bytes_read)),
    )?;
    counter(
        e,
        "weir_split_records_skipped",
        "Records that could not be decoded and were skipped (format_error_handle_way = skip)",
        per_split(tasks, |s| Some(s.records_skipped)),
    )?;
    gauge(
        e,
        "weir_split_queue_rows",
        "Rows in the split's queue now",
        per_split(tasks, |s| Some(s.queue_rows)),
    )?;
    gauge(
        e,
        "weir_split_queue_max_rows",
        "The split queue's row bound (queue.size)",
        per_split(tasks, |s| Some(s.queue_max_rows)),
    )?;
    gauge(
        e,
        "weir_split_queue_bytes",
        "Bytes in the split's queue now",
        per_split(tasks, |s| Some(s.queue_bytes)),
    )?;
    gauge(
        e,
        "weir_split_queue_max_bytes",
        "The split queue's byte bound (queue.max_bytes)",
        per_split(tasks, |s| Some(s.queue_max_bytes)),
    )?;
    gauge(
        e,
        "weir_split_queue_peak_bytes",
        "Highest weir_split_queue_bytes seen",
        per_split(tasks, |s| Some(s.queue_peak_bytes)),
    )?;
    gauge(
        e,
        "weir_split_prefetch_bytes",
        "Bytes librdkafka holds prefetched for the partition (Kafka only; refreshed every 5 s)",
        per_split(tasks, |s| s.prefetch_bytes),
    )?;
    gauge(
        e,
        "weir_split_consumer_lag",
        "Records between the split's position and the end of its log (Kafka high watermark)",
        per_split(tasks, |s| match (s.high_watermark, s.position) {
            (Some(end), Some(position)) => Some((end - position).max(0)),
            _ => None,
        }),
    )
}

#[cfg(test)]
mod tests;
