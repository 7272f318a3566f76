//! The runtime with a Kafka source, against librdkafka's in-process mock cluster.

use std::time::Duration;

use tokio::sync::watch;
use tokio::time::timeout;
use weir_connectors::kafka::mock::MockKafka;
use weir_core::config::{JobConfig, ParsePolicy, parse_job};
use weir_core::split::SplitId;

use super::*;

const LIMIT: Duration = Duration::from_secs(30);

fn kafka_job(bootstrap: &str, mode: &str, source_options: &str) -> JobConfig {
    let text = format!(
        "env {{ job.mode = {mode} }}\n\
         source {{ Kafka {{\n  bootstrap.servers = \"{bootstrap}\"\n  topic = t\n  start_mode = earliest\n\
           schema = {{ fields {{ id = bigint }} }}\n  {source_options}\n}} }}\n\
         sink {{ Console {{ log.print.data = false }} }}"
    );
    parse_job(&text, "kafka.conf", &ParsePolicy::SelfContained).unwrap()
}

fn spec(config: JobConfig, splits: Vec<SplitId>) -> TaskSpec {
    TaskSpec {
        job_id: "job-k".into(),
        task_id: "task-k".into(),
        subtask_index: 0,
        parallelism: 1,
        config,
        splits,
        read_limit: ReadLimitShare::default(),
        attempt: 1,
        restore: None,
    }
}

fn cluster(partitions: i32, records: i64) -> MockKafka {
    let kafka = MockKafka::new(1).unwrap();
    kafka.create_topic("t", partitions).unwrap();
    for partition in 0..partitions {
        let values: Vec<Vec<u8>> = (0..records)
            .map(|id| format!(r#"{{"id":{id}}}"#).into_bytes())
            .collect();
        kafka.produce("t", partition, &values, None).unwrap();
    }
    kafka
}

fn splits(partitions: impl IntoIterator<Item = i32>) -> Vec<SplitId> {
    partitions
        .into_iter()
        .map(|p| SplitId::new("t", p))
        .collect()
}

async fn until(what: &str, mut condition: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + LIMIT;
    while !condition() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "never happened: {what}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_kafka_task_reads_its_partitions_and_reports_each_split() {
    let kafka = cluster(3, 50);
    let job = kafka_job(kafka.bootstrap_servers(), "BATCH", "");
    let mut task = spawn_task(spec(job, splits(0..3)), watch::channel(false).1).unwrap();
    let outcome = timeout(LIMIT, task.wait())
        .await
        .expect("task did not finish");
    assert_eq!(outcome, TaskOutcome::Finished);
    let metrics = task.metrics();
    assert_eq!((metrics.rows_read, metrics.rows_written), (150, 150));
    let names: Vec<&str> = metrics.splits.iter().map(|s| s.split.as_str()).collect();
    assert_eq!(names, ["t-0", "t-1", "t-2"]);
    for split in &metrics.splits {
        assert_eq!(split.rows_read, 50);
        assert_eq!(split.position, Some(50), "{split:?}");
        assert_eq!(split.high_watermark, Some(50), "{split:?}");
        assert!(split.queue_peak_bytes <= split.queue_max_bytes);
    }
    assert_eq!(metrics.last_error, None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_streaming_task_without_splits_waits_for_added_ones() {
    let kafka = cluster(2, 20);
    let job = kafka_job(kafka.bootstrap_servers(), "STREAMING", "");
    let mut task = spawn_task(spec(job, Vec::new()), watch::channel(false).1).unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(
        task.try_outcome(),
        None,
        "no split yet is not the end of the input"
    );
    assert!(task.metrics().splits.is_empty());

    let handle = task.handle();
    handle
        .add_splits(splits([0]), ReadLimitShare::default())
        .unwrap();
    until("partition 0 read", || task.metrics().rows_written == 20).await;
    // Discovery offers both; the one already read is ignored.
    handle
        .add_splits(splits([0, 1]), ReadLimitShare::default())
        .unwrap();
    until("partition 1 read", || task.metrics().rows_written == 40).await;
    let metrics = task.metrics();
    assert_eq!(metrics.splits.len(), 2);
    assert_eq!(metrics.splits[1].position, Some(20));

    task.cancel();
    assert_eq!(
        timeout(LIMIT, task.wait()).await.unwrap(),
        TaskOutcome::Cancelled
    );
    let error = handle
        .add_splits(splits([5]), ReadLimitShare::default())
        .unwrap_err();
    assert!(matches!(error, TaskError::NotRunning), "{error}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_poison_record_fails_the_task_naming_its_offset() {
    let kafka = cluster(1, 3);
    kafka
        .produce("t", 0, &[b"{\"id\": true}".to_vec()], None)
        .unwrap();
    let job = kafka_job(kafka.bootstrap_servers(), "STREAMING", "");
    let mut task = spawn_task(spec(job, splits([0])), watch::channel(false).1).unwrap();
    let outcome = timeout(LIMIT, task.wait()).await.unwrap();
    assert_eq!(
        outcome,
        TaskOutcome::Failed(
            "source Kafka failed: cannot decode the record at topic 't' partition 0 offset 3: \
             field 'id' must be bigint, found boolean true (format_error_handle_way = fail)"
                .into()
        )
    );
    // The three good records were read; the failure ends the task without draining them.
    assert_eq!(task.metrics().rows_read, 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn skipped_records_are_counted_per_split_and_per_task() {
    let kafka = cluster(1, 2);
    kafka
        .produce(
            "t",
            0,
            &[b"not json".to_vec(), b"{\"id\": 9}".to_vec()],
            None,
        )
        .unwrap();
    let job = kafka_job(
        kafka.bootstrap_servers(),
        "BATCH",
        "format_error_handle_way = skip",
    );
    let mut task = spawn_task(spec(job, splits([0])), watch::channel(false).1).unwrap();
    assert_eq!(
        timeout(LIMIT, task.wait()).await.unwrap(),
        TaskOutcome::Finished
    );
    let metrics = task.metrics();
    assert_eq!((metrics.rows_written, metrics.records_skipped), (3, 1));
    assert_eq!(metrics.splits[0].records_skipped, 1);
    assert_eq!(metrics.splits[0].position, Some(4));
}
