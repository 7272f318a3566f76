//! The subtask runtime: one source reader per split feeding its own bounded queue, one loop
//! draining the queues into the sink writer.
//!
//! ```text
//! reader(split 0) ─▶ queue 0 ─┐
//! reader(split 1) ─▶ queue 1 ─┼─▶ drain loop ─▶ sink writer ─▶ flush
//!           …                 ┘      ▲
//!   add_splits ─▶ new readers ───────┘   (partition discovery)
//! ```
//!
//! Memory stays within the queues' row and byte bounds (plus, for Kafka, each partition's
//! bounded prefetch) and the sink's buffer — the reservation
//! [`weir_core::reservation::subtask_reservation`] admits the subtask with. Readers take the
//! subtask's share of the job's read limit before each row enters a queue, and wait while
//! the worker's memory governor has intake paused. The drain loop records, per split, the
//! position after the last row the sink took.

mod checkpoint;
mod metrics;
mod runtime;

use std::sync::Arc;

use tokio::sync::{mpsc, watch};
use tokio_util::sync::CancellationToken;
use tracing::{Instrument, info, info_span};
use weir_connectors::{
    ConnectorError, OpenedSource, PendingFile, ReadLimiter, SinkWriter, SourceContext, SubtaskInfo,
};
use weir_core::budget::ByteBudget;
use weir_core::config::{JobConfig, QueueBounds};
use weir_core::split::SplitId;
use weir_core::transform::TransformChain;

pub use self::checkpoint::CheckpointAck;
use self::checkpoint::{Barrier, Commit, CommitError};
use self::metrics::TaskMetrics;
pub use self::metrics::{SplitMetricsSnapshot, TaskMetricsSnapshot};
use self::runtime::{Command, Pipeline};
pub use weir_connectors::ReadLimitShare;

/// [`TaskHandle::add_splits`] requests a task may have waiting; more are refused with
/// [`TaskError::Busy`] (each is handled in microseconds, so this is never reached in
/// practice — it only keeps the channel bounded).
const COMMAND_BACKLOG: usize = 16;

/// What to run: one parallel instance (subtask) of a job.
#[derive(Debug, Clone)]
pub struct TaskSpec {
    /// The job this subtask belongs to.
    pub job_id: String,
    /// Unique id of this deployment of the subtask.
    pub task_id: String,
    /// This subtask's index, `0..parallelism`.
    pub subtask_index: u32,
    /// How many subtasks the job runs.
    pub parallelism: u32,
    /// The parsed job file.
    pub config: JobConfig,
    /// The splits (Kafka partitions) this subtask reads; empty for sources without splits
    /// (FakeSource), which run one split per subtask.
    pub splits: Vec<SplitId>,
    /// This subtask's share of the job-wide `read_limit.*`, computed by the master; shared
    /// by all of the subtask's split readers.
    pub read_limit: ReadLimitShare,
    /// Placement number of the subtask, from 1.
    pub attempt: u32,
    /// The completed checkpoint to resume from; `None` starts per the job's `start_mode`.
    pub restore: Option<RestorePoint>,
}

/// What a subtask resumes from: a completed checkpoint's offsets and pending files.
pub use weir_core::checkpoint::RestorePoint;

/// How a subtask ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TaskOutcome {
    /// The source was exhausted, every row reached the sink, and the sink was flushed.
    Finished,
    /// [`TaskHandle::cancel`] was called.
    Cancelled,
    /// The source or the sink failed; the text says which and why.
    Failed(String),
}

