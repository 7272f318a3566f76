//! `weir local JOB.conf`: a master and one worker in this process, for a single machine
//! (SeaTunnel's `-m local`). The job goes through the same gRPC `JobService` as with
//! `weir submit`, so what runs here is what runs on a cluster; only the processes are merged.
//!
//! [`LocalCluster`], [`follow`] and [`stop_job`] are shared with `weir demo`.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use clap::Args;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tonic::transport::Channel;
use weir_master::{MasterConfig, MasterError};
use weir_proto::v1 as pb;
use weir_proto::v1::job_service_client::JobServiceClient;
use weir_worker::{WorkerConfig, WorkerError};

use crate::output::job_state;
use crate::signals::{StopSignal, StopSignals};

mod progress;

use self::progress::snapshot;
pub use self::progress::{Progress, Snapshot};

#[derive(Args)]
pub struct LocalArgs {
    /// The job file (SeaTunnel-compatible HOCON).
    file: PathBuf,
    #[command(flatten)]
    variables: crate::job_file::VariableArgs,
    /// A name for the job [default: the file name].
    #[arg(long)]
    name: Option<String>,
    /// Directory of the embedded master's job store [default: a temporary directory, removed
    /// on exit].
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// Memory budget of the embedded worker, e.g. 2GiB [default: cgroup limit, else half the
    /// RAM].
    #[arg(long = "memory-limit", env = "WEIR_MEMORY_LIMIT")]
    memory_limit: Option<weir_core::bytesize::ByteSize>,
}

/// How often the job's state is polled (conditions such as "lag is 0" are checked this often).
const POLL: Duration = Duration::from_millis(250);
/// How long the embedded worker may take to register with the embedded master.
const REGISTER_WAIT: Duration = Duration::from_secs(15);
/// How long a stop (final checkpoint and commit) may take before the wait is given up.
pub const STOP_WAIT: Duration = Duration::from_secs(60);
/// How long each embedded server may take to shut down before its task is aborted.
const SHUTDOWN_WAIT: Duration = Duration::from_secs(10);

pub async fn run(args: LocalArgs) -> anyhow::Result<ExitCode> {
    // Read and checked before starting anything: a typo should not cost a cluster start-up.
    let job = crate::job_file::load_job_file(&args.file, &args.variables)?;
    let origin = args.file.display().to_string();
    let mut interrupts = Interrupts::listen();
    let cluster = LocalCluster::start(args.data_dir, args.memory_limit).await?;
    let outcome = run_job(&cluster, &job.text, &origin, args.name, &mut interrupts).await;
    cluster.shutdown().await;
    outcome
}

