//! `TriggerCheckpoint` / `CommitCheckpoint`: the master's checkpoint requests, handed to the
//! running task they name. What they carry is converted in `weir_proto::convert`.

use weir_connectors::PendingFile;
use weir_proto::convert::{ConvertError, offsets_from_proto};
use weir_proto::v1 as pb;

use crate::task::TaskError;
use crate::tasks::TaskTable;

/// Why a checkpoint request could not be served.
#[derive(Debug, thiserror::Error)]
pub enum CheckpointError {
    #[error("task {0} is not running on this worker")]
    UnknownTask(String),
    #[error("task {task}: {source}")]
    Task { task: String, source: TaskError },
    #[error("checkpoint request for task {task}: {source}")]
    Malformed { task: String, source: ConvertError },
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
        offsets: ack.offsets.iter().map(pb::SplitOffset::from).collect(),
        pending_files: ack
            .pending_files
            .into_iter()
            .map(pb::PendingFile::from)
            .collect(),
    })
}

/// Publishes a completed checkpoint of a running task.
pub async fn commit(
    tasks: &TaskTable,
    request: pb::CommitCheckpointRequest,
) -> Result<(), CheckpointError> {
    let handle = tasks
        .handle(&request.task_id)
        .ok_or_else(|| CheckpointError::UnknownTask(request.task_id.clone()))?;
    let offsets =
        offsets_from_proto(&request.offsets).map_err(|source| CheckpointError::Malformed {
            task: request.task_id.clone(),
            source,
        })?;
    handle
        .commit(
            request.checkpoint_id,
            request
                .pending_files
                .into_iter()
                .map(PendingFile::from)
                .collect(),
            offsets,
        )
        .await
        .map_err(|source| CheckpointError::Task {
            task: request.task_id.clone(),
            source,
        })
}
