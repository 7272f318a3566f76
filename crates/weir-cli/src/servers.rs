//! `weir master` and `weir worker`: settings from a TOML file, flags and `WEIR_*` variables.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use clap::Args;
use serde::de::DeserializeOwned;
use weir_master::MasterConfig;
use weir_worker::WorkerConfig;

#[derive(Args)]
pub struct MasterArgs {
    /// TOML file with master settings (see docs/configuration.md); flags override it.
    #[arg(long, env = "WEIR_MASTER_CONFIG")]
    config: Option<PathBuf>,
    /// Address to listen on [default: 127.0.0.1:5800].
    #[arg(long, env = "WEIR_MASTER_LISTEN")]
    listen: Option<SocketAddr>,
    /// Directory of the job store [default: ./weir-master-data].
    #[arg(long, env = "WEIR_MASTER_DATA_DIR")]
    data_dir: Option<PathBuf>,
    /// Milliseconds of silence after which a worker is DEAD [default: 5000].
    #[arg(long, env = "WEIR_HEARTBEAT_TIMEOUT_MS")]
    heartbeat_timeout_ms: Option<u64>,
    /// Milliseconds between worker heartbeats [default: 1000].
    #[arg(long, env = "WEIR_HEARTBEAT_INTERVAL_MS")]
    heartbeat_interval_ms: Option<u64>,
    /// Fraction of a worker's memory limit its RSS must stay under to get work [default: 0.9].
    #[arg(long, env = "WEIR_HIGH_WATERMARK")]
    high_watermark: Option<f64>,
    /// Where completed checkpoints are stored: a directory or an hdfs:// URL
    /// [default: <data-dir>/checkpoints].
    #[arg(long, env = "WEIR_CHECKPOINT_STORAGE")]
    checkpoint_storage: Option<String>,
    /// Completed checkpoints kept per job in the checkpoint storage [default: 3].
    #[arg(long, env = "WEIR_CHECKPOINT_RETAINED")]
    checkpoint_retained: Option<usize>,
    /// Address of the HTTP server (console, /api/v1, /metrics, /healthz, /readyz), or `off`
    /// [default: 127.0.0.1:5880].
    #[arg(long, env = "WEIR_HTTP_LISTEN")]
    http_listen: Option<weir_http::HttpListen>,
}

#[derive(Args)]
pub struct WorkerArgs {
    /// TOML file with worker settings (see docs/configuration.md); flags override it.
    #[arg(long, env = "WEIR_WORKER_CONFIG")]
    config: Option<PathBuf>,
    /// URL of the master [default: http://127.0.0.1:5800].
    #[arg(long, env = "WEIR_MASTER")]
    master: Option<String>,
    /// Address of the worker's own gRPC server [default: 127.0.0.1:5801].
    #[arg(long, env = "WEIR_WORKER_LISTEN")]
    listen: Option<SocketAddr>,
    /// URL the master reaches this worker at [default: http://<listen>].
    #[arg(long, env = "WEIR_WORKER_ADVERTISE")]
    advertise: Option<String>,
    /// Worker id [default: w-<hostname>-<port>].
    #[arg(long, env = "WEIR_WORKER_ID")]
    id: Option<String>,
    /// Memory budget for admission, e.g. 2GiB [default: cgroup limit, else half the RAM].
    #[arg(long = "memory-limit", env = "WEIR_MEMORY_LIMIT")]
    memory_limit: Option<String>,
    /// Fraction of the RAM used as the memory limit when neither it nor a cgroup limit is set
    /// [default: 0.5].
    #[arg(long, env = "WEIR_MEMORY_FRACTION")]
    memory_fraction: Option<f64>,
    /// Fraction of the memory limit (RSS) above which all intake pauses [default: 0.85].
    #[arg(long, env = "WEIR_SOFT_WATERMARK")]
    soft_watermark: Option<f64>,
    /// Fraction of the memory limit (RSS) below which paused intake resumes [default: 0.75].
    #[arg(long, env = "WEIR_RESUME_WATERMARK")]
    resume_watermark: Option<f64>,
    /// Milliseconds between the memory governor's RSS samples [default: 250].
    #[arg(long, env = "WEIR_MEMORY_SAMPLE_INTERVAL_MS")]
    memory_sample_interval_ms: Option<u64>,
    /// Address of the HTTP server (/metrics, /healthz, /readyz), or `off`
    /// [default: 127.0.0.1:5881].
    #[arg(long, env = "WEIR_HTTP_LISTEN")]
    http_listen: Option<weir_http::HttpListen>,
}

fn load_toml<T: DeserializeOwned + Default>(path: Option<&Path>) -> anyhow::Result<T> {
    let Some(path) = path else {
        return Ok(T::default());
    };
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read settings file {}", path.display()))?;
    toml::from_str(&text).with_context(|| format!("settings file {}", path.display()))
}

async fn ctrl_c() {
    // If the signal handler cannot be installed the process still stops on SIGINT by default.
    let _ = tokio::signal::ctrl_c().await;
    tracing::info!("shutting down");
}

pub async fn run_master(args: MasterArgs) -> anyhow::Result<ExitCode> {
    let mut config: MasterConfig = load_toml(args.config.as_deref())?;
    if let Some(listen) = args.listen {
        config.listen = listen;
    }
    if let Some(data_dir) = args.data_dir {
        config.data_dir = data_dir;
    }
    if let Some(timeout) = args.heartbeat_timeout_ms {
        config.heartbeat_timeout_ms = timeout;
    }
    if let Some(interval) = args.heartbeat_interval_ms {
        config.heartbeat_interval_ms = interval;
    }
    if let Some(watermark) = args.high_watermark {
        config.high_watermark = watermark;
    }
    if args.checkpoint_storage.is_some() {
        config.checkpoint_storage = args.checkpoint_storage;
    }
    if let Some(retained) = args.checkpoint_retained {
        config.checkpoint_retained = retained;
    }
    if let Some(listen) = args.http_listen {
        config.http.listen = listen;
    }
    weir_master::run(config, ctrl_c()).await?;
    Ok(ExitCode::SUCCESS)
}

pub async fn run_worker(args: WorkerArgs) -> anyhow::Result<ExitCode> {
    let mut config: WorkerConfig = load_toml(args.config.as_deref())?;
    if let Some(master) = args.master {
        config.master = master;
    }
    if let Some(listen) = args.listen {
        config.listen = listen;
    }
    if args.advertise.is_some() {
        config.advertise = args.advertise;
    }
    if args.id.is_some() {
        config.id = args.id;
    }
    if args.memory_limit.is_some() {
        config.memory_limit = args.memory_limit;
    }
    if let Some(fraction) = args.memory_fraction {
        config.memory_fraction = fraction;
    }
    if let Some(watermark) = args.soft_watermark {
        config.soft_watermark = watermark;
    }
    if let Some(watermark) = args.resume_watermark {
        config.resume_watermark = watermark;
    }
    if let Some(interval) = args.memory_sample_interval_ms {
        config.memory_sample_interval_ms = interval;
    }
    if let Some(listen) = args.http_listen {
        config.http.listen = listen;
    }
    weir_worker::run(config, ctrl_c()).await?;
    Ok(ExitCode::SUCCESS)
}
