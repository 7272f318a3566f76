//! Security settings on the command line (`--tls-*`, `--tokens-file`, `--insecure`, the
//! client's token), and the `weir cert` and `weir token` commands. See docs/security.md.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use clap::{Args, Subcommand, ValueEnum};
use tonic::metadata::{Ascii, MetadataValue};
use tonic::transport::ClientTlsConfig;
use weir_auth::certs::{self, DEFAULT_HOSTS};
use weir_auth::tokens::{self, Role};
use weir_auth::{CertRole, LoadedTls, MASTER_NAME, TlsConfig};
use weir_master::MasterConfig;
use weir_worker::WorkerConfig;

/// `--tls-cert`, `--tls-key`, `--tls-ca`: the `[tls]` table of the settings.
#[derive(Args, Debug, Clone, Default)]
pub struct TlsArgs {
    /// PEM certificate of this process, from `weir cert issue` (see docs/security.md).
    #[arg(long = "tls-cert", env = "WEIR_TLS_CERT", value_name = "FILE")]
    cert: Option<PathBuf>,
    /// PEM private key of --tls-cert.
    #[arg(long = "tls-key", env = "WEIR_TLS_KEY", value_name = "FILE")]
    key: Option<PathBuf>,
    /// PEM certificate of the cluster CA (`weir cert ca`) that peers are verified against.
    #[arg(long = "tls-ca", env = "WEIR_TLS_CA", value_name = "FILE")]
    ca: Option<PathBuf>,
}

impl TlsArgs {
    fn into_config(self) -> TlsConfig {
        TlsConfig {
            cert: self.cert,
            key: self.key,
            ca: self.ca,
        }
    }
}

/// Security flags of `weir master`.
#[derive(Args)]
pub struct MasterSecurityArgs {
    #[command(flatten)]
    tls: TlsArgs,
    /// File of client tokens (`NAME ROLE SHA256-HEX` lines, see `weir token new`); every
    /// client call then needs a token [default: none: clients are not authenticated].
    #[arg(long, env = "WEIR_TOKENS_FILE", value_name = "FILE")]
    tokens_file: Option<PathBuf>,
    /// Listen on a non-loopback address without TLS and tokens (a loud warning is logged).
    #[arg(long, env = "WEIR_INSECURE")]
    insecure: bool,
}

impl MasterSecurityArgs {
    /// Flags and variables override the settings file.
    pub fn apply(self, config: &mut MasterConfig) {
        config.tls.override_with(self.tls.into_config());
        if self.tokens_file.is_some() {
            config.auth.tokens_file = self.tokens_file;
        }
        if self.insecure {
            config.insecure = true;
        }
    }
}

/// Security flags of `weir worker`.
#[derive(Args)]
pub struct WorkerSecurityArgs {
    #[command(flatten)]
    tls: TlsArgs,
    /// File of tokens (`NAME ROLE SHA256-HEX` lines, see `weir token new`) that the HTTP server
    /// asks `/metrics` callers for [default: none: HTTP callers are not authenticated].
    #[arg(long, env = "WEIR_TOKENS_FILE", value_name = "FILE")]
    tokens_file: Option<PathBuf>,
    /// Listen on a non-loopback address without TLS (a loud warning is logged).
    #[arg(long, env = "WEIR_INSECURE")]
    insecure: bool,
}

impl WorkerSecurityArgs {
    /// Flags and variables override the settings file.
    pub fn apply(self, config: &mut WorkerConfig) {
        config.tls.override_with(self.tls.into_config());
        if self.tokens_file.is_some() {
            config.auth.tokens_file = self.tokens_file;
        }
        if self.insecure {
            config.insecure = true;
        }
    }
}

/// How a client command reaches a secured master: TLS for an https:// master, and its token.
#[derive(Args, Debug, Clone, Default)]
pub struct ClientAccessArgs {
    #[command(flatten)]
    tls: TlsArgs,
    /// File holding the client token (`weir token new`) [default: the WEIR_TOKEN variable].
    #[arg(long, env = "WEIR_TOKEN_FILE", value_name = "FILE")]
    token_file: Option<PathBuf>,
}

/// The environment variable holding a client token (a flag would show in `ps`).
pub const TOKEN_ENV: &str = "WEIR_TOKEN";

impl ClientAccessArgs {
    /// TLS for `master`: an https:// master is verified against --tls-ca as `master`; an
    /// http:// one is plain.
    pub fn tls_for(&self, master: &str) -> anyhow::Result<Option<ClientTlsConfig>> {
        if !master.starts_with("https://") {
            return Ok(None);
        }
        let tls = LoadedTls::for_client(&self.tls.clone().into_config())?;
        Ok(Some(tls.client_config(MASTER_NAME)))
    }

