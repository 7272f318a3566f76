//! A subtask's side of the checkpoint protocol (see DESIGN.md, "Exactly-once files").
//!
//! The master sends barrier `n`; the drain loop handles it between two rows, so the split
//! positions it snapshots are exactly the rows the sink has taken: the sink closes its open
//! files to pending (`prepare_commit`) and the subtask answers with the positions and the
//! pending files. Once the master has persisted checkpoint `n` it sends the commit: the sink
//! publishes the files and the positions become the ones committed to the consumer group.

use std::sync::Arc;

use tokio::sync::oneshot;
use weir_connectors::{PendingFile, SinkWriter, SplitState};
use weir_core::split::SplitId;

/// What a subtask answers to a checkpoint barrier.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CheckpointAck {
    /// Next offset to read per split (Kafka partitions whose position is known).
    pub offsets: Vec<(SplitId, i64)>,
    /// Every file the sink has closed and not yet published, named for this checkpoint.
    pub pending_files: Vec<PendingFile>,
}

/// Barrier `checkpoint_id`; with `stop`, the subtask takes no more rows afterwards and ends
/// once the checkpoint is committed.
#[derive(Debug)]
pub(super) struct Barrier {
    pub checkpoint_id: u64,
    pub stop: bool,
    pub reply: oneshot::Sender<Result<CheckpointAck, String>>,
}

/// Publish a completed checkpoint.
#[derive(Debug)]
pub(super) struct Commit {
    pub checkpoint_id: u64,
    pub pending_files: Vec<PendingFile>,
    pub offsets: Vec<(SplitId, i64)>,
    pub reply: oneshot::Sender<Result<(), String>>,
}

/// Snapshots the splits and closes the sink's files for `checkpoint_id`.
pub(super) async fn take(
    sink: &mut dyn SinkWriter,
    states: &[Arc<SplitState>],
    checkpoint_id: u64,
) -> Result<CheckpointAck, String> {
    let started = std::time::Instant::now();
    let prepared = sink.prepare_commit(checkpoint_id).await;
    crate::http::metrics::checkpoint_prepared(started.elapsed());
    let pending_files = prepared.map_err(|error| error.to_string())?;
    let offsets = states
        .iter()
        .filter_map(|state| Some((state.split()?.clone(), state.position()?)))
        .collect();
    Ok(CheckpointAck {
        offsets,
        pending_files,
    })
}

/// Publishes a completed checkpoint's files, then marks its positions committed (the source
/// driver commits them to the consumer group).
pub(super) async fn publish(
    sink: &mut dyn SinkWriter,
    states: &[Arc<SplitState>],
    pending_files: Vec<PendingFile>,
    offsets: &[(SplitId, i64)],
) -> Result<(), String> {
    let started = std::time::Instant::now();
    let committed = sink.commit(pending_files).await;
    crate::http::metrics::checkpoint_committed(started.elapsed());
    committed.map_err(|error| error.to_string())?;
    for (split, offset) in offsets {
        if let Some(state) = states.iter().find(|state| state.split() == Some(split)) {
            state.set_committed_position(*offset);
        }
    }
    Ok(())
}
