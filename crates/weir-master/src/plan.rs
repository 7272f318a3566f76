//! From a parsed job file to what the scheduler needs.

use weir_core::config::{JobConfig, ScheduleStrategy};
use weir_core::reservation::subtask_reservation;

use crate::cluster::{JobPlan, JobReadLimit};

pub fn plan_for(config: &JobConfig) -> JobPlan {
    let base_reservation = subtask_reservation(config, 0);
    JobPlan {
        parallelism: config.env.parallelism,
        base_reservation,
        split_reservation: subtask_reservation(config, 1).saturating_sub(base_reservation),
        reject_when_full: config.env.schedule_strategy == ScheduleStrategy::Reject,
        retry_times: config.env.retry_times,
        retry_interval: config.env.retry_interval(),
        read_limit: JobReadLimit {
            rows_per_second: config.env.read_limit_rows_per_second,
            bytes_per_second: config.env.read_limit_bytes_per_second,
        },
        checkpoint_interval: config.env.checkpoint_interval(),
        checkpoint_timeout: config.env.checkpoint_timeout(),
        split_lister: crate::kafka::lister_for(config),
    }
}
