//! `WorkerService`: what the master asks of this worker. Every order but a cancel must be
//! addressed to the worker's current session (`crate::session`).

mod checkpoints;

use std::sync::Arc;

use tonic::{Request, Response, Status};
use weir_proto::v1 as pb;

use crate::session::CurrentSession;
use crate::task_table::{DeployError, StatusSink, TaskTable};

pub struct WorkerApi {
    pub tasks: TaskTable,
    pub status: Arc<dyn StatusSink>,
    pub session: CurrentSession,
}

#[tonic::async_trait]
impl pb::worker_service_server::WorkerService for WorkerApi {
    async fn deploy_task(
        &self,
        request: Request<pb::DeployTaskRequest>,
    ) -> Result<Response<pb::DeployTaskResponse>, Status> {
        let session = self.session.check(&request).await?;
        self.tasks
            .deploy(request.into_inner(), session, Arc::clone(&self.status))
            .map_err(|error| match error {
                DeployError::Duplicate(_) => Status::already_exists(error.to_string()),
                DeployError::SessionEnded { .. } => Status::failed_precondition(error.to_string()),
                DeployError::Config { .. } | DeployError::Malformed { .. } => {
                    Status::invalid_argument(error.to_string())
                }
                DeployError::Start { .. } => Status::internal(error.to_string()),
            })?;
        Ok(Response::new(pb::DeployTaskResponse {}))
    }

    async fn add_splits(
        &self,
        request: Request<pb::AddSplitsRequest>,
    ) -> Result<Response<pb::AddSplitsResponse>, Status> {
        self.session.check(&request).await?;
        self.tasks
            .add_splits(request.into_inner())
            .map_err(|error| Status::failed_precondition(error.to_string()))?;
        Ok(Response::new(pb::AddSplitsResponse {}))
    }

    /// Served whatever session it names: stopping a task is never unsafe.
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
        let session = self.session.check(&request).await?;
        let ack = checkpoints::trigger(&self.tasks, request.into_inner())
            .await
            .map_err(checkpoint_status)?;
        // A barrier takes a while: a worker fenced meanwhile acknowledges nothing.
        if !self.session.is(&session) {
            return Err(Status::failed_precondition(format!(
                "worker session {session} ended while the checkpoint was taken; no acknowledgement"
            )));
        }
        Ok(Response::new(ack))
    }

    async fn commit_checkpoint(
        &self,
        request: Request<pb::CommitCheckpointRequest>,
    ) -> Result<Response<pb::CommitCheckpointResponse>, Status> {
        self.session.check(&request).await?;
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
