//! Hostile job text against real `weir master` and `weir worker` processes: `SubmitJob` called
//! over gRPC directly (past the client's own checks) with text that used to abort the master
//! (1 KiB of dotted keys), take gigabytes (doubling substitutions), leak its environment
//! (`${VAR}` echoed in errors) or read its files (`include`). Each is refused with
//! InvalidArgument and a message naming the cause; the master keeps answering and its peak
//! memory does not move. The client refuses `/dev/zero` and FIFOs as job files at once, and
//! resolves `${VAR}` from its own environment.
//!
//! Needs only the built binary (`cargo build -p weir-cli --bin weir`); no Kafka, no HDFS.

use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use weir_e2e::cluster::{Master, MasterOptions, Worker, weir_binary, write_file};
use weir_proto::v1 as pb;
use weir_proto::v1::job_service_client::JobServiceClient;

/// A secret in the master's environment that no answer may contain.
const SECRET_NAME: &str = "WEIR_E2E_SECRET_TOKEN";
const SECRET: &str = "s3cr3t-of-the-master-7f3a9c";

/// How much the master's peak RSS may grow over all the hostile submissions.
const PEAK_GROWTH_BOUND: u64 = 100 << 20;

/// How long one refusal may take: parsing is bounded to well under a second.
const ANSWER_WITHIN: Duration = Duration::from_secs(10);

const FAKE: &str = "source { FakeSource { row.num = 10, schema = { fields { id = bigint } } } }\n\
                    sink { Console { log.print_data = false } }\n";

/// `VmHWM` (peak resident memory) of process `pid`, in bytes.
fn peak_rss(master: &Master) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{}/status", master.pid()))
        .unwrap_or_else(|error| master.fail(format!("cannot read the master's status: {error}")));
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmHWM:"))
        .and_then(|value| value.split_whitespace().next()?.parse::<u64>().ok())
        .map(|kib| kib * 1024)
        .unwrap_or_else(|| master.fail("no VmHWM line in /proc/PID/status"))
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime")
}

async fn client(master: &Master) -> JobServiceClient<tonic::transport::Channel> {
    JobServiceClient::connect(master.url().to_string())
        .await
        .unwrap_or_else(|error| master.fail(format!("cannot connect to the master: {error}")))
}

#[test]
fn the_master_refuses_hostile_job_text_and_keeps_serving() {
    let master = Master::start(
        "hostile_job_text",
        MasterOptions {
            env: vec![(SECRET_NAME.to_string(), SECRET.to_string())],
            ..MasterOptions::default()
        },
    );
    let _worker = Worker::start(&master, "w-1", "1GiB");
    // A file on the master's host that an `include` would read.
    let secret_file = write_file(
        master.dir(),
        "secret.conf",
        &format!("stolen = \"{SECRET}\"\n"),
    );

    let mut doubling = String::from("a = \"0123456789012345678901234567\"\n");
    for _ in 0..22 {
        doubling.push_str("a = ${a}${a}\n");
    }
    let cases: Vec<(&str, String, &str)> = vec![
        (
            "1 KiB of dotted keys",
            format!("{}b = 1", "a.".repeat(500)),
            "more than the limit of 64",
        ),
        (
            "nested braces",
            format!("{}{}", "a {".repeat(1000), "}".repeat(1000)),
            "more than 64 levels deep",
        ),
        ("doubling substitutions", doubling, "1 MiB"),
        (
            "the master's environment",
            format!("env {{ job.name = ${{{SECRET_NAME}}} }}\n{FAKE}"),
            "the master and the workers read no environment variable",
        ),
        (
            "an optional environment variable",
            format!("env {{ parallelism = ${{?{SECRET_NAME}}} }}\n{FAKE}"),
            "read no environment variable",
        ),
        (
            "HOME",
            format!("env {{ job.name = ${{HOME}} }}\n{FAKE}"),
            "read no environment variable",
        ),
        (
            "an include of the master's file",
            format!("include file(\"{}\")\n{FAKE}", secret_file.display()),
            "is refused",
        ),
        (
            "an include relative to the master",
            format!("include \"secret.conf\"\n{FAKE}"),
            "is refused",
        ),
    ];

    let runtime = runtime();
    let peak_before = peak_rss(&master);
    runtime.block_on(async {
        let mut client = client(&master).await;
        for (what, config, expected) in &cases {
            let started = Instant::now();
            let answer = client
                .submit_job(pb::SubmitJobRequest {
                    config: config.clone(),
                    origin: "hostile.conf".to_string(),
                    ..Default::default()
                })
                .await;
            let took = started.elapsed();
            let status = match answer {
                Ok(response) => master.fail(format!(
                    "{what}: the master accepted it: {:?}",
                    response.into_inner()
                )),
                Err(status) => status,
            };
            master.check(status.code() == tonic::Code::InvalidArgument, || {
                format!("{what}: expected InvalidArgument, got {status:?}")
            });
            master.check(status.message().contains(expected), || {
                format!(
                    "{what}: expected a message with {expected:?}, got {:?}",
                    status.message()
                )
            });
            master.check(!status.message().contains(SECRET), || {
                format!(
                    "{what}: the answer leaks the secret: {:?}",
                    status.message()
                )
            });
            master.check(status.message().len() < 1000, || {
                format!("{what}: a {} byte answer", status.message().len())
            });
            master.check(took < ANSWER_WITHIN, || {
                format!("{what}: answered in {took:?}")
            });
        }

        // Still serving: ListJobs answers, and nothing was created.
        let jobs = client
            .list_jobs(pb::ListJobsRequest {})
            .await
            .unwrap_or_else(|status| master.fail(format!("ListJobs failed afterwards: {status:?}")))
            .into_inner()
            .jobs;
        master.check(jobs.is_empty(), || {
            format!("jobs were created from hostile text: {jobs:?}")
        });

        // And a good job is accepted, named by its `env.job.name`.
        let response = client
            .submit_job(pb::SubmitJobRequest {
                config: format!("env {{ job.name = named-by-env }}\n{FAKE}"),
                origin: "/somewhere/file-stem.conf".to_string(),
                ..Default::default()
            })
            .await
            .unwrap_or_else(|status| master.fail(format!("a good job was refused: {status:?}")))
            .into_inner();
        let jobs = client
            .list_jobs(pb::ListJobsRequest {})
            .await
            .unwrap_or_else(|status| master.fail(format!("ListJobs failed: {status:?}")))
            .into_inner()
            .jobs;
        let job = jobs.iter().find(|job| job.job_id == response.job_id);
        master.check(job.is_some_and(|job| job.name == "named-by-env"), || {
            format!("expected the job named by env.job.name, got {jobs:?}")
        });
    });
    let growth = peak_rss(&master).saturating_sub(peak_before);
    master.check(growth < PEAK_GROWTH_BOUND, || {
        format!("the master's peak RSS grew by {} MiB", growth >> 20)
    });
}