async fn run_job(
    cluster: &LocalCluster,
    text: &str,
    origin: &str,
    name: Option<String>,
    interrupts: &mut Interrupts,
) -> anyhow::Result<ExitCode> {
    let mut client = cluster.client();
    let job_id = submit(&mut client, text, origin, name).await?;
    eprintln!(
        "job {job_id} submitted to the embedded master at {} (`weir job {job_id} --master {}` from another shell); Ctrl-C stops it with a final checkpoint",
        cluster.master_url, cluster.master_url
    );
    eprintln!(
        "web console: {} (metrics at {}metrics)",
        cluster.console_url, cluster.console_url
    );
    let mut progress = Progress::new(Duration::from_secs(2), false);
    let end = follow(&mut client, &job_id, &mut progress, interrupts, |_| false).await?;
    let last = match end {
        FollowEnd::Ended(last) => last,
        FollowEnd::Interrupted | FollowEnd::Reached(_) => {
            stop_job(&mut client, &job_id, &mut progress, interrupts).await?
        }
    };
    eprintln!(
        "job {job_id} {}: {} rows read, {} written, last checkpoint {}{}",
        job_state(last.state as i32),
        last.rows_read,
        last.rows_written,
        last.last_checkpoint_id,
        if last.reason.is_empty() {
            String::new()
        } else {
            format!(" ({})", last.reason)
        }
    );
    let ok = matches!(last.state, pb::JobState::Finished | pb::JobState::Stopped);
    Ok(if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// Ctrl-C presses and SIGTERMs, alike, counted from when [`Interrupts::listen`] was called.
/// Listening replaces the default "exit at once", so every wait must also watch these.
pub struct Interrupts(StopSignals);

impl Interrupts {
    pub fn listen() -> Self {
        Self(StopSignals::listen())
    }

    /// Completes at the next Ctrl-C or SIGTERM; never, when signals cannot be watched.
    pub async fn next(&mut self) -> StopSignal {
        self.0.next().await
    }
}

/// A master and one worker running as tasks of this process, on ephemeral loopback ports.
pub struct LocalCluster {
    pub master_url: String,
    /// The embedded master's web console (and `/metrics`, `/api/v1/`).
    pub console_url: String,
    channel: Channel,
    master: JoinHandle<Result<(), MasterError>>,
    worker: JoinHandle<Result<(), WorkerError>>,
    stop_master: oneshot::Sender<()>,
    stop_worker: oneshot::Sender<()>,
    // Kept for its `Drop`, which removes the master's temporary data directory.
    _data_dir: Option<tempfile::TempDir>,
}

impl LocalCluster {
    /// Starts the master (data in `data_dir`, or a temporary directory) and a worker with
    /// `memory_limit`, and waits until the worker has registered.
    pub async fn start(
        data_dir: Option<PathBuf>,
        memory_limit: Option<weir_core::bytesize::ByteSize>,
    ) -> anyhow::Result<Self> {
        let (data_dir, temp) = match data_dir {
            Some(dir) => (dir, None),
            None => {
                let temp = tempfile::Builder::new()
                    .prefix("weir-local-")
                    .tempdir()
                    .context("cannot create a temporary directory for the master's data")?;
                (temp.path().to_path_buf(), Some(temp))
            }
        };
        let loopback = std::net::SocketAddr::from(([127, 0, 0, 1], 0));
        let master_listener = TcpListener::bind(loopback)
            .await
            .context("cannot bind a loopback port for the embedded master")?;
        let master_address = master_listener.local_addr()?;
        let master_url = format!("http://{master_address}");
        let worker_listener = TcpListener::bind(loopback)
            .await
            .context("cannot bind a loopback port for the embedded worker")?;

        // The master's console and metrics on a free port (the default 5880 may be taken by
        // a cluster on this machine); the embedded worker's own metrics are off.
        let console_address = std::net::TcpListener::bind(loopback)
            .and_then(|probe| probe.local_addr())
            .context("cannot find a free loopback port for the embedded master's HTTP server")?;
        let master_config = MasterConfig {
            listen: master_address,
            data_dir,
            http: weir_http::HttpSettings {
                listen: weir_http::HttpListen::On(console_address),
            },
            ..MasterConfig::default()
        };
        let worker_config = WorkerConfig {
            master: master_url.clone(),
            id: Some("local".into()),
            memory_limit,
            http: weir_http::HttpSettings {
                listen: weir_http::HttpListen::Off,
            },
            ..WorkerConfig::default()
        };
        // A bad `--memory-limit` is reported here rather than as a worker task failure.
        worker_config.validate()?;
        let (stop_master, master_stopped) = oneshot::channel::<()>();
        let (stop_worker, worker_stopped) = oneshot::channel::<()>();
        let master = tokio::spawn(weir_master::run_with_listener(
            master_config,
            master_listener,
            async move {
                let _ = master_stopped.await;
            },
        ));
        let worker = tokio::spawn(weir_worker::run_with_listener(
            worker_config,
            worker_listener,
            async move {
                let _ = worker_stopped.await;
            },
        ));
        let channel = tonic::transport::Endpoint::from_shared(master_url.clone())?
            .connect_timeout(Duration::from_secs(5))
            .timeout(Duration::from_secs(30))
            .connect_lazy();
        let mut cluster = Self {
            master_url,
            console_url: format!("http://{console_address}/"),
            channel,
            master,
            worker,
            stop_master,
            stop_worker,
            _data_dir: temp,
        };
        if let Err(error) = cluster.wait_registered().await {
            cluster.shutdown().await;
            return Err(error);
        }
        Ok(cluster)
    }

    /// A client of the embedded master's `JobService`.
    pub fn client(&self) -> JobServiceClient<Channel> {
        JobServiceClient::new(self.channel.clone())
    }

    async fn wait_registered(&mut self) -> anyhow::Result<()> {
        let deadline = Instant::now() + REGISTER_WAIT;
        let mut client = self.client();
        loop {
            if self.master.is_finished() {
                return Err(server_exit("master", &mut self.master).await);
            }
            if self.worker.is_finished() {
                return Err(server_exit("worker", &mut self.worker).await);
            }
            // Connection errors are expected while the master's server is coming up.
            if let Ok(response) = client.list_workers(pb::ListWorkersRequest {}).await
                && !response.into_inner().workers.is_empty()
            {
                return Ok(());
            }
            if Instant::now() >= deadline {
                anyhow::bail!(
                    "the embedded worker did not register with the embedded master within {REGISTER_WAIT:?}"
                );
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Stops the worker (its subtasks are cancelled), then the master; each bounded by
    /// [`SHUTDOWN_WAIT`].
    pub async fn shutdown(self) {
        let Self {
            channel,
            mut master,
            mut worker,
            stop_master,
            stop_worker,
            _data_dir,
            ..
        } = self;
        // Our own connection would hold the master's graceful shutdown open.
        drop(channel);
        let _ = stop_worker.send(());
        stop_server("worker", &mut worker).await;
        let _ = stop_master.send(());
        stop_server("master", &mut master).await;
    }
}

async fn stop_server<E: std::fmt::Display>(what: &str, task: &mut JoinHandle<Result<(), E>>) {
    match tokio::time::timeout(SHUTDOWN_WAIT, &mut *task).await {
        Ok(Ok(Ok(()))) => {}
        Ok(Ok(Err(error))) => eprintln!("warning: the embedded {what} stopped with: {error}"),
        Ok(Err(error)) => eprintln!("warning: the embedded {what} task failed: {error}"),
        Err(_) => {
            eprintln!("warning: the embedded {what} did not stop within {SHUTDOWN_WAIT:?}");
            task.abort();
        }
    }
}

/// Why a server task ended during start-up.
async fn server_exit<E: std::fmt::Display>(
    what: &str,
    task: &mut JoinHandle<Result<(), E>>,
) -> anyhow::Error {
    match task.await {
        Ok(Ok(())) => anyhow::anyhow!("the embedded {what} stopped during start-up"),
        Ok(Err(error)) => anyhow::anyhow!("the embedded {what} failed to start: {error}"),
        Err(error) => anyhow::anyhow!("the embedded {what} task failed: {error}"),
    }
}

fn rpc_error(status: tonic::Status) -> anyhow::Error {
    anyhow::anyhow!("{}", status.message())
}

/// Submits a job exactly as `weir submit` does; returns its id.
pub async fn submit(
    client: &mut JobServiceClient<Channel>,
    text: &str,
    origin: &str,
    name: Option<String>,
) -> anyhow::Result<String> {
    let response = client
        .submit_job(pb::SubmitJobRequest {
            config: text.to_string(),
            origin: origin.to_string(),
            name: name.unwrap_or_default(),
            restore_from_job_id: String::new(),
        })
        .await
        .map_err(rpc_error)?
        .into_inner();
    Ok(response.job_id)
}

/// How [`follow`] ended.
pub enum FollowEnd {
    /// The job reached a terminal state.
    Ended(Snapshot),
    /// Ctrl-C was pressed or SIGTERM arrived.
    Interrupted,
    /// The caller's condition held.
    Reached(Snapshot),
}

/// Polls the job, showing progress, until it ends, Ctrl-C or SIGTERM arrives, or `until` holds.
pub async fn follow(
    client: &mut JobServiceClient<Channel>,
    job_id: &str,
    progress: &mut Progress,
    interrupts: &mut Interrupts,
    mut until: impl FnMut(&Snapshot) -> bool,
) -> anyhow::Result<FollowEnd> {
    loop {
        let current = snapshot(client, job_id).await?;
        progress.show(&current);
        if current.is_terminal() {
            progress.finish();
            return Ok(FollowEnd::Ended(current));
        }
        if until(&current) {
            return Ok(FollowEnd::Reached(current));
        }
        tokio::select! {
            () = tokio::time::sleep(POLL) => {}
            signal = interrupts.next() => {
                progress.message(&format!("interrupted ({signal}): stopping the job with a final checkpoint (Ctrl-C again to stop waiting)"));
                return Ok(FollowEnd::Interrupted);
            }
        }
    }
}

/// Stops the job with a final checkpoint (`StopJob`) and waits until it is Stopped (or
/// otherwise ended), at most [`STOP_WAIT`] or until the next Ctrl-C or SIGTERM. Returns the last state
/// seen.
pub async fn stop_job(
    client: &mut JobServiceClient<Channel>,
    job_id: &str,
    progress: &mut Progress,
    interrupts: &mut Interrupts,
) -> anyhow::Result<Snapshot> {
    let request = pb::StopJobRequest {
        job_id: job_id.to_string(),
    };
    match client.stop_job(request).await {
        Ok(_) => {}
        // A master without checkpoints cannot stop gracefully; cancelling still ends the job.
        Err(status) if status.code() == tonic::Code::Unimplemented => {
            progress.message(&format!(
                "warning: this master cannot stop with a final checkpoint ({}); cancelling the job instead",
                status.message()
            ));
            client
                .cancel_job(pb::CancelJobRequest {
                    job_id: job_id.to_string(),
                })
                .await
                .map_err(rpc_error)?;
        }
        Err(status) => return Err(rpc_error(status)),
    }
    let deadline = Instant::now() + STOP_WAIT;
    loop {
        let current = snapshot(client, job_id).await?;
        progress.show(&current);
        if current.is_terminal() {
            progress.finish();
            return Ok(current);
        }
        if Instant::now() >= deadline {
            progress.message(&format!(
                "warning: job {job_id} did not stop within {STOP_WAIT:?}; shutting down anyway"
            ));
            return Ok(current);
        }
        tokio::select! {
            () = tokio::time::sleep(POLL) => {}
            signal = interrupts.next() => {
                progress.message(&format!("interrupted again ({signal}): shutting down without waiting for the stop"));
                return Ok(current);
            }
        }
    }
}
