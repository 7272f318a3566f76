//! The subtask runtime: one source reader per split feeding its own bounded queue, one loop
//! draining the queues into the sink writer.
//!
//! ```text
//! reader(split 0) ─▶ queue 0 ─┐
//! reader(split 1) ─▶ queue 1 ─┼─▶ drain loop ─▶ sink writer ─▶ flush
//!           …                 ┘
//! ```
//!
//! Memory stays within the queues' row and byte bounds plus the sink's buffer — the
//! reservation [`weir_core::memory::subtask_reservation`] admits the subtask with. Readers wait
//! while the worker's memory governor has intake paused.

mod metrics;
mod runtime;

use std::sync::Arc;

use tokio::sync::watch;
use tokio_util::sync::CancellationToken;
use tracing::{Instrument, info, info_span};
use weir_connectors::{
    ConnectorError, ReadLimiter, SinkWriter, SourceContext, SourceReader, SubtaskInfo,
};
use weir_core::config::{JobConfig, QueueBounds};
use weir_core::queue::bounded_queue;

use self::metrics::TaskMetrics;
pub use self::metrics::TaskMetricsSnapshot;
use self::runtime::Pipeline;

/// What to run: one parallel instance (subtask) of a job.
#[derive(Debug, Clone)]
pub struct TaskSpec {
    /// The job this subtask belongs to.
    pub job_id: String,
    /// Unique id of this deployment of the subtask.
    pub task_id: String,
    /// This subtask's index, `0..parallelism`.
    pub subtask_index: u32,
    /// How many subtasks the job runs (the job's read limit is split across them).
    pub parallelism: u32,
    /// The parsed job file.
    pub config: JobConfig,
}

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
        source: ConnectorError,
    },
    /// The sink could not be opened.
    #[error("cannot open sink {plugin}: {source}")]
    OpenSink {
        /// Plugin name.
        plugin: &'static str,
        /// Why.
        source: ConnectorError,
    },
}

/// A cloneable handle to a running subtask: metrics and cancel, for whoever keeps the table
/// of tasks while another party awaits the outcome through [`RunningTask`].
#[derive(Debug, Clone)]
pub struct TaskHandle {
    task_id: Arc<str>,
    cancel: CancellationToken,
    metrics: Arc<TaskMetrics>,
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
    /// room in a full queue or its sink is blocked; the sink is not flushed. Idempotent.
    pub fn cancel(&self) {
        self.cancel.cancel();
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
    };
    let source = &spec.config.source;
    let sink_config = &spec.config.sink;
    let readers = weir_connectors::open_source(source, &subtask).map_err(|source_error| {
        TaskError::OpenSource {
            plugin: source.plugin_name(),
            source: source_error,
        }
    })?;
    let sink = weir_connectors::open_sink(sink_config, source.output_schema(), &subtask).map_err(
        |error| TaskError::OpenSink {
            plugin: sink_config.plugin_name(),
            source: error,
        },
    )?;

    let cancel = CancellationToken::new();
    let reader_ctx = SourceContext {
        cancel: cancel.child_token(),
        paused: intake_paused,
        read_limit: ReadLimiter::for_subtask(&spec.config.env, spec.parallelism),
    };
    let pipeline = assemble(
        readers,
        sink,
        source.queue_bounds(),
        reader_ctx,
        (source.plugin_name(), sink_config.plugin_name()),
    );
    let span = info_span!(
        "subtask",
        job_id = %spec.job_id,
        task_id = %spec.task_id,
        subtask = spec.subtask_index,
    );
    Ok(start(runtime, pipeline, spec.task_id, cancel, span))
}

/// Gives each reader its own bounded queue.
fn assemble(
    readers: Vec<Box<dyn SourceReader>>,
    sink: Box<dyn SinkWriter>,
    bounds: QueueBounds,
    reader_ctx: SourceContext,
    (source_name, sink_name): (&'static str, &'static str),
) -> Pipeline {
    let mut wired = Vec::with_capacity(readers.len());
    let mut receivers = Vec::with_capacity(readers.len());
    for reader in readers {
        let (sender, receiver) = bounded_queue(bounds.max_rows, bounds.max_bytes);
        wired.push((reader, sender));
        receivers.push(receiver);
    }
    let metrics = Arc::new(TaskMetrics::new(
        receivers.iter().map(|r| Arc::clone(r.stats())).collect(),
    ));
    Pipeline {
        readers: wired,
        receivers,
        sink,
        reader_ctx,
        metrics,
        source_name,
        sink_name,
    }
}

fn start(
    runtime: tokio::runtime::Handle,
    pipeline: Pipeline,
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
            metrics,
        },
        outcome,
    }
}

#[cfg(test)]
mod tests;
