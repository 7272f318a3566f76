//! The Kafka source end to end (issue 4's acceptance): real `weir master` and `weir worker`
//! processes reading the real Kafka of the local stack, driven with the `weir` CLI (`-o json`).
//!
//! - bounded memory: a 500 000 × 1 KiB backlog read at 1 row/s, and a 1 MiB-message backlog
//!   behind a slow sink: split queues never pass `queue.max_bytes`, worker RSS stays within
//!   idle RSS + the job's reservation;
//! - read limits: rows/s, bytes/s, and the job-wide (not per-subtask) budget, each measured over
//!   a 20 s window;
//! - backpressure without loss: the Console sink stalls for 10 s (the test stops reading the
//!   worker's stdout pipe) and resumes; every (partition, seq) arrives exactly once, in order;
//! - start modes: earliest, latest, timestamp, specific_offsets;
//! - a poison record: `fail` fails the job naming topic, partition and offset; `skip` counts it.
//!
//! Every test has its own topic, master, worker, ports and directory, so the tests run in
//! parallel; several scenarios also run concurrently inside one test to save wall time. Needs
//! the stack (`deploy/local/stack up && eval "$(deploy/local/stack env)"`) and the built binary.

use std::collections::{BTreeMap, BTreeSet};
use std::panic::AssertUnwindSafe;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::Value;
use weir_e2e::cluster::{Master, Worker, WorkerOptions, write_file};
use weir_e2e::kafka::{
    self, Record, Topic, json_message, json_records, padded_json_records, produce,
};

const KIB: u64 = 1 << 10;
const MIB: u64 = 1 << 20;

/// Bound for a job to be placed and start running.
const START: Duration = Duration::from_secs(30);
/// Bound for things that happen within a few heartbeats.
const SOON: Duration = Duration::from_secs(20);
/// The rate windows.
const WINDOW: Duration = Duration::from_secs(20);
/// Relative tolerance of the rate checks.
const RATE_TOLERANCE: f64 = 0.05;

fn bootstrap() -> String {
    weir_e2e::kafka_bootstrap().unwrap_or_else(|missing| panic!("{missing}"))
}

// ----------------------------------------------------------------------------------------------
// Job files
// ----------------------------------------------------------------------------------------------

/// A Kafka → Console job.
struct KafkaJob {
    bootstrap: String,
    topic: String,
    parallelism: u32,
    /// Extra `env {}` lines.
    env: Vec<String>,
    /// `start_mode` and friends.
    start: Vec<String>,
    /// `schema { fields { … } }` body.
    fields: String,
    /// Extra `Kafka {}` lines.
    source: Vec<String>,
    print_data: bool,
    print_delay_ms: u64,
}

impl KafkaJob {
    fn new(bootstrap: &str, topic: &str) -> Self {
        KafkaJob {
            bootstrap: bootstrap.to_string(),
            topic: topic.to_string(),
            parallelism: 1,
            env: Vec::new(),
            start: vec![r#"start_mode = "earliest""#.to_string()],
            fields: r#"p = "int", seq = "bigint""#.to_string(),
            source: Vec::new(),
            print_data: false,
            print_delay_ms: 0,
        }
    }

    fn text(&self) -> String {
        let indent = |lines: &[String], by: &str| {
            lines
                .iter()
                .map(|line| format!("{by}{line}\n"))
                .collect::<String>()
        };
        format!(
            r#"env {{
  parallelism = {parallelism}
  job.mode = "STREAMING"
  job.retry.times = 0
{env}}}
source {{
  Kafka {{
    bootstrap.servers = "{bootstrap}"
    topic = "{topic}"
    consumer.group = "{group}"
{start}    format = "json"
    schema = {{ fields {{ {fields} }} }}
{source}  }}
}}
sink {{
  Console {{
    log.print.data = {print_data}
    log.print.delay.ms = {delay}
  }}
}}
"#,
            parallelism = self.parallelism,
            env = indent(&self.env, "  "),
            bootstrap = self.bootstrap,
            topic = self.topic,
            group = weir_e2e::unique_name("weir-e2e-group"),
            start = indent(&self.start, "    "),
            fields = self.fields,
            source = indent(&self.source, "    "),
            print_data = self.print_data,
            delay = self.print_delay_ms,
        )
    }

    /// Writes the job file into the master's directory and submits it.
    fn submit(&self, master: &Master, name: &str) -> String {
        let text = self.text();
        let path = write_file(master.dir(), &format!("{name}.conf"), &text);
        eprintln!("[{name}] job file:\n{text}");
        master.submit(&path)
    }
}

// ----------------------------------------------------------------------------------------------
// Reading `weir job -o json`
// ----------------------------------------------------------------------------------------------

fn text(value: &Value, key: &str) -> String {
    value[key].as_str().unwrap_or_default().to_string()
}

fn u64_of(value: &Value, key: &str) -> u64 {
    value[key].as_u64().unwrap_or_default()
}

fn tasks(job: &Value) -> Vec<Value> {
    job["tasks"].as_array().cloned().unwrap_or_default()
}

/// Sum of a task metric over the job's tasks (tasks without metrics yet count 0).
fn task_sum(job: &Value, key: &str) -> u64 {
    tasks(job)
        .iter()
        .map(|task| u64_of(&task["metrics"], key))
        .sum()
}

/// Every split entry of every task.
fn splits(job: &Value) -> Vec<Value> {
    tasks(job)
        .iter()
        .flat_map(|task| {
            task["metrics"]["splits"]
                .as_array()
                .cloned()
                .unwrap_or_default()
        })
        .collect()
}

/// The split entries keyed by split name (`topic-partition`).
fn splits_by_name(job: &Value) -> BTreeMap<String, Value> {
    splits(job)
        .into_iter()
        .map(|split| (text(&split, "split"), split))
        .collect()
}

fn is_terminal(state: &str) -> bool {
    matches!(state, "Failed" | "Cancelled" | "Finished")
}

/// Waits until the job and all its tasks are Running; fails at once if the job ends.
fn wait_running(master: &Master, job_id: &str) -> Value {
    master.wait_until(&format!("job {job_id} is Running"), START, || {
        let job = master.try_job(job_id)?;
        let state = text(&job, "state");
        if is_terminal(&state) {
            master.fail(format!("job {job_id} ended before running: {job:#}"));
        }
        let all_running =
            !tasks(&job).is_empty() && tasks(&job).iter().all(|task| task["state"] == "Running");
        if state == "Running" && all_running {
            Ok(job)
        } else {
            Err(job.to_string())
        }
    })
}

