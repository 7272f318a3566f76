//! `weir cert`: a cluster CA and the certificates it signs, as PEM files.
//!
//! A certificate's subject is `CN=<name>, OU=<role>, O=Weir`; its subject alternative names
//! are `<name>` (what peers verify, see [`crate::tls`]) and the hosts given (default
//! `localhost` and `127.0.0.1`) for other tools. Keys are ECDSA P-256, written with mode 0600;
//! no file is ever overwritten.

use std::io::Write as _;
use std::net::IpAddr;
use std::path::{Path, PathBuf};

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose, SanType,
};
use time::{Duration, OffsetDateTime};

use crate::peer::CertRole;
use crate::{AuthError, read_small_file};

/// File names in a CA directory.
pub const CA_CERT_FILE: &str = "ca.pem";
pub const CA_KEY_FILE: &str = "ca-key.pem";

/// How long a CA and an issued certificate are valid.
const CA_VALIDITY_DAYS: i64 = 3650;
const CERT_VALIDITY_DAYS: i64 = 825;
/// Clocks of cluster hosts may lag a little behind the one that issued.
const BACKDATE: Duration = Duration::hours(1);

/// Hosts a certificate names when none are given.
pub const DEFAULT_HOSTS: [&str; 2] = ["localhost", "127.0.0.1"];

/// A certificate and its key, as written.
#[derive(Debug, Clone)]
pub struct Written {
    pub cert: PathBuf,
    pub key: PathBuf,
}

/// Whether `name` can name a peer: peers verify it as a DNS name. 1–63 letters, digits and
/// `-`, not starting or ending with `-`.
pub fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 63
        && !name.starts_with('-')
        && !name.ends_with('-')
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
}

fn subject(name: &str, unit: &str) -> DistinguishedName {
    let mut subject = DistinguishedName::new();
    subject.push(DnType::OrganizationName, "Weir");
    subject.push(DnType::OrganizationalUnitName, unit);
    subject.push(DnType::CommonName, name);
    subject
}

/// Creates a new cluster CA in `out` (`ca.pem`, `ca-key.pem`).
pub fn create_ca(out: &Path) -> Result<Written, AuthError> {
    let cert_path = out.join(CA_CERT_FILE);
    let key_path = out.join(CA_KEY_FILE);
    refuse_existing(&[&cert_path, &key_path])?;
    let now = OffsetDateTime::now_utc();
    let mut params = CertificateParams::default();
    params.distinguished_name = subject("Weir cluster CA", "ca");
    params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    params.not_before = now - BACKDATE;
    params.not_after = now + Duration::days(CA_VALIDITY_DAYS);
    let key = KeyPair::generate()?;
    let cert = params.self_signed(&key)?;
    create_dir(out)?;
    write_new(&key_path, key.serialize_pem().as_bytes(), 0o600)?;
    write_new(&cert_path, cert.pem().as_bytes(), 0o644)?;
    Ok(Written {
        cert: cert_path,
        key: key_path,
    })
}

