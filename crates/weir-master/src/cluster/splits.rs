//! The splits of a job's source: listing them, assigning them to subtasks, adding discovered
//! ones to running subtasks, and each subtask's share of the job's read limit.

use tracing::info;
use weir_core::split::{SplitId, assign_round_robin, read_limit_share};
use weir_proto::v1 as pb;

use super::{CancelOrder, Cluster, JobEntry, JobPlan, task_id};
use crate::job_state::{JobEvent, JobState};

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
                        splits: added.iter().map(pb::Split::from).collect(),
                        read_limit: Some(job.read_limit_of(subtask.index)),
                        reserved_bytes: job.reservation_of(subtask.index),
                    },
                })
            })
            .collect()
    }

    /// What to send again after an `AddSplits` call to `task_id` failed: every split the
    /// subtask reads now (the worker ignores those it reads already, so a re-sent or
    /// overtaken update does no harm) with its current share of the read limit and its
    /// current reservation. `None` when nothing is to be sent: the job ended, or `task_id` is
    /// no longer its subtask's current, deployed attempt — a later attempt is deployed with
    /// every split assigned to its subtask, the discovered ones included.
    ///
    /// The master counts a discovered split as assigned as soon as it is listed, so a failed
    /// call must be retried until it lands or the task is replaced; otherwise the worker
    /// would never read that split while the job reports it assigned. (Failing the subtask
    /// instead would also get the split read, by recovery, but would restart the subtask from
    /// its last checkpoint and spend one of the job's retries on what is most often a
    /// transient glitch.)
    pub fn split_update_retry(&self, task_id: &str) -> Option<SplitUpdate> {
        let (job_id, index, attempt) = super::parse_task_id(task_id)?;
        let job = self.jobs.get(job_id)?;
        if job.record.state.is_terminal() || job.record.state == JobState::Cancelling {
            return None;
        }
        let (_, worker_id, address) = self
            .deployed(job)
            .find(|(subtask, _, _)| subtask.index == index && subtask.attempt == attempt)?;
        Some(SplitUpdate {
            worker_id,
            address,
            request: pb::AddSplitsRequest {
                task_id: task_id.to_string(),
                splits: job.splits_of(index).iter().map(pb::Split::from).collect(),
                read_limit: Some(job.read_limit_of(index)),
                reserved_bytes: job.reservation_of(index),
            },
        })
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

#[cfg(test)]
mod tests {
    use std::time::{Duration, Instant};

    use super::super::tests::{cluster, register, run_all};
    use super::super::{ListSplitsError, SplitLister};
    use super::*;

    const MIB: u64 = 1024 * 1024;

    struct Listed;

    impl SplitLister for Listed {
        fn list(
            &self,
        ) -> futures::future::BoxFuture<'static, Result<Vec<SplitId>, ListSplitsError>> {
            Box::pin(async { Ok(Vec::new()) })
        }
        fn discovery_interval(&self) -> Option<Duration> {
            None
        }
        fn describe(&self) -> String {
            "topic t".into()
        }
    }

    /// A job of `parallelism` subtasks reading topic `t` at 300 rows/s; a failed subtask is
    /// placed again once.
    fn submit_kafka(cluster: &mut Cluster, parallelism: u32) -> String {
        let record = Cluster::new_record("kafka".into(), "env {}".into(), "kafka.conf".into());
        let id = record.id.clone();
        let mut plan = JobPlan::fixed(parallelism, 10 * MIB);
        plan.split_reservation = 5 * MIB;
        plan.read_limit.rows_per_second = Some(300);
        plan.retry_times = 1;
        plan.split_lister = Some(std::sync::Arc::new(Listed));
        cluster.submit(record, plan);
        id
    }

    fn partitions(count: i32) -> Vec<SplitId> {
        (0..count)
            .map(|partition| SplitId::new("t", partition))
            .collect()
    }

    fn names(request: &pb::AddSplitsRequest) -> Vec<String> {
        request
            .splits
            .iter()
            .map(|split| format!("{}-{}", split.topic, split.partition))
            .collect()
    }

    fn rows_per_second(request: &pb::AddSplitsRequest) -> Option<f64> {
        request.read_limit.and_then(|limit| limit.rows_per_second)
    }

    #[test]
    fn a_failed_add_splits_is_resent_with_every_split_until_the_task_is_replaced() {
        let mut cluster = cluster();
        register(&mut cluster, "w-1", 1024);
        let job = submit_kafka(&mut cluster, 2);
        cluster.splits_listed(&job, partitions(2));
        let deployments = cluster.schedule(Instant::now());
        run_all(&mut cluster, &deployments);
        let updates = cluster.splits_listed(&job, partitions(3));
        let Some(update) = updates
            .iter()
            .find(|update| !update.request.splits.is_empty())
        else {
            panic!("no subtask got the new split: {updates:?}");
        };
        let task = update.request.task_id.clone();
        assert_eq!(names(&update.request), ["t-2"]);

        // Say that call failed: the retry names every split of the subtask (the worker skips
        // those it reads already), with the same share and reservation.
        let retry = cluster.split_update_retry(&task).unwrap();
        assert_eq!(
            (retry.worker_id.as_str(), retry.address.as_str()),
            ("w-1", "http://w-1")
        );
        assert_eq!(retry.request.task_id, task);
        assert_eq!(names(&retry.request), ["t-0", "t-2"]);
        assert_eq!(retry.request.read_limit, update.request.read_limit);
        assert_eq!(retry.request.reserved_bytes, 20 * MIB);

        // Another discovery before the retry: the retry carries the newest share, 2 of 4
        // partitions of 300 rows/s, so an overtaken update never restores an old rate.
        cluster.splits_listed(&job, partitions(4));
        let retry = cluster.split_update_retry(&task).unwrap();
        assert_eq!(names(&retry.request), ["t-0", "t-2"]);
        assert_eq!(rows_per_second(&retry.request), Some(150.0));

        // The task failed: its next attempt is deployed with all its splits; nothing to resend
        // to this one. The job recovers; its other subtask runs on.
        let other = deployments
            .iter()
            .map(|deployment| deployment.request.task_id.clone())
            .find(|id| *id != task)
            .unwrap();
        cluster.task_status("w-1", &task, pb::TaskState::Failed, "boom");
        assert!(cluster.split_update_retry(&task).is_none());
        assert!(cluster.split_update_retry("not-a-task").is_none());

        // A cancelled job: nothing to resend to its other subtask either.
        assert!(cluster.split_update_retry(&other).is_some());
        cluster.cancel(&job);
        assert!(cluster.split_update_retry(&other).is_none());
    }
}
