//! Reading the JSON of `weir job -o json` (and the other `-o json` outputs): shared by the
//! end-to-end tests and the benchmarks.

use serde_json::Value;

/// A string field, empty when missing.
pub fn text(value: &Value, key: &str) -> String {
    value[key].as_str().unwrap_or_default().to_string()
}

/// An unsigned field, 0 when missing.
pub fn u64_of(value: &Value, key: &str) -> u64 {
    value[key].as_u64().unwrap_or_default()
}

/// The tasks array of a job.
pub fn tasks(job: &Value) -> Vec<Value> {
    job["tasks"].as_array().cloned().unwrap_or_default()
}

/// Every split entry of every task.
pub fn splits(job: &Value) -> Vec<Value> {
    tasks(job)
        .iter()
        .flat_map(|task| {
            task["metrics"]["splits"]
                .as_array()
                .cloned()
                .unwrap_or_default()
        })
        .collect()
}

/// Whether a job state (as `weir` prints it) never changes again.
pub fn is_terminal(state: &str) -> bool {
    matches!(state, "Failed" | "Cancelled" | "Finished" | "Stopped")
}
