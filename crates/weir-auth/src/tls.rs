//! TLS configurations for tonic, built from the PEM files of a `[tls]` table.
//!
//! Every connection verifies its peer against the cluster CA and by NAME, not by host: clients
//! and workers expect the master's certificate to be named `master`, the master expects a
//! worker's certificate to be named by that worker's id. A worker's certificate, valid for the
//! worker's host, therefore cannot stand in for the master on the same host, and a worker cannot
//! advertise another worker's address and receive its work.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject as _;
use tonic::transport::{Certificate, ClientTlsConfig, Identity, ServerTlsConfig};
use tracing::warn;

use crate::peer::{PeerIdentity, identity_of};
use crate::settings::TlsConfig;
use crate::{AuthError, read_small_file};

/// The name the master's certificate carries, which clients and workers verify.
pub const MASTER_NAME: &str = "master";

/// How long a TLS handshake may take before the connection is dropped, so a peer that opens a
/// socket and says nothing holds no server resources for long.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// Whether a server asks its callers for a certificate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientCerts {
    /// Callers may present one (the master: workers do, clients use tokens instead). One that
    /// is presented must still be signed by the CA, or the handshake fails.
    Optional,
    /// Callers must present one signed by the CA (a worker: only the master calls it).
    Required,
}

/// The PEMs of a `[tls]` table, read and checked once at start.
#[derive(Clone)]
pub struct LoadedTls {
    ca: Certificate,
    identity: Option<Identity>,
    /// The PEMs behind `identity`, for the HTTPS server, which takes a rustls configuration.
    identity_pem: Option<(Vec<u8>, Vec<u8>)>,
    /// Who this process's own certificate names, when it has one.
    pub own: Option<PeerIdentity>,
}

impl std::fmt::Debug for LoadedTls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoadedTls").field("own", &self.own).finish()
    }
}

fn setting(option: &'static str, problem: impl Into<String>) -> AuthError {
    AuthError::Setting {
        option,
        problem: problem.into(),
    }
}

/// The certificates in a PEM file; at least one.
fn read_certificates(path: &Path) -> Result<(Vec<u8>, Vec<CertificateDer<'static>>), AuthError> {
    let pem = read_small_file(path)?;
    let certificates: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(&pem)
        .collect::<Result<_, _>>()
        .map_err(|_| AuthError::Pem {
            path: path.to_path_buf(),
            what: "certificate",
        })?;
    if certificates.is_empty() {
        return Err(AuthError::Pem {
            path: path.to_path_buf(),
            what: "certificate",
        });
    }
    Ok((pem, certificates))
}

fn read_key(path: &Path) -> Result<Vec<u8>, AuthError> {
    let pem = read_small_file(path)?;
    rustls::pki_types::PrivateKeyDer::from_pem_slice(&pem).map_err(|_| AuthError::Pem {
        path: path.to_path_buf(),
        what: "private key",
    })?;
    warn_if_readable_by_others(path);
    Ok(pem)
}

#[cfg(unix)]
fn warn_if_readable_by_others(path: &Path) {
    use std::os::unix::fs::PermissionsExt as _;
    if let Ok(metadata) = std::fs::metadata(path)
        && metadata.permissions().mode() & 0o077 != 0
    {
        warn!(target: crate::SECURITY_TARGET, key = %path.display(), "the private key file is readable by other users; `chmod 600` it");
    }
}

#[cfg(not(unix))]
fn warn_if_readable_by_others(_path: &Path) {}

impl LoadedTls {
    /// A server's TLS (master or worker): `None` without any TLS setting; otherwise `cert`,
    /// `key` and `ca` are all required, since peers are verified against the CA.
    pub fn for_server(config: &TlsConfig) -> Result<Option<Self>, AuthError> {
        if !config.is_set() {
            return Ok(None);
        }
        let (Some(cert), Some(key), Some(ca)) = (&config.cert, &config.key, &config.ca) else {
            let missing: Vec<&str> = [
                ("tls.cert", config.cert.is_none()),
                ("tls.key", config.key.is_none()),
                ("tls.ca", config.ca.is_none()),
            ]
            .into_iter()
            .filter_map(|(name, missing)| missing.then_some(name))
            .collect();
            return Err(setting(
                "tls",
                format!(
                    "TLS needs tls.cert, tls.key and tls.ca together; {} missing",
                    missing.join(" and ")
                ),
            ));
        };
        Self::load(ca, Some((cert, key))).map(Some)
    }

