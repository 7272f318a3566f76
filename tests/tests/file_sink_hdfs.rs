//! Weir's `HdfsFile` sink against the real HDFS, driven directly as a subtask's runtime drives
//! it (write, prepare_commit, commit, recover). What it committed is read back with Hadoop's
//! own shell (`FsShell -ls -R`, `-cat`, and `-text`, which decompresses gzip): never with Weir.

use std::collections::BTreeMap;

use weir_connectors::{PendingFile, SinkWriter, SubtaskInfo, open_sink};
use weir_core::config::{JobConfig, ParsePolicy, parse_job};
use weir_core::row::{Row, Value};
use weir_e2e::stack::{HdfsEntry, list_recursive, read_files, remove_recursive};

const ROWS_PER_CHECKPOINT: i64 = 1500;

/// A job writing to a fresh directory of the test HDFS with `options` added to the sink.
struct Job {
    base: String,
    config: JobConfig,
    job_id: String,
}

impl Job {
    fn new(name: &str, options: &str) -> Self {
        let url = weir_e2e::hdfs_url().unwrap_or_else(|missing| panic!("{missing}"));
        let unique = weir_e2e::unique_name(name);
        let base = format!("/weir-e2e/file-sink/{unique}");
        let text = format!(
            r#"
            source {{ FakeSource {{ unbounded = true, schema = {{ fields {{ id = bigint, name = string, score = double }} }} }} }}
            sink {{
              HdfsFile {{
                fs.defaultFS = "{url}"
                path = "{base}/out"
                tmp_path = "{base}/tmp"
                batch_size = 1000
                write.buffer_bytes = 8KiB
                {options}
              }}
            }}
            "#
        );
        let config = parse_job(&text, "file_sink_hdfs.conf", &ParsePolicy::SelfContained)
            .unwrap_or_else(|e| panic!("{e}"));
        Job {
            base,
            config,
            job_id: unique.replace('-', ""),
        }
    }

    fn writer(&self, attempt: u32) -> Box<dyn SinkWriter> {
        let subtask = SubtaskInfo {
            job_id: self.job_id.clone(),
            subtask_index: 1,
            parallelism: 2,
            attempt,
        };
        open_sink(
            &self.config.sink,
            &self.config.source.output_schema(),
            &subtask,
        )
        .unwrap_or_else(|error| panic!("open_sink: {error}"))
    }

    /// Files (not directories) under `dir` of the job's base directory, as FsShell lists them.
    fn files(&self, dir: &str) -> Vec<HdfsEntry> {
        match list_recursive(&format!("{}/{dir}", self.base)) {
            Ok(entries) => entries.into_iter().filter(|entry| !entry.is_dir).collect(),
            // A directory that was never created has no files.
            Err(error) if error.contains("No such file or directory") => Vec::new(),
            Err(error) => panic!("{error}"),
        }
    }
}

impl Drop for Job {
    fn drop(&mut self) {
        remove_recursive(&self.base);
    }
}

/// Row `id`: a name with characters JSON must escape, a score that is not a round number.
fn row(id: i64) -> Row {
    Row::new(vec![
        Value::Bigint(id),
        Value::String(format!("name \"{id}\" é")),
        Value::Double(id as f64 / 8.0),
    ])
}

async fn write(writer: &mut Box<dyn SinkWriter>, ids: std::ops::Range<i64>) {
    for id in ids {
        writer
            .write(row(id))
            .await
            .unwrap_or_else(|e| panic!("write: {e}"));
    }
}

async fn prepare(writer: &mut Box<dyn SinkWriter>, checkpoint: u64) -> Vec<PendingFile> {
    writer
        .prepare_commit(checkpoint)
        .await
        .unwrap_or_else(|e| panic!("prepare_commit({checkpoint}): {e}"))
}

async fn commit(writer: &mut Box<dyn SinkWriter>, files: Vec<PendingFile>) {
    writer
        .commit(files)
        .await
        .unwrap_or_else(|e| panic!("commit: {e}"));
}

