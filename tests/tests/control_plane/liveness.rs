//! Liveness and memory reporting of workers: a killed worker, a hung one (SIGSTOP), one that
//! comes back under the same id, and the RSS a worker reports against /proc.

use std::process::Command;
use std::time::{Duration, Instant};

use weir_e2e::cluster::{Master, MasterOptions, Worker};

use super::{
    GIB, PLACEMENT, SOON, job_file, number, task_ids, task0, text, wait_rows_grow, wait_running_on,
    wait_worker,
};

/// VmRSS of a process in bytes, from /proc.
fn vm_rss(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_else(|error| panic!("cannot read /proc/{pid}/status: {error}"));
    let line = status
        .lines()
        .find(|line| line.starts_with("VmRSS:"))
        .unwrap_or_else(|| panic!("no VmRSS in /proc/{pid}/status"));
    let kib: u64 = line
        .split_whitespace()
        .nth(1)
        .and_then(|kib| kib.parse().ok())
        .unwrap_or_else(|| panic!("cannot parse {line:?}"));
    kib * 1024
}

/// One comparison of `reported_rss_matches_proc`.
struct RssPair {
    reported: u64,
    actual: u64,
    heartbeat_age_ms: u64,
}

impl RssPair {
    fn off(&self) -> f64 {
        (self.reported as f64 - self.actual as f64).abs() / self.actual as f64
    }
}

impl std::fmt::Display for RssPair {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "rss_bytes {} (heartbeat {} ms old) vs VmRSS {}: {:.1} % off",
            self.reported,
            self.heartbeat_age_ms,
            self.actual,
            self.off() * 100.0
        )
    }
}

#[test]
fn reported_rss_matches_proc() {
    const ATTEMPTS: usize = 3;
    const TOLERANCE: f64 = 0.10;
    let master = Master::start_default("reported_rss_matches_proc");
    let worker = Worker::start(&master, "w-rss", "1GiB");
    let pid = worker.pid();

    // Measure a worker at work, not an idle one: its queue, sink and task threads count.
    let job_id = master.submit(&job_file("fake_small.conf"));
    let job = wait_running_on(&master, &job_id, worker.id(), None);
    wait_rows_grow(&master, &job_id, number(&job, "rows_read"), false);
    let reservation = number(&job, "subtask_reservation_bytes");
    let entry = wait_worker(
        &master,
        worker.id(),
        "reports its memory while it holds the job's task",
        SOON,
        |entry| {
            entry["rss_bytes"].as_u64().is_some_and(|rss| rss > 0)
                && entry["worker_reserved_bytes"].as_u64() == Some(reservation)
        },
    );
    master.check(entry["memory_limit_bytes"].as_u64() == Some(GIB), || {
        format!("memory_limit_bytes should be 1 GiB (--memory-limit 1GiB): {entry}")
    });

    // Each attempt is one `weir workers` answer against VmRSS read right after it. The answer
    // is up to one heartbeat old, so an attempt may be unlucky; each later attempt waits for a
    // heartbeat no earlier attempt saw, or it would only repeat the same figure.
    let interval = Duration::from_millis(MasterOptions::default().heartbeat_interval_ms);
    let mut pairs: Vec<RssPair> = Vec::new();
    let mut last_beat: Option<Instant> = None;
    for attempt in 1..=ATTEMPTS {
        let (pair, beat) = master.wait_until(
            &format!("attempt {attempt}: a heartbeat newer than the previous attempt's"),
            SOON,
            || {
                let asked = Instant::now();
                let entry = master
                    .try_worker(worker.id())?
                    .ok_or_else(|| "the worker is not listed".to_string())?;
                let actual = vm_rss(pid);
                let heartbeat_age_ms = number(&entry, "last_heartbeat_age_ms");
                let beat = asked
                    .checked_sub(Duration::from_millis(heartbeat_age_ms))
                    .unwrap_or(asked);
                // Heartbeats are `interval` apart; half of it tells a new one from the jitter
                // of timing the same one twice.
                if last_beat.is_some_and(|last| beat < last + interval / 2) {
                    return Err(format!("the same heartbeat as before: {entry}"));
                }
                let pair = RssPair {
                    reported: number(&entry, "rss_bytes"),
                    actual,
                    heartbeat_age_ms,
                };
                Ok((pair, beat))
            },
        );
        last_beat = Some(beat);
        let matched = pair.off() <= TOLERANCE;
        eprintln!("attempt {attempt}: {pair}");
        pairs.push(pair);
        if matched {
            return;
        }
    }
    let report: Vec<String> = pairs
        .iter()
        .enumerate()
        .map(|(index, pair)| format!("  attempt {}: {pair}", index + 1))
        .collect();
    master.fail(format!(
        "no single `weir workers` answer was within {:.0} % of the worker's VmRSS read right after it, in {ATTEMPTS} attempts:\n{}",
        TOLERANCE * 100.0,
        report.join("\n")
    ));
}

