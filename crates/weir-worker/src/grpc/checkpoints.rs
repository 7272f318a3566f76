//! `TriggerCheckpoint` / `CommitCheckpoint`: the master's checkpoint requests, handed to the
//! running task they name. What they carry is converted in `weir_proto::convert`.

use weir_connectors::PendingFile;
use weir_proto::v1 as pb;

use crate::task::TaskError;
use crate::task_table::TaskTable;

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
        offsets: ack.offsets.iter().map(pb::SplitOffset::from).collect(),
        pending_files: ack
            .pending_files
            .into_iter()
            .map(pb::PendingFile::from)
            .collect(),
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
                .map(PendingFile::from)
                .collect(),
        )
        .await;
    if let Err(TaskError::CommitRefused(reason)) = &result {
        let caller = caller.map_or_else(|| "unknown".to_string(), |address| address.to_string());
        tracing::warn!(
            target: weir_core::SECURITY_TARGET,
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