/// The rows of committed files, by id, parsed from what FsShell printed.
fn rows_of(files: &[HdfsEntry], json: bool) -> BTreeMap<i64, (String, f64)> {
    let contents = read_files(files).unwrap_or_else(|e| panic!("{e}"));
    let mut rows = BTreeMap::new();
    for (file, content) in files.iter().zip(contents) {
        let text = String::from_utf8(content).unwrap_or_else(|e| panic!("{}: {e}", file.path));
        for line in text.lines() {
            let (id, name, score) = if json {
                let value: serde_json::Value = serde_json::from_str(line)
                    .unwrap_or_else(|e| panic!("{}: {e}: {line}", file.path));
                (
                    value["id"].as_i64().unwrap_or(-1),
                    value["name"].as_str().unwrap_or_default().to_string(),
                    value["score"].as_f64().unwrap_or(f64::NAN),
                )
            } else {
                let fields: Vec<&str> = line.split('\u{1}').collect();
                assert_eq!(fields.len(), 3, "{}: {line:?}", file.path);
                (
                    fields[0].parse().unwrap_or(-1),
                    fields[1].to_string(),
                    fields[2].parse().unwrap_or(f64::NAN),
                )
            };
            let duplicate = rows.insert(id, (name, score));
            assert!(duplicate.is_none(), "row {id} committed twice");
        }
    }
    rows
}

fn expected(ids: std::ops::Range<i64>) -> BTreeMap<i64, (String, f64)> {
    ids.map(|id| (id, (format!("name \"{id}\" é"), id as f64 / 8.0)))
        .collect()
}

/// Names of committed files: `<job>_<subtask>_<checkpoint>_<seq><extension>`.
fn names(files: &[HdfsEntry]) -> Vec<String> {
    files.iter().map(|file| file.name().to_string()).collect()
}

async fn two_checkpoints(options: &str, extension: &str, json: bool) {
    let job = Job::new("file-sink", options);
    let mut writer = job.writer(1);
    writer
        .recover(Default::default())
        .await
        .unwrap_or_else(|e| panic!("recover: {e}"));

    write(&mut writer, 0..ROWS_PER_CHECKPOINT).await;
    let first = prepare(&mut writer, 1).await;
    assert_eq!(first.len(), 2, "1500 rows at batch_size 1000: {first:?}");
    assert!(
        job.files("out").is_empty(),
        "nothing is visible before the commit"
    );
    commit(&mut writer, first).await;

    write(&mut writer, ROWS_PER_CHECKPOINT..2 * ROWS_PER_CHECKPOINT).await;
    let second = prepare(&mut writer, 2).await;
    commit(&mut writer, second.clone()).await;
    // The master may deliver a commit twice (e.g. after it restarted): no harm.
    commit(&mut writer, second).await;

    let committed = job.files("out");
    let id = &job.job_id;
    assert_eq!(
        names(&committed),
        [0, 1, 2, 3].map(|seq| format!("{id}_1_{}_{seq}{extension}", if seq < 2 { 1 } else { 2 }))
    );
    assert_eq!(
        rows_of(&committed, json),
        expected(0..2 * ROWS_PER_CHECKPOINT)
    );
    assert!(
        job.files("tmp").is_empty(),
        "committed files leave nothing behind"
    );
}

#[tokio::test]
async fn gzip_json_is_committed_across_two_checkpoints() {
    two_checkpoints(
        "file_format_type = json\n compress_codec = gzip",
        ".json.gz",
        true,
    )
    .await;
}

#[tokio::test]
async fn text_is_committed_across_two_checkpoints() {
    two_checkpoints("", ".txt", false).await;
}

#[tokio::test]
async fn recovery_commits_the_restored_checkpoint_and_removes_leftovers() {
    let job = Job::new("file-sink-recovery", "");
    let mut first = job.writer(1);
    first
        .recover(Default::default())
        .await
        .unwrap_or_else(|e| panic!("recover: {e}"));
    write(&mut first, 0..500).await;
    let completed = prepare(&mut first, 1).await;
    write(&mut first, 500..1000).await;
    let never_completed = prepare(&mut first, 2).await;
    write(&mut first, 1000..1200).await;
    first.flush().await.unwrap_or_else(|e| panic!("flush: {e}"));
    // The attempt dies: checkpoint 1 completed but was never committed, checkpoint 2 failed,
    // and an in-progress file is still open.
    drop(first);
    let leftovers = names(&job.files("tmp"));
    assert_eq!(leftovers.len(), 3, "{leftovers:?}");
    assert_eq!(never_completed.len(), 2);

    let mut second = job.writer(2);
    second
        .recover(completed.clone().into())
        .await
        .unwrap_or_else(|e| panic!("recover: {e}"));
    assert!(job.files("tmp").is_empty(), "leftovers of attempt 1 remain");
    let committed = job.files("out");
    assert_eq!(names(&committed), [format!("{}_1_1_0.txt", job.job_id)]);
    assert_eq!(rows_of(&committed, false), expected(0..500));

    // Attempt 2 resumes from checkpoint 1: rows 500.. again, into checkpoint 2.
    write(&mut second, 500..1000).await;
    let files = prepare(&mut second, 2).await;
    commit(&mut second, files).await;
    // A third attempt restoring checkpoint 1 again finds it committed already.
    job.writer(3)
        .recover(completed.into())
        .await
        .unwrap_or_else(|e| panic!("recover again: {e}"));
    assert_eq!(rows_of(&job.files("out"), false), expected(0..1000));
}