/// Waits until `condition(job)` holds; fails at once if the job ends (unless `allow_end`).
fn wait_job(
    master: &Master,
    job_id: &str,
    what: &str,
    timeout: Duration,
    condition: impl Fn(&Value) -> bool,
) -> Value {
    master.wait_until(&format!("job {job_id}: {what}"), timeout, || {
        let job = master.try_job(job_id)?;
        if condition(&job) {
            return Ok(job);
        }
        if is_terminal(&text(&job, "state")) {
            master.fail(format!(
                "job {job_id} ended while waiting until {what}: {job:#}"
            ));
        }
        Err(job.to_string())
    })
}

/// The worker's entry in `weir workers -o json` once it reports a non-zero RSS.
fn reported_worker(master: &Master, worker: &Worker) -> Value {
    master.wait_until(
        &format!("worker {} reports its rss_bytes", worker.id()),
        SOON,
        || match master.try_worker(worker.id())? {
            Some(entry) if u64_of(&entry, "rss_bytes") > 0 => Ok(entry),
            entry => Err(format!("{entry:?}")),
        },
    )
}

fn mib(bytes: u64) -> String {
    format!("{:.1} MiB", bytes as f64 / MIB as f64)
}

// ----------------------------------------------------------------------------------------------
// Reading the Console sink's lines from the worker's stdout
// ----------------------------------------------------------------------------------------------

/// `(p, seq)` of every row line (`subtaskIndex=0 rowIndex=1: {"p":0,"seq":5}`) the worker
/// printed so far, in order.
fn printed_rows(worker: &Worker) -> Vec<(i64, i64)> {
    worker
        .stdout_lines()
        .iter()
        .filter(|line| line.starts_with("subtaskIndex="))
        .map(|line| {
            let json = line
                .split_once(": ")
                .map(|(_, json)| json)
                .unwrap_or_else(|| panic!("a Console line without `: `: {line:?}"));
            let row: Value = serde_json::from_str(json).unwrap_or_else(|error| {
                panic!("a Console line's row is not JSON ({error}): {line:?}")
            });
            let field = |name: &str| {
                row[name]
                    .as_i64()
                    .unwrap_or_else(|| panic!("no integer `{name}` in the printed row {line:?}"))
            };
            (field("p"), field("seq"))
        })
        .collect()
}

/// Waits until the worker has printed at least `count` rows; returns them.
fn wait_printed(
    master: &Master,
    worker: &Worker,
    job_id: &str,
    count: usize,
    timeout: Duration,
) -> Vec<(i64, i64)> {
    master.wait_until(
        &format!("the worker's stdout holds {count} Console row lines"),
        timeout,
        || {
            let rows = printed_rows(worker);
            if rows.len() >= count {
                return Ok(rows);
            }
            let job = master.try_job(job_id)?;
            Err(format!(
                "{} row lines in {} while the job reports rows_written {} (rows the Console \
                 sink accepted but has not printed yet are invisible to this test)",
                rows.len(),
                worker
                    .stdout_path()
                    .map(|p| p.display().to_string())
                    .unwrap_or_default(),
                job["rows_written"]
            ))
        },
    )
}

type Scenario<'a> = (&'static str, Box<dyn FnOnce() + Send + 'a>);

fn scenario<'a>(name: &'static str, body: impl FnOnce() + Send + 'a) -> Scenario<'a> {
    (name, Box::new(body))
}

/// Runs named scenarios on scoped threads at once; after all ended, fails naming every one that
/// failed (each one's own panic message is printed by the panic hook as it happens).
fn run_concurrently(scenarios: Vec<Scenario<'_>>) {
    let failed: Vec<&str> = std::thread::scope(|scope| {
        let handles: Vec<_> = scenarios
            .into_iter()
            .map(|(name, scenario)| {
                let handle = std::thread::Builder::new()
                    .name(name.to_string())
                    .spawn_scoped(scope, move || {
                        std::panic::catch_unwind(AssertUnwindSafe(scenario))
                    })
                    .expect("spawn a scenario thread");
                (name, handle)
            })
            .collect();
        handles
            .into_iter()
            .filter_map(|(name, handle)| match handle.join() {
                Ok(Ok(())) => None,
                _ => Some(name),
            })
            .collect()
    });
    assert!(
        failed.is_empty(),
        "scenarios failed: {failed:?} (their messages are above)"
    );
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock after the epoch")
        .as_millis() as i64
}

/// Asserts the producer put record `n` of partition `p` at offset `n`, which the tests use to
/// know offsets from sequence numbers.
fn assert_offsets_are_seqs(records: &[Record], produced: &kafka::Produced) {
    let mut next: BTreeMap<i32, i64> = BTreeMap::new();
    for (record, delivered) in records.iter().zip(&produced.deliveries) {
        let expected = next.entry(record.partition).or_insert(0);
        assert_eq!(
            (delivered.partition, delivered.offset),
            (record.partition, *expected),
            "records of a fresh topic land at consecutive offsets in production order"
        );
        *expected += 1;
    }
}

// ----------------------------------------------------------------------------------------------
// Bounded memory
// ----------------------------------------------------------------------------------------------

/// Figures of one bounded-memory run.
#[derive(Debug, Default)]
struct MemoryRun {
    idle_rss_reported: u64,
    /// The baseline: the larger of the two idle figures (a heartbeat's figure may predate the
    /// worker's start-up allocations).
    idle_rss: u64,
    idle_rss_proc: u64,
    reservation: u64,
    bound: u64,
    peak_rss: u64,
    peak_rss_reported: u64,
    samples: usize,
    rows_read: u64,
    rows_written: u64,
    /// Per split: the highest queue_bytes and queue_rows seen, and whether the queue was once
    /// full by bytes (another row of the split's average size would not have fitted).
    split_peaks: BTreeMap<String, (u64, u64, bool)>,
    queue_max_bytes: BTreeMap<String, u64>,
    last_job: Value,
}

