//! Real `weir master` and `weir worker` processes for the benchmarks: the end-to-end tests'
//! harness (tests/src/cluster) in its fallible form — the processes, ports, logs and start-up
//! waits live there, once — with the `weir` binary found next to `weir-bench` (or at
//! `--weir`), and the few job queries the scenarios make on top of it.
//!
//! Processes are killed (SIGKILL) when their handle is dropped; their logs stay in the
//! scenario's directory (kept with `--keep` or when a scenario fails).

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context as _, anyhow, bail};
use serde_json::Value;
pub use weir_e2e::cluster::{Master, Worker};
use weir_e2e::cluster::{MasterOptions, WorkerOptions};

use crate::util::{self, text_of, wait_for};

const POLL: Duration = Duration::from_millis(100);
/// The product's heartbeat settings (`weir master --help`): benchmarks measure the defaults,
/// where the tests' harness uses a shorter interval.
const HEARTBEAT_TIMEOUT_MS: u64 = 5000;
const HEARTBEAT_INTERVAL_MS: u64 = 1000;

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
}

/// Starts a master with its data directory and logs under `dir` (kept: the run's work
/// directory decides), on free ports, with the product's heartbeat settings; waits until it
/// answers. With `tls`, it and its workers use mutual TLS and its clients a token
/// (docs/security.md).
pub fn start_master(weir: &Weir, dir: &Path, name: &str, tls: bool) -> anyhow::Result<Master> {
    let options = MasterOptions {
        heartbeat_timeout_ms: HEARTBEAT_TIMEOUT_MS,
        heartbeat_interval_ms: HEARTBEAT_INTERVAL_MS,
        secured: tls,
        binary: Some(weir.bin.clone()),
        dir: Some(dir.to_path_buf()),
        ..MasterOptions::default()
    };
    Ok(Master::try_start(name, options)?)
}

/// What a worker does with its stdout (where the Console sink prints rows).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stdout {
    /// Into its log.
    Log,
    /// Through a pipe whose lines are counted ([`Worker::stdout_line_count`]) and which can be
    /// left unread ([`Worker::pause_stdout`]): once the pipe buffer is full the Console sink
    /// blocks.
    Counted,
}

/// Starts `weir worker --id ID --memory-limit LIMIT` for `master` and waits until it is
/// listed ALIVE.
pub fn start_worker(
    master: &Master,
    id: &str,
    memory_limit: &str,
    stdout: Stdout,
) -> anyhow::Result<Worker> {
    let mut options = WorkerOptions::new(memory_limit);
    options.capture_stdout = stdout == Stdout::Counted;
    Ok(Worker::try_start_with(master, id, options)?)
}

/// The job queries of the scenarios, as errors rather than panics.
pub trait Jobs {
    /// Writes the job file into the master's directory and submits it; returns the job id.
    fn submit_text(&self, name: &str, job_text: &str) -> anyhow::Result<String>;
    /// `weir job ID -o json`.
    fn job_json(&self, job_id: &str) -> anyhow::Result<Value>;
    /// The entries of `weir workers -o json`.
    fn worker_list(&self) -> anyhow::Result<Vec<Value>>;
    /// One worker's entry, if listed.
    fn worker_entry(&self, id: &str) -> anyhow::Result<Option<Value>>;
    /// Waits until the job and all its tasks are Running (on `worker` if given); an error as
    /// soon as the job ends.
    fn wait_running(
        &self,
        job_id: &str,
        worker: Option<&str>,
        timeout: Duration,
    ) -> anyhow::Result<Value>;
    /// `weir stop ID` (final checkpoint, waits until Stopped).
    fn stop_job(&self, job_id: &str) -> anyhow::Result<Value>;
    /// `weir cancel ID`, best effort.
    fn cancel_job(&self, job_id: &str);
}

impl Jobs for Master {
    fn submit_text(&self, name: &str, job_text: &str) -> anyhow::Result<String> {
        let path = self.dir().join(format!("{name}.conf"));
        std::fs::write(&path, job_text).with_context(|| format!("writing {}", path.display()))?;
        Ok(self.try_submit(&path)?)
    }

    fn job_json(&self, job_id: &str) -> anyhow::Result<Value> {
        Ok(self.query(&["job", job_id])?)
    }

    fn worker_list(&self) -> anyhow::Result<Vec<Value>> {
        let value = self.query(&["workers"])?;
        value["workers"]
            .as_array()
            .cloned()
            .ok_or_else(|| anyhow!("no `workers` array in {value}"))
    }

    fn worker_entry(&self, id: &str) -> anyhow::Result<Option<Value>> {
        Ok(self
            .worker_list()?
            .into_iter()
            .find(|worker| worker["worker_id"] == id))
    }

    fn wait_running(
        &self,
        job_id: &str,
        worker: Option<&str>,
        timeout: Duration,
    ) -> anyhow::Result<Value> {
        wait_for(&format!("job {job_id} is Running"), timeout, POLL, || {
            let job = self.job_json(job_id)?;
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

    fn stop_job(&self, job_id: &str) -> anyhow::Result<Value> {
        let response = self.query(&["stop", job_id])?;
        if text_of(&response, "state") != "Stopped" {
            bail!("`weir stop {job_id}` did not end Stopped: {response}");
        }
        Ok(response)
    }

    fn cancel_job(&self, job_id: &str) {
        let _ = self.query(&["cancel", job_id]);
    }
}

/// Samples a worker's RSS: (seconds since start, RSS bytes) pairs.
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
        let rss = worker.rss_bytes()?;
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
