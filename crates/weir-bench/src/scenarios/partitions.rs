//! Memory against the partition count (issue 14): at 4, 128 and 1 000 partitions, one topic
//! with a backlog of 1 KiB records (≥ 1 GiB at `--scale 1`), read by one subtask
//! (parallelism 1, default options) in two cases:
//!
//! - the OOM case: Kafka → HdfsFile at `read_limit.rows_per_second = 1`;
//! - a stalled sink: Kafka → Console whose stdout pipe is not read, so the split queues and
//!   librdkafka's prefetch fill to whatever bounds they have (or to the backlog, if that is
//!   smaller).
//!
//! Each on a fresh master + worker: idle RSS, peak RSS (max of samples and VmHWM), and the
//! reservation — the master's (`subtask_reservation_bytes` of the running job, what admission
//! charged) and `weir validate`'s formula — with peak growth ÷ reservation. The worker's
//! `--memory-limit` is raised to twice the reservation when `--worker-memory` would not admit
//! the job (before the budget the reservation grew by 12.6 MiB per partition); the output
//! says so.

use std::time::Duration;

use anyhow::Context as _;
use serde_json::{Value, json};

use super::oom_case::{RECORD_SIZE, parent};
use super::{Cluster, check_disk, sample_running, series_mib};
use crate::cluster::{self, Jobs as _, Stdout};
use crate::files::Store;
use crate::jobs::{Job, Sink, Source};
use crate::kafka::Topic;
use crate::util::{self, GIB, MIB, mib, progress, round, target, u64_of};
use crate::{Ctx, Report};

const NAME: &str = "partitions";
const PARTITIONS: [i32; 3] = [4, 128, 1000];
/// Issue 14's target: peak ≤ idle + 64 MiB at 1 row/s.
const HEADROOM: u64 = 64 * MIB;
/// Reservation between these multiples of the measured peak growth.
const RESERVATION_RANGE: (f64, f64) = (1.0, 1.5);

pub fn run(ctx: &Ctx) -> anyhow::Result<Report> {
    let scale = ctx.scale();
    let backlog = (GIB as f64 * scale) as u64;
    let records = (backlog / RECORD_SIZE as u64).max(10_000);
    let duration = util::scaled_secs(60.0, scale, 20.0);
    check_disk(NAME, records * RECORD_SIZE as u64)?;
    if scale < 1.0 {
        progress(
            NAME,
            format!(
                "--scale {scale}: backlog {} instead of 1 GiB, {:.0} s of sampling instead of 60 s — the issue's case needs --scale 1",
                util::human_bytes(records * RECORD_SIZE as u64),
                duration.as_secs_f64()
            ),
        );
    }
    let store = Store::hdfs(&ctx.common.hdfs)?;
    let mut rows = Vec::new();
    let mut series = serde_json::Map::new();
    let mut targets = serde_json::Map::new();
    for partitions in PARTITIONS {
        let mut topic = Topic::create(&ctx.common.kafka, "parts", partitions)?;
        topic.produce(NAME, records, RECORD_SIZE)?;
        let validated = validate(ctx, &topic)?;
        let reservation_guess = validated.0 + validated.1 * partitions as u64;
        let memory = worker_memory(ctx, reservation_guess);
        let mut row = serde_json::Map::new();
        row.insert("partitions".into(), partitions.into());
        row.insert("validate_base_bytes".into(), validated.0.into());
        row.insert("validate_per_partition_bytes".into(), validated.1.into());
        row.insert("worker_memory_limit".into(), memory.clone().into());
        for case in ["oom", "stalled"] {
            let (figures, points) = one_case(ctx, &store, &topic, case, &memory, duration)?;
            series.insert(format!("{case}-{partitions}"), points);
            let over = figures["peak_over_idle_mib"].as_f64().unwrap_or(f64::NAN);
            let reserved = figures["reservation_mib"].as_f64().unwrap_or(f64::NAN);
            let multiple = reserved / over;
            if case == "oom" {
                targets.insert(
                    format!("oom_peak_over_idle_mib_{partitions}"),
                    target(
                        &format!(
                            "worker peak RSS ≤ idle + 64 MiB at 1 row/s, {partitions} partitions"
                        ),
                        round(over, 1),
                        over <= mib(HEADROOM),
                    ),
                );
            }
            targets.insert(
                format!("{case}_reservation_over_growth_{partitions}"),
                target(
                    &format!(
                        "reservation between {}× and {}× the peak growth ({case}, {partitions} partitions)",
                        RESERVATION_RANGE.0, RESERVATION_RANGE.1
                    ),
                    round(multiple, 2),
                    (RESERVATION_RANGE.0..=RESERVATION_RANGE.1).contains(&multiple),
                ),
            );
            row.insert(case.into(), figures);
        }
        rows.push(Value::Object(row));
        drop(topic);
    }
    let summary = json!({
        "scenario": NAME,
        "scale": scale,
        "record_bytes": RECORD_SIZE,
        "backlog_records": records,
        "backlog_bytes": records * RECORD_SIZE as u64,
        "parallelism": 1,
        "sample_seconds": duration.as_secs(),
        "runs": rows,
        "targets": targets,
    });
    Ok(Report {
        name: NAME,
        summary,
        series: Value::Object(series),
    })
}

