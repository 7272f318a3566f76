//! What a job text may use besides itself: nothing on the master and the workers, the
//! submitting user's environment and files on the client.

use std::path::Path;

/// Where `${VAR}` substitutions not defined in a job text and `include` directives are
/// resolved from. An explicit argument of every parse, so no parse reads the environment or
/// the file system of the process it runs in unless its caller said so.
#[derive(Clone, Copy)]
pub enum ParsePolicy<'a> {
    /// Job text received over the network (the master's `SubmitJob`, a worker's deployment,
    /// the master's job store): a `${VAR}` must be defined in the text itself and `include` is
    /// refused. Nothing of the host is read, so a submitter learns nothing about it.
    SelfContained,
    /// A job file on the submitting user's machine (`weir validate`, `weir submit`,
    /// `weir local`): a `${VAR}` the text does not define comes from `host`'s environment,
    /// and `include "file"` is read through `host`, relative to the including file.
    ClientFile {
        /// The job file's path; bare includes are relative to its directory.
        path: &'a Path,
        /// The environment and the files of the submitting machine.
        host: &'a dyn ClientHost,
    },
}

impl std::fmt::Debug for ParsePolicy<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ParsePolicy::SelfContained => f.write_str("SelfContained"),
            ParsePolicy::ClientFile { path, .. } => f
                .debug_struct("ClientFile")
                .field("path", path)
                .finish_non_exhaustive(),
        }
    }
}

/// The environment and the files of the machine a job is submitted from. weir-core does no
/// I/O itself: the client implements this (weir-cli's job file reader).
pub trait ClientHost: Sync {
    /// The value of the environment variable `name`, if it is set (and valid UTF-8).
    fn env_var(&self, name: &str) -> Option<String>;

    /// The job variable `name` (SeaTunnel's `-i name=value`), if one was given: it fills
    /// `${name}` placeholders inside strings as well (see `placeholders`), which environment
    /// variables do not, as in SeaTunnel.
    fn job_variable(&self, name: &str) -> Option<String>;

    /// The text of the file at `path`, or `Ok(None)` when there is no such file.
    ///
    /// Implementations refuse, naming the file, what is not a regular file (`/dev/zero`, a
    /// FIFO) and a file larger than `max_bytes`, before reading it.
    fn read_file(&self, path: &Path, max_bytes: u64) -> Result<Option<String>, String>;
}
