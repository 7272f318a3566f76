//! A real Weir cluster for end-to-end tests: `weir master` and `weir worker` processes started
//! from the built binary, and the `weir` client commands run against them.
//!
//! Every [`Master`] gets its own loopback port and its own directory under the system temporary
//! directory, so tests in one file can run in parallel. Workers started for a master write their
//! logs into that master's directory; every failure message (a command that fails, a condition
//! that never comes true) carries the tail of all those logs, so a CI log explains itself.
//!
//! A worker started with [`WorkerOptions::capture_stdout`] writes its stdout — where the Console
//! sink prints rows — to `worker-ID.stdout` instead ([`Worker::stdout_lines`]), through a pipe
//! the test can stop reading ([`Worker::pause_stdout`]) to stall that sink. [`Worker::rss_bytes`]
//! samples a worker's resident memory from /proc.
//!
//! [`MasterOptions::secured`] starts a secured cluster: TLS between all parties, a tokens file
//! on the master (see `security.rs` here and docs/security.md).
//!
//! Processes are killed when their handle is dropped, also while a test panics. The directory is
//! deleted after a passing test and kept (its path printed) after a failing one.
//!
//! Waiting is done by polling the cluster's API with a deadline ([`Master::wait_until`]); a fixed
//! sleep is never used to wait for something to happen.
//!
//! The same harness drives weir-bench's clusters: every operation that can fail has a fallible
//! form returning [`HarnessError`] (which carries the log tails) — [`Master::try_start`],
//! [`Master::query`], [`Master::try_submit`], [`Worker::try_start_with`], [`try_weir_binary`] —
//! and the forms the tests call are thin wrappers that panic with the same message.

