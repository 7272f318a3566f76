//! The master's gRPC services: `JobService` for clients, `ClusterService` for workers, and the
//! dispatch of deployments and cancellations to workers' `WorkerService`.

mod cluster_api;

use std::collections::HashMap;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use tokio::sync::{Notify, Semaphore, mpsc};
use tokio_stream::wrappers::ReceiverStream;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tonic::metadata::MetadataValue;
use tonic::transport::Endpoint;
use tonic::{Request, Response, Status, Streaming};
use tracing::{debug, warn};
use weir_auth::{LoadedTls, SECURITY_TARGET, check_claimed_worker};
use weir_core::config::{ConfigError, JobConfig, ParsePolicy, SourceConfig, limits, parse_job};
use weir_proto::SESSION_METADATA;
use weir_proto::v1 as pb;
use weir_proto::v1::worker_service_client::WorkerServiceClient;

use crate::cluster::{CancelOrder, Cluster, Deployment, SplitLister, SplitUpdate, StopError};
use crate::plan::plan_for;
use crate::sessions::{
    HEARTBEAT_ANSWERS, SessionStamp, SharedCluster, WorkerClient, answer_heartbeats, lock,
};
use crate::store::JobStore;

/// How long the master waits for a worker to take a deployment, stop a task or add splits.
/// Checkpoint barriers wait for the job's `env.checkpoint.timeout` instead, which may be longer:
/// that is why the worker clients carry no timeout of their own and each call sets its bound.
const WORKER_CALL_TIMEOUT: Duration = Duration::from_secs(15);

/// How long a submission waits for the first listing of its splits before answering.
const FIRST_LISTING_WAIT: Duration = Duration::from_secs(15);
/// First and largest pause between failed listings of a job's splits.
const LISTING_BACKOFF: (Duration, Duration) = (Duration::from_secs(1), Duration::from_secs(30));
/// First and largest pause between failed attempts to add discovered splits to a task.
const ADD_SPLITS_BACKOFF: (Duration, Duration) =
    (Duration::from_millis(500), Duration::from_secs(30));

/// Bounds a control call to a worker by [`WORKER_CALL_TIMEOUT`].
async fn within_call_timeout<T>(
    call: impl Future<Output = Result<T, Status>>,
) -> Result<T, Status> {
    tokio::time::timeout(WORKER_CALL_TIMEOUT, call)
        .await
        .unwrap_or_else(|_| {
            Err(Status::deadline_exceeded(format!(
                "the worker did not answer within {} s",
                WORKER_CALL_TIMEOUT.as_secs()
            )))
        })
}

/// HTTP/2 keepalive of the master's connections to workers: a worker whose connection stops
/// answering pings is noticed by calls in flight (a checkpoint barrier would otherwise wait for
/// its whole `checkpoint.timeout`).
const WORKER_KEEPALIVE: (Duration, Duration) = (Duration::from_secs(5), Duration::from_secs(5));
/// State shared by the services and the scheduler loop.
pub struct Master {
    cluster: SharedCluster,
    /// Where job records are written, off the lock (`crate::persist`).
    pub(crate) store: Arc<dyn JobStore>,
    /// Wakes the scheduler loop when capacity or demand changed.
    wake: Notify,
    /// Wakes the checkpoint coordinator (a stop was requested).
    pub(crate) wake_checkpoints: Notify,
    /// Clients of workers' `WorkerService`, by (worker id, address).
    worker_clients: Mutex<HashMap<(String, String), WorkerClient>>,
    /// With TLS: the master's certificate, presented to workers, and the CA their certificates
    /// are verified against (each by its worker id).
    worker_tls: Option<LoadedTls>,
    /// Every background task of the master, waited for at shutdown.
    tasks: TaskTracker,
    /// Fires when the master shuts down; ends every task of [`Master::spawn`].
    shutdown: CancellationToken,
}

impl Master {
    pub fn new(
        cluster: Cluster,
        store: Arc<dyn JobStore>,
        worker_tls: Option<LoadedTls>,
    ) -> Arc<Self> {
        Arc::new(Self {
            cluster: Arc::new(Mutex::new(cluster)),
            store,
            wake: Notify::new(),
            wake_checkpoints: Notify::new(),
            worker_clients: Mutex::new(HashMap::new()),
            tasks: TaskTracker::new(),
            shutdown: CancellationToken::new(),
            worker_tls,
        })
    }

