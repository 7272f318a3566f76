//! Recovery: a Kafka → HdfsFile job keeps up with a steady producer; `kill -9` of its worker,
//! a new worker started at once. Seconds from the kill to detection (the master lists the
//! worker DEAD, or the job leaves Running), to Running again (every task Running on the new
//! worker), and to caught up (lag back to its level before the kill); then the output is read
//! back from HDFS and checked: every produced (partition, seq) exactly once.
//!
//! Lag here is computed by this program: the partitions' high watermarks, queried from Kafka
//! at each poll, minus the read positions Weir reports per split (Weir's own `consumer_lag`
//! refreshes high watermarks only every 5 s).

use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use serde_json::{Value, json};

use super::Cluster;
use super::oom_case::parent;
use crate::cluster::{Jobs as _, Master, Stdout};
use crate::files::{self, Store};
use crate::jobs::{Job, Sink, Source};
use crate::kafka::{SteadyProducer, Topic};
use crate::util::{self, progress, round, target, text_of, u64_of};
use crate::{Ctx, Report};

const NAME: &str = "recovery";
const RECORD_SIZE: usize = 200;
const CHECKPOINT_INTERVAL_MS: u64 = 5_000;
/// The target for Running again after the kill.
const RUNNING_AGAIN_TARGET: f64 = 10.0;
const POLL: Duration = Duration::from_millis(100);
/// Bound for recovery and catching up.
const RECOVERY_TIMEOUT: Duration = Duration::from_secs(180);

pub fn run(ctx: &Ctx) -> anyhow::Result<Report> {
    let scale = ctx.scale();
    let rate = ctx.common.recovery_rows_per_second;
    let steady = util::scaled_secs(15.0, scale, 4.0);
    let after = util::scaled_secs(5.0, scale, 2.0);
    let threshold = rate.max(1) as i64;
    let topic = Topic::create(&ctx.common.kafka, "recovery", ctx.common.partitions)?;
    let store = Store::hdfs(&ctx.common.hdfs)?;
    let path = ctx.hdfs_dir(NAME);
    let result = measure(ctx, &topic, &store, &path, rate, steady, after, threshold);
    store.delete(parent(&path));
    let (summary, series) = result?;
    Ok(Report {
        name: NAME,
        summary,
        series,
    })
}

/// Lag per this program: Σ high watermark − Σ reported position, or `None` while some split
/// reports no position yet.
fn own_lag(topic: &Topic, job: &Value) -> anyhow::Result<Option<i64>> {
    let highs: i64 = topic.watermarks()?.iter().map(|(_, high)| high).sum();
    let splits = util::splits(job);
    if splits.len() < topic.partitions as usize {
        return Ok(None);
    }
    let mut positions = 0i64;
    for split in &splits {
        let position = split["position"].as_i64().unwrap_or(-1);
        if position < 0 {
            return Ok(None);
        }
        positions += position;
    }
    Ok(Some(highs - positions))
}

#[derive(Debug, Default, Clone)]
struct Events {
    detected_worker_dead: Option<f64>,
    detected_job_left_running: Option<f64>,
    running_again: Option<f64>,
    caught_up: Option<f64>,
    states: Vec<(f64, String)>,
    lag: Vec<(f64, i64)>,
}

/// Polls the master from the kill until the job runs again on `new_worker` and caught up.
fn watch(
    master: &Master,
    topic: &Topic,
    job_id: &str,
    dead_worker: &str,
    new_worker: &str,
    killed: Instant,
    threshold: i64,
) -> anyhow::Result<Events> {
    let mut events = Events::default();
    // Each event is timed when the call that observed it returned (an upper bound: the master
    // saw it up to one CLI call, ~10-50 ms, earlier).
    loop {
        if killed.elapsed() > RECOVERY_TIMEOUT {
            bail!("not recovered within {RECOVERY_TIMEOUT:?} of the kill: {events:?}");
        }
        if events.detected_worker_dead.is_none()
            && let Ok(workers) = master.worker_list()
        {
            let listed = workers.iter().find(|w| w["worker_id"] == dead_worker);
            if listed.is_none_or(|w| w["state"] != "ALIVE") {
                events.detected_worker_dead = Some(killed.elapsed().as_secs_f64());
            }
        }
        let job = match master.job_json(job_id) {
            Ok(job) => job,
            Err(_) => {
                std::thread::sleep(POLL);
                continue;
            }
        };
        let at = killed.elapsed().as_secs_f64();
        let state = text_of(&job, "state");
        if events.states.last().is_none_or(|(_, last)| *last != state) {
            events.states.push((at, state.clone()));
        }
        if matches!(
            state.as_str(),
            "Failed" | "Cancelled" | "Stopped" | "Finished"
        ) {
            bail!("the job ended {state} after the kill: {job}");
        }
        let tasks = util::tasks(&job);
        let on_new = !tasks.is_empty()
            && tasks
                .iter()
                .all(|task| task["state"] == "Running" && task["worker_id"] == new_worker);
        if events.detected_job_left_running.is_none()
            && (state != "Running" || !tasks.iter().all(|t| t["state"] == "Running"))
        {
            events.detected_job_left_running = Some(at);
        }
        if events.running_again.is_none() && state == "Running" && on_new {
            events.running_again = Some(at);
        }
        if let Some(lag) = own_lag(topic, &job)? {
            let at = killed.elapsed().as_secs_f64();
            events.lag.push((at, lag));
            if events.running_again.is_some() && lag <= threshold {
                events.caught_up = Some(at);
                return Ok(events);
            }
        }
        std::thread::sleep(POLL);
    }
}

