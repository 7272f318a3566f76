//! File sink tests on the local file system, in a temporary directory. Files are read back
//! with std and flate2 and parsed by hand, never with the sink's own encoder.

use std::io::Read as _;
use std::path::{Path, PathBuf};

use weir_core::config::{CompressCodec, FileFormat, FileSinkConfig, FileSystemKind};
use weir_core::row::{Row, Value};
use weir_core::schema::{DataType, Schema};

use super::*;
use crate::context::{Discard, PendingFile, Restored, SinkWriter};

struct Fixture {
    dir: tempfile::TempDir,
    config: FileSinkConfig,
}

impl Fixture {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let config = FileSinkConfig::new(dir.path().join("out").to_string_lossy().to_string());
        Fixture { dir, config }
    }

    fn out(&self) -> PathBuf {
        self.dir.path().join("out")
    }

    fn tmp(&self) -> PathBuf {
        self.dir.path().join(".weir-tmp")
    }

    fn sink(&self, attempt: u32) -> FileSink {
        let subtask = SubtaskInfo {
            job_id: "job1".into(),
            subtask_index: 2,
            parallelism: 4,
            attempt,
        };
        open(&self.config, FileSystemKind::Local, &schema(), &subtask).unwrap()
    }
}

fn schema() -> Schema {
    Schema::new([
        ("id", DataType::Bigint),
        ("name", DataType::String),
        ("day", DataType::String),
    ])
}

fn row(id: i64) -> Row {
    Row::new(vec![
        Value::Bigint(id),
        Value::String(format!("n{id}")),
        Value::String(format!("d{}", id % 2)),
    ])
}

async fn write(sink: &mut FileSink, ids: std::ops::Range<i64>) {
    for id in ids {
        sink.write(row(id)).await.unwrap();
    }
}

/// Every file below `dir`, relative, sorted.
fn files(dir: &Path) -> Vec<String> {
    fn walk(base: &Path, dir: &Path, out: &mut Vec<String>) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        for entry in entries {
            let path = entry.unwrap().path();
            if path.is_dir() {
                walk(base, &path, out);
            } else {
                out.push(
                    path.strip_prefix(base)
                        .unwrap()
                        .to_string_lossy()
                        .to_string(),
                );
            }
        }
    }
    let mut out = Vec::new();
    walk(dir, dir, &mut out);
    out.sort();
    out
}

fn read(path: &Path) -> String {
    let bytes = std::fs::read(path).unwrap();
    if path.extension().is_some_and(|ext| ext == "gz") {
        let mut text = String::new();
        flate2::read::GzDecoder::new(bytes.as_slice())
            .read_to_string(&mut text)
            .unwrap();
        text
    } else {
        String::from_utf8(bytes).unwrap()
    }
}

async fn checkpoint(sink: &mut FileSink, id: u64) -> Vec<PendingFile> {
    let files = sink.prepare_commit(id).await.unwrap();
    sink.commit(files.clone()).await.unwrap();
    files
}

#[tokio::test]
async fn text_is_verbatim_with_seatunnel_delimiter() {
    let fixture = Fixture::new();
    let mut sink = fixture.sink(1);
    sink.write(Row::new(vec![
        Value::Bigint(1),
        Value::String("a,b \"c\"".into()),
        Value::Null,
    ]))
    .await
    .unwrap();
    write(&mut sink, 2..4).await;
    let files = checkpoint(&mut sink, 7).await;
    assert_eq!(files.len(), 1);
    assert!(
        files[0].final_path.ends_with("/out/job1_2_7_0.txt"),
        "{files:?}"
    );
    let text = read(&fixture.out().join("job1_2_7_0.txt"));
    let rows: Vec<Vec<&str>> = text
        .strip_suffix('\n')
        .unwrap()
        .split('\n')
        .map(|line| line.split('\u{1}').collect())
        .collect();
    assert_eq!(
        rows,
        [
            vec!["1", "a,b \"c\"", ""],
            vec!["2", "n2", "d0"],
            vec!["3", "n3", "d1"]
        ]
    );
}

