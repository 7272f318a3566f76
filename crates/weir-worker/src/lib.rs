//! A Weir worker: registers with the master, heartbeats its live memory and task metrics, runs
//! the subtasks the master deploys, and pauses intake when memory runs high. A worker that loses
//! its master is fenced: it stops all its tasks (`link`).

mod checkpoints;
pub mod config;
mod link;
pub mod memory;
mod service;
mod session;
pub mod task;
mod tasks;

use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio_stream::wrappers::TcpListenerStream;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::{info, warn};
use weir_proto::v1::cluster_service_client::ClusterServiceClient;
use weir_proto::v1::worker_service_server::WorkerServiceServer;

pub use crate::config::WorkerConfig;
use crate::link::{Identity, Link, MasterReporter};
use crate::memory::{MemoryProbe, Watermarks};
use crate::service::WorkerApi;
use crate::session::CurrentSession;
use crate::tasks::TaskTable;

/// At shutdown, how long the link may take to deregister, then the background tasks to end, then
/// the gRPC server to close its connections, before the worker stops without them.
const SHUTDOWN_WAIT: Duration = Duration::from_secs(10);

#[derive(Debug, thiserror::Error)]
pub enum WorkerError {
    #[error(transparent)]
    Config(#[from] config::InvalidSetting),
    #[error(transparent)]
    Memory(#[from] memory::MemoryError),
    #[error("master address '{address}': {source}")]
    MasterAddress {
        address: String,
        source: tonic::transport::Error,
    },
    #[error("cannot listen on {address}: {source}")]
    Bind {
        address: SocketAddr,
        source: std::io::Error,
    },
    #[error("the gRPC server failed: {0}")]
    Serve(#[from] tonic::transport::Error),
}

/// Runs a worker until `shutdown` completes.
pub async fn run(
    config: WorkerConfig,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), WorkerError> {
    config.validate()?;
    let listener = TcpListener::bind(config.listen)
        .await
        .map_err(|source| WorkerError::Bind {
            address: config.listen,
            source,
        })?;
    run_with_listener(config, listener, shutdown).await
}

/// Runs a worker on an already bound `listener` until `shutdown` completes. The listener's
/// address replaces `config.listen`, so the default worker id and advertised address name the
/// port actually bound (an embedding process such as `weir local` binds port 0).
///
/// At shutdown the worker first deregisters, so that the master places its subtasks elsewhere
/// at once (its session ends with that: it takes no further order), then stops its tasks, ends
/// its background tasks (governor, reporter) and finally its server, each wait bounded by
/// [`SHUTDOWN_WAIT`].
pub async fn run_with_listener(
    mut config: WorkerConfig,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), WorkerError> {
    if let Ok(address) = listener.local_addr() {
        config.listen = address;
    }
    config.validate()?;
    let mut probe = MemoryProbe::new()?;
    let first = probe.sample();
    let memory_limit = match config.memory_limit {
        Some(limit) => limit.0,
        None => memory::default_memory_limit(&first, config.memory_fraction),
    };
    let watermarks = Watermarks::new(memory_limit, config.soft_watermark, config.resume_watermark);
    // Every background task runs under `tracker`; `stopping` ends the governor and the reporter.
    let tracker = TaskTracker::new();
    let stopping = CancellationToken::new();
    let memory = memory::start_governor(
        probe,
        watermarks,
        config.memory_sample_interval,
        &tracker,
        stopping.clone(),
    );

    let identity = Identity {
        worker_id: config.worker_id(),
        address: config.advertised_address(),
        cores: std::thread::available_parallelism()
            .map(|cores| cores.get() as u32)
            .unwrap_or(1),
        memory_limit,
    };
    info!(
        worker = %identity.worker_id,
        listen = %config.listen,
        master = %config.master,
        memory_limit,
        rss = first.process_rss,
        "worker starting"
    );

    let channel =
        link::master_channel(&config.master).map_err(|source| WorkerError::MasterAddress {
            address: config.master.clone(),
            source,
        })?;
    let session = CurrentSession::default();
    let tasks = TaskTable::new(
        identity.worker_id.clone(),
        memory.intake_paused(),
        session.clone(),
        tracker.clone(),
    );
    let reporter = MasterReporter::start(
        ClusterServiceClient::new(channel.clone()),
        &tracker,
        stopping.clone(),
    );
    let leave = CancellationToken::new();
    let link = tracker.spawn(link::run_link(
        Link {
            channel,
            identity,
            memory: memory.clone(),
            tasks: tasks.clone(),
            session: session.clone(),
        },
        leave.clone(),
    ));

    let api = WorkerApi {
        tasks: tasks.clone(),
        status: reporter,
        session,
    };
    let server_stop = CancellationToken::new();
    let serve = tonic::transport::Server::builder()
        .add_service(WorkerServiceServer::new(api))
        .serve_with_incoming_shutdown(
            TcpListenerStream::new(listener),
            server_stop.clone().cancelled_owned(),
        );
    tokio::pin!(serve);
    let failed = tokio::select! {
        result = &mut serve => Some(result),
        () = shutdown => None,
    };

    // Deregister first: the master moves the subtasks now rather than after its heartbeat
    // timeout, and the ended session refuses its orders while the tasks stop.
    leave.cancel();
    if tokio::time::timeout(SHUTDOWN_WAIT, link).await.is_err() {
        warn!(wait = ?SHUTDOWN_WAIT, "the link to the master did not end at shutdown");
    }
    let stopped = tasks.cancel_all().await;
    info!(tasks = stopped, "all tasks stopped");
    stopping.cancel();
    tracker.close();
    if tokio::time::timeout(SHUTDOWN_WAIT, tracker.wait())
        .await
        .is_err()
    {
        warn!(wait = ?SHUTDOWN_WAIT, "background tasks still running at shutdown; stopping without them");
    }
    let result = match failed {
        Some(result) => result,
        None => {
            server_stop.cancel();
            tokio::time::timeout(SHUTDOWN_WAIT, &mut serve)
                .await
                .unwrap_or_else(|_| {
                    warn!(wait = ?SHUTDOWN_WAIT, "connections still open at shutdown; stopping without them");
                    Ok(())
                })
        }
    };
    match &result {
        Ok(()) => info!("worker stopped"),
        Err(error) => warn!(%error, "worker stopped with an error"),
    }
    result.map_err(WorkerError::from)
}
