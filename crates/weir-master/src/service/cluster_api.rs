//! `ClusterService`, for workers: registration, heartbeats, deregistration, task reports.

use super::*;

#[tonic::async_trait]
impl pb::cluster_service_server::ClusterService for ClusterApi {
    async fn register_worker(
        &self,
        request: Request<pb::RegisterWorkerRequest>,
    ) -> Result<Response<pb::RegisterWorkerResponse>, Status> {
        check_claimed_worker(
            request.extensions(),
            &request.get_ref().worker_id,
            "RegisterWorker",
        )?;
        let remote = request.remote_addr();
        let request = request.into_inner();
        if request.worker_id.is_empty() || request.address.is_empty() {
            return Err(Status::invalid_argument(
                "a worker must register with an id and an address",
            ));
        }
        if self.0.worker_tls.is_some() && !request.address.starts_with("https://") {
            return Err(Status::invalid_argument(format!(
                "this master uses TLS: a worker's address must be https://, not {}",
                request.address
            )));
        }
        let registered = self
            .0
            .update(|cluster| {
                if cluster.has_live_stream(&request.worker_id) {
                    return None;
                }
                let session_id = cluster.register_worker(&request);
                Some((session_id, cluster.settings()))
            })
            .await;
        let Some((session_id, settings)) = registered else {
            warn!(target: SECURITY_TARGET, worker = %request.worker_id, remote = ?remote, "refused a registration under the id of a live worker");
            return Err(Status::already_exists(format!(
                "worker '{}' is registered and heartbeating; a second worker cannot take its id",
                request.worker_id
            )));
        };
        self.0.wake_scheduler();
        Ok(Response::new(pb::RegisterWorkerResponse {
            session_id,
            heartbeat_interval_ms: millis(settings.heartbeat_interval),
            heartbeat_timeout_ms: millis(settings.heartbeat_timeout),
        }))
    }

    type HeartbeatStream =
        Pin<Box<dyn tokio_stream::Stream<Item = Result<pb::HeartbeatResponse, Status>> + Send>>;

    async fn heartbeat(
        &self,
        request: Request<Streaming<pb::HeartbeatRequest>>,
    ) -> Result<Response<Self::HeartbeatStream>, Status> {
        let (answers, stream) = mpsc::channel(HEARTBEAT_ANSWERS);
        let master = Arc::clone(&self.0);
        let extensions = request.extensions().clone();
        let shutdown = self.0.shutdown_token();
        // Not under `Master::spawn`: at shutdown it still sends its last answer, then ends.
        self.0.tasks.spawn(answer_heartbeats(
            master,
            extensions,
            request.into_inner(),
            answers,
            shutdown,
        ));
        Ok(Response::new(Box::pin(ReceiverStream::new(stream))))
    }

    async fn deregister_worker(
        &self,
        request: Request<pb::DeregisterWorkerRequest>,
    ) -> Result<Response<pb::DeregisterWorkerResponse>, Status> {
        let request = request.into_inner();
        let was_current = self
            .0
            .update(|cluster| cluster.worker_deregistered(&request.worker_id, &request.session_id))
            .await;
        if was_current {
            self.0.wake_scheduler();
        }
        Ok(Response::new(pb::DeregisterWorkerResponse { was_current }))
    }

    async fn report_task_status(
        &self,
        request: Request<pb::TaskStatusReport>,
    ) -> Result<Response<pb::TaskStatusAck>, Status> {
        check_claimed_worker(
            request.extensions(),
            &request.get_ref().worker_id,
            "ReportTaskStatus",
        )?;
        let remote = request.remote_addr();
        let report = request.into_inner();
        let state = pb::TaskState::try_from(report.state).unwrap_or(pb::TaskState::Unspecified);
        let orders = self
            .0
            .update(|cluster| {
                // A fenced worker's tasks belong to a session the master has ended (and whose
                // subtasks it placed again), and nobody reports for another worker's tasks.
                if let Err(refused) =
                    cluster.check_report(&report.worker_id, &report.session_id, &report.task_id)
                {
                    warn!(target: SECURITY_TARGET, worker = %report.worker_id, task = %report.task_id, remote = ?remote, %refused, "refused a task status report");
                    return Err(Status::permission_denied(format!(
                        "report for task {} refused: {refused}",
                        report.task_id
                    )));
                }
                if let Some(metrics) = report.metrics {
                    cluster.record_final_metrics(&report.task_id, metrics);
                }
                Ok(cluster.task_status(&report.worker_id, &report.task_id, state, &report.message))
            })
            .await?;
        self.0.dispatch(Vec::new(), orders);
        self.0.wake_scheduler();
        Ok(Response::new(pb::TaskStatusAck {}))
    }
}

fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}