#[tokio::test]
async fn csv_quotes_as_rfc_4180_and_keeps_empty_apart_from_null() {
    let mut fixture = Fixture::new();
    fixture.config.file_format_type = FileFormat::Csv;
    let mut sink = fixture.sink(1);
    sink.write(Row::new(vec![
        Value::Bigint(1),
        Value::String("say \"hi\",\nbye".into()),
        Value::String(String::new()),
    ]))
    .await
    .unwrap();
    sink.write(Row::new(vec![
        Value::Bigint(2),
        Value::Null,
        Value::String("x".into()),
    ]))
    .await
    .unwrap();
    checkpoint(&mut sink, 1).await;
    assert_eq!(
        read(&fixture.out().join("job1_2_1_0.csv")),
        "1,\"say \"\"hi\"\",\nbye\",\"\"\n2,,x\n"
    );
}

#[tokio::test]
async fn enable_header_write_starts_every_text_and_csv_file_with_the_column_names() {
    let mut fixture = Fixture::new();
    fixture.config.file_format_type = FileFormat::Csv;
    fixture.config.enable_header_write = true;
    fixture.config.batch_size = 2;
    fixture.config.field_delimiter = Some(";".into());
    let mut sink = fixture.sink(1);
    write(&mut sink, 0..3).await;
    checkpoint(&mut sink, 1).await;
    assert_eq!(
        read(&fixture.out().join("job1_2_1_0.csv")),
        "id;name;day\n0;n0;d0\n1;n1;d1\n"
    );
    assert_eq!(
        read(&fixture.out().join("job1_2_1_1.csv")),
        "id;name;day\n2;n2;d0\n"
    );
    // Text: the written columns only, in their order.
    let mut fixture = Fixture::new();
    fixture.config.enable_header_write = true;
    fixture.config.sink_columns = Some(vec!["name".into(), "id".into()]);
    let mut sink = fixture.sink(1);
    write(&mut sink, 5..6).await;
    checkpoint(&mut sink, 1).await;
    assert_eq!(
        read(&fixture.out().join("job1_2_1_0.txt")),
        "name\u{1}id\nn5\u{1}5\n"
    );
}

#[tokio::test]
async fn an_encoding_writes_header_and_rows_in_that_character_set() {
    let mut fixture = Fixture::new();
    fixture.config.file_format_type = FileFormat::Csv;
    fixture.config.enable_header_write = true;
    fixture.config.encoding = weir_core::config::Charset::for_label("gbk").unwrap();
    let mut sink = fixture.sink(1);
    sink.write(Row::new(vec![
        Value::Bigint(1),
        // U+1F600 has no GBK code: written '?', as Java writes it.
        Value::String("测试\u{1F600}".into()),
        Value::String("d".into()),
    ]))
    .await
    .unwrap();
    checkpoint(&mut sink, 1).await;
    let bytes = std::fs::read(fixture.out().join("job1_2_1_0.csv")).unwrap();
    // GB 2312 (and so GBK): 测 = B2 E2, 试 = CA D4.
    assert_eq!(bytes, b"id,name,day\n1,\xb2\xe2\xca\xd4?,d\n");
}

#[tokio::test]
async fn gzip_json_lines_decompress_to_console_rendering() {
    let mut fixture = Fixture::new();
    fixture.config.file_format_type = FileFormat::Json;
    fixture.config.compress_codec = CompressCodec::Gzip;
    fixture.config.sink_columns = Some(vec!["name".into(), "id".into()]);
    let mut sink = fixture.sink(1);
    write(&mut sink, 0..1000).await;
    checkpoint(&mut sink, 3).await;
    assert_eq!(files(&fixture.out()), ["job1_2_3_0.json.gz"]);
    let text = read(&fixture.out().join("job1_2_3_0.json.gz"));
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 1000);
    assert_eq!(lines[7], r#"{"name":"n7","id":7}"#);
    for (id, line) in lines.iter().enumerate() {
        let value: serde_json::Value = serde_json::from_str(line).unwrap();
        assert_eq!(value["id"], id as i64);
    }
}

