//! The worker's settings: a TOML file (`weir worker --config`), overridden by flags and `WEIR_*`
//! environment variables. `docs/configuration.md` is generated from these doc comments.

use std::net::SocketAddr;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Settings of `weir worker`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct WorkerConfig {
    /// URL of the master's gRPC server.
    #[serde(default = "default_master")]
    pub master: String,
    /// Address the worker's own gRPC server (deployments from the master) listens on.
    #[serde(default = "default_listen")]
    #[schemars(with = "String")]
    pub listen: SocketAddr,
    /// URL the master uses to reach this worker. Default: `http://<listen>`.
    #[serde(default)]
    pub advertise: Option<String>,
    /// Identity of the worker in the cluster. Default: `w-<hostname>-<listen port>`.
    #[serde(default)]
    pub id: Option<String>,
    /// Memory budget that admission control places subtasks against, e.g. `"2GiB"`, `"512MiB"`
    /// or a number of bytes. Default: the cgroup memory limit when the worker runs under one,
    /// else `memory_fraction` of the machine's RAM.
    #[serde(default)]
    pub memory_limit: Option<String>,
    /// Fraction of the machine's RAM used as `memory_limit` when neither it nor a cgroup limit
    /// is set.
    #[serde(default = "default_memory_fraction")]
    pub memory_fraction: f64,
    /// Above this fraction of `memory_limit` (process RSS), the worker pauses all intake.
    #[serde(default = "default_soft_watermark")]
    pub soft_watermark: f64,
    /// A paused worker resumes intake once its RSS falls below this fraction of `memory_limit`.
    #[serde(default = "default_resume_watermark")]
    pub resume_watermark: f64,
    /// How often (milliseconds) the memory governor samples the process RSS.
    #[serde(default = "default_memory_sample_interval_ms")]
    pub memory_sample_interval_ms: u64,
    /// The HTTP server: `http.listen` is its address or `off` (default `127.0.0.1:5881`). It
    /// serves `/metrics` (Prometheus), `/healthz` and `/readyz` (ready while registered with a
    /// master); see docs/observability.md.
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
        listen: weir_http::HttpListen::On(SocketAddr::from(([127, 0, 0, 1], 5881))),
    }
}

pub fn default_master() -> String {
    "http://127.0.0.1:5800".into()
}

pub fn default_listen() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 5801))
}

pub fn default_memory_fraction() -> f64 {
    0.5
}

pub fn default_soft_watermark() -> f64 {
    0.85
}

pub fn default_resume_watermark() -> f64 {
    0.75
}

pub fn default_memory_sample_interval_ms() -> u64 {
    250
}

impl Default for WorkerConfig {
    fn default() -> Self {
        Self {
            master: default_master(),
            listen: default_listen(),
            advertise: None,
            id: None,
            memory_limit: None,
            memory_fraction: default_memory_fraction(),
            soft_watermark: default_soft_watermark(),
            resume_watermark: default_resume_watermark(),
            memory_sample_interval_ms: default_memory_sample_interval_ms(),
            http: default_http(),
        }
    }
}

/// A setting out of its range.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid worker setting '{option}': {problem}")]
pub struct InvalidSetting {
    pub option: &'static str,
    pub problem: String,
}

impl WorkerConfig {
    pub fn validate(&self) -> Result<(), InvalidSetting> {
        let fraction = |option: &'static str, value: f64| {
            if value > 0.0 && value <= 1.0 {
                Ok(())
            } else {
                Err(InvalidSetting {
                    option,
                    problem: format!("{value} is not in (0, 1]"),
                })
            }
        };
        fraction("memory_fraction", self.memory_fraction)?;
        fraction("soft_watermark", self.soft_watermark)?;
        fraction("resume_watermark", self.resume_watermark)?;
        if self.resume_watermark >= self.soft_watermark {
            return Err(InvalidSetting {
                option: "resume_watermark",
                problem: format!(
                    "{} must be below soft_watermark ({})",
                    self.resume_watermark, self.soft_watermark
                ),
            });
        }
        if let Some(limit) = &self.memory_limit {
            weir_core::bytesize::parse_bytes(limit).map_err(|error| InvalidSetting {
                option: "memory_limit",
                problem: error.to_string(),
            })?;
        }
        if self.memory_sample_interval_ms == 0 {
            return Err(InvalidSetting {
                option: "memory_sample_interval_ms",
                problem: "must be at least 1".into(),
            });
        }
        Ok(())
    }

    /// The URL the master reaches this worker at.
    pub fn advertised_address(&self) -> String {
        self.advertise
            .clone()
            .unwrap_or_else(|| format!("http://{}", self.listen))
    }

    /// The worker's id in the cluster.
    pub fn worker_id(&self) -> String {
        self.id.clone().unwrap_or_else(|| {
            let host = sysinfo::System::host_name().unwrap_or_else(|_| "localhost".into());
            format!("w-{host}-{}", self.listen.port())
        })
    }
}
