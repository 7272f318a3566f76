//! Exactly-once files end to end (issue 5's acceptance): real `weir master` and `weir worker`
//! processes run Kafka → HdfsFile jobs against the real Kafka and HDFS of the local stack, with
//! `checkpoint.interval = 2000`, and what lands in HDFS is read back with Hadoop's own FsShell
//! (`deploy/local/stack run hdfs org.apache.hadoop.fs.FsShell`), never with Weir's code:
//!
//! - `crash`: 200 000 records; the worker is killed (`kill -9`) mid-run and another one takes
//!   over; once the lag is 0, every id is committed exactly once (for `text` and for `json`);
//! - `hdfs_restart`: the NameNode is stopped mid-run (`deploy/local/stack stop namenode`) until
//!   the job notices, then started again; the job retries and the result is exactly-once;
//! - `stop_restore`: `weir stop`, more records, `weir submit --restore`: exactly-once over both
//!   runs (json, gzip);
//! - `cancel`: `weir cancel` leaves nothing in-progress or pending and no id twice.
//!
//! In every test nothing but committed files may be visible under the sink's `path`.
//!
//! Each test has its own topic, master, workers and HDFS directory
//! (`/weir-e2e/exactly-once/<test>-…`, deleted after a pass, kept after a failure), so they run
//! in parallel — except `hdfs_restart`, which takes HDFS away: it waits until the others are
//! done, and they wait for it. Needs the stack (`deploy/local/stack up && eval "$(deploy/local/stack env)"`)
//! and the built binary (`cargo build -p weir-cli`).
//!
//! Run: `cargo test -p weir-e2e --test exactly_once -- --nocapture` (progress lines go to
//! stderr).

use std::collections::BTreeMap;
use std::ops::Range;
use std::path::PathBuf;
use std::sync::{PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::time::{Duration, Instant};

use serde_json::Value;
use weir_e2e::cluster::{Master, describe, write_file};
use weir_e2e::kafka::{self, Topic, produce};
use weir_e2e::stack::remove_recursive;

use support::{Codec, Committed, Format, PARTITIONS, read_committed, records};

mod cancel;
mod crash;
mod hdfs_restart;
mod stop_restore;
mod support;

/// `env.checkpoint.interval` of every job, in ms.
const CHECKPOINT_INTERVAL_MS: u64 = 2000;
/// `env.parallelism` of every job.
const PARALLELISM: u64 = 2;
/// Memory limit of every test worker.
const WORKER_MEMORY: &str = "1GiB";

/// Bound for a job to be placed and running (also again after a recovery).
const START: Duration = Duration::from_secs(60);
/// Bound for the first checkpoint to complete once the job runs.
const FIRST_CHECKPOINT: Duration = Duration::from_secs(120);
/// Bound for reading a whole backlog (generous: debug builds on a loaded machine).
const CATCH_UP: Duration = Duration::from_secs(600);
/// Bound for checkpoints to complete once the job has caught up.
const SETTLE: Duration = Duration::from_secs(120);
/// How often a waiting test prints the job's state even when nothing changed.
const PROGRESS_EVERY: Duration = Duration::from_secs(10);

// ----------------------------------------------------------------------------------------------
// HDFS outages
// ----------------------------------------------------------------------------------------------

/// Tests hold it shared while they use HDFS; `hdfs_restart` holds it exclusively while it stops
/// the NameNode. (Test binaries run one after another, so only this binary's tests matter.)
static HDFS_OUTAGES: RwLock<()> = RwLock::new(());

fn hdfs_shared() -> RwLockReadGuard<'static, ()> {
    HDFS_OUTAGES.read().unwrap_or_else(PoisonError::into_inner)
}

fn hdfs_exclusive() -> RwLockWriteGuard<'static, ()> {
    HDFS_OUTAGES.write().unwrap_or_else(PoisonError::into_inner)
}

// ----------------------------------------------------------------------------------------------
// A test's topic and HDFS directory
// ----------------------------------------------------------------------------------------------

