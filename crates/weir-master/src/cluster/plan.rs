//! What the master needs from a job file to schedule it.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use futures::future::BoxFuture;
use weir_core::split::SplitId;

/// Lists a source's splits (a Kafka source: the partitions of its topics).
pub trait SplitLister: Send + Sync {
    /// The current splits.
    fn list(&self) -> BoxFuture<'static, Result<Vec<SplitId>, ListSplitsError>>;
    /// How often to look for splits added while the job runs; `None`: never.
    fn discovery_interval(&self) -> Option<Duration>;
    /// What is being listed, for reasons shown to users ("topic orders").
    fn describe(&self) -> String;
}

/// Why the splits could not be listed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct ListSplitsError {
    pub message: String,
    /// Worth trying again (broker unreachable), or final (topic missing).
    pub retryable: bool,
}

/// The job-wide `read_limit.*`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct JobReadLimit {
    pub rows_per_second: Option<u64>,
    pub bytes_per_second: Option<u64>,
}

/// What the master needs from a job file to schedule it.
#[derive(Clone)]
pub struct JobPlan {
    pub parallelism: u32,
    /// Memory each subtask reserves on its worker, apart from its splits.
    pub base_reservation: u64,
    /// Memory each split (Kafka partition) adds to its subtask's reservation.
    pub split_reservation: u64,
    /// `schedule.strategy = "reject"`: fail at once instead of waiting for capacity.
    pub reject_when_full: bool,
    /// How often a failed subtask is retried before the job fails.
    pub retry_times: u32,
    pub retry_interval: Duration,
    pub read_limit: JobReadLimit,
    /// `env.checkpoint.interval` and `env.checkpoint.timeout`.
    pub checkpoint_interval: Duration,
    pub checkpoint_timeout: Duration,
    /// Lists the source's splits; `None` for sources without splits (FakeSource).
    pub split_lister: Option<Arc<dyn SplitLister>>,
}

impl fmt::Debug for JobPlan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JobPlan")
            .field("parallelism", &self.parallelism)
            .field("base_reservation", &self.base_reservation)
            .field("split_reservation", &self.split_reservation)
            .field("reject_when_full", &self.reject_when_full)
            .field("retry_times", &self.retry_times)
            .field("retry_interval", &self.retry_interval)
            .field("read_limit", &self.read_limit)
            .field("checkpoint_interval", &self.checkpoint_interval)
            .field("checkpoint_timeout", &self.checkpoint_timeout)
            .field(
                "split_lister",
                &self.split_lister.as_ref().map(|lister| lister.describe()),
            )
            .finish()
    }
}

impl JobPlan {
    /// A plan with fixed per-subtask memory and no splits.
    pub fn fixed(parallelism: u32, reservation: u64) -> Self {
        Self {
            parallelism,
            base_reservation: reservation,
            split_reservation: 0,
            reject_when_full: false,
            retry_times: 0,
            retry_interval: Duration::ZERO,
            read_limit: JobReadLimit::default(),
            checkpoint_interval: Duration::from_secs(10),
            checkpoint_timeout: Duration::from_secs(60),
            split_lister: None,
        }
    }

    /// The plan of a stored job whose file no longer parses: it runs nothing.
    pub fn unrunnable() -> Self {
        Self::fixed(0, 0)
    }
}
