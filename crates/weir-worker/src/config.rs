//! The worker's settings: a TOML file (`weir worker --config`), overridden by flags and `WEIR_*`
//! environment variables. `docs/configuration.md` is generated from these doc comments.

use std::net::SocketAddr;
use std::time::Duration;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use weir_core::bytesize::ByteSize;
use weir_core::duration::millis;

/// The longest worker id accepted (a DNS name's limit: ids are often host names).
pub const MAX_WORKER_ID_LEN: usize = 253;

/// Settings of `weir worker`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct WorkerConfig {
    /// URL of the master's gRPC server: `http://host:port` or `https://host:port`.
    #[serde(default = "default_master")]
    pub master: String,
    /// Address the worker's own gRPC server (deployments from the master) listens on.
    #[serde(default = "default_listen")]
    #[schemars(with = "String")]
    pub listen: SocketAddr,
    /// URL the master uses to reach this worker (`http://` or `https://`). Default:
    /// `http://<listen>`.
    #[serde(default)]
    pub advertise: Option<String>,
    /// Identity of the worker in the cluster: 1 to 253 characters, no whitespace or control
    /// characters. Default: `w-<hostname>-<listen port>`.
    #[serde(default)]
    pub id: Option<String>,
    /// Memory budget that admission control places subtasks against, e.g. `"2GiB"`, `"512MiB"`
    /// or a number of bytes; more than 0. Default: the cgroup memory limit when the worker runs
    /// under one, else `memory_fraction` of the machine's RAM.
    #[serde(default)]
    pub memory_limit: Option<ByteSize>,
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
    #[serde(
        rename = "memory_sample_interval_ms",
        with = "millis",
        default = "default_memory_sample_interval"
    )]
    #[schemars(with = "u64")]
    pub memory_sample_interval: Duration,
    /// TLS to and from the master: a `[tls]` table with `cert`, `key` and `ca`, the PEM files of
    /// the worker's certificate (`weir cert issue --name WORKER_ID`), its key and the cluster CA.
    /// All three or none. With it the worker id is the certificate's name, `master` and
    /// `advertise` are https:// URLs, and only the master's certificate may call this worker;
    /// see docs/security.md.
    #[serde(default)]
    pub tls: weir_auth::TlsConfig,
    /// Tokens for the HTTP server: an `[auth]` table with `tokens_file`, a file of
    /// `NAME ROLE SHA256-HEX` lines (`weir token new`). With it `/metrics` needs a bearer token
    /// (any role); an HTTP server beyond loopback needs it. See docs/security.md.
    #[serde(default)]
    pub auth: weir_auth::AuthConfig,
    /// Listen on a non-loopback address even without TLS (and, for HTTP, a tokens file). Anyone
    /// who reaches the port can then deploy tasks and commit files on this worker: for a
    /// network you trust completely.
    #[serde(default)]
    pub insecure: bool,
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