#[test]
fn worker_death_and_recovery() {
    let heartbeat_timeout = Duration::from_millis(2000);
    let master = Master::start(
        "worker_death_and_recovery",
        MasterOptions {
            heartbeat_timeout_ms: heartbeat_timeout.as_millis() as u64,
            ..MasterOptions::default()
        },
    );
    let mut worker_a = Worker::start(&master, "w-a", "1GiB");
    let job_id = master.submit(&job_file("fake_small.conf"));
    let job = wait_running_on(&master, &job_id, worker_a.id(), Some(1));
    wait_rows_grow(&master, &job_id, number(&job, "rows_read"), false);

    worker_a.kill_9();
    let killed = Instant::now();
    let detect_within = heartbeat_timeout + Duration::from_secs(1);
    master.wait_until(
        &format!("w-a is DEAD and job {job_id} has left Running (Recovering/Queued), within {detect_within:?} of kill -9"),
        detect_within,
        || {
            let worker = master.try_worker("w-a")?;
            let job = master.try_job(&job_id)?;
            let dead = worker.as_ref().is_some_and(|w| w["state"] == "DEAD");
            let left = matches!(text(&job, "state").as_str(), "Recovering" | "Queued");
            if dead && left {
                Ok(())
            } else {
                Err(format!("worker: {worker:?}\njob: {job}"))
            }
        },
    );
    eprintln!("kill -9 of w-a detected in {:?}", killed.elapsed());

    let worker_b = Worker::start(&master, "w-b", "1GiB");
    let job = wait_running_on(&master, &job_id, worker_b.id(), Some(2));
    let task = task0(&job).unwrap().clone();
    let rows = task["metrics"]["rows_read"].as_u64().unwrap_or_default();
    wait_rows_grow(&master, &job_id, rows, true);
    let task_id = text(&task, "task_id");
    wait_worker(
        &master,
        worker_b.id(),
        &format!("lists task {task_id}"),
        SOON,
        |entry| task_ids(entry) == [task_id.clone()],
    );
    eprintln!(
        "job running again on w-b {:?} after kill -9 of w-a",
        killed.elapsed()
    );

    // A DEAD worker restarted with the same id is ALIVE again (a fresh registration) and
    // takes nothing from w-b: the job stays where it runs.
    let _worker_a = Worker::start(&master, "w-a", "1GiB");
    wait_worker(
        &master,
        "w-a",
        "is ALIVE again after its restart, with no tasks and nothing reserved",
        SOON,
        |entry| {
            entry["state"] == "ALIVE"
                && task_ids(entry).is_empty()
                && entry["reserved_bytes"].as_u64() == Some(0)
                && entry["worker_reserved_bytes"].as_u64() == Some(0)
        },
    );
    let job = wait_running_on(&master, &job_id, worker_b.id(), Some(2));
    master.check(text(task0(&job).unwrap(), "task_id") == task_id, || {
        format!("the job moved after w-a came back: {job}")
    });
}

