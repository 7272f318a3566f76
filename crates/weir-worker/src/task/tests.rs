use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::sync::watch;
use tokio::time::timeout;
use tokio_util::sync::CancellationToken;
use weir_connectors::{
    BoxFuture, ConnectorError, OpenedSource, ReadLimiter, SinkWriter, SourceContext, SourceReader,
    SourceRecord, SplitReader, SplitState,
};
use weir_core::config::{JobConfig, ParsePolicy, QueueBounds, parse_job};
use weir_core::queue::QueueSender;
use weir_core::row::{Row, Value};
use weir_core::split::SplitId;

use super::*;

const LIMIT: Duration = Duration::from_secs(10);

fn job(source_options: &str, sink_options: &str) -> JobConfig {
    // Without a row count the tests mean rows without end.
    let unbounded = if source_options.contains("row.num") {
        ""
    } else {
        "unbounded = true\n"
    };
    let text = format!(
        "source {{ FakeSource {{ {unbounded}{source_options}\n schema = {{ fields {{ id = bigint, name = string }} }} }} }}\n\
         sink {{ Console {{ {sink_options} }} }}"
    );
    parse_job(&text, "test.conf", &ParsePolicy::SelfContained).unwrap()
}

fn spec(config: JobConfig) -> TaskSpec {
    TaskSpec {
        job_id: "job-1".into(),
        task_id: "task-1".into(),
        subtask_index: 0,
        parallelism: 1,
        config,
        splits: Vec::new(),
        read_limit: ReadLimitShare::default(),
        attempt: 1,
        restore: None,
    }
}

fn not_paused() -> watch::Receiver<bool> {
    watch::channel(false).1
}

/// Lets the runtime's other tasks run until `condition` holds.
async fn until(what: &str, mut condition: impl FnMut() -> bool) {
    for _ in 0..1_000_000 {
        if condition() {
            return;
        }
        tokio::task::yield_now().await;
    }
    panic!("never happened: {what}");
}

/// Gives every runnable task many turns (single-threaded runtime).
async fn settle() {
    for _ in 0..2_000 {
        tokio::task::yield_now().await;
    }
}

#[tokio::test]
async fn bounded_source_to_counting_console_finishes_with_every_row() {
    let config = job(
        "row.num = 1000",
        "log.print.data = false, write.buffer_bytes = 4KiB",
    );
    let mut task = spawn_task(spec(config), not_paused()).unwrap();
    assert_eq!(task.task_id(), "task-1");

    let outcome = timeout(LIMIT, task.wait())
        .await
        .expect("task did not finish");
    assert_eq!(outcome, TaskOutcome::Finished);
    let metrics = task.metrics();
    assert_eq!(metrics.rows_written, 1000);
    assert_eq!(metrics.rows_read, 1000);
    assert!(metrics.bytes_read > 1000 * 16, "{metrics:?}");
    assert_eq!((metrics.queue_rows, metrics.queue_bytes), (0, 0));
    assert_eq!(metrics.queue_max_bytes, 8 * 1024 * 1024);
    assert!(metrics.queue_peak_bytes <= metrics.queue_max_bytes);
    // The sink's bound is its `write.buffer_bytes`; a counting Console buffers nothing.
    assert_eq!(
        (metrics.sink_buffer_bytes, metrics.sink_buffer_max_bytes),
        (0, 4096)
    );
    // One split per FakeSource subtask; its position is one past the last row written.
    assert_eq!(metrics.splits.len(), 1);
    let split = &metrics.splits[0];
    assert_eq!(split.split, "subtask-0");
    assert_eq!((split.rows_read, split.position), (1000, Some(1000)));
    assert_eq!((split.high_watermark, split.records_skipped), (None, 0));
    assert_eq!(split.prefetch_bytes, None, "FakeSource has no prefetch");
    assert_eq!(
        (metrics.records_skipped, metrics.last_error.clone()),
        (0, None)
    );
    // The outcome stays available.
    assert_eq!(task.try_outcome(), Some(TaskOutcome::Finished));
    assert_eq!(task.wait().await, TaskOutcome::Finished);
}

