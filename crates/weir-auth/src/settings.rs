//! The `[tls]` and `[auth]` tables of the master's and worker's settings files. Flags
//! (`--tls-cert` …) and `WEIR_TLS_*` / `WEIR_TOKENS_FILE` variables override them.

use std::path::PathBuf;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// TLS on the gRPC connections of this process. Set all three to turn it on (see
/// docs/security.md); set none for plain gRPC, which is allowed on loopback addresses only
/// unless `insecure` is set.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TlsConfig {
    /// PEM certificate of this process, from `weir cert issue`. A worker's certificate names
    /// its worker id; the master's is named `master`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(with = "Option<String>")]
    pub cert: Option<PathBuf>,
    /// PEM private key of `cert`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(with = "Option<String>")]
    pub key: Option<PathBuf>,
    /// PEM certificate of the cluster CA (`weir cert ca`). Peers must present a certificate it
    /// signed: workers to the master, the master to workers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(with = "Option<String>")]
    pub ca: Option<PathBuf>,
}

impl TlsConfig {
    /// Whether any TLS file is set (a server then needs all of them).
    pub fn is_set(&self) -> bool {
        self.cert.is_some() || self.key.is_some() || self.ca.is_some()
    }

    /// Fields set from flags or the environment replace those of the file.
    pub fn override_with(&mut self, other: TlsConfig) {
        if other.cert.is_some() {
            self.cert = other.cert;
        }
        if other.key.is_some() {
            self.key = other.key;
        }
        if other.ca.is_some() {
            self.ca = other.ca;
        }
    }
}

/// Client authentication: on the master's JobService, and on the HTTP servers' data routes
/// (`/metrics`, the console's API).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AuthConfig {
    /// File of client tokens, one line each: `NAME ROLE SHA256-HEX` (role `admin` or `viewer`;
    /// `weir token new` prints such a line). When set, every client call needs a token (the
    /// HTTP probes `/healthz` and `/readyz` excepted).
    /// Absent: clients are not authenticated (allowed on loopback addresses only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(with = "Option<String>")]
    pub tokens_file: Option<PathBuf>,
}

impl AuthConfig {
    /// The tokens of `tokens_file`, read and checked once at start; `None` without one.
    pub fn load_tokens(&self) -> Result<Option<crate::TokenTable>, crate::AuthError> {
        self.tokens_file
            .as_deref()
            .map(crate::TokenTable::load)
            .transpose()
    }
}
