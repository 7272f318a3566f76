//! Splits: the units of source input a subtask reads, each into its own bounded queue.

use std::fmt;

use serde::{Deserialize, Serialize};

/// A Kafka topic partition.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct SplitId {
    pub topic: String,
    pub partition: i32,
}

impl SplitId {
    pub fn new(topic: impl Into<String>, partition: i32) -> Self {
        Self {
            topic: topic.into(),
            partition,
        }
    }
}

impl fmt::Display for SplitId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", self.topic, self.partition)
    }
}

/// Assigns `splits` to `parallelism` subtasks round-robin in (topic, partition) order, so every
/// subtask's count differs by at most one.
pub fn assign_round_robin(splits: &[SplitId], parallelism: u32) -> Vec<Vec<SplitId>> {
    let mut sorted = splits.to_vec();
    sorted.sort();
    sorted.dedup();
    let subtasks = parallelism.max(1) as usize;
    let mut assignment = vec![Vec::new(); subtasks];
    for (index, split) in sorted.into_iter().enumerate() {
        assignment[index % subtasks].push(split);
    }
    assignment
}

/// A subtask's share of a job-wide per-second budget: proportional to the splits it reads, so the
/// whole job reads at most `job_limit` however the splits are spread. A job whose source has no
/// splits shares it evenly over its subtasks.
pub fn read_limit_share(
    job_limit: u64,
    splits_of_subtask: usize,
    total_splits: usize,
    parallelism: u32,
) -> f64 {
    if total_splits == 0 {
        job_limit as f64 / f64::from(parallelism.max(1))
    } else {
        job_limit as f64 * splits_of_subtask as f64 / total_splits as f64
    }
}

/// Sum of several lags where `-1` means unknown: the total, or `-1` when any part (or every
/// part, there being none) is unknown — a partial sum would understate the lag.
pub fn total_lag(lags: impl IntoIterator<Item = i64>) -> i64 {
    let mut total = 0i64;
    let mut any = false;
    for lag in lags {
        if lag < 0 {
            return -1;
        }
        total = total.saturating_add(lag);
        any = true;
    }
    if any { total } else { -1 }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_robin_spreads_evenly_and_deterministically() {
        let splits: Vec<SplitId> = [3, 0, 2, 1, 4].map(|p| SplitId::new("t", p)).to_vec();
        let assignment = assign_round_robin(&splits, 2);
        let partitions: Vec<Vec<i32>> = assignment
            .iter()
            .map(|subtask| subtask.iter().map(|split| split.partition).collect())
            .collect();
        assert_eq!(partitions, vec![vec![0, 2, 4], vec![1, 3]]);
    }

    #[test]
    fn shares_add_up_to_the_job_limit() {
        let shares: f64 = [2usize, 1]
            .iter()
            .map(|&mine| read_limit_share(300, mine, 3, 2))
            .sum();
        assert!((shares - 300.0).abs() < 1e-9);
        assert_eq!(read_limit_share(200, 0, 0, 2), 100.0);
    }

    #[test]
    fn an_unknown_part_makes_the_total_lag_unknown() {
        assert_eq!(total_lag([3, 4]), 7);
        assert_eq!(total_lag([3, -1]), -1);
        assert_eq!(total_lag([]), -1);
    }

    #[test]
    fn display_is_topic_dash_partition() {
        assert_eq!(SplitId::new("orders", 7).to_string(), "orders-7");
    }
}
