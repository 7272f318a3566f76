//! The master's data directory full, then freed.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;

use weir_e2e::cluster::{Master, MasterOptions, Worker};

use crate::run::{
    FORMAT, START, WORKER_MEMORY, checkpoints, scenario, status_line, stop_and_check, submit,
    wait_caught_up, wait_job,
};
use crate::stack_shared;

const RECORDS: u64 = 12_000;
const ROWS_PER_SECOND: u64 = 2_000;
/// Size of the tmpfs: room for the job store and a few checkpoint files, until it is filled.
const TMPFS_SIZE: &str = "16m";
/// What the kernel says when the tmpfs is full (ENOSPC).
const NO_SPACE: &str = "No space left on device";

/// A tmpfs mounted by the test, unmounted when dropped.
struct Tmpfs {
    path: PathBuf,
}

impl Tmpfs {
    /// Mounts a tmpfs of `size` at a fresh directory; fails the test, saying what it needs,
    /// when mounting is not permitted.
    fn mount(size: &str) -> Self {
        let path = std::env::temp_dir().join(weir_e2e::unique_name("weir-mf-tmpfs"));
        std::fs::create_dir_all(&path)
            .unwrap_or_else(|error| panic!("cannot create {}: {error}", path.display()));
        let output = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(&path)
            .output()
            .unwrap_or_else(|error| panic!("cannot run `mount` (util-linux): {error}"));
        if !output.status.success() {
            let _ = std::fs::remove_dir(&path);
            panic!(
                "this test mounts a {size} tmpfs as the master's data directory and is not allowed to: run it as root (or with CAP_SYS_ADMIN); `mount` said: {}",
                String::from_utf8_lossy(&output.stderr).trim()
            );
        }
        Tmpfs { path }
    }

    fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        // Lazy: the master (killed just before) may not have released the files yet.
        let _ = Command::new("umount").arg("-l").arg(&self.path).status();
        let _ = std::fs::remove_dir(&self.path);
    }
}

/// Writes zeros into `path` until the file system is full; returns the bytes written.
fn fill(path: &Path) -> u64 {
    let mut file = std::fs::File::create(path)
        .unwrap_or_else(|error| panic!("cannot create {}: {error}", path.display()));
    let chunk = vec![0u8; 64 * 1024];
    let mut written = 0u64;
    loop {
        match file.write(&chunk) {
            Ok(0) => return written,
            Ok(bytes) => written += bytes as u64,
            Err(error) if error.raw_os_error() == Some(28) => return written,
            Err(error) => panic!("cannot fill {}: {error}", path.display()),
        }
    }
}

/// The master's data directory (job store and checkpoint storage, the default under it) is a
/// small tmpfs. Once the job completed a checkpoint, a file fills the tmpfs: checkpoints fail,
/// `weir job` shows the failure with the kernel's reason, and the job keeps running. The file
/// is deleted: checkpoints complete again, the job reads to the end and `weir stop` commits the
/// rest; every id is committed exactly once.
///
/// In this layout the checkpoint file is the first write to fail: redb rewrites pages its file
/// already holds, so its writes rarely meet the full tmpfs (measured: none did in 90 s with the
/// checkpoint storage elsewhere). A failing job-store write is covered by the unit tests of
/// `crates/weir-master` (`store.rs`: a redb backend failing like a full disk;
/// `coordinator_tests.rs`: no commit without the record).
#[test]
fn master_data_dir_full_then_freed() {
    let name = "master_data_dir_full_then_freed";
    let _stack = stack_shared();
    let scenario = scenario(name);
    scenario.produce(FORMAT, 0..RECORDS);
    let ends = scenario.end_offsets();
    let tmpfs = Tmpfs::mount(TMPFS_SIZE);
    let options = MasterOptions {
        data_dir: Some(tmpfs.path().to_path_buf()),
        ..MasterOptions::default()
    };
    let master = Master::start(name, options);
    let _worker = Worker::start(&master, "w-disk-full", WORKER_MEMORY);
    let job_id = submit(&scenario, &master, ROWS_PER_SECOND, &[]);
    let before = wait_job(
        &scenario,
        &master,
        &job_id,
        "a checkpoint completed",
        START,
        |job| checkpoints(job).last_completed_id >= 1,
    );

    let filler = tmpfs.path().join("filler");
    let filled = fill(&filler);
    scenario.say(format!(
        "filled the master's data directory with {} KiB: {}",
        filled / 1024,
        status_line(&before)
    ));
    let failed_before = checkpoints(&before).failed;
    let full = wait_job(
        &scenario,
        &master,
        &job_id,
        &format!("a checkpoint failed because the disk is full ({NO_SPACE})"),
        START,
        |job| {
            let cp = checkpoints(job);
            cp.failed > failed_before && cp.last_failure.contains(NO_SPACE)
        },
    );
    let stuck_at = checkpoints(&full).last_completed_id;
    master.check(full["state"] == "Running", || {
        format!(
            "the job should keep running while checkpoints fail: {}",
            status_line(&full)
        )
    });
    scenario.say(format!(
        "weir job shows the failure: {:?}",
        checkpoints(&full).last_failure
    ));

    std::fs::remove_file(&filler)
        .unwrap_or_else(|error| panic!("cannot delete {}: {error}", filler.display()));
    scenario.say("freed the data directory");
    wait_job(
        &scenario,
        &master,
        &job_id,
        &format!("a checkpoint after {stuck_at} completed"),
        START,
        |job| checkpoints(job).last_completed_id > stuck_at,
    );
    wait_caught_up(&scenario, &master, &job_id, &ends);
    let committed = stop_and_check(&scenario, &master, &job_id, RECORDS);
    scenario.say(format!(
        "every id 0..{RECORDS} committed exactly once across the full disk ({})",
        committed.summary()
    ));
    drop(master);
}
