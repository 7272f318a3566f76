//! Recovery is idempotent against files consumed downstream (issue 11): a downstream job moves
//! the committed files out of the sink's `path` (the usual life of an ingestion directory),
//! then the worker is killed. The checkpoint the job resumes from is complete, so its files
//! count as committed though they are neither pending nor at their final path: the new worker
//! warns ("committed earlier and moved away downstream") and runs on, and every record ends up
//! exactly once across the moved files and the ones committed later.
//!
//! Real `weir master` and `weir worker` processes, the real Kafka of the local stack
//! (`deploy/local/stack up && eval "$(deploy/local/stack env)"`), Kafka → LocalFile. Run:
//! `cargo test -p weir-e2e --test moved_downstream`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::Value;
use weir_e2e::cluster::{Master, Worker, write_file};
use weir_e2e::job_json::{tasks, text, u64_of};
use weir_e2e::kafka::{Record, Topic, json_message, produce};

const PARTITIONS: i32 = 2;
/// Records per partition in each of the two batches (before and after the crash).
const PER_BATCH: u64 = 500;
/// Long enough that the checkpoint which committed the first batch is still the last completed
/// one when the worker is killed (the test moves the files and kills within a second or so).
const CHECKPOINT_INTERVAL_MS: u64 = 5000;
/// Bound for each wait (placement, a checkpoint, reading a batch).
const WAIT: Duration = Duration::from_secs(60);

