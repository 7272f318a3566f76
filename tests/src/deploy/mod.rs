//! Helpers of the deployment tests (`tests/tests/deploy.rs`): the files `deploy/` ships (systemd
//! units and settings files, the Containerfile, the Kubernetes manifests), the tools that check
//! them, and `weir master` / `weir worker` processes started from those settings files the way an
//! operator would, with systemd's readiness protocol on a socket of the test's own.
//!
//! A tool the tests need and the machine lacks fails the test naming the Debian package that
//! brings it (`.ci/run` installs them); nothing is skipped silently.

pub mod cgroup;
pub mod container;
pub mod process;
pub mod settings;

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

/// The repository's root (the parent of the `tests` crate).
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the tests crate lives in the repository")
        .to_path_buf()
}

/// The text of the shipped file `relative` (to the repository's root).
pub fn shipped(relative: &str) -> String {
    let path = repo_root().join(relative);
    std::fs::read_to_string(&path)
        .unwrap_or_else(|error| panic!("cannot read the shipped file {}: {error}", path.display()))
}

/// The path of `command` on PATH, or the test fails naming the Debian `package` to install.
pub fn require_tool(command: &str, package: &str) -> PathBuf {
    let found = std::env::var_os("PATH").and_then(|path| {
        std::env::split_paths(&path)
            .map(|dir| dir.join(command))
            .find(|candidate| candidate.is_file())
    });
    found.unwrap_or_else(|| {
        panic!(
            "`{command}` is not installed: `apt-get install {package}` (.ci/run installs it on a fresh machine)"
        )
    })
}

/// Runs `program ARGS` with no input and returns what it did.
pub fn run(program: impl AsRef<std::ffi::OsStr>, args: &[&str]) -> Output {
    let program = program.as_ref();
    Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|error| panic!("cannot run {}: {error}", program.to_string_lossy()))
}

/// Text of a command's run, for failure messages.
pub fn described(program: impl AsRef<std::ffi::OsStr>, args: &[&str], output: &Output) -> String {
    format!(
        "`{} {}` exited with {}\n--- stdout ---\n{}\n--- stderr ---\n{}",
        program.as_ref().to_string_lossy(),
        args.join(" "),
        output.status,
        String::from_utf8_lossy(&output.stdout).trim_end(),
        String::from_utf8_lossy(&output.stderr).trim_end(),
    )
}

/// Runs `program ARGS`, which must succeed, and returns its stdout.
pub fn run_ok(program: impl AsRef<std::ffi::OsStr>, args: &[&str]) -> String {
    let program = program.as_ref();
    let output = run(program, args);
    if !output.status.success() {
        panic!("{}", described(program, args, &output));
    }
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// A directory of the test's own under the system temporary directory: deleted when the test
/// passes, kept (and its path printed) when it fails.
pub struct Scratch {
    path: PathBuf,
}

impl Scratch {
    pub fn new(name: &str) -> Self {
        let path = std::env::temp_dir().join(crate::unique_name(&format!("weir-deploy-{name}")));
        std::fs::create_dir_all(&path)
            .unwrap_or_else(|error| panic!("cannot create {}: {error}", path.display()));
        Self { path }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Writes `text` to `name` in the directory and returns its path.
    pub fn write(&self, name: &str, text: &str) -> PathBuf {
        let path = self.path.join(name);
        std::fs::write(&path, text)
            .unwrap_or_else(|error| panic!("cannot write {}: {error}", path.display()));
        path
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!(
                "the test failed; its files are kept in {}",
                self.path.display()
            );
        } else {
            let _ = std::fs::remove_dir_all(&self.path);
        }
    }
}
