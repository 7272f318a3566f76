//! The splits of a job's source: listing them, assigning them to subtasks, adding discovered
//! ones to running subtasks, and each subtask's share of the job's read limit.

use tracing::info;
use weir_core::split::{SplitId, assign_round_robin, read_limit_share};
use weir_proto::v1 as pb;

use super::jobs::split_to_proto;
use super::{CancelOrder, Cluster, JobEntry, JobPlan, task_id};
use crate::job_state::JobEvent;

/// What the master knows of a job's splits.
#[derive(Debug, Clone, PartialEq)]
pub enum Splits {
    /// The source has no splits (FakeSource): every subtask reads its own implicit one.
    Implicit,
    /// Not listed yet; placement waits.
    Listing,
    /// Listed; the splits of each subtask.
    Assigned(Vec<Vec<SplitId>>),
}

impl Splits {
    pub(super) fn initial(plan: &JobPlan) -> Self {
        if plan.split_lister.is_some() {
            Self::Listing
        } else {
            Self::Implicit
        }
    }

    /// Whether placement may go ahead.
    pub fn known(&self) -> bool {
        !matches!(self, Self::Listing)
    }

    fn total(&self) -> usize {
        match self {
            Self::Assigned(assignment) => assignment.iter().map(Vec::len).sum(),
            _ => 0,
        }
    }
}

/// Tell a running subtask about new splits and its new share of the read limit.
#[derive(Debug, Clone)]
pub struct SplitUpdate {
    pub worker_id: String,
    pub address: String,
    pub request: pb::AddSplitsRequest,
}

impl JobEntry {
    /// The splits subtask `index` reads.
    pub fn splits_of(&self, index: u32) -> &[SplitId] {
        match &self.splits {
            Splits::Assigned(assignment) => assignment
                .get(index as usize)
                .map(Vec::as_slice)
                .unwrap_or_default(),
            _ => &[],
        }
    }

    /// Memory subtask `index` reserves on its worker.
    pub fn reservation_of(&self, index: u32) -> u64 {
        let splits = self.splits_of(index).len() as u64;
        self.plan.base_reservation + splits * self.plan.split_reservation
    }

    /// Subtask `index`'s share of the job-wide read limit: proportional to its splits, so the
    /// job as a whole reads at the configured rate, not parallelism × it.
    pub fn read_limit_of(&self, index: u32) -> pb::ReadLimit {
        let mine = self.splits_of(index).len();
        let total = self.splits.total();
        let parallelism = self.plan.parallelism;
        let share = |limit: Option<u64>| {
            limit.map(|limit| read_limit_share(limit, mine, total, parallelism))
        };
        pb::ReadLimit {
            rows_per_second: share(self.plan.read_limit.rows_per_second),
            bytes_per_second: share(self.plan.read_limit.bytes_per_second),
        }
    }
}

impl Cluster {
    /// The lister of a job whose splits are still to be listed or discovered.
    pub fn split_lister(&self, job_id: &str) -> Option<std::sync::Arc<dyn super::SplitLister>> {
        let job = self.jobs.get(job_id)?;
        if job.record.state.is_terminal() {
            return None;
        }
        job.plan.split_lister.clone()
    }

    /// Jobs still live whose splits must be listed or discovered (after a restart).
    pub fn pending_split_listers(&self) -> Vec<(String, std::sync::Arc<dyn super::SplitLister>)> {
        self.jobs
            .keys()
            .filter_map(|job_id| Some((job_id.clone(), self.split_lister(job_id)?)))
            .collect()
    }

    /// Records a listing. The first one assigns every split; later ones (discovery) add new
    /// splits to the subtasks with the fewest and return the updates for running subtasks.
    pub fn splits_listed(&mut self, job_id: &str, listed: Vec<SplitId>) -> Vec<SplitUpdate> {
        let Some(job) = self.jobs.get_mut(job_id) else {
            return Vec::new();
        };
        if job.record.state.is_terminal() {
            return Vec::new();
        }
        match &mut job.splits {
            Splits::Implicit => Vec::new(),
            Splits::Listing => {
                let count = listed.len();
                job.splits = Splits::Assigned(assign_round_robin(&listed, job.plan.parallelism));
                info!(job = %job_id, splits = count, "splits listed");
                Vec::new()
            }
            Splits::Assigned(assignment) => {
                let mut added: Vec<SplitId> = listed
                    .into_iter()
                    .filter(|split| !assignment.iter().flatten().any(|known| known == split))
                    .collect();
                if added.is_empty() {
                    return Vec::new();
                }
                added.sort();
                let mut received = vec![Vec::new(); assignment.len()];
                for split in added {
                    let Some((fewest, _)) = assignment
                        .iter()
                        .enumerate()
                        .min_by_key(|(index, splits)| (splits.len(), *index))
                    else {
                        break;
                    };
                    info!(job = %job_id, split = %split, subtask = fewest, "split discovered");
                    assignment[fewest].push(split.clone());
                    received[fewest].push(split);
                }
                self.split_updates(job_id, &received)
            }
        }
    }

    /// Updates for every deployed subtask: its added splits (maybe none) and its new share of
    /// the read limit, which changes for all when the split count changes.
    fn split_updates(&self, job_id: &str, received: &[Vec<SplitId>]) -> Vec<SplitUpdate> {
        let Some(job) = self.jobs.get(job_id) else {
            return Vec::new();
        };
        self.deployed(job)
            .filter_map(|(subtask, worker_id, address)| {
                let added = received.get(subtask.index as usize)?;
                Some(SplitUpdate {
                    worker_id,
                    address,
                    request: pb::AddSplitsRequest {
                        task_id: task_id(job_id, subtask.index, subtask.attempt),
                        splits: added.iter().map(split_to_proto).collect(),
                        read_limit: Some(job.read_limit_of(subtask.index)),
                        reserved_bytes: job.reservation_of(subtask.index),
                    },
                })
            })
            .collect()
    }

    /// A listing failed. A retryable failure leaves the job waiting with the error as its
    /// reason; a final one (topic missing) fails the job and returns the tasks to stop.
    pub fn splits_unlisted(
        &mut self,
        job_id: &str,
        error: &super::ListSplitsError,
        retry_in: std::time::Duration,
    ) -> Vec<CancelOrder> {
        let Some(job) = self.jobs.get(job_id) else {
            return Vec::new();
        };
        if job.record.state.is_terminal() {
            return Vec::new();
        }
        if !error.retryable {
            self.transition(job_id, JobEvent::Failed, error.message.clone());
            return self.cancel_orders(job_id);
        }
        if job.splits.known() {
            // A discovery round failed; the running job goes on with the splits it has.
            tracing::warn!(job = %job_id, error = %error.message, "partition discovery failed");
            return Vec::new();
        }
        let reason = format!(
            "{}; retrying in {} s",
            error.message,
            retry_in.as_secs().max(1)
        );
        self.transition(job_id, JobEvent::NoCapacity, reason);
        Vec::new()
    }
}
