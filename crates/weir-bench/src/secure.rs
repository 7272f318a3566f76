//! `--tls`: benchmark clusters with mutual TLS and a client token, set up as docs/security.md
//! tells an operator to (`weir cert`, `weir token new`), to measure what the secured control
//! plane costs.

use std::path::{Path, PathBuf};

use anyhow::bail;

use crate::cluster::{Weir, describe};

/// The certificates and the admin token of a secured benchmark cluster.
#[derive(Debug, Clone)]
pub struct Secure {
    dir: PathBuf,
    token: String,
}

impl Secure {
    /// A CA, the master's certificate and an admin token, in `dir`.
    pub fn create(weir: &Weir, dir: &Path) -> anyhow::Result<Self> {
        let path = dir.display().to_string();
        run(weir, &["cert", "ca", "--out", &path])?;
        run(
            weir,
            &[
                "cert", "issue", "--name", "master", "--ca", &path, "--out", &path,
            ],
        )?;
        let tokens = dir.join("tokens").display().to_string();
        let token = run(
            weir,
            &[
                "token", "new", "--name", "bench", "--role", "admin", "--append", &tokens,
            ],
        )?;
        Ok(Self {
            dir: dir.to_path_buf(),
            token: token.trim().to_string(),
        })
    }

    /// The client token to send.
    pub fn token(&self) -> &str {
        &self.token
    }

    /// Settings of the master.
    pub fn master_args(&self) -> Vec<String> {
        let mut args = self.peer_args("master");
        args.extend([
            "--tokens-file".to_string(),
            self.dir.join("tokens").display().to_string(),
        ]);
        args
    }

    /// Settings of worker `id`, issuing its certificate.
    pub fn worker_args(&self, weir: &Weir, id: &str) -> anyhow::Result<Vec<String>> {
        let dir = self.dir.display().to_string();
        run(
            weir,
            &["cert", "issue", "--name", id, "--ca", &dir, "--out", &dir],
        )?;
        Ok(self.peer_args(id))
    }

    /// `--tls-ca` for client commands.
    pub fn client_args(&self) -> Vec<String> {
        vec![
            "--tls-ca".to_string(),
            self.dir.join("ca.pem").display().to_string(),
        ]
    }

    fn peer_args(&self, name: &str) -> Vec<String> {
        let file = |suffix: &str| {
            self.dir
                .join(format!("{name}{suffix}"))
                .display()
                .to_string()
        };
        let mut args = vec![
            "--tls-cert".to_string(),
            file(".pem"),
            "--tls-key".to_string(),
            file("-key.pem"),
        ];
        args.extend(self.client_args());
        args
    }
}

fn run(weir: &Weir, args: &[&str]) -> anyhow::Result<String> {
    let output = weir.run(args)?;
    if !output.status.success() {
        bail!("{}", describe(args, &output));
    }
    Ok(String::from_utf8_lossy(&output.stdout).into_owned())
}
