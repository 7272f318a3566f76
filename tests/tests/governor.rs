//! The worker's memory governor, end to end: real `weir master` and `weir worker` processes.
//!
//! A worker pauses all intake once its RSS passes the soft watermark of its `memory.limit`, and
//! resumes once RSS falls below the resume mark. Here the watermarks are set just above the
//! worker's own idle RSS (measured on a probe worker of the same binary), far below the master's
//! placement high watermark, so jobs are still admitted; a "hog" job fills a 128 MiB queue with
//! 512 KiB rows behind a sink that never finishes its first row, which pushes RSS over the soft
//! watermark. Cancelling the hog drops its queue (rows of that size are `mmap`ed and go back to
//! the system when freed), which brings RSS back under the resume mark.
//!
//! Needs only the built binary (no Kafka, no HDFS): the jobs read FakeSource.

use std::time::{Duration, Instant};

use serde_json::Value;
use weir_e2e::cluster::{Master, Worker, WorkerOptions, write_file};
use weir_e2e::job_json::{text, u64_of};

const MIB: u64 = 1 << 20;
/// The workers' `memory.limit`: large, so every reservation fits and RSS stays far below the
/// master's high watermark (90 %).
const MEMORY_LIMIT: u64 = 1 << 30;
/// Intake pauses at the idle RSS plus this.
const PAUSE_ABOVE_IDLE: u64 = 64 * MIB;
/// Intake resumes below the idle RSS plus this.
const RESUME_ABOVE_IDLE: u64 = 32 * MIB;
/// The hog's queue bound: twice the distance to the soft watermark.
const HOG_QUEUE_BYTES: u64 = 128 * MIB;
/// The victim's rate: slow enough to count exactly, fast enough to see it move.
const VICTIM_ROWS_PER_SECOND: u64 = 50;

/// Bound for things that take a few heartbeats or governor samples.
const SOON: Duration = Duration::from_secs(30);
/// How long the victim is watched while intake is paused.
const PAUSED_WINDOW: Duration = Duration::from_secs(3);

/// An endless FakeSource → counting Console job of small rows, paced.
fn victim_job() -> String {
    format!(
        r#"
env {{ parallelism = 1, job.mode = "STREAMING" }}
source {{
  FakeSource {{
    unbounded = true
    rows_per_second = {VICTIM_ROWS_PER_SECOND}
    schema = {{ fields {{ id = "bigint", name = "string" }} }}
  }}
}}
sink {{ Console {{ log.print.data = false }} }}
"#
    )
}

/// 512 KiB rows as fast as its queue takes them, into a Console sink that sleeps an hour
/// after its first row: the queue fills to `queue.max_bytes` and stays full.
fn hog_job() -> String {
    format!(
        r#"
env {{ parallelism = 1, job.mode = "STREAMING" }}
source {{
  FakeSource {{
    unbounded = true
    string.length = {string_length}
    queue.max_bytes = {HOG_QUEUE_BYTES}
    schema = {{ fields {{ name = "string" }} }}
  }}
}}
sink {{ Console {{ log.print.data = false, log.print.delay.ms = 3600000 }} }}
"#,
        string_length = 512 * 1024
    )
}

/// The worker's RSS a moment after it registered, the median of a few samples.
fn idle_rss(master: &Master) -> u64 {
    let probe = Worker::start(master, "w-probe", "1GiB");
    let mut samples: Vec<u64> = (0..5)
        .map(|_| {
            std::thread::sleep(Duration::from_millis(100));
            probe.rss_bytes().expect("the probe worker runs")
        })
        .collect();
    samples.sort_unstable();
    drop(probe);
    // Gone from placement before any job is submitted (a closed heartbeat stream is seen at
    // once), so every job lands on the governed worker.
    master.wait_until("the probe worker is no longer ALIVE", SOON, || match master
        .try_worker("w-probe")?
    {
        Some(entry) if entry["state"] == "ALIVE" => Err(entry.to_string()),
        _ => Ok(()),
    });
    samples[samples.len() / 2]
}

fn worker_entry(master: &Master, id: &str) -> Result<Value, String> {
    master
        .try_worker(id)?
        .ok_or_else(|| format!("worker {id} is not listed"))
}

fn describe_worker(worker: &Value) -> String {
    format!(
        "pressure {}, RSS {} MiB, reserved {} MiB",
        text(worker, "pressure"),
        u64_of(worker, "rss_bytes") / MIB,
        u64_of(worker, "reserved_bytes") / MIB
    )
}

/// Waits until `weir workers` shows the worker's pressure as `state`.
fn wait_pressure(master: &Master, id: &str, state: &str) -> Value {
    master.wait_until(
        &format!("`weir workers` shows {id}'s pressure {state}"),
        SOON,
        || {
            let worker = worker_entry(master, id)?;
            if text(&worker, "pressure") == state {
                Ok(worker)
            } else {
                Err(describe_worker(&worker))
            }
        },
    )
}

