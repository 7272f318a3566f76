//! The Weir master: registers workers and watches their heartbeats, admits jobs where their
//! memory fits, deploys subtasks, and keeps jobs in an embedded store across restarts.
//!
//! See `docs/architecture.md` for the job lifecycle and the admission rule.

pub mod checkpoint;
mod checkpoint_store;
pub mod cluster;
pub mod config;
mod coordinator;
mod http;
pub mod job_state;
mod kafka;
pub mod placement;
mod plan;
mod service;
pub mod store;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio_stream::wrappers::TcpListenerStream;
use tracing::{info, warn};
use weir_proto::v1::cluster_service_server::ClusterServiceServer;
use weir_proto::v1::job_service_server::JobServiceServer;

use crate::checkpoint_store::CheckpointStorage;
use crate::cluster::{Cluster, ClusterSettings};
pub use crate::config::MasterConfig;
use crate::service::{ClusterApi, JobApi, Master};
use crate::store::{JobStore, StoreError};

/// How often the scheduler looks for silent workers even when nothing wakes it.
const SCHEDULER_TICK: Duration = Duration::from_millis(200);

#[derive(Debug, thiserror::Error)]
pub enum MasterError {
    #[error(transparent)]
    Config(#[from] config::InvalidSetting),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("cannot listen on {address}: {source}")]
    Bind {
        address: SocketAddr,
        source: std::io::Error,
    },
    #[error(transparent)]
    CheckpointStorage(#[from] checkpoint_store::CheckpointStoreError),
    #[error("the gRPC server failed: {0}")]
    Serve(#[from] tonic::transport::Error),
    #[error(transparent)]
    Http(#[from] weir_http::HttpError),
}

/// Runs a master until `shutdown` completes.
pub async fn run(
    config: MasterConfig,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), MasterError> {
    config.validate()?;
    let listener = TcpListener::bind(config.listen)
        .await
        .map_err(|source| MasterError::Bind {
            address: config.listen,
            source,
        })?;
    run_with_listener(config, listener, shutdown).await
}

/// Runs a master on an already bound `listener` (which replaces `config.listen`) until
/// `shutdown` completes. Lets an embedding process (`weir local`) bind an ephemeral port and
/// know it before the master starts.
pub async fn run_with_listener(
    config: MasterConfig,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), MasterError> {
    config.validate()?;
    let store = JobStore::open(&config.data_dir)?;
    let records = store.load_all()?;
    let settings = ClusterSettings {
        heartbeat_timeout: Duration::from_millis(config.heartbeat_timeout_ms),
        heartbeat_interval: Duration::from_millis(config.heartbeat_interval_ms),
        high_watermark: config.high_watermark,
    };
    let storage = Arc::new(CheckpointStorage::open(
        &config.checkpoint_storage(),
        config.checkpoint_retained,
    )?);
    let mut cluster = Cluster::new(settings, store);
    let restored = records.len();
    for record in records {
        cluster.restore_record(record);
    }

    let address = listener.local_addr().unwrap_or(config.listen);
    info!(%address, data_dir = %config.data_dir.display(), checkpoints = %config.checkpoint_storage(), jobs = restored, "master listening");

    let master = Master::new(cluster);
    master.start_split_listers();
    let scheduler = tokio::spawn(Arc::clone(&master).run_scheduler(SCHEDULER_TICK));
    let coordinator = tokio::spawn(Arc::clone(&master).run_checkpoints(storage));
    let http = match http::start(config.http, Arc::clone(&master)).await {
        Ok(http) => http,
        Err(error) => {
            scheduler.abort();
            coordinator.abort();
            return Err(error.into());
        }
    };
    let result = tonic::transport::Server::builder()
        .add_service(JobServiceServer::new(JobApi(Arc::clone(&master))))
        .add_service(ClusterServiceServer::new(ClusterApi(Arc::clone(&master))))
        .serve_with_incoming_shutdown(TcpListenerStream::new(listener), shutdown)
        .await;
    scheduler.abort();
    coordinator.abort();
    if let Some(http) = http {
        http.stop(Duration::from_secs(2)).await;
    }
    if let Err(error) = &result {
        warn!(%error, "master stopped with an error");
    }
    result.map_err(MasterError::from)
}