/// Why a subtask could not start.
#[derive(Debug, thiserror::Error)]
pub enum TaskError {
    /// `spawn_task` was called outside a tokio runtime.
    #[error("a task can only be started from within a tokio runtime")]
    NoRuntime,
    /// The subtask index is not below the parallelism.
    #[error("subtask index {subtask_index} is out of range for parallelism {parallelism}")]
    InvalidSubtask {
        /// The index requested.
        subtask_index: u32,
        /// The parallelism requested.
        parallelism: u32,
    },
    /// The source could not be opened.
    #[error("cannot open source {plugin}: {source}")]
    OpenSource {
        /// Plugin name.
        plugin: &'static str,
        /// Why.
        source: Box<ConnectorError>,
    },
    /// The sink could not be opened.
    #[error("cannot open sink {plugin}: {source}")]
    OpenSink {
        /// Plugin name.
        plugin: &'static str,
        /// Why.
        source: Box<ConnectorError>,
    },
    /// Splits were added to a task whose source has none (FakeSource).
    #[error("source {plugin} does not read splits; none can be added")]
    SplitsUnsupported {
        /// Plugin name.
        plugin: &'static str,
    },
    /// The task has ended; it takes no more splits.
    #[error("the task has ended")]
    NotRunning,
    /// Too many requests are waiting for the task to take them; retry later.
    #[error("the task has {COMMAND_BACKLOG} requests pending; retry later")]
    Busy,
    /// The task could not take or commit a checkpoint (it fails with the same reason).
    #[error("{0}")]
    Checkpoint(String),
    /// A commit request did not match what the task acknowledged: nothing was published, and
    /// the task runs on.
    #[error("commit refused: {0}")]
    CommitRefused(String),
}

impl From<String> for TaskError {
    fn from(reason: String) -> Self {
        TaskError::Checkpoint(reason)
    }
}

impl From<CommitError> for TaskError {
    fn from(error: CommitError) -> Self {
        match error {
            CommitError::Refused(reason) => TaskError::CommitRefused(reason),
            CommitError::Failed(reason) => TaskError::Checkpoint(reason),
        }
    }
}

/// A cloneable handle to a running subtask: metrics and cancel, for whoever keeps the table
/// of tasks while another party awaits the outcome through [`RunningTask`].
#[derive(Debug, Clone)]
pub struct TaskHandle {
    task_id: Arc<str>,
    cancel: CancellationToken,
    /// Set by [`TaskHandle::cancel_discarding`].
    discard_all: Arc<std::sync::atomic::AtomicBool>,
    metrics: Arc<TaskMetrics>,
    read_limit: ReadLimiter,
    commands: mpsc::Sender<Command>,
    /// `Some(plugin)` when the source cannot take splits.
    no_splits: Option<&'static str>,
}

impl TaskHandle {
    /// The task's id.
    pub fn task_id(&self) -> &str {
        &self.task_id
    }

    /// The task's counters now.
    pub fn metrics(&self) -> TaskMetricsSnapshot {
        self.metrics.snapshot()
    }

    /// Asks the task to stop. It ends `Cancelled` promptly, even if its source is waiting for
    /// room in a full queue or its sink is blocked; the sink is not flushed, and keeps the
    /// files a checkpoint listed (a recovery may commit them). Idempotent.
    pub fn cancel(&self) {
        self.cancel.cancel();
    }

    /// [`TaskHandle::cancel`] for a cancelled job: the sink discards every uncommitted file.
    pub fn cancel_discarding(&self) {
        self.discard_all
            .store(true, std::sync::atomic::Ordering::Release);
        self.cancel.cancel();
    }

    /// Partition discovery: starts readers for `splits` (splits already read are ignored)
    /// and re-rates the subtask's read limiter to `read_limit` at once, for all its readers.
    /// The readers start asynchronously; a split that cannot be opened fails the task.
    pub fn add_splits(
        &self,
        splits: Vec<SplitId>,
        read_limit: ReadLimitShare,
    ) -> Result<(), TaskError> {
        if let Some(plugin) = self.no_splits {
            return Err(TaskError::SplitsUnsupported { plugin });
        }
        if self.commands.is_closed() {
            return Err(TaskError::NotRunning);
        }
        self.read_limit.set_share(read_limit);
        if splits.is_empty() {
            return Ok(());
        }
        self.send(Command::AddSplits(splits))
    }
}

impl TaskHandle {
    /// Checkpoint barrier: waits until the task has closed its files to pending and answers
    /// with its positions and pending files. With `stop`, the task takes no more rows and
    /// ends after the commit.
    pub async fn checkpoint(
        &self,
        checkpoint_id: u64,
        stop: bool,
    ) -> Result<CheckpointAck, TaskError> {
        self.ask(|reply| {
            Command::Checkpoint(Barrier {
                checkpoint_id,
                stop,
                reply,
            })
        })
        .await
    }

