//! The `env { }` block: job-wide settings.

use std::time::Duration;

use schemars::JsonSchema;
use serde::{Deserialize, Deserializer, Serialize};

use super::section::{Section, Violation};

/// Job-wide settings: parallelism, mode, checkpointing, read limits, retries and scheduling.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct EnvConfig {
    /// Number of parallel subtasks; each runs one source reader and one sink writer.
    #[serde(default = "default_parallelism")]
    pub parallelism: u32,
    /// `BATCH` jobs end when every source is exhausted; `STREAMING` jobs run until cancelled
    /// (a FakeSource with `row.num` stays up, idle, after its rows, as SeaTunnel's does).
    #[serde(rename = "job.mode", default = "default_job_mode")]
    pub job_mode: JobMode,
    /// The job's name, shown by `weir jobs`. A name given at submission (`weir submit --name`)
    /// wins; without either, the job file's name without its extension is used.
    #[serde(rename = "job.name", skip_serializing_if = "Option::is_none")]
    pub job_name: Option<String>,
    /// Milliseconds between checkpoints. A checkpoint closes the sink's files, and only
    /// committed files are visible: this is the latency of the output and the most work
    /// a recovery replays. Kafka offsets are committed to `consumer.group` with each one.
    #[serde(
        rename = "checkpoint.interval",
        default = "default_checkpoint_interval_ms"
    )]
    pub checkpoint_interval_ms: u64,
    /// Milliseconds a checkpoint may take from trigger to every subtask's answer; a slower
    /// one fails (counted in `weir job`) and the next is taken one interval later.
    #[serde(
        rename = "checkpoint.timeout",
        default = "default_checkpoint_timeout_ms"
    )]
    pub checkpoint_timeout_ms: u64,
    /// Rows per second the whole job may read, shared across its subtasks (not per subtask).
    /// Acquired before a row enters a subtask's queue. Absent: unlimited.
    #[serde(
        rename = "read_limit.rows_per_second",
        skip_serializing_if = "Option::is_none"
    )]
    pub read_limit_rows_per_second: Option<u64>,
    /// Bytes per second the whole job may read, shared across its subtasks, measured as row
    /// size in memory. Absent: unlimited.
    #[serde(
        rename = "read_limit.bytes_per_second",
        skip_serializing_if = "Option::is_none"
    )]
    pub read_limit_bytes_per_second: Option<u64>,
    /// How many times a failed subtask is restarted from the job's last completed checkpoint
    /// before the job fails. Counted since the last completed checkpoint, so only failures
    /// without progress in between add up.
    #[serde(rename = "job.retry.times", default = "default_retry_times")]
    pub retry_times: u32,
    /// Seconds to wait before the first restart; each further restart without a checkpoint in
    /// between waits twice as long as the one before (at most 300 s), so an outage such as a
    /// NameNode restart is waited out with few attempts.
    #[serde(
        rename = "job.retry.interval.seconds",
        default = "default_retry_interval_seconds"
    )]
    pub retry_interval_seconds: u64,
    /// What the master does when no worker has the memory to admit the job: `wait` keeps it
    /// QUEUED until capacity frees up, `reject` fails the submission with the reason.
    #[serde(rename = "schedule.strategy", default = "default_schedule_strategy")]
    pub schedule_strategy: ScheduleStrategy,
}

fn default_parallelism() -> u32 {
    1
}
fn default_job_mode() -> JobMode {
    JobMode::Batch
}
fn default_checkpoint_interval_ms() -> u64 {
    10_000
}
fn default_checkpoint_timeout_ms() -> u64 {
    60_000
}
fn default_retry_times() -> u32 {
    3
}
fn default_retry_interval_seconds() -> u64 {
    3
}
fn default_schedule_strategy() -> ScheduleStrategy {
    ScheduleStrategy::Wait
}

