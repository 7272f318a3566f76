//! `TriggerCheckpoint` / `CommitCheckpoint`: the master's checkpoint requests, handed to the
//! running task they name, and the proto forms of what they carry.

use weir_connectors::PendingFile;
use weir_core::split::SplitId;
use weir_proto::v1 as pb;

use crate::task::{RestorePoint, TaskError};
use crate::tasks::{TaskTable, split_from_proto};

/// Why a checkpoint request could not be served.
#[derive(Debug, thiserror::Error)]
pub enum CheckpointError {
    #[error("task {0} is not running on this worker")]
    UnknownTask(String),
    #[error("task {task}: {source}")]
    Task { task: String, source: TaskError },
}

/// Takes checkpoint `checkpoint_id` of a running task.
pub async fn trigger(
    tasks: &TaskTable,
    request: pb::TriggerCheckpointRequest,
) -> Result<pb::TriggerCheckpointResponse, CheckpointError> {
    let handle = tasks
        .handle(&request.task_id)
        .ok_or_else(|| CheckpointError::UnknownTask(request.task_id.clone()))?;
    let ack = handle
        .checkpoint(request.checkpoint_id, request.stop)
        .await
        .map_err(|source| CheckpointError::Task {
            task: request.task_id.clone(),
            source,
        })?;
    Ok(pb::TriggerCheckpointResponse {
        offsets: ack.offsets.iter().map(offset_to_proto).collect(),
        pending_files: ack.pending_files.into_iter().map(file_to_proto).collect(),
    })
}

/// Publishes a completed checkpoint of a running task: the files (and positions) the task
/// itself reported for that checkpoint. A request listing other files is refused, logged as a
/// security event naming `caller` (the peer address, when known); the task runs on. The
/// request's offsets are not used: the task commits the positions it reported.
pub async fn commit(
    tasks: &TaskTable,
    request: pb::CommitCheckpointRequest,
    caller: Option<std::net::SocketAddr>,
) -> Result<(), CheckpointError> {
    let handle = tasks
        .handle(&request.task_id)
        .ok_or_else(|| CheckpointError::UnknownTask(request.task_id.clone()))?;
    let result = handle
        .commit(
            request.checkpoint_id,
            request
                .pending_files
                .into_iter()
                .map(file_from_proto)
                .collect(),
        )
        .await;
    if let Err(TaskError::CommitRefused(reason)) = &result {
        let caller = caller.map_or_else(|| "unknown".to_string(), |address| address.to_string());
        tracing::warn!(
            target: "weir::security",
            task = %request.task_id,
            checkpoint_id = request.checkpoint_id,
            %caller,
            %reason,
            "refused a CommitCheckpoint request"
        );
    }
    result.map_err(|source| CheckpointError::Task {
        task: request.task_id.clone(),
        source,
    })
}

pub(crate) fn restore_from_proto(restore: &pb::RestorePoint) -> RestorePoint {
    RestorePoint {
        checkpoint_id: restore.checkpoint_id,
        job_id: restore.job_id.clone(),
        offsets: restore
            .offsets
            .iter()
            .filter_map(offset_from_proto)
            .collect(),
        pending_files: restore
            .pending_files
            .iter()
            .cloned()
            .map(file_from_proto)
            .collect(),
    }
}

fn offset_to_proto((split, offset): &(SplitId, i64)) -> pb::SplitOffset {
    pb::SplitOffset {
        split: Some(pb::Split {
            topic: split.topic.clone(),
            partition: split.partition,
        }),
        offset: *offset,
    }
}

fn offset_from_proto(offset: &pb::SplitOffset) -> Option<(SplitId, i64)> {
    Some((split_from_proto(offset.split.as_ref()?), offset.offset))
}

fn file_to_proto(file: PendingFile) -> pb::PendingFile {
    pb::PendingFile {
        pending_path: file.pending_path,
        final_path: file.final_path,
    }
}

fn file_from_proto(file: pb::PendingFile) -> PendingFile {
    PendingFile {
        pending_path: file.pending_path,
        final_path: file.final_path,
    }
}