pub fn default_memory_sample_interval() -> Duration {
    Duration::from_millis(250)
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
            memory_sample_interval: default_memory_sample_interval(),
            tls: weir_auth::TlsConfig::default(),
            auth: weir_auth::AuthConfig::default(),
            insecure: false,
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
        if self.memory_limit == Some(ByteSize(0)) {
            return Err(InvalidSetting {
                option: "memory_limit",
                problem: "must be more than 0 bytes (with 0 the governor would pause intake \
                          forever), e.g. \"2GiB\""
                    .into(),
            });
        }
        if self.memory_sample_interval.is_zero() {
            return Err(InvalidSetting {
                option: "memory_sample_interval_ms",
                problem: "must be at least 1".into(),
            });
        }
        check_url("master", &self.master)?;
        if let Some(advertise) = &self.advertise {
            check_url("advertise", advertise)?;
        }
        if let Some(id) = &self.id {
            check_worker_id(id)?;
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

/// `url` must be `http://` or `https://` with a host: anything else would be retried forever.
fn check_url(option: &'static str, url: &str) -> Result<(), InvalidSetting> {
    let invalid = |problem: String| InvalidSetting { option, problem };
    let rest = url
        .strip_prefix("http://")
        .or_else(|| url.strip_prefix("https://"))
        .ok_or_else(|| {
            invalid(format!(
                "must be an http:// or https:// URL such as http://127.0.0.1:5800, found {:?}",
                shorten(url)
            ))
        })?;
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    if authority.is_empty() {
        return Err(invalid(format!("has no host: {:?}", shorten(url))));
    }
    url.parse::<tonic::codegen::http::Uri>()
        .map_err(|error| invalid(format!("is not a valid URL ({error}): {:?}", shorten(url))))?;
    Ok(())
}

/// A worker id must name the worker in logs, tables and certificates: not empty, no
/// whitespace or control characters, at most [`MAX_WORKER_ID_LEN`] characters.
pub fn check_worker_id(id: &str) -> Result<(), InvalidSetting> {
    let invalid = |problem: String| InvalidSetting {
        option: "id",
        problem,
    };
    if id.is_empty() {
        return Err(invalid("must not be empty".into()));
    }
    let length = id.chars().count();
    if length > MAX_WORKER_ID_LEN {
        return Err(invalid(format!(
            "is {length} characters long; at most {MAX_WORKER_ID_LEN} are allowed"
        )));
    }
    if let Some(bad) = id.chars().find(|c| c.is_whitespace() || c.is_control()) {
        return Err(invalid(format!(
            "must not contain whitespace or control characters, found {bad:?} in {:?}",
            shorten(id)
        )));
    }
    Ok(())
}

/// `text` cut to 80 characters for an error message.
fn shorten(text: &str) -> String {
    const SHOWN: usize = 80;
    if text.chars().count() <= SHOWN {
        text.to_string()
    } else {
        let mut cut: String = text.chars().take(SHOWN).collect();
        cut.push('…');
        cut
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn problem(config: &WorkerConfig) -> String {
        config.validate().unwrap_err().to_string()
    }

    #[test]
    fn a_zero_memory_limit_is_refused() {
        let config = WorkerConfig {
            memory_limit: Some(ByteSize(0)),
            ..WorkerConfig::default()
        };
        let problem = problem(&config);
        assert!(
            problem.contains("'memory_limit'") && problem.contains("more than 0"),
            "{problem}"
        );
    }

    #[test]
    fn the_master_must_be_an_http_url() {
        for (master, expected) in [
            ("ftp://x", "http:// or https://"),
            ("127.0.0.1:5800", "http:// or https://"),
            ("http://", "no host"),
            ("http:///x", "no host"),
            ("http://a b", "not a valid URL"),
        ] {
            let config = WorkerConfig {
                master: master.into(),
                ..WorkerConfig::default()
            };
            let problem = problem(&config);
            assert!(
                problem.contains("'master'") && problem.contains(expected),
                "{master}: {problem}"
            );
        }
        for master in ["http://127.0.0.1:5800", "https://master.example:443"] {
            let config = WorkerConfig {
                master: master.into(),
                ..WorkerConfig::default()
            };
            config.validate().unwrap();
        }
        let config = WorkerConfig {
            advertise: Some("grpc://w:1".into()),
            ..WorkerConfig::default()
        };
        assert!(problem(&config).contains("'advertise'"));
    }

    #[test]
    fn worker_ids_must_be_printable_and_bounded() {
        for (id, expected) in [
            ("", "must not be empty"),
            (" ", "whitespace"),
            ("w 1", "whitespace"),
            ("w\u{7}", "control"),
            ("w\n", "whitespace"),
        ] {
            let config = WorkerConfig {
                id: Some(id.into()),
                ..WorkerConfig::default()
            };
            let problem = problem(&config);
            assert!(
                problem.contains("'id'") && problem.contains(expected),
                "{id:?}: {problem}"
            );
        }
        let long = "w".repeat(MAX_WORKER_ID_LEN + 1);
        let config = WorkerConfig {
            id: Some(long),
            ..WorkerConfig::default()
        };
        assert!(problem(&config).contains("at most 253"));
        check_worker_id(&"w".repeat(MAX_WORKER_ID_LEN)).unwrap();
        check_worker_id("w-host-5801").unwrap();
    }
}
