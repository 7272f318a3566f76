//! The body of a running subtask: source readers → bounded queues → sink writer.

use std::sync::Arc;

use futures::stream::{self, BoxStream, SelectAll, StreamExt};
use tokio::task::{JoinError, JoinSet};
use tokio_util::sync::CancellationToken;
use tracing::Instrument;
use weir_connectors::{ConnectorError, SinkWriter, SourceContext, SourceReader};
use weir_core::queue::{QueueReceiver, QueueSender};
use weir_core::row::Row;

use super::TaskOutcome;
use super::metrics::TaskMetrics;

/// Everything a subtask runs, already opened and wired.
pub(super) struct Pipeline {
    /// Each reader with the sending end of its own queue.
    pub readers: Vec<(Box<dyn SourceReader>, QueueSender<Row>)>,
    /// The receiving ends, in the same order.
    pub receivers: Vec<QueueReceiver<Row>>,
    pub sink: Box<dyn SinkWriter>,
    /// The readers' context; its cancel token is a child of the task's.
    pub reader_ctx: SourceContext,
    pub metrics: Arc<TaskMetrics>,
    /// For error messages: `FakeSource`, `Console`.
    pub source_name: &'static str,
    pub sink_name: &'static str,
}

type Joined = Result<Result<(), ConnectorError>, JoinError>;

/// Runs the pipeline until the input ends (Finished), a side fails (Failed) or `cancel`
/// fires (Cancelled); then stops whatever is still running.
pub(super) async fn run(pipeline: Pipeline, cancel: CancellationToken) -> TaskOutcome {
    let Pipeline {
        readers,
        receivers,
        mut sink,
        reader_ctx,
        metrics,
        source_name,
        sink_name,
    } = pipeline;
    let stop_readers = reader_ctx.cancel.clone();
    let mut reader_tasks = JoinSet::new();
    for (reader, out) in readers {
        reader_tasks.spawn(reader.run(out, reader_ctx.clone()).in_current_span());
    }
    drop(reader_ctx);
    let mut rows = merge(receivers);

    let drained = drain(
        &mut rows,
        &mut reader_tasks,
        sink.as_mut(),
        &cancel,
        &metrics,
    )
    .await;
    let outcome = match drained {
        Ok(()) => finish(&mut reader_tasks, sink.as_mut(), &cancel).await,
        Err(ended) => ended,
    };
    let outcome = outcome.describe(source_name, sink_name);

    // Readers still running (after a failure or a cancel) stop at their next wait; dropping
    // the queues releases any that wait for room. Then make sure none outlives the task.
    stop_readers.cancel();
    drop(rows);
    reader_tasks.shutdown().await;
    outcome
}

/// Intermediate outcome whose messages get the plugin names attached by [`run`].
enum Ended {
    Finished,
    Cancelled,
    SourceFailed(String),
    SinkFailed(String),
}

impl Ended {
    fn describe(self, source_name: &str, sink_name: &str) -> TaskOutcome {
        match self {
            Ended::Finished => TaskOutcome::Finished,
            Ended::Cancelled => TaskOutcome::Cancelled,
            Ended::SourceFailed(error) => {
                TaskOutcome::Failed(format!("source {source_name} failed: {error}"))
            }
            Ended::SinkFailed(error) => {
                TaskOutcome::Failed(format!("sink {sink_name} failed: {error}"))
            }
        }
    }
}

/// One stream over all split queues, fair between them; ends when every queue has been
/// drained and closed.
fn merge(receivers: Vec<QueueReceiver<Row>>) -> SelectAll<BoxStream<'static, Row>> {
    stream::select_all(receivers.into_iter().map(|receiver| {
        stream::unfold(receiver, |mut receiver| async move {
            receiver.recv().await.map(|row| (row, receiver))
        })
        .boxed()
    }))
}

/// Moves rows into the sink until every queue is closed and empty (`Ok`), or ends early.
async fn drain(
    rows: &mut SelectAll<BoxStream<'static, Row>>,
    reader_tasks: &mut JoinSet<Result<(), ConnectorError>>,
    sink: &mut dyn SinkWriter,
    cancel: &CancellationToken,
    metrics: &TaskMetrics,
) -> Result<(), Ended> {
    loop {
        tokio::select! {
            biased;
            () = cancel.cancelled() => return Err(Ended::Cancelled),
            // A failing reader ends the task at once, not when its queue has drained.
            Some(joined) = reader_tasks.join_next() => reader_result(joined)?,
            next = rows.next() => {
                let Some(row) = next else { return Ok(()) };
                tokio::select! {
                    biased;
                    () = cancel.cancelled() => return Err(Ended::Cancelled),
                    written = sink.write(row) => {
                        written.map_err(|error| Ended::SinkFailed(error.to_string()))?;
                    }
                }
                metrics.add_written(1);
            }
        }
    }
}

/// After the input ended: collect the readers' results, then flush the sink.
async fn finish(
    reader_tasks: &mut JoinSet<Result<(), ConnectorError>>,
    sink: &mut dyn SinkWriter,
    cancel: &CancellationToken,
) -> Ended {
    let flushed = async {
        // Every queue is closed, so every reader has returned or is about to.
        while let Some(joined) = reader_tasks.join_next().await {
            reader_result(joined)?;
        }
        sink.flush()
            .await
            .map_err(|error| Ended::SinkFailed(error.to_string()))
    };
    tokio::select! {
        biased;
        () = cancel.cancelled() => Ended::Cancelled,
        result = flushed => match result {
            Ok(()) => Ended::Finished,
            Err(ended) => ended,
        },
    }
}

fn reader_result(joined: Joined) -> Result<(), Ended> {
    match joined {
        Ok(Ok(())) => Ok(()),
        Ok(Err(error)) => Err(Ended::SourceFailed(error.to_string())),
        // Readers are only aborted by `shutdown`, after the outcome is decided.
        Err(join) if join.is_cancelled() => Ok(()),
        Err(join) => Err(Ended::SourceFailed(format!("reader panicked: {join}"))),
    }
}