    /// Publishes completed checkpoint `checkpoint_id` and marks its positions committed;
    /// waits until done. What is published is what the task answered to that barrier:
    /// `pending_files` (the master's record of that answer) must be exactly those files, else
    /// the commit is refused ([`TaskError::CommitRefused`]) and the task runs on. A checkpoint
    /// already committed is not published again.
    pub async fn commit(
        &self,
        checkpoint_id: u64,
        pending_files: Vec<PendingFile>,
    ) -> Result<(), TaskError> {
        self.ask(|reply| {
            Command::Commit(Commit {
                checkpoint_id,
                pending_files,
                reply,
            })
        })
        .await
    }

    /// Sends the command `with_reply` builds and waits for the task's answer.
    async fn ask<T, E>(
        &self,
        with_reply: impl FnOnce(tokio::sync::oneshot::Sender<Result<T, E>>) -> Command,
    ) -> Result<T, TaskError>
    where
        TaskError: From<E>,
    {
        let (reply, answer) = tokio::sync::oneshot::channel();
        self.send(with_reply(reply))?;
        answer
            .await
            .map_err(|_| TaskError::NotRunning)?
            .map_err(TaskError::from)
    }

    fn send(&self, command: Command) -> Result<(), TaskError> {
        self.commands
            .try_send(command)
            .map_err(|error| match error {
                mpsc::error::TrySendError::Full(_) => TaskError::Busy,
                mpsc::error::TrySendError::Closed(_) => TaskError::NotRunning,
            })
    }
}

/// A started subtask. Dropping it does not stop the task (use [`TaskHandle::cancel`]).
#[derive(Debug)]
pub struct RunningTask {
    handle: TaskHandle,
    outcome: watch::Receiver<Option<TaskOutcome>>,
}

impl RunningTask {
    /// The task's id.
    pub fn task_id(&self) -> &str {
        self.handle.task_id()
    }

    /// The task's counters now.
    pub fn metrics(&self) -> TaskMetricsSnapshot {
        self.handle.metrics()
    }

    /// See [`TaskHandle::cancel`].
    pub fn cancel(&self) {
        self.handle.cancel();
    }

    /// A cloneable handle for metrics and cancellation.
    pub fn handle(&self) -> TaskHandle {
        self.handle.clone()
    }

    /// The outcome, if the task has ended.
    pub fn try_outcome(&self) -> Option<TaskOutcome> {
        self.outcome.borrow().clone()
    }

    /// Waits for the task to end. Cancel-safe, and may be called again after it returned.
    pub async fn wait(&mut self) -> TaskOutcome {
        match self.outcome.wait_for(Option::is_some).await {
            Ok(outcome) => outcome
                .clone()
                .unwrap_or_else(|| TaskOutcome::Failed("task ended without an outcome".into())),
            // The runtime task is gone without reporting: it panicked or its runtime shut down.
            Err(_) => TaskOutcome::Failed("the task's runtime task stopped unexpectedly".into()),
        }
    }
}

/// Opens the job's source and sink for one subtask and starts it on the current runtime.
///
/// `intake_paused` is the worker memory governor's signal: while `true`, the source readers
/// produce nothing.
pub fn spawn_task(
    spec: TaskSpec,
    intake_paused: watch::Receiver<bool>,
) -> Result<RunningTask, TaskError> {
    if spec.subtask_index >= spec.parallelism {
        return Err(TaskError::InvalidSubtask {
            subtask_index: spec.subtask_index,
            parallelism: spec.parallelism,
        });
    }
    let runtime = tokio::runtime::Handle::try_current().map_err(|_| TaskError::NoRuntime)?;
    let subtask = SubtaskInfo {
        job_id: spec.job_id.clone(),
        subtask_index: spec.subtask_index,
        parallelism: spec.parallelism,
        attempt: spec.attempt,
    };
    let source = &spec.config.source;
    let sink_config = &spec.config.sink;
    let restore = spec.restore.clone().unwrap_or_default();
    let opened =
        weir_connectors::open_source(&spec.config, &subtask, &spec.splits, &restore.offsets)
            .map_err(|source_error| TaskError::OpenSource {
                plugin: source.plugin_name(),
                source: Box::new(source_error),
            })?;
    // The sink writes the rows as the transforms leave them.
    let sink_schema = source.sink_schema(&spec.config.transform);
    let sink =
        weir_connectors::open_sink(sink_config, &sink_schema, &subtask).map_err(|error| {
            TaskError::OpenSink {
                plugin: sink_config.plugin_name(),
                source: Box::new(error),
            }
        })?;

    let cancel = CancellationToken::new();
    let reader_ctx = SourceContext {
        cancel: cancel.child_token(),
        paused: intake_paused,
        read_limit: ReadLimiter::from_share(spec.read_limit),
    };
    let (mut pipeline, control) = assemble(
        opened,
        (sink, restore),
        source.queue_bounds(),
        reader_ctx,
        (source.plugin_name(), sink_config.plugin_name()),
    );
    pipeline.budget = source
        .queue_budget_bytes()
        .map(|bytes| Arc::new(ByteBudget::new(bytes)));
    pipeline.transform = spec.config.transform.clone();
    let span = info_span!(
        "subtask",
        job = %spec.job_id,
        task = %spec.task_id,
        subtask = spec.subtask_index,
    );
    Ok(start(
        runtime,
        pipeline,
        control,
        spec.task_id,
        cancel,
        span,
    ))
}

