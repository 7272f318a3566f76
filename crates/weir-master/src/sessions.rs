//! The master's side of worker sessions: every call to a worker names the session it is
//! addressed to ([`SessionStamp`]), and every heartbeat is answered with what the master makes of
//! the session it names ([`answer_heartbeats`]). See "Fencing" in `docs/architecture.md`.

use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tonic::metadata::MetadataValue;
use tonic::service::Interceptor;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::Channel;
use tonic::{Request, Status, Streaming};
use tracing::debug;
use weir_proto::SESSION_METADATA;
use weir_proto::v1 as pb;
use weir_proto::v1::worker_service_client::WorkerServiceClient;

use crate::cluster::Cluster;
use crate::service::Master;

/// Heartbeat answers waiting to be sent on one stream. A worker takes each as it comes, so more
/// than a few means it stopped reading; later answers are then dropped (it fences itself for
/// want of answers, and its silence expires it here).
pub(crate) const HEARTBEAT_ANSWERS: usize = 4;

/// The cluster model, shared with the session stamps of the worker clients.
pub(crate) type SharedCluster = Arc<Mutex<Cluster>>;

pub(crate) fn lock(cluster: &SharedCluster) -> MutexGuard<'_, Cluster> {
    // Its methods never await, so holding the guard briefly is fine; a panic while holding it
    // leaves a model that is still consistent per operation, so a poisoned lock is taken over
    // rather than propagated.
    cluster.lock().unwrap_or_else(PoisonError::into_inner)
}

/// A client of one worker's `WorkerService` whose calls name the worker's session.
pub(crate) type WorkerClient = WorkerServiceClient<InterceptedService<Channel, SessionStamp>>;

/// Addresses a call to the current session of the worker at `address` (unless the caller named
/// a session already): the worker refuses it if that is not its own current session, so an
/// order of the master never reaches a worker that was fenced or registered again since. A
/// worker the master holds DEAD gets no session, and refuses.
#[derive(Clone)]
pub(crate) struct SessionStamp {
    cluster: SharedCluster,
    address: String,
}

impl SessionStamp {
    pub(crate) fn new(cluster: SharedCluster, address: &str) -> Self {
        Self {
            cluster,
            address: address.to_string(),
        }
    }
}

impl Interceptor for SessionStamp {
    fn call(&mut self, mut request: Request<()>) -> Result<Request<()>, Status> {
        if request.metadata().contains_key(SESSION_METADATA) {
            return Ok(request);
        }
        let session = lock(&self.cluster).live_session_at(&self.address);
        if let Some(value) = session.and_then(|id| MetadataValue::try_from(id.as_str()).ok()) {
            request.metadata_mut().insert(SESSION_METADATA, value);
        }
        Ok(request)
    }
}

/// Answers each heartbeat of one worker's stream with what the master makes of its session, until
/// the stream ends or the master shuts down. The end of the stream (the worker's connection
/// closed or broke) declares the worker dead at once; a beat of an ended session is answered
/// SUPERSEDED, which fences the worker.
pub(crate) async fn answer_heartbeats(
    master: Arc<Master>,
    extensions: tonic::Extensions,
    mut beats: Streaming<pb::HeartbeatRequest>,
    answers: mpsc::Sender<Result<pb::HeartbeatResponse, Status>>,
    shutdown: CancellationToken,
) {
    let answer = |status: pb::SessionStatus, message: String, sequence: u64| {
        Ok(pb::HeartbeatResponse {
            status: status as i32,
            message,
            sequence,
        })
    };
    let mut identity: Option<(String, String)> = None;
    let cause = loop {
        let next = tokio::select! {
            () = shutdown.cancelled() => {
                let message = "the master is shutting down".to_string();
                let stopping = answer(pb::SessionStatus::MasterStopping, message, 0);
                let _ = answers.try_send(stopping);
                return;
            }
            next = beats.message() => next,
        };
        match next {
            Ok(Some(beat)) => {
                // With TLS, the worker id comes from the peer's certificate.
                if let Err(refused) =
                    weir_auth::check_claimed_worker(&extensions, &beat.worker_id, "Heartbeat")
                {
                    let _ = answers.try_send(Err(refused));
                    return;
                }
                let outcome = master.cluster().heartbeat(&beat);
                if let Err(stale) = outcome {
                    let status = pb::SessionStatus::Superseded;
                    let _ = answers.try_send(answer(status, stale.to_string(), beat.sequence));
                    return;
                }
                // Never wait on a worker that does not read its answers: it fences itself
                // when they stop coming, and its silence expires it here.
                let current = answer(pb::SessionStatus::Current, String::new(), beat.sequence);
                identity = Some((beat.worker_id, beat.session_id));
                if let Err(mpsc::error::TrySendError::Closed(_)) = answers.try_send(current) {
                    break "its heartbeat stream was dropped".to_string();
                }
            }
            Ok(None) => break "its heartbeat stream ended".to_string(),
            Err(status) => break format!("its heartbeat stream broke ({})", status.message()),
        }
    };
    if let Some((worker_id, session_id)) = identity {
        debug!(worker = %worker_id, %cause, "heartbeat stream closed");
        master
            .cluster()
            .worker_lost(&worker_id, &session_id, &cause);
        master.wake_scheduler();
    }
}
