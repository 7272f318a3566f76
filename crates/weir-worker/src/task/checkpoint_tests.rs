//! The subtask's side of checkpoints: barriers between rows, commits, stop, end of input,
//! recovery and cancel, with a sink that records what it was asked.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::watch;
use tokio::time::timeout;
use tokio_util::sync::CancellationToken;
use weir_connectors::{
    BoxFuture, ConnectorError, Discard, OpenedSource, PendingFile, ReadLimiter, Restored,
    SinkWriter, SourceContext, SourceReader, SourceRecord, SplitReader, SplitState,
};
use weir_core::config::QueueBounds;
use weir_core::queue::QueueSender;
use weir_core::row::{Row, Value};
use weir_core::split::SplitId;

use super::*;

const LIMIT: Duration = Duration::from_secs(10);

/// What the sink was asked, in order.
#[derive(Debug, Default)]
struct Journal {
    rows: u64,
    rows_in_open_file: u64,
    events: Vec<String>,
    aborted: Option<Discard>,
}

/// A transactional sink: each `prepare_commit` closes one file named after the checkpoint
/// and the rows in it.
#[derive(Clone, Default)]
struct JournalSink(Arc<Mutex<Journal>>);

impl JournalSink {
    fn journal(&self) -> std::sync::MutexGuard<'_, Journal> {
        self.0.lock().unwrap()
    }
}

impl SinkWriter for JournalSink {
    fn write(&mut self, _row: Row) -> BoxFuture<'_, Result<(), ConnectorError>> {
        let mut journal = self.journal();
        journal.rows += 1;
        journal.rows_in_open_file += 1;
        Box::pin(async { Ok(()) })
    }

    fn flush(&mut self) -> BoxFuture<'_, Result<(), ConnectorError>> {
        Box::pin(async { Ok(()) })
    }

    fn commits_on_checkpoints(&self) -> bool {
        true
    }

    fn prepare_commit(
        &mut self,
        checkpoint_id: u64,
    ) -> BoxFuture<'_, Result<Vec<PendingFile>, ConnectorError>> {
        let mut journal = self.journal();
        let rows = std::mem::take(&mut journal.rows_in_open_file);
        journal.events.push(format!("prepare {checkpoint_id}"));
        let files = if rows == 0 {
            Vec::new()
        } else {
            vec![PendingFile {
                pending_path: format!("/tmp/{checkpoint_id}.pending"),
                final_path: format!("/out/{checkpoint_id}-{rows}"),
            }]
        };
        Box::pin(async move { Ok(files) })
    }

    fn commit(&mut self, files: Vec<PendingFile>) -> BoxFuture<'_, Result<(), ConnectorError>> {
        let names: Vec<String> = files.into_iter().map(|file| file.final_path).collect();
        self.journal().events.push(format!("commit {names:?}"));
        Box::pin(async { Ok(()) })
    }

    fn recover(&mut self, restored: Restored) -> BoxFuture<'_, Result<(), ConnectorError>> {
        let names: Vec<String> = restored
            .files
            .into_iter()
            .map(|file| file.final_path)
            .collect();
        self.journal().events.push(format!("recover {names:?}"));
        Box::pin(async { Ok(()) })
    }

    fn abort(&mut self, discard: Discard) -> BoxFuture<'_, Result<(), ConnectorError>> {
        self.journal().aborted = Some(discard);
        Box::pin(async { Ok(()) })
    }
}

/// Sends rows at offsets `start..end`, then waits for the cancel if `endless`.
struct OffsetReader {
    start: i64,
    end: i64,
    endless: bool,
}

impl SourceReader for OffsetReader {
    fn run(
        self: Box<Self>,
        out: QueueSender<SourceRecord>,
        ctx: SourceContext,
    ) -> BoxFuture<'static, Result<(), ConnectorError>> {
        Box::pin(async move {
            for offset in self.start..self.end {
                let row = Row::new(vec![Value::Bigint(offset)]);
                let size = row.size_bytes();
                let record = SourceRecord {
                    row,
                    position: offset,
                    more_at_position: false,
                };
                if out.send(record, size).await.is_err() {
                    return Ok(());
                }
            }
            if self.endless {
                ctx.cancel.cancelled().await;
            }
            Ok(())
        })
    }
}

fn start(reader: OffsetReader, sink: JournalSink, restore: RestorePoint) -> RunningTask {
    let (first, unbounded) = (reader.start, reader.endless);
    start_reader(Box::new(reader), first, unbounded, sink, restore)
}

fn start_reader(
    reader: Box<dyn SourceReader>,
    first: i64,
    unbounded: bool,
    sink: JournalSink,
    restore: RestorePoint,
) -> RunningTask {
    let cancel = CancellationToken::new();
    let ctx = SourceContext {
        cancel: cancel.child_token(),
        paused: watch::channel(false).1,
        read_limit: ReadLimiter::unlimited(),
    };
    let state = Arc::new(SplitState::of_split(SplitId::new("t", 0)));
    state.init_position(first);
    let opened = OpenedSource {
        readers: vec![SplitReader { state, reader }],
        opener: None,
        driver: None,
        status: Arc::default(),
        unbounded,
    };
    let bounds = QueueBounds {
        max_rows: 4,
        max_bytes: 1 << 20,
    };
    let (pipeline, control) = assemble(
        opened,
        (Box::new(sink), restore),
        bounds,
        ctx,
        ("TestSource", "JournalSink"),
    );
    super::start(
        tokio::runtime::Handle::current(),
        pipeline,
        control,
        "t".into(),
        cancel,
        tracing::Span::none(),
    )
}