#[tokio::test]
async fn files_roll_by_rows_and_by_size() {
    let mut fixture = Fixture::new();
    fixture.config.batch_size = 4;
    let mut sink = fixture.sink(1);
    write(&mut sink, 0..10).await;
    checkpoint(&mut sink, 1).await;
    assert_eq!(
        files(&fixture.out()),
        ["job1_2_1_0.txt", "job1_2_1_1.txt", "job1_2_1_2.txt"]
    );
    assert_eq!(
        read(&fixture.out().join("job1_2_1_2.txt")).lines().count(),
        2
    );

    let mut fixture = Fixture::new();
    fixture.config.rolling_file_size = weir_core::config::ByteSize(100);
    fixture.config.write_buffer_bytes = weir_core::config::ByteSize(16);
    let mut sink = fixture.sink(1);
    write(&mut sink, 0..100).await;
    checkpoint(&mut sink, 1).await;
    let committed = files(&fixture.out());
    assert!(committed.len() > 5, "{committed:?}");
    let mut ids = Vec::new();
    for name in &committed {
        let text = read(&fixture.out().join(name));
        // A file is closed once it reaches the size: at most one row past it.
        assert!(text.len() < 100 + 16, "{name}: {} bytes", text.len());
        ids.extend(
            text.lines()
                .map(|line| line.split('\u{1}').next().unwrap().to_string()),
        );
    }
    assert_eq!(ids, (0..100).map(|id| id.to_string()).collect::<Vec<_>>());
}

#[tokio::test(start_paused = true)]
async fn files_roll_by_age() {
    let mut fixture = Fixture::new();
    fixture.config.rolling_interval_ms = 1000;
    let mut sink = fixture.sink(1);
    write(&mut sink, 0..3).await;
    tokio::time::advance(std::time::Duration::from_millis(1500)).await;
    write(&mut sink, 3..5).await;
    checkpoint(&mut sink, 1).await;
    assert_eq!(files(&fixture.out()), ["job1_2_1_0.txt", "job1_2_1_1.txt"]);
    assert_eq!(
        read(&fixture.out().join("job1_2_1_0.txt")).lines().count(),
        4
    );
}

#[tokio::test]
async fn partitions_become_directories_and_least_recent_file_closes() {
    let mut fixture = Fixture::new();
    fixture.config.have_partition = true;
    fixture.config.partition_by = vec!["day".into()];
    fixture.config.max_open_files = 1;
    let mut sink = fixture.sink(1);
    write(&mut sink, 0..4).await; // alternating days: every row closes the other file
    sink.write(Row::new(vec![
        Value::Bigint(9),
        Value::Null,
        Value::String("a/b".into()),
    ]))
    .await
    .unwrap();
    checkpoint(&mut sink, 5).await;
    assert_eq!(
        files(&fixture.out()),
        [
            "day=a%2Fb/job1_2_5_4.txt",
            "day=d0/job1_2_5_0.txt",
            "day=d0/job1_2_5_2.txt",
            "day=d1/job1_2_5_1.txt",
            "day=d1/job1_2_5_3.txt",
        ]
    );
    // The partition field is in the directory name, not in the file (SeaTunnel's default).
    assert_eq!(
        read(&fixture.out().join("day=d1/job1_2_5_3.txt")),
        "3\u{1}n3\n"
    );
}

