//! A subtask's side of the checkpoint protocol (docs/architecture.md, "Checkpoints and
//! exactly-once files").
//!
//! The master sends barrier `n`; the drain loop handles it between two rows, so the split
//! positions it snapshots are exactly the rows the sink has taken: the sink closes its open
//! files to pending (`prepare_commit`) and the subtask answers with the positions and the
//! pending files. Once the master has persisted checkpoint `n` it sends the commit: the sink
//! publishes the files and the positions become the ones committed to the consumer group.
//!
//! What a commit publishes is what the subtask itself answered to barrier `n`
//! ([`Acknowledged`]), never what the request lists: a request whose files differ from that
//! answer, or that names a checkpoint the subtask never took, is refused (and the task runs
//! on); the positions committed are the answer's too.

use std::collections::{BTreeMap, HashSet};
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
    /// The files the request lists; they must be the ones the subtask acknowledged.
    pub pending_files: Vec<PendingFile>,
    pub reply: oneshot::Sender<Result<(), CommitError>>,
}

/// Why a commit did not happen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum CommitError {
    /// The request does not match what the subtask acknowledged; nothing was done and the
    /// task runs on.
    Refused(String),
    /// Publishing failed; the task fails with this reason.
    Failed(String),
}

/// Barrier answers a subtask keeps for commits that have not come (yet): a checkpoint that
/// failed at the master is never committed, and its files are listed again by the next one.
const KEPT_ACKS: usize = 16;

/// The checkpoints a subtask acknowledged and has not committed: what commits may publish.
#[derive(Debug, Default)]
pub(super) struct Acknowledged {
    /// By checkpoint id; at most [`KEPT_ACKS`], the oldest dropped first.
    taken: BTreeMap<u64, CheckpointAck>,
    /// The latest checkpoint committed, or the one the subtask resumed from.
    committed: u64,
}

impl Acknowledged {
    /// Nothing acknowledged yet; checkpoints up to `restored` count as committed.
    pub fn new(restored: u64) -> Self {
        Acknowledged {
            taken: BTreeMap::new(),
            committed: restored,
        }
    }

    /// The subtask answered barrier `checkpoint_id` with `ack`.
    pub fn taken(&mut self, checkpoint_id: u64, ack: &CheckpointAck) {
        self.taken.insert(checkpoint_id, ack.clone());
        while self.taken.len() > KEPT_ACKS {
            self.taken.pop_first();
        }
    }

    /// What a commit of `checkpoint_id` listing `files` publishes: the acknowledged answer
    /// (`Some`), nothing for a checkpoint already committed (`None`), or why it is refused.
    pub fn to_commit(
        &self,
        checkpoint_id: u64,
        files: &[PendingFile],
    ) -> Result<Option<CheckpointAck>, String> {
        let Some(ack) = self.taken.get(&checkpoint_id) else {
            if checkpoint_id <= self.committed {
                return Ok(None);
            }
            return Err(format!(
                "this subtask did not take checkpoint {checkpoint_id} (or no longer keeps it)"
            ));
        };
        let listed: HashSet<&PendingFile> = ack.pending_files.iter().collect();
        let requested: HashSet<&PendingFile> = files.iter().collect();
        if listed != requested || files.len() != ack.pending_files.len() {
            let stranger = files.iter().find(|file| !listed.contains(file));
            let missing = ack
                .pending_files
                .iter()
                .find(|file| !requested.contains(file));
            let detail = match (stranger, missing) {
                (Some(file), _) => format!(
                    "it lists {} -> {}, which the subtask did not report",
                    file.pending_path, file.final_path
                ),
                (None, Some(file)) => format!("it leaves out {}", file.pending_path),
                (None, None) => "it lists a file twice".to_string(),
            };
            return Err(format!(
                "the request's {} files are not the {} this subtask reported for checkpoint \
                 {checkpoint_id}: {detail}",
                files.len(),
                ack.pending_files.len()
            ));
        }
        Ok(Some(ack.clone()))
    }

    /// Checkpoint `checkpoint_id` was committed: it and every earlier one are done.
    pub fn committed(&mut self, checkpoint_id: u64) {
        self.committed = self.committed.max(checkpoint_id);
        self.taken.retain(|id, _| *id > checkpoint_id);
    }
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