/// A partitioned sink keeping one file open on HDFS closes a file every time the next row goes
/// to another partition directory (the least recently used file is evicted): every close must
/// return, and every row is committed once, in its directory.
async fn evicting(options: &str) {
    let job = Job::new(
        "file-sink-evict",
        &format!(
            "have_partition = true\n partition_by = [\"id\"]\n max_open_files = 1\n {options}"
        ),
    );
    let mut writer = job.writer(1);
    writer
        .recover(Default::default())
        .await
        .unwrap_or_else(|e| panic!("recover: {e}"));
    let rows = 0..12;
    let written = tokio::time::timeout(std::time::Duration::from_secs(60), async {
        write(&mut writer, rows.clone()).await;
        prepare(&mut writer, 1).await
    })
    .await
    .unwrap_or_else(|_| panic!("writing 12 rows into 12 partition directories took over 60 s"));
    assert_eq!(written.len(), 12, "one file per partition: {written:?}");
    commit(&mut writer, written).await;
    let committed = job.files("out");
    let directories: Vec<String> = committed
        .iter()
        .map(|file| file.path.rsplit('/').nth(1).unwrap_or_default().to_string())
        .collect();
    let expected_dirs: Vec<String> = rows.clone().map(|id| format!("id={id}")).collect();
    let mut sorted = directories.clone();
    sorted.sort_by_key(|dir| dir.trim_start_matches("id=").parse::<i64>().unwrap_or(-1));
    assert_eq!(sorted, expected_dirs);
}

#[tokio::test]
async fn evicted_text_files_close_on_hdfs() {
    evicting("").await;
}

#[tokio::test]
async fn evicted_parquet_files_close_on_hdfs() {
    evicting("file_format_type = parquet").await;
}

/// Twelve partition directories written in turn, all open at once, with an in-flight bound
/// far below what their pipelines could hold: files are synced (`hsync`) to stay within it,
/// none is closed early, and every row is committed once, in its directory.
#[tokio::test]
async fn in_flight_bytes_of_open_hdfs_files_stay_within_their_bound() {
    const LIMIT: u64 = 32 << 10;
    const ROUNDS: usize = 900;
    let job = Job::new(
        "file-sink-in-flight",
        "have_partition = true\n partition_by = [\"id\"]\n write.max_in_flight_bytes = 32KiB",
    );
    let mut writer = job.writer(1);
    writer
        .recover(Default::default())
        .await
        .unwrap_or_else(|e| panic!("recover: {e}"));
    let stats = writer.buffer_stats();
    assert_eq!(stats.max_in_flight(), LIMIT);
    let mut highest = 0;
    for _ in 0..ROUNDS {
        for id in 0..12 {
            writer
                .write(row(id))
                .await
                .unwrap_or_else(|e| panic!("write: {e}"));
            highest = highest.max(stats.in_flight());
        }
    }
    // One 8 KiB output buffer may pass the bound when nothing else is left to sync.
    assert!(
        highest > 8 << 10 && highest <= LIMIT + (8 << 10),
        "in flight peaked at {highest} B"
    );
    assert_eq!(stats.open_files(), 12, "no file was closed early");
    let files = prepare(&mut writer, 1).await;
    assert_eq!(files.len(), 12, "one file per directory: {files:?}");
    assert_eq!(stats.in_flight(), 0);
    commit(&mut writer, files).await;

    let committed = job.files("out");
    let contents = read_files(&committed).unwrap_or_else(|e| panic!("{e}"));
    for (file, content) in committed.iter().zip(contents) {
        let dir = file.path.rsplit('/').nth(1).unwrap_or_default().to_string();
        let text = String::from_utf8(content).unwrap_or_else(|e| panic!("{}: {e}", file.path));
        // The partition field is not written in the file (is_partition_field_write_in_file
        // is false): the name says the id, `name "<id>" é`.
        let ids: Vec<&str> = text
            .lines()
            .map(|line| line.split('"').nth(1).unwrap_or_default())
            .collect();
        assert_eq!(ids.len(), ROUNDS, "{}", file.path);
        assert!(
            ids.iter().all(|id| dir == format!("id={id}")),
            "{}: rows of another directory",
            file.path
        );
    }
    assert_eq!(committed.len(), 12);
}