#[tokio::test]
async fn partition_by_a_missing_field_names_it() {
    let mut fixture = Fixture::new();
    fixture.config.have_partition = true;
    fixture.config.partition_by = vec!["dya".into()];
    let subtask = SubtaskInfo {
        job_id: "j".into(),
        subtask_index: 0,
        parallelism: 1,
        attempt: 1,
    };
    let Err(error) = open(&fixture.config, FileSystemKind::Local, &schema(), &subtask) else {
        panic!("expected an error");
    };
    assert_eq!(
        error.to_string(),
        "sink option 'partition_by' names field 'dya', which the rows do not have \
         (fields: id, name, day)"
    );
}

#[tokio::test]
async fn nothing_is_visible_before_commit_and_temporary_files_stay_outside_path() {
    let mut fixture = Fixture::new();
    fixture.config.batch_size = 3;
    let mut sink = fixture.sink(1);
    write(&mut sink, 0..5).await;
    sink.flush().await.unwrap();
    assert!(files(&fixture.out()).is_empty());
    // The rolled file closes in the background: in progress or pending, never visible.
    let temporary = files(&fixture.tmp());
    assert_eq!(temporary.len(), 2, "{temporary:?}");
    assert!(
        ["job1/2/a1-0.pending", "job1/2/a1-0.inprogress"].contains(&temporary[0].as_str()),
        "{temporary:?}"
    );
    assert_eq!(temporary[1], "job1/2/a1-1.inprogress");
    let prepared = sink.prepare_commit(1).await.unwrap();
    assert!(
        files(&fixture.out()).is_empty(),
        "prepare publishes nothing"
    );
    assert_eq!(
        files(&fixture.tmp()),
        ["job1/2/a1-0.pending", "job1/2/a1-1.pending"]
    );
    let no_rows = sink.prepare_commit(2).await.unwrap();
    assert_eq!(
        no_rows.len(),
        2,
        "uncommitted files are listed again, and no empty file"
    );
    sink.commit(prepared).await.unwrap();
    assert_eq!(files(&fixture.out()), ["job1_2_1_0.txt", "job1_2_1_1.txt"]);
    assert!(files(&fixture.tmp()).is_empty());
    assert!(sink.prepare_commit(3).await.unwrap().is_empty());
    // Once the task is done, its empty temporary directories go too.
    assert!(fixture.tmp().join("job1/2").is_dir());
    sink.finish().await.unwrap();
    assert!(!fixture.tmp().join("job1").exists());
}

#[tokio::test]
async fn commit_is_idempotent_and_works_on_a_fresh_writer() {
    let fixture = Fixture::new();
    let mut sink = fixture.sink(1);
    write(&mut sink, 0..3).await;
    let files_of_1 = sink.prepare_commit(1).await.unwrap();
    sink.commit(files_of_1.clone()).await.unwrap();
    sink.commit(files_of_1.clone()).await.unwrap();
    let mut fresh = fixture.sink(2);
    fresh.commit(files_of_1.clone()).await.unwrap();
    assert_eq!(files(&fixture.out()), ["job1_2_1_0.txt"]);
    // Files lost before their commit, and files moved away after it: `tests/confinement.rs`.
}

#[tokio::test]
async fn a_failed_checkpoint_is_listed_again_by_the_next_one() {
    let fixture = Fixture::new();
    let mut sink = fixture.sink(1);
    write(&mut sink, 0..2).await;
    let failed = sink.prepare_commit(1).await.unwrap();
    write(&mut sink, 2..3).await;
    let next = sink.prepare_commit(2).await.unwrap();
    assert_eq!(next.len(), 2);
    // The first listing named it: a late commit of checkpoint 1 and a commit (or recovery)
    // of checkpoint 2 must agree where the file goes.
    assert_eq!(next[0], failed[0]);
    assert!(next[0].final_path.ends_with("/job1_2_1_0.txt"), "{next:?}");
    assert!(next[1].final_path.ends_with("/job1_2_2_1.txt"), "{next:?}");
    sink.commit(next).await.unwrap();
    assert_eq!(files(&fixture.out()), ["job1_2_1_0.txt", "job1_2_2_1.txt"]);
}

