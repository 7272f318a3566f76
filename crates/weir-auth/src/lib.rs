//! Security of Weir's control plane, shared by master, worker and client.
//!
//! - [`settings`]: the `[tls]` and `[auth]` settings and the files they name, loaded once.
//! - [`tls`]: tonic server and client TLS configurations built from them (rustls with ring).
//! - [`peer`]: the name and role a peer's certificate carries (its CN and OU).
//! - [`tokens`]: client bearer tokens: the tokens file of hashes, roles, constant-time checks.
//! - [`guard`]: the tower layer in front of every gRPC server that decides who may call what.
//! - [`certs`]: `weir cert`: a cluster CA and certificates it signs.
//! - [`exposure`]: whether a server may listen where it was told to.
//! - [`refusals`]: refused requests counted, and logged without flooding the log.
//!
//! `docs/security.md` describes the threat model these pieces answer.

pub mod certs;
pub mod exposure;
pub mod guard;
pub mod peer;
pub mod refusals;
pub mod settings;
pub mod tls;
pub mod tokens;

use std::io::Read as _;
use std::path::{Path, PathBuf};

pub use guard::{Caller, GuardLayer, Policy, check_claimed_worker};
pub use peer::{CertRole, PeerIdentity};
pub use settings::{AuthConfig, TlsConfig};
pub use tls::{ClientCerts, LoadedTls, MASTER_NAME};
pub use tokens::{Role, TokenTable};

pub use weir_core::SECURITY_TARGET;

/// Largest PEM or tokens file read: far above any real certificate chain or token list, small
/// enough that a wrong path (a device, a huge file) cannot exhaust memory.
pub const MAX_FILE_BYTES: u64 = 1024 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    #[error("cannot read {}: {source}", path.display())]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{} is not a regular file", path.display())]
    NotAFile { path: PathBuf },
    #[error("{} is larger than {MAX_FILE_BYTES} bytes; is it the right file?", path.display())]
    TooLarge { path: PathBuf },
    #[error("{} holds no {what} in PEM form", path.display())]
    Pem { path: PathBuf, what: &'static str },
    #[error("certificate {what}: {problem}")]
    Certificate { what: String, problem: String },
    #[error("setting '{option}': {problem}")]
    Setting {
        option: &'static str,
        problem: String,
    },
    #[error("tokens file {}, line {line}: {problem}", path.display())]
    TokensFile {
        path: PathBuf,
        line: usize,
        problem: String,
    },
    #[error("tokens file {}: {problem}", path.display())]
    Tokens { path: PathBuf, problem: String },
    #[error("cannot generate a certificate: {0}")]
    Generate(#[from] rcgen::Error),
    #[error("cannot write {}: {source}", path.display())]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{} already exists; remove it or choose another --out directory", path.display())]
    Exists { path: PathBuf },
    #[error("the system's random number generator failed")]
    Random,
    #[error(
        "refusing to listen on {address} without {missing}: anyone who can reach that address \
         could control this {who}. Configure it (see docs/security.md), listen on a loopback \
         address, or pass --insecure"
    )]
    Exposed {
        who: &'static str,
        address: std::net::SocketAddr,
        missing: &'static str,
    },
}

/// Makes ring rustls's process-wide crypto provider, so building a TLS configuration never
/// depends on which providers other dependencies happen to enable. Idempotent.
pub fn install_crypto_provider() {
    // Err means a provider is installed already, which is what we want.
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// Reads a small settings file (a PEM, a tokens file): a regular file of at most
/// [`MAX_FILE_BYTES`], checked before reading so a device or a FIFO is refused, not read forever.
pub fn read_small_file(path: &Path) -> Result<Vec<u8>, AuthError> {
    let read_error = |source| AuthError::Read {
        path: path.to_path_buf(),
        source,
    };
    let file = std::fs::File::open(path).map_err(read_error)?;
    let metadata = file.metadata().map_err(read_error)?;
    if !metadata.is_file() {
        return Err(AuthError::NotAFile {
            path: path.to_path_buf(),
        });
    }
    if metadata.len() > MAX_FILE_BYTES {
        return Err(AuthError::TooLarge {
            path: path.to_path_buf(),
        });
    }
    let mut bytes = Vec::with_capacity(metadata.len() as usize);
    // The file may grow between the check and the read: never take more than the bound.
    file.take(MAX_FILE_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(read_error)?;
    if bytes.len() as u64 > MAX_FILE_BYTES {
        return Err(AuthError::TooLarge {
            path: path.to_path_buf(),
        });
    }
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_files_are_read_and_devices_refused() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("a.pem");
        std::fs::write(&path, b"hello").expect("write");
        assert_eq!(read_small_file(&path).expect("read"), b"hello");
        let error = read_small_file(Path::new("/dev/zero")).expect_err("a device");
        assert!(matches!(error, AuthError::NotAFile { .. }), "{error}");
        let big = dir.path().join("big");
        std::fs::write(&big, vec![b'x'; MAX_FILE_BYTES as usize + 1]).expect("write");
        assert!(matches!(
            read_small_file(&big),
            Err(AuthError::TooLarge { .. })
        ));
        let missing = read_small_file(&dir.path().join("missing")).expect_err("missing");
        assert!(missing.to_string().contains("missing"), "{missing}");
    }
}
