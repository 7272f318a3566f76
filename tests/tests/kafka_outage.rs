//! The Kafka broker lost while a job runs, end to end: real `weir master` and `weir worker`
//! processes, the real Kafka of the local stack stopped (`deploy/local/stack stop kafka`) and
//! started again on its data (`deploy/local/stack start kafka`).
//!
//! A test binary of its own, so `cargo test` never runs it alongside the other end-to-end tests
//! of this crate, which need Kafka up. It stops the stack's Kafka: run it alone, holding the
//! stack exclusively (`flock -x /tmp/weir-stack.lock cargo test -p weir-e2e --test
//! kafka_outage`). Kafka is started again however the test ends ([`ServiceOutage`]'s drop).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde_json::Value;
use weir_e2e::cluster::{Master, Worker, write_file};
use weir_e2e::job_json::{tasks, text, u64_of};
use weir_e2e::kafka::{Record, Topic, json_message, produce};
use weir_e2e::stack::ServiceOutage;

const PARTITIONS: i32 = 2;
/// Records per partition in each of the two batches (before and after the outage).
const PER_BATCH: u64 = 1_000;
const CHECKPOINT_INTERVAL_MS: u64 = 1_000;

/// Bound for the job to start and read what is there.
const START: Duration = Duration::from_secs(30);
/// Bound for `weir job` to show the broker problem once Kafka is down.
const NOTICE: Duration = Duration::from_secs(30);
/// The busy-loop check's observation window.
const CPU_WINDOW: Duration = Duration::from_secs(10);
/// Most CPU time the worker may use over the window, as a fraction of it.
const CPU_MAX_FRACTION: f64 = 0.10;
/// Bound for reading to resume and the error to clear once Kafka is back.
const RECOVERY: Duration = Duration::from_secs(60);

/// Records `seqs` of every partition, `{"p":P,"seq":N}`, partitions interleaved.
fn batch(seqs: std::ops::Range<u64>) -> impl Iterator<Item = Record> {
    seqs.flat_map(|seq| (0..PARTITIONS).map(move |p| Record::new(p, json_message(p, seq))))
}

fn job_text(bootstrap: &str, topic: &str, path: &Path) -> String {
    format!(
        r#"
env {{
  parallelism = 1
  job.mode = "STREAMING"
  checkpoint.interval = {CHECKPOINT_INTERVAL_MS}
  job.retry.times = 0
}}
source {{
  Kafka {{
    bootstrap.servers = "{bootstrap}"
    topic = "{topic}"
    start_mode = "earliest"
    schema = {{ fields {{ p = "int", seq = "bigint" }} }}
    # Reconnect attempts back off to 2 s at most, so the return of the broker is seen soon.
    kafka.config = {{ reconnect.backoff.max.ms = "2000" }}
  }}
}}
sink {{
  LocalFile {{
    path = "{path}"
    file_format_type = "text"
    field_delimiter = ","
  }}
}}
"#,
        path = path.display()
    )
}

/// The tasks' non-empty `last_error`s.
fn task_errors(job: &Value) -> Vec<String> {
    tasks(job)
        .iter()
        .map(|task| text(&task["metrics"], "last_error"))
        .filter(|error| !error.is_empty())
        .collect()
}

fn summary(job: &Value) -> String {
    format!(
        "state {} ({}), rows_read {}, rows_written {}, task errors {:?}",
        text(job, "state"),
        text(job, "state_reason"),
        u64_of(job, "rows_read"),
        u64_of(job, "rows_written"),
        task_errors(job)
    )
}

/// utime + stime of process `pid` (/proc/PID/stat), in clock ticks.
fn cpu_ticks(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .unwrap_or_else(|error| panic!("cannot read /proc/{pid}/stat: {error}"));
    // The command name (field 2) is in parentheses and may hold spaces: count from after it.
    let after_name = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    // Fields 14 (utime) and 15 (stime) of the line are 12 and 13 after the name.
    let tick = |index: usize| -> u64 {
        fields
            .get(index)
            .and_then(|field| field.parse().ok())
            .unwrap_or_else(|| panic!("no CPU field {index} in /proc/{pid}/stat: {stat}"))
    };
    tick(11) + tick(12)
}

/// Clock ticks per second (`getconf CLK_TCK`).
fn ticks_per_second() -> u64 {
    let output = std::process::Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .expect("run getconf CLK_TCK");
    String::from_utf8_lossy(&output.stdout)
        .trim()
        .parse()
        .expect("getconf CLK_TCK prints a number")
}

/// Every file under `dir` whose name and directories are not hidden (committed files only).
fn committed_files(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return files;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.starts_with('.') || name.starts_with('_') {
            continue;
        }
        if path.is_dir() {
            files.extend(committed_files(&path));
        } else {
            files.push(path);
        }
    }
    files.sort();
    files
}

/// How often each `(p, seq)` appears in the committed files; panics on a line that is not one.
fn committed_counts(dir: &Path) -> BTreeMap<(i32, u64), u32> {
    let mut counts = BTreeMap::new();
    for file in committed_files(dir) {
        let content = std::fs::read_to_string(&file)
            .unwrap_or_else(|error| panic!("cannot read {}: {error}", file.display()));
        for line in content.lines() {
            let parsed = line
                .split_once(',')
                .and_then(|(p, seq)| Some((p.parse().ok()?, seq.parse().ok()?)));
            let Some(key) = parsed else {
                panic!("line {line:?} of {} is not `p,seq`", file.display());
            };
            *counts.entry(key).or_insert(0) += 1;
        }
    }
    counts
}