#[tokio::test]
async fn cancelling_an_unbounded_task_ends_it_promptly() {
    let config = job("", "log.print.data = false");
    let mut task = spawn_task(spec(config), not_paused()).unwrap();
    until("rows flowing", || task.metrics().rows_written > 100).await;
    task.cancel();
    let outcome = timeout(LIMIT, task.wait())
        .await
        .expect("cancel was not prompt");
    assert_eq!(outcome, TaskOutcome::Cancelled);
}

#[tokio::test]
async fn cancel_is_prompt_while_the_sink_blocks_and_the_queue_is_full() {
    // The sink sleeps an hour after its first row, so the 10-row queue fills and the source
    // blocks on it.
    let config = job(
        "queue.size = 10",
        "log.print.data = false, log.print.delay.ms = 3600000",
    );
    let mut task = spawn_task(spec(config), not_paused()).unwrap();
    until("queue full", || task.metrics().queue_rows == 10).await;
    settle().await;
    // The drain loop took one batch (at most what the queue held, ten rows) and is stuck in
    // the sink on its first row; ten more are queued behind it; none more are read.
    let read = task.metrics().rows_read;
    assert!((11..=20).contains(&read), "{read} rows read");
    settle().await;
    assert_eq!(
        task.metrics().rows_read,
        read,
        "reading stopped at the bound"
    );

    task.handle().cancel();
    let outcome = timeout(LIMIT, task.wait())
        .await
        .expect("cancel was not prompt");
    assert_eq!(outcome, TaskOutcome::Cancelled);
}

#[tokio::test]
async fn paused_intake_stops_reading_until_resumed() {
    let (pause, paused) = watch::channel(true);
    let config = job("", "log.print.data = false");
    let mut task = spawn_task(spec(config), paused).unwrap();
    settle().await;
    assert_eq!(
        task.metrics().rows_read,
        0,
        "paused from the start: nothing read"
    );

    pause.send_replace(false);
    until("reading resumed", || task.metrics().rows_read > 100).await;

    pause.send_replace(true);
    // The source may finish the row it was handing over, then it waits.
    settle().await;
    let frozen = task.metrics().rows_read;
    settle().await;
    assert_eq!(task.metrics().rows_read, frozen, "rows read while paused");
    until("queue drained", || task.metrics().queue_rows == 0).await;
    assert_eq!(task.metrics().rows_written, frozen);

    task.cancel();
    assert_eq!(
        timeout(LIMIT, task.wait()).await.unwrap(),
        TaskOutcome::Cancelled
    );
}

#[tokio::test]
async fn wait_is_cancel_safe() {
    let mut task = spawn_task(spec(job("", "log.print.data = false")), not_paused()).unwrap();
    {
        let mut waiting = std::pin::pin!(task.wait());
        let polled = std::future::Future::poll(
            waiting.as_mut(),
            &mut std::task::Context::from_waker(std::task::Waker::noop()),
        );
        assert!(polled.is_pending());
    }
    assert_eq!(task.try_outcome(), None);
    task.cancel();
    assert_eq!(
        timeout(LIMIT, task.wait()).await.unwrap(),
        TaskOutcome::Cancelled
    );
}

#[test]
fn spawning_outside_a_runtime_is_an_error() {
    let result = spawn_task(spec(job("row.num = 1", "")), not_paused());
    assert!(matches!(result, Err(TaskError::NoRuntime)), "{result:?}");
}

#[tokio::test]
async fn subtask_index_must_be_below_parallelism() {
    let spec = TaskSpec {
        subtask_index: 2,
        parallelism: 2,
        ..spec(job("row.num = 1", ""))
    };
    let error = spawn_task(spec, not_paused()).unwrap_err();
    assert_eq!(
        error.to_string(),
        "subtask index 2 is out of range for parallelism 2"
    );
}

/// Sends `rows` rows, then fails.
struct FailingReader {
    rows: u64,
}