    /// A client's TLS (`weir` commands): `tls.ca` is required to verify the master; `cert` and
    /// `key` are optional, but go together.
    pub fn for_client(config: &TlsConfig) -> Result<Self, AuthError> {
        let Some(ca) = &config.ca else {
            return Err(setting(
                "tls.ca",
                "an https:// master needs the cluster CA to verify it: pass --tls-ca FILE or set WEIR_TLS_CA",
            ));
        };
        let pair = match (&config.cert, &config.key) {
            (Some(cert), Some(key)) => Some((cert, key)),
            (None, None) => None,
            _ => {
                return Err(setting("tls.cert", "--tls-cert and --tls-key go together"));
            }
        };
        Self::load(ca, pair)
    }

    fn load(
        ca: &Path,
        pair: Option<(&std::path::PathBuf, &std::path::PathBuf)>,
    ) -> Result<Self, AuthError> {
        crate::install_crypto_provider();
        let (ca_pem, _) = read_certificates(ca)?;
        let (identity, identity_pem, own) = match pair {
            Some((cert, key)) => {
                let (cert_pem, chain) = read_certificates(cert)?;
                let own = identity_of(&chain[0]).map_err(|error| AuthError::Certificate {
                    what: cert.display().to_string(),
                    problem: match error {
                        AuthError::Certificate { problem, .. } => problem,
                        other => other.to_string(),
                    },
                })?;
                let key_pem = read_key(key)?;
                (
                    Some(Identity::from_pem(&cert_pem, &key_pem)),
                    Some((cert_pem, key_pem)),
                    Some(own),
                )
            }
            None => (None, None, None),
        };
        Ok(Self {
            ca: Certificate::from_pem(ca_pem),
            identity,
            identity_pem,
            own,
        })
    }

    /// The server side: this process's certificate, callers verified against the CA.
    pub fn server_config(&self, client_certs: ClientCerts) -> ServerTlsConfig {
        let mut config = ServerTlsConfig::new()
            .client_ca_root(self.ca.clone())
            .client_auth_optional(client_certs == ClientCerts::Optional)
            .timeout(HANDSHAKE_TIMEOUT);
        if let Some(identity) = &self.identity {
            config = config.identity(identity.clone());
        }
        config
    }

    /// The HTTPS side (`/metrics`, the console and its API): this process's certificate, no
    /// client certificates asked for, since browsers and Prometheus authenticate with bearer
    /// tokens. `None` when this process has no certificate of its own.
    pub fn https_config(&self) -> Result<Option<Arc<rustls::ServerConfig>>, AuthError> {
        let Some((cert_pem, key_pem)) = &self.identity_pem else {
            return Ok(None);
        };
        crate::install_crypto_provider();
        let invalid = |what: &'static str| AuthError::Certificate {
            what: what.to_string(),
            problem: "cannot be used for the HTTPS server".to_string(),
        };
        let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(cert_pem)
            .collect::<Result<_, _>>()
            .map_err(|_| invalid("tls.cert"))?;
        let key = rustls::pki_types::PrivateKeyDer::from_pem_slice(key_pem)
            .map_err(|_| invalid("tls.key"))?;
        let mut config = rustls::ServerConfig::builder()
            .with_no_client_auth()
            .with_single_cert(chain, key)
            .map_err(|error| AuthError::Certificate {
                what: "tls.cert and tls.key".to_string(),
                problem: error.to_string(),
            })?;
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(Some(Arc::new(config)))
    }

    /// The client side of a connection to the peer named `server_name` (verified against the
    /// CA), presenting this process's certificate when it has one.
    pub fn client_config(&self, server_name: &str) -> ClientTlsConfig {
        let mut config = ClientTlsConfig::new()
            .ca_certificate(self.ca.clone())
            .domain_name(server_name)
            .timeout(HANDSHAKE_TIMEOUT);
        if let Some(identity) = &self.identity {
            config = config.identity(identity.clone());
        }
        config
    }
}
