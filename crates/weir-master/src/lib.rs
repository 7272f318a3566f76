//! The Weir master: registers workers and watches their heartbeats, admits jobs where their
//! memory fits, deploys subtasks, and keeps jobs in an embedded store across restarts.
//!
//! See `docs/architecture.md` for the job lifecycle and the admission rule.

pub mod checkpoint;
pub mod cluster;
pub mod config;
mod convert;
pub mod fault;
mod http;
pub mod job_state;
mod kafka;
mod persist;
pub mod placement;
mod plan;
mod service;
mod sessions;
pub mod store;
pub mod subtask_state;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio_stream::wrappers::TcpListenerStream;
use tracing::{info, warn};
use weir_auth::exposure::Protection;
use weir_auth::guard::{Policy, Server};
use weir_auth::{ClientCerts, GuardLayer, LoadedTls, TokenTable};
use weir_http::{HttpSecurity, ServerRole};
use weir_proto::v1::cluster_service_server::ClusterServiceServer;
use weir_proto::v1::job_service_server::JobServiceServer;

use crate::checkpoint::storage::CheckpointStorage;
use crate::cluster::{Cluster, ClusterSettings};
pub use crate::config::MasterConfig;
use crate::service::{ClusterApi, JobApi, Master};
use crate::store::{JobStore, RedbStore, StoreError};

/// How often the scheduler looks for silent workers even when nothing wakes it.
const SCHEDULER_TICK: Duration = Duration::from_millis(200);
/// At shutdown, how long the gRPC server may take to close its connections, and then how long
/// the background tasks may take to end, before the master stops without them.
const SHUTDOWN_WAIT: Duration = Duration::from_secs(10);

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
    CheckpointStorage(#[from] checkpoint::storage::CheckpointStoreError),
    #[error("the gRPC server failed: {0}")]
    Serve(#[from] tonic::transport::Error),
    #[error(transparent)]
    Security(#[from] weir_auth::AuthError),
    #[error(
        "tls.cert is a certificate for the {found}; the master's must be named 'master' with the master role (`weir cert issue --name master`)"
    )]
    NotTheMastersCertificate { found: weir_auth::PeerIdentity },
    #[error("TLS configuration: {0}")]
    Tls(tonic::transport::Error),
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
///
/// At shutdown every heartbeat stream is answered "master stopping" and ended (the workers stop
/// their tasks, as for any loss of the master), the server closes its connections, and every
/// background task — scheduler, checkpoint coordinator and rounds, split listers, deployments,
/// cancels — is ended and waited for, each wait bounded by [`SHUTDOWN_WAIT`].
pub async fn run_with_listener(
    config: MasterConfig,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), MasterError> {
    config.validate()?;
    fault::init();
    let tls = LoadedTls::for_server(&config.tls)?;
    if let Some(own) = tls.as_ref().and_then(|tls| tls.own.clone())
        && !(own.role == weir_auth::CertRole::Master && own.name == weir_auth::MASTER_NAME)
    {
        return Err(MasterError::NotTheMastersCertificate { found: own });
    }
    let tokens = config.auth.load_tokens()?;
    let listening = listener.local_addr().unwrap_or(config.listen);
    weir_auth::exposure::check_and_warn(
        listening,
        Protection {
            who: "master",
            exposes: "submit, stop and cancel jobs, register workers and read every job",
            tls: tls.is_some(),
            tokens: Some(tokens.is_some()),
            insecure: config.insecure,
        },
    )?;
    let http_security = HttpSecurity::for_server(
        ServerRole {
            who: "master's HTTP server",
            exposes: "read every job, worker and metric",
        },
        config.http.listen,
        tls.as_ref(),
        tokens.clone(),
        config.insecure,
    )?;
    let store = RedbStore::open(&config.data_dir)?;
    let records = store.load_all()?;
    let settings = ClusterSettings {
        heartbeat_timeout: config.heartbeat_timeout,
        heartbeat_interval: config.heartbeat_interval,
        high_watermark: config.high_watermark,
    };
    let storage = Arc::new(CheckpointStorage::open(
        &config.checkpoint_storage(),
        config.checkpoint_retained,
    )?);
    let mut cluster = Cluster::new(settings);
    let restored = records.len();
    for record in records {
        cluster.restore_record(record);
    }

    let address = listening;
    info!(%address, data_dir = %config.data_dir.display(), checkpoints = %config.checkpoint_storage(), jobs = restored, tls = tls.is_some(), tokens = tokens.as_ref().map_or(0, TokenTable::len), "master listening");

    let mut server = tonic::transport::Server::builder();
    if let Some(tls) = &tls {
        server = server
            .tls_config(tls.server_config(ClientCerts::Optional))
            .map_err(MasterError::Tls)?;
    }
    let guard = GuardLayer::new(Policy {
        server: Server::Master,
        certificates: tls.is_some(),
        tokens,
    });
    let master = Master::new(cluster, Arc::new(store) as Arc<dyn JobStore>, tls);
    // What the restore changed (live jobs to place again, cancels completed).
    let writes = master.cluster().take_writes();
    master.write_records(writes).await;
    master.start_split_listers();
    master.spawn(Arc::clone(&master).run_scheduler(SCHEDULER_TICK));
    master.spawn(Arc::clone(&master).run_checkpoints(storage));
    let http = match http::start(config.http, http_security, Arc::clone(&master)).await {
        Ok(http) => http,
        Err(error) => {
            master.shutdown_token().cancel();
            return Err(error.into());
        }
    };
    let stopping = master.shutdown_token();
    let serve = server
        .layer(guard)
        .add_service(JobServiceServer::new(JobApi(Arc::clone(&master))))
        .add_service(ClusterServiceServer::new(ClusterApi(Arc::clone(&master))))
        .serve_with_incoming_shutdown(
            TcpListenerStream::new(listener),
            stopping.clone().cancelled_owned(),
        );
    tokio::pin!(serve);
    // systemd (`Type=notify`): the listener is bound, the job store open and its jobs restored
    // (/readyz answers ready from here on); connections queue on the listener until `serve` runs.
    notify_systemd(sd_notify::NotifyState::Ready);
    // The background tasks are told first: heartbeat streams are long-lived requests, and the
    // server closes a connection only once its requests are done.
    let result = tokio::select! {
        result = &mut serve => result,
        () = shutdown => {
            notify_systemd(sd_notify::NotifyState::Stopping);
            stopping.cancel();
            match tokio::time::timeout(SHUTDOWN_WAIT, &mut serve).await {
                Ok(result) => result,
                Err(_) => {
                    warn!(wait = ?SHUTDOWN_WAIT, "connections still open at shutdown; stopping without them");
                    Ok(())
                }
            }
        }
    };
    if !master.stopped(SHUTDOWN_WAIT).await {
        warn!(wait = ?SHUTDOWN_WAIT, "background tasks still running at shutdown; stopping without them");
    }
    if let Some(http) = http {
        http.stop(Duration::from_secs(2)).await;
    }
    match &result {
        Ok(()) => info!("master stopped"),
        Err(error) => warn!(%error, "master stopped with an error"),
    }
    result.map_err(MasterError::from)
}

/// Tells systemd `state` when it started the master with `Type=notify` (NOTIFY_SOCKET set);
/// otherwise does nothing. A failure is logged: the master serves either way.
fn notify_systemd(state: sd_notify::NotifyState<'_>) {
    if let Err(error) = sd_notify::notify(&[state]) {
        warn!(%error, "cannot notify systemd (NOTIFY_SOCKET)");
    }
}