    /// The cluster model. Its methods never await, so holding the guard briefly is fine; a
    /// panic while holding it leaves a model that is still consistent per operation, so a
    /// poisoned lock is taken over rather than propagated. Changes go through
    /// [`Master::update`], which writes the records they changed; the guard itself is for
    /// reads and for changes no record holds (heartbeats).
    pub fn cluster(&self) -> MutexGuard<'_, Cluster> {
        lock(&self.cluster)
    }

    /// Runs `task` in the background until it ends or the master shuts down, whichever comes
    /// first; [`Master::stopped`] waits for it.
    pub(crate) fn spawn(&self, task: impl Future<Output = ()> + Send + 'static) {
        let shutdown = self.shutdown.clone();
        self.tasks.spawn(async move {
            tokio::select! {
                () = shutdown.cancelled() => {}
                () = task => {}
            }
        });
    }

    /// Spawns a tracked task whose result the caller awaits (checkpoint rounds); it is waited
    /// for at shutdown like every other task.
    pub(crate) fn spawn_tracked<T: Send + 'static>(
        &self,
        task: impl Future<Output = T> + Send + 'static,
    ) -> tokio::task::JoinHandle<T> {
        self.tasks.spawn(task)
    }

    /// Fires when the master shuts down.
    pub(crate) fn shutdown_token(&self) -> CancellationToken {
        self.shutdown.clone()
    }

    /// Ends every background task and waits for them, at most `bound`. False if some did not
    /// end in time.
    pub(crate) async fn stopped(&self, bound: Duration) -> bool {
        self.shutdown.cancel();
        self.tasks.close();
        tokio::time::timeout(bound, self.tasks.wait()).await.is_ok()
    }

    /// Expires silent workers and places waiting work, until the master shuts down (it runs
    /// under [`Master::spawn`]).
    pub async fn run_scheduler(self: Arc<Self>, tick: Duration) {
        loop {
            tokio::select! {
                _ = self.wake.notified() => {}
                _ = tokio::time::sleep(tick) => {}
            }
            let now = Instant::now();
            // Also writes records whose earlier write failed.
            let deployments = self
                .update(|cluster| {
                    cluster.expire_silent_workers(now);
                    cluster.schedule(now)
                })
                .await;
            self.dispatch(deployments, Vec::new());
        }
    }

    /// Starts listing the splits of every restored job that needs it.
    pub fn start_split_listers(self: &Arc<Self>) {
        let listers = self.cluster().pending_split_listers();
        for (job_id, lister) in listers {
            self.spawn(Arc::clone(self).run_split_lister(job_id, lister, None));
        }
    }

    /// Lists a job's splits until it has them (retrying with backoff while the source is
    /// unreachable), then keeps discovering added ones if the source asks for it. Ends when the
    /// job ends. `first_done` fires after the first attempt, whatever its result.
    async fn run_split_lister(
        self: Arc<Self>,
        job_id: String,
        lister: Arc<dyn SplitLister>,
        mut first_done: Option<tokio::sync::oneshot::Sender<()>>,
    ) {
        let mut backoff = LISTING_BACKOFF.0;
        loop {
            let result = lister.list().await;
            let listing = self
                .update(|cluster| {
                    cluster.split_lister(&job_id)?;
                    Some(match result {
                        Ok(splits) => (cluster.splits_listed(&job_id, splits), Vec::new(), true),
                        Err(error) => {
                            warn!(job = %job_id, source = %lister.describe(), error = %error, "cannot list splits");
                            let cancels = cluster.splits_unlisted(&job_id, &error, backoff);
                            (Vec::new(), cancels, false)
                        }
                    })
                })
                .await;
            let Some((updates, cancels, listed)) = listing else {
                return;
            };
            if let Some(done) = first_done.take() {
                let _ = done.send(());
            }
            self.dispatch(Vec::new(), cancels);
            self.send_split_updates(updates);
            self.wake_scheduler();
            let pause = if listed {
                backoff = LISTING_BACKOFF.0;
                match lister.discovery_interval() {
                    Some(interval) => interval,
                    None => return,
                }
            } else {
                let pause = backoff;
                backoff = (backoff * 2).min(LISTING_BACKOFF.1);
                pause
            };
            tokio::time::sleep(pause).await;
        }
    }

    fn send_split_updates(self: &Arc<Self>, updates: Vec<SplitUpdate>) {
        for update in updates {
            let master = Arc::clone(self);
            self.spawn(async move { master.add_splits(update).await });
        }
    }

    /// Sends one subtask its discovered splits and new read-limit share. The cluster counts
    /// the splits as assigned already, so a failed call is retried with backoff (with every
    /// split of the subtask and its share as they are then) until it lands, or until the task
    /// is no longer the subtask's current attempt — a new attempt is deployed with all its
    /// splits — or the job ends.
    async fn add_splits(&self, mut update: SplitUpdate) {
        let mut backoff = ADD_SPLITS_BACKOFF.0;
        loop {
            let task_id = update.request.task_id.clone();
            let result = match self.client(&update.worker_id, &update.address) {
                Ok(mut client) => within_call_timeout(client.add_splits(update.request))
                    .await
                    .map(|_| ()),
                Err(status) => Err(status),
            };
            let Err(status) = result else {
                return;
            };
            warn!(task = %task_id, worker = %update.worker_id, error = %status.message(), retry_in = ?backoff, "could not add splits to a running task; retrying");
            tokio::time::sleep(backoff).await;
            backoff = (backoff * 2).min(ADD_SPLITS_BACKOFF.1);
            match self.cluster().split_update_retry(&task_id) {
                Some(next) => update = next,
                None => {
                    debug!(task = %task_id, "no longer the current attempt of a live job; splits not re-sent");
                    return;
                }
            }
        }
    }

    pub(crate) fn wake_checkpoints(&self) {
        self.wake_checkpoints.notify_one();
    }

    pub(crate) fn wake_scheduler(&self) {
        self.wake.notify_one();
    }

    /// A client of worker `worker_id`'s `WorkerService` at `address`. With TLS the worker
    /// must present a certificate for `worker_id`: another worker's address cannot stand in.
    pub(crate) fn client(&self, worker_id: &str, address: &str) -> Result<WorkerClient, Status> {
        let mut clients = self
            .worker_clients
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let key = (worker_id.to_string(), address.to_string());
        if let Some(client) = clients.get(&key) {
            return Ok(client.clone());
        }
        let mut endpoint = Endpoint::from_shared(address.to_string())
            .map_err(|error| {
                Status::invalid_argument(format!("worker address {address}: {error}"))
            })?
            .connect_timeout(Duration::from_secs(3))
            .http2_keep_alive_interval(WORKER_KEEPALIVE.0)
            .keep_alive_timeout(WORKER_KEEPALIVE.1);
        if let Some(tls) = &self.worker_tls {
            endpoint = endpoint
                .tls_config(tls.client_config(worker_id))
                .map_err(|error| {
                    Status::invalid_argument(format!("TLS to worker {worker_id}: {error}"))
                })?;
        }
        let stamp = SessionStamp::new(Arc::clone(&self.cluster), address);
        let client = WorkerServiceClient::with_interceptor(endpoint.connect_lazy(), stamp);
        clients.insert(key, client.clone());
        Ok(client)
    }

    pub(crate) fn dispatch(
        self: &Arc<Self>,
        deployments: Vec<Deployment>,
        cancels: Vec<CancelOrder>,
    ) {
        for deployment in deployments {
            let master = Arc::clone(self);
            self.spawn(async move { master.deploy(deployment).await });
        }
        for order in cancels {
            let master = Arc::clone(self);
            self.spawn(async move { master.cancel_task(order).await });
        }
    }

    async fn deploy(&self, deployment: Deployment) {
        let task_id = deployment.request.task_id.clone();
        // Addressed to the session the subtask was placed under, not to whatever registration
        // the worker has when the call leaves: a worker that registered again since must not
        // start an attempt the master already counts as lost.
        let Some(session) = self
            .cluster()
            .deployment_session(&deployment.worker_id, &task_id)
        else {
            debug!(task = %task_id, worker = %deployment.worker_id, "not deployed: superseded before it was sent");
            return;
        };
        let mut request = Request::new(deployment.request);
        if let Ok(value) = MetadataValue::try_from(session.as_str()) {
            request.metadata_mut().insert(SESSION_METADATA, value);
        }
        let result = match self.client(&deployment.worker_id, &deployment.address) {
            Ok(mut client) => within_call_timeout(client.deploy_task(request))
                .await
                .map(|_| ()),
            Err(status) => Err(status),
        };
        if let Err(status) = result {
            warn!(task = %task_id, worker = %deployment.worker_id, error = %status.message(), "deployment failed");
            self.update(|cluster| cluster.deployment_failed(&task_id, status.message()))
                .await;
            self.wake_scheduler();
        }
    }

    async fn cancel_task(&self, order: CancelOrder) {
        let request = pb::CancelTaskRequest {
            task_id: order.task_id.clone(),
            discard_uncommitted: order.discard_uncommitted,
        };
        let result = match self.client(&order.worker_id, &order.address) {
            Ok(mut client) => within_call_timeout(client.cancel_task(request)).await,
            Err(status) => Err(status),
        };
        match result {
            // The worker answers once the task has stopped, so its reservation is free now.
            Ok(_) => {
                self.update(|cluster| {
                    cluster.task_status(
                        &order.worker_id,
                        &order.task_id,
                        pb::TaskState::Cancelled,
                        "",
                    )
                })
                .await;
                self.wake_scheduler();
            }
            // An unreachable worker is declared dead by the heartbeat timeout, which ends the
            // task's reservation too.
            Err(status) => {
                warn!(task = %order.task_id, worker = %order.worker_id, error = %status.message(), "cancel failed")
            }
        }
    }
}

