//! Workers confined to their jobs, end to end: a forged `WorkerService.CommitCheckpoint` sent
//! straight to a running worker (as any process that can reach its port could) cannot make it
//! rename a file outside the job's directories, nor publish a file in the job's temporary
//! directory that the task did not produce. Both are refused (PERMISSION_DENIED, logged as
//! security events), no file changes, and the job runs on and commits its own files.
//!
//! Real `weir master` and `weir worker` processes; FakeSource → LocalFile, so neither Kafka nor
//! HDFS is needed. Run: `cargo test -p weir-e2e --test confinement`.

use std::path::Path;
use std::time::Duration;

use serde_json::Value;
use weir_e2e::cluster::{Master, Worker, write_file};
use weir_e2e::job_json::{tasks, text, u64_of};
use weir_proto::v1 as pb;
use weir_proto::v1::worker_service_client::WorkerServiceClient;

/// Bound for the job to be placed and complete its first checkpoints.
const START: Duration = Duration::from_secs(60);
/// `env.checkpoint.interval`.
const CHECKPOINT_INTERVAL_MS: u64 = 1000;

fn job_text(out: &Path) -> String {
    format!(
        r#"
env {{
  parallelism = 1
  job.mode = "STREAMING"
  checkpoint.interval = {CHECKPOINT_INTERVAL_MS}
}}
source {{
  FakeSource {{
    unbounded = true
    schema = {{ fields {{ id = "bigint" }} }}
    rows_per_second = 200
  }}
}}
sink {{
  LocalFile {{
    path = "{out}"
    file_format_type = "text"
  }}
}}
"#,
        out = out.display()
    )
}

fn last_completed(job: &Value) -> u64 {
    u64_of(&job["checkpoints"], "last_completed_id")
}

/// Committed (visible) files under `dir` and the rows in them.
fn committed(dir: &Path) -> (Vec<String>, usize) {
    let mut names = Vec::new();
    let mut rows = 0;
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let name = entry.file_name().to_string_lossy().to_string();
        if !name.starts_with('.') && entry.path().is_file() {
            rows += std::fs::read_to_string(entry.path())
                .unwrap_or_default()
                .lines()
                .count();
            names.push(name);
        }
    }
    names.sort();
    (names, rows)
}

