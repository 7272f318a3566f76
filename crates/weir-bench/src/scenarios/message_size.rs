//! Peak worker RSS with 100 B, 10 KiB and 1 MiB records behind a stalled sink: the job writes
//! every row to the Console sink, whose stdout pipe this program stops reading before the job
//! starts, so the sink blocks after 64 KiB, the split queues fill to their bounds, librdkafka's
//! prefetch fills and fetching stops. The backlog is several times what all those buffers
//! hold. Default queue options throughout.
//!
//! Then the same sizes into a Parquet sink (HdfsFile, snappy) at full speed (issue 16): each
//! record a row of one string column, row groups of up to `parquet_row_group_bytes`; peak RSS
//! against the job's reservation.

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use super::{Cluster, sample_running, series_mib};
use crate::cluster::{Jobs as _, Stdout};
use crate::files::Store;
use crate::jobs::{Job, Sink, Source};
use crate::kafka::Topic;
use crate::util::{self, KIB, MIB, mib, progress, round, target, u64_of};
use crate::{Ctx, Report};

const NAME: &str = "message-size";

/// (record size, backlog bytes at scale 1, floor): small records fill the row-bounded queues
/// (1 000 rows) quickly, large ones need more bytes to fill the byte bounds.
const SIZES: [(usize, u64, u64); 3] = [
    (100, 64 * MIB, 16 * MIB),
    (10 * KIB as usize, 256 * MIB, 96 * MIB),
    (MIB as usize, 256 * MIB, 96 * MIB),
];

pub fn run(ctx: &Ctx) -> anyhow::Result<Report> {
    let scale = ctx.scale();
    let stall = util::scaled_secs(40.0, scale, 10.0);
    let mut sizes = Vec::new();
    let mut series = serde_json::Map::new();
    for (size, backlog, floor) in SIZES {
        let backlog = ((backlog as f64 * scale) as u64).max(floor);
        let records = backlog / size as u64;
        let (run, points) = one_size(ctx, size, records, stall)?;
        series.insert(util::text_of(&run, "record"), points);
        sizes.push(run);
    }
    let mut parquet = Vec::new();
    for (size, backlog, floor) in SIZES {
        let backlog = ((backlog as f64 * scale) as u64).max(floor);
        parquet.push(one_size_parquet(ctx, size, backlog / size as u64)?);
    }
    let mut targets = serde_json::Map::new();
    for run in &parquet {
        let over = run["peak_over_idle_mib"].as_f64().unwrap_or(f64::NAN);
        let bound = run["reservation_mib"].as_f64().unwrap_or(f64::NAN);
        targets.insert(
            format!(
                "parquet_peak_over_idle_mib_{}",
                util::text_of(run, "record").replace(' ', "")
            ),
            target(
                &format!("≤ the job's reservation ({bound:.1} MiB)"),
                round(over, 1),
                over <= bound,
            ),
        );
    }
    for run in &sizes {
        let over = run["peak_over_idle_mib"].as_f64().unwrap_or(f64::NAN);
        let bound = run["reservation_mib"].as_f64().unwrap_or(f64::NAN);
        targets.insert(
            format!(
                "peak_over_idle_mib_{}",
                util::text_of(run, "record").replace(' ', "")
            ),
            target(
                &format!("≤ the job's reservation ({bound:.1} MiB)"),
                round(over, 1),
                over <= bound,
            ),
        );
    }
    let summary = json!({
        "scenario": NAME,
        "scale": scale,
        "partitions": ctx.common.partitions,
        "parallelism": ctx.common.parallelism,
        "stall_seconds": stall.as_secs_f64(),
        "sizes": sizes,
        "parquet": parquet,
        "targets": targets,
    });
    Ok(Report {
        name: NAME,
        summary,
        series: Value::Object(series),
    })
}

