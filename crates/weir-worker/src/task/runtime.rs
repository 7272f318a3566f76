//! The body of a running subtask: split readers → bounded queues → sink writer, plus the
//! source's driver and splits added while running.

use std::sync::Arc;

use futures::FutureExt as _;
use futures::stream::{self, BoxStream, SelectAll, StreamExt};
use tokio::sync::mpsc;
use tokio::task::{JoinError, JoinHandle, JoinSet};
use tokio_util::sync::CancellationToken;
use tracing::Instrument;
use weir_connectors::{
    ConnectorError, Discard, PendingFile, Restored, SinkWriter, SourceContext, SourceDriver,
    SourceRecord, SplitOpener, SplitReader, SplitState,
};
use weir_core::budget::ByteBudget;
use weir_core::config::QueueBounds;
use weir_core::queue::{HAND_OVER_BYTES, HAND_OVER_ROWS, bounded_queue, budgeted_queue};
use weir_core::split::SplitId;
use weir_core::transform::TransformChain;
use weir_core::wait::timed;

use super::TaskOutcome;
use super::checkpoint::{self, Acknowledged, Barrier, Commit, CommitError};
use super::metrics::TaskMetrics;

/// Requests from [`super::TaskHandle`] to the running task.
#[derive(Debug)]
pub(super) enum Command {
    /// Start readers for these splits (partition discovery).
    AddSplits(Vec<SplitId>),
    /// Checkpoint barrier.
    Checkpoint(Barrier),
    /// A completed checkpoint to publish.
    Commit(Commit),
}

/// Everything a subtask runs, already opened.
pub(super) struct Pipeline {
    /// Readers of the splits the subtask starts with.
    pub readers: Vec<SplitReader>,
    /// Opens readers for splits added later; `None` for sources without splits.
    pub opener: Option<Box<dyn SplitOpener>>,
    /// The source's background work, if any.
    pub driver: Option<Box<dyn SourceDriver>>,
    /// Keep running with no split (an unbounded source that may get splits later).
    pub unbounded: bool,
    pub bounds: QueueBounds,
    /// The byte budget all split queues share (Kafka's `buffer.max_bytes`); `None`: each
    /// queue is bounded by `bounds` alone.
    pub budget: Option<Arc<ByteBudget>>,
    /// What happens to each row between its queue and the sink (nothing when empty).
    pub transform: TransformChain,
    pub sink: Box<dyn SinkWriter>,
    /// Pending files of the checkpoint the subtask resumes from, published before any row.
    pub restored_files: Vec<PendingFile>,
    /// The job that took that checkpoint (empty: this one).
    pub restored_job: String,
    /// The checkpoint the subtask resumes from (0: none); checkpoint ids only grow.
    pub restored_checkpoint: u64,
    /// Set when the job was cancelled: a cancel then discards even listed files.
    pub discard_all: Arc<std::sync::atomic::AtomicBool>,
    /// The readers' context; its cancel token is a child of the task's.
    pub reader_ctx: SourceContext,
    pub metrics: Arc<TaskMetrics>,
    pub commands: mpsc::Receiver<Command>,
    /// For error messages: `FakeSource`, `Console`.
    pub source_name: &'static str,
    pub sink_name: &'static str,
}

type Joined = Result<Result<(), ConnectorError>, JoinError>;
/// Batches of records taken from the split queues, each tagged with its split's number.
type Records = SelectAll<BoxStream<'static, (usize, Vec<SourceRecord>)>>;

/// The running splits: their readers, the merged stream of their queues, their states.
struct Splits {
    bounds: QueueBounds,
    budget: Option<Arc<ByteBudget>>,
    reader_ctx: SourceContext,
    metrics: Arc<TaskMetrics>,
    /// Indexed by the number each record stream is tagged with.
    states: Vec<Arc<SplitState>>,
    /// All split queues, drained fairly (round-robin); a queue leaves the set once its
    /// reader has ended and it is empty.
    records: Records,
    readers: JoinSet<Result<(), ConnectorError>>,
}

