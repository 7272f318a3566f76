//! Settings that cannot work are refused at start: `weir master` and `weir worker` exit
//! non-zero within seconds, naming the setting or file and the cause, instead of reading
//! forever, retrying forever, or starting with a silently wrong value. Runs the built binary
//! (`cargo build -p weir-cli --bin weir`); needs neither Kafka nor HDFS.
//!
//! Run: `cargo test -p weir-e2e --test settings`.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use weir_e2e::cluster::{free_port, weir_binary};

/// How long a refused start may take (the binary only parses and checks).
const QUICK: Duration = Duration::from_secs(10);

/// A scratch directory removed when dropped.
struct Scratch(PathBuf);

impl Scratch {
    fn new(name: &str) -> Self {
        let dir =
            std::env::temp_dir().join(weir_e2e::unique_name(&format!("weir-settings-{name}")));
        std::fs::create_dir_all(&dir).expect("a scratch directory");
        Scratch(dir)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Runs `weir ARGS` (no `WEIR_*` settings from the environment), which must exit non-zero
/// within [`QUICK`]; returns its stderr. A process still running then is killed and the test
/// fails: that is the "retries forever" or "reads forever" this test is about.
fn refused_start(scratch: &Scratch, args: &[&str]) -> String {
    let stderr_path = scratch.0.join("stderr.log");
    let stderr = File::create(&stderr_path).expect("a file for stderr");
    let mut command = Command::new(weir_binary());
    command
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(stderr);
    for (variable, _) in std::env::vars_os() {
        if variable.to_string_lossy().starts_with("WEIR_") {
            command.env_remove(variable);
        }
    }
    let mut child = command.spawn().expect("cannot run the weir binary");
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait for weir") {
            break status;
        }
        if started.elapsed() > QUICK {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "`weir {}` still ran after {QUICK:?} instead of refusing to start; stderr:\n{}",
                args.join(" "),
                std::fs::read_to_string(&stderr_path).unwrap_or_default()
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let text = std::fs::read_to_string(&stderr_path).unwrap_or_default();
    assert!(
        !status.success(),
        "`weir {}` succeeded; stderr:\n{text}",
        args.join(" ")
    );
    assert!(
        !text.contains("panicked"),
        "`weir {}` panicked:\n{text}",
        args.join(" ")
    );
    text
}

fn listen() -> String {
    format!("127.0.0.1:{}", free_port())
}

fn assert_names(stderr: &str, needles: &[&str]) {
    for needle in needles {
        assert!(
            stderr.contains(needle),
            "stderr does not name {needle:?}:\n{stderr}"
        );
    }
}

#[test]
fn a_master_settings_file_that_is_a_device_is_refused_before_reading() {
    let scratch = Scratch::new("dev-zero");
    let data = scratch.0.join("data").display().to_string();
    let stderr = refused_start(
        &scratch,
        &[
            "master",
            "--config",
            "/dev/zero",
            "--listen",
            &listen(),
            "--data-dir",
            &data,
        ],
    );
    assert_names(&stderr, &["/dev/zero", "not a regular file"]);
}

#[test]
fn a_worker_whose_master_is_not_an_http_url_does_not_start() {
    let scratch = Scratch::new("ftp");
    let stderr = refused_start(
        &scratch,
        &[
            "worker",
            "--master",
            "ftp://x",
            "--listen",
            &listen(),
            "--memory-limit",
            "1GiB",
        ],
    );
    assert_names(&stderr, &["'master'", "ftp://x", "http://"]);
}

#[test]
fn a_zero_memory_limit_is_refused() {
    let scratch = Scratch::new("zero-memory");
    let stderr = refused_start(
        &scratch,
        &["worker", "--memory-limit", "0", "--listen", &listen()],
    );
    assert_names(&stderr, &["'memory_limit'", "more than 0"]);
    // The same value from a settings file is refused alike.
    let settings = scratch.0.join("worker.toml");
    std::fs::write(&settings, "memory_limit = \"0B\"\n").expect("write worker.toml");
    let stderr = refused_start(
        &scratch,
        &[
            "worker",
            "--config",
            &settings.display().to_string(),
            "--listen",
            &listen(),
        ],
    );
    assert_names(&stderr, &["'memory_limit'", "more than 0"]);
}

#[test]
fn an_empty_or_unprintable_worker_id_is_refused() {
    let scratch = Scratch::new("worker-id");
    for id in ["", "w 1", "w\u{1b}[2J"] {
        let stderr = refused_start(
            &scratch,
            &[
                "worker",
                "--id",
                id,
                "--listen",
                &listen(),
                "--memory-limit",
                "1GiB",
            ],
        );
        assert_names(&stderr, &["'id'"]);
    }
}

#[test]
fn an_empty_job_store_stops_the_master_naming_the_file() {
    let scratch = Scratch::new("empty-store");
    let data = scratch.0.join("data");
    std::fs::create_dir_all(&data).expect("the data directory");
    let store: &Path = &data.join("jobs.redb");
    File::create(store).expect("a 0-byte jobs.redb");
    let stderr = refused_start(
        &scratch,
        &[
            "master",
            "--listen",
            &listen(),
            "--data-dir",
            &data.display().to_string(),
        ],
    );
    assert_names(&stderr, &[&store.display().to_string(), "empty"]);
    assert_eq!(
        std::fs::metadata(store)
            .expect("jobs.redb is still there")
            .len(),
        0,
        "the master must not overwrite the store it refused"
    );
}
