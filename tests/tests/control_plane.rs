//! The control plane end to end: real `weir master` and `weir worker` processes, driven with the
//! `weir` client commands exactly as an operator would (`-o json` for reading the answers).
//!
//! Needs only the built binary (`cargo build -p weir-cli`; `./tests/run` does it), no Kafka or
//! HDFS: the jobs use FakeSource → Console. Every test has its own master, workers, ports and
//! directories, so the tests run in parallel. Worker liveness and memory reporting are in
//! `control_plane/liveness.rs`.

use std::path::PathBuf;
use std::time::Duration;

use serde_json::Value;
use weir_e2e::cluster::{Master, MasterOptions, Worker, WorkerOptions, describe, weir};
use weir_proto::v1 as pb;
use weir_proto::v1::job_service_client::JobServiceClient;

// Not a test target of its own: the crate root of a test sits beside its modules, so the path
// says where this one lives.
#[path = "control_plane/liveness.rs"]
mod liveness;

/// Generous bound for things that should happen within a heartbeat or two; waits end as soon as
/// the condition holds, so this only matters when something is wrong.
const SOON: Duration = Duration::from_secs(10);
/// Bound for a (re)placement, which may wait for a worker to (re)register.
const PLACEMENT: Duration = Duration::from_secs(20);

const MIB: u64 = 1 << 20;
const GIB: u64 = 1 << 30;

fn job_file(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("jobs")
        .join(name)
}

fn text(value: &Value, key: &str) -> String {
    value[key].as_str().unwrap_or_default().to_string()
}

fn number(value: &Value, key: &str) -> u64 {
    value[key]
        .as_u64()
        .unwrap_or_else(|| panic!("`{key}` is not an unsigned number in {value}"))
}

/// The first task of a `weir job -o json` answer.
fn task0(job: &Value) -> Result<&Value, String> {
    job["tasks"]
        .as_array()
        .and_then(|tasks| tasks.first())
        .ok_or_else(|| format!("the job has no tasks: {job}"))
}

/// Waits until the job is Running with subtask 0 running on `worker_id` (in attempt `attempt`,
/// when given); returns that `weir job` answer.
fn wait_running_on(master: &Master, job_id: &str, worker_id: &str, attempt: Option<u64>) -> Value {
    let what = format!(
        "job {job_id} is Running with tasks[0] Running on {worker_id}{}",
        attempt
            .map(|a| format!(" in attempt {a}"))
            .unwrap_or_default()
    );
    master.wait_until(&what, PLACEMENT, || {
        let job = master.try_job(job_id)?;
        let task = task0(&job)?;
        let placed = text(&job, "state") == "Running"
            && task["worker_id"] == worker_id
            && task["state"] == "Running"
            && attempt.is_none_or(|a| task["attempt"].as_u64() == Some(a));
        if placed {
            Ok(job)
        } else {
            Err(job.to_string())
        }
    })
}

/// Waits until the job's `rows_read` (or, with `task`, tasks[0]'s) exceeds `after`.
fn wait_rows_grow(master: &Master, job_id: &str, after: u64, task: bool) -> u64 {
    let what = format!(
        "{} rows_read of job {job_id} grows beyond {after}",
        if task { "tasks[0]" } else { "the job's" }
    );
    master.wait_until(&what, SOON, || {
        let job = master.try_job(job_id)?;
        let rows = if task {
            task0(&job)?["metrics"]["rows_read"].as_u64()
        } else {
            job["rows_read"].as_u64()
        };
        match rows {
            Some(rows) if rows > after => Ok(rows),
            _ => Err(job.to_string()),
        }
    })
}

fn wait_state(master: &Master, job_id: &str, state: &str) -> Value {
    master.wait_until(&format!("job {job_id} is {state}"), SOON, || {
        let job = master.try_job(job_id)?;
        if text(&job, "state") == state {
            Ok(job)
        } else {
            Err(job.to_string())
        }
    })
}

