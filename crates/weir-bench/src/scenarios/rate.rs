//! Rate accuracy: `read_limit.rows_per_second` of 10, 1 000 and 50 000, and a
//! `read_limit.bytes_per_second` target, each over a 30 s window; achieved rate and error in %.
//!
//! The achieved rate is counted where it cannot be stale: the job writes every row to the
//! Console sink and this program counts the lines on the worker's stdout pipe as they arrive
//! (Weir's own metrics travel with 1 s heartbeats, which alone would be a 3 % error over 30 s).
//! The bytes/s limit counts row size in memory, which only Weir knows: the achieved bytes/s is
//! the counted rows/s × Weir's `bytes_read / rows_read` (constant: every record has the same
//! size).

use std::time::{Duration, Instant};

use anyhow::bail;
use serde_json::{Value, json};

use super::Cluster;
use crate::cluster::{Jobs as _, Stdout};
use crate::jobs::{Job, Sink, Source};
use crate::kafka::Topic;
use crate::util::{self, progress, round, target, u64_of};
use crate::{Ctx, Report};

const NAME: &str = "rate";
const RECORD_SIZE: usize = 200;
const ROW_LIMITS: [u64; 3] = [10, 1_000, 50_000];
/// The target.
const MAX_ERROR_PERCENT: f64 = 2.0;

enum Limit {
    Rows(u64),
    Bytes(u64),
}

pub fn run(ctx: &Ctx) -> anyhow::Result<Report> {
    let scale = ctx.scale();
    let window = util::scaled_secs(ctx.common.rate_window_secs, scale, 5.0);
    let warmup = util::scaled_secs(5.0, scale, 3.0);
    let span = (window + warmup).as_secs_f64() + 5.0;
    let needed_rows = (ROW_LIMITS.iter().max().copied().unwrap_or(0) as f64 * span * 1.2) as u64;
    let needed_bytes_rows =
        (ctx.common.rate_bytes_per_second as f64 / RECORD_SIZE as f64 * span * 1.2) as u64;
    let mut topic = Topic::create(&ctx.common.kafka, "rate", ctx.common.partitions)?;
    topic.produce(NAME, needed_rows.max(needed_bytes_rows), RECORD_SIZE)?;

    let mut cases = Vec::new();
    let mut series = serde_json::Map::new();
    let limits = ROW_LIMITS
        .iter()
        .map(|rows| Limit::Rows(*rows))
        .chain([Limit::Bytes(ctx.common.rate_bytes_per_second)]);
    for limit in limits {
        let (case, points) = one_limit(ctx, &topic, &limit, warmup, window)?;
        series.insert(util::text_of(&case, "limit"), points);
        cases.push(case);
    }
    let mut targets = serde_json::Map::new();
    for case in &cases {
        let error = case["error_percent"].as_f64().unwrap_or(f64::NAN);
        targets.insert(
            format!(
                "error_percent_{}",
                util::text_of(case, "limit").replace(' ', "_")
            ),
            target(
                &format!("|error| ≤ {MAX_ERROR_PERCENT} %"),
                round(error, 2),
                error.abs() <= MAX_ERROR_PERCENT,
            ),
        );
    }
    let summary = json!({
        "scenario": NAME,
        "scale": scale,
        "record_bytes": RECORD_SIZE,
        "partitions": topic.partitions,
        "parallelism": ctx.common.parallelism,
        "window_seconds": window.as_secs_f64(),
        "warmup_seconds": warmup.as_secs_f64(),
        "cases": cases,
        "targets": targets,
    });
    Ok(Report {
        name: NAME,
        summary,
        series: Value::Object(series),
    })
}

