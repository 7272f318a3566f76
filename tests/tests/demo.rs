//! `weir demo` and `weir local` end to end: the built binary run as a user runs it, its output
//! files read back with plain std + serde_json (never Weir's sink code).
//!
//! Needs only the built binary (`cargo build -p weir-cli`; `./tests/run` does it): the demo
//! brings its own in-process Kafka, and the `weir local` job uses FakeSource.

use std::collections::BTreeSet;
use std::ffi::OsStr;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;
use weir_e2e::cluster::weir_binary;
use weir_e2e::unique_name;

/// `weir demo` must finish in under a minute with its defaults; a small run gets the same
/// bound, so a hang fails the test instead of stalling the suite.
const RUN_DEADLINE: Duration = Duration::from_secs(60);

/// A directory under the system temporary directory, removed when the test passes and kept
/// (its path in the failure message) when it fails.
struct Scratch(PathBuf);

impl Scratch {
    fn new(name: &str) -> Self {
        let dir = std::env::temp_dir().join(unique_name(&format!("weir-e2e-{name}")));
        std::fs::create_dir_all(&dir)
            .unwrap_or_else(|error| panic!("cannot create {}: {error}", dir.display()));
        Self(dir)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        if !std::thread::panicking() {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}

struct Run {
    success: bool,
    status: String,
    stdout: String,
    stderr: String,
}

impl Run {
    fn describe(&self, what: &str) -> String {
        format!(
            "`{what}` exited with {}\n--- stdout ---\n{}\n--- stderr ---\n{}",
            self.status,
            self.stdout.trim_end(),
            self.stderr.trim_end()
        )
    }
}

/// Runs `weir ARGS` with its output in files under `scratch`, killing it after
/// [`RUN_DEADLINE`].
fn run_weir<S: AsRef<OsStr>>(scratch: &Path, args: &[S]) -> Run {
    let stdout_path = scratch.join("weir.stdout");
    let stderr_path = scratch.join("weir.stderr");
    let create = |path: &Path| {
        File::create(path)
            .unwrap_or_else(|error| panic!("cannot create {}: {error}", path.display()))
    };
    let mut child = Command::new(weir_binary())
        .args(args)
        .stdin(Stdio::null())
        .stdout(create(&stdout_path))
        .stderr(create(&stderr_path))
        .env_remove("WEIR_MASTER")
        .env_remove("WEIR_MEMORY_LIMIT")
        .env_remove("WEIR_LOG_FORMAT")
        .spawn()
        .expect("cannot start the weir binary");
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().expect("cannot wait for weir") {
            break status.to_string();
        }
        if started.elapsed() > RUN_DEADLINE {
            let _ = child.kill();
            let _ = child.wait();
            break format!("no exit within {RUN_DEADLINE:?} (killed)");
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let read = |path: &Path| std::fs::read_to_string(path).unwrap_or_default();
    Run {
        success: status == "exit status: 0",
        status,
        stdout: read(&stdout_path),
        stderr: read(&stderr_path),
    }
}

/// Whether any component of `path` below `root` is hidden (dot or underscore prefixed), as
/// in-progress and temporary files are.
fn is_hidden(root: &Path, path: &Path) -> bool {
    path.strip_prefix(root)
        .unwrap_or(path)
        .components()
        .any(|part| {
            let part = part.as_os_str().to_string_lossy();
            part.starts_with('.') || part.starts_with('_')
        })
}

/// Every file under `dir`, recursively.
fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(dir) = pending.pop() {
        let entries = std::fs::read_dir(&dir)
            .unwrap_or_else(|error| panic!("cannot list {}: {error}", dir.display()));
        for entry in entries {
            let path = entry.expect("a directory entry").path();
            if path.is_dir() {
                pending.push(path);
            } else {
                files.push(path);
            }
        }
    }
    files.sort();
    files
}

/// The JSON rows of the committed files under `out`; fails the test if anything hidden
/// (in-progress or temporary) is left under it.
fn committed_rows(out: &Path, context: &str) -> Vec<Value> {
    let files = files_under(out);
    let hidden: Vec<&PathBuf> = files.iter().filter(|file| is_hidden(out, file)).collect();
    assert!(
        hidden.is_empty(),
        "in-progress or temporary files are visible under {}: {hidden:?}\n{context}",
        out.display()
    );
    assert!(
        !files.is_empty(),
        "no committed file under {}\n{context}",
        out.display()
    );
    let mut rows = Vec::new();
    for file in &files {
        let text = std::fs::read_to_string(file)
            .unwrap_or_else(|error| panic!("cannot read {}: {error}", file.display()));
        for (number, line) in text.lines().enumerate() {
            let row: Value = serde_json::from_str(line).unwrap_or_else(|error| {
                panic!(
                    "{}:{} is not a JSON row ({error}): {line}\n{context}",
                    file.display(),
                    number + 1
                )
            });
            rows.push(row);
        }
    }
    rows
}

#[test]
fn demo_commits_every_produced_row_exactly_once() {
    const ROWS: u64 = 3_000;
    let scratch = Scratch::new("demo");
    let dir = scratch.0.join("demo");
    let dir_arg = dir.display().to_string();
    let args = [
        "demo",
        "--dir",
        dir_arg.as_str(),
        "--rows",
        "3000",
        "--rate",
        "1500",
    ];
    let what = format!("weir {}", args.join(" "));
    // Twice: a re-run must clear the first run's output, not add to it.
    for attempt in 1..=2 {
        let run = run_weir(&scratch.0, &args);
        let context = format!("run {attempt}: {}", run.describe(&what));
        assert!(run.success, "{context}");

        let rows = committed_rows(&dir.join("out"), &context);
        let ids: Vec<u64> = rows
            .iter()
            .map(|row| {
                row["id"]
                    .as_u64()
                    .unwrap_or_else(|| panic!("a row without an integer id: {row}\n{context}"))
            })
            .collect();
        let distinct: BTreeSet<u64> = ids.iter().copied().collect();
        assert_eq!(
            ids.len() as u64,
            ROWS,
            "rows committed (duplicates?)\n{context}"
        );
        assert_eq!(
            distinct,
            (1..=ROWS).collect::<BTreeSet<u64>>(),
            "committed ids are not exactly 1..={ROWS}\n{context}"
        );
        for row in &rows {
            assert!(
                row["user"].is_string() && row["amount"].is_number() && row["ts"].is_i64(),
                "a row without the order fields: {row}\n{context}"
            );
        }
        let job_file = dir.join("job.conf");
        assert!(
            job_file.is_file(),
            "no job file at {}\n{context}",
            job_file.display()
        );
        assert!(
            run.stdout.contains(&job_file.display().to_string()),
            "the summary does not name the job file\n{context}"
        );
    }
}

#[test]
fn demo_never_clears_a_directory_it_did_not_make() {
    let scratch = Scratch::new("demo-foreign");
    let precious = scratch.0.join("precious.txt");
    std::fs::write(&precious, "keep").expect("write a file");
    let dir_arg = scratch.0.display().to_string();
    let run = run_weir(
        &scratch.0,
        &["demo", "--dir", dir_arg.as_str(), "--rows", "10"],
    );
    assert!(
        !run.success,
        "{}",
        run.describe("weir demo --dir <foreign>")
    );
    assert!(
        run.stderr.contains("not made by `weir demo`"),
        "{}",
        run.describe("weir demo --dir <foreign>")
    );
    assert!(
        precious.is_file(),
        "weir demo deleted a file it did not make"
    );
}

#[test]
fn local_runs_a_batch_job_to_the_end() {
    const ROWS_PER_SUBTASK: u64 = 400;
    const PARALLELISM: u64 = 2;
    let scratch = Scratch::new("local");
    let out = scratch.0.join("out");
    let job_file = scratch.0.join("batch.conf");
    let path = serde_json::Value::String(out.display().to_string()).to_string();
    std::fs::write(
        &job_file,
        format!(
            r#"
env {{
  parallelism = {PARALLELISM}
  job.mode = "BATCH"
  checkpoint.interval = 1000
}}
source {{
  FakeSource {{
    row.num = {ROWS_PER_SUBTASK}
    rows_per_second = 400
    schema = {{ fields {{ id = "bigint", name = "string" }} }}
  }}
}}
sink {{
  LocalFile {{
    path = {path}
    file_format_type = "json"
  }}
}}
"#
        ),
    )
    .expect("write the job file");
    let file_arg = job_file.display().to_string();
    let data_arg = scratch.0.join("master-data").display().to_string();
    let args = [
        "local",
        file_arg.as_str(),
        "--name",
        "batch",
        "--data-dir",
        data_arg.as_str(),
        "--memory-limit",
        "1GiB",
    ];
    let run = run_weir(&scratch.0, &args);
    let context = run.describe(&format!("weir {}", args.join(" ")));
    assert!(run.success, "{context}");
    assert!(run.stderr.contains("Finished"), "{context}");
    assert!(
        run.stderr.contains("web console: http://127.0.0.1:"),
        "weir local prints its master's console URL\n{context}"
    );

    let rows = committed_rows(&out, &context);
    let ids: BTreeSet<i64> = rows
        .iter()
        .map(|row| {
            row["id"]
                .as_i64()
                .unwrap_or_else(|| panic!("a row without an integer id: {row}\n{context}"))
        })
        .collect();
    assert_eq!(
        rows.len() as u64,
        ROWS_PER_SUBTASK * PARALLELISM,
        "rows committed\n{context}"
    );
    assert_eq!(ids.len(), rows.len(), "duplicate ids\n{context}");
}
