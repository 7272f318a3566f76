//! Kafka faults and partition discovery end to end: real master and worker processes against
//! the real Kafka of the local stack.

use std::time::Duration;

use rdkafka::admin::{AdminClient, AdminOptions, NewPartitions};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;
use weir_e2e::cluster::{Master, Worker, write_file};
use weir_e2e::kafka::{Topic, json_records, produce};

const SOON: Duration = Duration::from_secs(20);

fn bootstrap() -> String {
    weir_e2e::kafka_bootstrap().unwrap_or_else(|missing| panic!("{missing}"))
}

fn kafka_job(bootstrap: &str, topic: &str, extra: &str) -> String {
    format!(
        r#"
env {{
  parallelism = 2
  job.mode = "STREAMING"
  job.retry.times = 0
}}
source {{
  Kafka {{
    bootstrap.servers = "{bootstrap}"
    topic = "{topic}"
    start_mode = "earliest"
    schema = {{ fields {{ p = "int", seq = "bigint" }} }}
    {extra}
  }}
}}
sink {{
  Console {{ log.print.data = false }}
}}
"#
    )
}

#[test]
fn a_missing_topic_fails_the_submission_naming_the_topic() {
    let master = Master::start_default("missing_topic");
    let _worker = Worker::start(&master, "w-1", "1GiB");
    let topic = weir_e2e::unique_name("weir-no-such-topic");
    let file = write_file(
        master.dir(),
        "missing.conf",
        &kafka_job(&bootstrap(), &topic, ""),
    );

    let output = master.cli(&["submit", &file.display().to_string()]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "submit must fail: {stderr}");
    assert!(
        stderr.contains(&topic),
        "the error names the topic: {stderr}"
    );
    let jobs = master.jobs();
    assert_eq!(jobs.len(), 1, "the failed job is listed with its reason");
    assert_eq!(jobs[0]["state"], "Failed");
    assert!(
        jobs[0]["state_reason"]
            .as_str()
            .unwrap_or_default()
            .contains(&topic),
        "{}",
        jobs[0]
    );
}

#[test]
fn an_unreachable_broker_keeps_the_job_waiting_with_the_error() {
    let master = Master::start_default("unreachable_broker");
    let _worker = Worker::start(&master, "w-1", "1GiB");
    // Nothing listens on port 1 of loopback.
    let file = write_file(
        master.dir(),
        "unreachable.conf",
        &kafka_job("127.0.0.1:1", "t", ""),
    );
    let job_id = master.submit(&file);

    let waiting = master.wait_until("the job shows why it waits", SOON, || {
        let job = master.try_job(&job_id)?;
        let reason = job["state_reason"].as_str().unwrap_or_default().to_string();
        if job["state"] == "Queued" && reason.contains("127.0.0.1:1") && reason.contains("retrying")
        {
            Ok(job)
        } else {
            Err(job.to_string())
        }
    });
    // Still alive and still retrying: the master answers and the job is neither failed nor
    // silently dropped.
    assert_eq!(waiting["rows_read"], 0);
    let jobs = master.jobs();
    assert_eq!(jobs[0]["state"], "Queued", "{}", jobs[0]);
}

#[test]
fn partitions_added_while_running_are_discovered_and_read() {
    let bootstrap = bootstrap();
    let topic = Topic::create(&bootstrap, "weir-discovery", 2);
    produce(&bootstrap, topic.name(), json_records(2, 100));
    let master = Master::start_default("partition_discovery");
    let _worker = Worker::start(&master, "w-1", "1GiB");
    let job_text = kafka_job(
        &bootstrap,
        topic.name(),
        "partition-discovery.interval-millis = 1000",
    );
    let job_id = master.submit(&write_file(master.dir(), "discovery.conf", &job_text));
    let split_count = |job: &serde_json::Value| -> usize {
        job["tasks"]
            .as_array()
            .map(|tasks| {
                tasks
                    .iter()
                    .map(|task| task["metrics"]["splits"].as_array().map_or(0, Vec::len))
                    .sum()
            })
            .unwrap_or_default()
    };
    master.wait_until("the job reads its 200 records", SOON, || {
        let job = master.try_job(&job_id)?;
        (job["rows_written"] == 200 && split_count(&job) == 2)
            .then_some(())
            .ok_or_else(|| job.to_string())
    });

    let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
        .set("bootstrap.servers", &bootstrap)
        .create()
        .expect("admin client");
    let created = futures::executor::block_on(admin.create_partitions(
        &[NewPartitions::new(topic.name(), 4)],
        &AdminOptions::new().operation_timeout(Some(Duration::from_secs(30))),
    ))
    .expect("create_partitions request");
    for result in created {
        result.unwrap_or_else(|(name, code)| panic!("adding partitions to {name}: {code}"));
    }
    produce(&bootstrap, topic.name(), json_records(4, 50));

    // 200 from before, then 50 more in each of the 4 partitions; nothing left behind.
    master.wait_until("the new partitions are read to the end", SOON, || {
        let job = master.try_job(&job_id)?;
        (job["rows_written"] == 400 && split_count(&job) == 4 && job["consumer_lag"] == 0)
            .then_some(())
            .ok_or_else(|| job.to_string())
    });
}
