//! What can go wrong while driving a cluster: the fallible half of the harness returns these
//! (weir-bench reports them), the panicking wrappers the tests use turn them into the test's
//! failure message. Failures of a process carry the tail of the cluster's logs.

use std::path::PathBuf;
use std::process::ExitStatus;
use std::time::Duration;

/// A harness operation that failed, with what is needed to understand it.
#[derive(Debug, thiserror::Error)]
pub enum HarnessError {
    /// The `weir` binary is not where the harness looks for it.
    #[error("the weir binary is not built: {hint}; looked for {}", path.display())]
    BinaryMissing {
        /// Where it was looked for.
        path: PathBuf,
        /// How to build it or point at it.
        hint: &'static str,
    },
    /// A file, directory or process could not be created, read or started.
    #[error("{what}: {source}")]
    Io {
        /// What was being done.
        what: String,
        /// Why it failed.
        #[source]
        source: std::io::Error,
    },
    /// A master or worker exited before it was up.
    #[error("[{cluster}] {process} exited during start-up with {status}\n{logs}")]
    ExitedAtStartup {
        /// The cluster's name (the test's or the scenario's).
        cluster: String,
        /// Which process, e.g. `weir master` or `weir worker w-1`.
        process: String,
        /// How it ended.
        status: ExitStatus,
        /// The tail of the cluster's logs.
        logs: String,
    },
    /// Something awaited with a deadline did not happen in time.
    #[error(
        "[{cluster}] timed out after {after:?} waiting until {what}\nlast observed: {observed}\n{logs}"
    )]
    Timeout {
        /// The cluster's name.
        cluster: String,
        /// What was awaited.
        what: String,
        /// How long it was awaited.
        after: Duration,
        /// What was seen instead, last.
        observed: String,
        /// The tail of the cluster's logs.
        logs: String,
    },
    /// A `weir` command failed or answered something unexpected (its output is in `message`).
    #[error("[{cluster}] {message}")]
    Command {
        /// The cluster's name.
        cluster: String,
        /// The command, its exit status and its output, or what was wrong with its answer.
        message: String,
    },
}

impl HarnessError {
    pub(crate) fn io(what: impl Into<String>, source: std::io::Error) -> Self {
        HarnessError::Io {
            what: what.into(),
            source,
        }
    }
}