fn one_size(
    ctx: &Ctx,
    size: usize,
    records: u64,
    stall: Duration,
) -> anyhow::Result<(Value, Value)> {
    let label = util::human_bytes(size as u64).replace(".0 ", " ");
    let mut topic = Topic::create(&ctx.common.kafka, "size", ctx.common.partitions)?;
    topic.produce(NAME, records, size)?;
    let name = format!("{NAME}-{size}");
    let cluster = Cluster::start(ctx, &name, Stdout::Counted)?;
    let (idle, idle_samples) = cluster.idle_rss(3, Duration::from_secs(1))?;
    cluster.worker.pause_stdout();
    let mut job = Job::new(
        &name,
        Source::Kafka {
            bootstrap: ctx.common.kafka.clone(),
            topic: topic.name.clone(),
            extra: Vec::new(),
        },
        Sink::Console { print: true },
    );
    job.parallelism = ctx.common.parallelism;
    let job_id = cluster.master.submit_text(&name, &job.text())?;
    let running = cluster.master.wait_running(&job_id, None, super::START)?;
    let reservation =
        u64_of(&running, "subtask_reservation_bytes") * u64::from(ctx.common.parallelism);
    progress(
        NAME,
        format!(
            "{label}: backlog {records} records ({}), sink stalled; idle RSS {:.1} MiB, reservation {:.1} MiB; sampling {:.0} s",
            util::human_bytes(records * size as u64),
            mib(idle),
            mib(reservation),
            stall.as_secs_f64()
        ),
    );
    let mut peaks = util::BufferPeaks::default();
    let (sampler, last) = sample_running(
        NAME,
        &cluster,
        &job_id,
        stall,
        Duration::from_secs(15),
        |_, job| peaks.observe(job),
    )
    .map_err(|error| error.context(cluster.master.logs()))?;
    let (queue_peak, prefetch_peak) = (peaks.queue, peaks.prefetch);
    let hwm = cluster.worker.peak_rss_bytes().unwrap_or_default();
    let peak = sampler.peak().max(hwm);
    let rows_read = u64_of(&last, "rows_read");
    let printed = cluster.worker.stdout_line_count();
    cluster.master.cancel_job(&job_id);
    drop(cluster);
    drop(topic);
    progress(
        NAME,
        format!(
            "{label}: peak RSS {:.1} MiB = idle + {:.1} MiB (reservation {:.1} MiB); {rows_read} of {records} rows read; queues peaked at {}, prefetch at {}",
            mib(peak),
            mib(peak.saturating_sub(idle)),
            mib(reservation),
            util::human_bytes(queue_peak),
            util::human_bytes(prefetch_peak)
        ),
    );
    let run = json!({
        "record": label,
        "record_bytes": size,
        "backlog_records": records,
        "backlog_bytes": records * size as u64,
        "idle_rss_mib": round(mib(idle), 1),
        "peak_rss_mib": round(mib(peak), 1),
        "peak_rss_hwm_mib": round(mib(hwm), 1),
        "peak_over_idle_mib": round(mib(peak.saturating_sub(idle)), 1),
        "reservation_mib": round(mib(reservation), 1),
        "rows_read": rows_read,
        "rows_through_stalled_sink": printed,
        "queue_peak_bytes": queue_peak,
        "prefetch_peak_bytes": prefetch_peak,
    });
    Ok((run, series_mib(&idle_samples, &sampler.samples)))
}

/// Records of `size` bytes at full speed into Parquet files on HDFS: peak RSS against the
/// reservation.
fn one_size_parquet(ctx: &Ctx, size: usize, records: u64) -> anyhow::Result<Value> {
    const TIMEOUT: Duration = Duration::from_secs(900);
    let label = util::human_bytes(size as u64).replace(".0 ", " ");
    let mut topic = Topic::create(&ctx.common.kafka, "size-pq", ctx.common.partitions)?;
    topic.produce(NAME, records, size)?;
    let name = format!("{NAME}-parquet-{size}");
    let cluster = Cluster::start(ctx, &name, Stdout::Log)?;
    let (idle, _) = cluster.idle_rss(3, Duration::from_secs(1))?;
    let path = ctx.hdfs_dir(&name);
    let mut job = Job::new(
        &name,
        Source::Kafka {
            bootstrap: ctx.common.kafka.clone(),
            topic: topic.name.clone(),
            extra: Vec::new(),
        },
        Sink::HdfsParquet {
            url: ctx.common.hdfs.clone(),
            path: path.clone(),
        },
    );
    job.parallelism = ctx.common.parallelism;
    let job_id = cluster.master.submit_text(&name, &job.text())?;
    let running = cluster.master.wait_running(&job_id, None, super::START)?;
    let reservation =
        u64_of(&running, "subtask_reservation_bytes") * u64::from(ctx.common.parallelism);
    let started = Instant::now();
    let mut peak = 0;
    let mut written = 0;
    while written < records {
        std::thread::sleep(Duration::from_millis(250));
        peak = peak.max(cluster.worker.rss_bytes().unwrap_or_default());
        let job = cluster.master.job_json(&job_id)?;
        written = u64_of(&job, "rows_written");
        if started.elapsed() > TIMEOUT {
            anyhow::bail!("{label} into Parquet: {written} of {records} rows after {TIMEOUT:?}");
        }
    }
    let seconds = started.elapsed().as_secs_f64();
    let peak = peak.max(cluster.worker.peak_rss_bytes().unwrap_or_default());
    cluster.master.cancel_job(&job_id);
    drop(cluster);
    drop(topic);
    if let Ok(store) = Store::hdfs(&ctx.common.hdfs) {
        store.delete(super::oom_case::parent(&path));
    }
    progress(
        NAME,
        format!(
            "{label} into Parquet: {records} rows in {seconds:.1} s; peak RSS {:.1} MiB = idle + {:.1} MiB (reservation {:.1} MiB)",
            mib(peak),
            mib(peak.saturating_sub(idle)),
            mib(reservation)
        ),
    );
    Ok(json!({
        "record": label,
        "record_bytes": size,
        "records": records,
        "seconds": round(seconds, 1),
        "idle_rss_mib": round(mib(idle), 1),
        "peak_rss_mib": round(mib(peak), 1),
        "peak_over_idle_mib": round(mib(peak.saturating_sub(idle)), 1),
        "reservation_mib": round(mib(reservation), 1),
    }))
}
