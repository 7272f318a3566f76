//! Kafka with SASL_SSL and SCRAM-SHA-512, end to end: real `weir master` and `weir worker`
//! processes read through the local stack's SASL_SSL listener (its CA, certificate and SCRAM
//! user made by `deploy/local/stack up`; `deploy/local/stack env` prints the
//! `WEIR_TEST_KAFKA_SASL*` variables). Records are produced through the PLAINTEXT listener of
//! the same broker. The password must never show in the master's or the worker's log, nor in
//! `weir job` / `weir jobs` output.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde_json::Value;
use weir_e2e::cluster::{Master, Worker, describe, write_file};
use weir_e2e::job_json::{text, u64_of};
use weir_e2e::kafka::{SaslListener, Topic, committed_offsets, json_records, produce, watermarks};

const PARTITIONS: i32 = 2;
const PER_PARTITION: u64 = 1_000;
const CHECKPOINT_INTERVAL_MS: u64 = 1_000;
/// Bound for the job to read everything.
const READ_ALL: Duration = Duration::from_secs(45);
/// Bound for `weir job` to show the refused credentials.
const NOTICE: Duration = Duration::from_secs(30);

fn listeners() -> (String, SaslListener) {
    let plaintext = weir_e2e::kafka_bootstrap().unwrap_or_else(|missing| panic!("{missing}"));
    let sasl = SaslListener::from_env().unwrap_or_else(|missing| panic!("{missing}"));
    (plaintext, sasl)
}

fn job_text(sasl: &SaslListener, password: &str, topic: &str, group: &str, out: &Path) -> String {
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
    consumer.group = "{group}"
    start_mode = "earliest"
    schema = {{ fields {{ p = "int", seq = "bigint" }} }}
    {kafka_config}
  }}
}}
sink {{
  LocalFile {{
    path = "{out}"
    file_format_type = "text"
    field_delimiter = ","
  }}
}}
"#,
        bootstrap = sasl.bootstrap,
        kafka_config = sasl.kafka_config(password),
        out = out.display()
    )
}

