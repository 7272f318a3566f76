//! `WorkerService`: what the master asks of this worker.

use std::sync::Arc;

use tonic::{Request, Response, Status};
use weir_proto::v1 as pb;

use crate::checkpoints;
use crate::tasks::{DeployError, StatusSink, TaskTable};

pub struct WorkerApi {
    pub tasks: TaskTable,
    pub status: Arc<dyn StatusSink>,
}

#[tonic::async_trait]
impl pb::worker_service_server::WorkerService for WorkerApi {
    async fn deploy_task(
        &self,
        request: Request<pb::DeployTaskRequest>,
    ) -> Result<Response<pb::DeployTaskResponse>, Status> {
        self.tasks
            .deploy(request.into_inner(), Arc::clone(&self.status))
            .map_err(|error| match error {
                DeployError::Duplicate(_) => Status::already_exists(error.to_string()),
                DeployError::Config { .. } => Status::invalid_argument(error.to_string()),
                DeployError::Start { .. } => Status::internal(error.to_string()),
            })?;
        Ok(Response::new(pb::DeployTaskResponse {}))
    }

    async fn add_splits(
        &self,
        request: Request<pb::AddSplitsRequest>,
    ) -> Result<Response<pb::AddSplitsResponse>, Status> {
        self.tasks
            .add_splits(request.into_inner())
            .map_err(|error| Status::failed_precondition(error.to_string()))?;
        Ok(Response::new(pb::AddSplitsResponse {}))
    }

    async fn cancel_task(
        &self,
        request: Request<pb::CancelTaskRequest>,
    ) -> Result<Response<pb::CancelTaskResponse>, Status> {
        let request = request.into_inner();
        let was_running = self
            .tasks
            .cancel(&request.task_id, request.discard_uncommitted)
            .await;
        Ok(Response::new(pb::CancelTaskResponse { was_running }))
    }

    async fn trigger_checkpoint(
        &self,
        request: Request<pb::TriggerCheckpointRequest>,
    ) -> Result<Response<pb::TriggerCheckpointResponse>, Status> {
        checkpoints::trigger(&self.tasks, request.into_inner())
            .await
            .map(Response::new)
            .map_err(checkpoint_status)
    }

    async fn commit_checkpoint(
        &self,
        request: Request<pb::CommitCheckpointRequest>,
    ) -> Result<Response<pb::CommitCheckpointResponse>, Status> {
        let caller = request.remote_addr();
        checkpoints::commit(&self.tasks, request.into_inner(), caller)
            .await
            .map_err(checkpoint_status)?;
        Ok(Response::new(pb::CommitCheckpointResponse {}))
    }
}

fn checkpoint_status(error: checkpoints::CheckpointError) -> Status {
    match error {
        checkpoints::CheckpointError::UnknownTask(_) => Status::not_found(error.to_string()),
        checkpoints::CheckpointError::Task {
            source: crate::task::TaskError::CommitRefused(_),
            ..
        } => Status::permission_denied(error.to_string()),
        checkpoints::CheckpointError::Task { .. } => Status::aborted(error.to_string()),
    }
}
