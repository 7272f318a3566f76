//! A Weir worker: registers with the master, heartbeats its live memory and task metrics, runs
//! the subtasks the master deploys, and pauses intake when memory runs high.

mod checkpoints;
pub mod config;
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
use weir_auth::exposure::Protection;
use weir_auth::guard::{Policy, Server};
use weir_auth::{CertRole, ClientCerts, GuardLayer, LoadedTls, MASTER_NAME};
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
    Security(#[from] weir_auth::AuthError),
    #[error("{0}")]
    TlsMismatch(String),
    #[error("TLS configuration: {0}")]
    Tls(tonic::transport::Error),
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
    let tls = LoadedTls::for_server(&config.tls)?;
    weir_auth::exposure::check_and_warn(
        config.listen,
        Protection {
            who: "worker",
            tls: tls.is_some(),
            tokens: None,
            insecure: config.insecure,
        },
    )?;
    let (worker_id, advertised) = tls_identity(&config, tls.as_ref())?;
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
        worker_id,
        address: advertised,
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

    let channel = link::master_channel(
        &config.master,
        tls.as_ref().map(|tls| tls.client_config(MASTER_NAME)),
    )
    .map_err(|source| WorkerError::MasterAddress {
        address: config.master.clone(),
        source,
    })?;
    let tasks = TaskTable::new(identity.worker_id.clone(), memory.intake_paused());
    let (session, current_session) = tokio::sync::watch::channel(String::new());
    let reporter =
        MasterReporter::start(ClusterServiceClient::new(channel.clone()), current_session);
    let link = tokio::spawn(link::run_link(
        channel,
        identity,
        memory.clone(),
        tasks.clone(),
        session,
    ));

    let api = WorkerApi {
        tasks: tasks.clone(),
        status: reporter,
    };
    let mut server = tonic::transport::Server::builder();
    if let Some(tls) = &tls {
        server = server
            .tls_config(tls.server_config(ClientCerts::Required))
            .map_err(WorkerError::Tls)?;
    }
    let guard = GuardLayer::new(Policy {
        server: Server::Worker,
        certificates: tls.is_some(),
        tokens: None,
    });
    let result = server
        .layer(guard)
        .add_service(WorkerServiceServer::new(api))
        .serve_with_incoming_shutdown(TcpListenerStream::new(listener), shutdown)
        .await;
    link.abort();
    tasks.cancel_all().await;
    result.map_err(WorkerError::from)
}

/// The worker id and the address advertised to the master. With TLS the id is the name in the
/// worker's certificate (a configured `id` must agree), the master and the advertised address
/// are https:// URLs; without, an https:// master is refused (nothing to verify it with).
fn tls_identity(
    config: &WorkerConfig,
    tls: Option<&LoadedTls>,
) -> Result<(String, String), WorkerError> {
    let mismatch = |message: String| Err(WorkerError::TlsMismatch(message));
    let Some(tls) = tls else {
        if config.master.starts_with("https://") {
            return mismatch(format!(
                "the master {} is https:// but this worker has no TLS settings (tls.cert, tls.key, tls.ca)",
                config.master
            ));
        }
        return Ok((config.worker_id(), config.advertised_address()));
    };
    let Some(own) = tls.own.clone() else {
        return mismatch("tls.cert names nobody".into());
    };
    if own.role != CertRole::Worker {
        return mismatch(format!(
            "tls.cert is a certificate for the {own}; a worker needs one of role worker (`weir cert issue --name WORKER_ID`)"
        ));
    }
    if let Some(id) = &config.id
        && *id != own.name
    {
        return mismatch(format!(
            "the worker id '{id}' differs from the name in tls.cert ('{}'); with TLS the certificate names the worker",
            own.name
        ));
    }
    if !config.master.starts_with("https://") {
        return mismatch(format!(
            "this worker has TLS settings, so the master URL must be https://, not {}",
            config.master
        ));
    }
    let advertised = match &config.advertise {
        Some(address) if !address.starts_with("https://") => {
            return mismatch(format!(
                "this worker has TLS settings, so its advertised address must be https://, not {address}"
            ));
        }
        Some(address) => address.clone(),
        None => format!("https://{}", config.listen),
    };
    Ok((own.name, advertised))
}