impl SourceReader for FailingReader {
    fn run(
        self: Box<Self>,
        out: QueueSender<SourceRecord>,
        _ctx: SourceContext,
    ) -> BoxFuture<'static, Result<(), ConnectorError>> {
        Box::pin(async move {
            for id in 0..self.rows {
                let row = Row::new(vec![Value::Bigint(id as i64)]);
                let size = row.size_bytes();
                let record = SourceRecord {
                    row,
                    position: id as i64,
                    more_at_position: false,
                };
                out.send(record, size)
                    .await
                    .map_err(|_| ConnectorError::QueueClosed)?;
            }
            Err(ConnectorError::Interrupted {
                what: "test read",
                reason: "broker went away".into(),
            })
        })
    }
}

/// Counts rows; fails on row number `fail_at` (1-based) if set.
#[derive(Default)]
struct TestSink {
    written: Arc<AtomicU64>,
    fail_at: Option<u64>,
}

impl SinkWriter for TestSink {
    fn write(&mut self, _row: Row) -> BoxFuture<'_, Result<(), ConnectorError>> {
        let count = self.written.fetch_add(1, Ordering::Relaxed) + 1;
        let fail = self.fail_at == Some(count);
        Box::pin(async move {
            if fail {
                Err(ConnectorError::Stdout(std::io::Error::other("disk full")))
            } else {
                Ok(())
            }
        })
    }

    fn flush(&mut self) -> BoxFuture<'_, Result<(), ConnectorError>> {
        Box::pin(async { Ok(()) })
    }
}

fn start_with(readers: Vec<Box<dyn SourceReader>>, sink: TestSink) -> RunningTask {
    let named = readers
        .into_iter()
        .enumerate()
        .map(|(index, reader)| (format!("split-{index}"), reader))
        .collect();
    start_pipeline(named, Box::new(sink), 16, "TestSink")
}

/// Starts a subtask over `readers` (split name, reader) into `sink`, with split queues of
/// `queue_rows` rows (and 1 MiB), no read limit and no pause.
pub(super) fn start_pipeline(
    readers: Vec<(String, Box<dyn SourceReader>)>,
    sink: Box<dyn SinkWriter>,
    queue_rows: usize,
    sink_name: &'static str,
) -> RunningTask {
    let cancel = CancellationToken::new();
    let ctx = SourceContext {
        cancel: cancel.child_token(),
        paused: not_paused(),
        read_limit: ReadLimiter::unlimited(),
    };
    let bounds = QueueBounds {
        max_rows: queue_rows,
        max_bytes: 1 << 20,
    };
    let opened = OpenedSource {
        readers: readers
            .into_iter()
            .map(|(name, reader)| SplitReader {
                state: Arc::new(SplitState::new(name)),
                reader,
            })
            .collect(),
        opener: None,
        driver: None,
        status: Arc::default(),
        unbounded: false,
    };
    let (pipeline, control) = assemble(
        opened,
        (sink, RestorePoint::default()),
        bounds,
        ctx,
        ("TestSource", sink_name),
    );
    start(
        tokio::runtime::Handle::current(),
        pipeline,
        control,
        "t".into(),
        cancel,
        tracing::Span::none(),
    )
}

fn fake_readers(job: &JobConfig, copies: usize) -> Vec<Box<dyn SourceReader>> {
    let subtask = weir_connectors::SubtaskInfo {
        job_id: "job".into(),
        subtask_index: 0,
        parallelism: 1,
        attempt: 1,
    };
    (0..copies)
        .flat_map(|_| {
            weir_connectors::open_source(job, &subtask, &[], &[])
                .unwrap()
                .readers
                .into_iter()
                .map(|split| split.reader)
        })
        .collect()
}

#[tokio::test]
async fn a_failing_source_fails_the_task_with_its_error() {
    let mut task = start_with(
        vec![Box::new(FailingReader { rows: 5 })],
        TestSink::default(),
    );
    let outcome = timeout(LIMIT, task.wait()).await.unwrap();
    assert_eq!(
        outcome,
        TaskOutcome::Failed(
            "source TestSource failed: test read was interrupted: broker went away".into()
        )
    );
}

