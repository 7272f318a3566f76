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

use std::ops::Range;
use std::sync::{PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::time::{Duration, Instant};

use serde_json::Value;
use weir_e2e::cluster::{Master, describe};
use weir_e2e::exactly_once::job_json::{checkpoints, cli_json, status_line, tasks, text, u64_of};
use weir_e2e::exactly_once::support::{self, Codec, Format, read_committed};
use weir_e2e::exactly_once::wait::{
    check_exactly_once, settle_and_check_job, settle_and_check_job_codec, wait_caught_up,
    wait_first_checkpoint, wait_job, wait_running,
};
use weir_e2e::exactly_once::{
    CHECKPOINT_INTERVAL_MS, JobFile, PARALLELISM, START, Scenario, WORKER_MEMORY,
};
use weir_e2e::stack::remove_recursive;

mod cancel;
mod crash;
mod hdfs_restart;
mod stop_restore;

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
                Format::Json | Format::Parquet => format.payload(id),
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
