//! Real `weir master` and `weir worker` processes, driven through the `weir` CLI (`-o json`),
//! like the end-to-end harness (tests/src/cluster), but returning errors instead of panicking
//! and finding the binary next to `weir-bench` (or at `--weir`).
//!
//! Processes are killed (SIGKILL) when their handle is dropped.

use std::fs::OpenOptions;
use std::io::{Read as _, Write as _};
use std::net::{Ipv4Addr, SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdout, Command, Output, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::time::{Duration, Instant};

use anyhow::{Context as _, anyhow, bail};
use serde_json::Value;

use crate::secure::Secure;
use crate::util::{self, text_of, wait_for};

/// How long a master or worker may take to come up.
const STARTUP: Duration = Duration::from_secs(60);
const POLL: Duration = Duration::from_millis(100);

/// The `weir` binary.
#[derive(Debug, Clone)]
pub struct Weir {
    pub bin: PathBuf,
}

impl Weir {
    /// `explicit`, else `weir` beside this executable.
    pub fn locate(explicit: Option<&Path>) -> anyhow::Result<Self> {
        let bin = match explicit {
            Some(path) => path.to_path_buf(),
            None => std::env::current_exe()
                .context("the path of weir-bench")?
                .with_file_name(format!("weir{}", std::env::consts::EXE_SUFFIX)),
        };
        if !bin.is_file() {
            bail!(
                "the weir binary is not at {}: build it with `cargo build --release -p weir-cli -p weir-bench`, or pass --weir PATH",
                bin.display()
            );
        }
        Ok(Weir { bin })
    }

    fn command(&self) -> Command {
        let mut command = Command::new(&self.bin);
        for variable in [
            "WEIR_MASTER",
            "WEIR_MASTER_CONFIG",
            "WEIR_WORKER_CONFIG",
            "WEIR_MEMORY_LIMIT",
            "WEIR_WORKER_ID",
            "WEIR_WORKER_LISTEN",
            "WEIR_WORKER_ADVERTISE",
            "WEIR_HIGH_WATERMARK",
            "WEIR_MASTER_LISTEN",
            "WEIR_MASTER_DATA_DIR",
            "WEIR_HEARTBEAT_TIMEOUT_MS",
            "WEIR_HEARTBEAT_INTERVAL_MS",
            "WEIR_CHECKPOINT_STORAGE",
            "WEIR_LOG_FORMAT",
            "WEIR_TLS_CERT",
            "WEIR_TLS_KEY",
            "WEIR_TLS_CA",
            "WEIR_TOKENS_FILE",
            "WEIR_TOKEN",
            "WEIR_TOKEN_FILE",
            "WEIR_HTTP_LISTEN",
        ] {
            command.env_remove(variable);
        }
        command
    }

    /// Runs `weir ARGS`.
    pub fn run(&self, args: &[&str]) -> anyhow::Result<Output> {
        self.run_as(args, None)
    }

    /// Runs `weir ARGS` with `WEIR_TOKEN=token` when given.
    pub fn run_as(&self, args: &[&str], token: Option<&str>) -> anyhow::Result<Output> {
        let mut command = self.command();
        if let Some(token) = token {
            command.env("WEIR_TOKEN", token);
        }
        command
            .args(args)
            .stdin(Stdio::null())
            .output()
            .with_context(|| format!("cannot run {}", self.bin.display()))
    }
}

/// Text of a failed command for error messages.
pub fn describe(args: &[&str], output: &Output) -> String {
    format!(
        "`weir {}` exited with {}: {} {}",
        args.join(" "),
        output.status,
        String::from_utf8_lossy(&output.stdout).trim(),
        String::from_utf8_lossy(&output.stderr).trim()
    )
}

pub fn free_port() -> anyhow::Result<u16> {
    Ok(TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?
        .local_addr()?
        .port())
}

fn spawn(weir: &Weir, args: &[String], log: &Path, stdout: Stdio) -> anyhow::Result<Child> {
    let mut file = OpenOptions::new()
        .create(true)
        .append(true)
        .open(log)
        .with_context(|| format!("cannot open {}", log.display()))?;
    let _ = writeln!(file, "=== weir-bench: weir {}", args.join(" "));
    let mut command = weir.command();
    command
        .args(args)
        .stdin(Stdio::null())
        .stdout(stdout)
        .stderr(Stdio::from(file));
    if std::env::var_os("RUST_LOG").is_none() {
        command.env("RUST_LOG", "info");
    }
    command
        .spawn()
        .with_context(|| format!("cannot start `weir {}`", args.join(" ")))
}

fn log_tail(path: &Path, lines: usize) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

/// A running `weir master`.
pub struct Master {
    weir: Weir,
    child: Option<Child>,
    url: String,
    dir: PathBuf,
    /// With `--tls`: certificates and the client token.
    secure: Option<Secure>,
}

impl Master {
    /// Starts a master with its data directory and log under `dir`, on a free port, with the
    /// default heartbeat settings (benchmarks measure the defaults), and waits until it answers.
    /// With `tls`, it and its workers use mutual TLS and its clients a token.
    pub fn start(weir: &Weir, dir: &Path, tls: bool) -> anyhow::Result<Self> {
        std::fs::create_dir_all(dir)?;
        let address = SocketAddr::from((Ipv4Addr::LOCALHOST, free_port()?));
        let secure = if tls {
            Some(Secure::create(weir, &dir.join("certs"))?)
        } else {
            None
        };
        let mut args = vec![
            "master".to_string(),
            "--listen".to_string(),
            address.to_string(),
            "--data-dir".to_string(),
            dir.join("master-data").display().to_string(),
            // Its own port: the default 5880 may be taken on this machine.
            "--http-listen".to_string(),
            SocketAddr::from((Ipv4Addr::LOCALHOST, free_port()?)).to_string(),
        ];
        if let Some(secure) = &secure {
            args.extend(secure.master_args());
        }
        let log = dir.join("master.log");
        let child = spawn(weir, &args, &log, Stdio::null())?;
        let scheme = if secure.is_some() { "https" } else { "http" };
        let mut master = Master {
            weir: weir.clone(),
            child: Some(child),
            url: format!("{scheme}://{address}"),
            dir: dir.to_path_buf(),
            secure,
        };
        let started = Instant::now();
        loop {
            if let Some(Ok(Some(status))) = master.child.as_mut().map(Child::try_wait) {
                master.child = None;
                bail!(
                    "weir master exited during start-up with {status}:\n{}",
                    log_tail(&log, 30)
                );
            }
            if master.json(&["jobs"]).is_ok() {
                return Ok(master);
            }
            if started.elapsed() > STARTUP {
                bail!(
                    "weir master did not answer within {STARTUP:?}:\n{}",
                    log_tail(&log, 30)
                );
            }
            std::thread::sleep(POLL);
        }
    }

    pub fn url(&self) -> &str {
        &self.url
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Runs `weir ARGS --master URL` (with the CA and token of a secured master).
    fn cli(&self, args: &[&str]) -> anyhow::Result<Output> {
        let client_args = self
            .secure
            .as_ref()
            .map(Secure::client_args)
            .unwrap_or_default();
        let mut all = args.to_vec();
        all.extend(["--master", &self.url]);
        all.extend(client_args.iter().map(String::as_str));
        self.weir
            .run_as(&all, self.secure.as_ref().map(Secure::token))
    }

    /// Runs `weir ARGS -o json --master URL` and parses stdout.
    pub fn json(&self, args: &[&str]) -> anyhow::Result<Value> {
        let mut all = args.to_vec();
        all.extend(["-o", "json"]);
        let output = self.cli(&all)?;
        if !output.status.success() {
            bail!("{}", describe(&all, &output));
        }
        serde_json::from_slice(&output.stdout)
            .with_context(|| format!("stdout is not JSON: {}", describe(&all, &output)))
    }

    /// Writes the job file into the master's directory and submits it; returns the job id.
    pub fn submit(&self, name: &str, job_text: &str) -> anyhow::Result<String> {
        let path = self.dir.join(format!("{name}.conf"));
        std::fs::write(&path, job_text)?;
        let path = path.display().to_string();
        let response = self.json(&["submit", &path])?;
        let id = text_of(&response, "job_id");
        if id.is_empty() {
            bail!("`weir submit` gave no job_id: {response}");
        }
        Ok(id)
    }

    pub fn job(&self, job_id: &str) -> anyhow::Result<Value> {
        self.json(&["job", job_id])
    }

    pub fn workers(&self) -> anyhow::Result<Vec<Value>> {
        let value = self.json(&["workers"])?;
        value["workers"]
            .as_array()
            .cloned()
            .ok_or_else(|| anyhow!("no `workers` array in {value}"))
    }

    pub fn worker(&self, id: &str) -> anyhow::Result<Option<Value>> {
        Ok(self
            .workers()?
            .into_iter()
            .find(|worker| worker["worker_id"] == id))
    }

    /// Waits until the job and all its tasks are Running (on `worker` if given); an error as
    /// soon as the job ends.
    pub fn wait_running(
        &self,
        job_id: &str,
        worker: Option<&str>,
        timeout: Duration,
    ) -> anyhow::Result<Value> {
        wait_for(&format!("job {job_id} is Running"), timeout, POLL, || {
            let job = self.job(job_id)?;
            let state = text_of(&job, "state");
            if matches!(
                state.as_str(),
                "Failed" | "Cancelled" | "Finished" | "Stopped"
            ) {
                bail!("job {job_id} ended before running: {job}");
            }
            let tasks = util::tasks(&job);
            let running = state == "Running"
                && !tasks.is_empty()
                && tasks.iter().all(|task| {
                    task["state"] == "Running"
                        && worker.is_none_or(|worker| task["worker_id"] == worker)
                });
            Ok(if running {
                Ok(job)
            } else {
                Err(util::job_line(&job))
            })
        })
    }

    /// `weir stop ID` (final checkpoint, waits until Stopped).
    pub fn stop_job(&self, job_id: &str) -> anyhow::Result<Value> {
        let response = self.json(&["stop", job_id])?;
        if text_of(&response, "state") != "Stopped" {
            bail!("`weir stop {job_id}` did not end Stopped: {response}");
        }
        Ok(response)
    }

    /// `weir cancel ID`, best effort.
    pub fn cancel_job(&self, job_id: &str) {
        let _ = self.cli(&["cancel", job_id]).map(|_| ());
    }

    /// The tail of the master's and the workers' logs.
    pub fn logs(&self) -> String {
        let mut text = String::new();
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
        for log in logs {
            text.push_str(&format!(
                "----- {} -----\n{}\n",
                log.display(),
                log_tail(&log, 15)
            ));
        }
        text
    }
}

impl Drop for Master {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// What a worker does with its stdout (where the Console sink prints rows).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stdout {
    /// Discarded.
    Null,
    /// Read by a thread that counts lines (see [`Worker::stdout_lines`]) and can stop reading
    /// ([`Worker::pause_stdout`]): once the pipe buffer is full the Console sink blocks.
    Counted,
}

struct Pump {
    lines: Arc<AtomicU64>,
    paused: Arc<(Mutex<bool>, Condvar)>,
}

impl Pump {
    fn start(mut pipe: ChildStdout) -> Self {
        let lines = Arc::new(AtomicU64::new(0));
        let paused = Arc::new((Mutex::new(false), Condvar::new()));
        let (counter, gate) = (lines.clone(), paused.clone());
        std::thread::spawn(move || {
            let mut buffer = vec![0u8; 256 * 1024];
            loop {
                {
                    let (lock, condvar) = &*gate;
                    let mut paused = lock.lock().unwrap_or_else(PoisonError::into_inner);
                    while *paused {
                        paused = condvar.wait(paused).unwrap_or_else(PoisonError::into_inner);
                    }
                }
                match pipe.read(&mut buffer) {
                    Ok(0) | Err(_) => break,
                    Ok(read) => {
                        let newlines = buffer[..read].iter().filter(|&&b| b == b'\n').count();
                        counter.fetch_add(newlines as u64, Ordering::Relaxed);
                    }
                }
            }
        });
        Pump { lines, paused }
    }

    fn set_paused(&self, pause: bool) {
        let (lock, condvar) = &*self.paused;
        *lock.lock().unwrap_or_else(PoisonError::into_inner) = pause;
        condvar.notify_all();
    }
}

/// A running `weir worker`.
pub struct Worker {
    child: Option<Child>,
    id: String,
    /// Where its HTTP server (`/metrics`) listens.
    http_address: SocketAddr,
    pump: Option<Pump>,
}

impl Worker {
    /// Starts `weir worker --id ID --memory-limit LIMIT` for `master` and waits until it is
    /// listed ALIVE.
    pub fn start(
        weir: &Weir,
        master: &Master,
        id: &str,
        memory_limit: &str,
        stdout: Stdout,
    ) -> anyhow::Result<Self> {
        let address = SocketAddr::from((Ipv4Addr::LOCALHOST, free_port()?));
        let http_address = SocketAddr::from((Ipv4Addr::LOCALHOST, free_port()?));
        let mut args = vec![
            "worker".to_string(),
            "--master".to_string(),
            master.url().to_string(),
            "--listen".to_string(),
            address.to_string(),
            "--id".to_string(),
            id.to_string(),
            "--memory-limit".to_string(),
            memory_limit.to_string(),
            // Its own port: several workers run side by side.
            "--http-listen".to_string(),
            http_address.to_string(),
        ];
        if let Some(secure) = &master.secure {
            args.extend(secure.worker_args(weir, id)?);
        }
        let log = master.dir().join(format!("worker-{id}.log"));
        let stdio = match stdout {
            Stdout::Null => Stdio::null(),
            Stdout::Counted => Stdio::piped(),
        };
        let mut child = spawn(weir, &args, &log, stdio)?;
        let pump = child.stdout.take().map(Pump::start);
        let mut worker = Worker {
            child: Some(child),
            id: id.to_string(),
            http_address,
            pump,
        };
        let started = Instant::now();
        loop {
            if let Some(Ok(Some(status))) = worker.child.as_mut().map(Child::try_wait) {
                worker.child = None;
                bail!(
                    "weir worker {id} exited during start-up with {status}:\n{}",
                    log_tail(&log, 30)
                );
            }
            let observed = match master.worker(id) {
                Ok(Some(entry)) if entry["state"] == "ALIVE" => return Ok(worker),
                Ok(entry) => format!("{entry:?}"),
                Err(error) => error.to_string(),
            };
            if started.elapsed() > STARTUP {
                bail!("worker {id} was not listed ALIVE within {STARTUP:?}: {observed}");
            }
            std::thread::sleep(POLL);
        }
    }

    /// `host:port` of its HTTP server (`/metrics`).
    pub fn http_address(&self) -> SocketAddr {
        self.http_address
    }

    pub fn id(&self) -> &str {
        &self.id
    }

    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// Resident set size now (VmRSS).
    pub fn rss(&self) -> Option<u64> {
        util::proc_status_bytes(self.pid()?, "VmRSS")
    }

    /// Peak resident set size since the process started (VmHWM, kept by the kernel).
    pub fn hwm(&self) -> Option<u64> {
        util::proc_status_bytes(self.pid()?, "VmHWM")
    }

    /// User + system CPU seconds so far.
    pub fn cpu_seconds(&self) -> Option<f64> {
        util::proc_cpu_seconds(self.pid()?)
    }

    /// `kill -9` and reap.
    pub fn kill_9(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Lines the worker printed to stdout so far ([`Stdout::Counted`]).
    pub fn stdout_lines(&self) -> u64 {
        self.pump
            .as_ref()
            .map_or(0, |pump| pump.lines.load(Ordering::Relaxed))
    }

    /// Stops reading stdout: the Console sink blocks once the pipe is full.
    pub fn pause_stdout(&self) {
        if let Some(pump) = &self.pump {
            pump.set_paused(true);
        }
    }

    pub fn resume_stdout(&self) {
        if let Some(pump) = &self.pump {
            pump.set_paused(false);
        }
    }
}

impl Drop for Worker {
    fn drop(&mut self) {
        self.kill_9();
        self.resume_stdout();
    }
}

/// Samples a worker's RSS once a second until `until` returns true or `duration` passes.
/// Returns (seconds since start, RSS bytes) pairs.
pub struct RssSampler {
    pub samples: Vec<(f64, u64)>,
    started: Instant,
}

impl RssSampler {
    pub fn new() -> Self {
        RssSampler {
            samples: Vec::new(),
            started: Instant::now(),
        }
    }

    pub fn elapsed(&self) -> f64 {
        self.started.elapsed().as_secs_f64()
    }

    pub fn sample(&mut self, worker: &Worker) -> Option<u64> {
        let rss = worker.rss()?;
        self.samples.push((self.elapsed(), rss));
        Some(rss)
    }

    pub fn peak(&self) -> u64 {
        self.samples.iter().map(|s| s.1).max().unwrap_or_default()
    }

    pub fn last(&self) -> u64 {
        self.samples.last().map(|s| s.1).unwrap_or_default()
    }
}