fn summary(job: &Value) -> String {
    format!(
        "state {} ({}), rows_read {}, rows_written {}",
        text(job, "state"),
        text(job, "state_reason"),
        u64_of(job, "rows_read"),
        u64_of(job, "rows_written"),
    )
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

/// Fails the test if `secret` appears in any log of the cluster (the master's and every
/// worker's, all `*.log` files of its directory) or in the output of `weir job ID` (table and
/// `-o json`) and `weir jobs -o json`.
fn assert_never_shown(master: &Master, job_id: &str, secret: &str) {
    let mut places = Vec::new();
    let logs: Vec<PathBuf> = std::fs::read_dir(master.dir())
        .map(|entries| {
            entries
                .filter_map(Result::ok)
                .map(|entry| entry.path())
                .filter(|path| path.extension().is_some_and(|ext| ext == "log"))
                .collect()
        })
        .unwrap_or_default();
    master.check(logs.len() >= 2, || {
        format!("expected the master's and the worker's logs, found {logs:?}")
    });
    for log in &logs {
        let content = std::fs::read_to_string(log)
            .unwrap_or_else(|error| panic!("cannot read {}: {error}", log.display()));
        if content.contains(secret) {
            places.push(log.display().to_string());
        }
    }
    for args in [
        vec!["job", job_id],
        vec!["job", job_id, "-o", "json"],
        vec!["jobs", "-o", "json"],
    ] {
        let output = master.cli(&args);
        master.check(output.status.success(), || describe(&args, &output));
        let shown = format!(
            "{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        if shown.contains(secret) {
            places.push(format!("`weir {}`", args.join(" ")));
        }
    }
    // Not `master.check`: its message carries the logs, which would print the secret.
    assert!(
        places.is_empty(),
        "the SASL password shows in: {}",
        places.join(", ")
    );
}

/// 2 × 1000 records produced through PLAINTEXT are read by a Kafka → LocalFile job through
/// SASL_SSL with SCRAM-SHA-512 (the master lists partitions, the worker reads and commits the
/// group's offsets, all with the job's `kafka.config`); after `weir stop` the committed files
/// hold every record exactly once, the group's offsets are the end offsets, and the password
/// shows in no log and no `weir job` output.
#[test]
fn a_sasl_ssl_scram_job_reads_every_record_exactly_once_and_never_shows_the_password() {
    let started = Instant::now();
    let (plaintext, sasl) = listeners();
    let topic = Topic::create(&plaintext, "weir-sasl", PARTITIONS);
    produce(
        &plaintext,
        topic.name(),
        json_records(PARTITIONS, PER_PARTITION),
    );

    let master = Master::start_default("kafka_sasl");
    let _worker = Worker::start(&master, "w-sasl", "1GiB");
    let out = master.dir().join("out");
    let group = weir_e2e::unique_name("weir-sasl-group");
    let job_file = write_file(
        master.dir(),
        "sasl.conf",
        &job_text(&sasl, &sasl.password, topic.name(), &group, &out),
    );
    let job_id = master.submit(&job_file);
    let total = PARTITIONS as u64 * PER_PARTITION;
    master.wait_until(
        &format!("job {job_id} has read and written all {total} records"),
        READ_ALL,
        || {
            let job = master.try_job(&job_id)?;
            let done = text(&job, "state") == "Running" && u64_of(&job, "rows_written") == total;
            done.then_some(()).ok_or_else(|| summary(&job))
        },
    );

    let stopped = master.json(&["stop", &job_id]);
    master.check(text(&stopped, "state") == "Stopped", || {
        format!("`weir stop` should leave the job Stopped: {stopped}")
    });
    let counts = committed_counts(&out);
    let missing = (0..PER_PARTITION)
        .flat_map(|seq| (0..PARTITIONS).map(move |p| (p, seq)))
        .filter(|key| !counts.contains_key(key))
        .count();
    let repeated: Vec<_> = counts.iter().filter(|(_, n)| **n > 1).collect();
    master.check(
        missing == 0 && repeated.is_empty() && counts.len() as u64 == total,
        || {
            format!(
                "every record must be committed exactly once: {} distinct of {total}, {missing} missing, repeated {:?}…",
                counts.len(),
                &repeated[..repeated.len().min(10)]
            )
        },
    );
    // The offset committer reached the group coordinator through SASL_SSL too.
    let ends: Vec<Option<i64>> = watermarks(&plaintext, topic.name(), PARTITIONS)
        .into_iter()
        .map(|(_, high)| Some(high))
        .collect();
    let committed = committed_offsets(&plaintext, &group, topic.name(), PARTITIONS);
    master.check(committed == ends, || {
        format!("group {group} should have committed the end offsets {ends:?}, has {committed:?}")
    });

    assert_never_shown(&master, &job_id, &sasl.password);
    eprintln!(
        "{total} records read through SASL_SSL and committed exactly once; test took {:.1?}",
        started.elapsed()
    );
}

/// A job whose `sasl.password` is wrong waits with the refused credentials as its reason in
/// `weir job` (not a silent wait), and neither that password nor the right one shows anywhere.
#[test]
fn a_wrong_password_shows_an_authentication_error_in_weir_job() {
    let (plaintext, sasl) = listeners();
    let topic = Topic::create(&plaintext, "weir-sasl-wrong", 1);
    let wrong = weir_e2e::unique_name("not-the-password");

    let master = Master::start_default("kafka_sasl_wrong");
    let _worker = Worker::start(&master, "w-sasl-wrong", "1GiB");
    let out = master.dir().join("out");
    let group = weir_e2e::unique_name("weir-sasl-wrong-group");
    let job_file = write_file(
        master.dir(),
        "wrong.conf",
        &job_text(&sasl, &wrong, topic.name(), &group, &out),
    );
    let job_id = master.submit(&job_file);
    let job = master.wait_until(
        "`weir job` shows that Kafka refused the credentials",
        NOTICE,
        || {
            let job = master.try_job(&job_id)?;
            let reason = text(&job, "state_reason");
            if reason.contains("refused the client's credentials")
                && reason.contains("SASL authentication error")
            {
                Ok(job)
            } else {
                Err(summary(&job))
            }
        },
    );
    master.check(text(&job, "state") == "Queued", || {
        format!(
            "a job whose credentials are refused waits for Kafka: {}",
            summary(&job)
        )
    });
    let table = master.cli(&["job", &job_id]);
    let shown = String::from_utf8_lossy(&table.stdout);
    master.check(shown.contains("refused the client's credentials"), || {
        format!("`weir job` should show the reason: {shown}")
    });
    assert_never_shown(&master, &job_id, &wrong);
    assert_never_shown(&master, &job_id, &sasl.password);
    let cancelled = master.json(&["cancel", &job_id]);
    master.check(text(&cancelled, "state") == "Cancelled", || {
        format!("`weir cancel` should cancel the waiting job: {cancelled}")
    });
}