/// `JobService`, for clients.
#[derive(Clone)]
pub struct JobApi(pub Arc<Master>);

/// `ClusterService`, for workers.
#[derive(Clone)]
pub struct ClusterApi(pub Arc<Master>);

/// A job's name when neither the request nor `env.job.name` gives one: the job file's stem.
fn default_name(origin: &str) -> String {
    std::path::Path::new(origin)
        .file_stem()
        .map(|stem| stem.to_string_lossy().into_owned())
        .filter(|stem| !stem.is_empty())
        .unwrap_or_else(|| "job".to_string())
}

/// Longest `origin` a submission keeps (it names the job text in errors and logs).
const MAX_ORIGIN_CHARS: usize = 256;

/// Parses submitted job text off the async runtime: no environment, no files
/// ([`ParsePolicy::SelfContained`]), at most [`limits::MAX_CONCURRENT_PARSES`] at a time, and
/// refused after [`limits::PARSE_TIME_LIMIT`] (waiting for a slot included). The parse
/// itself is bounded by the limits of [`limits`]; the time limit catches what they miss.
async fn parse_submitted(text: String, origin: String) -> Result<(JobConfig, String), Status> {
    static PARSES: Semaphore = Semaphore::const_new(limits::MAX_CONCURRENT_PARSES);
    let parse = async {
        let slot = PARSES
            .acquire()
            .await
            .map_err(|_| Status::unavailable("the master is shutting down"))?;
        let origin = origin.clone();
        tokio::task::spawn_blocking(move || {
            // Held until the parse ends, even when the caller gave up waiting for it.
            let _slot = slot;
            let parsed = parse_job(&text, &origin, &ParsePolicy::SelfContained);
            // Options of the file Weir accepts but does not apply (e.g. `env.spark.*`).
            for warning in parsed.iter().flat_map(|config| &config.warnings) {
                tracing::warn!("{warning}");
            }
            parsed.map(|config| (config, text))
        })
        .await
        .map_err(|error| Status::internal(format!("the job parser failed: {error}")))?
        .map_err(|error| match error {
            ConfigError::Internal { .. } => Status::internal(error.to_string()),
            error => Status::invalid_argument(error.to_string()),
        })
    };
    tokio::time::timeout(limits::PARSE_TIME_LIMIT, parse)
        .await
        .unwrap_or_else(|_| {
            Err(Status::invalid_argument(format!(
                "{origin}: the job text was not parsed within {} s (the limit), so it is \
                 refused; job files this slow to parse are far larger or more convoluted than \
                 any job needs",
                limits::PARSE_TIME_LIMIT.as_secs()
            )))
        })
}

