//! The SeaTunnel out-of-memory case (docs/architecture.md, admission control): 1 master + 1 worker, a topic backlog of
//! 2 GiB of 1 KiB records, Kafka → HdfsFile with `read_limit.rows_per_second = 1` and the
//! default queue options; worker RSS sampled every second for 5 minutes. Then the same with a
//! backlog 4× as large: peak RSS must not grow with it.

use std::time::Duration;

use serde_json::{Value, json};

use super::{Cluster, Shared, check_disk, sample_running, series_mib};
use crate::cluster::{Jobs as _, Stdout};
use crate::files::{self, Store};
use crate::jobs::{Job, Sink, Source};
use crate::kafka::Topic;
use crate::util::{self, MIB, mib, progress, round, target};
use crate::{Ctx, Report};

const NAME: &str = "oom-case";
pub const RECORD_SIZE: usize = 1024;
/// The target: peak RSS ≤ idle + 64 MiB.
const HEADROOM: u64 = 64 * MIB;
const ROWS_PER_SECOND: u64 = 1;

pub fn run(ctx: &Ctx, shared: &mut Shared) -> anyhow::Result<Report> {
    let scale = ctx.scale();
    let base_bytes = (ctx.common.oom_backlog_gib * scale * util::GIB as f64) as u64;
    let base_records = (base_bytes / RECORD_SIZE as u64).max(10_000);
    let multiplier = ctx.common.oom_multiplier.max(1);
    let duration = util::scaled_secs(ctx.common.oom_minutes * 60.0, scale, 20.0);
    let mut topic = match shared.kib_topic.take() {
        Some(topic) if topic.record_size == RECORD_SIZE => topic,
        _ => Topic::create(&ctx.common.kafka, "kib", ctx.common.partitions)?,
    };
    let needed = (base_records * multiplier).saturating_sub(topic.records()) * RECORD_SIZE as u64;
    check_disk(NAME, needed)?;
    let store = Store::hdfs(&ctx.common.hdfs)?;

    let mut production = Vec::new();
    let mut runs = Vec::new();
    let mut series = serde_json::Map::new();
    for (label, records) in [
        ("1x".to_string(), base_records),
        (format!("{multiplier}x"), base_records * multiplier),
    ] {
        if topic.records() < records {
            let more = records - topic.records();
            if let Some(speed) = production
                .last()
                .map(|p: &Value| p["mib_per_second"].as_f64().unwrap_or(0.0))
                && speed > 0.0
            {
                progress(
                    NAME,
                    format!(
                        "producing {} more at the measured {speed:.0} MiB/s: about {:.0} s",
                        util::human_bytes(more * RECORD_SIZE as u64),
                        util::mib(more * RECORD_SIZE as u64) / speed
                    ),
                );
            }
            let produced = topic.produce(NAME, more, RECORD_SIZE)?;
            production.push(json!({
                "records": produced.records,
                "bytes": produced.bytes,
                "seconds": round(produced.seconds, 1),
                "mib_per_second": round(produced.mib_per_second(), 1),
            }));
        }
        let run = one_backlog(ctx, &store, &topic, &label, duration)?;
        series.insert(label.clone(), run["series"].clone());
        let mut summary = run;
        summary
            .as_object_mut()
            .map(|object| object.remove("series"));
        runs.push(summary);
    }
    let peaks: Vec<u64> = runs
        .iter()
        .map(|run| util::u64_of(run, "peak_rss_bytes"))
        .collect();
    let over: Vec<f64> = runs
        .iter()
        .map(|run| run["peak_over_idle_mib"].as_f64().unwrap_or(f64::NAN))
        .collect();
    let growth = mib(peaks[1]) - mib(peaks[0]);
    let mut targets = serde_json::Map::new();
    for (run, over) in runs.iter().zip(&over) {
        targets.insert(
            format!("peak_over_idle_mib_{}", util::text_of(run, "backlog")),
            target("≤ 64 MiB", round(*over, 1), *over <= mib(HEADROOM)),
        );
    }
    targets.insert(
        "peak_growth_mib".to_string(),
        target(
            &format!("≈ 0: peak RSS does not grow with a {multiplier}× backlog (≤ 16 MiB)"),
            round(growth, 1),
            growth <= 16.0,
        ),
    );
    let summary = json!({
        "scenario": NAME,
        "scale": scale,
        "record_bytes": RECORD_SIZE,
        "partitions": topic.partitions,
        "parallelism": ctx.common.parallelism,
        "rows_per_second_limit": ROWS_PER_SECOND,
        "sample_seconds": duration.as_secs(),
        "production": production,
        "runs": runs,
        "peak_growth_mib": round(growth, 1),
        "targets": targets,
    });
    drop(topic);
    progress(NAME, "topic deleted");
    Ok(Report {
        name: NAME,
        summary,
        series: Value::Object(series),
    })
}