impl Splits {
    /// Gives `split` its own bounded queue and starts its reader.
    fn start(&mut self, split: SplitReader) {
        let SplitReader { state, reader } = split;
        let (sender, receiver) = match &self.budget {
            Some(budget) => budgeted_queue(self.bounds.max_rows, self.bounds.max_bytes, budget),
            None => bounded_queue(self.bounds.max_rows, self.bounds.max_bytes),
        };
        self.metrics
            .add_split(Arc::clone(&state), Arc::clone(receiver.stats()));
        let index = self.states.len();
        let span = tracing::info_span!("split", split = %state.name());
        self.states.push(state);
        self.records.push(
            stream::unfold(receiver, |mut receiver| async move {
                // What the queue holds now, in one take: one lock and one wake-up of the
                // reader for up to a batch of rows.
                let mut batch = Vec::new();
                let taken = receiver
                    .recv_batch(&mut batch, HAND_OVER_ROWS, HAND_OVER_BYTES)
                    .await;
                (taken > 0).then_some((batch, receiver))
            })
            .map(move |batch| (index, batch))
            .boxed(),
        );
        self.readers
            .spawn(reader.run(sender, self.reader_ctx.clone()).instrument(span));
    }
}

/// Runs the pipeline until the input ends (Finished), a side fails (Failed) or `cancel`
/// fires (Cancelled); then stops whatever is still running.
pub(super) async fn run(pipeline: Pipeline, cancel: CancellationToken) -> TaskOutcome {
    let Pipeline {
        readers,
        opener,
        driver,
        unbounded,
        bounds,
        budget,
        transform,
        mut sink,
        restored_files,
        restored_job,
        restored_checkpoint,
        discard_all,
        reader_ctx,
        metrics,
        mut commands,
        source_name,
        sink_name,
    } = pipeline;
    let stop_readers = reader_ctx.cancel.clone();
    if let Some(budget) = &budget {
        metrics.set_budget(Arc::clone(budget));
    }
    let mut splits = Splits {
        bounds,
        budget,
        reader_ctx,
        metrics: Arc::clone(&metrics),
        states: Vec::new(),
        records: SelectAll::new(),
        readers: JoinSet::new(),
    };
    for reader in readers {
        splits.start(reader);
    }
    let stop_driver = CancellationToken::new();
    let mut driver =
        driver.map(|driver| tokio::spawn(driver.run(stop_driver.clone()).in_current_span()));
    let mut input = Input {
        splits: &mut splits,
        opener,
        commands: &mut commands,
        unbounded,
        last_checkpoint: restored_checkpoint,
        stop_checkpoint: None,
        acknowledged: Acknowledged::new(restored_checkpoint),
    };

    let restored = Restored {
        job_id: restored_job,
        files: restored_files,
        checkpoint: (restored_checkpoint > 0).then_some(restored_checkpoint),
    };
    let drained = match sink.recover(restored).await {
        Ok(()) => {
            let output = Output {
                sink: sink.as_mut(),
                transform: &transform,
                metrics: &metrics,
            };
            drain(&mut input, &mut driver, output, &cancel).await
        }
        Err(error) => Err(Ended::SinkFailed(format!(
            "recovering the files of checkpoint {restored_checkpoint}: {error}"
        ))),
    };
    let last_checkpoint = input.last_checkpoint;
    let outcome = match drained {
        Ok(Drained::Stopped) => Ended::Finished,
        Ok(Drained::EndOfInput) => {
            finish(
                &mut splits.readers,
                sink.as_mut(),
                &splits.states,
                last_checkpoint,
                &cancel,
            )
            .await
        }
        Err(ended) => ended,
    };
    let discard = if discard_all.load(std::sync::atomic::Ordering::Acquire) {
        Discard::All
    } else {
        Discard::Unlisted
    };
    if matches!(outcome, Ended::Finished)
        && let Err(error) = sink.finish().await
    {
        tracing::warn!(%error, "cleaning up after the sink failed");
    }
    if matches!(outcome, Ended::Cancelled)
        && let Err(error) = sink.abort(discard).await
    {
        tracing::warn!(%error, "discarding uncommitted files after cancel failed");
    }
    let outcome = outcome.describe(source_name, sink_name);

    // Readers still running (after a failure or a cancel) stop at their next wait; dropping
    // the queues releases any that wait for room. Then make sure none outlives the task.
    stop_readers.cancel();
    splits.records = SelectAll::new();
    splits.readers.shutdown().await;
    // The driver goes last: it commits the final positions, which the readers no longer
    // change.
    stop_driver.cancel();
    if let Some(driver) = driver.take()
        && let Ok(Err(error)) = driver.await
    {
        tracing::warn!(%error, "source driver failed while stopping");
    }
    outcome
}

