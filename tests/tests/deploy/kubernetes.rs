//! The Kubernetes manifests: every resource of the kustomization exists and parses, validates
//! strictly against the Kubernetes schemas `kubernetes-validate` ships, and wires the settings,
//! probes, volume, memory limit and Secrets as docs/deploy.md describes.

use std::path::PathBuf;

use serde_json::Value;
use weir_e2e::deploy::settings::{configmap_entry, get};
use weir_e2e::deploy::{described, repo_root, require_tool, run, shipped};

/// The kubernetes-validate release used (its schemas cover Kubernetes 1.25 to 1.37).
const VALIDATOR: &str = "kubernetes-validate==1.37.0";
/// The Kubernetes versions validated against: the oldest the manifests support and the newest.
const KUBERNETES: [&str; 2] = ["1.30.0", "1.37.0"];

/// Reads kustomization.yaml, checks each resource file exists and parses, and prints every
/// document of them as one JSON list (`[{"file": ..., "doc": ...}]`).
const LOAD: &str = r#"
import json, os, sys, yaml
root = sys.argv[1]
with open(os.path.join(root, "kustomization.yaml")) as f:
    kustomization = yaml.safe_load(f)
out = []
for resource in kustomization["resources"]:
    path = os.path.join(root, resource)
    if not os.path.isfile(path):
        sys.exit(f"kustomization.yaml names {resource}, which does not exist")
    with open(path) as f:
        docs = [d for d in yaml.safe_load_all(f) if d is not None]
    if not docs:
        sys.exit(f"{resource} holds no resource")
    for doc in docs:
        if not doc.get("kind") or not doc.get("metadata", {}).get("name"):
            sys.exit(f"{resource}: a document without kind or metadata.name")
        out.append({"file": resource, "doc": doc})
json.dump(out, sys.stdout)
"#;

/// A venv with kubernetes-validate under ~/.cache/weir, made on first use.
fn validator_venv() -> PathBuf {
    let python = require_tool("python3", "python3-venv");
    let cache = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".cache")))
        .unwrap_or_else(std::env::temp_dir)
        .join("weir");
    let venv = cache.join(VALIDATOR.replace("==", "-"));
    // Made in a staging directory and renamed, so a half-made venv is never used; its console
    // scripts name the staging path, so the tools run as `python -m`.
    if venv.join("bin/python").exists() {
        return venv;
    }
    std::fs::create_dir_all(&cache).expect("a cache directory");
    let staging = cache.join(format!("venv.tmp-{}", std::process::id()));
    let staging_text = staging.display().to_string();
    let output = run(&python, &["-m", "venv", &staging_text]);
    assert!(
        output.status.success(),
        "cannot make a Python venv: `apt-get install python3-venv` (.ci/run installs it)\n{}",
        described(&python, &["-m", "venv", &staging_text], &output)
    );
    let pip = staging.join("bin/pip");
    let args = ["install", "--quiet", VALIDATOR];
    let output = run(&pip, &args);
    assert!(
        output.status.success(),
        "cannot install {VALIDATOR} from PyPI:\n{}",
        described(&pip, &args, &output)
    );
    if std::fs::rename(&staging, &venv).is_err() {
        // Another test process made it meanwhile.
        let _ = std::fs::remove_dir_all(&staging);
    }
    venv
}

fn find<'a>(docs: &'a [Value], kind: &str) -> Vec<&'a Value> {
    docs.iter()
        .map(|entry| &entry["doc"])
        .filter(|doc| doc["kind"] == kind)
        .collect()
}

fn container(doc: &Value) -> &Value {
    &doc["spec"]["template"]["spec"]["containers"][0]
}

/// The container port named `name`.
fn port(container: &Value, name: &str) -> Option<u64> {
    container["ports"]
        .as_array()?
        .iter()
        .find(|port| port["name"] == name)?["containerPort"]
        .as_u64()
}