/// Issues a certificate for `name` with `role`, signed by the CA in `ca_dir`, into `out`
/// (`<name>.pem`, `<name>-key.pem`). `hosts` (DNS names or IP addresses) become subject
/// alternative names beside `name`; empty means [`DEFAULT_HOSTS`].
pub fn issue(
    ca_dir: &Path,
    name: &str,
    role: CertRole,
    hosts: &[String],
    out: &Path,
) -> Result<Written, AuthError> {
    if !valid_name(name) {
        return Err(AuthError::Setting {
            option: "--name",
            problem: format!(
                "'{name}' cannot name a peer: use 1-63 letters, digits and '-' (peers verify it as a DNS name)"
            ),
        });
    }
    let cert_path = out.join(format!("{name}.pem"));
    let key_path = out.join(format!("{name}-key.pem"));
    refuse_existing(&[&cert_path, &key_path])?;

    let ca_cert_path = ca_dir.join(CA_CERT_FILE);
    let ca_key_path = ca_dir.join(CA_KEY_FILE);
    let ca_cert = utf8(&ca_cert_path, read_small_file(&ca_cert_path)?)?;
    let ca_key = utf8(&ca_key_path, read_small_file(&ca_key_path)?)?;
    let ca_key = KeyPair::from_pem(&ca_key).map_err(|error| AuthError::Certificate {
        what: ca_key_path.display().to_string(),
        problem: format!("is not a private key: {error}"),
    })?;
    let issuer =
        Issuer::from_ca_cert_pem(&ca_cert, ca_key).map_err(|error| AuthError::Certificate {
            what: ca_cert_path.display().to_string(),
            problem: format!("is not a CA certificate: {error}"),
        })?;

    let mut alt_names = vec![san(name)?];
    let defaults: Vec<String> = DEFAULT_HOSTS.iter().map(|host| host.to_string()).collect();
    for host in if hosts.is_empty() { &defaults } else { hosts } {
        let alt = san(host)?;
        if !alt_names.contains(&alt) {
            alt_names.push(alt);
        }
    }
    let now = OffsetDateTime::now_utc();
    let mut params = CertificateParams::default();
    params.distinguished_name = subject(name, role.as_str());
    params.subject_alt_names = alt_names;
    params.is_ca = IsCa::ExplicitNoCa;
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    params.extended_key_usages = match role {
        // Masters and workers both serve and call.
        CertRole::Master | CertRole::Worker => vec![
            ExtendedKeyUsagePurpose::ServerAuth,
            ExtendedKeyUsagePurpose::ClientAuth,
        ],
        CertRole::Client => vec![ExtendedKeyUsagePurpose::ClientAuth],
    };
    params.use_authority_key_identifier_extension = true;
    params.not_before = now - BACKDATE;
    params.not_after = now + Duration::days(CERT_VALIDITY_DAYS);
    let key = KeyPair::generate()?;
    let cert = params.signed_by(&key, &issuer)?;
    create_dir(out)?;
    write_new(&key_path, key.serialize_pem().as_bytes(), 0o600)?;
    write_new(&cert_path, cert.pem().as_bytes(), 0o644)?;
    Ok(Written {
        cert: cert_path,
        key: key_path,
    })
}

fn utf8(path: &Path, bytes: Vec<u8>) -> Result<String, AuthError> {
    String::from_utf8(bytes).map_err(|_| AuthError::Pem {
        path: path.to_path_buf(),
        what: "certificate or key",
    })
}

fn san(host: &str) -> Result<SanType, AuthError> {
    if let Ok(ip) = host.parse::<IpAddr>() {
        return Ok(SanType::IpAddress(ip));
    }
    let refused = || AuthError::Setting {
        option: "--host",
        problem: format!("'{host}' is neither an IP address nor a DNS name"),
    };
    let is_dns_name = host.len() <= 253 && host.split('.').all(valid_name);
    if !is_dns_name {
        return Err(refused());
    }
    Ok(SanType::DnsName(host.try_into().map_err(|_| refused())?))
}

fn refuse_existing(paths: &[&Path]) -> Result<(), AuthError> {
    match paths.iter().find(|path| path.exists()) {
        Some(path) => Err(AuthError::Exists {
            path: path.to_path_buf(),
        }),
        None => Ok(()),
    }
}

fn create_dir(dir: &Path) -> Result<(), AuthError> {
    std::fs::create_dir_all(dir).map_err(|source| AuthError::Write {
        path: dir.to_path_buf(),
        source,
    })
}

