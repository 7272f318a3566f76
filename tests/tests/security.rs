//! Security of the control plane end to end (docs/security.md): real `weir master` and
//! `weir worker` processes with certificates from `weir cert` and tokens from `weir token`,
//! driven with the `weir` client, and attacked with direct gRPC calls past it.
//!
//! Needs only the built binary (`cargo build -p weir-cli`), no Kafka or HDFS. Spoofing in plain
//! loopback mode (no TLS) is in `security/spoofing.rs`.

use std::path::PathBuf;
use std::time::Duration;

use serde_json::Value;
use weir_e2e::cluster::{Master, MasterOptions, Worker, WorkerOptions, describe, weir_ok};
use weir_proto::v1 as pb;
use weir_proto::v1::cluster_service_client::ClusterServiceClient;
use weir_proto::v1::worker_service_client::WorkerServiceClient;

#[path = "security/exposure.rs"]
mod exposure;
#[path = "security/http.rs"]
mod http;
#[path = "security/spoofing.rs"]
mod spoofing;

/// Bound for things that take a heartbeat or a placement; waits end as soon as they hold.
const SOON: Duration = Duration::from_secs(20);

fn job_file(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("jobs")
        .join(name)
}

fn secured_master(name: &str) -> Master {
    Master::start(
        name,
        MasterOptions {
            secured: true,
            ..MasterOptions::default()
        },
    )
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime")
}

fn stdout(output: &std::process::Output) -> String {
    String::from_utf8_lossy(&output.stdout).trim().to_string()
}

