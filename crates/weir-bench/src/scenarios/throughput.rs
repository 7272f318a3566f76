//! Throughput without limits: (a) the ceiling, raw librdkafka consumption of the same
//! partitions doing nothing with the records; (b) Kafka → HdfsFile end to end, until everything
//! is committed; the ratio b / a. Also Kafka → LocalFile and FakeSource → HdfsFile, to show
//! where the time goes. Worker CPU seconds and peak RSS for each.

use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use serde_json::{Value, json};

use super::oom_case::{RECORD_SIZE, parent};
use super::{Cluster, Shared, check_disk};
use crate::cluster::Stdout;
use crate::files::{self, Store};
use crate::jobs::{Job, Sink, Source};
use crate::kafka::{self, Topic};
use crate::util::{self, mib, progress, round, target, u64_of};
use crate::{Ctx, Report};

const NAME: &str = "throughput";
/// How long one pipeline may take before the scenario gives up.
const PIPELINE_TIMEOUT: Duration = Duration::from_secs(1800);

pub fn run(ctx: &Ctx, shared: &mut Shared) -> anyhow::Result<Report> {
    let scale = ctx.scale();
    let bytes = (ctx.common.throughput_gib * scale * util::GIB as f64) as u64;
    let records = (bytes / RECORD_SIZE as u64).max(10_000);
    let mut topic = match shared.kib_topic.take() {
        Some(topic) if topic.record_size == RECORD_SIZE => topic,
        _ => Topic::create(&ctx.common.kafka, "kib", ctx.common.partitions)?,
    };
    // Kafka's copy, HDFS's copy and the LocalFile copy.
    check_disk(NAME, 3 * records * RECORD_SIZE as u64)?;
    let mut production = Value::Null;
    if topic.records() < records {
        let produced = topic.produce(NAME, records - topic.records(), RECORD_SIZE)?;
        production = json!({
            "records": produced.records,
            "bytes": produced.bytes,
            "seconds": round(produced.seconds, 1),
            "mib_per_second": round(produced.mib_per_second(), 1),
        });
    }
    let total_records = topic.records();
    let total_bytes = topic.bytes;

    progress(
        NAME,
        format!("(a) raw librdkafka consumption of {total_records} records"),
    );
    let raw = kafka::raw_consume(&topic)?;
    if raw.records != total_records {
        bail!(
            "the raw consumer read {} records, the topic holds {total_records}",
            raw.records
        );
    }
    let raw_mib_s = mib(raw.bytes) / raw.seconds;
    progress(
        NAME,
        format!(
            "(a) raw: {} records in {:.1} s: {:.0} rows/s, {raw_mib_s:.1} MiB/s, {:.1} CPU s",
            raw.records,
            raw.seconds,
            raw.records as f64 / raw.seconds,
            raw.cpu_seconds
        ),
    );
    let raw_value = json!({
        "pipeline": "raw librdkafka consumer",
        "records": raw.records,
        "bytes": raw.bytes,
        "seconds": round(raw.seconds, 2),
        "rows_per_second": round(raw.records as f64 / raw.seconds, 0),
        "mib_per_second": round(raw_mib_s, 1),
        "cpu_seconds": round(raw.cpu_seconds, 1),
    });

    let hdfs = Store::hdfs(&ctx.common.hdfs)?;
    let local = Store::local();
    let kafka_source = Source::Kafka {
        bootstrap: ctx.common.kafka.clone(),
        topic: topic.name.clone(),
        extra: Vec::new(),
    };
    let mut pipelines = vec![raw_value];
    let hdfs_path = ctx.hdfs_dir("kafka-hdfs");
    let b = pipeline(
        ctx,
        "(b) Kafka → HdfsFile",
        "kafka-hdfs",
        kafka_source.clone(),
        Sink::Hdfs {
            url: ctx.common.hdfs.clone(),
            path: hdfs_path.clone(),
        },
        total_records,
        total_bytes,
        &hdfs,
        &hdfs_path,
    );
    hdfs.delete(parent(&hdfs_path));
    let b = b?;
    let b_mib_s = b["mib_per_second"].as_f64().unwrap_or_default();
    let scrape_percent = b["scrape_cpu_percent"].as_f64().unwrap_or(f64::MAX);
    pipelines.push(b);

    let local_dir = ctx.dir("throughput-local-out")?;
    let local_path = local_dir.join("out").display().to_string();
    let c = pipeline(
        ctx,
        "(c) Kafka → LocalFile",
        "kafka-local",
        kafka_source,
        Sink::Local {
            path: local_path.clone(),
        },
        total_records,
        total_bytes,
        &local,
        &local_path,
    );
    let _ = std::fs::remove_dir_all(&local_dir);
    pipelines.push(c?);

    // FakeSource rows of the same size: one bigint and a string, as JSON about RECORD_SIZE.
    let fake_path = ctx.hdfs_dir("fake-hdfs");
    let per_subtask = total_records.div_ceil(u64::from(ctx.common.parallelism));
    let d = pipeline(
        ctx,
        "(d) FakeSource → HdfsFile",
        "fake-hdfs",
        Source::Fake {
            rows: per_subtask,
            string_length: RECORD_SIZE as u64 - 40,
        },
        Sink::Hdfs {
            url: ctx.common.hdfs.clone(),
            path: fake_path.clone(),
        },
        per_subtask * u64::from(ctx.common.parallelism),
        0,
        &hdfs,
        &fake_path,
    );
    hdfs.delete(parent(&fake_path));
    pipelines.push(d?);

    let ratio = b_mib_s / raw_mib_s;
    let summary = json!({
        "scenario": NAME,
        "scale": scale,
        "records": total_records,
        "bytes": total_bytes,
        "record_bytes": RECORD_SIZE,
        "partitions": topic.partitions,
        "parallelism": ctx.common.parallelism,
        "tls": ctx.common.tls,
        "production": production,
        "pipelines": pipelines,
        "ratio_hdfs_to_raw": round(ratio, 3),
        "targets": {
            "ratio_hdfs_to_raw": target("≥ 0.8 of the raw-consumption ceiling", round(ratio, 3), ratio >= 0.8),
            "scrape_cpu_percent": target("scraping /metrics every second < 1 % of the worker's CPU (Kafka → HdfsFile)", round(scrape_percent, 3), scrape_percent < 1.0),
        },
    });
    shared.kib_topic = Some(topic);
    Ok(Report {
        name: NAME,
        summary,
        series: Value::Null,
    })
}