/// Writes a file that must not exist yet, created with `mode` (so a key is never readable by
/// others, not even for a moment).
fn write_new(path: &Path, bytes: &[u8], mode: u32) -> Result<(), AuthError> {
    let write_error = |source| AuthError::Write {
        path: path.to_path_buf(),
        source,
    };
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        options.mode(mode);
    }
    #[cfg(not(unix))]
    let _ = mode;
    let mut file = options.open(path).map_err(write_error)?;
    file.write_all(bytes).map_err(write_error)?;
    file.sync_all().map_err(write_error)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::peer::identity_of;
    use rustls::pki_types::CertificateDer;
    use rustls::pki_types::pem::PemObject as _;

    fn der(path: &Path) -> CertificateDer<'static> {
        CertificateDer::from_pem_file(path).expect("a PEM certificate")
    }

    /// The DNS names and IP addresses a certificate is for.
    fn alt_names(path: &Path) -> Vec<String> {
        use x509_parser::extensions::GeneralName;
        let der = der(path);
        let (_, parsed) = x509_parser::parse_x509_certificate(&der).expect("x509");
        parsed
            .subject_alternative_name()
            .expect("extension")
            .expect("SANs")
            .value
            .general_names
            .iter()
            .map(|name| match name {
                GeneralName::DNSName(dns) => dns.to_string(),
                GeneralName::IPAddress(bytes) => match <[u8; 4]>::try_from(*bytes) {
                    Ok(v4) => IpAddr::from(v4).to_string(),
                    Err(_) => format!("{bytes:?}"),
                },
                other => format!("{other:?}"),
            })
            .collect()
    }

    #[test]
    fn a_ca_issues_certificates_with_name_role_and_hosts() {
        let dir = tempfile::tempdir().expect("tempdir");
        let ca = create_ca(dir.path()).expect("ca");
        let issued = issue(
            dir.path(),
            "worker-1",
            CertRole::Worker,
            &["node-7.example".into(), "10.1.2.3".into()],
            &dir.path().join("out"),
        )
        .expect("issue");
        assert_eq!(issued.cert, dir.path().join("out/worker-1.pem"));
        let identity = identity_of(&der(&issued.cert)).expect("identity");
        assert_eq!(identity.name, "worker-1");
        assert_eq!(identity.role, CertRole::Worker);

        assert_eq!(
            alt_names(&issued.cert),
            ["worker-1", "node-7.example", "10.1.2.3"]
        );
        let cert_der = der(&issued.cert);
        let (_, parsed) = x509_parser::parse_x509_certificate(&cert_der).expect("x509");
        // Signed by the CA: the issuer is the CA's subject, and the signature verifies.
        let ca_der = der(&ca.cert);
        let (_, ca_parsed) = x509_parser::parse_x509_certificate(&ca_der).expect("ca x509");
        assert_eq!(parsed.issuer(), ca_parsed.subject());
        parsed
            .verify_signature(Some(ca_parsed.public_key()))
            .expect("signed by the CA");
        assert!(ca_parsed.is_ca());
    }

    #[test]
    fn default_hosts_are_localhost_and_loopback() {
        let dir = tempfile::tempdir().expect("tempdir");
        create_ca(dir.path()).expect("ca");
        let issued = issue(dir.path(), "master", CertRole::Master, &[], dir.path()).expect("issue");
        assert_eq!(
            alt_names(&issued.cert),
            ["master", "localhost", "127.0.0.1"]
        );
    }

    #[cfg(unix)]
    #[test]
    fn keys_are_private_and_nothing_is_overwritten() {
        use std::os::unix::fs::PermissionsExt as _;
        let dir = tempfile::tempdir().expect("tempdir");
        let ca = create_ca(dir.path()).expect("ca");
        let mode = |path: &Path| {
            std::fs::metadata(path)
                .expect("metadata")
                .permissions()
                .mode()
                & 0o777
        };
        assert_eq!(mode(&ca.key), 0o600);
        let issued = issue(dir.path(), "client", CertRole::Client, &[], dir.path()).expect("issue");
        assert_eq!(mode(&issued.key), 0o600);
        let before = std::fs::read(&ca.key).expect("read");
        assert!(matches!(
            create_ca(dir.path()),
            Err(AuthError::Exists { .. })
        ));
        assert!(matches!(
            issue(dir.path(), "client", CertRole::Client, &[], dir.path()),
            Err(AuthError::Exists { .. })
        ));
        assert_eq!(std::fs::read(&ca.key).expect("read"), before);
    }

    #[test]
    fn bad_names_and_hosts_are_refused() {
        let dir = tempfile::tempdir().expect("tempdir");
        create_ca(dir.path()).expect("ca");
        for name in ["", "a/b", "../x", "-x", "a b", "ünïcode"] {
            assert!(
                issue(dir.path(), name, CertRole::Worker, &[], dir.path()).is_err(),
                "{name:?}"
            );
        }
        let error = issue(
            dir.path(),
            "w1",
            CertRole::Worker,
            &["bad host!".into()],
            dir.path(),
        )
        .expect_err("bad host");
        assert!(error.to_string().contains("bad host!"), "{error}");
        let error = issue(
            dir.path().join("nowhere").as_path(),
            "w2",
            CertRole::Worker,
            &[],
            dir.path(),
        )
        .expect_err("no CA");
        assert!(error.to_string().contains("ca.pem"), "{error}");
    }
}
