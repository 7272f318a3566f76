//! Exactly-once when the master fails (issue 11): real `weir master` and `weir worker`
//! processes run Kafka → HdfsFile jobs (parallelism 2, a checkpoint every second) against the
//! real Kafka and HDFS of the stack; a fault is injected; at the end `weir stop` commits a final
//! checkpoint and the committed files are read back with Hadoop's FsShell (never with Weir's
//! code) and every produced id must be there exactly once, with nothing else visible under the
//! sink's path (`weir_e2e::exactly_once`).
//!
//! - `master_killed_*`: the master aborts (as `kill -9` would: no clean-up) at one of 10 points
//!   of a checkpoint cycle (`WEIR_FAULT_ABORT_AT`, `crates/weir-master/src/fault.rs`) and is
//!   started again on the same data directory; the job goes on;
//! - `master_data_dir_full_then_freed`: the master's data directory is a small tmpfs the test
//!   mounts and fills: checkpoints fail with the reason in `weir job`, the job keeps running,
//!   and once space is freed checkpoints complete again;
//! - `hdfs_checkpoint_storage_while_namenode_restarts`: `--checkpoint-storage hdfs://…` and the
//!   NameNode stopped and started mid-run;
//! - `kafka_broker_restart_mid_checkpoint`: the broker stopped and started while checkpoints
//!   run every second.
//!
//! The last two stop services of the stack named by the environment (`WEIR_STACK_DIR` and the
//! ports, as `deploy/local/stack env` prints them), so they take the stack exclusively; the
//! other tests of this binary share it and run in parallel. Needs the stack
//! (`deploy/local/stack up && eval "$(deploy/local/stack env)"`), the built binary
//! (`cargo build -p weir-cli`) and, for the tmpfs, permission to mount (root).
//!
//! Run: `cargo test -p weir-e2e --test master_faults -- --nocapture` (progress lines go to
//! stderr); `--test-threads 4` runs more of the kill tests at once.

use std::sync::{PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard};

mod disk_full;
mod kill;
mod outages;
mod run;

/// Tests hold it shared while they use the stack; a test that stops a service of it holds it
/// exclusively. (Test binaries run one after another, so only this binary's tests matter.)
static STACK_OUTAGES: RwLock<()> = RwLock::new(());

fn stack_shared() -> RwLockReadGuard<'static, ()> {
    STACK_OUTAGES.read().unwrap_or_else(PoisonError::into_inner)
}

fn stack_exclusive() -> RwLockWriteGuard<'static, ()> {
    STACK_OUTAGES
        .write()
        .unwrap_or_else(PoisonError::into_inner)
}