/// The source side as the drain loop sees it.
struct Input<'a> {
    splits: &'a mut Splits,
    opener: Option<Box<dyn SplitOpener>>,
    commands: &'a mut mpsc::Receiver<Command>,
    unbounded: bool,
    /// The latest checkpoint barrier seen (or restored from).
    last_checkpoint: u64,
    /// The stop barrier taken, if any: no more rows; the task ends after its commit.
    stop_checkpoint: Option<u64>,
    /// What the subtask answered to barriers not committed yet: all a commit may publish.
    acknowledged: Acknowledged,
}

/// How the drain loop ended without failing.
enum Drained {
    /// Every queue is closed and empty, and no more splits can come.
    EndOfInput,
    /// The stop checkpoint was committed.
    Stopped,
}

impl Input<'_> {
    fn add_splits(&mut self, added: Vec<SplitId>) -> Result<(), Ended> {
        let Some(opener) = self.opener.as_mut() else {
            // TaskHandle::add_splits refuses splits for such sources; nothing to do.
            return Ok(());
        };
        let count = added.len();
        let readers = opener
            .open_splits(added)
            .map_err(|error| Ended::SourceFailed(error.to_string()))?;
        tracing::info!(requested = count, started = readers.len(), "splits added");
        for reader in readers {
            self.splits.start(reader);
        }
        Ok(())
    }

    /// Handles a command between two rows; `Some(Stopped)` once a stop checkpoint committed.
    async fn handle(
        &mut self,
        command: Command,
        sink: &mut dyn SinkWriter,
    ) -> Result<Option<Drained>, Ended> {
        match command {
            Command::AddSplits(added) => self.add_splits(added)?,
            Command::Checkpoint(Barrier {
                checkpoint_id,
                stop,
                reply,
            }) => {
                let taken = checkpoint::take(sink, &self.splits.states, checkpoint_id).await;
                let failed = taken.as_ref().err().cloned();
                if let Ok(ack) = &taken {
                    self.acknowledged.taken(checkpoint_id, ack);
                    self.splits.metrics.barrier_taken(checkpoint_id);
                    self.last_checkpoint = self.last_checkpoint.max(checkpoint_id);
                    if stop {
                        self.stop_checkpoint = Some(checkpoint_id);
                    }
                }
                tracing::debug!(
                    checkpoint_id,
                    stop,
                    ok = failed.is_none(),
                    "checkpoint taken"
                );
                // The master may have given up waiting; the checkpoint then just fails.
                let _ = reply.send(taken);
                if let Some(error) = failed {
                    return Err(Ended::SinkFailed(format!(
                        "checkpoint {checkpoint_id}: {error}"
                    )));
                }
            }
            Command::Commit(Commit {
                checkpoint_id,
                pending_files,
                reply,
            }) => {
                let ack = match self.acknowledged.to_commit(checkpoint_id, &pending_files) {
                    Ok(ack) => ack,
                    Err(reason) => {
                        // A forged or confused request: refused (the caller logs it as a
                        // security event); the subtask and its own checkpoints go on.
                        let _ = reply.send(Err(CommitError::Refused(reason)));
                        return Ok(None);
                    }
                };
                let Some(ack) = ack else {
                    tracing::debug!(checkpoint_id, "checkpoint already committed");
                    let _ = reply.send(Ok(()));
                    return Ok(None);
                };
                let files = ack.pending_files.len();
                let published =
                    checkpoint::publish(sink, &self.splits.states, ack.pending_files, &ack.offsets)
                        .await;
                let failed = published.as_ref().err().cloned();
                if failed.is_none() {
                    self.splits
                        .metrics
                        .checkpoint_committed(checkpoint_id, files);
                }
                tracing::debug!(
                    checkpoint_id,
                    files,
                    ok = failed.is_none(),
                    "checkpoint committed"
                );
                let _ = reply.send(published.map_err(CommitError::Failed));
                if let Some(error) = failed {
                    return Err(Ended::SinkFailed(format!(
                        "committing checkpoint {checkpoint_id}: {error}"
                    )));
                }
                self.acknowledged.committed(checkpoint_id);
                // The commit of an earlier checkpoint can arrive after the stop barrier; only
                // the stop checkpoint's own commit (or a later one) ends the task.
                if self
                    .stop_checkpoint
                    .is_some_and(|stop_id| checkpoint_id >= stop_id)
                {
                    return Ok(Some(Drained::Stopped));
                }
            }
        }
        Ok(None)
    }
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