/// Runs `job` on a fresh worker with `--memory-limit 1GiB` and samples every second for
/// `duration`: every split's `queue_bytes` and `queue_peak_bytes` stay within its
/// `queue_max_bytes`, and the worker's RSS (/proc VmRSS) stays within its idle RSS + the job's
/// `subtask_reservation_bytes` × parallelism. Idle RSS is taken right after the worker
/// registered, before the job is submitted: the larger of `weir workers`' `rss_bytes` and
/// /proc's VmRSS. Violations are collected over the whole run and reported together with the
/// RSS history.
fn run_bounded_memory(
    name: &str,
    job: &KafkaJob,
    partitions: usize,
    duration: Duration,
) -> (Master, Worker, MemoryRun) {
    let master = Master::start_default(name);
    let worker = Worker::start(&master, &format!("w-{name}"), "1GiB");
    let idle = reported_worker(&master, &worker);
    let mut run = MemoryRun {
        idle_rss_reported: u64_of(&idle, "rss_bytes"),
        idle_rss_proc: worker.rss_bytes().unwrap_or_default(),
        ..MemoryRun::default()
    };

    let job_id = job.submit(&master, name);
    let running = wait_running(&master, &job_id);
    run.reservation = u64_of(&running, "subtask_reservation_bytes");
    master.check(run.reservation > 0, || {
        format!("the job reports no subtask_reservation_bytes: {running:#}")
    });
    run.idle_rss = run.idle_rss_reported.max(run.idle_rss_proc);
    run.bound = run.idle_rss + run.reservation * u64::from(job.parallelism);
    eprintln!(
        "[{name}] idle RSS {} (weir workers) / {} (/proc); subtask_reservation_bytes {} × parallelism {} → RSS bound {}",
        mib(run.idle_rss_reported),
        mib(run.idle_rss_proc),
        mib(run.reservation),
        job.parallelism,
        mib(run.bound)
    );

    let mut violations: Vec<String> = Vec::new();
    let mut first_violation_job: Option<Value> = None;
    let mut history: Vec<String> = Vec::new();
    let started = Instant::now();
    let mut next_sample = started;
    while started.elapsed() < duration {
        // Sampling cadence, not synchronisation: each sample is checked on its own.
        let now = Instant::now();
        if now < next_sample {
            std::thread::sleep(next_sample - now);
        }
        next_sample += Duration::from_secs(1);

        let job_json = master.job(&job_id);
        let rss = worker
            .rss_bytes()
            .unwrap_or_else(|| master.fail("the worker process is gone"));
        let reported = master
            .try_worker(worker.id())
            .ok()
            .flatten()
            .map(|entry| u64_of(&entry, "rss_bytes"))
            .unwrap_or_default();
        run.samples += 1;
        run.peak_rss = run.peak_rss.max(rss);
        run.peak_rss_reported = run.peak_rss_reported.max(reported);
        let at = started.elapsed().as_secs_f64();
        let queued: u64 = splits(&job_json)
            .iter()
            .map(|split| u64_of(split, "queue_bytes"))
            .sum();
        history.push(format!(
            "{at:.0}s: RSS {} queues {} rows_read {}",
            mib(rss),
            mib(queued),
            u64_of(&job_json, "rows_read")
        ));

        let state = text(&job_json, "state");
        master.check(state == "Running", || {
            format!("[{name}] at {at:.0} s the job is {state}, not Running: {job_json:#}")
        });
        // The reservation as the job reports it now (it covers the splits assigned so far).
        let reservation = u64_of(&job_json, "subtask_reservation_bytes");
        run.reservation = run.reservation.max(reservation);
        let bound = run.idle_rss + reservation * u64::from(job.parallelism);
        run.bound = run.bound.max(bound);
        if rss > bound {
            violations.push(format!(
                "at {at:.0} s worker RSS {rss} ({}) exceeds idle RSS {} + subtask_reservation_bytes {reservation} × {} = {bound} ({}) by {}",
                mib(rss),
                run.idle_rss,
                job.parallelism,
                mib(bound),
                mib(rss - bound),
            ));
            first_violation_job.get_or_insert_with(|| job_json.clone());
        }
        for split in splits(&job_json) {
            let split_name = text(&split, "split");
            let max = u64_of(&split, "queue_max_bytes");
            let bytes = u64_of(&split, "queue_bytes");
            let peak = u64_of(&split, "queue_peak_bytes");
            let rows = u64_of(&split, "queue_rows");
            if max == 0 || bytes > max || peak > max {
                violations.push(format!(
                    "at {at:.0} s split {split_name}'s queue is not within queue.max_bytes {max}: queue_bytes {bytes}, queue_peak_bytes {peak}"
                ));
                first_violation_job.get_or_insert_with(|| job_json.clone());
            }
            let read_rows = u64_of(&split, "rows_read");
            let average_row = u64_of(&split, "bytes_read")
                .checked_div(read_rows)
                .unwrap_or(u64::MAX);
            let full_by_bytes = rows > 0 && bytes.saturating_add(average_row) > max;
            let entry = run.split_peaks.entry(split_name.clone()).or_default();
            entry.0 = entry.0.max(bytes.max(peak));
            entry.1 = entry.1.max(rows);
            entry.2 |= full_by_bytes;
            run.queue_max_bytes.insert(split_name, max);
        }
        run.last_job = job_json;
    }
    run.rows_read = u64_of(&run.last_job, "rows_read");
    run.rows_written = u64_of(&run.last_job, "rows_written");
    eprintln!(
        "[{name}] {} samples over {duration:?}: peak RSS {} (/proc) / {} (weir workers), bound {} (reservation {}); rows_read {}, rows_written {}; per split (peak queue bytes, peak queue rows, once full by bytes): {:?}; queue_max_bytes {:?}",
        run.samples,
        mib(run.peak_rss),
        mib(run.peak_rss_reported),
        mib(run.bound),
        mib(run.reservation),
        run.rows_read,
        run.rows_written,
        run.split_peaks,
        run.queue_max_bytes,
    );
    if !violations.is_empty() {
        master.fail(format!(
            "[{name}] memory bounds violated in {} of {} samples:\n  {}\nsamples:\n  {}\njob at the first violation: {:#}",
            violations.len(),
            run.samples,
            violations.join("\n  "),
            history.join("\n  "),
            first_violation_job.unwrap_or_default()
        ));
    }
    master.check(run.split_peaks.len() == partitions, || {
        format!(
            "[{name}] expected metrics of {partitions} splits, saw {:?}: {:#}",
            run.split_peaks.keys().collect::<Vec<_>>(),
            run.last_job
        )
    });
    (master, worker, run)
}

