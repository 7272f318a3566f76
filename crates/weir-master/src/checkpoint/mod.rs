//! Checkpoints as the master keeps them: what a completed one holds, and each job's log of
//! them (persisted with the job record).

pub(crate) mod coordinator;
#[cfg(test)]
mod coordinator_tests;
pub(crate) mod storage;

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use weir_core::checkpoint::{PendingFile, RestorePoint};
use weir_core::split::SplitId;

/// A checkpoint every subtask of a job acknowledged: where each split resumes and which
/// files it publishes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CompletedCheckpoint {
    pub job_id: String,
    pub checkpoint_id: u64,
    pub completed_at_ms: i64,
    /// Taken by `weir stop`: the job ended after it.
    pub stop: bool,
    /// Next offset to read, per split.
    pub offsets: Vec<(SplitId, i64)>,
    /// Pending files, per subtask index.
    pub files: BTreeMap<u32, Vec<PendingFile>>,
}

impl CompletedCheckpoint {
    /// What subtask `index` of a job with `parallelism` subtasks resumes from: the offsets of
    /// `splits` and the subtask's pending files. Files of subtasks beyond `parallelism` (a job
    /// restored with fewer subtasks) go to subtask 0, so every file is re-committed.
    pub fn restore_point(&self, index: u32, parallelism: u32, splits: &[SplitId]) -> RestorePoint {
        let mut files: Vec<&PendingFile> = self.files.get(&index).into_iter().flatten().collect();
        if index == 0 {
            files.extend(
                self.files
                    .range(parallelism..)
                    .flat_map(|(_, files)| files.iter()),
            );
        }
        RestorePoint {
            checkpoint_id: self.checkpoint_id,
            job_id: self.job_id.clone(),
            offsets: self
                .offsets
                .iter()
                .filter(|(split, _)| splits.contains(split))
                .cloned()
                .collect(),
            pending_files: files.into_iter().cloned().collect(),
        }
    }

    /// Pending files of all subtasks.
    pub fn file_count(&self) -> usize {
        self.files.values().map(Vec::len).sum()
    }
}

/// A job's checkpoints: the last completed one (what recovery resumes from) and counters.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CheckpointLog {
    /// Id of the last checkpoint triggered; the next one gets `last_id + 1`.
    pub last_id: u64,
    pub last_completed: Option<CompletedCheckpoint>,
    /// The checkpoint of another job this one was submitted to resume from (`--restore`),
    /// used until the job completes one of its own.
    pub restored_from: Option<CompletedCheckpoint>,
    pub completed: u64,
    pub failed: u64,
    pub last_failure: String,
    pub last_duration_ms: u64,
    /// Where the last completed checkpoint was stored.
    pub last_completed_path: String,
    /// `weir stop` was requested; the stop checkpoint is (re)taken whenever the job runs.
    pub stop_requested: bool,
}

impl CheckpointLog {
    /// The checkpoint a (re)started subtask resumes from.
    pub fn resume_point(&self) -> Option<&CompletedCheckpoint> {
        self.last_completed.as_ref().or(self.restored_from.as_ref())
    }

    /// Starts the log of a job resumed from `from`: its ids continue after `from`'s.
    pub fn restored(from: CompletedCheckpoint) -> Self {
        CheckpointLog {
            last_id: from.checkpoint_id,
            restored_from: Some(from),
            ..CheckpointLog::default()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(name: &str) -> PendingFile {
        PendingFile {
            pending_path: format!("/tmp/{name}.pending"),
            final_path: format!("/out/{name}"),
        }
    }

    #[test]
    fn restore_points_carry_the_subtasks_offsets_and_files() {
        let checkpoint = CompletedCheckpoint {
            job_id: "j".into(),
            checkpoint_id: 7,
            completed_at_ms: 0,
            stop: false,
            offsets: vec![(SplitId::new("t", 0), 10), (SplitId::new("t", 1), 20)],
            files: BTreeMap::from([
                (0, vec![file("a")]),
                (1, vec![file("b")]),
                (2, vec![file("c")]),
            ]),
        };
        let point = checkpoint.restore_point(1, 2, &[SplitId::new("t", 1)]);
        assert_eq!(point.checkpoint_id, 7);
        assert_eq!(point.offsets, [(SplitId::new("t", 1), 20)]);
        assert_eq!(point.pending_files.len(), 1);
        assert_eq!(point.pending_files[0].final_path, "/out/b");
        // Subtask 2 no longer exists with parallelism 2: subtask 0 re-commits its files.
        let first = checkpoint.restore_point(0, 2, &[]);
        let finals: Vec<&str> = first
            .pending_files
            .iter()
            .map(|f| f.final_path.as_str())
            .collect();
        assert_eq!(finals, ["/out/a", "/out/c"]);
        assert_eq!(checkpoint.file_count(), 3);
    }
}