/// Waits for the driver to end (forever if there is none, or it already ended).
async fn driver_ended(driver: &mut Option<JoinHandle<Result<(), ConnectorError>>>) -> Joined {
    match driver.as_mut() {
        Some(handle) => {
            let joined = handle.await;
            *driver = None;
            joined
        }
        None => std::future::pending().await,
    }
}

/// Moves rows into the sink until every queue is closed and empty and no more splits can
/// come (`Ok`), or ends early.
async fn drain(
    input: &mut Input<'_>,
    driver: &mut Option<JoinHandle<Result<(), ConnectorError>>>,
    output: Output<'_>,
    cancel: &CancellationToken,
) -> Result<Drained, Ended> {
    let Output {
        sink,
        transform,
        metrics,
    } = output;
    // A row handed to the sink is flushed within FLUSH_DELAY: a trickle of rows must not wait
    // in a sink buffer for more rows to come (a streaming job may never send them).
    let mut flush_at: Option<tokio::time::Instant> = None;
    let mut input_ended = false;
    loop {
        if input.splits.records.is_empty()
            && !input.unbounded
            && input.stop_checkpoint.is_none()
            && !input_ended
        {
            if !sink.commits_on_checkpoints() {
                return Ok(Drained::EndOfInput);
            }
            // The last files are committed by a final checkpoint of the master, like every
            // other: a subtask that committed them itself and then died before saying so
            // would be restarted from the previous checkpoint and write them twice.
            input_ended = true;
            timed(sink.flush(), &metrics.sink_wait)
                .await
                .map_err(|error| Ended::SinkFailed(error.to_string()))?;
            metrics.set_input_ended();
            tracing::info!("input ended; waiting for the final checkpoint");
        }
        let taking_rows = input.stop_checkpoint.is_none() && !input.splits.records.is_empty();
        metrics.idle.begin();
        let woken = tokio::select! {
            biased;
            () = cancel.cancelled() => Woken::Cancelled,
            () = sleep_until_or_never(flush_at) => Woken::FlushDue,
            // A failing reader ends the task at once, not when its queue has drained.
            Some(joined) = input.splits.readers.join_next() => Woken::ReaderEnded(joined),
            joined = driver_ended(driver) => Woken::ReaderEnded(joined),
            Some(command) = input.commands.recv() => Woken::Command(command),
            next = input.splits.records.next(), if taking_rows => Woken::Row(next),
        };
        metrics.idle.end();
        match woken {
            Woken::Cancelled => return Err(Ended::Cancelled),
            Woken::FlushDue => {
                flush_at = None;
                timed(sink.flush(), &metrics.sink_wait)
                    .await
                    .map_err(|error| Ended::SinkFailed(error.to_string()))?;
            }
            Woken::ReaderEnded(joined) => reader_result(joined)?,
            Woken::Command(command) => {
                if let Some(drained) = input.handle(command, sink).await? {
                    return Ok(drained);
                }
            }
            // `None` only once the set is empty, which the loop's first check handles.
            Woken::Row(None) => {}
            Woken::Row(Some(first)) => {
                let splits = &mut *input.splits;
                let output = Output {
                    sink: &mut *sink,
                    transform,
                    metrics,
                };
                let written = write_batch(first, &mut splits.records, &splits.states, output);
                tokio::select! {
                    biased;
                    () = cancel.cancelled() => return Err(Ended::Cancelled),
                    written = written => {
                        written.map_err(|error| Ended::SinkFailed(error.to_string()))?;
                    }
                }
                flush_at.get_or_insert_with(|| tokio::time::Instant::now() + FLUSH_DELAY);
            }
        }
    }
}

