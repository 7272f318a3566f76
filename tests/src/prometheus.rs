//! A real Prometheus (Debian's `prometheus` package) scraping the Weir processes a test
//! started, queried through its HTTP API; and `promtool check metrics`. The scrape config comes
//! from `deploy/local/prometheus config`, the script people use to do the same by hand.
//!
//! A missing `prometheus` or `promtool` fails the test with the package to install.

use std::io::Write as _;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::cluster::free_port;
use crate::http;

const INSTALL: &str =
    "install Debian's prometheus package (`apt-get install prometheus`; CI's .ci/run does)";

/// A running Prometheus; killed on drop.
pub struct Prometheus {
    child: Option<Child>,
    url: String,
    dir: PathBuf,
}

/// One sample of an instant query: its labels and value.
#[derive(Debug, Clone)]
pub struct Sample {
    /// The series' labels (`__name__` included when the query keeps it).
    pub labels: serde_json::Map<String, Value>,
    /// The value.
    pub value: f64,
}

impl Sample {
    /// A label's value, empty when absent.
    pub fn label(&self, name: &str) -> &str {
        self.labels
            .get(name)
            .and_then(Value::as_str)
            .unwrap_or_default()
    }
}

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ lives in the repository")
        .to_path_buf()
}

fn require(tool: &str) -> PathBuf {
    let found = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|dir| dir.join(tool))
            .find(|path| path.is_file())
    });
    found.unwrap_or_else(|| panic!("`{tool}` is not installed: {INSTALL}"))
}

impl Prometheus {
    /// Starts Prometheus in `dir` scraping `masters` and `workers` (`host:port` of their HTTP
    /// servers) every `interval`, and waits until it has scraped every target once.
    pub fn start(dir: &Path, masters: &[String], workers: &[String], interval: &str) -> Self {
        let binary = require("prometheus");
        std::fs::create_dir_all(dir.join("prometheus-data"))
            .unwrap_or_else(|error| panic!("cannot create {}: {error}", dir.display()));
        let mut args = vec!["config".to_string(), "--interval".into(), interval.into()];
        for master in masters {
            args.extend(["--master".to_string(), master.clone()]);
        }
        for worker in workers {
            args.extend(["--worker".to_string(), worker.clone()]);
        }
        let script = repo_root().join("deploy/local/prometheus");
        let output = Command::new(&script)
            .args(&args)
            .output()
            .unwrap_or_else(|error| panic!("cannot run {}: {error}", script.display()));
        assert!(
            output.status.success(),
            "{} {args:?} failed: {}",
            script.display(),
            String::from_utf8_lossy(&output.stderr)
        );
        let config = dir.join("prometheus.yml");
        std::fs::write(&config, &output.stdout)
            .unwrap_or_else(|error| panic!("cannot write {}: {error}", config.display()));
        let address = SocketAddr::from((Ipv4Addr::LOCALHOST, free_port()));
        let log_path = dir.join("prometheus.log");
        let log = std::fs::File::create(&log_path)
            .unwrap_or_else(|error| panic!("cannot create {}: {error}", log_path.display()));
        let child = Command::new(binary)
            .arg(format!("--config.file={}", config.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.join("prometheus-data").display()
            ))
            .arg(format!("--web.listen-address={address}"))
            .stdin(Stdio::null())
            .stdout(Stdio::from(log.try_clone().expect("clone a file handle")))
            .stderr(Stdio::from(log))
            .spawn()
            .unwrap_or_else(|error| panic!("cannot start prometheus: {error}"));
        let prometheus = Prometheus {
            child: Some(child),
            url: format!("http://{address}"),
            dir: dir.to_path_buf(),
        };
        prometheus.wait_for(
            "every target scraped and up",
            Duration::from_secs(60),
            || {
                let targets = http::get(&format!("{}/api/v1/targets", prometheus.url))?.json()?;
                let active = targets["data"]["activeTargets"]
                    .as_array()
                    .cloned()
                    .unwrap_or_default();
                let expected = masters.len() + workers.len();
                let up = active
                    .iter()
                    .filter(|target| target["health"] == "up")
                    .count();
                if active.len() == expected && up == expected {
                    Ok(())
                } else {
                    Err(format!("{up} of {expected} targets up: {active:?}"))
                }
            },
        );
        prometheus
    }

    /// Its base URL.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The last lines of its log.
    pub fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(self.dir.join("prometheus.log")).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(20)..].join("\n")
    }

    /// Runs an instant query (`/api/v1/query`).
    pub fn query(&self, expression: &str) -> Result<Vec<Sample>, String> {
        let url = format!(
            "{}/api/v1/query?query={}",
            self.url,
            http::encode_query(expression)
        );
        let answer = http::get(&url)?.json()?;
        if answer["status"] != "success" {
            return Err(format!("query {expression:?} failed: {answer}"));
        }
        let results = answer["data"]["result"]
            .as_array()
            .ok_or_else(|| format!("query {expression:?}: no result vector in {answer}"))?;
        results
            .iter()
            .map(|result| {
                let value = result["value"][1]
                    .as_str()
                    .and_then(|text| text.parse::<f64>().ok())
                    .ok_or_else(|| format!("query {expression:?}: bad sample {result}"))?;
                Ok(Sample {
                    labels: result["metric"].as_object().cloned().unwrap_or_default(),
                    value,
                })
            })
            .collect()
    }

    /// The single value of a query that must return exactly one sample.
    pub fn scalar(&self, expression: &str) -> Result<f64, String> {
        match self.query(expression)?.as_slice() {
            [one] => Ok(one.value),
            other => Err(format!(
                "query {expression:?} returned {} samples, expected one: {other:?}",
                other.len()
            )),
        }
    }

    /// Polls `probe` every 250 ms until `Ok`, at most `timeout`; then fails with `what`, the
    /// last observation and Prometheus's log.
    pub fn wait_for<T>(
        &self,
        what: &str,
        timeout: Duration,
        mut probe: impl FnMut() -> Result<T, String>,
    ) -> T {
        let started = Instant::now();
        loop {
            match probe() {
                Ok(value) => return value,
                Err(observed) if started.elapsed() >= timeout => panic!(
                    "timed out after {:?} waiting until {what} (Prometheus at {})\nlast observed: {observed}\n--- prometheus log ---\n{}",
                    started.elapsed(),
                    self.url,
                    self.log_tail()
                ),
                Err(_) => std::thread::sleep(Duration::from_millis(250)),
            }
        }
    }
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// `promtool check metrics` on an exposition; `Err` carries promtool's complaints.
pub fn promtool_check_metrics(exposition: &str) -> Result<(), String> {
    let promtool = require("promtool");
    let mut child = Command::new(promtool)
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|error| format!("cannot run promtool: {error}"))?;
    child
        .stdin
        .take()
        .expect("piped stdin")
        .write_all(exposition.as_bytes())
        .map_err(|error| format!("cannot feed promtool: {error}"))?;
    let output = child
        .wait_with_output()
        .map_err(|error| format!("promtool: {error}"))?;
    if output.status.success() {
        Ok(())
    } else {
        Err(format!(
            "promtool check metrics failed ({}):\n{}{}",
            output.status,
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        ))
    }
}
