//! Human tables and `-o json` for the client commands.

use clap::ValueEnum;
use serde_json::{Value, json};
use weir_core::reservation::format_bytes;
use weir_proto::v1 as pb;

#[derive(Clone, Copy, Default, ValueEnum, PartialEq, Eq)]
pub enum OutputFormat {
    /// Aligned columns for people.
    #[default]
    Table,
    /// One JSON document, for scripts.
    Json,
}

/// Widest cell a table shows; longer ones (a job name or worker id is whatever its submitter
/// or worker chose) end in `…`. `-o json` shows them whole.
pub const MAX_CELL_CHARS: usize = 100;

/// Prints rows under a header, columns padded to their widest cell.
pub fn print_table(header: &[&str], rows: &[Vec<String>]) -> std::io::Result<()> {
    for line in table_lines(header, rows) {
        out!("{line}")?;
    }
    Ok(())
}

/// The lines [`print_table`] prints: cells cut to [`MAX_CELL_CHARS`], padded to their column's
/// widest.
fn table_lines(header: &[&str], rows: &[Vec<String>]) -> Vec<String> {
    let cut = |cell: &str| -> String {
        match cell.char_indices().nth(MAX_CELL_CHARS - 1) {
            Some((end, _)) if cell[end..].chars().nth(1).is_some() => {
                format!("{}…", &cell[..end])
            }
            _ => cell.to_string(),
        }
    };
    let header: Vec<String> = header.iter().map(|title| cut(title)).collect();
    let rows: Vec<Vec<String>> = rows
        .iter()
        .map(|row| row.iter().map(|cell| cut(cell)).collect())
        .collect();
    let mut widths: Vec<usize> = header.iter().map(|title| title.chars().count()).collect();
    for row in &rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    std::iter::once(&header)
        .chain(&rows)
        .map(|cells| {
            let padded: Vec<String> = cells
                .iter()
                .zip(&widths)
                .map(|(cell, width)| {
                    let fill = width.saturating_sub(cell.chars().count());
                    format!("{cell}{}", " ".repeat(fill))
                })
                .collect();
            padded.join("  ").trim_end().to_string()
        })
        .collect()
}

pub fn print_json(value: &Value) -> std::io::Result<()> {
    // Serialising a `Value` cannot fail.
    out!(
        "{}",
        serde_json::to_string_pretty(value).unwrap_or_default()
    )
}

pub fn job_state(state: i32) -> &'static str {
    match pb::JobState::try_from(state).unwrap_or(pb::JobState::Unspecified) {
        pb::JobState::Unspecified => "Unknown",
        pb::JobState::Submitted => "Submitted",
        pb::JobState::Queued => "Queued",
        pb::JobState::Scheduled => "Scheduled",
        pb::JobState::Running => "Running",
        pb::JobState::Recovering => "Recovering",
        pb::JobState::Cancelling => "Cancelling",
        pb::JobState::Cancelled => "Cancelled",
        pb::JobState::Failed => "Failed",
        pb::JobState::Finished => "Finished",
        pb::JobState::Stopping => "Stopping",
        pb::JobState::Stopped => "Stopped",
    }
}

pub fn task_state(state: i32) -> &'static str {
    match pb::TaskState::try_from(state).unwrap_or(pb::TaskState::Unspecified) {
        pb::TaskState::Unspecified => "Pending",
        pb::TaskState::Deploying => "Deploying",
        pb::TaskState::Running => "Running",
        pb::TaskState::Finished => "Finished",
        pb::TaskState::Failed => "Failed",
        pb::TaskState::Cancelled => "Cancelled",
        pb::TaskState::Lost => "Lost",
    }
}

fn worker_state(state: i32) -> &'static str {
    match pb::WorkerState::try_from(state).unwrap_or(pb::WorkerState::Unspecified) {
        pb::WorkerState::Alive => "ALIVE",
        pb::WorkerState::Dead => "DEAD",
        pb::WorkerState::Unspecified => "UNKNOWN",
    }
}

fn pressure(state: i32) -> &'static str {
    match pb::MemoryPressure::try_from(state).unwrap_or(pb::MemoryPressure::Unspecified) {
        pb::MemoryPressure::Normal => "normal",
        pb::MemoryPressure::Paused => "paused",
        pb::MemoryPressure::Unspecified => "unknown",
    }
}

