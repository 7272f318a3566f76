//! One throughput pipeline: a job on a fresh master + worker, run until every record is
//! committed, with the worker's CPU, RSS and written rows sampled on the way, optionally
//! scraped every second (as Prometheus would) and recorded with `perf` for a flame graph.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use serde_json::{Value, json};

use super::Cluster;
use crate::Ctx;
use crate::cluster::{Jobs as _, Stdout};
use crate::files::{self, Store};
use crate::jobs::{Job, Sink, Source};
use crate::scrape::Waits;
use crate::util::{self, GIB, mib, progress, round, u64_of};

const NAME: &str = "throughput";
/// How long one pipeline may take before the scenario gives up.
const PIPELINE_TIMEOUT: Duration = Duration::from_secs(1800);
/// Steady state: the rows written between these fractions of the total, over the time
/// between them (leaves out the start-up and the final checkpoint).
const STEADY: (f64, f64) = (0.1, 0.9);

/// What to run.
pub struct Spec<'a> {
    pub label: &'a str,
    pub name: String,
    pub source: Source,
    pub sink: Sink,
    pub parallelism: u32,
    pub records: u64,
    /// Input bytes (Kafka values); 0: count the committed bytes (FakeSource).
    pub bytes: u64,
    /// GET the worker's /metrics every second throughout.
    pub scrape: bool,
    /// `perf record` the worker and draw a flame graph here.
    pub flamegraph: Option<PathBuf>,
}