    /// The token to send: from --token-file, else from WEIR_TOKEN; none if neither is set.
    pub fn token(&self) -> anyhow::Result<BearerToken> {
        let (token, source) = match &self.token_file {
            Some(path) => {
                let bytes = weir_auth::read_small_file(path)?;
                let text = String::from_utf8(bytes)
                    .with_context(|| format!("the token file {} is not text", path.display()))?;
                (text, path.display().to_string())
            }
            None => match std::env::var(TOKEN_ENV) {
                Ok(token) => (token, TOKEN_ENV.to_string()),
                Err(_) => return Ok(BearerToken(None)),
            },
        };
        let token = token.trim();
        if token.is_empty() {
            anyhow::bail!("the token in {source} is empty");
        }
        let mut value: MetadataValue<Ascii> = format!("Bearer {token}").parse().map_err(|_| {
            anyhow::anyhow!("the token in {source} is not a token (letters and digits expected)")
        })?;
        // Keeps it out of any debug output of the request.
        value.set_sensitive(true);
        Ok(BearerToken(Some(value)))
    }
}

/// Adds the client's token to every call.
#[derive(Clone)]
pub struct BearerToken(Option<MetadataValue<Ascii>>);

impl tonic::service::Interceptor for BearerToken {
    fn call(
        &mut self,
        mut request: tonic::Request<()>,
    ) -> Result<tonic::Request<()>, tonic::Status> {
        if let Some(value) = &self.0 {
            request
                .metadata_mut()
                .insert("authorization", value.clone());
        }
        Ok(request)
    }
}

#[derive(Args)]
pub struct CertArgs {
    #[command(subcommand)]
    command: CertCommand,
}

#[derive(Subcommand)]
enum CertCommand {
    /// Create a cluster CA: DIR/ca.pem and DIR/ca-key.pem. Whoever holds the key can make
    /// cluster members: keep it off the cluster's hosts.
    Ca {
        /// Directory to write into (created if missing; existing files are never overwritten).
        #[arg(long, value_name = "DIR")]
        out: PathBuf,
    },
    /// Issue a certificate signed by the cluster CA: DIR/NAME.pem and DIR/NAME-key.pem.
    Issue {
        /// Whom it is for: `master`, a worker id such as `worker-1`, or a client name.
        #[arg(long)]
        name: String,
        /// Directory of the CA (`weir cert ca --out DIR`).
        #[arg(long, value_name = "DIR")]
        ca: PathBuf,
        /// Directory to write into (created if missing; existing files are never overwritten).
        #[arg(long, value_name = "DIR")]
        out: PathBuf,
        /// A host name or IP address the certificate is also valid for; repeatable
        /// [default: localhost and 127.0.0.1].
        #[arg(long = "host", value_name = "HOST")]
        hosts: Vec<String>,
        /// Its role [default: master for `master`, client for `client` and `client-*`, worker
        /// otherwise].
        #[arg(long, value_enum)]
        role: Option<RoleArg>,
    },
}

#[derive(Clone, Copy, ValueEnum)]
enum RoleArg {
    Master,
    Worker,
    Client,
}