pub fn summary_json(job: &pb::JobSummary) -> Value {
    json!({
        "job_id": job.job_id,
        "name": job.name,
        "state": job_state(job.state),
        "state_reason": job.state_reason,
        "submitted_at_ms": job.submitted_at_ms,
        "state_changed_at_ms": job.state_changed_at_ms,
        "parallelism": job.parallelism,
        "subtask_reservation_bytes": job.subtask_reservation_bytes,
        "rows_read": job.rows_read,
        "rows_written": job.rows_written,
        "bytes_read": job.bytes_read,
        "rows_per_second": job.rows_per_second,
        "bytes_per_second": job.bytes_per_second,
        "consumer_lag": job.consumer_lag,
        "records_skipped": job.records_skipped,
        "queue_rows": job.queue_rows,
        "queue_bytes": job.queue_bytes,
        "sink_buffer_bytes": job.sink_buffer_bytes,
        "sink_buffer_max_bytes": job.sink_buffer_max_bytes,
        "last_checkpoint_id": job.last_checkpoint_id,
    })
}

fn checkpoints_json(stats: &pb::CheckpointStats) -> Value {
    json!({
        "last_completed_id": stats.last_completed_id,
        "last_completed_at_ms": stats.last_completed_at_ms,
        "last_duration_ms": stats.last_duration_ms,
        "completed": stats.completed,
        "failed": stats.failed,
        "last_failure": stats.last_failure,
        "last_completed_path": stats.last_completed_path,
        "restored_from_id": stats.restored_from_id,
    })
}

/// `weir job`'s checkpoint line: `12 completed, 1 failed; last #12 (35 ms)`.
pub fn checkpoints_line(stats: &pb::CheckpointStats) -> String {
    let mut line = format!("{} completed, {} failed", stats.completed, stats.failed);
    if stats.last_completed_id > 0 {
        line.push_str(&format!(
            "; last #{} ({} ms) at {}",
            stats.last_completed_id, stats.last_duration_ms, stats.last_completed_path
        ));
    }
    if stats.restored_from_id > 0 {
        line.push_str(&format!("; restored from #{}", stats.restored_from_id));
    }
    if !stats.last_failure.is_empty() {
        line.push_str(&format!("; latest failure: {}", stats.last_failure));
    }
    line
}

fn metrics_json(metrics: &pb::TaskMetrics) -> Value {
    json!({
        "rows_read": metrics.rows_read,
        "bytes_read": metrics.bytes_read,
        "rows_written": metrics.rows_written,
        "rows_per_second": metrics.rows_per_second,
        "queue_rows": metrics.queue_rows,
        "queue_bytes": metrics.queue_bytes,
        "queue_peak_bytes": metrics.queue_peak_bytes,
        "queue_max_bytes": metrics.queue_max_bytes,
        "bytes_per_second": metrics.bytes_per_second,
        "records_skipped": metrics.records_skipped,
        "consumer_lag": metrics.consumer_lag,
        "last_error": metrics.last_error,
        "sink_buffer_bytes": metrics.sink_buffer_bytes,
        "sink_buffer_max_bytes": metrics.sink_buffer_max_bytes,
        "splits": metrics.splits.iter().map(split_json).collect::<Vec<_>>(),
    })
}

fn split_json(split: &pb::SplitMetrics) -> Value {
    json!({
        "split": split.split,
        "rows_read": split.rows_read,
        "bytes_read": split.bytes_read,
        "queue_rows": split.queue_rows,
        "queue_bytes": split.queue_bytes,
        "queue_peak_bytes": split.queue_peak_bytes,
        "queue_max_bytes": split.queue_max_bytes,
        "position": split.position,
        "high_watermark": split.high_watermark,
        "lag": split.lag,
        "records_skipped": split.records_skipped,
        "prefetch_bytes": split.prefetch_bytes,
        "rows_per_second": split.rows_per_second,
        "bytes_per_second": split.bytes_per_second,
    })
}

/// A level against its bound: `12 KiB / 64 KiB`.
pub fn bytes_of(level: u64, bound: u64) -> String {
    format!("{} / {}", format_bytes(level), format_bytes(bound))
}

/// Header of `weir job`'s split table.
pub const SPLIT_HEADER: [&str; 9] = [
    "SPLIT",
    "TASK",
    "ROWS READ",
    "ROWS/S",
    "BYTES/S",
    "POSITION",
    "LAG",
    "SKIPPED",
    "QUEUE",
];