/// What the [`TaskHandle`] keeps to steer a running pipeline.
struct Control {
    discard_all: Arc<std::sync::atomic::AtomicBool>,
    read_limit: ReadLimiter,
    commands: mpsc::Sender<Command>,
    no_splits: Option<&'static str>,
}

/// Wires an opened source and sink into a pipeline (each reader gets its own bounded queue
/// when the pipeline starts).
fn assemble(
    opened: OpenedSource,
    (sink, restore): (Box<dyn SinkWriter>, RestorePoint),
    bounds: QueueBounds,
    reader_ctx: SourceContext,
    (source_name, sink_name): (&'static str, &'static str),
) -> (Pipeline, Control) {
    let OpenedSource {
        readers,
        opener,
        driver,
        status,
        unbounded,
    } = opened;
    let (commands_tx, commands) = mpsc::channel(COMMAND_BACKLOG);
    let metrics = Arc::new(TaskMetrics::new(
        status,
        sink.buffer_stats(),
        reader_ctx.read_limit.clone(),
    ));
    let discard_all = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let control = Control {
        discard_all: Arc::clone(&discard_all),
        read_limit: reader_ctx.read_limit.clone(),
        commands: commands_tx,
        no_splits: opener.is_none().then_some(source_name),
    };
    let pipeline = Pipeline {
        readers,
        opener,
        driver,
        unbounded,
        bounds,
        budget: None,
        transform: TransformChain::default(),
        sink,
        restored_files: restore.pending_files,
        restored_job: restore.job_id,
        restored_checkpoint: restore.checkpoint_id,
        discard_all,
        reader_ctx,
        metrics,
        commands,
        source_name,
        sink_name,
    };
    (pipeline, control)
}

fn start(
    runtime: tokio::runtime::Handle,
    pipeline: Pipeline,
    control: Control,
    task_id: String,
    cancel: CancellationToken,
    span: tracing::Span,
) -> RunningTask {
    let (outcome_tx, outcome) = watch::channel(None);
    let (source_name, sink_name) = (pipeline.source_name, pipeline.sink_name);
    let metrics = Arc::clone(&pipeline.metrics);
    let task_cancel = cancel.clone();
    runtime.spawn(
        async move {
            info!(source = source_name, sink = sink_name, "subtask started");
            let ended = runtime::run(pipeline, task_cancel).await;
            info!(outcome = ?ended, "subtask ended");
            outcome_tx.send_replace(Some(ended));
        }
        .instrument(span),
    );
    RunningTask {
        handle: TaskHandle {
            task_id: Arc::from(task_id),
            cancel,
            discard_all: control.discard_all,
            metrics,
            read_limit: control.read_limit,
            commands: control.commands,
            no_splits: control.no_splits,
        },
        outcome,
    }
}

#[cfg(test)]
mod checkpoint_tests;
#[cfg(test)]
mod drain_tests;
#[cfg(test)]
mod kafka_tests;
#[cfg(test)]
mod tests;
