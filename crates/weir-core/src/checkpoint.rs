//! What a checkpoint carries between master and workers: the files it publishes and where a
//! restarted subtask resumes. Plain data; the protobuf forms are converted in
//! `weir_proto::convert`.

use serde::{Deserialize, Serialize};

use crate::split::SplitId;

/// A file a checkpoint has closed but not yet published: invisible to readers at
/// `pending_path` until the checkpoint completes and the sink renames it to `final_path`.
/// Both are full paths of the sink's file system (an `hdfs://` URL or a local path).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct PendingFile {
    /// Where the closed file is now (hidden from readers of the sink's `path`).
    pub pending_path: String,
    /// Where the commit puts it.
    pub final_path: String,
}

/// What a subtask resumes from: a completed checkpoint's offsets and pending files.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RestorePoint {
    /// The checkpoint's id.
    pub checkpoint_id: u64,
    /// The job that took the checkpoint: this one, or the one this job was submitted to
    /// resume from (`--restore`); empty means this one. The sink recovers only files it could
    /// have written for that job.
    pub job_id: String,
    /// Next offset to read, per split of this subtask.
    pub offsets: Vec<(SplitId, i64)>,
    /// The checkpoint's pending files of this subtask, (re-)committed before reading.
    pub pending_files: Vec<PendingFile>,
}
