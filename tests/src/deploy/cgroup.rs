//! A memory-limited cgroup of the test's own, to start a worker in (as systemd does for a unit
//! with `MemoryMax=`, or a container runtime for a memory limit): a child of the test's own
//! cgroup, in the cgroup v2 hierarchy when its memory controller can be used there, else in the
//! v1 `memory` hierarchy. Removed when dropped (after the processes in it have ended).

use std::path::{Path, PathBuf};

/// Set to `1` to let the cgroup test pass on a machine that lets it create no cgroup; the test
/// then says loudly that it checked nothing.
pub const OPT_OUT: &str = "WEIR_TEST_SKIP_CGROUP";

/// A cgroup with a memory limit.
pub struct MemoryCgroup {
    dir: PathBuf,
}

impl MemoryCgroup {
    /// Creates `name` below the test process's own cgroup with a limit of `limit` bytes, or says
    /// why this machine does not allow it.
    pub fn create(name: &str, limit: u64) -> Result<Self, String> {
        let own = std::fs::read_to_string("/proc/self/cgroup")
            .map_err(|error| format!("cannot read /proc/self/cgroup: {error}"))?;
        let mut reasons = Vec::new();
        // cgroup v2: the line `0::/path`, memory controller enabled for children of the parent.
        if let Some(path) = own.lines().find_map(|line| line.strip_prefix("0::")) {
            for root in ["/sys/fs/cgroup", "/sys/fs/cgroup/unified"] {
                let parent = Path::new(root).join(path.trim_start_matches('/'));
                let controllers = std::fs::read_to_string(parent.join("cgroup.subtree_control"))
                    .unwrap_or_default();
                if !controllers.split_whitespace().any(|c| c == "memory") {
                    reasons.push(format!(
                        "{}: the memory controller is not enabled for child cgroups (cgroup.subtree_control: {:?})",
                        parent.display(),
                        controllers.trim()
                    ));
                    continue;
                }
                match Self::make(&parent.join(name), "memory.max", limit) {
                    Ok(cgroup) => return Ok(cgroup),
                    Err(reason) => reasons.push(reason),
                }
            }
        }
        // cgroup v1: the line `N:memory:/path`.
        if let Some(path) = own.lines().find_map(|line| {
            let mut fields = line.splitn(3, ':');
            let _ = fields.next();
            let controllers = fields.next()?;
            let path = fields.next()?;
            controllers
                .split(',')
                .any(|c| c == "memory")
                .then_some(path)
        }) {
            let parent = Path::new("/sys/fs/cgroup/memory").join(path.trim_start_matches('/'));
            match Self::make(&parent.join(name), "memory.limit_in_bytes", limit) {
                Ok(cgroup) => return Ok(cgroup),
                Err(reason) => reasons.push(reason),
            }
        }
        if reasons.is_empty() {
            reasons.push(format!("no memory cgroup in /proc/self/cgroup:\n{own}"));
        }
        Err(reasons.join("; "))
    }

    fn make(dir: &Path, limit_file: &str, limit: u64) -> Result<Self, String> {
        std::fs::create_dir(dir)
            .map_err(|error| format!("cannot create the cgroup {}: {error}", dir.display()))?;
        let cgroup = Self {
            dir: dir.to_path_buf(),
        };
        std::fs::write(dir.join(limit_file), limit.to_string())
            .map_err(|error| format!("cannot set {}/{limit_file}: {error}", dir.display()))?;
        Ok(cgroup)
    }

    /// The `cgroup.procs` file: a process that writes its pid there moves into the cgroup.
    pub fn procs(&self) -> PathBuf {
        self.dir.join("cgroup.procs")
    }
}

impl Drop for MemoryCgroup {
    fn drop(&mut self) {
        // A cgroup is removed with rmdir once no process is left in it.
        let _ = std::fs::remove_dir(&self.dir);
    }
}
