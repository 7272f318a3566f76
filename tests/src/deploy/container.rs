//! Building the image of `deploy/container/Containerfile` without a registry: Debian's `buildah`
//! with the `vfs` storage driver in a directory of the test's own, on a Debian base assembled
//! from packages (`debootstrap --variant=minbase`, cached), and the published file's runtime
//! stage with the binary the test run built in place of its build stage's output.

use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::Instant;

use super::{described, require_tool, run};

/// The Debian release of the base: the one `deploy/container/Containerfile`'s runtime image
/// (`debian:bookworm-slim`) is, and whose glibc the test's binary was built against on CI.
pub const SUITE: &str = "bookworm";

/// buildah with its own storage under a test directory.
pub struct Buildah {
    program: PathBuf,
    root: PathBuf,
    runroot: PathBuf,
}

impl Buildah {
    pub fn new(dir: &Path) -> Self {
        Self {
            program: require_tool("buildah", "buildah"),
            root: dir.join("storage"),
            runroot: dir.join("run"),
        }
    }

    /// `buildah ARGS` on the test's storage.
    pub fn run(&self, args: &[&str]) -> Output {
        let root = self.root.display().to_string();
        let runroot = self.runroot.display().to_string();
        let mut all = vec![
            "--root",
            root.as_str(),
            "--runroot",
            runroot.as_str(),
            "--storage-driver",
            "vfs",
        ];
        all.extend_from_slice(args);
        run(&self.program, &all)
    }

    /// `buildah ARGS`, which must succeed; its stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        let output = self.run(args);
        if !output.status.success() {
            panic!("{}", described(&self.program, args, &output));
        }
        String::from_utf8_lossy(&output.stdout).into_owned()
    }
}

impl Drop for Buildah {
    fn drop(&mut self) {
        // Working containers and images live in the test's directory, deleted with it.
        let _ = self.run(&["rm", "--all"]);
    }
}

/// A tar of a `debootstrap --variant=minbase` Debian root file system, made on first use (about
/// 2 minutes and 60 MB of packages) and kept in `~/.cache/weir/container/`.
pub fn base_rootfs_tar() -> PathBuf {
    let cache = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".cache")))
        .unwrap_or_else(std::env::temp_dir)
        .join("weir/container");
    let tar = cache.join(format!("debian-{SUITE}-minbase.tar"));
    if tar.is_file() {
        return tar;
    }
    let debootstrap = require_tool("debootstrap", "debootstrap");
    let uid = String::from_utf8_lossy(&run("id", &["-u"]).stdout)
        .trim()
        .to_string();
    assert_eq!(
        uid,
        "0",
        "debootstrap builds the image's Debian base as root only (CI runs as root); run the test as root once, or put a root file system tar at {}",
        tar.display()
    );
    std::fs::create_dir_all(&cache)
        .unwrap_or_else(|error| panic!("cannot create {}: {error}", cache.display()));
    let staging = cache.join(format!("rootfs.tmp-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&staging);
    let started = Instant::now();
    let target = staging.display().to_string();
    let args = ["--variant=minbase", SUITE, target.as_str()];
    let output = run(&debootstrap, &args);
    if !output.status.success() {
        let _ = std::fs::remove_dir_all(&staging);
        panic!(
            "debootstrap could not assemble the image's Debian base (it downloads Debian packages):\n{}",
            described(&debootstrap, &args, &output)
        );
    }
    // apt's package cache is of no use in the image.
    let _ = std::fs::remove_dir_all(staging.join("var/cache/apt/archives"));
    let partial = cache.join(format!("{SUITE}.tar.tmp-{}", std::process::id()));
    let partial_text = partial.display().to_string();
    let tar_args = ["-C", target.as_str(), "-cf", partial_text.as_str(), "."];
    let output = run("tar", &tar_args);
    let _ = std::fs::remove_dir_all(&staging);
    if !output.status.success() {
        panic!("{}", described("tar", &tar_args, &output));
    }
    std::fs::rename(&partial, &tar)
        .unwrap_or_else(|error| panic!("cannot rename {}: {error}", partial.display()));
    eprintln!(
        "assembled the Debian {SUITE} minbase root file system in {:.0?}: {}",
        started.elapsed(),
        tar.display()
    );
    tar
}

/// The runtime stage of the published Containerfile, built `FROM base` with the binary taken
/// from the build context (`weir`) instead of the build stage. Every other line is as shipped.
pub fn runtime_stage(containerfile: &str, base: &str) -> String {
    let stage = containerfile
        .find("FROM ${RUNTIME_IMAGE} AS runtime")
        .unwrap_or_else(|| {
            panic!(
                "deploy/container/Containerfile has no `FROM ${{RUNTIME_IMAGE}} AS runtime` stage"
            )
        });
    let text = containerfile[stage..].replacen("${RUNTIME_IMAGE}", base, 1);
    let copy = "COPY --from=build /out/usr/local/bin/weir /usr/local/bin/weir";
    assert!(
        text.contains(copy),
        "the runtime stage no longer has `{copy}`; update the test with it:\n{text}"
    );
    text.replacen(copy, "COPY weir /usr/local/bin/weir", 1)
}

/// Whether `output` failed because this machine cannot run a container at all (as opposed to a
/// step of the build failing).
pub fn cannot_run_containers(output: &Output) -> bool {
    let stderr = String::from_utf8_lossy(&output.stderr);
    [
        "error running container",
        "cannot set up namespace",
        "operation not permitted",
        "did not get container create message",
    ]
    .iter()
    .any(|sign| stderr.to_lowercase().contains(sign))
}
