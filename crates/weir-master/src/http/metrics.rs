//! The master's metrics. Workers and jobs by state and the checkpoint counts are read from the
//! cluster model at scrape time; admission decisions, checkpoint durations and job store write
//! latency are recorded by one-line hooks where they happen (`crate::cluster` scheduling, the
//! checkpoint coordinator, the job store). Names and meanings: docs/observability.md.

use std::fmt;
use std::sync::{Arc, LazyLock};
use std::time::Duration;

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeLabelSet};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;
use weir_http::metrics::{Labels, counter, duration_buckets, gauge};
use weir_proto::v1 as pb;

use crate::job_state::JobState;
use crate::placement::NoFit;
use crate::service::Master;

/// Labels of `weir_master_admission_decisions_total`.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Decision {
    outcome: &'static str,
    reason: &'static str,
}

/// The hooks' metrics. Process-wide, so the cluster model, the coordinator and the store
/// record with a plain call and no handle to thread through; a process runs one master.
struct Hooks {
    admissions: Family<Decision, Counter>,
    checkpoint_duration: Histogram,
    store_write: Histogram,
}

static HOOKS: LazyLock<Hooks> = LazyLock::new(|| Hooks {
    admissions: Family::default(),
    checkpoint_duration: Histogram::new(duration_buckets()),
    store_write: Histogram::new(duration_buckets()),
});

/// A job's waiting subtasks were all placed.
pub(crate) fn admission_placed() {
    admit("placed", "fits");
}

/// A job's subtasks fit no worker: it waits (`rejected` false) or, with
/// `env.schedule.strategy = "reject"`, fails.
pub(crate) fn admission_refused(rejected: bool, why: &NoFit) {
    admit(
        if rejected { "rejected" } else { "queued" },
        refusal_reason(why),
    );
}

fn admit(outcome: &'static str, reason: &'static str) {
    HOOKS
        .admissions
        .get_or_create(&Decision { outcome, reason })
        .inc();
}

/// The bounded reason label for a refusal (its text names workers and sizes).
fn refusal_reason(why: &NoFit) -> &'static str {
    let text = why.0.as_str();
    if text.contains("no live worker") {
        "no_live_worker"
    } else if text.contains("above its high watermark") {
        "rss_above_high_watermark"
    } else if text.contains("free budget") {
        "memory_budget"
    } else {
        "other"
    }
}

/// A checkpoint completed (persisted) after `took`, from its trigger.
pub(crate) fn checkpoint_completed(took: Duration) {
    HOOKS.checkpoint_duration.observe(took.as_secs_f64());
}

/// One write of a job record to the job store took `took`.
pub(crate) fn store_written(took: Duration) {
    HOOKS.store_write.observe(took.as_secs_f64());
}

pub(super) fn register(registry: &mut Registry, master: Arc<Master>) {
    registry.register(
        "weir_master_admission_decisions",
        "Admission decisions on jobs waiting for placement, by outcome (placed, queued, rejected) and reason; a job still queued for the same reason is counted once",
        HOOKS.admissions.clone(),
    );
    registry.register(
        "weir_master_checkpoint_duration_seconds",
        "Time from a checkpoint's trigger until it was persisted (completed checkpoints)",
        HOOKS.checkpoint_duration.clone(),
    );
    registry.register(
        "weir_master_job_store_write_seconds",
        "Time one durable write of a job record to the job store (jobs.redb) took",
        HOOKS.store_write.clone(),
    );
    registry.register_collector(Box::new(ClusterCollector(master)));
}

struct ClusterCollector(Arc<Master>);

impl fmt::Debug for ClusterCollector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ClusterCollector")
    }
}

const JOB_STATES: [JobState; 11] = [
    JobState::Submitted,
    JobState::Queued,
    JobState::Scheduled,
    JobState::Running,
    JobState::Recovering,
    JobState::Cancelling,
    JobState::Cancelled,
    JobState::Failed,
    JobState::Finished,
    JobState::Stopping,
    JobState::Stopped,
];

fn state_label(state: JobState) -> String {
    format!("{state:?}").to_lowercase()
}