/// Runs one job on a fresh master + worker until all `records` are committed, and measures it.
/// Kafka jobs (streaming) are stopped with `weir stop` once every record is written (the final
/// checkpoint commits the last files); FakeSource jobs are BATCH and end Finished.
#[allow(clippy::too_many_arguments)]
fn pipeline(
    ctx: &Ctx,
    label: &str,
    name: &str,
    source: Source,
    sink: Sink,
    records: u64,
    bytes: u64,
    store: &Store,
    path: &str,
) -> anyhow::Result<Value> {
    let cluster = Cluster::start(ctx, &format!("{NAME}-{name}"), Stdout::Null)?;
    let (idle, _) = cluster.idle_rss(2, Duration::from_millis(500))?;
    let batch = matches!(source, Source::Fake { .. });
    let mut job = Job::new(&format!("{NAME}-{name}"), source, sink);
    job.parallelism = ctx.common.parallelism;
    job.streaming = !batch;
    progress(NAME, format!("{label}: {records} records"));
    // Prometheus scrapes the worker every second through the whole run, as in production.
    let scraper = crate::scrape::Scraper::start(cluster.worker.http_address());
    let cpu_before = cluster.worker.cpu_seconds().unwrap_or_default();
    let started = Instant::now();
    let job_id = cluster
        .master
        .submit(&format!("{NAME}-{name}"), &job.text())?;
    let mut running_at = None;
    let mut written_at = None;
    let mut last_report = Instant::now();
    let mut peak_rss = 0u64;
    let mut last_job;
    loop {
        std::thread::sleep(Duration::from_millis(250));
        peak_rss = peak_rss.max(cluster.worker.rss().unwrap_or_default());
        let job = cluster.master.job(&job_id)?;
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
    // What one scrape costs the worker, measured while the streaming job still holds its
    // series (a finished batch job has none left); left out of the pipeline's own figures.
    let scrape_cost = if batch {
        None
    } else {
        Some(crate::scrape::cost_of_a_scrape(&cluster.worker)?)
    };
    if !batch {
        cluster.master.stop_job(&job_id)?;
    }
    let (scrapes, exposition_bytes) = scraper.stop();
    let (spent_cpu, spent_seconds) = scrape_cost
        .as_ref()
        .map_or((0.0, 0.0), |cost| (cost.spent_cpu, cost.spent_seconds));
    let seconds = started.elapsed().as_secs_f64() - spent_seconds;
    let cpu = cluster.worker.cpu_seconds().unwrap_or_default() - cpu_before - spent_cpu;
    // One scrape a second over the run, against the worker's CPU for the run.
    let scrape_share = scrape_cost
        .as_ref()
        .map(|cost| cost.cpu_seconds * seconds / cpu.max(f64::EPSILON));
    let hwm = cluster.worker.hwm().unwrap_or_default();
    let final_job = cluster.master.job(&job_id).unwrap_or(last_job);
    let written = u64_of(&final_job, "rows_written");
    let committed = files::committed(store, path, false).context("listing the committed files")?;
    // FakeSource has no input bytes: its rows are counted as the JSON lines they became.
    let bytes = if bytes > 0 { bytes } else { committed.bytes };
    let mib_s = mib(bytes) / seconds;
    progress(
        NAME,
        format!(
            "{label}: {written} rows in {seconds:.1} s: {:.0} rows/s, {mib_s:.1} MiB/s; worker {cpu:.1} CPU s, peak RSS {:.0} MiB; {} files, {} committed; {scrapes} scrapes of {exposition_bytes} B, one costs {:.3} ms CPU ({:.3} % of the worker's)",
            written as f64 / seconds,
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
        "records": written,
        "bytes": bytes,
        "seconds": round(seconds, 2),
        "running_after_seconds": running_at.map(|t| round(t, 2)),
        "all_written_after_seconds": written_at.map(|t| round(t, 2)),
        "rows_per_second": round(written as f64 / seconds, 0),
        "mib_per_second": round(mib_s, 1),
        "cpu_seconds": round(cpu, 1),
        "idle_rss_mib": round(mib(idle), 1),
        "peak_rss_mib": round(mib(peak_rss.max(hwm)), 1),
        "files_committed": committed.files,
        "bytes_committed": committed.bytes,
        "scrapes": scrapes,
        "exposition_bytes": exposition_bytes,
        "scrape_cpu_ms": scrape_cost.as_ref().map(|cost| round(cost.cpu_seconds * 1000.0, 3)),
        "scrape_cpu_percent": scrape_share.map(|share| round(share * 100.0, 3)),
    }))
}