#[test]
fn forged_commits_are_refused_and_the_job_runs_on() {
    let master = Master::start_default("confinement_forged_commit");
    let worker = Worker::start(&master, "w-confined", "1GiB");
    let out = master.dir().join("out");
    let job_file = write_file(master.dir(), "job.conf", &job_text(&out));
    let job_id = master.submit(&job_file);

    // Running, with a checkpoint committed: the task has acknowledged real files.
    let job = master.wait_until("the job runs and has completed a checkpoint", START, || {
        let job = master.try_job(&job_id)?;
        let running = text(&job, "state") == "Running"
            && tasks(&job)
                .first()
                .is_some_and(|task| text(task, "state") == "Running");
        if running && last_completed(&job) >= 1 && committed(&out).1 > 0 {
            Ok(job)
        } else {
            Err(format!("{job}"))
        }
    });
    let task = tasks(&job)[0].clone();
    let task_id = text(&task, "task_id");
    let attempt = u64_of(&task, "attempt");
    let next = last_completed(&job) + 1;

    // A file outside the job's directories, and one planted in the job's tmp_path.
    let outside = master.dir().join("outside");
    std::fs::create_dir_all(&outside).expect("a directory outside the job's");
    let victim = outside.join("victim.txt");
    std::fs::write(&victim, "precious").expect("write the victim file");
    let planted = master
        .dir()
        .join(".weir-tmp")
        .join(&job_id)
        .join("0")
        .join(format!("a{attempt}-999.pending"));
    std::fs::create_dir_all(planted.parent().expect("a parent")).expect("the task's tmp dir");
    std::fs::write(&planted, "forged rows\n").expect("plant a pending file");

    let path = |p: &Path| p.display().to_string();
    let forged = [
        // Steal a file from outside into the job's output.
        (path(&victim), path(&out.join("stolen.txt"))),
        // Publish a file the task never wrote, named as the sink would name it.
        (
            path(&planted),
            path(&out.join(format!("{job_id}_0_{next}_999.txt"))),
        ),
        // Overwrite a file outside through `..`.
        (
            path(&planted),
            format!("{}/../outside/victim.txt", out.display()),
        ),
    ];
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime");
    let address = format!("http://{}", worker.address());
    // The worker's current session, as a caller that got past the session check would name it
    // (the master names it on every call): the confinement itself must refuse these.
    let session =
        weir_e2e::cluster::log_lines_with(worker.log_path(), "registered with the master")
            .last()
            .and_then(|line| line.split("session=").nth(1))
            .map(|rest| {
                rest.split_whitespace()
                    .next()
                    .unwrap_or_default()
                    .to_string()
            })
            .unwrap_or_else(|| master.fail("the worker logged no session"));
    for (pending_path, final_path) in &forged {
        for checkpoint_id in [next, next + 1000] {
            let request = pb::CommitCheckpointRequest {
                task_id: task_id.clone(),
                checkpoint_id,
                pending_files: vec![pb::PendingFile {
                    pending_path: pending_path.clone(),
                    final_path: final_path.clone(),
                }],
                offsets: Vec::new(),
            };
            let answer = runtime.block_on(async {
                let mut client = WorkerServiceClient::connect(address.clone())
                    .await
                    .map_err(|error| format!("cannot connect to the worker: {error}"))?;
                let mut request = tonic::Request::new(request);
                request.metadata_mut().insert(
                    weir_proto::SESSION_METADATA,
                    session
                        .parse()
                        .map_err(|error| format!("session metadata: {error}"))?,
                );
                Ok::<_, String>(client.commit_checkpoint(request).await)
            });
            let answer = answer.unwrap_or_else(|error| master.fail(error));
            match answer {
                Err(status) if status.code() == tonic::Code::PermissionDenied => {}
                other => master.fail(format!(
                    "the forged commit {pending_path} -> {final_path} (checkpoint \
                     {checkpoint_id}) was not refused: {other:?}"
                )),
            }
        }
    }

    // Nothing moved.
    assert_eq!(
        std::fs::read_to_string(&victim).expect("the victim file is still there"),
        "precious"
    );
    assert_eq!(
        std::fs::read_to_string(&planted).expect("the planted file is still there"),
        "forged rows\n"
    );
    let (names, _) = committed(&out);
    master.check(
        !names
            .iter()
            .any(|name| name == "stolen.txt" || name.ends_with("_999.txt")),
        || format!("a forged file was published: {names:?}"),
    );
    let log = std::fs::read_to_string(worker.log_path()).expect("the worker's log");
    let refusals = log.matches("refused a CommitCheckpoint request").count();
    master.check(refusals == 2 * forged.len(), || {
        format!(
            "the worker logged {refusals} refused commits, not {}",
            2 * forged.len()
        )
    });
    master.check(log.contains("weir_security"), || {
        "the refusals are not logged on the weir_security target".to_string()
    });

    // The job runs on, in the same attempt, and commits its own files.
    let (_, rows_before) = committed(&out);
    master.wait_until(
        "two more checkpoints complete and more rows are committed",
        START,
        || {
            let job = master.try_job(&job_id)?;
            let task = tasks(&job).first().cloned().unwrap_or_default();
            if text(&job, "state") != "Running" || u64_of(&task, "attempt") != attempt {
                return Err(format!("the job did not run on undisturbed: {job}"));
            }
            let (_, rows) = committed(&out);
            if last_completed(&job) > next && rows > rows_before {
                Ok(())
            } else {
                Err(format!("{rows} rows committed; {job}"))
            }
        },
    );
    assert_eq!(
        std::fs::read_to_string(&victim).unwrap_or_default(),
        "precious"
    );
}
