//! Safe defaults: `weir master` and `weir worker` refuse a non-loopback listen address without
//! TLS (and, for the master, a tokens file) unless `--insecure` is given, which starts them
//! with a loud warning.

use std::process::{Child, Command, Stdio};
use std::time::Instant;

use weir_e2e::cluster::{free_port, weir, weir_binary};

use super::*;

/// A process killed when the test ends, however it ends.
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Runs `weir ARGS` and returns its exit status and stderr, failing the test if it is still
/// running after `SOON` (a refused start exits at once).
fn run_to_exit(args: &[String], log: &std::path::Path) -> (std::process::ExitStatus, String) {
    let file = std::fs::File::create(log).expect("create the log");
    let mut child = Running(
        Command::new(weir_binary())
            .args(args)
            .env_remove("WEIR_TLS_CERT")
            .env_remove("WEIR_TOKENS_FILE")
            .env_remove("WEIR_INSECURE")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(file)
            .spawn()
            .expect("start weir"),
    );
    let started = Instant::now();
    loop {
        if let Some(status) = child.0.try_wait().expect("wait for weir") {
            return (status, std::fs::read_to_string(log).unwrap_or_default());
        }
        assert!(
            started.elapsed() < SOON,
            "`weir {}` did not exit; it should refuse to start:\n{}",
            args.join(" "),
            std::fs::read_to_string(log).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn a_non_loopback_listen_without_tls_is_refused_unless_insecure() {
    let dir = tempfile_dir("exposure");
    let data = dir.join("data").display().to_string();
    let port = free_port();
    let everywhere = format!("0.0.0.0:{port}");
    let master: Vec<String> = ["master", "--listen", &everywhere, "--data-dir", &data]
        .iter()
        .map(|arg| arg.to_string())
        .collect();
    let (status, log) = run_to_exit(&master, &dir.join("master-refused.log"));
    assert!(
        !status.success() && log.contains("--insecure") && log.contains(&everywhere),
        "the master was not refused: {status}\n{log}"
    );
    let worker: Vec<String> = [
        "worker",
        "--listen",
        &everywhere,
        "--master",
        "http://127.0.0.1:1",
        "--memory-limit",
        "1GiB",
    ]
    .iter()
    .map(|arg| arg.to_string())
    .collect();
    let (status, log) = run_to_exit(&worker, &dir.join("worker-refused.log"));
    assert!(
        !status.success() && log.contains("--insecure"),
        "the worker was not refused: {status}\n{log}"
    );

    // With --insecure it starts, and says loudly what that means.
    let log_path = dir.join("master-insecure.log");
    let mut insecure = master.clone();
    insecure.push("--insecure".into());
    let _master = Running(
        Command::new(weir_binary())
            .args(&insecure)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log_path).expect("create the log"))
            .spawn()
            .expect("start weir master"),
    );
    let url = format!("http://127.0.0.1:{port}");
    let started = Instant::now();
    loop {
        let output = weir(&["jobs", "--master", &url]);
        if output.status.success() {
            break;
        }
        assert!(
            started.elapsed() < SOON,
            "the --insecure master does not answer: {}\n{}",
            describe(&["jobs"], &output),
            std::fs::read_to_string(&log_path).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let log = std::fs::read_to_string(&log_path).unwrap_or_default();
    assert!(log.contains("INSECURE"), "no warning at start:\n{log}");
    let _ = std::fs::remove_dir_all(&dir);
}

fn tempfile_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(weir_e2e::unique_name(&format!("weir-e2e-{name}")));
    std::fs::create_dir_all(&dir).expect("create the test directory");
    dir
}

#[test]
fn a_non_loopback_http_listen_without_tls_and_tokens_is_refused() {
    let dir = tempfile_dir("http-exposure");
    let data = dir.join("data").display().to_string();
    let loopback = format!("127.0.0.1:{}", free_port());
    let http_everywhere = format!("0.0.0.0:{}", free_port());
    let args = |list: &[&str]| list.iter().map(|arg| arg.to_string()).collect::<Vec<_>>();
    let master = args(&[
        "master",
        "--listen",
        &loopback,
        "--http-listen",
        &http_everywhere,
        "--data-dir",
        &data,
    ]);
    let (status, log) = run_to_exit(&master, &dir.join("master-http-refused.log"));
    assert!(
        !status.success()
            && log.contains("master's HTTP server")
            && log.contains(&http_everywhere)
            && log.contains("tokens file")
            && log.contains("--insecure"),
        "the master's HTTP server was not refused: {status}\n{log}"
    );
    let worker = args(&[
        "worker",
        "--listen",
        &loopback,
        "--http-listen",
        &http_everywhere,
        "--master",
        "http://127.0.0.1:1",
        "--memory-limit",
        "1GiB",
    ]);
    let (status, log) = run_to_exit(&worker, &dir.join("worker-http-refused.log"));
    assert!(
        !status.success() && log.contains("worker's HTTP server") && log.contains("--insecure"),
        "the worker's HTTP server was not refused: {status}\n{log}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