fn rows_read(master: &Master, job_id: &str) -> u64 {
    u64_of(&master.job(job_id), "rows_read")
}

/// Waits until the job's `rows_read` passes `above`.
fn wait_reading(master: &Master, job_id: &str, above: u64, what: &str) -> u64 {
    master.wait_until(what, SOON, || {
        let job = master.try_job(job_id)?;
        let read = u64_of(&job, "rows_read");
        if text(&job, "state") == "Running" && read > above {
            Ok(read)
        } else {
            Err(format!("state {}, rows_read {read}", text(&job, "state")))
        }
    })
}

fn log_contains(worker: &Worker, needle: &str) -> bool {
    std::fs::read_to_string(worker.log_path())
        .map(|log| log.contains(needle))
        .unwrap_or(false)
}

/// Intake paused above the soft watermark is visible in `weir workers`, in the worker's log
/// and in a running job that stops reading; it resumes, visibly, once memory falls.
#[test]
fn the_governor_pauses_intake_visibly_and_resumes_it() {
    let started = Instant::now();
    let master = Master::start_default("governor");
    let idle = idle_rss(&master);
    let fraction = |bytes: u64| format!("{:.4}", bytes as f64 / MEMORY_LIMIT as f64);
    let soft = fraction(idle + PAUSE_ABOVE_IDLE);
    let resume = fraction(idle + RESUME_ABOVE_IDLE);
    eprintln!(
        "idle RSS {} MiB: pausing at {soft}, resuming below {resume} of {} MiB",
        idle / MIB,
        MEMORY_LIMIT / MIB
    );
    let mut options = WorkerOptions::new(&format!("{MEMORY_LIMIT}"));
    options.extra_args = vec![
        "--soft-watermark".into(),
        soft,
        "--resume-watermark".into(),
        resume,
        "--memory-sample-interval-ms".into(),
        "100".into(),
    ];
    let worker = Worker::start_with(&master, "w-governed", options);
    let before = wait_pressure(&master, "w-governed", "normal");
    master.check(!log_contains(&worker, "intake paused"), || {
        format!(
            "intake paused before any job ran: {}",
            describe_worker(&before)
        )
    });

    let victim = master.submit(&write_file(master.dir(), "victim.conf", &victim_job()));
    wait_reading(&master, &victim, 10, "the victim job reads");

    let hog = master.submit(&write_file(master.dir(), "hog.conf", &hog_job()));
    let paused = wait_pressure(&master, "w-governed", "paused");
    eprintln!("paused: {}", describe_worker(&paused));
    master.check(log_contains(&worker, "intake paused"), || {
        "the worker's log has no `intake paused` line".to_string()
    });
    // Both jobs were admitted and still run: the pause holds intake, it fails nothing.
    for job_id in [&victim, &hog] {
        let job = master.job(job_id);
        master.check(text(&job, "state") == "Running", || {
            format!("job {job_id} should be Running while paused: {job}")
        });
    }

    // Metrics read after the paused state was seen come from the same heartbeat or a later
    // one; the victim may only finish the row in hand (and one more heartbeat's worth of
    // lag in the report).
    let frozen = rows_read(&master, &victim);
    std::thread::sleep(PAUSED_WINDOW);
    let after = rows_read(&master, &victim);
    eprintln!(
        "victim rows_read {frozen} → {after} over {PAUSED_WINDOW:?} of pause (unpaused: ~{} rows)",
        VICTIM_ROWS_PER_SECOND * PAUSED_WINDOW.as_secs()
    );
    master.check(after <= frozen + 2, || {
        format!(
            "the victim read {} rows while intake was paused",
            after - frozen
        )
    });
    let still = worker_entry(&master, "w-governed").unwrap_or_else(|error| master.fail(error));
    master.check(text(&still, "pressure") == "paused", || {
        format!(
            "intake must stay paused while the hog holds its memory: {}",
            describe_worker(&still)
        )
    });

    // The hog's queue goes with it: RSS falls under the resume mark and reading resumes.
    let cancelled = master.cli(&["cancel", &hog]);
    master.check(cancelled.status.success(), || {
        format!("`weir cancel {hog}` failed: {cancelled:?}")
    });
    let resumed = wait_pressure(&master, "w-governed", "normal");
    eprintln!("resumed: {}", describe_worker(&resumed));
    master.check(log_contains(&worker, "intake resumed"), || {
        "the worker's log has no `intake resumed` line".to_string()
    });
    wait_reading(
        &master,
        &victim,
        after + 10,
        "the victim job reads again after the resume",
    );
    eprintln!("test took {:.1?}", started.elapsed());
}