/// 500 000 × 1 KiB over 4 partitions, read at `read_limit.rows_per_second = 1` by 2 subtasks
/// for 60 s: queues within their byte bound, RSS within idle + reservation, and the limit
/// really slowed reading (rows_read ≈ 60, not the backlog).
#[test]
fn bounded_memory_1kib() {
    let bootstrap = bootstrap();
    let topic = Topic::create(&bootstrap, "weir-bm-1kib", 4);
    let produced = produce(
        &bootstrap,
        topic.name(),
        padded_json_records(4, 125_000, 1024),
    );
    eprintln!(
        "[bounded_memory_1kib] produced {} × 1 KiB ({}) in {:.1?} ({:.0} msg/s)",
        produced.deliveries.len(),
        mib(produced.payload_bytes),
        produced.elapsed,
        produced.deliveries.len() as f64 / produced.elapsed.as_secs_f64()
    );
    let ends = kafka::watermarks(&bootstrap, topic.name(), 4);
    assert!(
        ends.iter().all(|&(low, high)| low == 0 && high == 125_000),
        "each partition should hold 125 000 messages: {ends:?}"
    );

    let mut job = KafkaJob::new(&bootstrap, topic.name());
    job.parallelism = 2;
    job.env = vec!["read_limit.rows_per_second = 1".into()];
    job.fields = r#"p = "int", seq = "bigint", pad = "string""#.into();
    let submitted = Instant::now();
    let (master, _worker, run) =
        run_bounded_memory("bounded_memory_1kib", &job, 4, Duration::from_secs(60));

    // 1 row/s for the whole job: at most one row per second since submission plus each
    // subtask's burst of one row (and a little slack for the heartbeat's age).
    let elapsed = submitted.elapsed().as_secs();
    master.check(run.rows_read <= elapsed + 5, || {
        format!(
            "read_limit.rows_per_second = 1 did not limit reading: rows_read {} after {elapsed} s: {:#}",
            run.rows_read, run.last_job
        )
    });
    master.check(run.rows_read >= 30, || {
        format!(
            "the job hardly read anything: rows_read {} after {elapsed} s (expected ≈ 1 row/s): {:#}",
            run.rows_read, run.last_job
        )
    });

    // The backlog stays in Kafka and the lag shows it.
    let lag: i64 = tasks(&run.last_job)
        .iter()
        .map(|task| task["metrics"]["consumer_lag"].as_i64().unwrap_or(-1))
        .sum();
    let unread = 500_000 - run.rows_read as i64;
    master.check(lag >= unread - 50_000 && lag <= unread + 1_000, || {
        format!(
            "consumer_lag {lag} does not show the ≈ {unread} unread messages: {:#}",
            run.last_job
        )
    });
    eprintln!("[bounded_memory_1kib] consumer_lag {lag}");
}

/// 1 MiB messages behind a Console sink that takes 1 s per row, `queue.size = 1000` and the
/// default `queue.max_bytes`: the queues fill up by bytes (a handful of rows), never by rows,
/// and RSS stays within idle + reservation.
#[test]
fn bounded_memory_1mib() {
    let bootstrap = bootstrap();
    let message = MIB as usize;
    let per_partition = 150;
    let topic = Topic::create_with(
        &bootstrap,
        "weir-bm-1mib",
        2,
        &[("max.message.bytes", "4194304")],
    );
    let produced = produce(
        &bootstrap,
        topic.name(),
        padded_json_records(2, per_partition, message),
    );
    eprintln!(
        "[bounded_memory_1mib] produced {} × 1 MiB ({}) in {:.1?}",
        produced.deliveries.len(),
        mib(produced.payload_bytes),
        produced.elapsed
    );

    let mut job = KafkaJob::new(&bootstrap, topic.name());
    job.parallelism = 1;
    job.fields = r#"p = "int", seq = "bigint", pad = "string""#.into();
    job.source = vec!["queue.size = 1000".into()];
    job.print_data = false;
    job.print_delay_ms = 1000;
    let (master, _worker, run) =
        run_bounded_memory("bounded_memory_1mib", &job, 2, Duration::from_secs(60));

    for (split, &(peak_bytes, peak_rows, full_by_bytes)) in &run.split_peaks {
        let max = run.queue_max_bytes[split];
        // Rows of ≈ 1 MiB: the byte bound admits at most max / 1 MiB of them.
        let rows_allowed_by_bytes = max / MIB + 1;
        master.check(peak_rows <= rows_allowed_by_bytes, || {
            format!(
                "split {split} held {peak_rows} rows of ≈ 1 MiB, more than queue.max_bytes {max} admits: {:#}",
                run.last_job
            )
        });
        master.check(full_by_bytes, || {
            format!(
                "split {split}'s queue never filled up to its byte bound (peak {peak_bytes} of {max} bytes, peak {peak_rows} rows) although the sink takes 1 s per row: {:#}",
                run.last_job
            )
        });
    }
    // The sink took ≈ 1 row/s; the rest of the 300 MiB backlog stayed in Kafka.
    master.check(run.rows_written <= 70, || {
        format!(
            "rows_written {} although the sink takes 1 s per row for 60 s: {:#}",
            run.rows_written, run.last_job
        )
    });
    master.check(run.rows_read < 2 * per_partition, || {
        format!(
            "rows_read {}: the whole backlog was read in although the sink is slow: {:#}",
            run.rows_read, run.last_job
        )
    });
}

// ----------------------------------------------------------------------------------------------
// Read limits
// ----------------------------------------------------------------------------------------------

