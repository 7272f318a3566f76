//! SIGTERM to `weir local`: the same stop as Ctrl-C, with a final checkpoint.

use std::fs::File;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};

use serde_json::Value;
use weir_e2e::cluster::{weir, weir_binary, write_file};
use weir_e2e::exactly_once::job_json::{checkpoints, status_line, text, u64_of};
use weir_e2e::exactly_once::support::{Codec, Format};
use weir_e2e::exactly_once::{FIRST_CHECKPOINT, JobFile, PARALLELISM, START};

use super::*;

/// Records produced before `weir local` starts.
const LOCAL_RECORDS: u64 = 50_000;
/// Bound for `weir local` to stop after SIGTERM: its stop waits up to 60 s for the job.
const STOPPED: Duration = Duration::from_secs(90);

/// A `weir local` process with its output in a log file; killed if the test fails.
struct LocalRun {
    child: Option<Child>,
    dir: PathBuf,
    log: PathBuf,
}

impl LocalRun {
    fn start(dir: PathBuf, job_file: &Path) -> Self {
        let log = dir.join("local.log");
        let output = File::create(&log).expect("the log of weir local");
        let child = Command::new(weir_binary())
            .arg("local")
            .arg(job_file)
            .args(["--memory-limit", "1GiB", "--data-dir"])
            .arg(dir.join("data"))
            .stdin(Stdio::null())
            .stdout(output.try_clone().expect("clone the log handle"))
            .stderr(output)
            .env("RUST_LOG", "info")
            .env_remove("WEIR_MASTER")
            .env_remove("WEIR_MEMORY_LIMIT")
            .env_remove("WEIR_LOG_FORMAT")
            .spawn()
            .expect("cannot start `weir local`");
        LocalRun {
            child: Some(child),
            dir,
            log,
        }
    }

    fn output(&self) -> String {
        String::from_utf8_lossy(&std::fs::read(&self.log).unwrap_or_default()).into_owned()
    }

    #[track_caller]
    fn fail(&self, message: impl std::fmt::Display) -> ! {
        panic!(
            "{message}\n----- output of weir local ({}) -----\n{}",
            self.log.display(),
            self.output()
        )
    }