/// `weir job`'s split table: one row per split of every task, with the split's current rate.
pub fn split_rows(tasks: &[pb::TaskDetail]) -> Vec<Vec<String>> {
    let known = |value: i64| {
        if value < 0 {
            "-".to_string()
        } else {
            value.to_string()
        }
    };
    tasks
        .iter()
        .flat_map(|task| {
            let splits = task
                .metrics
                .as_ref()
                .map(|metrics| metrics.splits.as_slice())
                .unwrap_or_default();
            splits.iter().map(move |split| {
                vec![
                    split.split.clone(),
                    task.task_id.clone(),
                    split.rows_read.to_string(),
                    format!("{:.0}", split.rows_per_second),
                    format!("{}/s", format_bytes(split.bytes_per_second as u64)),
                    known(split.position),
                    known(split.lag),
                    split.records_skipped.to_string(),
                    bytes_of(split.queue_bytes, split.queue_max_bytes),
                ]
            })
        })
        .collect()
}

pub fn detail_json(detail: &pb::JobDetail) -> Value {
    let mut value = detail
        .summary
        .as_ref()
        .map(summary_json)
        .unwrap_or_default();
    let tasks: Vec<Value> = detail
        .tasks
        .iter()
        .map(|task| {
            json!({
                "task_id": task.task_id,
                "subtask_index": task.subtask_index,
                "attempt": task.attempt,
                "worker_id": task.worker_id,
                "state": task_state(task.state),
                "state_reason": task.state_reason,
                "reserved_bytes": task.reserved_bytes,
                "metrics": task.metrics.as_ref().map(metrics_json),
            })
        })
        .collect();
    value["tasks"] = Value::Array(tasks);
    value["checkpoints"] = detail
        .checkpoints
        .as_ref()
        .map(checkpoints_json)
        .unwrap_or_default();
    value
}

/// One worker of `weir workers -o json`. `reserved_bytes` is the master's bookkeeping (what
/// admission uses), `worker_reserved_bytes` what the worker itself last reported.
pub fn worker_json(worker: &pb::WorkerSummary) -> Value {
    let memory = worker.memory.unwrap_or_default();
    json!({
        "worker_id": worker.worker_id,
        "address": worker.address,
        "state": worker_state(worker.state),
        "cores": worker.cores,
        "rss_bytes": memory.process_rss_bytes,
        "memory_limit_bytes": memory.memory_limit_bytes,
        "reserved_bytes": memory.reserved_bytes,
        "worker_reserved_bytes": worker.worker_reserved_bytes,
        "system_total_bytes": memory.system_total_bytes,
        "system_available_bytes": memory.system_available_bytes,
        "cgroup_limit_bytes": memory.cgroup_limit_bytes,
        "pressure": pressure(memory.pressure),
        "task_ids": worker.task_ids,
        "last_heartbeat_age_ms": worker.last_heartbeat_age_ms,
    })
}

/// One row of the `weir workers` table.
pub fn worker_row(worker: &pb::WorkerSummary) -> Vec<String> {
    let memory = worker.memory.unwrap_or_default();
    vec![
        worker.worker_id.clone(),
        worker.address.clone(),
        worker_state(worker.state).to_string(),
        format_bytes(memory.process_rss_bytes),
        format_bytes(memory.memory_limit_bytes),
        reserved_cell(memory.reserved_bytes, worker.worker_reserved_bytes),
        pressure(memory.pressure).to_string(),
        worker.task_ids.len().to_string(),
        format!("{:.1}s", worker.last_heartbeat_age_ms as f64 / 1000.0),
    ]
}

/// The RESERVED cell: the master's figure, followed by the worker's own when the two differ, so
/// a reservation one side never released shows without widening the table in the usual case.
fn reserved_cell(master: u64, worker: u64) -> String {
    if master == worker {
        format_bytes(master)
    } else {
        format!(
            "{} (worker: {})",
            format_bytes(master),
            format_bytes(worker)
        )
    }
}

#[cfg(test)]
mod worker_tests {
    use super::*;

    fn summary(master_reserved: u64, worker_reserved: u64) -> pb::WorkerSummary {
        pb::WorkerSummary {
            worker_id: "w-1".into(),
            state: pb::WorkerState::Alive as i32,
            memory: Some(pb::MemoryReport {
                reserved_bytes: master_reserved,
                ..Default::default()
            }),
            worker_reserved_bytes: worker_reserved,
            ..Default::default()
        }
    }