/// Runs `weir ARGS` with `env` set; fails if it is still running after `deadline`.
fn weir_within(args: &[&str], env: &[(&str, &str)], deadline: Duration) -> Output {
    let mut child = Command::new(weir_binary())
        .args(args)
        .envs(env.iter().copied())
        .env_remove("WEIR_MASTER")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("cannot run the weir binary");
    let started = Instant::now();
    while child.try_wait().expect("wait for weir").is_none() {
        if started.elapsed() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("`weir {}` still ran after {deadline:?}", args.join(" "));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    child.wait_with_output().expect("the output of weir")
}

#[test]
fn the_client_refuses_devices_and_fifos_as_job_files_at_once() {
    let dir = std::env::temp_dir().join(weir_e2e::unique_name("weir-e2e-fifo"));
    std::fs::create_dir_all(&dir).expect("a temporary directory");
    let fifo = dir.join("job.fifo");
    let made = Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap_or_else(|error| panic!("cannot run mkfifo (install coreutils): {error}"));
    assert!(made.success(), "mkfifo {} failed", fifo.display());
    let fifo = fifo.display().to_string();
    for (args, what) in [
        (vec!["validate", "/dev/zero"], "it is a device"),
        (
            vec!["submit", "/dev/zero", "--master", "http://127.0.0.1:9"],
            "it is a device",
        ),
        (vec!["validate", fifo.as_str()], "it is a FIFO"),
        (vec!["local", fifo.as_str()], "it is a FIFO"),
    ] {
        let output = weir_within(&args, &[], Duration::from_secs(10));
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(
            !output.status.success(),
            "`weir {}` succeeded",
            args.join(" ")
        );
        assert!(
            stderr.contains("cannot read job file") && stderr.contains(what),
            "`weir {}`: {stderr}",
            args.join(" ")
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn the_client_resolves_its_environment_and_submits_the_result() {
    let master = Master::start_default("client_resolves_environment");
    let file = write_file(
        master.dir(),
        "named.conf",
        &format!("env {{ job.name = ${{WEIR_E2E_JOB_NAME}} }}\n{FAKE}"),
    );
    let url = master.url().to_string();
    let output = weir_within(
        &[
            "submit",
            &file.display().to_string(),
            "--master",
            &url,
            "-o",
            "json",
        ],
        &[("WEIR_E2E_JOB_NAME", "from-the-client")],
        Duration::from_secs(30),
    );
    master.check(output.status.success(), || {
        format!(
            "weir submit failed: {}",
            String::from_utf8_lossy(&output.stderr)
        )
    });
    let jobs = master.jobs();
    master.check(
        jobs.iter().any(|job| job["name"] == "from-the-client"),
        || format!("expected a job named from the client's environment: {jobs:?}"),
    );
    // The master stored the resolved text, not the reference.
    let job_id = jobs[0]["job_id"].as_str().unwrap_or_default().to_string();
    let stored = master_text(&master, &job_id);
    master.check(
        stored.contains("from-the-client") && !stored.contains("WEIR_E2E_JOB_NAME"),
        || format!("the master stored: {stored}"),
    );
}

/// The job text the master stored for `job_id` (GetJob's `config`).
fn master_text(master: &Master, job_id: &str) -> String {
    runtime().block_on(async {
        client(master)
            .await
            .get_job(pb::GetJobRequest {
                job_id: job_id.to_string(),
            })
            .await
            .unwrap_or_else(|status| master.fail(format!("GetJob failed: {status:?}")))
            .into_inner()
            .config
    })
}