/// One test's Kafka topic (4 partitions) and HDFS directory.
struct Scenario {
    name: &'static str,
    bootstrap: String,
    hdfs: String,
    topic: Topic,
    /// `/weir-e2e/exactly-once/<name>-<pid>-<nanos>`; the sink writes to `<base>/out`.
    base: String,
    started: Instant,
}

impl Scenario {
    /// Reads the stack's addresses (failing with how to start the stack when they are not
    /// set) and creates the topic.
    fn new(name: &'static str) -> Self {
        let bootstrap = weir_e2e::kafka_bootstrap().unwrap_or_else(|missing| panic!("{missing}"));
        let hdfs = weir_e2e::hdfs_url().unwrap_or_else(|missing| panic!("{missing}"));
        let topic = Topic::create(&bootstrap, &format!("weir-eo-{name}"), PARTITIONS as i32);
        let base = format!(
            "/weir-e2e/exactly-once/{}",
            weir_e2e::unique_name(&name.replace('_', "-"))
        );
        let scenario = Scenario {
            name,
            bootstrap,
            hdfs,
            topic,
            base,
            started: Instant::now(),
        };
        scenario.say(format!(
            "topic {} ({PARTITIONS} partitions), sink path {}{}",
            scenario.topic.name(),
            scenario.hdfs,
            scenario.path()
        ));
        scenario
    }

    /// The sink's `path`.
    fn path(&self) -> String {
        format!("{}/out", self.base)
    }

    /// A progress line on stderr, with the time since the test started.
    fn say(&self, message: impl std::fmt::Display) {
        eprintln!(
            "[{} +{:>5.1}s] {message}",
            self.name,
            self.started.elapsed().as_secs_f64()
        );
    }

    /// Produces the records of `ids` and checks each landed where the tests expect it
    /// (partition `id % 4`, offset `id / 4`).
    fn produce(&self, format: Format, ids: Range<u64>) {
        let records = records(format, ids.clone());
        let produced = produce(&self.bootstrap, self.topic.name(), records.clone());
        for (id, delivered) in ids.clone().zip(&produced.deliveries) {
            let expected = (support::partition_of(id) as i32, (id / PARTITIONS) as i64);
            assert_eq!(
                (delivered.partition, delivered.offset),
                expected,
                "record {id} should land at partition {} offset {} of a fresh topic",
                expected.0,
                expected.1
            );
        }
        self.say(format!(
            "produced ids {ids:?} ({} records, {} KiB) in {:.1?}",
            records.len(),
            produced.payload_bytes / 1024,
            produced.elapsed
        ));
    }

    /// The end offset of each partition, keyed by split name (`topic-partition`).
    fn end_offsets(&self) -> BTreeMap<String, i64> {
        kafka::watermarks(&self.bootstrap, self.topic.name(), PARTITIONS as i32)
            .into_iter()
            .enumerate()
            .map(|(partition, (_, high))| (format!("{}-{partition}", self.topic.name()), high))
            .collect()
    }

    /// Reads everything committed under the sink's path with FsShell.
    fn committed(&self, format: Format, codec: Codec) -> Result<Committed, String> {
        read_committed(&self.path(), format, codec)
    }
}

impl Drop for Scenario {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!(
                "[{}] the test failed; its HDFS files are kept in {}{} (list them with `deploy/local/stack run hdfs org.apache.hadoop.fs.FsShell -ls -R {}`)",
                self.name, self.hdfs, self.base, self.base
            );
        } else {
            remove_recursive(&self.base);
        }
    }
}

// ----------------------------------------------------------------------------------------------
// The job
// ----------------------------------------------------------------------------------------------

/// A Kafka → HdfsFile job of a scenario.
struct JobFile {
    format: Format,
    codec: Codec,
    /// Job-wide `read_limit.rows_per_second`.
    rows_per_second: u64,
    /// `tmp_path`; `None` keeps the sink's default (a hidden sibling of `path`).
    tmp_path: Option<String>,
    /// Further `env {}` lines.
    env: Vec<String>,
}