/// Sends `signal` (`STOP`, `CONT`) to process `pid` with kill(1).
fn send_signal(pid: u32, signal: &str) -> Result<(), String> {
    let status = Command::new("kill")
        .arg(format!("-{signal}"))
        .arg(pid.to_string())
        .status()
        .map_err(|error| format!("cannot run `kill -{signal} {pid}`: {error}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("`kill -{signal} {pid}` exited with {status}"))
    }
}

/// A process frozen with SIGSTOP: a worker that hangs without closing its sockets, so the
/// master sees nothing but silence. Dropping the guard continues it, so a failing test never
/// leaves a stopped process behind (its `Worker` handle then kills it as usual).
struct Frozen {
    pid: u32,
    frozen: bool,
}

impl Frozen {
    fn freeze(pid: u32) -> Self {
        send_signal(pid, "STOP").unwrap_or_else(|error| panic!("{error}"));
        Self { pid, frozen: true }
    }

    fn thaw(&mut self) {
        send_signal(self.pid, "CONT").unwrap_or_else(|error| panic!("{error}"));
        self.frozen = false;
    }
}

impl Drop for Frozen {
    fn drop(&mut self) {
        if self.frozen
            && let Err(error) = send_signal(self.pid, "CONT")
        {
            eprintln!("warning: could not continue the frozen process: {error}");
        }
    }
}

#[test]
fn silent_worker_is_dead_then_registers_again() {
    let heartbeat_timeout = Duration::from_millis(2000);
    let master = Master::start(
        "silent_worker_is_dead_then_registers_again",
        MasterOptions {
            heartbeat_timeout_ms: heartbeat_timeout.as_millis() as u64,
            ..MasterOptions::default()
        },
    );
    let worker = Worker::start(&master, "w-hang", "1GiB");
    let job_id = master.submit(&job_file("fake_small.conf"));
    let job = wait_running_on(&master, &job_id, worker.id(), Some(1));
    let reservation = number(&job, "subtask_reservation_bytes");
    wait_rows_grow(&master, &job_id, number(&job, "rows_read"), false);

    let mut frozen = Frozen::freeze(worker.pid());
    let stopped = Instant::now();
    let detect_within = heartbeat_timeout + Duration::from_secs(1);
    // Its socket stays open, so only the heartbeat timeout can tell the master.
    let (seen_after, job) = master.wait_until(
        &format!("w-hang is DEAD and job {job_id} has left Running, within {detect_within:?} of kill -STOP"),
        detect_within.saturating_sub(stopped.elapsed()),
        || {
            let entry = master.try_worker("w-hang")?;
            let job = master.try_job(&job_id)?;
            let seen_after = stopped.elapsed();
            let dead = entry.as_ref().is_some_and(|w| w["state"] == "DEAD");
            let left = matches!(text(&job, "state").as_str(), "Recovering" | "Queued");
            if dead && left {
                Ok((seen_after, job))
            } else {
                Err(format!("worker: {entry:?}\njob: {job}"))
            }
        },
    );
    master.check(seen_after <= detect_within, || {
        format!("w-hang was seen DEAD only {seen_after:?} after kill -STOP, later than {detect_within:?}")
    });
    eprintln!("kill -STOP of w-hang detected within {seen_after:?}");
    // The hung attempt is written off (Lost) and its reservation released, so it can be placed
    // again; with no other worker the job waits for one.
    let task = task0(&job).unwrap();
    master.check(
        task["state"] == "Lost"
            && task["attempt"].as_u64() == Some(1)
            && task["reserved_bytes"] == 0,
        || format!("tasks[0] should be attempt 1, Lost, reserving nothing: {job}"),
    );
    let entry = master
        .try_worker("w-hang")
        .unwrap_or_else(|e| master.fail(e));
    master.check(
        entry
            .as_ref()
            .is_some_and(|e| e["reserved_bytes"].as_u64() == Some(0) && task_ids(e).is_empty()),
        || format!("a DEAD worker holds no reservation or task in the master's count: {entry:?}"),
    );

    // Continued, the worker hears that its session is gone, stops the hung attempt, registers
    // again under the same id, and the job is placed on it again as attempt 2.
    frozen.thaw();
    let thawed = Instant::now();
    wait_worker(&master, "w-hang", "is ALIVE again", PLACEMENT, |entry| {
        entry["state"] == "ALIVE"
    });
    eprintln!("w-hang ALIVE again {:?} after kill -CONT", thawed.elapsed());
    let job = wait_running_on(&master, &job_id, "w-hang", Some(2));
    let task = task0(&job).unwrap().clone();
    let task_id = text(&task, "task_id");
    wait_rows_grow(
        &master,
        &job_id,
        task["metrics"]["rows_read"].as_u64().unwrap_or_default(),
        true,
    );
    // The worker's own count shows one reservation, not two: the hung attempt really stopped
    // there and does not run beside its replacement.
    wait_worker(
        &master,
        "w-hang",
        &format!(
            "runs only {task_id} and reserves one subtask's {reservation} bytes by both counts"
        ),
        SOON,
        |entry| {
            task_ids(entry) == [task_id.clone()]
                && entry["reserved_bytes"].as_u64() == Some(reservation)
                && entry["worker_reserved_bytes"].as_u64() == Some(reservation)
        },
    );
}
