//! The exactly-once harness shared by the tests that run Kafka → HdfsFile jobs on real `weir`
//! processes and check what they committed (`tests/tests/exactly_once`, `tests/tests/fencing`):
//!
//! - [`support`]: the records a test produces (id `n` to partition `n % 4`) and the check of the
//!   committed files, read back with Hadoop's own FsShell, never with Weir's code;
//! - [`Scenario`]: a test's topic and HDFS directory; [`JobFile`]: its job file;
//! - [`wait`]: polling `weir job` until a condition holds, and the final exactly-once check;
//! - [`job_json`]: reading `weir job -o json`.

pub mod job;
pub mod job_json;
pub mod scenario;
pub mod support;
pub mod wait;

use std::time::Duration;

pub use job::JobFile;
pub use scenario::Scenario;
pub use support::{Codec, Committed, Format};

/// `env.checkpoint.interval` of every job, in ms.
pub const CHECKPOINT_INTERVAL_MS: u64 = 2000;
/// `env.parallelism` of every job.
pub const PARALLELISM: u64 = 2;
/// Memory limit of every test worker.
pub const WORKER_MEMORY: &str = "1GiB";

/// Bound for a job to be placed and running (also again after a recovery).
pub const START: Duration = Duration::from_secs(60);
/// Bound for the first checkpoint to complete once the job runs.
pub const FIRST_CHECKPOINT: Duration = Duration::from_secs(120);
/// Bound for reading a whole backlog (generous: debug builds on a loaded machine).
pub const CATCH_UP: Duration = Duration::from_secs(600);
/// Bound for checkpoints to complete once the job has caught up.
pub const SETTLE: Duration = Duration::from_secs(120);
/// How often a waiting test prints the job's state even when nothing changed.
pub const PROGRESS_EVERY: Duration = Duration::from_secs(10);
