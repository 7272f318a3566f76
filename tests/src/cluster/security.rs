//! Secured test clusters: certificates from `weir cert` and client tokens from `weir token`,
//! made the way docs/security.md tells an operator to. A [`Master`] started with
//! [`MasterOptions::secured`] listens with TLS and a tokens file; its client commands pass the
//! CA and the admin token, and workers started for it get a certificate named by their id.

use tonic::transport::{Certificate, Channel, ClientTlsConfig, Endpoint, Identity};

use super::*;

/// The certificates and tokens of a secured test cluster.
#[derive(Debug, Clone)]
pub struct Secured {
    /// The `weir` binary that makes the certificates.
    binary: PathBuf,
    dir: PathBuf,
    tokens_file: PathBuf,
    admin_token: String,
    viewer_token: String,
}

/// Runs `weir ARGS`, which must succeed, and returns its stdout.
pub fn weir_ok(args: &[&str]) -> String {
    weir_ok_with(&weir_binary(), args).unwrap_or_else(|error| panic!("{error}"))
}

/// Runs `binary ARGS`, which must succeed, and returns its stdout.
fn weir_ok_with(binary: &Path, args: &[&str]) -> Result<String, HarnessError> {
    let output = run_weir(binary, args, None)?;
    if !output.status.success() {
        return Err(HarnessError::Command {
            cluster: "certificates".to_string(),
            message: describe(args, &output),
        });
    }
    Ok(String::from_utf8_lossy(&output.stdout).into_owned())
}

impl Secured {
    /// `weir cert ca`, `weir cert issue --name master` and an admin and a viewer token
    /// (`weir token new --append`) in `dir`.
    pub fn create(dir: &Path) -> Self {
        Self::try_create(&weir_binary(), dir).unwrap_or_else(|error| panic!("{error}"))
    }

    /// [`Secured::create`] with `binary`, or what failed.
    pub fn try_create(binary: &Path, dir: &Path) -> Result<Self, HarnessError> {
        let path = dir.display().to_string();
        let weir_ok = |args: &[&str]| weir_ok_with(binary, args);
        weir_ok(&["cert", "ca", "--out", &path])?;
        weir_ok(&[
            "cert", "issue", "--name", "master", "--ca", &path, "--out", &path,
        ])?;
        let tokens_file = dir.join("tokens");
        let tokens = tokens_file.display().to_string();
        let token = |name: &str, role: &str| {
            weir_ok(&[
                "token", "new", "--name", name, "--role", role, "--append", &tokens,
            ])
            .map(|token| token.trim().to_string())
        };
        let admin_token = token("admin", "admin")?;
        let viewer_token = token("viewer", "viewer")?;
        Ok(Self {
            binary: binary.to_path_buf(),
            dir: dir.to_path_buf(),
            tokens_file,
            admin_token,
            viewer_token,
        })
    }

    /// The directory of the CA and the issued certificates.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The cluster CA's certificate.
    pub fn ca_cert(&self) -> PathBuf {
        self.dir.join("ca.pem")
    }

    pub fn admin_token(&self) -> &str {
        &self.admin_token
    }

    pub fn viewer_token(&self) -> &str {
        &self.viewer_token
    }

    /// The certificate and key for `name` signed by the cluster CA, issued on first use
    /// (`weir cert issue --name NAME`, role from the name).
    pub fn issue(&self, name: &str) -> (PathBuf, PathBuf) {
        self.try_issue(name)
            .unwrap_or_else(|error| panic!("{error}"))
    }

    /// [`Secured::issue`], or why `weir cert issue` failed.
    pub fn try_issue(&self, name: &str) -> Result<(PathBuf, PathBuf), HarnessError> {
        let files = (
            self.dir.join(format!("{name}.pem")),
            self.dir.join(format!("{name}-key.pem")),
        );
        if !files.0.exists() {
            let dir = self.dir.display().to_string();
            weir_ok_with(
                &self.binary,
                &["cert", "issue", "--name", name, "--ca", &dir, "--out", &dir],
            )?;
        }
        Ok(files)
    }

    pub(super) fn master_args(&self) -> Vec<String> {
        // `try_create` issued the master's certificate.
        let (cert, key) = (self.dir.join("master.pem"), self.dir.join("master-key.pem"));
        let mut args = self.peer_args(&cert, &key);
        args.extend([
            "--tokens-file".to_string(),
            self.tokens_file.display().to_string(),
        ]);
        args
    }

    /// `--tls-cert CERT --tls-key KEY --tls-ca <the cluster CA>`.
    pub fn peer_args(&self, cert: &Path, key: &Path) -> Vec<String> {
        vec![
            "--tls-cert".to_string(),
            cert.display().to_string(),
            "--tls-key".to_string(),
            key.display().to_string(),
            "--tls-ca".to_string(),
            self.ca_cert().display().to_string(),
        ]
    }

    /// A gRPC channel to `url` that verifies the server against the cluster CA as
    /// `server_name` and presents `identity` (certificate and key files) if given: for calls
    /// made past the `weir` client, as an attacker or a rogue peer would.
    pub async fn channel(
        &self,
        url: &str,
        server_name: &str,
        identity: Option<(&Path, &Path)>,
    ) -> Result<Channel, tonic::transport::Error> {
        let read = |path: &Path| {
            std::fs::read(path)
                .unwrap_or_else(|error| panic!("cannot read {}: {error}", path.display()))
        };
        let mut tls = ClientTlsConfig::new()
            .ca_certificate(Certificate::from_pem(read(&self.ca_cert())))
            .domain_name(server_name);
        if let Some((cert, key)) = identity {
            tls = tls.identity(Identity::from_pem(read(cert), read(key)));
        }
        Endpoint::from_shared(url.to_string())?
            .connect_timeout(Duration::from_secs(5))
            .timeout(Duration::from_secs(10))
            .tls_config(tls)?
            .connect()
            .await
    }
}
