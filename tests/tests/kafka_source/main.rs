//! The Kafka source end to end (issue 4's acceptance): real `weir master` and `weir worker`
//! processes reading the real Kafka of the local stack, driven with the `weir` CLI (`-o json`).
//!
//! - bounded memory: a 500 000 × 1 KiB backlog read at 1 row/s, and a 1 MiB-message backlog
//!   behind a slow sink: split queues never pass `queue.max_bytes`, worker RSS stays within
//!   idle RSS + the job's reservation;
//! - read limits: rows/s, bytes/s, and the job-wide (not per-subtask) budget, each measured over
//!   a 20 s window;
//! - one byte budget per subtask: 256 partitions behind a stalled HdfsFile sink stay within
//!   `buffer.max_bytes`, their fetching paused, and every record is committed exactly once
//!   when the sink resumes;
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
use weir_e2e::job_json::{is_terminal, splits, tasks, text, u64_of};
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

/// Sum of a task metric over the job's tasks (tasks without metrics yet count 0).
fn task_sum(job: &Value, key: &str) -> u64 {
    tasks(job)
        .iter()
        .map(|task| u64_of(&task["metrics"], key))
        .sum()
}

/// The split entries keyed by split name (`topic-partition`).
fn splits_by_name(job: &Value) -> BTreeMap<String, Value> {
    splits(job)
        .into_iter()
        .map(|split| (text(&split, "split"), split))
        .collect()
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

mod budget;
mod delivery;
mod memory;
mod poison;
mod rates;