#[tonic::async_trait]
impl pb::job_service_server::JobService for JobApi {
    async fn submit_job(
        &self,
        request: Request<pb::SubmitJobRequest>,
    ) -> Result<Response<pb::SubmitJobResponse>, Status> {
        let request = request.into_inner();
        let origin = match request.origin.char_indices().nth(MAX_ORIGIN_CHARS) {
            _ if request.origin.is_empty() => "<submitted job>".to_string(),
            Some((end, _)) => format!("{}…", &request.origin[..end]),
            None => request.origin,
        };
        let (config, text) = parse_submitted(request.config, origin.clone()).await?;
        // What the workers' librdkafka would refuse is refused now, not when a subtask starts
        // (`weir validate` and `weir submit` say the same first).
        if let SourceConfig::Kafka(kafka) = &config.source {
            weir_connectors::kafka::check_client_properties_of_job(kafka, &text, &origin)
                .map_err(Status::invalid_argument)?;
        }
        let plan = plan_for(&config);
        let name = if !request.name.is_empty() {
            request.name
        } else if let Some(name) = config.env.job_name.clone().filter(|name| !name.is_empty()) {
            name
        } else {
            default_name(&origin)
        };
        let mut record = Cluster::new_record(name, text, origin);
        if !request.restore_from_job_id.is_empty() {
            record.checkpoints = self
                .0
                .cluster()
                .restore_source(&request.restore_from_job_id)
                .map_err(Status::failed_precondition)?;
        }
        let job_id = record.id.clone();
        let lister = plan.split_lister.clone();
        // Accepted only once it survives a restart.
        self.0.write_new_job(&record).await.map_err(|error| {
            Status::unavailable(format!(
                "job {job_id} could not be recorded in the job store: {error}"
            ))
        })?;
        self.0.cluster().submit(record, plan);
        if let Some(lister) = lister {
            // Answer with the outcome of the first listing: a missing topic fails the
            // submission at once, an unreachable broker leaves the job waiting with the error.
            let (done, first_listing) = tokio::sync::oneshot::channel();
            let master = Arc::clone(&self.0);
            self.0
                .spawn(master.run_split_lister(job_id.clone(), lister, Some(done)));
            let _ = tokio::time::timeout(FIRST_LISTING_WAIT, first_listing).await;
        }
        let (outcome, deployments) = self
            .0
            .update(|cluster| {
                let deployments = cluster.schedule(Instant::now());
                (cluster.submission_outcome(&job_id), deployments)
            })
            .await;
        self.0.dispatch(deployments, Vec::new());
        let (state, reason) =
            outcome.map_err(|rejected| Status::resource_exhausted(rejected.to_string()))?;
        Ok(Response::new(pb::SubmitJobResponse {
            job_id,
            state: pb::JobState::from(state) as i32,
            state_reason: reason,
        }))
    }