async fn written(task: &RunningTask, rows: u64) {
    timeout(LIMIT, async {
        while task.metrics().rows_written < rows {
            tokio::task::yield_now().await;
        }
    })
    .await
    .unwrap();
}

#[tokio::test]
async fn a_barrier_snapshots_exactly_the_rows_the_sink_took() {
    let sink = JournalSink::default();
    let task = start(
        OffsetReader {
            start: 0,
            end: 10,
            endless: true,
        },
        sink.clone(),
        RestorePoint::default(),
    );
    written(&task, 10).await;
    let handle = task.handle();
    let ack = handle.checkpoint(1, false).await.unwrap();
    assert_eq!(ack.offsets, vec![(SplitId::new("t", 0), 10)]);
    assert_eq!(ack.pending_files.len(), 1);
    assert_eq!(ack.pending_files[0].final_path, "/out/1-10");

    handle.commit(1, ack.pending_files.clone()).await.unwrap();
    assert_eq!(
        sink.journal().events,
        ["recover []", "prepare 1", "commit [\"/out/1-10\"]"]
    );
    // A barrier with nothing new closes no file.
    let ack = handle.checkpoint(2, false).await.unwrap();
    assert!(ack.pending_files.is_empty());
    assert_eq!(ack.offsets, vec![(SplitId::new("t", 0), 10)]);
    task.cancel();
}

/// Offset 0 as one row, then offset 1 as three rows (one Kafka record decoded into several),
/// the last two only once `release` is notified; then waits for the cancel.
struct ManyRowsReader {
    release: Arc<tokio::sync::Notify>,
}

impl SourceReader for ManyRowsReader {
    fn run(
        self: Box<Self>,
        out: QueueSender<SourceRecord>,
        ctx: SourceContext,
    ) -> BoxFuture<'static, Result<(), ConnectorError>> {
        Box::pin(async move {
            let send = |position: i64, more_at_position: bool| {
                let row = Row::new(vec![Value::Bigint(position)]);
                let size = row.size_bytes();
                out.send(
                    SourceRecord {
                        row,
                        position,
                        more_at_position,
                    },
                    size,
                )
            };
            let sent = async {
                send(0, false).await?;
                send(1, true).await?;
                self.release.notified().await;
                send(1, true).await?;
                send(1, false).await
            };
            if sent.await.is_ok() {
                ctx.cancel.cancelled().await;
            }
            Ok(())
        })
    }
}

#[tokio::test]
async fn a_barrier_never_falls_between_the_rows_of_one_record() {
    let sink = JournalSink::default();
    let release = Arc::new(tokio::sync::Notify::new());
    let reader = ManyRowsReader {
        release: Arc::clone(&release),
    };
    let task = start_reader(
        Box::new(reader),
        0,
        true,
        sink.clone(),
        RestorePoint::default(),
    );
    // The sink has offset 0 and the first row of offset 1.
    timeout(LIMIT, async {
        while sink.journal().rows < 2 {
            tokio::task::yield_now().await;
        }
    })
    .await
    .unwrap();
    let handle = task.handle();
    let checkpoint = handle.checkpoint(1, false);
    tokio::pin!(checkpoint);
    // The barrier waits for the rest of the record: it is not taken in the meantime. (What is
    // checked is that something does not happen, so this waits a fixed while.)
    assert!(
        timeout(Duration::from_millis(300), &mut checkpoint)
            .await
            .is_err(),
        "the barrier was taken inside a record"
    );
    release.notify_one();
    let ack = timeout(LIMIT, checkpoint).await.unwrap().unwrap();
    assert_eq!(ack.offsets, vec![(SplitId::new("t", 0), 2)]);
    assert_eq!(ack.pending_files[0].final_path, "/out/1-4");
    task.cancel();
}

#[tokio::test]
async fn a_stop_barrier_ends_the_task_after_its_commit() {
    let sink = JournalSink::default();
    let mut task = start(
        OffsetReader {
            start: 0,
            end: 3,
            endless: true,
        },
        sink.clone(),
        RestorePoint::default(),
    );
    written(&task, 3).await;
    let handle = task.handle();
    let earlier = handle.checkpoint(3, false).await.unwrap();
    let ack = handle.checkpoint(4, true).await.unwrap();
    assert_eq!(task.try_outcome(), None, "waits for the commit");
    // An earlier checkpoint's commit arriving after the stop barrier does not end the task.
    handle.commit(3, earlier.pending_files).await.unwrap();
    tokio::task::yield_now().await;
    assert_eq!(
        task.try_outcome(),
        None,
        "waits for the stop checkpoint's commit"
    );
    handle.commit(4, ack.pending_files).await.unwrap();
    assert_eq!(
        timeout(LIMIT, task.wait()).await.unwrap(),
        TaskOutcome::Finished
    );
    assert_eq!(sink.journal().aborted, None);
}

