//! Which job records must be written to the job store, and what a write's outcome means for
//! the model. The writes themselves happen outside the cluster's lock (`crate::persist`).

use std::time::Duration;

use tracing::{info, warn};

use super::Cluster;
use crate::store::JobRecord;

/// How one write of a job record went, as `crate::persist` reports it back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WriteOutcome {
    pub job_id: String,
    /// The revision written ([`JobRecord::revision`]).
    pub revision: u64,
    /// `None`: the store durably holds this revision or a newer one.
    pub error: Option<String>,
    /// How long the write took.
    pub duration: Duration,
}

impl WriteOutcome {
    /// The error of the write of `job_id` at `revision` among `outcomes`, if it failed (or was
    /// not attempted: then the reason says so).
    pub fn error_of(outcomes: &[WriteOutcome], job_id: &str, revision: u64) -> Option<String> {
        match outcomes
            .iter()
            .find(|outcome| outcome.job_id == job_id && outcome.revision == revision)
        {
            Some(outcome) => outcome.error.clone(),
            None => Some(format!(
                "revision {revision} of job {job_id} was not written"
            )),
        }
    }
}

impl Cluster {
    /// Marks a job's record changed: a new revision, to be written by the next
    /// [`Cluster::take_writes`].
    pub(super) fn record_changed(&mut self, job_id: &str) {
        if let Some(job) = self.jobs.get_mut(job_id) {
            job.record.revision += 1;
            self.unwritten.insert(job_id.to_string());
        }
    }

    /// The records changed since the last call, to be written to the job store before what the
    /// same changes decided is sent. A job whose completed checkpoint is being recorded is held
    /// back until that write's outcome is known ([`Cluster::checkpoint_recorded`]): a snapshot
    /// without the checkpoint must not be written over the one with it.
    pub fn take_writes(&mut self) -> Vec<JobRecord> {
        let jobs = &self.jobs;
        let (ready, held): (Vec<String>, Vec<String>) = std::mem::take(&mut self.unwritten)
            .into_iter()
            .partition(|job_id| {
                jobs.get(job_id)
                    .is_some_and(|job| job.checkpoint_timer.recording.is_none())
            });
        self.unwritten.extend(held);
        ready
            .iter()
            .filter_map(|job_id| self.jobs.get(job_id))
            .map(|job| job.record.clone())
            .collect()
    }

    /// Takes the outcomes of writes: a failed one is written again with the next changes (or
    /// the scheduler's next pass), as the record is then; the first failure and the recovery of
    /// a job's writes are logged.
    pub fn writes_done(&mut self, outcomes: &[WriteOutcome]) {
        for outcome in outcomes {
            let job_id = &outcome.job_id;
            match &outcome.error {
                Some(error) => {
                    if self.failing_writes.insert(job_id.clone()) {
                        warn!(job = %job_id, revision = outcome.revision, %error, "could not write the job's record to the job store; trying again with its next change");
                    }
                    if self.jobs.contains_key(job_id) {
                        self.unwritten.insert(job_id.clone());
                    }
                }
                None => {
                    if self.failing_writes.remove(job_id) {
                        info!(job = %job_id, revision = outcome.revision, "the job's record is written to the job store again");
                    }
                }
            }
        }
    }
}
