//! `weir demo`: the main job — Kafka → files, rate-limited, exactly once — with no external
//! service. An in-process Kafka (librdkafka's MockCluster) gets a backlog of order records,
//! and a master and a worker in this process ([`crate::local`]) copy it into JSON files under
//! `DIR/out`, checkpointing every 2 s. When the backlog is read and one more checkpoint has
//! completed, the job is stopped with a final checkpoint and the committed files are read
//! back and checked: every produced id exactly once.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use clap::Args;
use tokio::time::Instant;
use weir_connectors::kafka::mock::{MockKafka, produce};
use weir_core::reservation::format_bytes;
use weir_proto::v1 as pb;

use crate::local::{FollowEnd, Interrupts, LocalCluster, Progress, follow, stop_job, submit};
use crate::output::job_state;

#[derive(Args)]
pub struct DemoArgs {
    /// Order records to produce into the in-process Kafka before the job starts.
    #[arg(long, default_value_t = 60_000, value_parser = clap::value_parser!(u64).range(1..))]
    rows: u64,
    /// Job-wide read limit, rows per second (`env.read_limit.rows_per_second`).
    #[arg(long, default_value_t = 5_000, value_parser = clap::value_parser!(u64).range(1..))]
    rate: u64,
    /// Directory for the job file and the output files; cleared at the start of every run
    /// (only if it is empty or an earlier `weir demo` made it).
    #[arg(long, default_value = "weir-demo")]
    dir: PathBuf,
}

const TOPIC: &str = "orders";
const PARTITIONS: i32 = 4;
const CHECKPOINT_INTERVAL_MS: u64 = 2_000;
/// Marks a directory as made by `weir demo`, so that clearing it never deletes a user's files.
const MARKER: &str = ".weir-demo";
/// The MockCluster keeps 5 MiB of log per partition and silently drops older records; stay
/// well below so that the backlog is whole when the job reads it.
const MOCK_PARTITION_BYTES: usize = 3 * 1024 * 1024;
/// After the backlog is read, how long to wait for a checkpoint before stopping anyway.
const CHECKPOINT_GRACE: Duration = Duration::from_millis(3 * CHECKPOINT_INTERVAL_MS + 4_000);
/// Committed files listed by name; the rest are counted.
const FILES_LISTED: usize = 8;