impl JobFile {
    fn new(format: Format, rows_per_second: u64) -> Self {
        JobFile {
            format,
            codec: Codec::None,
            rows_per_second,
            tmp_path: None,
            env: Vec::new(),
        }
    }

    fn text(&self, scenario: &Scenario) -> String {
        let indent = |lines: &[String], by: &str| {
            lines
                .iter()
                .map(|line| format!("{by}{line}\n"))
                .collect::<String>()
        };
        let tmp_path = self
            .tmp_path
            .as_ref()
            .map(|tmp| format!("    tmp_path = \"{tmp}\"\n"))
            .unwrap_or_default();
        format!(
            r#"env {{
  parallelism = {PARALLELISM}
  job.mode = "STREAMING"
  checkpoint.interval = {CHECKPOINT_INTERVAL_MS}
  read_limit.rows_per_second = {rate}
  job.retry.times = 10
  job.retry.interval.seconds = 2
{env}}}
source {{
  Kafka {{
    bootstrap.servers = "{bootstrap}"
    topic = "{topic}"
    consumer.group = "{group}"
    start_mode = "earliest"
{source}  }}
}}
sink {{
  HdfsFile {{
    fs.defaultFS = "{hdfs}"
    path = "{path}"
{tmp_path}    file_format_type = "{format}"
    compress_codec = "{codec}"
  }}
}}
"#,
            rate = self.rows_per_second,
            env = indent(&self.env, "  "),
            bootstrap = scenario.bootstrap,
            topic = scenario.topic.name(),
            group = weir_e2e::unique_name("weir-eo-group"),
            source = indent(&self.format.source_lines(), "    "),
            hdfs = scenario.hdfs,
            path = scenario.path(),
            format = self.format.option(),
            codec = self.codec.option(),
        )
    }

    /// Writes the job file into the master's directory (printing it) and returns its path.
    fn write(&self, scenario: &Scenario, master: &Master) -> PathBuf {
        let text = self.text(scenario);
        scenario.say(format!("job file:\n{text}"));
        write_file(master.dir(), &format!("{}.conf", scenario.name), &text)
    }

    /// Writes and submits the job; returns its id.
    fn submit(&self, scenario: &Scenario, master: &Master) -> String {
        let path = self.write(scenario, master);
        let job_id = master.submit(&path);
        scenario.say(format!("submitted job {job_id}"));
        job_id
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

/// The `checkpoints` object of `weir job -o json`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct Checkpoints {
    last_completed_id: u64,
    completed: u64,
    failed: u64,
    last_failure: String,
    restored_from_id: u64,
}

fn checkpoints(job: &Value) -> Checkpoints {
    let stats = &job["checkpoints"];
    Checkpoints {
        // The summary's `last_checkpoint_id` says the same; either will do.
        last_completed_id: stats["last_completed_id"]
            .as_u64()
            .or_else(|| job["last_checkpoint_id"].as_u64())
            .unwrap_or_default(),
        completed: u64_of(stats, "completed"),
        failed: u64_of(stats, "failed"),
        last_failure: text(stats, "last_failure"),
        restored_from_id: u64_of(stats, "restored_from_id"),
    }
}

fn is_terminal(state: &str) -> bool {
    matches!(state, "Failed" | "Cancelled" | "Finished" | "Stopped")
}

/// One line about the job: state, lag, rows, checkpoints, where its tasks run.
fn status_line(job: &Value) -> String {
    let cp = checkpoints(job);
    let tasks: Vec<String> = tasks(job)
        .iter()
        .map(|task| {
            format!(
                "{}@{}:{}#{}",
                task["subtask_index"],
                text(task, "worker_id"),
                text(task, "state"),
                task["attempt"]
            )
        })
        .collect();
    let mut line = format!(
        "{} lag={} read={} written={} queue_rows={} checkpoints: last={} completed={} failed={} restored_from={} tasks=[{}]",
        text(job, "state"),
        job["consumer_lag"],
        job["rows_read"],
        job["rows_written"],
        job["queue_rows"],
        cp.last_completed_id,
        cp.completed,
        cp.failed,
        cp.restored_from_id,
        tasks.join(" ")
    );
    if !cp.last_failure.is_empty() {
        line.push_str(&format!(" last_failure={:?}", cp.last_failure));
    }
    let reason = text(job, "state_reason");
    if !reason.is_empty() {
        line.push_str(&format!(" reason={reason:?}"));
    }
    line
}

