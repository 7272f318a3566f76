//! A Weir worker: registers with the master, heartbeats its live memory and task metrics, runs
//! the subtasks the master deploys, and pauses intake when memory runs high. A worker that loses
//! its master is fenced: it stops all its tasks (`link`).

pub mod config;
pub mod governor;
mod grpc;
mod http;
mod link;
mod session;
pub mod task;
mod task_table;

use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio_stream::wrappers::TcpListenerStream;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::{info, warn};
use weir_auth::exposure::Protection;
use weir_auth::guard::{Policy, Server};
use weir_auth::{CertRole, ClientCerts, GuardLayer, LoadedTls, MASTER_NAME};
use weir_http::{HttpSecurity, ServerRole};
use weir_proto::v1::cluster_service_client::ClusterServiceClient;
use weir_proto::v1::worker_service_server::WorkerServiceServer;

pub use crate::config::WorkerConfig;
use crate::governor::{MemoryProbe, Watermarks};
use crate::grpc::WorkerApi;
use crate::link::{Identity, Link, MasterReporter};
use crate::session::CurrentSession;
use crate::task_table::TaskTable;

/// At shutdown, how long the link may take to deregister, then the background tasks to end, then
/// the gRPC server to close its connections, before the worker stops without them.
const SHUTDOWN_WAIT: Duration = Duration::from_secs(10);

#[derive(Debug, thiserror::Error)]
pub enum WorkerError {
    #[error(transparent)]
    Config(#[from] config::InvalidSetting),
    #[error(transparent)]
    Memory(#[from] governor::MemoryError),
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
    let tls = LoadedTls::for_server(&config.tls)?;
    weir_auth::exposure::check_and_warn(
        config.listen,
        Protection {
            who: "worker",
            exposes: "deploy tasks and order checkpoints and commits",
            tls: tls.is_some(),
            tokens: None,
            insecure: config.insecure,
        },
    )?;
    let tokens = config.auth.load_tokens()?;
    let http_security = HttpSecurity::for_server(
        ServerRole {
            who: "worker's HTTP server",
            exposes: "read the worker's metrics",
        },
        config.http.listen,
        tls.as_ref(),
        tokens,
        config.insecure,
    )?;
    let (worker_id, advertised) = tls_identity(&config, tls.as_ref())?;
    let mut probe = MemoryProbe::new()?;
    let first = probe.sample();
    let memory_limit = match config.memory_limit {
        Some(limit) => limit.0,
        None => governor::default_memory_limit(&first, config.memory_fraction),
    };
    let watermarks = Watermarks::new(memory_limit, config.soft_watermark, config.resume_watermark);
    // Every background task runs under `tracker`; `stopping` ends the governor and the reporter.
    let tracker = TaskTracker::new();
    let stopping = CancellationToken::new();
    let memory = governor::start_governor(
        probe,
        watermarks,
        config.memory_sample_interval,
        &tracker,
        stopping.clone(),
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
    let registration = http::Registration::default();
    let http_view = http::WorkerView {
        memory: memory.clone(),
        memory_limit,
        watermarks,
        tasks: tasks.clone(),
        registration: registration.clone(),
    };
    let http = http::start(config.http, http_security, http_view).await?;
    let leave = CancellationToken::new();
    let link = tracker.spawn(link::run_link(
        Link {
            channel,
            identity,
            memory: memory.clone(),
            tasks: tasks.clone(),
            session: session.clone(),
            registered: registration,
        },
        leave.clone(),
    ));

    let api = WorkerApi {
        tasks: tasks.clone(),
        status: reporter,
        session,
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
    let server_stop = CancellationToken::new();
    let serve = server
        .layer(guard)
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
    notify_systemd(sd_notify::NotifyState::Stopping);

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
    if let Some(http) = http {
        http.stop(Duration::from_secs(2)).await;
    }
    match &result {
        Ok(()) => info!("worker stopped"),
        Err(error) => warn!(%error, "worker stopped with an error"),
    }
    result.map_err(WorkerError::from)
}

/// Tells systemd `state` when it started the worker with `Type=notify` (NOTIFY_SOCKET set);
/// otherwise does nothing. A failure is logged: the worker runs either way.
fn notify_systemd(state: sd_notify::NotifyState<'_>) {
    if let Err(error) = sd_notify::notify(&[state]) {
        warn!(%error, "cannot notify systemd (NOTIFY_SOCKET)");
    }
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