/// Runs one job until all `spec.records` are committed, and measures it. Kafka jobs
/// (streaming) are stopped with `weir stop` once every record is written (the final
/// checkpoint commits the last files); FakeSource jobs are BATCH and end Finished.
pub fn run(ctx: &Ctx, spec: Spec<'_>, store: &Store, path: &str) -> anyhow::Result<Value> {
    let Spec {
        label,
        name,
        source,
        sink,
        parallelism,
        records,
        bytes,
        scrape,
        flamegraph,
    } = spec;
    let cluster = Cluster::start(ctx, &format!("{NAME}-{name}"), Stdout::Log)?;
    let (idle, _) = cluster.idle_rss(2, Duration::from_millis(500))?;
    let batch = matches!(source, Source::Fake { .. });
    let mut job = Job::new(&format!("{NAME}-{name}"), source, sink);
    job.parallelism = parallelism;
    job.streaming = !batch;
    progress(
        NAME,
        format!("{label}: {records} records, parallelism {parallelism}"),
    );
    let scraper = scrape.then(|| crate::scrape::Scraper::start(cluster.worker.http_address()));
    let profile = match flamegraph {
        Some(svg) => {
            let pid = cluster
                .worker
                .try_pid()
                .context("the worker process is gone")?;
            let data = ctx.work.join("worker.perf.data");
            Some((crate::flamegraph::Recording::start(pid, &data)?, svg))
        }
        None => None,
    };
    let cpu_before = cluster.worker.cpu_seconds().unwrap_or_default();
    let started = Instant::now();
    let job_id = cluster
        .master
        .submit_text(&format!("{NAME}-{name}"), &job.text())?;
    let mut running_at = None;
    let mut written_at = None;
    let mut last_report = Instant::now();
    let mut peak_rss = 0u64;
    let mut progress_samples: Vec<(f64, u64)> = Vec::new();
    let mut last_job;
    // Where the subtasks' time goes, from the worker's own counters (a streaming job that is
    // scraped anyway): `(seconds, waits)` at the first sample with rows written, and at the
    // first with every row written, so the window holds the pipeline's work and nothing else.
    let timing_waits = scrape && !batch;
    let mut waits_window: (Option<Sample>, Option<Sample>) = (None, None);
    loop {
        std::thread::sleep(Duration::from_millis(250));
        if timing_waits && waits_window.1.is_none() {
            let now = started.elapsed().as_secs_f64();
            let waits = crate::scrape::waits(cluster.worker.http_address())?;
            if waits.rows_written > 0.0 && waits_window.0.is_none() {
                waits_window.0 = Some((now, waits));
            }
            if waits.rows_written >= records as f64 {
                waits_window.1 = Some((now, waits));
            }
        }
        peak_rss = peak_rss.max(cluster.worker.rss_bytes().unwrap_or_default());
        let job = cluster.master.job_json(&job_id)?;
        let state = util::text_of(&job, "state");
        if running_at.is_none() && state == "Running" {
            running_at = Some(started.elapsed().as_secs_f64());
        }
        if matches!(state.as_str(), "Failed" | "Cancelled" | "Stopped") {
            bail!(
                "{label}: the job ended {state}: {job}\n{}",
                cluster.master.logs()
            );
        }
        let written = u64_of(&job, "rows_written");
        progress_samples.push((started.elapsed().as_secs_f64(), written));
        if last_report.elapsed() >= Duration::from_secs(10) {
            last_report = Instant::now();
            progress(
                NAME,
                format!(
                    "{label}: {:.0} s: {written}/{records} written, worker RSS {:.0} MiB; {}",
                    started.elapsed().as_secs_f64(),
                    mib(peak_rss),
                    util::job_line(&job)
                ),
            );
        }
        if written >= records && written_at.is_none() {
            written_at = Some(started.elapsed().as_secs_f64());
        }
        last_job = job;
        if batch && state == "Finished" {
            written_at.get_or_insert(started.elapsed().as_secs_f64());
            break;
        }
        if !batch && written_at.is_some() {
            break;
        }
        if started.elapsed() > PIPELINE_TIMEOUT {
            bail!("{label}: not done after {PIPELINE_TIMEOUT:?}: {last_job}");
        }
    }
    // Folding the profile takes a while; it is left out of the pipeline's seconds.
    let folding = Instant::now();
    if let Some((recording, svg)) = profile {
        let title = format!("weir worker, {label}: {records} records, parallelism {parallelism}");
        let cpu_seconds = recording.finish(&svg, &title)?;
        progress(
            NAME,
            format!(
                "flame graph of {cpu_seconds:.1} worker CPU s in {} (folded stacks beside it)",
                svg.display()
            ),
        );
    }
    let profiling = folding.elapsed().as_secs_f64();
    // What one scrape costs the worker, measured while the streaming job still holds its
    // series (a finished batch job has none left); left out of the pipeline's own figures.
    let scrape_cost = if batch || !scrape {
        None
    } else {
        Some(crate::scrape::cost_of_a_scrape(&cluster.worker)?)
    };
    if !batch {
        cluster.master.stop_job(&job_id)?;
    }
    let (scrapes, exposition_bytes) = scraper.map_or((0, 0), crate::scrape::Scraper::stop);
    let (spent_cpu, spent_seconds) = scrape_cost
        .as_ref()
        .map_or((0.0, 0.0), |cost| (cost.spent_cpu, cost.spent_seconds));
    let seconds = started.elapsed().as_secs_f64() - spent_seconds - profiling;
    let cpu = cluster.worker.cpu_seconds().unwrap_or_default() - cpu_before - spent_cpu;
    // One scrape a second over the run, against the worker's CPU for the run.
    let scrape_share = scrape_cost
        .as_ref()
        .map(|cost| cost.cpu_seconds * seconds / cpu.max(f64::EPSILON));
    let hwm = cluster.worker.peak_rss_bytes().unwrap_or_default();
    let final_job = cluster.master.job_json(&job_id).unwrap_or(last_job);
    let written = u64_of(&final_job, "rows_written");
    let committed = files::committed(store, path, false).context("listing the committed files")?;
    // FakeSource has no input bytes: its rows are counted as the JSON lines they became.
    let bytes = if bytes > 0 { bytes } else { committed.bytes };
    let mib_s = mib(bytes) / seconds;
    let cpu_per_gib = cpu / (bytes as f64 / GIB as f64);
    let cores_busy = cpu / seconds;
    let steady = steady_rows_per_second(&progress_samples, records);
    // Shares of the drain loops' time (one per subtask) and of the readers' time (one per
    // partition) over the window from the first row written to the last.
    let shares = match waits_window {
        (Some((from, first)), Some((to, last))) if to > from => {
            let window = to - from;
            let waits = last.since(&first);
            let drains = window * f64::from(waits.subtasks.max(1));
            let readers = window * f64::from(ctx.common.partitions.max(1));
            Some(WaitShares {
                idle: waits.idle / drains,
                sink_wait: waits.sink_wait / drains,
                queue_full: waits.queue_full / readers,
                source_wait: waits.source_wait / readers,
                window,
            })
        }
        _ => None,
    };
    if let Some(shares) = &shares {
        progress(
            NAME,
            format!(
                "{label}: over {:.1} s, drain loops idle {:.0} %, waiting for the sink {:.0} %, busy the rest; readers waiting for their source {:.0} %, for queue room {:.0} %, busy the rest",
                shares.window,
                shares.idle * 100.0,
                shares.sink_wait * 100.0,
                shares.source_wait * 100.0,
                shares.queue_full * 100.0,
            ),
        );
    }
    let share = |pick: fn(&WaitShares) -> f64| shares.as_ref().map(|s| round(pick(s) * 100.0, 1));
    progress(
        NAME,
        format!(
            "{label}: {written} rows in {seconds:.1} s: {:.0} rows/s (steady {}), {mib_s:.1} MiB/s; worker {cpu:.1} CPU s ({cpu_per_gib:.1} per GiB, {cores_busy:.2} cores busy), peak RSS {:.0} MiB; {} files, {} committed; {scrapes} scrapes of {exposition_bytes} B, one costs {:.3} ms CPU ({:.3} % of the worker's)",
            written as f64 / seconds,
            steady.map_or("–".to_string(), |steady| format!("{steady:.0}")),
            mib(peak_rss.max(hwm)),
            committed.files,
            util::human_bytes(committed.bytes),
            scrape_cost
                .as_ref()
                .map_or(0.0, |cost| cost.cpu_seconds * 1000.0),
            scrape_share.unwrap_or_default() * 100.0,
        ),
    );
    Ok(json!({
        "pipeline": label.split_once(' ').map_or(label, |(_, rest)| rest),
        "parallelism": parallelism,
        "records": written,
        "bytes": bytes,
        "seconds": round(seconds, 2),
        "running_after_seconds": running_at.map(|t| round(t, 2)),
        "all_written_after_seconds": written_at.map(|t| round(t, 2)),
        "rows_per_second": round(written as f64 / seconds, 0),
        "steady_rows_per_second": steady.map(|steady| round(steady, 0)),
        "mib_per_second": round(mib_s, 1),
        "cpu_seconds": round(cpu, 2),
        "cpu_seconds_per_gib": round(cpu_per_gib, 2),
        "cores_busy": round(cores_busy, 2),
        "idle_rss_mib": round(mib(idle), 1),
        "peak_rss_mib": round(mib(peak_rss.max(hwm)), 1),
        "files_committed": committed.files,
        "bytes_committed": committed.bytes,
        "scraped": scrape,
        "scrapes": scrapes,
        "exposition_bytes": exposition_bytes,
        "scrape_cpu_ms": scrape_cost.as_ref().map(|cost| round(cost.cpu_seconds * 1000.0, 3)),
        "scrape_cpu_percent": scrape_share.map(|share| round(share * 100.0, 3)),
        "drain_idle_percent": share(|s| s.idle),
        "drain_sink_wait_percent": share(|s| s.sink_wait),
        "readers_source_wait_percent": share(|s| s.source_wait),
        "readers_queue_full_percent": share(|s| s.queue_full),
    }))
}