/// Polls `weir job` until `condition(job)` holds; prints the job's status line whenever the
/// parts that matter change (and every 10 s); fails at once if the job ends.
fn wait_job(
    scenario: &Scenario,
    master: &Master,
    job_id: &str,
    what: &str,
    timeout: Duration,
    mut condition: impl FnMut(&Value) -> bool,
) -> Value {
    let mut last_key = String::new();
    let mut last_print = Instant::now();
    let job = master.wait_until(&format!("job {job_id}: {what}"), timeout, || {
        let job = master.try_job(job_id)?;
        // Print on a change of state, checkpoint or placement (not of every counter).
        let cp = checkpoints(&job);
        let key = format!(
            "{} {} {} {:?}",
            text(&job, "state"),
            cp.last_completed_id,
            cp.failed,
            tasks(&job)
                .iter()
                .map(|task| (text(task, "worker_id"), text(task, "state")))
                .collect::<Vec<_>>()
        );
        if key != last_key || last_print.elapsed() >= PROGRESS_EVERY {
            scenario.say(format!("waiting until {what}: {}", status_line(&job)));
            last_key = key;
            last_print = Instant::now();
        }
        if condition(&job) {
            return Ok(job);
        }
        if is_terminal(&text(&job, "state")) {
            master.fail(format!(
                "job {job_id} ended while waiting until {what}: {job:#}"
            ));
        }
        Err(status_line(&job))
    });
    scenario.say(format!("done: {what}"));
    job
}

/// Whether the job and all its `PARALLELISM` tasks are Running (on `worker`, when given).
fn all_running(job: &Value, worker: Option<&str>) -> bool {
    let tasks = tasks(job);
    text(job, "state") == "Running"
        && tasks.len() as u64 == PARALLELISM
        && tasks.iter().all(|task| {
            task["state"] == "Running" && worker.is_none_or(|id| task["worker_id"] == id)
        })
}

/// Waits until the job and all its tasks run (on `worker`, when given).
fn wait_running(
    scenario: &Scenario,
    master: &Master,
    job_id: &str,
    worker: Option<&str>,
    timeout: Duration,
) -> Value {
    let what = match worker {
        Some(worker) => format!("the job and its {PARALLELISM} tasks are Running on {worker}"),
        None => format!("the job and its {PARALLELISM} tasks are Running"),
    };
    wait_job(scenario, master, job_id, &what, timeout, |job| {
        all_running(job, worker)
    })
}

/// Waits until the running job has completed a checkpoint and written rows, and checks it has
/// not read everything yet (so what follows happens mid-run).
fn wait_first_checkpoint(scenario: &Scenario, master: &Master, job_id: &str) -> Value {
    let job = wait_job(
        scenario,
        master,
        job_id,
        "≥ 1 checkpoint completed and rows written",
        FIRST_CHECKPOINT,
        |job| {
            all_running(job, None)
                && checkpoints(job).last_completed_id >= 1
                && u64_of(job, "rows_written") > 0
        },
    );
    let lag = job["consumer_lag"].as_i64().unwrap_or(-1);
    master.check(lag > 0, || {
        format!(
            "the job had already read everything (consumer_lag {lag}) by its first checkpoint, so the fault would not happen mid-run; lower read_limit.rows_per_second: {}",
            status_line(&job)
        )
    });
    job
}