    async fn list_jobs(
        &self,
        _request: Request<pb::ListJobsRequest>,
    ) -> Result<Response<pb::ListJobsResponse>, Status> {
        let jobs = self.0.cluster().job_summaries();
        Ok(Response::new(pb::ListJobsResponse { jobs }))
    }

    async fn get_job(
        &self,
        request: Request<pb::GetJobRequest>,
    ) -> Result<Response<pb::JobDetail>, Status> {
        let job_id = request.into_inner().job_id;
        self.0
            .cluster()
            .job_detail(&job_id)
            .map(Response::new)
            .ok_or_else(|| Status::not_found(format!("no job with id {job_id}")))
    }

    async fn cancel_job(
        &self,
        request: Request<pb::CancelJobRequest>,
    ) -> Result<Response<pb::CancelJobResponse>, Status> {
        let job_id = request.into_inner().job_id;
        let (state, orders) = self
            .0
            .update(|cluster| cluster.cancel(&job_id))
            .await
            .ok_or_else(|| Status::not_found(format!("no job with id {job_id}")))?;
        self.0.dispatch(Vec::new(), orders);
        self.0.wake_scheduler();
        Ok(Response::new(pb::CancelJobResponse {
            state: pb::JobState::from(state) as i32,
        }))
    }

    async fn stop_job(
        &self,
        request: Request<pb::StopJobRequest>,
    ) -> Result<Response<pb::StopJobResponse>, Status> {
        let job_id = request.into_inner().job_id;
        let state = self
            .0
            .update(|cluster| cluster.request_stop(&job_id))
            .await
            .map_err(|error| match error {
                StopError::UnknownJob(_) => Status::not_found(error.to_string()),
                StopError::NotLive { .. } => Status::failed_precondition(error.to_string()),
            })?;
        self.0.wake_checkpoints();
        Ok(Response::new(pb::StopJobResponse {
            state: pb::JobState::from(state) as i32,
        }))
    }

    async fn list_workers(
        &self,
        _request: Request<pb::ListWorkersRequest>,
    ) -> Result<Response<pb::ListWorkersResponse>, Status> {
        let workers = self.0.cluster().worker_summaries(Instant::now());
        Ok(Response::new(pb::ListWorkersResponse { workers }))
    }
}