#[tokio::test]
async fn the_end_of_a_bounded_input_waits_for_a_final_checkpoint() {
    let sink = JournalSink::default();
    let restore = RestorePoint {
        checkpoint_id: 7,
        job_id: String::new(),
        offsets: vec![(SplitId::new("t", 0), 5)],
        pending_files: vec![PendingFile {
            pending_path: "/tmp/7.pending".into(),
            final_path: "/out/7-5".into(),
        }],
    };
    let mut task = start(
        OffsetReader {
            start: 5,
            end: 9,
            endless: false,
        },
        sink.clone(),
        restore,
    );
    timeout(LIMIT, async {
        while !task.metrics().input_ended {
            tokio::task::yield_now().await;
        }
    })
    .await
    .unwrap();
    assert_eq!(task.metrics().rows_written, 4);
    assert_eq!(
        task.try_outcome(),
        None,
        "the last rows wait for the master's checkpoint"
    );

    let handle = task.handle();
    let ack = handle.checkpoint(8, true).await.unwrap();
    assert_eq!(ack.offsets, vec![(SplitId::new("t", 0), 9)]);
    handle.commit(8, ack.pending_files).await.unwrap();
    assert_eq!(
        timeout(LIMIT, task.wait()).await.unwrap(),
        TaskOutcome::Finished
    );
    // The restored files first, then the 4 new rows under the final checkpoint.
    assert_eq!(
        sink.journal().events,
        [
            "recover [\"/out/7-5\"]",
            "prepare 8",
            "commit [\"/out/8-4\"]"
        ]
    );
}

#[tokio::test]
async fn cancel_discards_uncommitted_files() {
    let sink = JournalSink::default();
    let mut task = start(
        OffsetReader {
            start: 0,
            end: 2,
            endless: true,
        },
        sink.clone(),
        RestorePoint::default(),
    );
    written(&task, 2).await;
    task.cancel();
    assert_eq!(
        timeout(LIMIT, task.wait()).await.unwrap(),
        TaskOutcome::Cancelled
    );
    // A plain cancel (failed job, lost master) keeps what a checkpoint listed.
    assert_eq!(sink.journal().aborted, Some(Discard::Unlisted));
    assert!(matches!(
        task.handle().checkpoint(1, false).await,
        Err(TaskError::NotRunning)
    ));

    let sink = JournalSink::default();
    let mut task = start(
        OffsetReader {
            start: 0,
            end: 2,
            endless: true,
        },
        sink.clone(),
        RestorePoint::default(),
    );
    written(&task, 2).await;
    task.handle().cancel_discarding();
    assert_eq!(
        timeout(LIMIT, task.wait()).await.unwrap(),
        TaskOutcome::Cancelled
    );
    assert_eq!(sink.journal().aborted, Some(Discard::All));
}

#[tokio::test]
async fn a_commit_publishes_only_what_the_subtask_reported() {
    let sink = JournalSink::default();
    let mut task = start(
        OffsetReader {
            start: 0,
            end: 4,
            endless: true,
        },
        sink.clone(),
        RestorePoint::default(),
    );
    written(&task, 4).await;
    let handle = task.handle();
    let ack = handle.checkpoint(1, false).await.unwrap();
    let forged = |pending: &str, final_path: &str| PendingFile {
        pending_path: pending.into(),
        final_path: final_path.into(),
    };
    let mut extra = ack.pending_files.clone();
    extra.push(forged("/etc/passwd", "/out/passwd"));
    for (checkpoint_id, files) in [
        // Another file than the one reported.
        (1, vec![forged("/tmp/1.pending", "/elsewhere")]),
        // One more than reported.
        (1, extra),
        // None of them.
        (1, Vec::new()),
        // A checkpoint the subtask never took.
        (2, ack.pending_files.clone()),
    ] {
        let refused = handle.commit(checkpoint_id, files.clone()).await;
        assert!(
            matches!(refused, Err(TaskError::CommitRefused(_))),
            "commit {checkpoint_id} of {files:?}: {refused:?}"
        );
    }
    assert_eq!(sink.journal().events, ["recover []", "prepare 1"]);
    assert_eq!(
        task.try_outcome(),
        None,
        "a refused commit does not stop the task"
    );

    // The real commit still goes through, once; a repeat does nothing.
    handle.commit(1, ack.pending_files.clone()).await.unwrap();
    handle.commit(1, ack.pending_files.clone()).await.unwrap();
    assert_eq!(
        sink.journal().events,
        ["recover []", "prepare 1", "commit [\"/out/1-4\"]"]
    );
    task.cancel();
    assert_eq!(
        timeout(LIMIT, task.wait()).await.unwrap(),
        TaskOutcome::Cancelled
    );
}