#[tokio::test]
async fn a_late_commit_and_a_recovery_from_the_next_checkpoint_agree() {
    let fixture = Fixture::new();
    let mut sink = fixture.sink(1);
    write(&mut sink, 0..2).await;
    let first = sink.prepare_commit(1).await.unwrap();
    write(&mut sink, 2..3).await;
    let second = sink.prepare_commit(2).await.unwrap();
    // Checkpoint 1 completes and its commit arrives after barrier 2.
    sink.commit(first).await.unwrap();
    drop(sink); // the attempt dies before commit 2
    fixture.sink(2).recover(second.into()).await.unwrap();
    assert_eq!(files(&fixture.out()), ["job1_2_1_0.txt", "job1_2_2_1.txt"]);
    assert!(files(&fixture.tmp()).is_empty());
}

#[tokio::test]
async fn recovery_commits_the_restored_files_and_deletes_the_rest() {
    let fixture = Fixture::new();
    let mut first = fixture.sink(1);
    write(&mut first, 0..2).await;
    let completed = first.prepare_commit(1).await.unwrap();
    write(&mut first, 2..4).await;
    let _never_completed = first.prepare_commit(2).await.unwrap();
    write(&mut first, 4..6).await;
    first.flush().await.unwrap();
    drop(first); // the attempt dies before any commit

    let mut second = fixture.sink(2);
    second.recover(completed.clone().into()).await.unwrap();
    assert_eq!(files(&fixture.out()), ["job1_2_1_0.txt"]);
    assert_eq!(files(&fixture.tmp()), Vec::<String>::new());
    // Recovering again (the attempt after this one restores the same checkpoint) is fine.
    fixture.sink(3).recover(completed.into()).await.unwrap();
    write(&mut second, 10..11).await;
    checkpoint(&mut second, 2).await;
    assert_eq!(files(&fixture.out()), ["job1_2_1_0.txt", "job1_2_2_0.txt"]);
}

#[tokio::test]
async fn abort_discards_what_no_checkpoint_listed() {
    let mut fixture = Fixture::new();
    fixture.config.batch_size = 2;
    let mut sink = fixture.sink(1);
    write(&mut sink, 0..5).await;
    sink.abort(Discard::Unlisted).await.unwrap();
    assert!(files(&fixture.tmp()).is_empty());
    assert!(files(&fixture.out()).is_empty());

    // A listed file may belong to a checkpoint that completed: it stays for recovery.
    let mut sink = fixture.sink(2);
    write(&mut sink, 0..2).await;
    let listed = sink.prepare_commit(1).await.unwrap();
    write(&mut sink, 2..3).await;
    sink.abort(Discard::Unlisted).await.unwrap();
    assert_eq!(files(&fixture.tmp()), ["job1/2/a2-0.pending"]);
    fixture.sink(3).recover(Restored::default()).await.unwrap();
    assert!(files(&fixture.tmp()).is_empty());
    assert_eq!(listed.len(), 1);

    // A cancelled job discards listed files too: nothing of it will be committed.
    let mut sink = fixture.sink(4);
    write(&mut sink, 0..2).await;
    sink.prepare_commit(1).await.unwrap();
    write(&mut sink, 2..3).await;
    sink.abort(Discard::All).await.unwrap();
    assert!(files(&fixture.tmp()).is_empty());
    assert!(files(&fixture.out()).is_empty());
}

#[tokio::test]
async fn write_buffer_stays_within_its_bound() {
    let mut fixture = Fixture::new();
    fixture.config.write_buffer_bytes = weir_core::config::ByteSize(64);
    let mut sink = fixture.sink(1);
    for id in 0..50 {
        sink.write(row(id)).await.unwrap();
        let file = sink.open.values().next().unwrap();
        assert!(file.content_buffered() <= 64, "{}", file.content_buffered());
    }
    checkpoint(&mut sink, 1).await;
    assert_eq!(
        read(&fixture.out().join("job1_2_1_0.txt")).lines().count(),
        50
    );
}