#[allow(clippy::too_many_arguments)]
fn measure(
    ctx: &Ctx,
    topic: &Topic,
    store: &Store,
    path: &str,
    rate: u64,
    steady: Duration,
    after: Duration,
    threshold: i64,
) -> anyhow::Result<(Value, Value)> {
    let producer = SteadyProducer::start(topic, rate, RECORD_SIZE)?;
    progress(
        NAME,
        format!(
            "producing {rate} rows/s of {RECORD_SIZE} B to {}",
            topic.name
        ),
    );
    let Cluster { worker, master } = Cluster::start(ctx, NAME, Stdout::Log)?;
    let mut worker_a = worker;
    let mut job = Job::new(
        NAME,
        Source::Kafka {
            bootstrap: ctx.common.kafka.clone(),
            topic: topic.name.clone(),
            extra: Vec::new(),
        },
        Sink::Hdfs {
            url: ctx.common.hdfs.clone(),
            path: path.to_string(),
        },
    );
    job.parallelism = ctx.common.parallelism;
    job.checkpoint_interval_ms = CHECKPOINT_INTERVAL_MS;
    let job_id = master.submit_text(NAME, &job.text())?;
    master.wait_running(&job_id, Some(worker_a.id()), super::START)?;
    // Steady state: a checkpoint completed and the job keeps up with the producer.
    util::wait_for(
        "a checkpoint completed and the lag is under one second of production",
        Duration::from_secs(120),
        Duration::from_millis(250),
        || {
            let job = master.job_json(&job_id)?;
            let checkpoint = job["checkpoints"]["last_completed_id"]
                .as_u64()
                .unwrap_or(0);
            let lag = own_lag(topic, &job)?;
            Ok(match lag {
                Some(lag) if checkpoint > 0 && lag <= 2 * threshold => Ok(()),
                _ => Err(format!("checkpoint {checkpoint}, lag {lag:?}")),
            })
        },
    )?;
    progress(
        NAME,
        format!(
            "steady; running on for {:.0} s before the kill",
            steady.as_secs_f64()
        ),
    );
    let steady_started = Instant::now();
    let mut steady_lags = Vec::new();
    while steady_started.elapsed() < steady {
        std::thread::sleep(Duration::from_millis(500));
        if let Some(lag) = own_lag(topic, &master.job_json(&job_id)?)? {
            steady_lags.push((Instant::now(), lag));
        }
    }
    // Positions travel with 1 s heartbeats, so even a job that keeps up shows about a second
    // of production as lag: caught up means back to the steady level seen before the kill.
    let threshold = threshold.max(steady_lags.iter().map(|(_, lag)| *lag).max().unwrap_or(0));
    let before = master.job_json(&job_id)?;
    progress(
        NAME,
        format!("kill -9 worker A: {}", util::job_line(&before)),
    );
    worker_a.kill_9();
    let killed = Instant::now();
    let new_id = "w-recovery-b";
    let (events, worker_b) = std::thread::scope(|scope| {
        let watcher = scope.spawn(|| {
            watch(
                &master,
                topic,
                &job_id,
                worker_a.id(),
                new_id,
                killed,
                threshold,
            )
        });
        let worker_b =
            crate::cluster::start_worker(&master, new_id, &ctx.common.worker_memory, Stdout::Log);
        let alive_at = killed.elapsed().as_secs_f64();
        let events = watcher.join().unwrap_or_else(|panic| {
            Err(anyhow::anyhow!(
                "watcher panicked: {}",
                crate::kafka::panic_text(&panic)
            ))
        });
        (events.map(|events| (events, alive_at)), worker_b)
    });
    let _worker_b = worker_b?;
    let (events, b_alive_at) = events.map_err(|error| error.context(master.logs()))?;
    let detection = [
        events.detected_worker_dead,
        events.detected_job_left_running,
    ]
    .into_iter()
    .flatten()
    .fold(f64::INFINITY, f64::min);
    progress(
        NAME,
        format!(
            "detected after {detection:.2} s (worker DEAD {:?}, job left Running {:?}); worker B ALIVE after {b_alive_at:.2} s; Running again after {:.2} s; caught up after {:.2} s; states {:?}",
            events.detected_worker_dead.map(|t| round(t, 2)),
            events.detected_job_left_running.map(|t| round(t, 2)),
            events.running_again.unwrap_or(f64::NAN),
            events.caught_up.unwrap_or(f64::NAN),
            events.states
        ),
    );
    let mut after_lags = Vec::new();
    let after_started = Instant::now();
    while after_started.elapsed() < after {
        std::thread::sleep(Duration::from_millis(250));
        if let Some(lag) = own_lag(topic, &master.job_json(&job_id)?)? {
            after_lags.push((killed.elapsed().as_secs_f64(), lag));
        }
    }
    let counts = producer.finish()?;
    let produced: u64 = counts.iter().sum();
    progress(
        NAME,
        format!("producer stopped after {produced} records; waiting for the job to read them all"),
    );
    util::wait_for(
        "the job has read everything produced",
        Duration::from_secs(120),
        Duration::from_millis(250),
        || {
            let job = master.job_json(&job_id)?;
            Ok(match own_lag(topic, &job)? {
                Some(0) => Ok(()),
                lag => Err(format!("lag {lag:?}: {}", util::job_line(&job))),
            })
        },
    )?;
    let recovered = master.job_json(&job_id)?;
    master.stop_job(&job_id)?;
    let highs: Vec<i64> = topic.watermarks()?.iter().map(|(_, high)| *high).collect();
    progress(
        NAME,
        "job stopped; reading the committed files back from HDFS",
    );
    let committed = files::committed(store, path, true).context("reading the output back")?;
    let (missing, duplicated, unexpected) = committed.check_exactly_once(&highs);
    let exactly_once = missing == 0 && duplicated == 0 && unexpected == 0;
    progress(
        NAME,
        format!(
            "{} rows in {} files for {} produced: missing {missing}, duplicated {duplicated}, unexpected {unexpected} → exactly once: {exactly_once}",
            committed.rows,
            committed.files,
            highs.iter().sum::<i64>()
        ),
    );
    let attempts: Vec<u64> = util::tasks(&recovered)
        .iter()
        .map(|task| u64_of(task, "attempt"))
        .collect();
    let steady_lag = steady_lags.iter().map(|(_, lag)| *lag).max().unwrap_or(0);
    // Lag over the whole run, in seconds relative to the kill (negative: before it).
    let lag_series: Vec<Value> = steady_lags
        .iter()
        .map(|(at, lag)| (-(killed - *at).as_secs_f64(), *lag))
        .chain(events.lag.iter().copied())
        .chain(after_lags)
        .map(|(t, lag)| json!([round(t, 2), lag]))
        .collect();
    let running_again = events.running_again.unwrap_or(f64::NAN);
    let summary = json!({
        "scenario": NAME,
        "scale": ctx.scale(),
        "produce_rows_per_second": rate,
        "record_bytes": RECORD_SIZE,
        "partitions": topic.partitions,
        "parallelism": ctx.common.parallelism,
        "checkpoint_interval_ms": CHECKPOINT_INTERVAL_MS,
        "heartbeat": "master defaults (timeout 5 s, interval 1 s)",
        "steady_max_lag_rows": steady_lag,
        "caught_up_threshold_rows": threshold,
        "caught_up_rule": "lag ≤ max(1 s of production, the highest lag of the steady phase before the kill)",
        "detection_seconds": round(detection, 2),
        "detected_worker_dead_seconds": events.detected_worker_dead.map(|t| round(t, 2)),
        "detected_job_left_running_seconds": events.detected_job_left_running.map(|t| round(t, 2)),
        "new_worker_alive_seconds": round(b_alive_at, 2),
        "running_again_seconds": round(running_again, 2),
        "caught_up_seconds": events.caught_up.map(|t| round(t, 2)),
        "job_states_after_kill": events.states.iter().map(|(t, s)| json!([round(*t, 2), s])).collect::<Vec<_>>(),
        "last_checkpoint_when_running_again": recovered["checkpoints"]["last_completed_id"],
        "task_attempts": attempts,
        "produced": highs.iter().sum::<i64>(),
        "rows_committed": committed.rows,
        "files_committed": committed.files,
        "missing": missing,
        "duplicated": duplicated,
        "unexpected": unexpected,
        "exactly_once": exactly_once,
        "targets": {
            "running_again_seconds": target(&format!("≤ {RUNNING_AGAIN_TARGET} s after the kill"), round(running_again, 2), running_again <= RUNNING_AGAIN_TARGET),
            "exactly_once": target("no record missing or duplicated", (missing + duplicated + unexpected) as f64, exactly_once),
        },
    });
    let series = json!({
        "lag_around_kill": lag_series,
    });
    Ok((summary, series))
}
