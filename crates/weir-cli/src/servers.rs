//! `weir master` and `weir worker`: settings from a TOML file, flags and `WEIR_*` variables.

use std::io::Read as _;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use clap::Args;
use serde::de::DeserializeOwned;
use weir_core::bytesize::ByteSize;
use weir_core::duration::parse_millis;
use weir_master::MasterConfig;
use weir_worker::WorkerConfig;

use crate::signals::StopSignals;
/// The largest settings file read: real ones are a few hundred bytes, and a bound keeps
/// `--config /dev/zero` or a mistaken multi-gigabyte file from being read into memory.
const MAX_SETTINGS_FILE_BYTES: u64 = 1 << 20;

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
    #[arg(long, env = "WEIR_HEARTBEAT_TIMEOUT_MS", value_parser = parse_millis)]
    heartbeat_timeout_ms: Option<Duration>,
    /// Milliseconds between worker heartbeats [default: 1000].
    #[arg(long, env = "WEIR_HEARTBEAT_INTERVAL_MS", value_parser = parse_millis)]
    heartbeat_interval_ms: Option<Duration>,
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
    #[command(flatten)]
    security: crate::security::MasterSecurityArgs,
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
    memory_limit: Option<ByteSize>,
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
    #[arg(long, env = "WEIR_MEMORY_SAMPLE_INTERVAL_MS", value_parser = parse_millis)]
    memory_sample_interval_ms: Option<Duration>,
    #[command(flatten)]
    security: crate::security::WorkerSecurityArgs,
    /// Address of the HTTP server (/metrics, /healthz, /readyz), or `off`
    /// [default: 127.0.0.1:5881].
    #[arg(long, env = "WEIR_HTTP_LISTEN")]
    http_listen: Option<weir_http::HttpListen>,
}

fn load_toml<T: DeserializeOwned + Default>(path: Option<&Path>) -> anyhow::Result<T> {
    let Some(path) = path else {
        return Ok(T::default());
    };
    let text = read_settings_file(path)?;
    toml::from_str(&text).with_context(|| format!("settings file {}", path.display()))
}

/// The text of a settings file, refused before reading unless it is a regular file of at most
/// [`MAX_SETTINGS_FILE_BYTES`] (`/dev/zero`, a FIFO or a huge file would otherwise be read
/// forever or into memory).
fn read_settings_file(path: &Path) -> anyhow::Result<String> {
    let shown = path.display();
    let file =
        std::fs::File::open(path).with_context(|| format!("cannot read settings file {shown}"))?;
    let metadata = file
        .metadata()
        .with_context(|| format!("cannot read settings file {shown}"))?;
    if !metadata.is_file() {
        anyhow::bail!(
            "settings file {shown} is not a regular file (a device, FIFO or directory); \
             give the path of a TOML file"
        );
    }
    if metadata.len() > MAX_SETTINGS_FILE_BYTES {
        anyhow::bail!(
            "settings file {shown} is {} bytes; settings files are at most {} (1 MiB)",
            metadata.len(),
            MAX_SETTINGS_FILE_BYTES
        );
    }
    // The file may grow between the check and the read: read one byte past the bound at most.
    let mut bytes = Vec::new();
    file.take(MAX_SETTINGS_FILE_BYTES + 1)
        .read_to_end(&mut bytes)
        .with_context(|| format!("cannot read settings file {shown}"))?;
    if bytes.len() as u64 > MAX_SETTINGS_FILE_BYTES {
        anyhow::bail!("settings file {shown} grew past 1 MiB while it was read");
    }
    String::from_utf8(bytes).with_context(|| format!("settings file {shown} is not UTF-8 text"))
}