/// `--worker-memory`, or twice the reservation when that is more (so the job is admitted).
fn worker_memory(ctx: &Ctx, reservation: u64) -> String {
    let configured = parse_size(&ctx.common.worker_memory).unwrap_or(2 * GIB);
    if 2 * reservation > configured {
        let mib = (2 * reservation).div_ceil(MIB);
        progress(
            NAME,
            format!(
                "raising the worker's --memory-limit from {} to {mib}MiB so that a {} reservation is admitted",
                ctx.common.worker_memory,
                util::human_bytes(reservation)
            ),
        );
        format!("{mib}MiB")
    } else {
        ctx.common.worker_memory.clone()
    }
}

fn job(ctx: &Ctx, topic: &Topic, case: &str, path: &str) -> Job {
    let source = Source::Kafka {
        bootstrap: ctx.common.kafka.clone(),
        topic: topic.name.clone(),
        extra: Vec::new(),
    };
    let name = format!("{NAME}-{case}-{}", topic.partitions);
    let mut job = if case == "oom" {
        let mut job = Job::new(
            &name,
            source,
            Sink::Hdfs {
                url: ctx.common.hdfs.clone(),
                path: path.to_string(),
            },
        );
        job.rows_per_second = Some(1);
        job
    } else {
        Job::new(&name, source, Sink::Console { print: true })
    };
    job.parallelism = 1;
    job
}