    /// Polls `probe` every 100 ms for at most `within`; fails with `what` and the output.
    fn wait<T>(
        &self,
        what: &str,
        within: Duration,
        mut probe: impl FnMut() -> Result<T, String>,
    ) -> T {
        let started = Instant::now();
        loop {
            let observed = match probe() {
                Ok(value) => return value,
                Err(observed) => observed,
            };
            if started.elapsed() >= within {
                self.fail(format!(
                    "timed out after {within:?} waiting until {what}; last observed: {observed}"
                ));
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for LocalRun {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        if std::thread::panicking() {
            eprintln!(
                "[local] the test failed; its files are kept in {}",
                self.dir.display()
            );
        } else {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

/// `weir job ID -o json --master URL`.
fn job(url: &str, job_id: &str) -> Result<Value, String> {
    let output = weir(&["job", job_id, "-o", "json", "--master", url]);
    if !output.status.success() {
        return Err(String::from_utf8_lossy(&output.stderr).into_owned());
    }
    serde_json::from_slice(&output.stdout).map_err(|error| error.to_string())
}

/// 50 000 records; `weir local` runs Kafka → HdfsFile (json) with parallelism 2. Once a
/// checkpoint has completed mid-run, it gets SIGTERM: like Ctrl-C, it must stop the job with a
/// final checkpoint and exit 0, reporting the job Stopped. Everything it wrote is then
/// committed — as many rows as it reports written, each id once, a prefix of every partition,
/// under names of checkpoints up to the final one — and its embedded master logs no worker
/// death.
#[test]
fn sigterm_to_weir_local_stops_the_job_with_a_final_checkpoint() {
    let format = Format::Json;
    let scenario = Scenario::new("local_sigterm");
    scenario.produce(format, 0..LOCAL_RECORDS);
    let dir = std::env::temp_dir().join(weir_e2e::unique_name("weir-e2e-local-sigterm"));
    std::fs::create_dir_all(&dir).expect("the test's directory");
    let text_of_job = JobFile::new(format, ROWS_PER_SECOND).text(&scenario);
    let job_file = write_file(&dir, "job.conf", &text_of_job);
    let run = LocalRun::start(dir, &job_file);

    let marker = "submitted to the embedded master at ";
    let (job_id, url) = run.wait("weir local submits the job", START, || {
        let output = run.output();
        let line = output
            .lines()
            .find(|line| line.contains(marker))
            .ok_or("not yet")?;
        let job_id = line
            .split_whitespace()
            .nth(1)
            .ok_or("no job id")?
            .to_string();
        let url = line
            .split(marker)
            .nth(1)
            .and_then(|rest| rest.split_whitespace().next())
            .ok_or("no URL")?
            .to_string();
        Ok((job_id, url))
    });
    scenario.say(format!("weir local runs job {job_id} on {url}"));
    let before = run.wait("a checkpoint completed mid-run", FIRST_CHECKPOINT, || {
        let job = job(&url, &job_id)?;
        let mid_run = checkpoints(&job).last_completed_id >= 1
            && u64_of(&job, "rows_written") > 0
            && job["consumer_lag"].as_i64().is_some_and(|lag| lag > 0);
        if mid_run {
            Ok(job)
        } else {
            Err(status_line(&job))
        }
    });

    scenario.say(format!("SIGTERM to weir local: {}", status_line(&before)));
    let Some(child) = &run.child else {
        run.fail("weir local is not running")
    };
    let pid = child.id();
    let killed = Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status()
        .expect("kill(1)");
    assert!(killed.success(), "kill -TERM {pid}: {killed}");
    let sent = Instant::now();
    let mut run = run;
    let status = loop {
        let child = run.child.as_mut().expect("weir local is running");
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) if sent.elapsed() < STOPPED => std::thread::sleep(Duration::from_millis(100)),
            Ok(None) => run.fail(format!(
                "weir local did not exit within {STOPPED:?} of SIGTERM"
            )),
            Err(error) => run.fail(format!("cannot wait for weir local: {error}")),
        }
    };
    run.child = None;
    scenario.say(format!(
        "weir local exited with {status} after {:.1?}",
        sent.elapsed()
    ));
    if !status.success() {
        run.fail(format!(
            "weir local should exit 0 after SIGTERM, not {status}"
        ));
    }

    let output = run.output();
    if !output.contains("interrupted (SIGTERM): stopping the job with a final checkpoint") {
        run.fail("weir local should say it stops the job with a final checkpoint on SIGTERM");
    }
    let last = format!("job {job_id} Stopped: ");
    let Some(summary) = output.lines().find(|line| line.starts_with(&last)) else {
        run.fail(format!("weir local should report `{last}…`"))
    };
    // "job ID Stopped: R rows read, W written, last checkpoint K (reason)"
    let numbers: Vec<u64> = summary[last.len()..]
        .split(|c: char| !c.is_ascii_digit())
        .filter_map(|part| part.parse().ok())
        .collect();
    let [read, written, checkpoint, ..] = numbers[..] else {
        run.fail(format!("cannot read the counts of {summary:?}"))
    };
    scenario.say(summary);
    if output.contains("worker is DEAD") {
        run.fail("the embedded master should see its worker deregister, not die");
    }

    let committed = scenario
        .committed(format, Codec::None)
        .unwrap_or_else(|error| run.fail(error));
    scenario.say(format!("read back: {}", committed.summary()));
    committed
        .check_no_duplicates()
        .unwrap_or_else(|error| run.fail(error));
    let prefixes = committed
        .check_partition_prefixes()
        .unwrap_or_else(|error| run.fail(error));
    let rows = committed.rows() as u64;
    // Rows still queued at the final barrier were read but not written: neither they nor their
    // offsets are committed, and a restore reads them again.
    if rows != written || written > read || rows >= LOCAL_RECORDS || rows == 0 {
        run.fail(format!(
            "the final checkpoint should commit every row written, mid-run: {rows} committed (per partition {prefixes:?}), {read} read, {written} written, of {LOCAL_RECORDS}"
        ));
    }
    committed
        .check_file_names(&[&job_id], PARALLELISM, checkpoint)
        .unwrap_or_else(|error| run.fail(error));
    scenario.say(format!(
        "stopped by SIGTERM at checkpoint {checkpoint} ({}): {rows} rows committed exactly once",
        text(&before, "state")
    ));
}