/// Polls `weir job` until `read(job)` changes (a fresh heartbeat); returns when that was seen
/// and the new value. Polls tightly so that the instant is within a few tens of ms of the
/// report's arrival.
fn next_report(
    master: &Master,
    job_id: &str,
    read: &dyn Fn(&Value) -> u64,
    previous: u64,
) -> (Instant, u64, Value) {
    let started = Instant::now();
    loop {
        let job = master.job(job_id);
        let value = read(&job);
        if value != previous {
            return (Instant::now(), value, job);
        }
        if is_terminal(&text(&job, "state")) {
            master.fail(format!(
                "job {job_id} ended during a rate measurement: {job:#}"
            ));
        }
        if started.elapsed() > SOON {
            master.fail(format!(
                "the measured counter stayed at {previous} for {SOON:?}: {job:#}"
            ));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Measures the growth of `read(job)` per second over ≈ `WINDOW`, between two fresh reports.
/// Returns (delta normalised to the window, per second, the last job).
fn measure_rate(master: &Master, job_id: &str, read: &dyn Fn(&Value) -> u64) -> (f64, f64, Value) {
    let current = read(&master.job(job_id));
    let (t0, v0, _) = next_report(master, job_id, read, current);
    // The window itself: a measurement interval, not a wait for an event.
    std::thread::sleep(WINDOW.saturating_sub(Duration::from_millis(300)));
    let current = read(&master.job(job_id));
    let (t1, v1, job) = next_report(master, job_id, read, current);
    let seconds = (t1 - t0).as_secs_f64();
    let per_second = v1.saturating_sub(v0) as f64 / seconds;
    (per_second * WINDOW.as_secs_f64(), per_second, job)
}

fn within(actual: f64, target: f64) -> bool {
    (actual - target).abs() <= target * RATE_TOLERANCE
}

/// `rows_per_second = 200`, parallelism 1: 4 000 rows ± 5 % over 20 s.
fn rate_rows(bootstrap: &str) {
    let name = "rate_rows";
    let topic = Topic::create(bootstrap, "weir-rate-rows", 1);
    produce(bootstrap, topic.name(), json_records(1, 12_000));
    let master = Master::start_default(name);
    let _worker = Worker::start(&master, "w-rate-rows", "1GiB");
    let mut job = KafkaJob::new(bootstrap, topic.name());
    job.env = vec!["read_limit.rows_per_second = 200".into()];
    let job_id = job.submit(&master, name);
    wait_running(&master, &job_id);
    // Past the limiter's initial burst.
    wait_job(&master, &job_id, "rows_read ≥ 200", SOON, |job| {
        u64_of(job, "rows_read") >= 200
    });
    let (rows, per_second, last) = measure_rate(&master, &job_id, &|job| u64_of(job, "rows_read"));
    eprintln!(
        "[{name}] rows_read over {WINDOW:?}: {rows:.0} ({per_second:.1} rows/s; target 4000)"
    );
    master.check(within(rows, 4000.0), || {
        format!(
            "rows_per_second = 200 read {rows:.0} rows per {WINDOW:?} ({per_second:.1}/s), not 4000 ± 5 %: {last:#}"
        )
    });
}

/// `bytes_per_second = 100 KiB` with 1 KiB messages, parallelism 1: `bytes_read` (Weir's
/// in-memory row size, what the limiter budgets) grows by 20 × 100 KiB ± 5 % over 20 s.
fn rate_bytes(bootstrap: &str) {
    let name = "rate_bytes";
    let limit = 100 * KIB;
    let topic = Topic::create(bootstrap, "weir-rate-bytes", 1);
    produce(bootstrap, topic.name(), padded_json_records(1, 8_000, 1024));
    let master = Master::start_default(name);
    let _worker = Worker::start(&master, "w-rate-bytes", "1GiB");
    let mut job = KafkaJob::new(bootstrap, topic.name());
    job.env = vec![format!("read_limit.bytes_per_second = {limit}")];
    job.fields = r#"p = "int", seq = "bigint", pad = "string""#.into();
    let job_id = job.submit(&master, name);
    wait_running(&master, &job_id);
    wait_job(&master, &job_id, "bytes_read ≥ 100 KiB", SOON, |job| {
        task_sum(job, "bytes_read") >= limit
    });
    let bytes_read = |job: &Value| task_sum(job, "bytes_read");
    let (bytes, per_second, last) = measure_rate(&master, &job_id, &bytes_read);
    let rows = u64_of(&last, "rows_read");
    let bytes_per_row = task_sum(&last, "bytes_read") as f64 / rows.max(1) as f64;
    let target = limit as f64 * WINDOW.as_secs_f64();
    eprintln!(
        "[{name}] bytes_read over {WINDOW:?}: {bytes:.0} ({per_second:.0} B/s; target {target:.0}); {bytes_per_row:.0} bytes per 1 KiB message as Weir counts them → {:.1} rows/s",
        per_second / bytes_per_row
    );
    master.check(within(bytes, target), || {
        format!(
            "bytes_per_second = {limit} read {bytes:.0} bytes (as bytes_read counts them) per {WINDOW:?} ({per_second:.0} B/s), not {target:.0} ± 5 %: {last:#}"
        )
    });
}

/// `rows_per_second = 200` for a job of parallelism 2 over 4 partitions: the job reads 4 000
/// rows ± 5 % in 20 s in total (not 8 000), spread over both subtasks.
fn rate_is_per_job(bootstrap: &str) {
    let name = "rate_is_per_job";
    let topic = Topic::create(bootstrap, "weir-rate-job", 4);
    produce(bootstrap, topic.name(), json_records(4, 5_000));
    let master = Master::start_default(name);
    let _worker = Worker::start(&master, "w-rate-job", "1GiB");
    let mut job = KafkaJob::new(bootstrap, topic.name());
    job.parallelism = 2;
    job.env = vec!["read_limit.rows_per_second = 200".into()];
    let job_id = job.submit(&master, name);
    wait_running(&master, &job_id);
    let started = wait_job(
        &master,
        &job_id,
        "rows_read ≥ 200 and 4 splits report",
        SOON,
        |job| u64_of(job, "rows_read") >= 200 && splits(job).len() == 4,
    );
    master.check(tasks(&started).len() == 2, || {
        format!("parallelism 2 should run 2 subtasks: {started:#}")
    });
    let by_task = |job: &Value| -> Vec<u64> {
        tasks(job)
            .iter()
            .map(|task| u64_of(&task["metrics"], "rows_read"))
            .collect()
    };
    let before = by_task(&master.job(&job_id));
    let (rows, per_second, last) = measure_rate(&master, &job_id, &|job| u64_of(job, "rows_read"));
    let after = by_task(&last);
    let per_subtask: Vec<i64> = after
        .iter()
        .zip(&before)
        .map(|(a, b)| *a as i64 - *b as i64)
        .collect();
    eprintln!(
        "[{name}] job rows_read over {WINDOW:?}: {rows:.0} ({per_second:.1} rows/s; target 4000, per-subtask limiting would give 8000); per subtask ≈ {per_subtask:?}"
    );
    master.check(within(rows, 4000.0), || {
        format!(
            "a job of parallelism 2 with rows_per_second = 200 read {rows:.0} rows per {WINDOW:?} ({per_second:.1}/s), not the job's 4000 ± 5 %: {last:#}"
        )
    });
    master.check(per_subtask.iter().all(|&rows| rows > 0), || {
        format!("both subtasks should read: {per_subtask:?}: {last:#}")
    });
}

/// The three rate windows run at once, each with its own topic, master and worker.
#[test]
fn read_limits() {
    let bootstrap = bootstrap();
    let b = bootstrap.as_str();
    run_concurrently(vec![
        scenario("rate_rows", move || rate_rows(b)),
        scenario("rate_bytes", move || rate_bytes(b)),
        scenario("rate_is_per_job", move || rate_is_per_job(b)),
    ]);
}

// ----------------------------------------------------------------------------------------------
// Backpressure without loss
// ----------------------------------------------------------------------------------------------

/// 2 partitions × 5 000 `{"p":P,"seq":N}`. The Console sink stalls for 10 s — the test stops
/// reading the worker's stdout pipe, so the sink's write to stdout blocks — and then resumes.
/// While it stalls, the split queues fill up to `queue.size` and reading stops (rows_read
/// stays put); afterwards every (p, seq) is printed exactly once and in order per partition.
#[test]
fn backpressure_without_loss() {
    let name = "backpressure_without_loss";
    let per_partition: u64 = 5_000;
    let total = 2 * per_partition;
    let queue_size: u64 = 500;
    let stall = Duration::from_secs(10);

    let bootstrap = bootstrap();
    let topic = Topic::create(&bootstrap, "weir-backpressure", 2);
    let records: Vec<Record> = json_records(2, per_partition).collect();
    let produced = produce(&bootstrap, topic.name(), records.clone());
    assert_offsets_are_seqs(&records, &produced);

    let master = Master::start_default(name);
    let worker = Worker::start_with(
        &master,
        "w-backpressure",
        WorkerOptions::new("1GiB").capturing_stdout(),
    );
    // The sink will block as soon as the stdout pipe (64 KiB) and its own buffer are full.
    worker.pause_stdout();

    let mut job = KafkaJob::new(&bootstrap, topic.name());
    job.source = vec![format!("queue.size = {queue_size}")];
    job.print_data = true;
    let job_id = job.submit(&master, name);
    wait_running(&master, &job_id);

    let stalled = wait_job(
        &master,
        &job_id,
        &format!("the sink is stalled and both split queues hold queue.size = {queue_size} rows"),
        SOON,
        |job| {
            let splits = splits(job);
            splits.len() == 2
                && splits
                    .iter()
                    .all(|split| u64_of(split, "queue_rows") >= queue_size)
        },
    );
    let rows_written = u64_of(&stalled, "rows_written");
    let rows_read = u64_of(&stalled, "rows_read");
    master.check(rows_written < total - 2 * queue_size, || {
        format!("the sink should stall mid-stream, but it took {rows_written} of {total} rows: {stalled:#}")
    });
    eprintln!(
        "[{name}] sink stalled after {rows_written} rows written, {rows_read} read; holding the stall for {stall:?}"
    );

    // The stall: sample each second that nothing moves and nothing grows.
    let stall_started = Instant::now();
    while stall_started.elapsed() < stall {
        std::thread::sleep(Duration::from_secs(1));
        let job = master.job(&job_id);
        let state = text(&job, "state");
        let now_written = u64_of(&job, "rows_written");
        let now_read = u64_of(&job, "rows_read");
        master.check(state == "Running", || {
            format!("the job left Running during the stall: {job:#}")
        });
        master.check(now_written == rows_written, || {
            format!("rows_written moved from {rows_written} to {now_written} while the sink was blocked: {job:#}")
        });
        master.check(now_read == rows_read, || {
            format!(
                "rows_read grew from {rows_read} to {now_read} while the sink was blocked and the queues were full: {job:#}"
            )
        });
        for split in splits(&job) {
            master.check(u64_of(&split, "queue_rows") <= queue_size, || {
                format!("a split queue holds more than queue.size = {queue_size} rows: {split:#}")
            });
        }
    }

    worker.resume_stdout();
    let resumed = Instant::now();
    let job_json = wait_job(
        &master,
        &job_id,
        &format!("rows_written = {total}"),
        Duration::from_secs(60),
        |job| u64_of(job, "rows_written") >= total,
    );
    eprintln!(
        "[{name}] all {total} rows written {:.1?} after the sink resumed",
        resumed.elapsed()
    );
    master.check(
        u64_of(&job_json, "rows_written") == total && u64_of(&job_json, "rows_read") == total,
        || format!("expected exactly {total} rows read and written: {job_json:#}"),
    );

    let printed = wait_printed(&master, &worker, &job_id, total as usize, SOON);
    let mut seen: BTreeMap<i64, Vec<i64>> = BTreeMap::new();
    for &(p, seq) in &printed {
        seen.entry(p).or_default().push(seq);
    }
    let expected: Vec<i64> = (0..per_partition as i64).collect();
    for p in 0..2 {
        let seqs = seen.get(&p).cloned().unwrap_or_default();
        if seqs != expected {
            let unique: BTreeSet<i64> = seqs.iter().copied().collect();
            let missing: Vec<i64> = expected
                .iter()
                .copied()
                .filter(|s| !unique.contains(s))
                .take(20)
                .collect();
            let disorder = seqs.windows(2).position(|pair| pair[0] >= pair[1]);
            master.fail(format!(
                "partition {p}: {} rows printed ({} distinct), expected seq 0..{per_partition} once each in order; first missing {missing:?}; first out-of-order index {disorder:?} (see {})",
                seqs.len(),
                unique.len(),
                worker.stdout_path().unwrap().display()
            ));
        }
    }
    master.check(printed.len() == total as usize, || {
        format!("{} row lines printed, expected {total}", printed.len())
    });
}

// ----------------------------------------------------------------------------------------------
// Start modes
// ----------------------------------------------------------------------------------------------

/// Runs one start-mode job on its own master and worker and returns them with the job id, once
/// it is running.
fn start_mode_job(
    name: &str,
    bootstrap: &str,
    topic: &str,
    start: Vec<String>,
) -> (Master, Worker, String) {
    let master = Master::start_default(name);
    let worker = Worker::start_with(
        &master,
        &format!("w-{name}"),
        WorkerOptions::new("1GiB").capturing_stdout(),
    );
    let mut job = KafkaJob::new(bootstrap, topic);
    job.start = start;
    job.print_data = true;
    let job_id = job.submit(&master, name);
    wait_running(&master, &job_id);
    (master, worker, job_id)
}

/// Waits until the job wrote `expected.len()` rows and the worker printed them; checks the
/// printed (p, seq) are exactly `expected`, each once, in order per partition.
fn expect_rows(master: &Master, worker: &Worker, job_id: &str, expected: &BTreeSet<(i64, i64)>) {
    let count = expected.len() as u64;
    let job = wait_job(
        master,
        job_id,
        &format!("rows_written ≥ {count}"),
        SOON,
        |job| u64_of(job, "rows_written") >= count,
    );
    let printed = wait_printed(master, worker, job_id, expected.len(), SOON);
    let printed_set: BTreeSet<(i64, i64)> = printed.iter().copied().collect();
    let unexpected: Vec<_> = printed_set.difference(expected).take(20).collect();
    let missing: Vec<_> = expected.difference(&printed_set).take(20).collect();
    master.check(printed.len() == expected.len() && unexpected.is_empty() && missing.is_empty(), || {
        format!(
            "printed {} rows ({} distinct), expected {} exactly; unexpected {unexpected:?}, missing {missing:?}; job: {job:#}",
            printed.len(),
            printed_set.len(),
            expected.len()
        )
    });
    for p in 0..2 {
        let seqs: Vec<i64> = printed
            .iter()
            .filter(|(q, _)| *q == p)
            .map(|(_, s)| *s)
            .collect();
        master.check(seqs.windows(2).all(|pair| pair[0] < pair[1]), || {
            format!("partition {p}'s rows were printed out of order: {seqs:?}")
        });
    }
    let job = master.job(job_id);
    master.check(u64_of(&job, "rows_read") == count, || {
        format!("rows_read should be exactly {count}: {job:#}")
    });
}

/// One topic, 2 partitions × 100 messages; seq 0..50 have old timestamps, 50..100 newer ones
/// (and a copy of it for `latest`, which appends while it runs).
/// `earliest` reads all 200; `timestamp` = the first newer timestamp reads exactly the 100 newer;
/// `specific_offsets` {T-0 = 70, T-1 = 10} reads p0 70..100 and p1 10..100; `latest` reads none
/// of the 200 and exactly the 10 produced after it started (after marker records showed both
/// partitions positioned).
#[test]
fn start_modes() {
    let bootstrap = bootstrap();
    let topic = Topic::create(&bootstrap, "weir-start-modes", 2);
    let topic_name = topic.name().to_string();
    let old_base = now_ms() - 2 * 3_600_000;
    let new_base = now_ms() - 3_600_000;
    let records: Vec<Record> = (0..100u64)
        .flat_map(|seq| {
            (0..2).map(move |p| {
                let timestamp = if seq < 50 {
                    old_base + seq as i64
                } else {
                    new_base + (seq as i64 - 50)
                };
                Record::new(p, json_message(p, seq)).at(timestamp)
            })
        })
        .collect();
    let produced = produce(&bootstrap, &topic_name, records.clone());
    assert_offsets_are_seqs(&records, &produced);
    // `latest` appends to its topic while it runs, so it gets its own copy of the history.
    let latest_topic = Topic::create(&bootstrap, "weir-start-latest", 2);
    let latest_name = latest_topic.name().to_string();
    let produced = produce(&bootstrap, &latest_name, records.clone());
    assert_offsets_are_seqs(&records, &produced);

    let all = |from: [i64; 2]| -> BTreeSet<(i64, i64)> {
        (0..2i64)
            .flat_map(|p| (from[p as usize]..100).map(move |seq| (p, seq)))
            .collect()
    };
    let b = bootstrap.as_str();
    let t = topic_name.as_str();
    let latest = latest_name.as_str();
    run_concurrently(vec![
        scenario("earliest", move || {
            let (master, worker, job_id) = start_mode_job(
                "start_mode_earliest",
                b,
                t,
                vec![r#"start_mode = "earliest""#.into()],
            );
            expect_rows(&master, &worker, &job_id, &all([0, 0]));
        }),
        scenario("timestamp", move || {
            let (master, worker, job_id) = start_mode_job(
                "start_mode_timestamp",
                b,
                t,
                vec![
                    r#"start_mode = "timestamp""#.into(),
                    format!("start_mode.timestamp = {new_base}"),
                ],
            );
            expect_rows(&master, &worker, &job_id, &all([50, 50]));
        }),
        scenario("specific_offsets", move || {
            let (master, worker, job_id) = start_mode_job(
                "start_mode_specific_offsets",
                b,
                t,
                vec![
                    r#"start_mode = "specific_offsets""#.into(),
                    format!(r#"start_mode.offsets = {{ "{t}-0" = 70, "{t}-1" = 10 }}"#),
                ],
            );
            expect_rows(&master, &worker, &job_id, &all([70, 10]));
        }),
        scenario("latest", move || start_mode_latest(b, latest)),
    ]);
}

/// `latest`: produce marker records (seq ≥ 1000) until each split has read one — proof that
/// both partitions are positioned — then 5 tracked records (seq 2000..2005) per partition:
/// the job prints none of the 200 old records, every tracked one exactly once, and nothing else
/// but markers.
fn start_mode_latest(bootstrap: &str, topic: &str) {
    let name = "start_mode_latest";
    let (master, worker, job_id) = start_mode_job(
        name,
        bootstrap,
        topic,
        vec![r#"start_mode = "latest""#.into()],
    );

    let mut marker_seq = 1000u64;
    let positioned = master.wait_until(
        "each split of the latest job read a marker record",
        Duration::from_secs(40),
        || {
            let job = master.try_job(&job_id)?;
            let splits = splits_by_name(&job);
            let unread: Vec<i32> = (0..2)
                .filter(|p| {
                    splits
                        .get(&format!("{topic}-{p}"))
                        .is_none_or(|split| u64_of(split, "rows_read") == 0)
                })
                .collect();
            if unread.is_empty() && splits.len() == 2 {
                return Ok(job);
            }
            let markers: Vec<Record> = unread
                .iter()
                .map(|&p| Record::new(p, json_message(p, marker_seq)))
                .collect();
            marker_seq += 1;
            produce(bootstrap, topic, markers);
            // Give the markers a few heartbeats before sending more.
            std::thread::sleep(Duration::from_millis(500));
            Err(format!("splits not yet reading: {unread:?}; job: {job}"))
        },
    );
    let markers_read = u64_of(&positioned, "rows_read");

    let tracked: Vec<Record> = (2000..2005u64)
        .flat_map(|seq| (0..2).map(move |p| Record::new(p, json_message(p, seq))))
        .collect();
    produce(bootstrap, topic, tracked);
    let expected: BTreeMap<(i64, i64), usize> = (0..2i64)
        .flat_map(|p| (2000..2005i64).map(move |seq| ((p, seq), 1)))
        .collect();
    let tracked_seen = |printed: &[(i64, i64)]| {
        let mut seen: BTreeMap<(i64, i64), usize> = BTreeMap::new();
        for &(p, seq) in printed {
            if seq >= 2000 {
                *seen.entry((p, seq)).or_default() += 1;
            }
        }
        seen
    };
    // Markers still in flight when the splits were seen reading may arrive too; they are
    // allowed, so wait for the tracked records themselves.
    let printed = master.wait_until(
        "the worker printed all 10 records produced after the latest job started",
        SOON,
        || {
            let printed = printed_rows(&worker);
            let seen = tracked_seen(&printed);
            if seen.len() == expected.len() {
                Ok(printed)
            } else {
                let job = master.try_job(&job_id)?;
                Err(format!(
                    "{} row lines printed, tracked ones seen: {seen:?}; rows_written {}",
                    printed.len(),
                    job["rows_written"]
                ))
            }
        },
    );
    let job = master.job(&job_id);
    let old: Vec<_> = printed
        .iter()
        .filter(|(_, seq)| *seq < 1000)
        .take(20)
        .collect();
    master.check(old.is_empty(), || {
        format!("start_mode = latest printed records that existed before the job started: {old:?}; job {job:#}")
    });
    let seen = tracked_seen(&printed);
    master.check(seen == expected, || {
        format!(
            "the 10 records produced after start should each be printed once: {seen:?}; job {job:#}"
        )
    });
    let markers_printed = printed
        .iter()
        .filter(|(_, seq)| (1000..2000).contains(seq))
        .count();
    master.check(markers_printed + 10 == printed.len(), || {
        format!("only markers and the 10 tracked records may be printed: {printed:?}")
    });
    eprintln!(
        "[{name}] {markers_read} marker(s) read before the 10 tracked records were produced, {markers_printed} printed in all"
    );
}

// ----------------------------------------------------------------------------------------------
// Poison records
// ----------------------------------------------------------------------------------------------

/// Partition 0: 20 valid records. Partition 1: valid seq 0..10, an invalid JSON record at
/// offset 10, valid seq 11..20. Returns the topic and the number of valid records (39).
fn poison_topic(bootstrap: &str) -> (Topic, u64) {
    let topic = Topic::create(bootstrap, "weir-poison", 2);
    let mut records: Vec<Record> = (0..20)
        .map(|seq| Record::new(0, json_message(0, seq)))
        .collect();
    for seq in 0..20u64 {
        let payload = if seq == 10 {
            br#"{"p":1,"seq":"#.to_vec()
        } else {
            json_message(1, seq)
        };
        records.push(Record::new(1, payload));
    }
    let produced = produce(bootstrap, topic.name(), records.clone());
    assert_offsets_are_seqs(&records, &produced);
    (topic, 39)
}

/// Whether `text` has `word` followed (after spaces, `=`, `:` or `#`) by the number `value`.
fn names_number(text: &str, word: &str, value: i64) -> bool {
    let lower = text.to_lowercase();
    lower.match_indices(word).any(|(at, found)| {
        let rest = lower[at + found.len()..].trim_start_matches([' ', '=', ':', '#', '"']);
        let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
        digits.parse::<i64>().ok() == Some(value)
    })
}

/// `format_error_handle_way = fail`, `job.retry.times = 0`: the job fails, and its reason names
/// the topic, partition 1 and offset 10.
#[test]
fn poison_fail() {
    let bootstrap = bootstrap();
    let (topic, _) = poison_topic(&bootstrap);
    let master = Master::start_default("poison_fail");
    let _worker = Worker::start(&master, "w-poison-fail", "1GiB");
    let mut job = KafkaJob::new(&bootstrap, topic.name());
    job.source = vec![r#"format_error_handle_way = "fail""#.into()];
    let job_id = job.submit(&master, "poison_fail");
    let failed = master.wait_until(&format!("job {job_id} is Failed"), START, || {
        let job = master.try_job(&job_id)?;
        match text(&job, "state").as_str() {
            "Failed" => Ok(job),
            "Cancelled" | "Finished" => {
                master.fail(format!("the job ended but did not fail: {job:#}"))
            }
            _ => Err(job.to_string()),
        }
    });
    let reason = text(&failed, "state_reason");
    eprintln!("[poison_fail] state_reason: {reason}");
    let names_partition =
        names_number(&reason, "partition", 1) || reason.contains(&format!("{}-1", topic.name()));
    master.check(
        reason.contains(topic.name()) && names_partition && names_number(&reason, "offset", 10),
        || {
            format!(
                "state_reason should name topic {}, partition 1 and offset 10: {reason:?}; job {failed:#}",
                topic.name()
            )
        },
    );
}

/// `format_error_handle_way = skip`: records_skipped = 1 (on split T-1), every valid record is
/// written, the job keeps running.
#[test]
fn poison_skip() {
    let bootstrap = bootstrap();
    let (topic, valid) = poison_topic(&bootstrap);
    let master = Master::start_default("poison_skip");
    let _worker = Worker::start(&master, "w-poison-skip", "1GiB");
    let mut job = KafkaJob::new(&bootstrap, topic.name());
    job.source = vec![r#"format_error_handle_way = "skip""#.into()];
    let job_id = job.submit(&master, "poison_skip");
    wait_running(&master, &job_id);
    let job = wait_job(
        &master,
        &job_id,
        &format!("rows_written = {valid} and records_skipped = 1"),
        SOON,
        |job| u64_of(job, "rows_written") >= valid && task_sum(job, "records_skipped") >= 1,
    );
    master.check(
        u64_of(&job, "rows_written") == valid && task_sum(&job, "records_skipped") == 1,
        || format!("expected rows_written {valid} and records_skipped 1: {job:#}"),
    );
    let poisoned = format!("{}-1", topic.name());
    let by_split = splits_by_name(&job);
    master.check(
        by_split
            .get(&poisoned)
            .is_some_and(|split| u64_of(split, "records_skipped") == 1),
        || format!("split {poisoned} should count the skipped record: {job:#}"),
    );
    master.check(text(&job, "state") == "Running", || {
        format!("the job should keep running after skipping: {job:#}")
    });
    eprintln!("[poison_skip] rows_written {valid}, records_skipped 1, state Running");
}