pub fn cert(args: CertArgs) -> anyhow::Result<ExitCode> {
    match args.command {
        CertCommand::Ca { out } => {
            let written = certs::create_ca(&out)?;
            out!(
                "wrote {} and {} (keep the key private: it signs cluster members)",
                written.cert.display(),
                written.key.display()
            )?;
            out!(
                "next: weir cert issue --name master --ca {dir} --out {dir}",
                dir = out.display()
            )?;
        }
        CertCommand::Issue {
            name,
            ca,
            out,
            hosts,
            role,
        } => {
            let role = match role {
                Some(RoleArg::Master) => CertRole::Master,
                Some(RoleArg::Worker) => CertRole::Worker,
                Some(RoleArg::Client) => CertRole::Client,
                None => CertRole::default_for(&name),
            };
            let written = certs::issue(&ca, &name, role, &hosts, &out)?;
            let hosts = if hosts.is_empty() {
                DEFAULT_HOSTS.join(", ")
            } else {
                hosts.join(", ")
            };
            out!(
                "wrote {} and {} for the {role} '{name}' (also valid for {hosts})",
                written.cert.display(),
                written.key.display()
            )?;
            out!(
                "use: --tls-cert {} --tls-key {} --tls-ca {}",
                written.cert.display(),
                written.key.display(),
                ca.join(certs::CA_CERT_FILE).display()
            )?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

#[derive(Args)]
pub struct TokenArgs {
    #[command(subcommand)]
    command: TokenCommand,
}

#[derive(Subcommand)]
enum TokenCommand {
    /// Make a client token: prints it once on stdout, and its tokens-file line (which holds
    /// only its hash) on stderr or appended to --append FILE.
    New {
        /// Whose token it is (shown in the master's logs, never the token).
        #[arg(long)]
        name: String,
        /// What it may do: `viewer` lists and shows; `admin` also submits, stops, cancels.
        #[arg(long, value_enum)]
        role: RoleName,
        /// Append the line to this tokens file (created with mode 0600 if missing).
        #[arg(long, value_name = "FILE")]
        append: Option<PathBuf>,
    },
}

#[derive(Clone, Copy, ValueEnum)]
enum RoleName {
    Viewer,
    Admin,
}

pub fn token(args: TokenArgs) -> anyhow::Result<ExitCode> {
    let TokenCommand::New { name, role, append } = args.command;
    if !tokens::valid_name(&name) {
        anyhow::bail!(
            "'{name}' cannot name a token: use 1-64 letters, digits, '.', '_', '@' or '-'"
        );
    }
    let role = match role {
        RoleName::Viewer => Role::Viewer,
        RoleName::Admin => Role::Admin,
    };
    let token = tokens::new_token()?;
    let line = tokens::tokens_file_line(&name, role, &token);
    match &append {
        Some(path) => {
            append_line(path, &line)?;
            eprintln!(
                "added '{name}' ({role}) to {}; restart the master to take it in",
                path.display()
            );
        }
        None => eprintln!(
            "line for the master's tokens file (auth.tokens_file / --tokens-file):\n{line}"
        ),
    }
    eprintln!(
        "the token below is shown only this once; {name} passes it as WEIR_TOKEN=<token> or in a file given with --token-file"
    );
    out!("{token}")?;
    Ok(ExitCode::SUCCESS)
}

fn append_line(path: &Path, line: &str) -> anyhow::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.create(true).append(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        options.mode(0o600);
    }
    let mut file = options
        .open(path)
        .with_context(|| format!("cannot open the tokens file {}", path.display()))?;
    writeln!(file, "{line}").with_context(|| format!("cannot write to {}", path.display()))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use clap::Parser as _;

    use super::*;

    #[derive(clap::Parser)]
    struct MasterFlags {
        #[command(flatten)]
        security: MasterSecurityArgs,
    }

    #[test]
    fn tls_and_auth_tables_parse_and_reject_unknown_keys() {
        let config: MasterConfig = toml::from_str(
            "[tls]\ncert = \"m.pem\"\nkey = \"m-key.pem\"\nca = \"ca.pem\"\n[auth]\ntokens_file = \"tokens\"\n",
        )
        .expect("a master settings file");
        assert_eq!(config.tls.cert, Some(PathBuf::from("m.pem")));
        assert_eq!(config.tls.ca, Some(PathBuf::from("ca.pem")));
        assert_eq!(config.auth.tokens_file, Some(PathBuf::from("tokens")));
        assert!(!config.insecure);
        let error = toml::from_str::<MasterConfig>("[tls]\ncertificate = \"m.pem\"\n")
            .expect_err("an unknown key");
        assert!(error.to_string().contains("certificate"), "{error}");
        let worker: WorkerConfig =
            toml::from_str("insecure = true\n[tls]\nca = \"ca.pem\"\n").expect("worker settings");
        assert!(worker.insecure);
        assert_eq!(worker.tls.ca, Some(PathBuf::from("ca.pem")));
    }

    #[test]
    fn flags_override_the_settings_file() {
        let mut config: MasterConfig =
            toml::from_str("[tls]\ncert = \"file.pem\"\nca = \"file-ca.pem\"\n").expect("settings");
        let flags = MasterFlags::try_parse_from([
            "master",
            "--tls-cert",
            "flag.pem",
            "--tokens-file",
            "flag-tokens",
            "--insecure",
        ])
        .expect("flags");
        flags.security.apply(&mut config);
        assert_eq!(config.tls.cert, Some(PathBuf::from("flag.pem")));
        assert_eq!(
            config.tls.ca,
            Some(PathBuf::from("file-ca.pem")),
            "kept from the file"
        );
        assert_eq!(config.auth.tokens_file, Some(PathBuf::from("flag-tokens")));
        assert!(config.insecure);
    }

    #[test]
    fn an_http_master_needs_no_ca_and_an_https_one_does() {
        let access = ClientAccessArgs::default();
        assert!(
            access
                .tls_for("http://127.0.0.1:5800")
                .expect("plain")
                .is_none()
        );
        let error = access.tls_for("https://127.0.0.1:5800").expect_err("no CA");
        assert!(error.to_string().contains("--tls-ca"), "{error}");
    }
}