/// 2 × 1000 records are read into a Kafka → LocalFile job; Kafka is stopped: the job stays
/// Running, `weir job` names the broker problem as a task's `last_error`, the worker does not
/// busy-loop; Kafka is started again and 2 × 1000 more records are produced: they are read,
/// the error clears, and after `weir stop` the committed files hold every record exactly once.
#[test]
fn a_lost_broker_is_reported_retried_without_busy_looping_and_survived() {
    let started = Instant::now();
    let bootstrap = weir_e2e::kafka_bootstrap().unwrap_or_else(|missing| panic!("{missing}"));
    let topic = Topic::create(&bootstrap, "weir-outage", PARTITIONS);
    produce(&bootstrap, topic.name(), batch(0..PER_BATCH));

    let master = Master::start_default("kafka_outage");
    let worker = Worker::start(&master, "w-outage", "1GiB");
    let out = master.dir().join("out");
    let job_file = write_file(
        master.dir(),
        "outage.conf",
        &job_text(&bootstrap, topic.name(), &out),
    );
    let job_id = master.submit(&job_file);
    let first = PARTITIONS as u64 * PER_BATCH;
    master.wait_until(
        &format!("job {job_id} has read the first {first} records"),
        START,
        || {
            let job = master.try_job(&job_id)?;
            // No error before the outage: the one looked for below is the outage's.
            let ready = text(&job, "state") == "Running"
                && u64_of(&job, "rows_written") == first
                && task_errors(&job).is_empty();
            ready.then_some(()).ok_or_else(|| summary(&job))
        },
    );

    let mut outage = ServiceOutage::begin("kafka");
    let noticed = master.wait_until(
        "a task's last_error names the broker problem",
        NOTICE,
        || {
            let job = master.try_job(&job_id)?;
            let errors = task_errors(&job);
            let names_broker = errors.iter().any(|error| {
                let lower = error.to_lowercase();
                lower.contains("broker") || lower.contains(&bootstrap)
            });
            if names_broker {
                Ok(job)
            } else {
                Err(summary(&job))
            }
        },
    );
    eprintln!(
        "{:.1?} into the outage: {}",
        outage.elapsed(),
        summary(&noticed)
    );
    master.check(text(&noticed, "state") == "Running", || {
        format!("the job must keep running through the outage: {noticed:#}")
    });

    // No busy loop while the broker is away: little CPU over a fixed window (a window is the
    // only way to show that something does not happen).
    let pid = worker.pid();
    let ticks = ticks_per_second();
    let (cpu_before, window_start) = (cpu_ticks(pid), Instant::now());
    std::thread::sleep(CPU_WINDOW);
    let cpu = (cpu_ticks(pid) - cpu_before) as f64 / ticks as f64;
    let wall = window_start.elapsed().as_secs_f64();
    eprintln!(
        "worker CPU over {wall:.1} s of outage: {cpu:.2} s ({:.1} %)",
        100.0 * cpu / wall
    );
    master.check(cpu < CPU_MAX_FRACTION * wall, || {
        format!(
            "the worker used {cpu:.2} s of CPU in {wall:.1} s while Kafka was down: a busy loop"
        )
    });
    let during = master.job(&job_id);
    master.check(
        text(&during, "state") == "Running" && !task_errors(&during).is_empty(),
        || {
            format!(
                "after {:.1?} of outage the job must still be Running with its error shown: {}",
                outage.elapsed(),
                summary(&during)
            )
        },
    );

    outage.end();
    produce(&bootstrap, topic.name(), batch(PER_BATCH..2 * PER_BATCH));
    let total = 2 * first;
    master.wait_until(
        &format!("job {job_id} reads all {total} records and its error clears"),
        RECOVERY,
        || {
            let job = master.try_job(&job_id)?;
            let done = text(&job, "state") == "Running"
                && u64_of(&job, "rows_written") == total
                && task_errors(&job).is_empty();
            done.then_some(()).ok_or_else(|| summary(&job))
        },
    );

    let stopped = master.json(&["stop", &job_id]);
    master.check(text(&stopped, "state") == "Stopped", || {
        format!("`weir stop` should leave the job Stopped: {stopped}")
    });
    let counts = committed_counts(&out);
    let expected: Vec<(i32, u64)> = (0..2 * PER_BATCH)
        .flat_map(|seq| (0..PARTITIONS).map(move |p| (p, seq)))
        .collect();
    let missing: Vec<&(i32, u64)> = expected
        .iter()
        .filter(|key| !counts.contains_key(key))
        .collect();
    let repeated: Vec<(&(i32, u64), &u32)> = counts.iter().filter(|(_, n)| **n > 1).collect();
    master.check(
        missing.is_empty() && repeated.is_empty() && counts.len() == expected.len(),
        || {
            format!(
                "every record must be committed exactly once: {} distinct of {}, missing {:?}…, repeated {:?}…",
                counts.len(),
                expected.len(),
                &missing[..missing.len().min(10)],
                &repeated[..repeated.len().min(10)]
            )
        },
    );
    eprintln!(
        "{} records committed exactly once across the outage; test took {:.1?}",
        counts.len(),
        started.elapsed()
    );
}