/// Sum of what the open files buffer, as the writer itself sees it.
fn buffered_in_open_files(sink: &FileSink) -> u64 {
    sink.open
        .values()
        .map(|file| file.content_buffered() as u64)
        .sum()
}

/// Total size of the in-progress files on disk: what was handed to the OS.
fn in_progress_bytes(fixture: &Fixture) -> u64 {
    files(&fixture.tmp())
        .iter()
        .filter(|name| name.ends_with(".inprogress"))
        .map(|name| std::fs::metadata(fixture.tmp().join(name)).unwrap().len())
        .sum()
}

#[tokio::test]
async fn buffered_bytes_are_reported_until_flush_and_checkpoint() {
    let mut fixture = Fixture::new();
    fixture.config.write_buffer_bytes = weir_core::config::ByteSize(4096);
    fixture.config.have_partition = true;
    fixture.config.partition_by = vec!["day".into()];
    fixture.config.max_open_files = 3;
    let mut sink = fixture.sink(1);
    let stats = sink.buffer_stats();
    assert_eq!((stats.bytes(), stats.max_bytes()), (0, 3 * 4096));

    write(&mut sink, 0..10).await; // two partitions open, ~60 bytes each, nothing written out
    assert_eq!(sink.open.len(), 2);
    assert_eq!((stats.open_files(), stats.max_open_files()), (2, 3));
    let buffered = stats.bytes();
    assert!(buffered > 0);
    assert_eq!(buffered, buffered_in_open_files(&sink));
    assert_eq!(
        in_progress_bytes(&fixture),
        0,
        "nothing handed to the OS yet"
    );

    sink.flush().await.unwrap();
    assert_eq!(stats.bytes(), 0, "flushed: everything handed to the OS");
    assert_eq!(in_progress_bytes(&fixture), buffered);

    for id in 10..2_000 {
        sink.write(row(id)).await.unwrap();
        let now = stats.bytes();
        assert_eq!(now, buffered_in_open_files(&sink), "row {id}");
        assert!(now <= stats.max_bytes(), "row {id}: {now}");
    }
    assert!(stats.bytes() > 0);
    assert_eq!(stats.open_files(), sink.open.len() as u64);
    sink.prepare_commit(1).await.unwrap();
    assert_eq!(stats.bytes(), 0, "a checkpoint closes every open file");
    assert_eq!(stats.open_files(), 0);

    write(&mut sink, 0..5).await;
    assert!(stats.bytes() > 0);
    sink.abort(Discard::All).await.unwrap();
    assert_eq!(
        stats.bytes(),
        0,
        "aborted files take their buffers with them"
    );
}

#[tokio::test]
async fn gzip_buffers_count_compressed_output_only() {
    let mut fixture = Fixture::new();
    fixture.config.compress_codec = CompressCodec::Gzip;
    fixture.config.write_buffer_bytes = weir_core::config::ByteSize(1024);
    let mut sink = fixture.sink(1);
    let stats = sink.buffer_stats();
    assert_eq!(stats.max_bytes(), 1024, "one open file: one write buffer");
    for id in 0..20_000 {
        sink.write(row(id)).await.unwrap();
        assert_eq!(stats.bytes(), buffered_in_open_files(&sink), "row {id}");
        assert!(stats.bytes() <= 1024, "row {id}: {}", stats.bytes());
    }
    assert!(
        in_progress_bytes(&fixture) > 0,
        "full buffers were written out"
    );
    checkpoint(&mut sink, 1).await;
    assert_eq!(stats.bytes(), 0);
    assert_eq!(
        read(&fixture.out().join("job1_2_1_0.txt.gz"))
            .lines()
            .count(),
        20_000
    );
}

mod confinement;
mod in_flight;
mod save_modes;