/// What woke the drain loop.
enum Woken {
    Cancelled,
    /// A written row has waited [`FLUSH_DELAY`] in the sink's buffer.
    FlushDue,
    /// A split reader or the source's driver ended.
    ReaderEnded(Joined),
    Command(Command),
    /// The next rows of any split (`None` once no split is left).
    Row(Option<(usize, Vec<SourceRecord>)>),
}

/// Rows the drain loop hands the sink in one go, as long as the queues have them ready.
const DRAIN_BATCH_ROWS: u64 = 512;

/// Where the drain loop puts rows: through the transforms into the sink, counted.
struct Output<'a> {
    sink: &'a mut dyn SinkWriter,
    transform: &'a TransformChain,
    metrics: &'a TaskMetrics,
}

/// Hands the rows of `first` and then the batches already waiting in the queues (up to
/// [`DRAIN_BATCH_ROWS`] rows, without waiting for more) through the transforms to the sink,
/// recording each split's position after each row (also after a row a transform drops: it
/// was consumed). A batch taken from a queue is written whole. Commands (barriers, commits)
/// and timers are looked at between calls, not per row: a barrier still falls between two
/// rows, and the positions it records are exactly the rows the sink took. Counts the rows and
/// bytes (after the transforms) the sink accepted in `metrics`, once per call (also when the
/// sink fails part way).
async fn write_batch(
    first: (usize, Vec<SourceRecord>),
    records: &mut Records,
    states: &[Arc<SplitState>],
    output: Output<'_>,
) -> Result<(), ConnectorError> {
    let Output {
        sink,
        transform,
        metrics,
    } = output;
    let (mut taken, mut rows, mut bytes) = (0, 0, 0);
    // Splits whose last row taken has more rows of its record to come (see
    // `SourceRecord::more_at_position`): the call goes on until they have come, so that no
    // barrier falls inside a record. Their reader has them admitted already: it only waits
    // for room in its queue, which taking rows makes.
    let mut open: Vec<usize> = Vec::new();
    let mut next = Some(first);
    while let Some((index, batch)) = next.take() {
        for record in batch {
            let SourceRecord {
                row,
                position,
                more_at_position,
            } = record;
            taken += 1;
            if let Some(row) = transform.apply(row) {
                let size = row.size_bytes();
                let write = timed(sink.write(row), &metrics.sink_wait);
                if let Err(error) = write.await {
                    metrics.add_written(rows, bytes);
                    return Err(error);
                }
                rows += 1;
                bytes += size;
            }
            if more_at_position {
                if !open.contains(&index) {
                    open.push(index);
                }
            } else {
                open.retain(|split| *split != index);
                if let Some(state) = states.get(index) {
                    state.set_position(position.saturating_add(1));
                }
            }
        }
        if taken >= DRAIN_BATCH_ROWS && open.is_empty() {
            break;
        }
        next = if open.is_empty() {
            // Only rows already queued: the loop's `select!` waits for the next ones (and
            // polls `records` with the task's real waker again).
            records.next().now_or_never().flatten()
        } else {
            records.next().await
        };
    }
    metrics.add_written(rows, bytes);
    Ok(())
}

/// The longest a written row waits in the sink's buffer before a flush.
const FLUSH_DELAY: std::time::Duration = std::time::Duration::from_millis(100);

async fn sleep_until_or_never(deadline: Option<tokio::time::Instant>) {
    match deadline {
        Some(deadline) => tokio::time::sleep_until(deadline).await,
        None => std::future::pending().await,
    }
}

/// After the input ended: collect the readers' results, then commit the sink's files
/// itself — a bounded job's last rows need no barrier from the master, since no row can
/// follow them.
async fn finish(
    reader_tasks: &mut JoinSet<Result<(), ConnectorError>>,
    sink: &mut dyn SinkWriter,
    states: &[Arc<SplitState>],
    last_checkpoint: u64,
    cancel: &CancellationToken,
) -> Ended {
    let flushed = async {
        // Every queue is closed, so every reader has returned or is about to.
        while let Some(joined) = reader_tasks.join_next().await {
            reader_result(joined)?;
        }
        let final_checkpoint = last_checkpoint.saturating_add(1);
        let ack = checkpoint::take(sink, states, final_checkpoint)
            .await
            .map_err(Ended::SinkFailed)?;
        checkpoint::publish(sink, states, ack.pending_files, &ack.offsets)
            .await
            .map_err(Ended::SinkFailed)
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
