//! The image: the published Containerfile's runtime stage built with buildah on a Debian base
//! from debootstrap, its configuration inspected, and `weir` and its health check run inside.

use std::path::Path;
use std::time::Instant;

use serde_json::{Value, json};
use weir_e2e::cluster::{free_port, weir_binary};
use weir_e2e::deploy::container::{Buildah, base_rootfs_tar, cannot_run_containers, runtime_stage};
use weir_e2e::deploy::{Scratch, described, repo_root, shipped};

const BASE: &str = "localhost/weir-deploy-base:test";
const IMAGE: &str = "localhost/weir-deploy:test";

/// The Containerfile's runtime stage without its RUN steps, for a machine that runs no
/// container: what is left still sets every field of the image's configuration.
fn without_run_steps(stage: &str) -> String {
    let mut out = String::new();
    let mut in_run = false;
    for line in stage.lines() {
        if line.starts_with("RUN ") {
            in_run = true;
        }
        if !in_run {
            out.push_str(line);
            out.push('\n');
        }
        if in_run && !line.trim_end().ends_with('\\') {
            in_run = false;
        }
    }
    out
}

fn link_or_copy(from: &Path, to: &Path) {
    if std::fs::hard_link(from, to).is_err() {
        std::fs::copy(from, to).unwrap_or_else(|error| {
            panic!(
                "cannot copy {} to {}: {error}",
                from.display(),
                to.display()
            )
        });
    }
}

#[test]
fn container_image_builds_and_runs_weir() {
    let tar = base_rootfs_tar();
    let scratch = Scratch::new("image");
    let buildah = Buildah::new(scratch.path());
    let started = Instant::now();

    // The base: the debootstrap tree as one layer.
    let working = buildah.ok(&["from", "scratch"]).trim().to_string();
    buildah.ok(&["add", &working, &tar.display().to_string(), "/"]);
    buildah.ok(&["commit", "--rm", "--quiet", &working, BASE]);

    // The context: the binary this test run built, and the files the runtime stage copies.
    let context = scratch.path().join("context");
    std::fs::create_dir_all(context.join("deploy/container")).expect("the build context");
    link_or_copy(&weir_binary(), &context.join("weir"));
    link_or_copy(
        &repo_root().join("deploy/container/healthcheck"),
        &context.join("deploy/container/healthcheck"),
    );
    let stage = runtime_stage(&shipped("deploy/container/Containerfile"), BASE);
    let containerfile = scratch.write("Containerfile", &stage);
    let context_dir = context.display().to_string();
    let file = containerfile.display().to_string();
    let bud = |file: &str| {
        buildah.run(&[
            "bud",
            "--format",
            "docker",
            "--isolation",
            "chroot",
            "--pull=never",
            "--layers=false",
            "-f",
            file,
            "-t",
            IMAGE,
            context_dir.as_str(),
        ])
    };
    let output = bud(&file);
    let runs_containers = if output.status.success() {
        true
    } else if cannot_run_containers(&output) {
        eprintln!(
            "\n!!!!! this machine cannot run containers (buildah with --isolation chroot): the image is built without the Containerfile's RUN steps, and neither `weir --version` nor the health check is run in it; only its configuration is checked.\n{} !!!!!\n",
            String::from_utf8_lossy(&output.stderr)
        );
        let reduced = scratch.write("Containerfile.no-run", &without_run_steps(&stage));
        let again = bud(&reduced.display().to_string());
        assert!(
            again.status.success(),
            "{}",
            described("buildah bud", &[], &again)
        );
        false
    } else {
        panic!("{}", described("buildah bud", &[file.as_str()], &output));
    };
    eprintln!("image built in {:.1?} (base included)", started.elapsed());

    let inspected: Value =
        serde_json::from_str(&buildah.ok(&["inspect", "--type", "image", IMAGE]))
            .expect("buildah inspect prints JSON");
    let config = &inspected["Docker"]["config"];
    assert_eq!(
        config["Entrypoint"],
        json!(["/usr/local/bin/weir"]),
        "{config:#}"
    );
    assert_eq!(
        config["Cmd"],
        json!(["master", "--config", "/etc/weir/master.toml"]),
        "{config:#}"
    );
    assert_eq!(
        config["User"],
        json!("10001:10001"),
        "a non-root user: {config:#}"
    );
    assert_eq!(
        config["Healthcheck"]["Test"],
        json!(["CMD", "/usr/local/bin/weir-healthcheck"]),
        "{config:#}"
    );
    for port in ["5800/tcp", "5801/tcp", "5880/tcp", "5881/tcp"] {
        assert!(
            config["ExposedPorts"].get(port).is_some(),
            "{port}: {config:#}"
        );
    }
    if !runs_containers {
        return;
    }

    let container = buildah
        .ok(&["from", "--pull=never", IMAGE])
        .trim()
        .to_string();
    let in_container = |args: &[&str]| {
        let mut all = vec!["run", "--isolation", "chroot", container.as_str(), "--"];
        all.extend_from_slice(args);
        buildah.run(&all)
    };
    let output = in_container(&["/usr/local/bin/weir", "--version"]);
    let version = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success() && version.starts_with("weir ") && version.contains("(commit "),
        "{}",
        described("weir --version in the container", &[], &output)
    );
    let output = in_container(&["id", "-u"]);
    assert_eq!(
        String::from_utf8_lossy(&output.stdout).trim(),
        "10001",
        "{output:?}"
    );

    // The health check fails while nothing serves, then passes against a master in the image.
    let (grpc, http) = (free_port(), free_port());
    let script = format!(
        "export WEIR_HEALTH_PORT={http}
        /usr/local/bin/weir-healthcheck && {{ echo 'healthy with nothing running'; exit 3; }}
        /usr/local/bin/weir master --listen 127.0.0.1:{grpc} --http-listen 127.0.0.1:{http} &
        pid=$!
        for _ in $(seq 600); do
            if /usr/local/bin/weir-healthcheck; then kill -TERM $pid; wait $pid; exit $?; fi
            kill -0 $pid || exit 4
            sleep 0.1
        done
        kill $pid; exit 5"
    );
    let output = in_container(&["/bin/bash", "-c", script.as_str()]);
    assert!(
        output.status.success(),
        "the health check and a master in the image:\n{}",
        described(
            "buildah run",
            &["/bin/bash", "-c", script.as_str()],
            &output
        )
    );
    eprintln!("container test done in {:.1?}", started.elapsed());
}
