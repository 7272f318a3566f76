//! Read-only figures of the cluster model for the master's `/metrics` (crate::http::metrics).

use super::Cluster;
use crate::http::metrics::JobCheckpoints;

impl Cluster {
    /// Every job's state and checkpoint counters.
    pub fn job_checkpoint_stats(&self) -> Vec<JobCheckpoints> {
        self.jobs
            .values()
            .map(|job| JobCheckpoints {
                job_id: job.record.id.clone(),
                name: job.record.name.clone(),
                state: job.record.state,
                checkpoints: weir_proto::v1::CheckpointStats::from(&job.record.checkpoints),
            })
            .collect()
    }
}
