//! A Weir worker: registers with the master, heartbeats its live memory and task metrics, runs
//! the subtasks the master deploys, and pauses intake when memory runs high.

mod checkpoints;
pub mod config;
mod http;
mod link;
pub mod memory;
mod service;
pub mod task;
mod tasks;

use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio_stream::wrappers::TcpListenerStream;
use tracing::info;
use weir_proto::v1::cluster_service_client::ClusterServiceClient;
use weir_proto::v1::worker_service_server::WorkerServiceServer;

pub use crate::config::WorkerConfig;
use crate::link::{Identity, MasterReporter};
use crate::memory::{MemoryProbe, Watermarks};
use crate::service::WorkerApi;
use crate::tasks::TaskTable;

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
    #[error(transparent)]
    Http(#[from] weir_http::HttpError),
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
    let memory_limit = match &config.memory_limit {
        // `validate` checked that it parses.
        Some(limit) => weir_core::bytesize::parse_bytes(limit).unwrap_or_default(),
        None => memory::default_memory_limit(&first, config.memory_fraction),
    };
    let watermarks = Watermarks::new(memory_limit, config.soft_watermark, config.resume_watermark);
    let memory = memory::start_governor(
        probe,
        watermarks,
        Duration::from_millis(config.memory_sample_interval_ms),
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
    let tasks = TaskTable::new(identity.worker_id.clone(), memory.intake_paused());
    let reporter = MasterReporter::start(ClusterServiceClient::new(channel.clone()));
    let registration = http::Registration::default();
    let http_view = http::WorkerView {
        memory: memory.clone(),
        memory_limit,
        watermarks,
        tasks: tasks.clone(),
        registration: registration.clone(),
    };
    let http = http::start(config.http, http_view).await?;
    let link = tokio::spawn(link::run_link(
        channel,
        identity,
        memory.clone(),
        tasks.clone(),
        registration,
    ));

    let api = WorkerApi {
        tasks: tasks.clone(),
        status: reporter,
    };
    let result = tonic::transport::Server::builder()
        .add_service(WorkerServiceServer::new(api))
        .serve_with_incoming_shutdown(TcpListenerStream::new(listener), shutdown)
        .await;
    link.abort();
    tasks.cancel_all().await;
    if let Some(http) = http {
        http.stop(Duration::from_secs(2)).await;
    }
    result.map_err(WorkerError::from)
}