/// Waits until the master's view of `worker_id` satisfies `condition`; returns that entry.
fn wait_worker(
    master: &Master,
    worker_id: &str,
    what: &str,
    timeout: Duration,
    condition: impl Fn(&Value) -> bool,
) -> Value {
    master.wait_until(
        &format!("worker {worker_id} {what}"),
        timeout,
        || match master.try_worker(worker_id)? {
            Some(entry) if condition(&entry) => Ok(entry),
            entry => Err(format!("{entry:?}")),
        },
    )
}

fn task_ids(worker: &Value) -> Vec<String> {
    worker["task_ids"]
        .as_array()
        .map(|ids| {
            ids.iter()
                .filter_map(|id| id.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn runs_and_cancels() {
    let master = Master::start_default("runs_and_cancels");
    let worker = Worker::start(&master, "w-run", "1GiB");

    let job_id = master.submit(&job_file("fake_small.conf"));
    let job = wait_running_on(&master, &job_id, worker.id(), None);
    let task_id = text(task0(&job).unwrap(), "task_id");
    let rows_before = number(&job, "rows_read");
    wait_rows_grow(&master, &job_id, rows_before, false);

    // The reservation covers the 8 MiB queue plus a sink buffer and a few MiB of overhead.
    let reservation = number(&job, "subtask_reservation_bytes");
    master.check((8 * MIB..=8 * MIB + 64 * MIB).contains(&reservation), || {
        format!("subtask_reservation_bytes {reservation} is not queue.max_bytes (8 MiB) plus a few MiB: {job}")
    });
    master.check(number(task0(&job).unwrap(), "reserved_bytes") == reservation, || {
        format!("tasks[0].reserved_bytes differs from the job's subtask_reservation_bytes {reservation}: {job}")
    });
    wait_worker(
        &master,
        worker.id(),
        &format!(
            "reserves {reservation} bytes by the master's count and its own, and lists task {task_id}"
        ),
        SOON,
        |entry| {
            entry["reserved_bytes"].as_u64() == Some(reservation)
                && entry["worker_reserved_bytes"].as_u64() == Some(reservation)
                && task_ids(entry) == [task_id.clone()]
        },
    );

    let cancelled = master.json(&["cancel", &job_id]);
    master.check(cancelled["job_id"] == job_id.as_str(), || {
        format!("`weir cancel` answered for another job: {cancelled}")
    });
    master.check(
        matches!(
            text(&cancelled, "state").as_str(),
            "Cancelling" | "Cancelled"
        ),
        || {
            format!(
                "`weir cancel` answered state {}, expected Cancelling or Cancelled",
                cancelled["state"]
            )
        },
    );
    let job = wait_state(&master, &job_id, "Cancelled");
    master.check(task0(&job).unwrap()["state"] == "Cancelled", || {
        format!("the job is Cancelled but its task is not: {job}")
    });
    // Both figures must drop: the master's bookkeeping (what admission uses) and the worker's
    // own report, which stays up if the worker never really released the task.
    wait_worker(
        &master,
        worker.id(),
        "reserves 0 bytes by the master's count and its own, and has no tasks",
        SOON,
        |entry| {
            entry["reserved_bytes"].as_u64() == Some(0)
                && entry["worker_reserved_bytes"].as_u64() == Some(0)
                && task_ids(entry).is_empty()
        },
    );
}

#[test]
fn admission_queues_then_places() {
    let master = Master::start_default("admission_queues_then_places");
    let small = Worker::start(&master, "w-small", "256MiB");

    let job_id = master.submit(&job_file("fake_512mib_wait.conf"));
    let job = master.wait_until(
        &format!("job {job_id} is Queued with a reason naming the subtask's need and w-small"),
        SOON,
        || {
            let job = master.try_job(&job_id)?;
            let reason = text(&job, "state_reason");
            if text(&job, "state") == "Queued"
                && reason.starts_with("subtask needs")
                && reason.contains("w-small")
            {
                Ok(job)
            } else {
                Err(job.to_string())
            }
        },
    );
    let reservation = number(&job, "subtask_reservation_bytes");
    master.check(reservation >= 512 * MIB, || {
        format!("subtask_reservation_bytes {reservation} is below queue.max_bytes (512 MiB): {job}")
    });
    let entry = master
        .try_worker(small.id())
        .unwrap_or_else(|e| master.fail(e));
    master.check(
        entry
            .as_ref()
            .is_some_and(|e| e["reserved_bytes"].as_u64() == Some(0) && task_ids(e).is_empty()),
        || format!("nothing should be placed on w-small: {entry:?}"),
    );

    let big = Worker::start(&master, "w-big", "2GiB");
    let job = wait_running_on(&master, &job_id, big.id(), None);
    wait_worker(
        &master,
        big.id(),
        &format!("reserves {reservation} bytes"),
        SOON,
        |entry| entry["reserved_bytes"].as_u64() == Some(reservation),
    );
    let entry = master
        .try_worker(small.id())
        .unwrap_or_else(|e| master.fail(e));
    master.check(
        entry
            .as_ref()
            .is_some_and(|e| e["reserved_bytes"].as_u64() == Some(0)),
        || format!("w-small should still reserve nothing: {entry:?}; job {job}"),
    );
}

#[test]
fn admission_rejects_when_no_worker_fits() {
    let master = Master::start_default("admission_rejects_when_no_worker_fits");
    let _small = Worker::start(&master, "w-small", "256MiB");

    let file = job_file("fake_512mib_reject.conf");
    let args = ["submit", file.to_str().unwrap()];
    let output = master.cli(&args);
    let stderr = String::from_utf8_lossy(&output.stderr);
    master.check(
        !output.status.success() && stderr.contains("rejected") && stderr.contains("subtask needs"),
        || {
            format!(
                "expected a rejection naming the subtask's need: {}",
                describe(&args, &output)
            )
        },
    );
    // A rejected job holds no place in the queue and runs nowhere.
    let jobs = master.jobs();
    master.check(
        jobs.iter().all(|job| {
            !matches!(
                text(job, "state").as_str(),
                "Submitted" | "Queued" | "Scheduled" | "Running"
            )
        }),
        || format!("a rejected job is still waiting or running: {jobs:?}"),
    );
}

/// Whether an error names `parallelizm` at `misspelled.conf:3` — the line of
/// `parallelizm = 2` — and not `:30` or the like.
fn names_option_and_line(message: &str) -> bool {
    let at_line_3 = message
        .match_indices("misspelled.conf:3")
        .any(|(at, found)| !message[at + found.len()..].starts_with(|c: char| c.is_ascii_digit()));
    message.contains("parallelizm") && at_line_3
}

#[test]
fn misspelled_option_names_option_and_line() {
    let file = job_file("misspelled.conf");
    let path = file.to_str().unwrap();

    let args = ["validate", path];
    let output = weir(&args);
    assert!(
        !output.status.success() && names_option_and_line(&String::from_utf8_lossy(&output.stderr)),
        "expected an error naming `parallelizm` at misspelled.conf:3: {}",
        describe(&args, &output)
    );

    let master = Master::start_default("misspelled_option_names_option_and_line");
    let args = ["submit", path];
    let output = master.cli(&args);
    master.check(
        !output.status.success() && names_option_and_line(&String::from_utf8_lossy(&output.stderr)),
        || {
            format!(
                "expected an error naming `parallelizm` at misspelled.conf:3: {}",
                describe(&args, &output)
            )
        },
    );
    let jobs = master.jobs();
    master.check(jobs.is_empty(), || {
        format!("a job was created from an invalid file: {jobs:?}")
    });
}

/// `weir submit` checks the file before sending it; the master must check it too, for every
/// other client. This one speaks gRPC to the master directly.
#[test]
fn master_rejects_a_misspelled_option_over_grpc() {
    let master = Master::start_default("master_rejects_a_misspelled_option_over_grpc");
    let file = job_file("misspelled.conf");
    let config = std::fs::read_to_string(&file)
        .unwrap_or_else(|error| panic!("cannot read {}: {error}", file.display()));
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime");
    let answer = runtime.block_on(async {
        let mut client = JobServiceClient::connect(master.url().to_string())
            .await
            .unwrap_or_else(|error| master.fail(format!("cannot connect to the master: {error}")));
        client
            .submit_job(pb::SubmitJobRequest {
                config,
                origin: file.display().to_string(),
                ..Default::default()
            })
            .await
    });
    let status = match answer {
        Ok(response) => master.fail(format!(
            "the master accepted a job with a misspelled option: {:?}",
            response.into_inner()
        )),
        Err(status) => status,
    };
    master.check(status.code() == tonic::Code::InvalidArgument, || {
        format!("expected InvalidArgument, got {status:?}")
    });
    master.check(names_option_and_line(status.message()), || {
        format!(
            "expected a message naming `parallelizm` at misspelled.conf:3, got {:?}",
            status.message()
        )
    });
    let jobs = master.jobs();
    master.check(jobs.is_empty(), || {
        format!("a job was created from an invalid submission: {jobs:?}")
    });
}

/// A `kafka.config` property librdkafka does not know (the Java consumer's name for
/// `fetch.wait.max.ms`) is refused by `weir validate` and by the master's `SubmitJob` with the
/// same message, before any worker would start a subtask with it.
#[test]
fn librdkafka_properties_are_checked_before_scheduling() {
    let master = Master::start_default("librdkafka_properties_are_checked_before_scheduling");
    let text = "source { Kafka {\n  bootstrap.servers = \"127.0.0.1:9\"\n  topic = t\n  consumer.group = g\n  kafka.config = { fetch.max.wait.ms = 50 }\n} }\nsink { Console {} }\n";
    let file = weir_e2e::cluster::write_file(master.dir(), "java-name.conf", text);
    let path = file.display().to_string();
    let expected = format!(
        "{path}:5: 'source.Kafka.kafka.config.fetch.max.wait.ms' is refused by librdkafka: No such configuration property: \"fetch.max.wait.ms\""
    );
    let args = ["validate", path.as_str()];
    let output = weir(&args);
    let printed = String::from_utf8_lossy(&output.stderr);
    master.check(
        !output.status.success() && printed.contains(&expected),
        || format!("expected `{expected}`: {}", describe(&args, &output)),
    );
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime");
    let answer = runtime.block_on(async {
        let mut client = JobServiceClient::connect(master.url().to_string())
            .await
            .unwrap_or_else(|error| master.fail(format!("cannot connect to the master: {error}")));
        client
            .submit_job(pb::SubmitJobRequest {
                config: text.to_string(),
                origin: path.clone(),
                ..Default::default()
            })
            .await
    });
    let status = answer
        .err()
        .unwrap_or_else(|| master.fail("the master accepted the job"));
    master.check(
        status.code() == tonic::Code::InvalidArgument && status.message() == expected,
        || format!("expected InvalidArgument `{expected}`, got {status:?}"),
    );
    let jobs = master.jobs();
    master.check(jobs.is_empty(), || format!("a job was created: {jobs:?}"));
}

#[test]
fn master_restart_keeps_jobs() {
    let mut master = Master::start_default("master_restart_keeps_jobs");
    let worker = Worker::start(&master, "w-r", "1GiB");

    let cancelled_id = master.submit(&job_file("fake_small.conf"));
    let live_id = master.submit(&job_file("fake_small.conf"));
    master.check(cancelled_id != live_id, || {
        format!("two submissions got the same id {live_id}")
    });
    wait_running_on(&master, &cancelled_id, worker.id(), None);
    let job = wait_running_on(&master, &live_id, worker.id(), None);
    let reservation = number(&job, "subtask_reservation_bytes");
    master.json(&["cancel", &cancelled_id]);
    wait_state(&master, &cancelled_id, "Cancelled");

    master.restart();

    let jobs = master.jobs();
    let state_of = |id: &str| {
        jobs.iter()
            .find(|job| job["job_id"] == id)
            .map(|job| text(job, "state"))
    };
    master.check(state_of(&cancelled_id).as_deref() == Some("Cancelled"), || {
        format!("after the restart the cancelled job {cancelled_id} should be listed Cancelled: {jobs:?}")
    });
    master.check(state_of(&live_id).is_some(), || {
        format!("after the restart the live job {live_id} is not listed: {jobs:?}")
    });
    master.check(jobs.len() == 2, || {
        format!("after the restart exactly two jobs should be listed: {jobs:?}")
    });

    // The worker reconnects by itself and the live job runs on it again.
    let job = wait_running_on(&master, &live_id, worker.id(), None);
    let task_id = text(task0(&job).unwrap(), "task_id");
    wait_rows_grow(&master, &live_id, number(&job, "rows_read"), false);
    wait_worker(
        &master,
        worker.id(),
        &format!("is ALIVE, runs only {task_id} and reserves one job's {reservation} bytes"),
        SOON,
        |entry| {
            entry["state"] == "ALIVE"
                && task_ids(entry) == [task_id.clone()]
                && entry["reserved_bytes"].as_u64() == Some(reservation)
        },
    );
    let job = master.job(&cancelled_id);
    master.check(text(&job, "state") == "Cancelled", || {
        format!("the cancelled job came back to life after the restart: {job}")
    });
}

/// Every line a process wrote to its log with `--log-format json`, parsed; fails naming the
/// first line that is not a JSON object with a level and a message.
fn json_log_lines(master: &Master, path: &std::path::Path) -> Vec<Value> {
    let log = std::fs::read_to_string(path)
        .unwrap_or_else(|error| master.fail(format!("cannot read {}: {error}", path.display())));
    log.lines()
        // The harness marks each (re)start of the process with a line of its own.
        .filter(|line| !line.trim().is_empty() && !line.starts_with("=== harness:"))
        .map(|line| match serde_json::from_str::<Value>(line) {
            Ok(entry) if entry["level"].is_string() && entry["fields"]["message"].is_string() => {
                entry
            }
            _ => master.fail(format!(
                "{} has a line that is not a JSON log entry: {line}",
                path.display()
            )),
        })
        .collect()
}

/// `--log-format json` makes master and worker logs JSON lines, and a subtask's lines carry
/// its job and task ids; client commands are quiet (nothing on stderr) by default.
#[test]
fn logs_are_json_lines_carrying_job_and_task_ids() {
    let json_logs = vec!["--log-format".to_string(), "json".to_string()];
    let master = Master::start(
        "json_logs",
        MasterOptions {
            extra_args: json_logs.clone(),
            ..MasterOptions::default()
        },
    );
    let mut options = WorkerOptions::new("1GiB");
    options.extra_args = json_logs;
    let worker = Worker::start_with(&master, "w-json-logs", options);
    let job_id = master.submit(&job_file("fake_small.conf"));
    let job = wait_running_on(&master, &job_id, worker.id(), None);
    let task_id = text(task0(&job).unwrap(), "task_id");

    let quiet = master.cli(&["jobs"]);
    master.check(quiet.status.success() && quiet.stderr.is_empty(), || {
        format!(
            "`weir jobs` should print nothing on stderr by default: {}",
            describe(&["jobs"], &quiet)
        )
    });

    let master_log = json_log_lines(&master, &master.dir().join("master.log"));
    master.check(
        master_log.iter().any(|entry| entry["level"] == "INFO"),
        || format!("the master logged no INFO entry: {master_log:?}"),
    );
    // The subtask's start is logged inside its span: the entry names job and task.
    master.wait_until("the worker logs the subtask's start as JSON", SOON, || {
        let entries = json_log_lines(&master, worker.log_path());
        let started = entries
            .iter()
            .find(|entry| entry["fields"]["message"] == "subtask started")
            .ok_or_else(|| {
                format!(
                    "no `subtask started` entry yet among {} entries",
                    entries.len()
                )
            })?;
        let spans = started["spans"].as_array().cloned().unwrap_or_default();
        let in_task_span = spans
            .iter()
            .any(|span| span["job"] == job_id.as_str() && span["task"] == task_id.as_str());
        if in_task_span {
            Ok(())
        } else {
            Err(format!(
                "`subtask started` does not carry job {job_id} and task {task_id}: {started}"
            ))
        }
    });
}
