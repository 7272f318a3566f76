//! A worker under a cgroup memory limit takes it as its budget, as under a systemd unit's
//! `MemoryMax=` or a Kubernetes `resources.limits.memory`.

use std::time::Duration;

use weir_e2e::cluster::{Master, free_port, weir_binary};
use weir_e2e::deploy::cgroup::{MemoryCgroup, OPT_OUT};
use weir_e2e::deploy::process::{Service, wait_until, without_test_environment};
use weir_e2e::http::get;

const MIB: u64 = 1 << 20;

#[test]
fn worker_in_a_memory_cgroup_takes_its_limit_as_budget() {
    let limit = 700 * MIB;
    let name = weir_e2e::unique_name("weir-deploy-worker");
    let cgroup = match MemoryCgroup::create(&name, limit) {
        Ok(cgroup) => cgroup,
        Err(reason) if std::env::var(OPT_OUT).as_deref() == Ok("1") => {
            eprintln!(
                "\n!!!!! {OPT_OUT}=1: NOT CHECKED that a worker takes its cgroup memory limit as its budget: this machine lets the test create no memory cgroup ({reason}) !!!!!\n"
            );
            return;
        }
        Err(reason) => panic!(
            "cannot create a memory cgroup to start the worker in ({reason}). Run the test as root on a machine with a writable cgroup hierarchy (CI does), or set {OPT_OUT}=1 to skip this check knowingly"
        ),
    };
    let master = Master::start_default("deploy-cgroup");
    let (grpc, http) = (free_port(), free_port());
    // The shell moves itself into the cgroup, then becomes the worker: no --memory-limit.
    let procs = cgroup.procs().display().to_string();
    let weir = weir_binary().display().to_string();
    let mut shell = std::process::Command::new("sh");
    without_test_environment(&mut shell);
    shell
        .args([
            "-c",
            "echo $$ > \"$1\" && shift && exec \"$@\"",
            "sh",
            procs.as_str(),
            weir.as_str(),
        ])
        .args(["worker", "--master", master.url(), "--id", "in-cgroup"])
        .arg("--listen")
        .arg(format!("127.0.0.1:{grpc}"))
        .arg("--http-listen")
        .arg(format!("127.0.0.1:{http}"))
        .stdin(std::process::Stdio::null());
    let mut worker = Service::spawn("worker-in-cgroup", shell, master.dir());
    let worker_entry = wait_until("the worker registers", Duration::from_secs(30), || {
        worker.check_running()?;
        master
            .try_worker("in-cgroup")?
            .ok_or_else(|| "not registered yet".to_string())
    })
    .unwrap_or_else(|error| master.fail(error));
    assert_eq!(
        worker_entry["memory_limit_bytes"].as_u64(),
        Some(limit),
        "the worker's budget should be its cgroup's limit: {worker_entry}\n{}",
        worker.log()
    );
    let metrics = get(&format!("http://127.0.0.1:{http}/metrics"))
        .unwrap_or_else(|error| master.fail(error))
        .text();
    for series in [
        format!("weir_worker_cgroup_limit_bytes {limit}"),
        format!("weir_worker_memory_limit_bytes {limit}"),
    ] {
        assert!(
            metrics.lines().any(|line| line == series),
            "/metrics has no `{series}`:\n{metrics}"
        );
    }
    drop(worker);
    drop(cgroup);
}