/// `weir validate`'s reservation: (base bytes, bytes per partition) from its line "each
/// subtask reserves A + B per partition it reads" (B is 0 when the line names no per-partition
/// part).
fn validate(ctx: &Ctx, topic: &Topic) -> anyhow::Result<(u64, u64)> {
    let dir = ctx.dir(&format!("{NAME}-validate-{}", topic.partitions))?;
    let path = dir.join("job.conf");
    std::fs::write(&path, job(ctx, topic, "oom", "/weir-bench/validate").text())?;
    let output = std::process::Command::new(&ctx.weir.bin)
        .arg("validate")
        .arg(&path)
        .output()
        .context("running weir validate")?;
    let text = String::from_utf8_lossy(&output.stdout).into_owned();
    if !output.status.success() {
        anyhow::bail!(
            "`weir validate` failed: {text} {}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
    progress(NAME, format!("weir validate: {}", text.trim()));
    let reserves = text
        .split_once("reserves")
        .map(|(_, rest)| rest)
        .context("no `reserves` in weir validate's output")?;
    let (base, rest) = match reserves.split_once('+') {
        Some((base, rest)) => (base, Some(rest)),
        None => (reserves, None),
    };
    let base = parse_size(base.trim()).context("the base of the reservation")?;
    let per_partition = rest
        .filter(|rest| rest.contains("per partition"))
        .and_then(|rest| parse_size(rest.split(" per").next().unwrap_or_default().trim()))
        .unwrap_or_default();
    Ok((base, per_partition))
}

/// `26.6 MiB`, `2GiB`, `512 B` → bytes.
fn parse_size(text: &str) -> Option<u64> {
    let text = text.trim();
    let split = text.find(|c: char| !(c.is_ascii_digit() || c == '.'))?;
    let (number, unit) = text.split_at(split);
    let number: f64 = number.parse().ok()?;
    let unit = unit.split_whitespace().next().unwrap_or_default();
    let factor = match unit {
        "B" => 1,
        "KiB" | "KB" | "K" => 1 << 10,
        "MiB" | "MB" | "M" => 1 << 20,
        "GiB" | "GB" | "G" => 1 << 30,
        _ => return None,
    };
    Some((number * factor as f64) as u64)
}

fn one_case(
    ctx: &Ctx,
    store: &Store,
    topic: &Topic,
    case: &str,
    memory: &str,
    duration: Duration,
) -> anyhow::Result<(Value, Value)> {
    let name = format!("{NAME}-{case}-{}", topic.partitions);
    let dir = ctx.dir(&name)?;
    let master = cluster::start_master(&ctx.weir, &dir, &name, ctx.common.tls)?;
    let stdout = if case == "oom" {
        Stdout::Log
    } else {
        Stdout::Counted
    };
    let worker = cluster::start_worker(&master, &format!("w-{name}"), memory, stdout)?;
    let cluster = Cluster { worker, master };
    let (idle, idle_samples) = cluster.idle_rss(3, Duration::from_secs(1))?;
    if case == "stalled" {
        cluster.worker.pause_stdout();
    }
    let path = ctx.hdfs_dir(&name);
    let job = job(ctx, topic, case, &path);
    let job_id = cluster.master.submit_text(&name, &job.text())?;
    let result = cluster
        .master
        .wait_running(&job_id, None, super::START)
        .and_then(|running| {
            let mut peaks = util::BufferPeaks::default();
            let sampled = sample_running(
                NAME,
                &cluster,
                &job_id,
                duration,
                Duration::from_secs(30),
                |_, job| peaks.observe(job),
            )?;
            Ok((running, sampled, peaks.queue, peaks.prefetch))
        });
    let (running, (sampler, last), queue_peak, prefetch_peak) = match result {
        Ok(done) => done,
        Err(error) => {
            cluster.master.cancel_job(&job_id);
            store.delete(parent(&path));
            return Err(error.context(cluster.master.logs()));
        }
    };
    let hwm = cluster.worker.peak_rss_bytes().unwrap_or_default();
    let peak = sampler.peak().max(hwm);
    let reservation = u64_of(&running, "subtask_reservation_bytes");
    let rows_read = u64_of(&last, "rows_read");
    cluster.master.cancel_job(&job_id);
    drop(cluster);
    store.delete(parent(&path));
    let over = peak.saturating_sub(idle);
    progress(
        NAME,
        format!(
            "{case}, {} partitions: idle {:.1} MiB, peak {:.1} MiB (+{:.1}), reservation {:.1} MiB ({:.2}× the growth); {rows_read} rows read; queues peaked at {}, prefetch at {}",
            topic.partitions,
            mib(idle),
            mib(peak),
            mib(over),
            mib(reservation),
            reservation as f64 / over.max(1) as f64,
            util::human_bytes(queue_peak),
            util::human_bytes(prefetch_peak),
        ),
    );
    Ok((
        json!({
            "idle_rss_mib": round(mib(idle), 1),
            "peak_rss_mib": round(mib(peak), 1),
            "peak_over_idle_mib": round(mib(over), 1),
            "reservation_mib": round(mib(reservation), 1),
            "peak_over_reservation": round(over as f64 / reservation.max(1) as f64, 2),
            "rows_read": rows_read,
            "queue_peak_bytes": queue_peak,
            "prefetch_peak_bytes": prefetch_peak,
        }),
        series_mib(&idle_samples, &sampler.samples),
    ))
}

#[cfg(test)]
mod tests {
    use super::parse_size;

    #[test]
    fn sizes_as_weir_prints_them() {
        assert_eq!(parse_size("26.6 MiB"), Some((26.6 * 1048576.0) as u64));
        assert_eq!(parse_size("2GiB"), Some(2 << 30));
        assert_eq!(parse_size("512 B"), Some(512));
        assert_eq!(parse_size("lots"), None);
    }
}