fn one_backlog(
    ctx: &Ctx,
    store: &Store,
    topic: &Topic,
    label: &str,
    duration: Duration,
) -> anyhow::Result<Value> {
    let cluster = Cluster::start(ctx, &format!("{NAME}-{label}"), Stdout::Log)?;
    let (idle, idle_samples) = cluster.idle_rss(5, Duration::from_secs(1))?;
    let path = ctx.hdfs_dir(&format!("{NAME}-{label}"));
    let mut job = Job::new(
        &format!("{NAME}-{label}"),
        Source::Kafka {
            bootstrap: ctx.common.kafka.clone(),
            topic: topic.name.clone(),
            extra: Vec::new(),
        },
        Sink::Hdfs {
            url: ctx.common.hdfs.clone(),
            path: path.clone(),
        },
    );
    job.parallelism = ctx.common.parallelism;
    job.rows_per_second = Some(ROWS_PER_SECOND);
    let backlog_bytes = topic.records() * RECORD_SIZE as u64;
    progress(
        NAME,
        format!(
            "{label}: backlog {} records ({}); idle worker RSS {:.1} MiB; sampling for {:.0} s",
            topic.records(),
            util::human_bytes(backlog_bytes),
            mib(idle),
            duration.as_secs_f64()
        ),
    );
    let job_id = cluster
        .master
        .submit_text(&format!("{NAME}-{label}"), &job.text())?;
    let running = cluster.master.wait_running(&job_id, None, super::START)?;
    let reservation = util::u64_of(&running, "subtask_reservation_bytes");
    let mut queue_peak = 0u64;
    let result = sample_running(
        NAME,
        &cluster,
        &job_id,
        duration,
        Duration::from_secs(30),
        |_, job| queue_peak = queue_peak.max(util::u64_of(job, "queue_bytes")),
    );
    let (sampler, last) = match result {
        Ok(done) => done,
        Err(error) => {
            store.delete(parent(&path));
            return Err(error.context(cluster.master.logs()));
        }
    };
    let hwm = cluster.worker.peak_rss_bytes().unwrap_or_default();
    let final_rss = sampler.last();
    let peak = sampler.peak().max(hwm);
    let stopped = cluster.master.stop_job(&job_id);
    let committed = files::count_lines(store, &path);
    store.delete(parent(&path));
    stopped?;
    let (files_committed, rows_committed, _) = committed?;
    let rows_read = util::u64_of(&last, "rows_read");
    progress(
        NAME,
        format!(
            "{label}: idle {:.1} MiB, peak {:.1} MiB (sampled {:.1}, VmHWM {:.1}), final {:.1} MiB; {rows_read} rows read, {rows_committed} committed in {files_committed} files",
            mib(idle),
            mib(peak),
            mib(sampler.peak()),
            mib(hwm),
            mib(final_rss)
        ),
    );
    Ok(json!({
        "backlog": label,
        "backlog_records": topic.records(),
        "backlog_bytes": backlog_bytes,
        "idle_rss_bytes": idle,
        "peak_rss_bytes": peak,
        "peak_rss_sampled_bytes": sampler.peak(),
        "peak_rss_hwm_bytes": hwm,
        "final_rss_bytes": final_rss,
        "idle_rss_mib": round(mib(idle), 1),
        "peak_rss_mib": round(mib(peak), 1),
        "final_rss_mib": round(mib(final_rss), 1),
        "peak_over_idle_mib": round(mib(peak.saturating_sub(idle)), 1),
        "samples": sampler.samples.len(),
        "rows_read": rows_read,
        "rows_committed": rows_committed,
        "files_committed": files_committed,
        "achieved_rows_per_second": round(rows_read as f64 / duration.as_secs_f64(), 2),
        "queue_peak_bytes": queue_peak,
        "subtask_reservation_bytes": reservation,
        "series": series_mib(&idle_samples, &sampler.samples),
    }))
}

/// The per-run directory holding `path` and the sink's `.weir-tmp`.
pub fn parent(path: &str) -> &str {
    path.rsplit_once('/').map_or(path, |(parent, _)| parent)
}