fn one_limit(
    ctx: &Ctx,
    topic: &Topic,
    limit: &Limit,
    warmup: Duration,
    window: Duration,
) -> anyhow::Result<(Value, Value)> {
    let (label, configured, unit) = match limit {
        Limit::Rows(rows) => (format!("{rows} rows/s"), *rows as f64, "rows/s"),
        Limit::Bytes(bytes) => (format!("{bytes} B/s"), *bytes as f64, "B/s"),
    };
    let cluster = Cluster::start(
        ctx,
        &format!("{NAME}-{}", label.replace([' ', '/'], "-")),
        Stdout::Counted,
    )?;
    let mut job = Job::new(
        &format!("{NAME}-{label}"),
        Source::Kafka {
            bootstrap: ctx.common.kafka.clone(),
            topic: topic.name.clone(),
            extra: Vec::new(),
        },
        Sink::Console { print: true },
    );
    job.parallelism = ctx.common.parallelism;
    match limit {
        Limit::Rows(rows) => job.rows_per_second = Some(*rows),
        Limit::Bytes(bytes) => job.bytes_per_second = Some(*bytes),
    }
    let job_id = cluster.master.submit_text(
        &format!("{NAME}-{}", label.replace([' ', '/'], "-")),
        &job.text(),
    )?;
    cluster.master.wait_running(&job_id, None, super::START)?;
    let first_row = util::wait_for(
        "the first row reaches the Console sink",
        Duration::from_secs(30),
        Duration::from_millis(10),
        || {
            Ok(if cluster.worker.stdout_line_count() > 0 {
                Ok(Instant::now())
            } else {
                Err("no line yet".to_string())
            })
        },
    )?;
    util::sleep_until(first_row + warmup);
    let job_before = cluster.master.job_json(&job_id)?;
    let t0 = Instant::now();
    let lines0 = cluster.worker.stdout_line_count();
    let mut points = Vec::new();
    let (mut previous_lines, mut previous_at) = (lines0, t0);
    let mut next = t0;
    while t0.elapsed() < window {
        next += Duration::from_secs(1);
        util::sleep_until(next.min(t0 + window));
        let (lines, now) = (cluster.worker.stdout_line_count(), Instant::now());
        let per_second = (lines - previous_lines) as f64 / (now - previous_at).as_secs_f64();
        points.push(json!([
            round((now - t0).as_secs_f64(), 2),
            round(per_second, 1)
        ]));
        (previous_lines, previous_at) = (lines, now);
    }
    let lines1 = cluster.worker.stdout_line_count();
    let elapsed = t0.elapsed().as_secs_f64();
    let job_after = cluster.master.job_json(&job_id)?;
    if util::text_of(&job_after, "state") != "Running" {
        bail!("the job is not Running any more: {job_after}");
    }
    let rows_per_second = (lines1 - lines0) as f64 / elapsed;
    let rows_read = u64_of(&job_after, "rows_read");
    let bytes_per_row = u64_of(&job_after, "bytes_read") as f64 / rows_read.max(1) as f64;
    let achieved = match limit {
        Limit::Rows(_) => rows_per_second,
        Limit::Bytes(_) => rows_per_second * bytes_per_row,
    };
    let error = (achieved - configured) / configured * 100.0;
    // Weir's own view over the same window (stale by up to a heartbeat at each end).
    let weir_rows = (rows_read - u64_of(&job_before, "rows_read")) as f64 / elapsed;
    cluster.master.cancel_job(&job_id);
    progress(
        NAME,
        format!(
            "{label}: achieved {achieved:.1} {unit} over {elapsed:.1} s ({} rows counted on stdout): error {:+.2} %  [target |error| ≤ {MAX_ERROR_PERCENT} %]; Weir's metrics say {weir_rows:.1} rows/s",
            lines1 - lines0,
            round(error, 2)
        ),
    );
    let case = json!({
        "limit": label,
        "unit": unit,
        "configured": configured,
        "achieved": round(achieved, 2),
        "error_percent": round(error, 2),
        "rows_counted": lines1 - lines0,
        "window_seconds": round(elapsed, 2),
        "achieved_rows_per_second": round(rows_per_second, 2),
        "bytes_per_row_in_memory": round(bytes_per_row, 1),
        "weir_metrics_rows_per_second": round(weir_rows, 1),
    });
    Ok((case, Value::Array(points)))
}