/// Waits until the job has read everything (`consumer_lag` 0, every split at its end offset,
/// nothing queued), then until two more checkpoints completed: the second was triggered after
/// everything had been read, so once it is committed the committed files are complete.
fn wait_caught_up(
    scenario: &Scenario,
    master: &Master,
    job_id: &str,
    ends: &BTreeMap<String, i64>,
) -> Value {
    let caught_up = wait_job(
        scenario,
        master,
        job_id,
        &format!(
            "consumer_lag is 0 and the {} splits are at their end offsets {:?}",
            ends.len(),
            ends.values().collect::<Vec<_>>()
        ),
        CATCH_UP,
        |job| {
            let positions: BTreeMap<String, (i64, i64)> = splits(job)
                .iter()
                .map(|split| {
                    (
                        text(split, "split"),
                        (
                            split["high_watermark"].as_i64().unwrap_or(-1),
                            split["lag"].as_i64().unwrap_or(-1),
                        ),
                    )
                })
                .collect();
            all_running(job, None)
                && job["consumer_lag"].as_i64() == Some(0)
                && u64_of(job, "queue_rows") == 0
                && ends.iter().all(|(split, end)| {
                    positions
                        .get(split)
                        .is_some_and(|&(high, lag)| high == *end && lag == 0)
                })
        },
    );
    let at = checkpoints(&caught_up).last_completed_id;
    wait_job(
        scenario,
        master,
        job_id,
        &format!(
            "checkpoint {} completed (2 after catching up at {at})",
            at + 2
        ),
        SETTLE,
        |job| checkpoints(job).last_completed_id >= at + 2,
    )
}

/// Reads the committed files and checks every id of `expected` is there exactly once and
/// nothing else is, and that the file names follow the contract. When only ids are missing and
/// the job still runs, it waits two more checkpoints and reads again, to tell "late" from "lost".
fn check_exactly_once(
    scenario: &Scenario,
    master: &Master,
    running_job: Option<&str>,
    format: Format,
    codec: Codec,
    expected: Range<u64>,
) -> Committed {
    let read = || {
        scenario
            .committed(format, codec)
            .unwrap_or_else(|error| master.fail(error))
    };
    let committed = read();
    scenario.say(format!("read back: {}", committed.summary()));
    let Err(problem) = committed.check_exactly_once(expected.clone()) else {
        return committed;
    };
    let only_missing = committed.check_no_duplicates().is_ok()
        && committed.distinct().iter().all(|id| expected.contains(id));
    if let (true, Some(job_id)) = (only_missing, running_job) {
        scenario.say(format!("{problem}\nwaiting two more checkpoints to see whether the missing rows are late or lost"));
        let job = master.job(job_id);
        let at = checkpoints(&job).last_completed_id;
        wait_job(
            scenario,
            master,
            job_id,
            &format!("checkpoint {} completed", at + 2),
            SETTLE,
            |job| checkpoints(job).last_completed_id >= at + 2,
        );
        let again = read();
        match again.check_exactly_once(expected) {
            Ok(()) => master.fail(format!(
                "the committed files were incomplete when the job had caught up and two checkpoints had completed since; two checkpoints later they are complete (files are committed late): first read: {problem}"
            )),
            Err(still) => master.fail(format!(
                "rows are lost: still missing two checkpoints later.\nfirst read: {problem}\nsecond read: {still}\njob: {}",
                status_line(&master.job(job_id))
            )),
        }
    }
    master.fail(problem)
}

/// Runs `weir ARGS -o json` against the master; returns the parsed stdout and whether it
/// exited 0.
fn cli_json(master: &Master, args: &[&str]) -> (Value, bool, String) {
    let mut all = args.to_vec();
    all.extend(["-o", "json"]);
    let output = master.cli(&all);
    let described = describe(&all, &output);
    let value = serde_json::from_slice(&output.stdout)
        .unwrap_or_else(|error| master.fail(format!("stdout is not JSON ({error}): {described}")));
    (value, output.status.success(), described)
}

// ----------------------------------------------------------------------------------------------
// The reader itself
// ----------------------------------------------------------------------------------------------