/// The worker's wait counters at a moment (seconds since the submit).
type Sample = (f64, Waits);

/// Where the time went over a pipeline's window of work, as shares.
struct WaitShares {
    /// Of the drain loops' time: waiting with empty queues.
    idle: f64,
    /// Of the drain loops' time: waiting for the sink.
    sink_wait: f64,
    /// Of the readers' time: waiting for room in their queues.
    queue_full: f64,
    /// Of the readers' time: waiting for their source.
    source_wait: f64,
    /// Seconds of the window.
    window: f64,
}

/// Rows written per second between [`STEADY`]'s fractions of `records`, from `(seconds,
/// rows written)` samples; `None` when the samples do not resolve it (a run shorter than the
/// 1 s heartbeat that carries the counts).
fn steady_rows_per_second(samples: &[(f64, u64)], records: u64) -> Option<f64> {
    let at = |fraction: f64| {
        samples
            .iter()
            .find(|(_, written)| *written as f64 >= fraction * records as f64)
            .copied()
    };
    let (t0, rows0) = at(STEADY.0)?;
    let (t1, rows1) = at(STEADY.1)?;
    (t1 > t0 && rows1 > rows0).then(|| (rows1 - rows0) as f64 / (t1 - t0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn steady_rate_leaves_out_start_and_end() {
        // Slow start (10 rows by 5 s), 100 rows/s in between, a slow final checkpoint.
        let samples = [
            (1.0, 0),
            (5.0, 10),
            (6.0, 110),
            (7.0, 210),
            (8.0, 310),
            (9.0, 410),
            (10.0, 500),
            (20.0, 500),
        ];
        let steady = steady_rows_per_second(&samples, 500).unwrap_or_default();
        assert!((steady - 100.0).abs() < 5.0, "{steady}");
        assert_eq!(steady_rows_per_second(&[(1.0, 500)], 500), None);
    }
}