#[tokio::test]
async fn a_failing_sink_fails_the_task_and_stops_the_source() {
    let written = Arc::new(AtomicU64::new(0));
    let sink = TestSink {
        written: written.clone(),
        fail_at: Some(50),
    };
    let readers = fake_readers(&job("", ""), 1);
    let mut task = start_with(readers, sink);
    let outcome = timeout(LIMIT, task.wait()).await.unwrap();
    assert_eq!(
        outcome,
        TaskOutcome::Failed(
            "sink TestSink failed: console sink could not write to stdout: disk full".into()
        )
    );
    // Readers are stopped before the outcome is published: nothing is read afterwards.
    let after = task.metrics().rows_read;
    settle().await;
    assert_eq!(task.metrics().rows_read, after);
    assert_eq!(written.load(Ordering::Relaxed), 50);
    assert_eq!(task.metrics().rows_written, 49);
}

#[tokio::test]
async fn several_split_queues_are_all_drained() {
    let readers = fake_readers(&job("row.num = 300", ""), 3);
    let written = Arc::new(AtomicU64::new(0));
    let sink = TestSink {
        written: written.clone(),
        fail_at: None,
    };
    let mut task = start_with(readers, sink);
    assert_eq!(
        timeout(LIMIT, task.wait()).await.unwrap(),
        TaskOutcome::Finished
    );
    assert_eq!(written.load(Ordering::Relaxed), 900);
    let metrics = task.metrics();
    assert_eq!((metrics.rows_read, metrics.rows_written), (900, 900));
    assert_eq!(metrics.queue_max_bytes, 3 << 20);
    let positions: Vec<Option<i64>> = metrics.splits.iter().map(|s| s.position).collect();
    assert_eq!(positions, [Some(300); 3], "each split's last row index + 1");
}

#[tokio::test]
async fn splits_cannot_be_added_to_a_source_without_splits() {
    let task = spawn_task(spec(job("", "log.print.data = false")), not_paused()).unwrap();
    let error = task
        .handle()
        .add_splits(vec![SplitId::new("t", 0)], ReadLimitShare::default())
        .unwrap_err();
    assert_eq!(
        error.to_string(),
        "source FakeSource does not read splits; none can be added"
    );
    task.cancel();
}

#[tokio::test]
async fn the_read_limit_comes_from_the_spec() {
    // 100 rows/s for this subtask (the master's share), whatever the job's env says.
    let spec = TaskSpec {
        read_limit: ReadLimitShare {
            rows_per_second: Some(100.0),
            bytes_per_second: None,
        },
        ..spec(job("row.num = 31", "log.print.data = false"))
    };
    let started = std::time::Instant::now();
    let mut task = spawn_task(spec, not_paused()).unwrap();
    assert_eq!(
        timeout(LIMIT, task.wait()).await.unwrap(),
        TaskOutcome::Finished
    );
    // A burst of 10 rows, then 21 at 100/s: never faster than 210 ms.
    assert!(
        started.elapsed() >= Duration::from_millis(210),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(task.metrics().rows_written, 31);
}

#[tokio::test]
async fn rows_pass_the_transforms_and_dropped_rows_still_count_as_read() {
    let with = |transform: &str| {
        let text = format!(
            "source {{ FakeSource {{ row.num = 500, schema = {{ fields {{ id = bigint, name = \
             string }} }} }} }}\ntransform {{ {transform} }}\n\
             sink {{ Console {{ log.print.data = false }} }}"
        );
        parse_job(&text, "test.conf", &ParsePolicy::SelfContained).unwrap()
    };
    // FakeSource's rows are INSERTs: excluding them writes nothing, yet the job finishes.
    let dropped = with("FilterRowKind { exclude_kinds = [INSERT] }");
    let copied = with("Copy { fields { name2 = name } }");
    for (config, written) in [(dropped, 0), (copied, 500)] {
        let mut task = spawn_task(spec(config), not_paused()).unwrap();
        let outcome = timeout(LIMIT, task.wait())
            .await
            .expect("task did not finish");
        assert_eq!(outcome, TaskOutcome::Finished);
        let metrics = task.metrics();
        assert_eq!(metrics.rows_read, 500);
        assert_eq!(metrics.rows_written, written);
    }
}
