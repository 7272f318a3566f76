//! The scenarios of issue 6.

mod message_size;
mod oom_case;
mod partitions;
mod pipeline;
mod rate;
mod recovery;
mod throughput;

use std::time::{Duration, Instant};

use anyhow::Context as _;
use serde_json::Value;

use crate::cluster::{self, Jobs as _, Master, RssSampler, Stdout, Worker};
use crate::kafka::Topic;
use crate::util::{self, progress};
use crate::{Ctx, Report};

/// Bound for a job to be placed and start running.
pub const START: Duration = Duration::from_secs(60);

/// What scenarios run by `all` hand on: the topic of 1 KiB records that throughput reads and
/// oom-case then extends (so the same backlog is not produced twice).
#[derive(Default)]
pub struct Shared {
    pub kib_topic: Option<Topic>,
}

pub fn run(name: &str, ctx: &Ctx, shared: &mut Shared) -> anyhow::Result<Report> {
    match name {
        "oom-case" => oom_case::run(ctx, shared),
        "throughput" => throughput::run(ctx, shared),
        "rate" => rate::run(ctx),
        "recovery" => recovery::run(ctx),
        "message-size" => message_size::run(ctx),
        "partitions" => partitions::run(ctx),
        other => anyhow::bail!("unknown scenario {other}"),
    }
}

/// A master and one worker, in `ctx.dir(name)`.
pub struct Cluster {
    // Field order: the worker goes first when dropped.
    pub worker: Worker,
    pub master: Master,
}

impl Cluster {
    pub fn start(ctx: &Ctx, name: &str, stdout: Stdout) -> anyhow::Result<Self> {
        let dir = ctx.dir(name)?;
        let master = cluster::start_master(&ctx.weir, &dir, name, ctx.common.tls)?;
        let worker = cluster::start_worker(
            &master,
            &format!("w-{name}"),
            &ctx.common.worker_memory,
            stdout,
        )?;
        Ok(Cluster { worker, master })
    }

    /// The worker's idle RSS: the largest of `samples` readings one `every` apart (and of what
    /// `weir workers` reports), with the samples.
    pub fn idle_rss(&self, samples: usize, every: Duration) -> anyhow::Result<(u64, Vec<u64>)> {
        let mut seen = Vec::new();
        for index in 0..samples {
            if index > 0 {
                std::thread::sleep(every);
            }
            seen.push(
                self.worker
                    .rss_bytes()
                    .context("the worker process is gone")?,
            );
        }
        let reported = self
            .master
            .worker_entry(self.worker.id())?
            .map(|entry| util::u64_of(&entry, "rss_bytes"))
            .unwrap_or_default();
        let idle = seen.iter().copied().max().unwrap_or_default().max(reported);
        Ok((idle, seen))
    }
}

/// Samples the worker's RSS once a second for `duration` while `job_id` runs, with a progress
/// line every `report_every`; `each` sees every job snapshot. Fails if the job stops running.
pub fn sample_running(
    scenario: &str,
    cluster: &Cluster,
    job_id: &str,
    duration: Duration,
    report_every: Duration,
    mut each: impl FnMut(f64, &Value),
) -> anyhow::Result<(RssSampler, Value)> {
    let mut sampler = RssSampler::new();
    let started = Instant::now();
    let mut next = started;
    let mut last_report = started;
    let mut last_job = Value::Null;
    while started.elapsed() < duration {
        util::sleep_until(next);
        next += Duration::from_secs(1);
        let rss = sampler
            .sample(&cluster.worker)
            .context("the worker process is gone")?;
        let job = cluster.master.job_json(job_id)?;
        let state = util::text_of(&job, "state");
        if state != "Running" {
            anyhow::bail!(
                "at {:.0} s the job is {state}, not Running: {job}",
                started.elapsed().as_secs_f64()
            );
        }
        each(sampler.elapsed(), &job);
        if last_report.elapsed() >= report_every {
            last_report = Instant::now();
            progress(
                scenario,
                format!(
                    "{:>4.0}/{:.0} s: worker RSS {:.1} MiB; {}",
                    started.elapsed().as_secs_f64(),
                    duration.as_secs_f64(),
                    util::mib(rss),
                    util::job_line(&job)
                ),
            );
        }
        last_job = job;
    }
    Ok((sampler, last_job))
}

/// `[[t, MiB], …]` for JSON: the idle samples (one a second, before the job was submitted)
/// at negative times, then the samples while the job ran.
pub fn series_mib(idle: &[u64], samples: &[(f64, u64)]) -> Value {
    let before = idle
        .iter()
        .enumerate()
        .map(|(index, rss)| (index as f64 - idle.len() as f64, *rss));
    Value::Array(
        before
            .chain(samples.iter().copied())
            .map(|(t, bytes)| {
                serde_json::json!([util::round(t, 1), util::round(util::mib(bytes), 2)])
            })
            .collect(),
    )
}

/// Checks that the file system holding Kafka's data has `needed` bytes free (plus 2 GiB),
/// and says what it found.
pub fn check_disk(scenario: &str, needed: u64) -> anyhow::Result<()> {
    let dir = std::env::var_os("WEIR_STACK_DIR")
        .map(std::path::PathBuf::from)
        .or_else(|| {
            std::env::var_os("XDG_STATE_HOME")
                .map(|state| std::path::PathBuf::from(state).join("weir/stack"))
        })
        .or_else(|| {
            std::env::var_os("HOME")
                .map(|home| std::path::PathBuf::from(home).join(".local/state/weir/stack"))
        })
        .unwrap_or_else(|| std::path::PathBuf::from("/"));
    let probe = if dir.exists() {
        dir
    } else {
        std::path::PathBuf::from("/")
    };
    let free = util::free_space(&probe)?;
    progress(
        scenario,
        format!(
            "{} free on the file system of {} (Kafka's data); this needs about {}",
            util::human_bytes(free),
            probe.display(),
            util::human_bytes(needed)
        ),
    );
    if free < needed + 2 * util::GIB {
        anyhow::bail!(
            "not enough disk space: {} free under {}, about {} needed (+2 GiB margin); lower --scale",
            util::human_bytes(free),
            probe.display(),
            util::human_bytes(needed)
        );
    }
    Ok(())
}