fn stderr(output: &std::process::Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// Runs `weir ARGS` against `master`, which must succeed; returns stdout.
fn ok(master: &Master, args: &[&str]) -> String {
    let output = master.cli(args);
    master.check(output.status.success(), || describe(args, &output));
    stdout(&output)
}

/// Waits until `weir job ID` shows `state`; returns the answer.
pub(crate) fn wait_state(master: &Master, job_id: &str, state: &str) -> Value {
    master.wait_until(&format!("job {job_id} is {state}"), SOON, || {
        let job = master.try_job(job_id)?;
        if job["state"] == state {
            Ok(job)
        } else {
            Err(job.to_string())
        }
    })
}

/// Waits until the job runs with its first task running on `worker_id`; returns that task.
pub(crate) fn wait_task_running_on(master: &Master, job_id: &str, worker_id: &str) -> Value {
    master.wait_until(&format!("job {job_id} runs on {worker_id}"), SOON, || {
        let job = master.try_job(job_id)?;
        let task = job["tasks"][0].clone();
        if job["state"] == "Running" && task["worker_id"] == worker_id && task["state"] == "Running"
        {
            Ok(task)
        } else {
            Err(job.to_string())
        }
    })
}

fn register_request(worker_id: &str, address: &str) -> pb::RegisterWorkerRequest {
    pb::RegisterWorkerRequest {
        worker_id: worker_id.to_string(),
        address: address.to_string(),
        cores: 1,
        // Too small for any subtask: nothing is ever placed on a test's fake registration.
        memory_limit_bytes: 1,
        memory: None,
    }
}

#[test]
fn readme_cluster_commands_work_with_tls_and_tokens() {
    let master = secured_master("readme_commands_secured");
    let _worker = Worker::start(&master, "worker-1", "1GiB");
    let file = job_file("fake_small.conf");
    let file = file.to_str().expect("a UTF-8 path");

    let job_id = ok(&master, &["submit", file, "--wait"]);
    master.check(job_id.starts_with("j-"), || {
        format!("no job id: {job_id:?}")
    });
    wait_task_running_on(&master, &job_id, "worker-1");
    master.check(ok(&master, &["jobs"]).contains(&job_id), || {
        "`weir jobs` misses the job".into()
    });
    master.check(ok(&master, &["job", &job_id]).contains("Running"), || {
        "`weir job` does not show it Running".into()
    });
    let workers = ok(&master, &["workers"]);
    master.check(
        workers.contains("worker-1") && workers.contains("https://"),
        || format!("`weir workers` does not list worker-1 at an https:// address: {workers}"),
    );

    ok(&master, &["stop", &job_id]);
    wait_state(&master, &job_id, "Stopped");
    let restored = ok(&master, &["submit", file, "--restore", &job_id, "--wait"]);
    wait_task_running_on(&master, &restored, "worker-1");
    ok(&master, &["cancel", &restored]);
    wait_state(&master, &restored, "Cancelled");

    let log = master.log();
    let tokens = master.secured().expect("secured");
    master.check(
        !log.contains(tokens.admin_token()) && !log.contains(tokens.viewer_token()),
        || "a token appears in the master's log".into(),
    );
}

#[test]
fn clients_need_a_token_and_viewers_cannot_change_jobs() {
    let master = secured_master("tokens_and_roles");
    let secured = master.secured().expect("secured").clone();
    // No worker: the job waits in Queued, which is enough to list, show and cancel it.
    let job_id = ok(
        &master,
        &[
            "submit",
            job_file("fake_small.conf").to_str().expect("path"),
        ],
    );

    let output = master.cli_as(&["jobs"], None);
    master.check(
        !output.status.success()
            && stderr(&output).contains("WEIR_TOKEN")
            && stderr(&output).contains("--token-file"),
        || {
            format!(
                "`weir jobs` without a token: {}",
                describe(&["jobs"], &output)
            )
        },
    );
    let output = master.cli_as(&["jobs"], Some("weir_0000"));
    master.check(
        !output.status.success() && stderr(&output).contains("not valid"),
        || {
            format!(
                "`weir jobs` with a wrong token: {}",
                describe(&["jobs"], &output)
            )
        },
    );

    let viewer = Some(secured.viewer_token());
    for args in [&["jobs"][..], &["job", &job_id], &["workers"]] {
        let output = master.cli_as(args, viewer);
        master.check(output.status.success(), || {
            format!("a viewer cannot read: {}", describe(args, &output))
        });
    }
    for args in [
        &["cancel", &job_id][..],
        &["stop", &job_id],
        &[
            "submit",
            job_file("fake_small.conf").to_str().expect("path"),
        ],
    ] {
        let output = master.cli_as(args, viewer);
        master.check(
            !output.status.success() && stderr(&output).contains("needs the admin role"),
            || format!("a viewer was not refused: {}", describe(args, &output)),
        );
    }
    let job = master.job(&job_id);
    master.check(job["state"] == "Queued", || {
        format!("the viewer's cancel changed the job: {job}")
    });
    master.check(master.jobs().len() == 1, || {
        "the viewer's submit made a job".into()
    });

    // The token from a file works as well as from WEIR_TOKEN.
    let token_file = master.dir().join("viewer.token");
    std::fs::write(&token_file, format!("{}\n", secured.viewer_token())).expect("write token");
    let token_file = token_file.display().to_string();
    let listed = master.cli_as(&["jobs", "--token-file", &token_file], None);
    master.check(listed.status.success(), || {
        describe(&["jobs", "--token-file", &token_file], &listed)
    });

    ok(&master, &["cancel", &job_id]);
    wait_state(&master, &job_id, "Cancelled");
}

#[test]
fn a_worker_with_a_certificate_from_another_ca_cannot_register() {
    let master = secured_master("another_ca");
    let other = master.dir().join("other-ca");
    let other_dir = other.display().to_string();
    weir_ok(&["cert", "ca", "--out", &other_dir]);
    weir_ok(&[
        "cert", "issue", "--name", "rogue", "--ca", &other_dir, "--out", &other_dir,
    ]);
    let cert = other.join("rogue.pem");
    let key = other.join("rogue-key.pem");

    // A worker process with it: refused at the handshake, again and again.
    let mut options = WorkerOptions::new("1GiB");
    options.certificate = Some((cert.clone(), key.clone()));
    let rogue = Worker::spawn(&master, "rogue", options);
    master.wait_until("the rogue worker is refused", SOON, || {
        let log = std::fs::read_to_string(rogue.log_path()).unwrap_or_default();
        if log.contains("cannot register with the master") {
            Ok(())
        } else {
            Err(log)
        }
    });
    // The same certificate on a direct call.
    let secured = master.secured().expect("secured");
    let answer = runtime().block_on(async {
        let channel = secured
            .channel(master.url(), "master", Some((&cert, &key)))
            .await?;
        ClusterServiceClient::new(channel)
            .register_worker(register_request("rogue", "https://127.0.0.1:1"))
            .await
            .map(|_| ())
            .map_err(|status| status.to_string().into())
    });
    let answer: Result<(), Box<dyn std::error::Error>> = answer;
    master.check(answer.is_err(), || {
        "a certificate from another CA registered a worker".into()
    });
    let workers = master
        .try_workers()
        .unwrap_or_else(|error| master.fail(error));
    master.check(
        workers.iter().all(|worker| worker["worker_id"] != "rogue"),
        || format!("the rogue worker is listed: {workers:?}"),
    );
}

#[test]
fn a_worker_certificate_cannot_register_as_another_worker() {
    let master = secured_master("certificate_names_the_worker");
    let secured = master.secured().expect("secured");
    let (cert, key) = secured.issue("worker-x");
    let (client_cert, client_key) = secured.issue("client");
    let refused = runtime().block_on(async {
        let mut refused = Vec::new();
        for (what, identity, claimed) in [
            (
                "worker-x as worker-y",
                Some((cert.as_path(), key.as_path())),
                "worker-y",
            ),
            (
                "a client certificate",
                Some((client_cert.as_path(), client_key.as_path())),
                "client",
            ),
            ("no certificate", None, "worker-y"),
        ] {
            let channel = secured
                .channel(master.url(), "master", identity)
                .await
                .unwrap_or_else(|error| master.fail(format!("cannot connect: {error}")));
            let answer = ClusterServiceClient::new(channel)
                .register_worker(register_request(claimed, "https://127.0.0.1:1"))
                .await
                .map(|_| ());
            refused.push((what, answer));
        }
        refused
    });
    for (what, answer) in refused {
        let status = answer
            .err()
            .unwrap_or_else(|| master.fail(format!("{what} registered")));
        master.check(
            matches!(
                status.code(),
                tonic::Code::PermissionDenied | tonic::Code::Unauthenticated
            ),
            || format!("{what}: {status:?}"),
        );
    }
    let workers = master
        .try_workers()
        .unwrap_or_else(|error| master.fail(error));
    master.check(workers.is_empty(), || {
        format!("a spoofed worker is listed: {workers:?}")
    });
    master.check(master.log().contains("refused"), || {
        "no security event in the master's log".into()
    });
}

#[test]
fn a_forged_commit_checkpoint_is_refused_and_renames_nothing() {
    let master = secured_master("forged_commit");
    let worker = Worker::start(&master, "worker-1", "1GiB");
    let out = master.dir().join("out");
    let job = weir_e2e::cluster::write_file(
        master.dir(),
        "to-files.conf",
        &format!(
            r#"env {{
  parallelism = 1
  job.mode = "STREAMING"
}}
source {{
  FakeSource {{
    unbounded = true
    rows_per_second = 100
    string.length = 8
    schema = {{ fields {{ id = "bigint", name = "string" }} }}
  }}
}}
sink {{
  LocalFile {{
    path = "{}"
    file_format_type = "json"
  }}
}}
"#,
            out.display()
        ),
    );
    let job_id = master.submit(&job);
    let task = wait_task_running_on(&master, &job_id, "worker-1");
    let task_id = task["task_id"].as_str().expect("a task id").to_string();

    let victim = master.dir().join("victim.txt");
    std::fs::write(&victim, "precious").expect("write the victim file");
    let moved = master.dir().join("moved.txt");
    let secured = master.secured().expect("secured");
    let (worker_cert, worker_key) = secured.issue("worker-x");
    let (client_cert, client_key) = secured.issue("client");
    let url = format!("https://{}", worker.address());
    let answers = runtime().block_on(async {
        let mut answers = Vec::new();
        for (what, identity) in [
            ("no certificate", None),
            (
                "a worker's certificate",
                Some((worker_cert.as_path(), worker_key.as_path())),
            ),
            (
                "a client's certificate",
                Some((client_cert.as_path(), client_key.as_path())),
            ),
        ] {
            let answer = match secured.channel(&url, "worker-1", identity).await {
                Err(error) => Err(format!("connection refused: {error}")),
                Ok(channel) => WorkerServiceClient::new(channel)
                    .commit_checkpoint(pb::CommitCheckpointRequest {
                        task_id: task_id.clone(),
                        checkpoint_id: 1,
                        pending_files: vec![pb::PendingFile {
                            pending_path: victim.display().to_string(),
                            final_path: moved.display().to_string(),
                        }],
                        offsets: Vec::new(),
                    })
                    .await
                    .map(|_| ())
                    .map_err(|status| format!("{:?}: {}", status.code(), status.message())),
            };
            answers.push((what, answer));
        }
        answers
    });
    for (what, answer) in answers {
        master.check(answer.is_err(), || {
            format!("a CommitCheckpoint with {what} was accepted")
        });
    }
    master.check(victim.exists() && !moved.exists(), || {
        "a forged CommitCheckpoint renamed a file".into()
    });
    // The worker goes on serving the master.
    let task = wait_task_running_on(&master, &job_id, "worker-1");
    master.check(task["task_id"] == task_id.as_str(), || {
        format!("the task was restarted: {task}")
    });
}