impl Default for EnvConfig {
    fn default() -> Self {
        EnvConfig {
            parallelism: default_parallelism(),
            job_mode: default_job_mode(),
            job_name: None,
            checkpoint_interval_ms: default_checkpoint_interval_ms(),
            checkpoint_timeout_ms: default_checkpoint_timeout_ms(),
            read_limit_rows_per_second: None,
            read_limit_bytes_per_second: None,
            retry_times: default_retry_times(),
            retry_interval_seconds: default_retry_interval_seconds(),
            schedule_strategy: default_schedule_strategy(),
        }
    }
}

impl EnvConfig {
    /// `checkpoint.interval` as a duration.
    pub fn checkpoint_interval(&self) -> Duration {
        Duration::from_millis(self.checkpoint_interval_ms)
    }

    /// `checkpoint.timeout` as a duration.
    pub fn checkpoint_timeout(&self) -> Duration {
        Duration::from_millis(self.checkpoint_timeout_ms)
    }

    /// `job.retry.interval.seconds` as a duration.
    pub fn retry_interval(&self) -> Duration {
        Duration::from_secs(self.retry_interval_seconds)
    }
}

impl Section for EnvConfig {
    fn validate(&self) -> Result<(), Violation> {
        if self.parallelism == 0 {
            return Err(Violation::new("parallelism", "must be at least 1, found 0"));
        }
        if self.checkpoint_interval_ms == 0 {
            return Err(Violation::new(
                "checkpoint.interval",
                "must be at least 1 (milliseconds), found 0",
            ));
        }
        if self.checkpoint_timeout_ms == 0 {
            return Err(Violation::new(
                "checkpoint.timeout",
                "must be at least 1 (milliseconds), found 0",
            ));
        }
        for (option, limit) in [
            (
                "read_limit.rows_per_second",
                self.read_limit_rows_per_second,
            ),
            (
                "read_limit.bytes_per_second",
                self.read_limit_bytes_per_second,
            ),
        ] {
            if limit == Some(0) {
                return Err(Violation::new(
                    option,
                    "must be at least 1 when set (leave it out for no limit), found 0",
                ));
            }
        }
        Ok(())
    }
}

/// How a job ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, JsonSchema)]
#[serde(rename_all = "UPPERCASE")]
pub enum JobMode {
    /// Finite: the job finishes when its sources are exhausted.
    Batch,
    /// Unbounded: the job runs until cancelled.
    Streaming,
}

/// What to do when the cluster lacks memory to admit a job.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum ScheduleStrategy {
    /// Keep the job QUEUED until a worker can admit it.
    Wait,
    /// Refuse the submission, with the reason.
    Reject,
}

/// The name `variants` gives `value`, as job files write it (`"?"` only for a value the list
/// leaves out, which the lists of this module's callers never do).
pub(super) fn variant_name<T: Copy + PartialEq>(
    variants: &[(&'static str, T)],
    value: T,
) -> &'static str {
    variants
        .iter()
        .find(|(_, variant)| *variant == value)
        .map_or("?", |(name, _)| name)
}

/// Reads one of `variants`' names, ignoring ASCII case (SeaTunnel users write both).
pub(super) fn deserialize_variant<'de, D: Deserializer<'de>, T: Copy>(
    deserializer: D,
    variants: &[(&str, T)],
) -> Result<T, D::Error> {
    let text = String::deserialize(deserializer)?;
    variants
        .iter()
        .find(|(name, _)| name.eq_ignore_ascii_case(text.trim()))
        .map(|(_, variant)| *variant)
        .ok_or_else(|| {
            let names: Vec<&str> = variants.iter().map(|(name, _)| *name).collect();
            serde::de::Error::custom(format!(
                "must be one of {}, found string {}",
                names.join(", "),
                super::error::quote(&text)
            ))
        })
}

impl<'de> Deserialize<'de> for JobMode {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserialize_variant(
            deserializer,
            &[("BATCH", JobMode::Batch), ("STREAMING", JobMode::Streaming)],
        )
    }
}

impl<'de> Deserialize<'de> for ScheduleStrategy {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserialize_variant(
            deserializer,
            &[
                ("wait", ScheduleStrategy::Wait),
                ("reject", ScheduleStrategy::Reject),
            ],
        )
    }
}
