//! A [`ClientHost`] for tests: an environment and files held in memory.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use super::{ClientHost, ConfigError, JobFile, parse_job_file};

/// The job file's path in [`TestHost::parse`].
pub(crate) const JOB_PATH: &str = "/jobs/job.conf";

#[derive(Default)]
pub(crate) struct TestHost {
    pub env: HashMap<String, String>,
    pub files: HashMap<PathBuf, String>,
    pub variables: HashMap<String, String>,
}

impl TestHost {
    pub(crate) fn with_env(mut self, name: &str, value: &str) -> Self {
        self.env.insert(name.into(), value.into());
        self
    }

    /// A job variable (`-i name=value`): fills `${name}` in and outside strings.
    pub(crate) fn with_variable(mut self, name: &str, value: &str) -> Self {
        self.variables.insert(name.into(), value.into());
        self
    }

    pub(crate) fn with_file(mut self, path: &str, text: &str) -> Self {
        self.files.insert(path.into(), text.into());
        self
    }

    /// Parses `text` as the client does, as the file [`JOB_PATH`].
    pub(crate) fn parse(&self, text: &str) -> Result<JobFile, ConfigError> {
        parse_job_file(text, "job.conf", Path::new(JOB_PATH), self)
    }
}

impl ClientHost for TestHost {
    fn env_var(&self, name: &str) -> Option<String> {
        self.job_variable(name)
            .or_else(|| self.env.get(name).cloned())
    }

    fn job_variable(&self, name: &str) -> Option<String> {
        self.variables.get(name).cloned()
    }

    fn read_file(&self, path: &Path, max_bytes: u64) -> Result<Option<String>, String> {
        match self.files.get(path) {
            Some(text) if text.len() as u64 > max_bytes => Err(format!(
                "{} is {} bytes, more than the {max_bytes} left of the limit",
                path.display(),
                text.len()
            )),
            other => Ok(other.cloned()),
        }
    }
}