/// The checker against files FsShell put into HDFS (no Weir involved): plain and gzip files are
/// read back exactly; a duplicate, a missing id and an in-progress file are each caught.
#[test]
fn reader_self_check() {
    use weir_e2e::stack::try_fs_shell;

    let _hdfs = hdfs_shared();
    let hdfs = weir_e2e::hdfs_url().unwrap_or_else(|missing| panic!("{missing}"));
    let base = format!(
        "/weir-e2e/exactly-once/{}",
        weir_e2e::unique_name("reader-self-check")
    );
    let local = std::env::temp_dir().join(weir_e2e::unique_name("weir-eo-reader"));
    std::fs::create_dir_all(&local).expect("a local scratch directory");
    let put = |name: &str, bytes: &[u8], dir: &str| {
        let file = local.join(name);
        std::fs::write(&file, bytes).expect("write a scratch file");
        let file = file.display().to_string();
        try_fs_shell(&["-mkdir", "-p", dir]).unwrap_or_else(|error| panic!("{error}"));
        try_fs_shell(&["-put", "-f", &file, &format!("{dir}/{name}")])
            .unwrap_or_else(|error| panic!("{error}"));
    };
    let lines = |format: Format, ids: Range<u64>| -> Vec<u8> {
        ids.flat_map(|id| {
            let mut line = match format {
                Format::Text => format!("{id}\u{1}{}", support::pad(id)).into_bytes(),
                Format::Json => format.payload(id),
            };
            line.push(b'\n');
            line
        })
        .collect()
    };
    let gzip = |bytes: Vec<u8>| -> Vec<u8> {
        use std::io::Write as _;
        let mut child = std::process::Command::new("gzip")
            .arg("-c")
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .expect("the gzip command");
        child
            .stdin
            .take()
            .expect("gzip's stdin")
            .write_all(&bytes)
            .expect("feed gzip");
        let output = child.wait_with_output().expect("gzip's output");
        assert!(output.status.success());
        output.stdout
    };

    // Text: two files holding 0..1000 exactly once.
    let text_dir = format!("{base}/text");
    put("j-a_0_1_0.txt", &lines(Format::Text, 0..600), &text_dir);
    put("j-a_1_1_0.txt", &lines(Format::Text, 600..1000), &text_dir);
    let committed = read_committed(&text_dir, Format::Text, Codec::None)
        .unwrap_or_else(|error| panic!("{error}"));
    committed
        .check_exactly_once(0..1000)
        .unwrap_or_else(|error| panic!("{error}"));
    committed
        .check_file_names(&["j-a"], 2, 1)
        .unwrap_or_else(|error| panic!("{error}"));
    assert_eq!(committed.check_partition_prefixes().unwrap()[&0], 250);

    // Json, gzip: an id twice and one missing are caught.
    let json_dir = format!("{base}/json");
    put(
        "j-b_0_1_0.json.gz",
        &gzip(lines(Format::Json, 0..500)),
        &json_dir,
    );
    put(
        "j-b_0_2_0.json.gz",
        &gzip(lines(Format::Json, 499..999)),
        &json_dir,
    );
    let committed = read_committed(&json_dir, Format::Json, Codec::Gzip)
        .unwrap_or_else(|error| panic!("{error}"));
    assert_eq!(committed.rows(), 1000);
    let error = committed.check_exactly_once(0..1000).unwrap_err();
    assert!(
        error.contains("DUPLICATES: 1 ids") && error.contains("id 499 in"),
        "{error}"
    );
    assert!(error.contains("MISSING: 1 of the 1000"), "{error}");

    // An in-progress file under the path is refused.
    put(
        ".j-a_0_2_0.txt.inprogress",
        &lines(Format::Text, 0..1),
        &text_dir,
    );
    let error = read_committed(&text_dir, Format::Text, Codec::None).unwrap_err();
    assert!(error.contains("an in-progress file"), "{error}");
    eprintln!("[reader_self_check] checked {hdfs}{base}");

    remove_recursive(&base);
    let _ = std::fs::remove_dir_all(&local);
}