#[test]
fn kubernetes_manifests_validate_against_the_schemas() {
    let venv = validator_venv();
    let dir = repo_root().join("deploy/k8s");
    let dir_text = dir.display().to_string();
    let python = venv.join("bin/python");
    let args = ["-c", LOAD, dir_text.as_str()];
    let output = run(&python, &args);
    assert!(
        output.status.success(),
        "{}",
        described(&python, &["-c", "LOAD", dir_text.as_str()], &output)
    );
    let docs: Vec<Value> = serde_json::from_slice(&output.stdout).expect("JSON from the loader");
    let mut files: Vec<String> = docs
        .iter()
        .filter_map(|entry| {
            entry["file"]
                .as_str()
                .map(|file| dir.join(file).display().to_string())
        })
        .collect();
    files.dedup();

    for version in KUBERNETES {
        let mut args = vec![
            "-m",
            "kubernetes_validate",
            "--strict",
            "--no-warn",
            "-k",
            version,
        ];
        args.extend(files.iter().map(String::as_str));
        let output = run(&python, &args);
        let text = String::from_utf8_lossy(&output.stdout);
        assert!(
            output.status.success() && !text.contains("ERROR"),
            "the manifests do not validate against Kubernetes {version}:\n{}",
            described(&python, &args, &output)
        );
    }

    for kind in [
        "Namespace",
        "ConfigMap",
        "Service",
        "StatefulSet",
        "Deployment",
        "PodDisruptionBudget",
    ] {
        assert!(
            !find(&docs, kind).is_empty(),
            "no {kind} in the kustomization"
        );
    }
    let configmap = shipped("deploy/k8s/settings-configmap.yaml");
    let master_toml = configmap_entry(&configmap, "master.toml");
    let worker_toml = configmap_entry(&configmap, "worker.toml");
    let http_port = |toml: &str| -> u64 {
        let listen = get(toml, None, "http.listen").expect("http.listen is set");
        listen
            .rsplit(':')
            .next()
            .and_then(|port| port.parse().ok())
            .expect("a port")
    };

    // The master: a StatefulSet whose volume holds data_dir, probes on its HTTP port.
    let master = find(&docs, "StatefulSet")[0];
    let master_container = container(master);
    let data_dir = get(&master_toml, None, "data_dir").expect("data_dir");
    let claim = master["spec"]["volumeClaimTemplates"][0]["metadata"]["name"].clone();
    let mounts = master_container["volumeMounts"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert!(
        mounts
            .iter()
            .any(|mount| mount["name"] == claim && mount["mountPath"] == data_dir.as_str()),
        "the master's volume claim {claim} must be mounted at data_dir {data_dir}: {mounts:?}"
    );
    assert_eq!(
        port(master_container, "http"),
        Some(http_port(&master_toml))
    );

    // The worker: a memory limit (its budget) and probes on /readyz and /healthz.
    for worker in find(&docs, "Deployment") {
        let worker_container = container(worker);
        let limit = &worker_container["resources"]["limits"]["memory"];
        assert!(
            limit.is_string(),
            "the worker needs resources.limits.memory: {worker_container:#}"
        );
        assert_eq!(
            get(&worker_toml, None, "memory_limit"),
            None,
            "the budget is the container's limit"
        );
        assert_eq!(
            port(worker_container, "http"),
            Some(http_port(&worker_toml))
        );
        assert_eq!(
            worker_container["readinessProbe"]["httpGet"]["path"],
            "/readyz"
        );
        assert_eq!(
            worker_container["livenessProbe"]["httpGet"]["path"],
            "/healthz"
        );
    }
    assert_eq!(
        container(master)["readinessProbe"]["httpGet"]["path"],
        "/readyz"
    );

    // Every Secret a pod mounts is one docs/deploy.md tells how to create.
    let guide = shipped("docs/deploy.md");
    for workload in find(&docs, "StatefulSet")
        .into_iter()
        .chain(find(&docs, "Deployment"))
    {
        for volume in workload["spec"]["template"]["spec"]["volumes"]
            .as_array()
            .into_iter()
            .flatten()
        {
            if let Some(secret) = volume["secret"]["secretName"].as_str() {
                assert!(
                    guide.contains(&format!("kubectl -n weir create secret generic {secret}")),
                    "docs/deploy.md does not say how to create the Secret {secret}"
                );
            }
        }
    }
}
