//! From a parsed job file to what the scheduler needs.

use weir_core::config::{JobConfig, ScheduleStrategy};
use weir_core::memory::subtask_reservation;

use crate::cluster::JobPlan;

pub fn plan_for(config: &JobConfig) -> JobPlan {
    JobPlan {
        parallelism: config.env.parallelism,
        reservation: subtask_reservation(config),
        reject_when_full: config.env.schedule_strategy == ScheduleStrategy::Reject,
        retry_times: config.env.retry_times,
        retry_interval: config.env.retry_interval(),
    }
}