pub async fn run(args: DemoArgs) -> anyhow::Result<ExitCode> {
    let started = Instant::now();
    let dir = prepare_dir(&args.dir)?;
    let out = dir.join("out");

    let kafka = MockKafka::new(1).context("cannot start the in-process Kafka")?;
    kafka
        .create_topic(TOPIC, PARTITIONS)
        .context("cannot create the demo topic")?;
    let bootstrap = kafka.bootstrap_servers().to_string();
    eprintln!(
        "in-process Kafka at {bootstrap}: producing {} order records into topic `{TOPIC}` ({PARTITIONS} partitions)…",
        args.rows
    );
    produce_backlog(&bootstrap, args.rows).await?;

    let job_file = dir.join("job.conf");
    let text = job_text(&bootstrap, &out, args.rate)?;
    std::fs::write(&job_file, &text)
        .with_context(|| format!("cannot write {}", job_file.display()))?;
    let origin = job_file.display().to_string();
    weir_core::config::parse_job(
        &text,
        &origin,
        &weir_core::config::ParsePolicy::SelfContained,
    )?;
    eprintln!(
        "running {origin}: Kafka → {} at {} rows/s, checkpoint every {} s",
        out.display(),
        args.rate,
        CHECKPOINT_INTERVAL_MS / 1000
    );

    let mut interrupts = Interrupts::listen();
    let cluster = LocalCluster::start(None, None).await?;
    let outcome = run_job(&cluster, &text, &origin, args.rows, &mut interrupts).await;
    cluster.shutdown().await;
    // Kafka clients of the embedded master and worker may still be closing when the servers
    // have returned, and a vanished broker makes them log a burst of connection errors. The
    // brokers therefore live until the process exits, which follows the report.
    std::mem::forget(kafka);
    let last = outcome?;

    let committed = read_committed(&out)?;
    let ok = report(&ReportInput {
        dir: &dir,
        out: &out,
        job_file: &job_file,
        produced: args.rows,
        last: &last,
        committed: &committed,
        elapsed: started.elapsed(),
    })?;
    Ok(if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// Clears `dir` (only when empty or made by an earlier demo) and returns its absolute path.
fn prepare_dir(dir: &Path) -> anyhow::Result<PathBuf> {
    if dir.exists() {
        anyhow::ensure!(dir.is_dir(), "{} is not a directory", dir.display());
        let mut entries = std::fs::read_dir(dir)
            .with_context(|| format!("cannot list {}", dir.display()))?
            .collect::<Result<Vec<_>, _>>()?;
        anyhow::ensure!(
            entries.is_empty() || dir.join(MARKER).is_file(),
            "{} is not empty and was not made by `weir demo`; choose another --dir",
            dir.display()
        );
        for entry in entries.drain(..) {
            let path = entry.path();
            let removed = if entry.file_type()?.is_dir() {
                std::fs::remove_dir_all(&path)
            } else {
                std::fs::remove_file(&path)
            };
            removed.with_context(|| format!("cannot clear {}", path.display()))?;
        }
    }
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    std::fs::write(
        dir.join(MARKER),
        "Made by `weir demo`, which clears this directory on every run.\n",
    )?;
    dir.canonicalize()
        .with_context(|| format!("cannot resolve {}", dir.display()))
}

/// One order record, as JSON. Deterministic, so reruns produce the same data.
fn order(id: u64) -> String {
    let user = id.wrapping_mul(2_654_435_761) % 1_000;
    let cents = id.wrapping_mul(7_919) % 100_000;
    format!(
        r#"{{"id":{id},"user":"user-{user:03}","amount":{}.{:02},"ts":{}}}"#,
        cents / 100,
        cents % 100,
        1_700_000_000_000 + id * 10
    )
}

/// Produces ids `1..=rows` to partition `id % PARTITIONS` and waits for the acknowledgements.
async fn produce_backlog(bootstrap: &str, rows: u64) -> anyhow::Result<()> {
    let mut partitions: Vec<Vec<Vec<u8>>> = vec![Vec::new(); PARTITIONS as usize];
    for id in 1..=rows {
        partitions[(id % PARTITIONS as u64) as usize].push(order(id).into_bytes());
    }
    for values in &partitions {
        let bytes: usize = values.iter().map(Vec::len).sum();
        anyhow::ensure!(
            bytes <= MOCK_PARTITION_BYTES,
            "{rows} rows do not fit the in-process Kafka, which keeps only 5 MiB per partition: use --rows {} or fewer",
            rows * MOCK_PARTITION_BYTES as u64 / bytes as u64
        );
    }
    let producers: Vec<_> = partitions
        .into_iter()
        .enumerate()
        .map(|(partition, values)| {
            let bootstrap = bootstrap.to_string();
            // librdkafka's flush blocks; keep it off the async workers.
            tokio::task::spawn_blocking(move || {
                produce(&bootstrap, TOPIC, partition as i32, &values, None)
            })
        })
        .collect();
    for producer in producers {
        producer
            .await
            .context("a producer thread failed")?
            .context("cannot produce the backlog")?;
    }
    Ok(())
}

/// A HOCON quoted string (JSON escaping is valid HOCON).
fn quoted(text: &str) -> String {
    serde_json::Value::String(text.to_string()).to_string()
}

fn job_text(bootstrap: &str, out: &Path, rate: u64) -> anyhow::Result<String> {
    let out = out
        .to_str()
        .with_context(|| format!("the demo path {} is not UTF-8", out.display()))?;
    Ok(format!(
        r#"# Written by `weir demo`. The in-process Kafka it points at lived only as long as the demo:
# set bootstrap.servers to a real broker, then run it with `weir local THIS_FILE`
# (or `weir submit` on a cluster).
env {{
  parallelism = 2
  job.mode = "STREAMING"
  checkpoint.interval = {CHECKPOINT_INTERVAL_MS}
  # Job-wide, acquired before a record is buffered: it slows the Kafka reads themselves.
  read_limit.rows_per_second = {rate}
}}
source {{
  Kafka {{
    bootstrap.servers = {bootstrap}
    topic = "{TOPIC}"
    consumer.group = "weir-demo"
    start_mode = "earliest"
    format = "json"
    schema = {{ fields {{ id = "bigint", user = "string", amount = "double", ts = "bigint" }} }}
  }}
}}
sink {{
  # Files become visible under `path` only when a checkpoint commits them; until then they
  # are written under `tmp_path` (default: `.weir-tmp` beside `path`).
  LocalFile {{
    path = {out}
    file_format_type = "json"
  }}
}}
"#,
        bootstrap = quoted(bootstrap),
        out = quoted(out),
    ))
}

async fn run_job(
    cluster: &LocalCluster,
    text: &str,
    origin: &str,
    rows: u64,
    interrupts: &mut Interrupts,
) -> anyhow::Result<crate::local::Snapshot> {
    let mut client = cluster.client();
    let job_id = submit(&mut client, text, origin, Some("weir-demo".into())).await?;
    let mut progress = Progress::new(Duration::from_secs(1), true);
    progress.message(&format!(
        "job {job_id} submitted (inspect it from another shell: `weir job {job_id} --master {}`); Ctrl-C stops it with a final checkpoint",
        cluster.master_url
    ));
    // Set when the backlog has been read: the checkpoint id and time at that moment.
    let mut drained: Option<(u64, Instant)> = None;
    let end = follow(&mut client, &job_id, &mut progress, interrupts, |now| {
        if now.state != pb::JobState::Running {
            return false;
        }
        match drained {
            None => {
                if now.lag == 0 && now.rows_read > 0 {
                    drained = Some((now.last_checkpoint_id, Instant::now()));
                }
                false
            }
            Some((checkpoint, at)) => {
                now.last_checkpoint_id > checkpoint || at.elapsed() >= CHECKPOINT_GRACE
            }
        }
    })
    .await?;
    match end {
        FollowEnd::Ended(last) => Ok(last),
        FollowEnd::Interrupted => stop_job(&mut client, &job_id, &mut progress, interrupts).await,
        FollowEnd::Reached(now) => {
            let checkpoint = drained.map_or(0, |(checkpoint, _)| checkpoint);
            if now.last_checkpoint_id > checkpoint {
                progress.message(&format!(
                    "backlog read ({rows} rows, lag 0) and checkpoint {} completed; stopping the job with a final checkpoint",
                    now.last_checkpoint_id
                ));
            } else {
                progress.message(&format!(
                    "warning: backlog read but no checkpoint completed within {CHECKPOINT_GRACE:?}; stopping the job anyway"
                ));
            }
            stop_job(&mut client, &job_id, &mut progress, interrupts).await
        }
    }
}

/// The committed files under `out` and what they hold.
#[derive(Debug, Default)]
struct Committed {
    files: Vec<PathBuf>,
    bytes: u64,
    rows: u64,
    distinct_ids: u64,
    /// Lines that are not a JSON object with an integer `id`.
    malformed: u64,
    /// Files under hidden entries (in-progress or temporary files) of `out`; an empty hidden
    /// directory (a sink's temporary directory) is not one.
    hidden: Vec<PathBuf>,
}

/// Reads every committed file under `out` (hidden entries are in-progress, not committed).
fn read_committed(out: &Path) -> anyhow::Result<Committed> {
    let mut committed = Committed::default();
    let mut ids = HashSet::new();
    // (directory, whether it is or lies under a hidden entry)
    let mut pending = vec![(out.to_path_buf(), false)];
    while let Some((dir, in_hidden)) = pending.pop() {
        let entries = match std::fs::read_dir(&dir) {
            Ok(entries) => entries,
            // No checkpoint committed anything: the sink never created `out`.
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => continue,
            Err(error) => return Err(error).context(format!("cannot list {}", dir.display())),
        };
        for entry in entries {
            let path = entry?.path();
            let hidden = in_hidden
                || path
                    .file_name()
                    .and_then(|name| name.to_str())
                    .is_some_and(|name| name.starts_with('.') || name.starts_with('_'));
            if path.is_dir() {
                pending.push((path, hidden));
            } else if hidden {
                committed.hidden.push(path);
            } else {
                let text = std::fs::read_to_string(&path)
                    .with_context(|| format!("cannot read {}", path.display()))?;
                committed.bytes += text.len() as u64;
                for line in text.lines().filter(|line| !line.trim().is_empty()) {
                    committed.rows += 1;
                    let id = serde_json::from_str::<serde_json::Value>(line)
                        .ok()
                        .and_then(|row| row["id"].as_i64());
                    match id {
                        Some(id) => {
                            ids.insert(id);
                        }
                        None => committed.malformed += 1,
                    }
                }
                committed.files.push(path);
            }
        }
    }
    committed.files.sort();
    committed.distinct_ids = ids.len() as u64;
    Ok(committed)
}

struct ReportInput<'a> {
    dir: &'a Path,
    out: &'a Path,
    job_file: &'a Path,
    produced: u64,
    last: &'a crate::local::Snapshot,
    committed: &'a Committed,
    elapsed: Duration,
}

/// Prints what the demo did on stdout; returns whether the files hold exactly the backlog.
fn report(input: &ReportInput<'_>) -> anyhow::Result<bool> {
    let ReportInput {
        dir,
        out,
        job_file,
        produced,
        last,
        committed,
        elapsed,
    } = input;
    let out_text = out.display();
    out!()?;
    out!(
        "job {} after {:.1} s (last checkpoint {}); {produced} rows produced",
        job_state(last.state as i32),
        elapsed.as_secs_f64(),
        last.last_checkpoint_id,
    )?;
    out!(
        "committed: {} files, {} rows, {} in {out_text}",
        committed.files.len(),
        committed.rows,
        format_bytes(committed.bytes)
    )?;
    for file in committed.files.iter().take(FILES_LISTED) {
        let size = std::fs::metadata(file).map_or(0, |meta| meta.len());
        out!("  {}  {}", file.display(), format_bytes(size))?;
    }
    if committed.files.len() > FILES_LISTED {
        out!("  … and {} more", committed.files.len() - FILES_LISTED)?;
    }
    let exact = committed.rows == *produced
        && committed.distinct_ids == *produced
        && committed.malformed == 0
        && committed.hidden.is_empty();
    if exact {
        out!("every produced id is there exactly once; no in-progress file is visible")?;
    } else {
        out!(
            "MISMATCH: {} rows, {} distinct ids, {} malformed lines, {} hidden entries under {out_text} (expected {produced} rows, each id once, none hidden)",
            committed.rows,
            committed.distinct_ids,
            committed.malformed,
            committed.hidden.len()
        )?;
    }
    if let Some(first) = committed.files.first() {
        out!()?;
        out!("look at them:")?;
        out!("  ls -l {out_text}")?;
        out!("  head -n 3 {}", first.display())?;
        out!("  cat {out_text}/*.json | wc -l")?;
        out!("  jq -s 'map(.amount) | add' {out_text}/*.json        # total amount")?;
        out!("  jq -c 'select(.user == \"user-042\")' {out_text}/*.json")?;
    }
    out!()?;
    out!("the job it ran: {}", job_file.display())?;
    out!(
        "  point bootstrap.servers at a real Kafka and run it with `weir local {}`",
        job_file.display()
    )?;
    out!(
        "`weir demo` clears {} at the start of every run.",
        dir.display()
    )?;
    Ok(exact)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn orders_are_json_with_the_schema_fields() {
        let row: serde_json::Value = serde_json::from_str(&order(42)).unwrap();
        assert_eq!(row["id"], 42);
        assert!(row["user"].as_str().unwrap().starts_with("user-"));
        assert!(row["amount"].is_f64());
        assert!(row["ts"].is_i64());
    }

    #[test]
    fn job_text_parses_and_quotes_paths() {
        let text = job_text("127.0.0.1:1234", Path::new("/tmp/a \"b\"/out"), 5000).unwrap();
        assert!(text.contains(r#"path = "/tmp/a \"b\"/out""#), "{text}");
        assert!(text.contains("read_limit.rows_per_second = 5000"), "{text}");
        let job = weir_core::config::parse_job(
            &text,
            "demo",
            &weir_core::config::ParsePolicy::SelfContained,
        )
        .unwrap();
        assert_eq!(job.sink.plugin_name(), "LocalFile");
        assert_eq!(job.env.parallelism, 2);
    }

    #[test]
    fn a_foreign_directory_is_never_cleared() {
        let temp = tempfile::tempdir().unwrap();
        std::fs::write(temp.path().join("precious.txt"), "keep").unwrap();
        let error = prepare_dir(temp.path()).unwrap_err();
        assert!(
            error.to_string().contains("not made by `weir demo`"),
            "{error}"
        );
        assert!(temp.path().join("precious.txt").is_file());
    }

    #[test]
    fn a_demo_directory_is_cleared() {
        let temp = tempfile::tempdir().unwrap();
        let dir = temp.path().join("demo");
        prepare_dir(&dir).unwrap();
        std::fs::create_dir_all(dir.join("out")).unwrap();
        std::fs::write(dir.join("out/old.json"), "{}").unwrap();
        prepare_dir(&dir).unwrap();
        assert!(!dir.join("out").exists());
        assert!(dir.join(MARKER).is_file());
    }

    #[test]
    fn committed_files_are_read_back_and_hidden_ones_reported() {
        let temp = tempfile::tempdir().unwrap();
        let out = temp.path();
        std::fs::write(out.join("j_0_1_0.json"), "{\"id\":1}\n{\"id\":2}\n").unwrap();
        std::fs::write(out.join(".in-progress.json"), "{\"id\":3}\n").unwrap();
        std::fs::create_dir_all(out.join(".weir-tmp/empty")).unwrap();
        let committed = read_committed(out).unwrap();
        assert_eq!(committed.files.len(), 1);
        assert_eq!(committed.rows, 2);
        assert_eq!(committed.distinct_ids, 2);
        assert_eq!(committed.hidden.len(), 1);
    }
}