fn job_text(bootstrap: &str, topic: &str, out: &Path) -> String {
    format!(
        r#"
env {{
  parallelism = 1
  job.mode = "STREAMING"
  checkpoint.interval = {CHECKPOINT_INTERVAL_MS}
}}
source {{
  Kafka {{
    bootstrap.servers = "{bootstrap}"
    topic = "{topic}"
    start_mode = "earliest"
    schema = {{ fields {{ p = "int", seq = "bigint" }} }}
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
        out = out.display()
    )
}

fn batch(seqs: std::ops::Range<u64>) -> impl Iterator<Item = Record> {
    seqs.flat_map(|seq| (0..PARTITIONS).map(move |p| Record::new(p, json_message(p, seq))))
}

/// The visible files directly under `dir` (hidden ones are refused: nothing in progress may
/// show under `path`).
fn visible_files(dir: &Path) -> Result<Vec<PathBuf>, String> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let name = entry.file_name().to_string_lossy().to_string();
        if name.starts_with('.') {
            return Err(format!(
                "a hidden file is visible under {}: {name}",
                dir.display()
            ));
        }
        files.push(entry.path());
    }
    files.sort();
    Ok(files)
}

/// How often each `(p, seq)` occurs in the files under `dirs`.
fn ids(dirs: &[&Path]) -> Result<BTreeMap<(i32, u64), u32>, String> {
    let mut seen = BTreeMap::new();
    for dir in dirs {
        for file in visible_files(dir)? {
            let text = std::fs::read_to_string(&file)
                .map_err(|error| format!("cannot read {}: {error}", file.display()))?;
            for line in text.lines() {
                let parsed = line
                    .split_once(',')
                    .and_then(|(p, seq)| Some((p.parse().ok()?, seq.parse().ok()?)));
                let id = parsed
                    .ok_or_else(|| format!("{}: unexpected line {line:?}", file.display()))?;
                *seen.entry(id).or_insert(0) += 1;
            }
        }
    }
    Ok(seen)
}

fn last_completed(job: &Value) -> u64 {
    u64_of(&job["checkpoints"], "last_completed_id")
}

#[test]
fn files_moved_away_downstream_do_not_stop_recovery() {
    let bootstrap = weir_e2e::kafka_bootstrap().unwrap_or_else(|missing| panic!("{missing}"));
    let topic = Topic::create(&bootstrap, "moved-downstream", PARTITIONS);
    produce(&bootstrap, topic.name(), batch(0..PER_BATCH));

    let master = Master::start_default("moved_downstream");
    let mut worker_a = Worker::start(&master, "w-a", "1GiB");
    let out = master.dir().join("out");
    let moved = master.dir().join("moved");
    std::fs::create_dir_all(&moved).expect("the downstream directory");
    let job_file = write_file(
        master.dir(),
        "job.conf",
        &job_text(&bootstrap, topic.name(), &out),
    );
    let job_id = master.submit(&job_file);

    // The first batch is committed.
    let first = u64::try_from(PARTITIONS).unwrap_or_default() * PER_BATCH;
    let before_kill = master.wait_until("the first batch is committed", WAIT, || {
        let committed: u32 = ids(&[&out])?.values().sum();
        let job = master.try_job(&job_id)?;
        if u64::from(committed) == first {
            Ok(job)
        } else {
            Err(format!("{committed} of {first} rows committed; {job}"))
        }
    });
    let completed = last_completed(&before_kill);

    // A downstream consumer takes every committed file; then the worker dies.
    for file in visible_files(&out).unwrap_or_else(|error| master.fail(error)) {
        let name = file.file_name().expect("a file name").to_owned();
        std::fs::rename(&file, moved.join(name)).expect("move a committed file away");
    }
    worker_a.kill_9();
    let at_kill = master.job(&job_id);
    master.check(last_completed(&at_kill) == completed, || {
        format!(
            "checkpoint {} completed after the one that committed the moved files ({completed}) \
             before the kill, so recovery would not meet them; the machine is too slow for \
             CHECKPOINT_INTERVAL_MS = {CHECKPOINT_INTERVAL_MS}: {at_kill}",
            last_completed(&at_kill)
        )
    });

    // Another worker recovers from that checkpoint and the job runs on.
    let worker_b = Worker::start(&master, "w-b", "1GiB");
    master.wait_until("the job runs again on worker B", WAIT, || {
        let job = master.try_job(&job_id)?;
        let on_b = tasks(&job).first().is_some_and(|task| {
            text(task, "worker_id") == worker_b.id() && text(task, "state") == "Running"
        });
        if text(&job, "state") == "Running" && on_b {
            Ok(())
        } else {
            Err(format!("{job}"))
        }
    });
    let log = std::fs::read_to_string(worker_b.log_path()).unwrap_or_default();
    master.check(
        log.contains("committed earlier and moved away downstream"),
        || "worker B did not recover the moved files as committed (no warning in its log)".into(),
    );

    // The second batch is committed, and one more checkpoint passes to catch any duplicate.
    produce(&bootstrap, topic.name(), batch(PER_BATCH..2 * PER_BATCH));
    let all = 2 * first;
    let caught_up = master.wait_until("every record is committed", WAIT, || {
        let total: u32 = ids(&[&out, &moved])?.values().sum();
        let job = master.try_job(&job_id)?;
        if u64::from(total) >= all {
            Ok(last_completed(&job))
        } else {
            Err(format!("{total} of {all} rows; {job}"))
        }
    });
    master.wait_until("one more checkpoint completes", WAIT, || {
        let job = master.try_job(&job_id)?;
        if last_completed(&job) > caught_up && text(&job, "state") == "Running" {
            Ok(())
        } else {
            Err(format!("{job}"))
        }
    });

    let seen = ids(&[&out, &moved]).unwrap_or_else(|error| master.fail(error));
    let duplicates: Vec<_> = seen.iter().filter(|(_, count)| **count > 1).collect();
    let missing: Vec<_> = (0..PARTITIONS)
        .flat_map(|p| (0..2 * PER_BATCH).map(move |seq| (p, seq)))
        .filter(|id| !seen.contains_key(id))
        .collect();
    master.check(duplicates.is_empty() && missing.is_empty(), || {
        format!(
            "not exactly once: {} duplicated (first {:?}), {} missing (first {:?})",
            duplicates.len(),
            duplicates.first(),
            missing.len(),
            missing.first()
        )
    });
    master.check(seen.len() as u64 == all, || {
        format!("{} distinct ids, expected {all}", seen.len())
    });
}
