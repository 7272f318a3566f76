//! The master's settings: a TOML file (`weir master --config`), overridden by flags and `WEIR_*`
//! environment variables. `docs/configuration.md` is generated from these doc comments.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use weir_core::duration::millis;

/// Settings of `weir master`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct MasterConfig {
    /// Address the gRPC server listens on, for clients (`weir submit`, `weir jobs`, …) and workers.
    #[serde(default = "default_listen")]
    #[schemars(with = "String")]
    pub listen: SocketAddr,
    /// Directory of the job store (`jobs.redb`). Jobs listed there survive a restart.
    #[serde(default = "default_data_dir")]
    #[schemars(with = "String")]
    pub data_dir: PathBuf,
    /// A worker silent for this long (milliseconds) is declared DEAD and its subtasks are placed
    /// again. A crashed worker is seen sooner: its heartbeat stream closes. Workers learn it when
    /// they register: one whose heartbeats go unanswered this long stops all its tasks (fenced).
    #[serde(
        rename = "heartbeat_timeout_ms",
        with = "millis",
        default = "default_heartbeat_timeout"
    )]
    #[schemars(with = "u64")]
    pub heartbeat_timeout: Duration,
    /// Interval (milliseconds) workers are told to heartbeat at.
    #[serde(
        rename = "heartbeat_interval_ms",
        with = "millis",
        default = "default_heartbeat_interval"
    )]
    #[schemars(with = "u64")]
    pub heartbeat_interval: Duration,
    /// Admission refuses a worker whose live RSS is at or above this fraction of its
    /// worker `memory_limit`, whatever its free budget.
    #[serde(default = "default_high_watermark")]
    pub high_watermark: f64,
    /// Where completed checkpoints are persisted: a local directory, or an HDFS URL such as
    /// `hdfs://namenode:9000/weir/checkpoints`. Absent: `<data_dir>/checkpoints`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub checkpoint_storage: Option<String>,
    /// Completed checkpoints kept in `checkpoint_storage` per job (older ones are deleted).
    #[serde(default = "default_checkpoint_retained")]
    pub checkpoint_retained: usize,
    /// TLS for clients and workers: a `[tls]` table with `cert`, `key` and `ca`, the PEM files
    /// of the master's certificate (named `master`, from `weir cert issue`), its key and the
    /// cluster CA that workers' certificates must be signed by. All three or none; see
    /// docs/security.md.
    #[serde(default)]
    pub tls: weir_auth::TlsConfig,
    /// Client tokens and roles: an `[auth]` table with `tokens_file`, a file of
    /// `NAME ROLE SHA256-HEX` lines (`weir token new`). With it every client call needs a token;
    /// see docs/security.md.
    #[serde(default)]
    pub auth: weir_auth::AuthConfig,
    /// Listen on a non-loopback address even without TLS and a tokens file. Anyone who reaches
    /// the port can then submit jobs and register workers: for a network you trust completely.
    #[serde(default)]
    pub insecure: bool,
    /// The HTTP server: `http.listen` is its address or `off` (default `127.0.0.1:5880`). It
    /// serves the web console at `/`, its JSON API under `/api/v1/`, `/metrics` (Prometheus),
    /// `/healthz` and `/readyz`; see docs/observability.md.
    #[serde(default = "default_http")]
    #[schemars(with = "HttpSchema")]
    pub http: weir_http::HttpSettings,
}

/// The documented shape of the `[http]` table.
#[derive(JsonSchema)]
#[allow(dead_code)]
struct HttpSchema {
    /// `host:port`, or `off`.
    listen: String,
}

pub fn default_http() -> weir_http::HttpSettings {
    weir_http::HttpSettings {
        listen: weir_http::HttpListen::On(SocketAddr::from(([127, 0, 0, 1], 5880))),
    }
}

pub fn default_checkpoint_retained() -> usize {
    3
}

impl MasterConfig {
    /// `checkpoint_storage`, or its default under `data_dir`.
    pub fn checkpoint_storage(&self) -> String {
        self.checkpoint_storage
            .clone()
            .unwrap_or_else(|| self.data_dir.join("checkpoints").display().to_string())
    }
}

pub fn default_listen() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 5800))
}

pub fn default_data_dir() -> PathBuf {
    PathBuf::from("weir-master-data")
}

pub fn default_heartbeat_timeout() -> Duration {
    Duration::from_secs(5)
}

pub fn default_heartbeat_interval() -> Duration {
    Duration::from_secs(1)
}

pub fn default_high_watermark() -> f64 {
    0.9
}

impl Default for MasterConfig {
    fn default() -> Self {
        Self {
            listen: default_listen(),
            data_dir: default_data_dir(),
            heartbeat_timeout: default_heartbeat_timeout(),
            heartbeat_interval: default_heartbeat_interval(),
            high_watermark: default_high_watermark(),
            checkpoint_storage: None,
            checkpoint_retained: default_checkpoint_retained(),
            tls: weir_auth::TlsConfig::default(),
            auth: weir_auth::AuthConfig::default(),
            insecure: false,
            http: default_http(),
        }
    }
}

/// A setting out of its range.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid master setting '{option}': {problem}")]
pub struct InvalidSetting {
    pub option: &'static str,
    pub problem: String,
}

impl MasterConfig {
    pub fn validate(&self) -> Result<(), InvalidSetting> {
        if self.heartbeat_interval.is_zero() {
            return Err(InvalidSetting {
                option: "heartbeat_interval_ms",
                problem: "must be at least 1".into(),
            });
        }
        if self.heartbeat_timeout <= self.heartbeat_interval {
            return Err(InvalidSetting {
                option: "heartbeat_timeout_ms",
                problem: format!(
                    "{} must exceed heartbeat_interval_ms ({})",
                    self.heartbeat_timeout.as_millis(),
                    self.heartbeat_interval.as_millis()
                ),
            });
        }
        if self.checkpoint_retained == 0 {
            return Err(InvalidSetting {
                option: "checkpoint_retained",
                problem: "must be at least 1".into(),
            });
        }
        if !(self.high_watermark > 0.0 && self.high_watermark <= 1.0) {
            return Err(InvalidSetting {
                option: "high_watermark",
                problem: format!("{} is not in (0, 1]", self.high_watermark),
            });
        }
        Ok(())
    }
}