use std::fmt::Write as _;
use std::fs::{File, OpenOptions};
use std::io::{Read as _, Write as _};
use std::net::{Ipv4Addr, SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdout, Command, ExitStatus, Output, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::time::{Duration, Instant};

use serde_json::Value;

/// How long a master or worker may take to come up and answer.
const STARTUP_DEADLINE: Duration = Duration::from_secs(30);
/// Lines of each log shown in a failure message.
const LOG_TAIL_LINES: usize = 40;
/// Poll cadence of [`Master::wait_until`].
const POLL_EVERY: Duration = Duration::from_millis(100);

/// Settings of a test master.
#[derive(Debug, Clone)]
pub struct MasterOptions {
    /// `--heartbeat-timeout-ms`. The default is the product's, 5 s: a worker fences itself when
    /// the master leaves its heartbeats unanswered this long, and on a loaded test machine the
    /// master can stall for a few seconds (a job store fsync). Tests of liveness set it shorter.
    pub heartbeat_timeout_ms: u64,
    /// `--heartbeat-interval-ms`.
    pub heartbeat_interval_ms: u64,
    /// Further arguments for `weir master`.
    pub extra_args: Vec<String>,
    /// Environment variables of the master process (e.g. the `WEIR_FAULT_ABORT_AT` test hook).
    pub env: Vec<(String, String)>,
    /// `--data-dir`; `None`: `master-data` in the test's directory.
    pub data_dir: Option<PathBuf>,
    /// TLS everywhere and a tokens file on the master, with certificates and tokens made by
    /// `weir cert` and `weir token` ([`Secured`]); client commands use the admin token.
    pub secured: bool,
    /// The `weir` binary of the master, its workers and its client commands; `None`: the one
    /// next to the test executable ([`weir_binary`]).
    pub binary: Option<PathBuf>,
    /// The directory of the logs, job files and (by default) data; `None`: a fresh one under
    /// the system temporary directory, deleted after a passing test. A given one is kept.
    pub dir: Option<PathBuf>,
}

impl Default for MasterOptions {
    fn default() -> Self {
        Self {
            heartbeat_timeout_ms: 5000,
            heartbeat_interval_ms: 500,
            extra_args: Vec::new(),
            env: Vec::new(),
            data_dir: None,
            secured: false,
            binary: None,
            dir: None,
        }
    }
}

/// A running `weir master` with its own port and data directory.
pub struct Master {
    child: Option<Child>,
    name: String,
    dir: PathBuf,
    data_dir: PathBuf,
    log_path: PathBuf,
    address: SocketAddr,
    url: String,
    /// Where its HTTP server (console, /api/v1, /metrics) listens.
    http_address: SocketAddr,
    options: MasterOptions,
    secured: Option<Secured>,
    /// The `weir` binary it runs.
    binary: PathBuf,
    /// Whether the directory is the harness's own (deleted after a passing test).
    owns_dir: bool,
}

impl Master {
    /// Starts a master for the test `name` with default options.
    pub fn start_default(name: &str) -> Self {
        Self::start(name, MasterOptions::default())
    }

    /// Starts a master on a free port with a fresh data directory and waits until it answers.
    pub fn start(name: &str, options: MasterOptions) -> Self {
        Self::try_start(name, options).unwrap_or_else(|error| panic!("{error}"))
    }

    /// [`Master::start`], or what went wrong (with the master's log).
    pub fn try_start(name: &str, options: MasterOptions) -> Result<Self, HarnessError> {
        let binary = match &options.binary {
            Some(binary) => binary.clone(),
            None => try_weir_binary()?,
        };
        let owns_dir = options.dir.is_none();
        let dir = options.dir.clone().unwrap_or_else(|| {
            std::env::temp_dir().join(crate::unique_name(&format!("weir-e2e-{name}")))
        });
        let data_dir = options
            .data_dir
            .clone()
            .unwrap_or_else(|| dir.join("master-data"));
        for dir in [&dir, &data_dir] {
            std::fs::create_dir_all(dir).map_err(|error| {
                HarnessError::io(format!("cannot create {}", dir.display()), error)
            })?;
        }
        let (port, http_port) = try_free_port_pair()?;
        let address = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
        let http_address = SocketAddr::from((Ipv4Addr::LOCALHOST, http_port));
        let secured = if options.secured {
            Some(Secured::try_create(&binary, &dir.join("certs"))?)
        } else {
            None
        };
        let scheme = if secured.is_some() { "https" } else { "http" };
        let mut master = Self {
            child: None,
            name: name.to_string(),
            log_path: dir.join("master.log"),
            url: format!("{scheme}://{address}"),
            dir,
            data_dir,
            address,
            http_address,
            options,
            secured,
            binary,
            owns_dir,
        };
        if let Err(error) = master.try_spawn() {
            // Keep the directory: its logs say more than the tails in the error.
            master.owns_dir = false;
            eprintln!(
                "[{name}] start-up failed; its logs and data are kept in {}",
                master.dir.display()
            );
            return Err(error);
        }
        Ok(master)
    }

    fn try_spawn(&mut self) -> Result<(), HarnessError> {
        let mut args = vec![
            "master".to_string(),
            "--listen".to_string(),
            self.address.to_string(),
            "--data-dir".to_string(),
            self.data_dir.display().to_string(),
            "--heartbeat-timeout-ms".to_string(),
            self.options.heartbeat_timeout_ms.to_string(),
            "--heartbeat-interval-ms".to_string(),
            self.options.heartbeat_interval_ms.to_string(),
            // Its own port: tests run masters side by side, and the default 5880 is one port.
            "--http-listen".to_string(),
            self.http_address.to_string(),
        ];
        if let Some(secured) = &self.secured {
            args.extend(secured.master_args());
        }
        args.extend(self.options.extra_args.iter().cloned());
        self.child = Some(spawn_process(
            &self.binary,
            &args,
            &self.log_path,
            false,
            &self.options.env,
        )?);
        let started = Instant::now();
        loop {
            if let Some(child) = self.child.as_mut()
                && let Ok(Some(status)) = child.try_wait()
            {
                self.child = None;
                return Err(HarnessError::ExitedAtStartup {
                    cluster: self.name.clone(),
                    process: "weir master".to_string(),
                    status,
                    logs: self.logs(),
                });
            }
            let observed = match self.query(&["jobs"]) {
                Ok(_) => return Ok(()),
                Err(error) => error.to_string(),
            };
            if started.elapsed() > STARTUP_DEADLINE {
                return Err(HarnessError::Timeout {
                    cluster: self.name.clone(),
                    what: "weir master answers".to_string(),
                    after: started.elapsed(),
                    observed,
                    logs: self.logs(),
                });
            }
            std::thread::sleep(POLL_EVERY);
        }
    }

    fn spawn(&mut self) {
        self.try_spawn().unwrap_or_else(|error| panic!("{error}"));
    }

    /// Kills the master (SIGKILL) and starts it again on the same port and data directory.
    pub fn restart(&mut self) {
        stop(&mut self.child);
        self.spawn();
    }

    /// Sends the master SIGTERM and waits until it exits, at most `within`; fails the test with
    /// the logs if it does not. Returns its exit status.
    pub fn terminate(&mut self, within: Duration) -> ExitStatus {
        terminate(&mut self.child, within).unwrap_or_else(|error| self.fail(error))
    }

    /// Starts the master again, on the same port and data directory, after it exited
    /// ([`Master::terminate`]); waits until it answers.
    pub fn start_again(&mut self) {
        self.check(self.child.is_none(), || {
            "start_again: the master is still running".to_string()
        });
        self.spawn();
    }

    /// The master's log file.
    pub fn log_path(&self) -> PathBuf {
        self.log_path.clone()
    }

    /// The options the master was started with; a change applies at the next
    /// [`Master::restart`].
    pub fn options_mut(&mut self) -> &mut MasterOptions {
        &mut self.options
    }

    /// The master's `--data-dir`.
    pub fn data_dir(&self) -> &Path {
        &self.data_dir
    }

    /// Waits (polling, at most `within`) until the master process exits by itself, and returns
    /// how it ended; `Err` says it still runs. [`Master::restart`] starts it again.
    pub fn wait_exited(&mut self, within: Duration) -> Result<ExitStatus, String> {
        let started = Instant::now();
        loop {
            let child = self
                .child
                .as_mut()
                .ok_or_else(|| "the master is not running".to_string())?;
            match child.try_wait() {
                Ok(Some(status)) => {
                    self.child = None;
                    return Ok(status);
                }
                Ok(None) if started.elapsed() < within => std::thread::sleep(POLL_EVERY),
                Ok(None) => return Err(format!("the master still runs after {within:?}")),
                Err(error) => return Err(format!("cannot wait for the master: {error}")),
            }
        }
    }

    /// `http://127.0.0.1:PORT`, or `https://…` when secured.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// `127.0.0.1:PORT`.
    pub fn address(&self) -> SocketAddr {
        self.address
    }

    /// The certificates and tokens of a secured master ([`MasterOptions::secured`]).
    pub fn secured(&self) -> Option<&Secured> {
        self.secured.as_ref()
    }

    /// `http://127.0.0.1:PORT` of its HTTP server (console, `/api/v1/`, `/metrics`);
    /// `https://` for a secured master, which serves HTTPS with its certificate.
    pub fn http_url(&self) -> String {
        let scheme = if self.secured.is_some() {
            "https"
        } else {
            "http"
        };
        format!("{scheme}://{}", self.http_address)
    }

    /// The directory of this test's files and logs.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Process id of the master.
    pub fn pid(&self) -> u32 {
        self.child.as_ref().expect("the master is running").id()
    }

    /// The whole log of the master process.
    pub fn log(&self) -> String {
        String::from_utf8_lossy(&std::fs::read(&self.log_path).unwrap_or_default()).into_owned()
    }

    /// The last lines of the master's and every worker's log.
    pub fn logs(&self) -> String {
        let mut logs: Vec<PathBuf> = std::fs::read_dir(&self.dir)
            .map(|entries| {
                entries
                    .filter_map(Result::ok)
                    .map(|entry| entry.path())
                    .filter(|path| path.extension().is_some_and(|ext| ext == "log"))
                    .collect()
            })
            .unwrap_or_default();
        logs.sort();
        let mut text = String::new();
        for log in logs {
            let _ = writeln!(
                text,
                "----- last {LOG_TAIL_LINES} lines of {} -----\n{}",
                log.display(),
                tail(&log, LOG_TAIL_LINES)
            );
        }
        text
    }

    /// Runs `weir ARGS --master URL`; for a secured master also with `--tls-ca` and the
    /// admin token.
    pub fn cli(&self, args: &[&str]) -> Output {
        self.cli_as(args, self.secured.as_ref().map(Secured::admin_token))
    }

    /// Runs `weir ARGS --master URL` (with `--tls-ca` for a secured master) with
    /// `WEIR_TOKEN=token`, or without a token.
    pub fn cli_as(&self, args: &[&str], token: Option<&str>) -> Output {
        self.try_cli_as(args, token)
            .unwrap_or_else(|error| self.fail(error))
    }

    /// [`Master::cli_as`], or why the command could not be run.
    pub fn try_cli_as(&self, args: &[&str], token: Option<&str>) -> Result<Output, HarnessError> {
        let ca = self
            .secured
            .as_ref()
            .map(|secured| secured.ca_cert().display().to_string());
        let mut all: Vec<&str> = args.to_vec();
        all.extend(["--master", self.url.as_str()]);
        if let Some(ca) = &ca {
            all.extend(["--tls-ca", ca.as_str()]);
        }
        run_weir(&self.binary, &all, token)
    }

    /// Runs `weir ARGS -o json --master URL` and parses stdout, or says why it could not.
    pub fn try_json(&self, args: &[&str]) -> Result<Value, String> {
        self.json_of(args)
    }

    /// [`Master::try_json`] with a [`HarnessError`].
    pub fn query(&self, args: &[&str]) -> Result<Value, HarnessError> {
        self.json_of(args).map_err(|message| HarnessError::Command {
            cluster: self.name.clone(),
            message,
        })
    }

    fn json_of(&self, args: &[&str]) -> Result<Value, String> {
        let mut all: Vec<&str> = args.to_vec();
        all.extend(["-o", "json"]);
        let token = self.secured.as_ref().map(Secured::admin_token);
        let output = self
            .try_cli_as(&all, token)
            .map_err(|error| error.to_string())?;
        if !output.status.success() {
            return Err(describe(&all, &output));
        }
        serde_json::from_slice(&output.stdout)
            .map_err(|error| format!("stdout is not JSON ({error}): {}", describe(&all, &output)))
    }

    /// The `weir` binary this cluster runs.
    pub fn binary(&self) -> &Path {
        &self.binary
    }

    /// The cluster's name (the test's).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Runs `weir ARGS -o json --master URL`, which must succeed, and parses stdout.
    pub fn json(&self, args: &[&str]) -> Value {
        self.try_json(args)
            .unwrap_or_else(|error| panic!("[{}] {error}\n{}", self.name, self.logs()))
    }

    /// `weir submit FILE -o json`: the new job's id.
    pub fn submit(&self, file: &Path) -> String {
        self.try_submit(file)
            .unwrap_or_else(|error| panic!("{error}\n{}", self.logs()))
    }

    /// [`Master::submit`], or why it failed.
    pub fn try_submit(&self, file: &Path) -> Result<String, HarnessError> {
        let file = file.display().to_string();
        let response = self.query(&["submit", &file])?;
        match response["job_id"].as_str().filter(|id| !id.is_empty()) {
            Some(id) => Ok(id.to_string()),
            None => Err(HarnessError::Command {
                cluster: self.name.clone(),
                message: format!("`weir submit` gave no job_id: {response}"),
            }),
        }
    }

    /// `weir job ID -o json`.
    pub fn job(&self, job_id: &str) -> Value {
        self.json(&["job", job_id])
    }

    /// `weir job ID -o json`, an error text if the command fails.
    pub fn try_job(&self, job_id: &str) -> Result<Value, String> {
        self.try_json(&["job", job_id])
    }

    /// The entries of `weir workers -o json`.
    pub fn try_workers(&self) -> Result<Vec<Value>, String> {
        let value = self.try_json(&["workers"])?;
        value["workers"]
            .as_array()
            .cloned()
            .ok_or_else(|| format!("no `workers` array in {value}"))
    }

    /// One worker's entry in `weir workers -o json`, if listed.
    pub fn try_worker(&self, worker_id: &str) -> Result<Option<Value>, String> {
        Ok(self
            .try_workers()?
            .into_iter()
            .find(|worker| worker["worker_id"] == worker_id))
    }

    /// The entries of `weir jobs -o json`.
    pub fn jobs(&self) -> Vec<Value> {
        let value = self.json(&["jobs"]);
        value["jobs"].as_array().cloned().unwrap_or_else(|| {
            panic!(
                "[{}] no `jobs` array in {value}\n{}",
                self.name,
                self.logs()
            )
        })
    }

    /// Polls `probe` every 100 ms until it returns `Ok`, for at most `timeout`. `Err` carries
    /// what was observed instead; when time runs out the test fails with `what`, the last
    /// observation and the tail of the cluster's logs.
    pub fn wait_until<T>(
        &self,
        what: &str,
        timeout: Duration,
        mut probe: impl FnMut() -> Result<T, String>,
    ) -> T {
        let started = Instant::now();
        loop {
            let observed = match probe() {
                Ok(value) => return value,
                Err(observed) => observed,
            };
            if started.elapsed() >= timeout {
                panic!(
                    "[{}] timed out after {:?} waiting until {what}\nlast observed: {observed}\n{}",
                    self.name,
                    started.elapsed(),
                    self.logs()
                );
            }
            std::thread::sleep(POLL_EVERY);
        }
    }

    /// Fails the test with `message` and the tail of the cluster's logs.
    #[track_caller]
    pub fn fail(&self, message: impl std::fmt::Display) -> ! {
        panic!("[{}] {message}\n{}", self.name, self.logs())
    }

    /// Asserts `condition`, failing with `message` and the cluster's logs.
    #[track_caller]
    pub fn check(&self, condition: bool, message: impl FnOnce() -> String) {
        if !condition {
            self.fail(message());
        }
    }
}

impl Drop for Master {
    fn drop(&mut self) {
        stop(&mut self.child);
        if !self.owns_dir {
            // The caller's directory: the caller decides.
        } else if std::thread::panicking() {
            eprintln!(
                "[{}] the test failed; its logs and data are kept in {}",
                self.name,
                self.dir.display()
            );
        } else {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

/// Writes `text` to `dir/name` and returns the path (for job files made by a test).
pub fn write_file(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    let mut file = File::create(&path)
        .unwrap_or_else(|error| panic!("cannot create {}: {error}", path.display()));
    file.write_all(text.as_bytes())
        .unwrap_or_else(|error| panic!("cannot write {}: {error}", path.display()));
    path
}

mod error;
mod process;
mod security;
mod worker;
pub use error::HarnessError;
pub use process::{
    describe, free_port, log_lines_with, run_weir, try_free_port, try_free_port_pair,
    try_weir_binary, weir, weir_as, weir_binary,
};
use process::{spawn_process, stop, tail, terminate};
pub use security::{Secured, weir_ok};
pub use worker::{Worker, WorkerOptions};