    #[test]
    fn huge_cells_are_cut_in_tables_and_whole_in_json() {
        let id = "w".repeat(65_536);
        let mut worker = summary(1 << 20, 1 << 20);
        worker.worker_id = id.clone();
        worker.address = "http://127.0.0.1:5801".into();
        let row = worker_row(&worker);
        let lines = table_lines(&["WORKER", "ADDRESS"], &[row[..2].to_vec()]);
        assert_eq!(
            lines[0],
            format!("WORKER{}  ADDRESS", " ".repeat(MAX_CELL_CHARS - 6))
        );
        assert_eq!(
            lines[1],
            format!("{}…  {}", "w".repeat(MAX_CELL_CHARS - 1), row[1])
        );
        assert_eq!(worker_json(&worker)["worker_id"], id.as_str());

        let exactly = "é".repeat(MAX_CELL_CHARS);
        let lines = table_lines(&["NAME"], &[vec![exactly.clone()]]);
        assert_eq!(lines[1], exactly, "a cell at the limit is whole");
        assert!(print_table(&["JOB", "NAME"], &[vec!["j".into(), id]]).is_ok());
    }

    #[test]
    fn both_reservations_are_shown() {
        let leaked = summary(0, 8 << 20);
        let json = worker_json(&leaked);
        assert_eq!(json["reserved_bytes"], 0);
        assert_eq!(json["worker_reserved_bytes"], 8 << 20);
        assert_eq!(worker_row(&leaked)[5], "0 B (worker: 8 MiB)");
        assert_eq!(worker_row(&summary(8 << 20, 8 << 20))[5], "8 MiB");
    }
}

#[cfg(test)]
mod job_tests {
    use super::*;

    fn detail() -> pb::JobDetail {
        let split = |name: &str, rate: f64| pb::SplitMetrics {
            split: name.into(),
            rows_read: 1000,
            rows_per_second: rate,
            bytes_per_second: rate * 2048.0,
            position: 1000,
            lag: -1,
            queue_bytes: 4096,
            queue_max_bytes: 8 << 20,
            ..Default::default()
        };
        pb::JobDetail {
            summary: Some(pb::JobSummary {
                job_id: "j-1".into(),
                sink_buffer_bytes: 3000,
                sink_buffer_max_bytes: 128 << 10,
                ..Default::default()
            }),
            tasks: vec![pb::TaskDetail {
                task_id: "j-1-0-1".into(),
                metrics: Some(pb::TaskMetrics {
                    sink_buffer_bytes: 3000,
                    sink_buffer_max_bytes: 64 << 10,
                    splits: vec![split("t-0", 49.6), split("t-1", 50.4)],
                    ..Default::default()
                }),
                ..Default::default()
            }],
            ..Default::default()
        }
    }

    #[test]
    fn json_carries_split_rates_and_sink_buffers() {
        let json = detail_json(&detail());
        assert_eq!(json["sink_buffer_bytes"], 3000);
        assert_eq!(json["sink_buffer_max_bytes"], 128 << 10);
        let metrics = &json["tasks"][0]["metrics"];
        assert_eq!(metrics["sink_buffer_bytes"], 3000);
        assert_eq!(metrics["sink_buffer_max_bytes"], 64 << 10);
        assert_eq!(metrics["splits"][1]["split"], "t-1");
        assert_eq!(metrics["splits"][1]["rows_per_second"], 50.4);
        assert_eq!(metrics["splits"][1]["bytes_per_second"], 50.4 * 2048.0);
    }

    #[test]
    fn split_table_has_one_row_per_split_with_its_rate() {
        let rows = split_rows(&detail().tasks);
        assert_eq!(rows.len(), 2);
        assert!(rows.iter().all(|row| row.len() == SPLIT_HEADER.len()));
        assert_eq!(
            rows[0],
            [
                "t-0",
                "j-1-0-1",
                "1000",
                "50",
                "99.2 KiB/s",
                "1000",
                "-",
                "0",
                "4 KiB / 8 MiB"
            ]
        );
        assert_eq!(bytes_of(3000, 64 << 10), "2.9 KiB / 64 KiB");
    }
}
