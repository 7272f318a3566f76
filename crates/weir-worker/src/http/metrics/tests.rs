use prometheus_client::collector::Collector;

use super::*;
use crate::task::SplitMetricsSnapshot;

#[derive(Debug)]
struct Fixed(Vec<(TaskIdentity, TaskMetricsSnapshot)>);

impl Collector for Fixed {
    fn encode(&self, mut encoder: DescriptorEncoder) -> fmt::Result {
        let tasks = latest_attempts(self.0.clone());
        encode_tasks(&mut encoder, &tasks)?;
        encode_splits(&mut encoder, &tasks)
    }
}

fn identity(job: &str, subtask: u32, attempt: u32) -> TaskIdentity {
    TaskIdentity {
        job_id: job.into(),
        subtask_index: subtask,
        attempt,
    }
}

fn snapshot(rows_written: u64) -> TaskMetricsSnapshot {
    TaskMetricsSnapshot {
        rows_written,
        read_limit_wait: Duration::from_millis(1500),
        idle: Duration::from_millis(250),
        sink_wait: Duration::from_millis(125),
        queue_full_wait: Duration::from_millis(2000),
        source_wait: Duration::from_millis(500),
        splits: vec![SplitMetricsSnapshot {
            split: "orders-3".into(),
            rows_read: 40,
            queue_bytes: 512,
            queue_max_bytes: 4096,
            position: Some(90),
            high_watermark: Some(100),
            prefetch_bytes: None,
            ..SplitMetricsSnapshot::default()
        }],
        ..TaskMetricsSnapshot::default()
    }
}

fn render(tasks: Vec<(TaskIdentity, TaskMetricsSnapshot)>) -> String {
    let mut registry = Registry::default();
    registry.register_collector(Box::new(Fixed(tasks)));
    let mut text = String::new();
    prometheus_client::encoding::prometheus_text::encode(&mut text, &registry).unwrap();
    text
}

#[test]
fn tasks_and_splits_are_labelled_by_job_subtask_and_split() {
    let text = render(vec![(identity("j-1", 0, 1), snapshot(25))]);
    assert!(
        text.contains("weir_task_records_written_total{job_id=\"j-1\",subtask=\"0\"} 25\n"),
        "{text}"
    );
    assert!(
        text.contains(
            "weir_task_read_limit_wait_seconds_total{job_id=\"j-1\",subtask=\"0\"} 1.5\n"
        ),
        "{text}"
    );
    for line in [
        "weir_task_idle_seconds_total{job_id=\"j-1\",subtask=\"0\"} 0.25\n",
        "weir_task_sink_wait_seconds_total{job_id=\"j-1\",subtask=\"0\"} 0.125\n",
        "weir_task_queue_full_seconds_total{job_id=\"j-1\",subtask=\"0\"} 2.0\n",
        "weir_task_source_wait_seconds_total{job_id=\"j-1\",subtask=\"0\"} 0.5\n",
    ] {
        assert!(text.contains(line), "{line} missing from {text}");
    }
    let split = "{job_id=\"j-1\",subtask=\"0\",split=\"orders-3\"}";
    assert!(
        text.contains(&format!("weir_split_records_read_total{split} 40\n")),
        "{text}"
    );
    assert!(
        text.contains(&format!("weir_split_queue_bytes{split} 512\n")),
        "{text}"
    );
    assert!(
        text.contains(&format!("weir_split_queue_max_bytes{split} 4096\n")),
        "{text}"
    );
    assert!(
        text.contains(&format!("weir_split_consumer_lag{split} 10\n")),
        "{text}"
    );
    assert!(
        !text.contains("weir_split_prefetch_bytes{"),
        "no sample when the source has no prefetch: {text}"
    );
}

#[test]
fn only_the_latest_attempt_of_a_subtask_is_exported() {
    let text = render(vec![
        (identity("j-1", 0, 2), snapshot(7)),
        (identity("j-1", 0, 1), snapshot(99)),
        (identity("j-1", 1, 1), snapshot(3)),
    ]);
    let written: Vec<&str> = text
        .lines()
        .filter(|line| line.starts_with("weir_task_records_written_total{"))
        .collect();
    assert_eq!(
        written,
        [
            "weir_task_records_written_total{job_id=\"j-1\",subtask=\"0\"} 7",
            "weir_task_records_written_total{job_id=\"j-1\",subtask=\"1\"} 3",
        ]
    );
}

#[test]
fn an_ended_task_leaves_no_series() {
    let text = render(Vec::new());
    assert!(!text.contains("job_id=\""), "{text}");
    assert!(
        text.contains("# TYPE weir_split_queue_bytes gauge"),
        "{text}"
    );
}

#[test]
fn checkpoint_phases_are_histograms() {
    checkpoint_prepared(Duration::from_millis(3));
    checkpoint_committed(Duration::from_millis(40));
    let mut registry = Registry::default();
    registry.register(
        "weir_worker_checkpoint_prepare_seconds",
        "",
        CHECKPOINT_PREPARE.clone(),
    );
    registry.register(
        "weir_worker_checkpoint_commit_seconds",
        "",
        CHECKPOINT_COMMIT.clone(),
    );
    let mut text = String::new();
    prometheus_client::encoding::prometheus_text::encode(&mut text, &registry).unwrap();
    let count = |name: &str| -> u64 {
        text.lines()
            .find_map(|line| line.strip_prefix(&format!("{name}_count ")))
            .and_then(|value| value.parse().ok())
            .unwrap_or_else(|| panic!("no {name}_count in {text}"))
    };
    // Other tests of this binary take checkpoints too: at least ours were counted.
    assert!(
        count("weir_worker_checkpoint_prepare_seconds") >= 1,
        "{text}"
    );
    assert!(
        count("weir_worker_checkpoint_commit_seconds") >= 1,
        "{text}"
    );
    assert!(
        text.contains("weir_worker_checkpoint_commit_seconds_bucket{le=\"0.05\"}"),
        "{text}"
    );
}
