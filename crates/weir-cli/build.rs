//! Puts the git commit the binary is built from into `WEIR_COMMIT`, for `weir --version`.
//!
//! Order: the `WEIR_BUILD_COMMIT` variable (a packager who builds from a tarball and knows the
//! commit), else `git rev-parse` in the source tree, else `unknown` — a tarball or a container
//! build context without `.git` builds as well, only without the commit.

use std::path::{Path, PathBuf};
use std::process::Command;

fn main() {
    println!("cargo:rerun-if-env-changed=WEIR_BUILD_COMMIT");
    println!("cargo:rerun-if-changed=build.rs");
    let from_env = std::env::var("WEIR_BUILD_COMMIT")
        .ok()
        .map(|commit| commit.trim().to_string())
        .filter(|commit| !commit.is_empty());
    let commit = from_env
        .or_else(git_commit)
        .unwrap_or_else(|| "unknown".into());
    println!("cargo:rustc-env=WEIR_COMMIT={commit}");
}

/// The short commit of HEAD with `-dirty` never added (a dirty check would rebuild on every
/// edit), and the files whose change means a new commit registered for a rerun.
fn git_commit() -> Option<String> {
    let manifest_dir = PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR")?);
    let git = |args: &[&str]| -> Option<String> {
        let output = Command::new("git")
            .args(args)
            .current_dir(&manifest_dir)
            .output()
            .ok()?;
        if !output.status.success() {
            return None;
        }
        let text = String::from_utf8(output.stdout).ok()?;
        Some(text.trim().to_string()).filter(|text| !text.is_empty())
    };
    let commit = git(&["rev-parse", "--short=12", "HEAD"])?;
    // HEAD names the branch; the branch's ref (loose or packed) names the commit. A worktree
    // has its own HEAD and shares the refs of the common directory.
    let absolute = |path: String| {
        let path = PathBuf::from(path);
        if path.is_absolute() {
            path
        } else {
            manifest_dir.join(path)
        }
    };
    if let Some(git_dir) = git(&["rev-parse", "--git-dir"]).map(absolute) {
        rerun_if_changed(&git_dir.join("HEAD"));
    }
    if let Some(common) = git(&["rev-parse", "--git-common-dir"]).map(absolute) {
        rerun_if_changed(&common.join("packed-refs"));
        if let Some(branch) = git(&["symbolic-ref", "-q", "HEAD"]) {
            rerun_if_changed(&common.join(branch));
        }
    }
    Some(commit)
}

fn rerun_if_changed(path: &Path) {
    if path.exists() {
        println!("cargo:rerun-if-changed={}", path.display());
    }
}