impl Collector for ClusterCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> fmt::Result {
        // One short hold of the lock for a copy of what is rendered; encoding happens after.
        let (workers, jobs) = {
            let cluster = self.0.cluster();
            (
                cluster.worker_summaries(std::time::Instant::now()),
                cluster.job_checkpoint_stats(),
            )
        };
        let e = &mut encoder;
        let alive = workers
            .iter()
            .filter(|worker| worker.state == pb::WorkerState::Alive as i32)
            .count();
        gauge(
            e,
            "weir_master_workers",
            "Registered workers by state (alive, dead)",
            [
                (vec![("state", "alive".to_string())], alive as u64),
                (
                    vec![("state", "dead".to_string())],
                    (workers.len() - alive) as u64,
                ),
            ],
        )?;
        gauge(
            e,
            "weir_master_jobs",
            "Jobs the master knows by state",
            JOB_STATES.iter().map(|&state| {
                let count = jobs.iter().filter(|job| job.state == state).count() as u64;
                (vec![("state", state_label(state))], count)
            }),
        )?;
        let total = |pick: fn(&pb::CheckpointStats) -> u64| -> u64 {
            jobs.iter().map(|job| pick(&job.checkpoints)).sum()
        };
        counter(
            e,
            "weir_master_checkpoints",
            "Checkpoints of all jobs by outcome (completed, failed)",
            [
                (
                    vec![("outcome", "completed".to_string())],
                    total(|stats| stats.completed),
                ),
                (
                    vec![("outcome", "failed".to_string())],
                    total(|stats| stats.failed),
                ),
            ],
        )?;
        // Per job only while it is live, so ended jobs leave no series behind.
        let live: Vec<&JobCheckpoints> =
            jobs.iter().filter(|job| !job.state.is_terminal()).collect();
        let labels = |job: &JobCheckpoints| -> Labels { vec![("job_id", job.job_id.clone())] };
        gauge(
            e,
            "weir_job_info",
            "1 for every live job, labelled with its name and state",
            live.iter().map(|job| {
                let mut labels = labels(job);
                labels.push(("name", job.name.clone()));
                labels.push(("state", state_label(job.state)));
                (labels, 1u64)
            }),
        )?;
        counter(
            e,
            "weir_job_checkpoints",
            "A live job's checkpoints by outcome (completed, failed)",
            live.iter().flat_map(|job| {
                let mut completed = labels(job);
                completed.push(("outcome", "completed".to_string()));
                let mut failed = labels(job);
                failed.push(("outcome", "failed".to_string()));
                [
                    (completed, job.checkpoints.completed),
                    (failed, job.checkpoints.failed),
                ]
            }),
        )?;
        gauge(
            e,
            "weir_job_last_checkpoint_timestamp_seconds",
            "When a live job's last checkpoint completed (Unix time); absent before the first",
            live.iter()
                .filter(|job| job.checkpoints.last_completed_id > 0)
                .map(|job| {
                    (
                        labels(job),
                        job.checkpoints.last_completed_at_ms as f64 / 1000.0,
                    )
                }),
        )?;
        gauge(
            e,
            "weir_job_last_checkpoint_duration_seconds",
            "How long a live job's last completed checkpoint took, from trigger to persisted",
            live.iter()
                .filter(|job| job.checkpoints.last_completed_id > 0)
                .map(|job| {
                    (
                        labels(job),
                        job.checkpoints.last_duration_ms as f64 / 1000.0,
                    )
                }),
        )
    }
}

/// A job's state and checkpoint figures, as the collector reads them.
#[derive(Debug, Clone)]
pub struct JobCheckpoints {
    pub job_id: String,
    pub name: String,
    pub state: JobState,
    pub checkpoints: pb::CheckpointStats,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refusal_reasons_are_a_bounded_set_taken_from_placement() {
        use crate::placement::{Capacity, place};
        let worker = |alive: bool, rss: u64, reserved: u64| Capacity {
            worker_id: "w-1".into(),
            alive,
            memory_limit: 1000,
            reserved,
            rss,
        };
        let why = |workers: &mut [Capacity]| place(&[500], workers, 0.9).unwrap_err();
        assert_eq!(refusal_reason(&why(&mut [])), "no_live_worker");
        assert_eq!(
            refusal_reason(&why(&mut [worker(false, 0, 0)])),
            "no_live_worker"
        );
        assert_eq!(
            refusal_reason(&why(&mut [worker(true, 950, 0)])),
            "rss_above_high_watermark"
        );
        assert_eq!(
            refusal_reason(&why(&mut [worker(true, 0, 600)])),
            "memory_budget"
        );
    }
}
