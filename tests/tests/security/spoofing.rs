//! Spoofing without TLS (loopback first-try mode): a local process that knows a worker's id and
//! a task id from `weir job` still cannot report for that worker's task, nor take over the id
//! of a live worker. The session id a worker received at registration is what it alone knows.

use super::*;

#[test]
fn a_spoofed_failed_report_is_refused_and_counts_no_retry() {
    let master = Master::start_default("spoofed_failed_report");
    let _worker = Worker::start(&master, "w-1", "1GiB");
    let job_id = master.submit(&job_file("fake_small.conf"));
    let task = wait_task_running_on(&master, &job_id, "w-1");
    let task_id = task["task_id"].as_str().expect("a task id").to_string();
    let report = |worker_id: &str, session_id: &str| pb::TaskStatusReport {
        worker_id: worker_id.to_string(),
        task_id: task_id.clone(),
        state: pb::TaskState::Failed as i32,
        message: "spoofed".to_string(),
        metrics: None,
        session_id: session_id.to_string(),
    };
    let answers = runtime().block_on(async {
        let mut client = ClusterServiceClient::connect(master.url().to_string())
            .await
            .unwrap_or_else(|error| master.fail(format!("cannot connect: {error}")));
        // A registration of our own gives a real session id, of the wrong worker.
        let own_session = client
            .register_worker(register_request("w-spoof", "http://127.0.0.1:1"))
            .await
            .unwrap_or_else(|status| master.fail(format!("cannot register: {status:?}")))
            .into_inner()
            .session_id;
        let mut answers = Vec::new();
        for (what, request) in [
            ("no session", report("w-1", "")),
            ("a guessed session", report("w-1", "0123456789abcdef")),
            ("another worker's session", report("w-1", &own_session)),
            ("as the other worker", report("w-spoof", &own_session)),
        ] {
            answers.push((what, client.report_task_status(request).await));
        }
        answers
    });
    for (what, answer) in answers {
        let status = answer
            .err()
            .unwrap_or_else(|| master.fail(format!("a FAILED report with {what} was accepted")));
        master.check(status.code() == tonic::Code::PermissionDenied, || {
            format!("{what}: {status:?}")
        });
    }
    // The report was refused before anything changed: same attempt, still running, no retry.
    let job = master.job(&job_id);
    let now = &job["tasks"][0];
    master.check(
        job["state"] == "Running" && now["task_id"] == task["task_id"] && now["state"] == "Running",
        || format!("the spoofed report changed the job: {job}"),
    );
    master.check(
        master.log().contains("refused a task status report"),
        || "no security event in the master's log".into(),
    );
}

#[test]
fn registering_a_live_workers_id_is_refused() {
    let master = Master::start_default("live_id_takeover");
    let worker = Worker::start(&master, "w-1", "1GiB");
    let job_id = master.submit(&job_file("fake_small.conf"));
    let task = wait_task_running_on(&master, &job_id, "w-1");
    let answer = runtime().block_on(async {
        let mut client = ClusterServiceClient::connect(master.url().to_string())
            .await
            .unwrap_or_else(|error| master.fail(format!("cannot connect: {error}")));
        let mut takeover = register_request("w-1", "http://127.0.0.1:1");
        takeover.memory_limit_bytes = 1 << 50;
        client.register_worker(takeover).await
    });
    let status = answer
        .err()
        .unwrap_or_else(|| master.fail("a second registration of w-1 was accepted"));
    master.check(status.code() == tonic::Code::AlreadyExists, || {
        format!("{status:?}")
    });
    // The real worker keeps its registration and its task, which keeps reading.
    let entry = master
        .try_worker("w-1")
        .unwrap_or_else(|error| master.fail(error))
        .unwrap_or_else(|| master.fail("w-1 is not listed"));
    let real_address = format!("http://{}", worker.address());
    master.check(
        entry["state"] == "ALIVE" && entry["address"] == real_address.as_str(),
        || format!("w-1 was taken over: {entry}"),
    );
    let rows = task["metrics"]["rows_read"].as_u64().unwrap_or(0);
    master.wait_until("the real worker's task keeps reading", SOON, || {
        let job = master.try_job(&job_id)?;
        let now = &job["tasks"][0];
        let grown = now["metrics"]["rows_read"].as_u64().unwrap_or(0) > rows;
        if job["state"] == "Running" && now["task_id"] == task["task_id"] && grown {
            Ok(())
        } else {
            Err(job.to_string())
        }
    });
}