pub async fn run_master(args: MasterArgs) -> anyhow::Result<ExitCode> {
    // Before anything else, so that a stop signal during start-up is a stop in order too.
    let signals = StopSignals::listen();
    let mut config: MasterConfig = load_toml(args.config.as_deref())?;
    if let Some(listen) = args.listen {
        config.listen = listen;
    }
    if let Some(data_dir) = args.data_dir {
        config.data_dir = data_dir;
    }
    if let Some(timeout) = args.heartbeat_timeout_ms {
        config.heartbeat_timeout = timeout;
    }
    if let Some(interval) = args.heartbeat_interval_ms {
        config.heartbeat_interval = interval;
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
    args.security.apply(&mut config);
    weir_master::run(config, signals.shutdown()).await?;
    Ok(ExitCode::SUCCESS)
}

pub async fn run_worker(args: WorkerArgs) -> anyhow::Result<ExitCode> {
    let signals = StopSignals::listen();
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
        config.memory_sample_interval = interval;
    }
    if let Some(listen) = args.http_listen {
        config.http.listen = listen;
    }
    args.security.apply(&mut config);
    weir_worker::run(config, signals.shutdown()).await?;
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scratch(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("weir-settings-{}-{name}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn settings_files_are_typed_once() {
        let dir = scratch("typed");
        let path = dir.join("worker.toml");
        std::fs::write(
            &path,
            "memory_limit = \"2GiB\"\nmemory_sample_interval_ms = 100\n",
        )
        .unwrap();
        let config: WorkerConfig = load_toml(Some(&path)).unwrap();
        assert_eq!(config.memory_limit, Some(ByteSize(2 << 30)));
        assert_eq!(config.memory_sample_interval, Duration::from_millis(100));
        std::fs::write(&path, "memory_limit = \"lots\"\n").unwrap();
        let error = format!("{:#}", load_toml::<WorkerConfig>(Some(&path)).unwrap_err());
        assert!(
            error.contains("512MiB") && error.contains("worker.toml"),
            "{error}"
        );

        let path = dir.join("master.toml");
        std::fs::write(
            &path,
            "heartbeat_timeout_ms = 3000\nheartbeat_interval_ms = \"500\"\n",
        )
        .unwrap();
        let config: MasterConfig = load_toml(Some(&path)).unwrap();
        assert_eq!(config.heartbeat_timeout, Duration::from_secs(3));
        assert_eq!(config.heartbeat_interval, Duration::from_millis(500));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn flags_parse_like_the_settings_file() {
        use clap::Parser as _;
        let cli = crate::Cli::try_parse_from([
            "weir",
            "worker",
            "--memory-limit",
            "512MiB",
            "--memory-sample-interval-ms",
            "100",
        ])
        .unwrap();
        let crate::Command::Worker(args) = cli.command else {
            panic!("not the worker command");
        };
        assert_eq!(args.memory_limit, Some(ByteSize(512 << 20)));
        assert_eq!(
            args.memory_sample_interval_ms,
            Some(Duration::from_millis(100))
        );
        for bad in [
            ["weir", "worker", "--memory-limit", "lots"],
            ["weir", "worker", "--memory-sample-interval-ms", "1s"],
            ["weir", "master", "--heartbeat-timeout-ms", "-5"],
        ] {
            let error = crate::Cli::try_parse_from(bad).err().expect("refused");
            assert!(error.to_string().contains(bad[3]), "{error}");
        }
    }

    #[test]
    fn settings_files_that_are_not_small_regular_files_are_refused_before_reading() {
        let error = format!(
            "{:#}",
            read_settings_file(Path::new("/dev/zero")).unwrap_err()
        );
        assert!(
            error.contains("/dev/zero") && error.contains("not a regular file"),
            "{error}"
        );
        let dir = scratch("bounded");
        let error = format!("{:#}", read_settings_file(&dir).unwrap_err());
        assert!(error.contains("not a regular file"), "{error}");
        let big = dir.join("big.toml");
        let file = std::fs::File::create(&big).unwrap();
        // Sparse: no megabytes are actually written.
        file.set_len(MAX_SETTINGS_FILE_BYTES + 1).unwrap();
        let error = format!("{:#}", read_settings_file(&big).unwrap_err());
        assert!(
            error.contains("big.toml") && error.contains("at most"),
            "{error}"
        );
        let error = format!(
            "{:#}",
            read_settings_file(&dir.join("missing.toml")).unwrap_err()
        );
        assert!(error.contains("missing.toml"), "{error}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
