//! Deployment end to end (docs/deploy.md): what `deploy/` ships is checked by the tools that
//! read it, and run as shipped, changing only the lines docs/deploy.md tells users to change
//! (addresses and paths):
//!
//! - `deploy/systemd/`: `systemd-analyze verify` on both units, and the units' promises (notify,
//!   hardening, `MemoryMax=`) against their settings files;
//! - the settings files of the units start a master and a worker on loopback, with TLS and a
//!   tokens file made by `weir cert` / `weir token`, that run a Kafka → HdfsFile job on the shared
//!   stack; both tell systemd's socket READY=1 once /readyz is ready and STOPPING=1 on SIGTERM;
//! - `deploy/k8s/`: every resource of the kustomization exists, parses and validates against
//!   the Kubernetes schemas (`kubernetes-validate`, strict), and the ConfigMap's settings start a
//!   cluster;
//! - `deploy/container/Containerfile`: its runtime stage built with buildah on a Debian base made
//!   by debootstrap, its configuration inspected, `weir --version` and the health check run in it;
//! - a worker in a memory-limited cgroup reports that limit as its budget;
//! - `weir --version` names the commit.
//!
//! Tools (Debian packages, installed by `.ci/run`): systemd, buildah, crun, debootstrap,
//! python3-venv; `kubernetes-validate` comes from PyPI into a venv under ~/.cache/weir.
//!
//! ```sh
//! cargo build -p weir-cli --bin weir
//! eval "$(deploy/local/stack env)"
//! cargo test -p weir-e2e --test deploy
//! ```

#[path = "deploy/cgroup.rs"]
mod cgroup;
#[path = "deploy/container.rs"]
mod container;
#[path = "deploy/kubernetes.rs"]
mod kubernetes;
#[path = "deploy/services.rs"]
mod services;
#[path = "deploy/systemd.rs"]
mod systemd;

use weir_e2e::cluster::weir;
use weir_e2e::deploy::{repo_root, run};

#[test]
fn version_names_the_version_and_the_commit() {
    let output = weir(&["--version"]);
    assert!(output.status.success(), "weir --version failed: {output:?}");
    let version = String::from_utf8_lossy(&output.stdout).trim().to_string();
    let root = repo_root().display().to_string();
    let git = run("git", &["-C", &root, "rev-parse", "--short=12", "HEAD"]);
    let commit = if git.status.success() {
        String::from_utf8_lossy(&git.stdout).trim().to_string()
    } else {
        // A source tree without git metadata (a tarball) builds as "unknown".
        "unknown".to_string()
    };
    let expected = format!("weir {} (commit {commit})", env!("CARGO_PKG_VERSION"));
    assert_eq!(
        version, expected,
        "`weir --version` should name the version and the commit HEAD is at (rebuild with `cargo build -p weir-cli --bin weir` after committing)"
    );
}
