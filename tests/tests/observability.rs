//! Observability end to end: real `weir master` / `weir worker` processes serving HTTP, a real
//! Prometheus (Debian's package) scraping them every second, `promtool check metrics`, the
//! Grafana dashboard's metric names, health and readiness, and the JSON API against the CLI.
//!
//! The Kafka → HdfsFile test needs the local stack (`deploy/local/stack up`); the others need
//! only the built binary.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use serde_json::Value;
use weir_e2e::cluster::{Master, Worker, write_file};
use weir_e2e::grafana::{dashboard_metrics, declared_names, sample_names};
use weir_e2e::job_json::{text, u64_of};
use weir_e2e::prometheus::{Prometheus, promtool_check_metrics};
use weir_e2e::{http, kafka, stack};

/// Bound for things that take a few heartbeats or scrapes.
const SOON: Duration = Duration::from_secs(30);
const PARTITIONS: i32 = 3;
const PER_PARTITION: u64 = 3_000;
const RECORD_BYTES: usize = 200;
/// Slow enough that Prometheus sees the job read for several seconds.
const ROWS_PER_SECOND: u64 = 2_500;
const QUEUE_MAX_BYTES: u64 = 256 * 1024;

fn metrics_of(base: &str) -> String {
    let response = http::get(&format!("{base}/metrics")).unwrap_or_else(|error| panic!("{error}"));
    assert_eq!(response.status, 200, "{}", response.text());
    assert!(
        response
            .content_type
            .starts_with("text/plain; version=0.0.4"),
        "plain scrapes get the Prometheus text format: {}",
        response.content_type
    );
    response.text()
}

fn job_state(master: &Master, job_id: &str) -> Result<Value, String> {
    master.try_job(job_id)
}

fn wait_state(master: &Master, job_id: &str, state: &str) -> Value {
    master.wait_until(&format!("job {job_id} is {state}"), SOON, || {
        let job = job_state(master, job_id)?;
        if text(&job, "state") == state {
            Ok(job)
        } else {
            Err(format!(
                "{} ({})",
                text(&job, "state"),
                text(&job, "state_reason")
            ))
        }
    })
}

/// `/proc`'s RSS of the worker, read just before and after `prometheus`'s latest sample.
fn rss_matches(prometheus: &Prometheus, worker: &Worker) -> Result<String, String> {
    let before = worker.rss_bytes().ok_or("the worker exited")?;
    let scraped = prometheus.scalar("weir_worker_rss_bytes{job=\"weir-worker\"}")?;
    let after = worker.rss_bytes().ok_or("the worker exited")?;
    let (low, high) = (before.min(after) as f64, before.max(after) as f64);
    let description = format!("Prometheus {scraped:.0} B, /proc {before}..{after} B");
    if scraped >= low * 0.9 && scraped <= high * 1.1 {
        Ok(description)
    } else {
        Err(description)
    }
}

#[test]
fn prometheus_scrapes_a_kafka_to_hdfs_job_every_second() {
    let bootstrap = weir_e2e::kafka_bootstrap().unwrap_or_else(|error| panic!("{error}"));
    let hdfs = weir_e2e::hdfs_url().unwrap_or_else(|error| panic!("{error}"));
    let started = Instant::now();
    let say = |message: String| {
        eprintln!(
            "[observability +{:>5.1}s] {message}",
            started.elapsed().as_secs_f64()
        )
    };

    let topic = kafka::Topic::create(&bootstrap, "weir-obs", PARTITIONS);
    let total = PER_PARTITION * PARTITIONS as u64;
    kafka::produce(
        &bootstrap,
        topic.name(),
        kafka::padded_json_records(PARTITIONS, PER_PARTITION, RECORD_BYTES),
    );
    say(format!("{total} records in {}", topic.name()));

    let master = Master::start_default("observability");
    let worker = Worker::start(&master, "w-obs", "1GiB");
    let prometheus = Prometheus::start(
        &master.dir().join("prometheus"),
        &[master.http_url().trim_start_matches("http://").to_string()],
        &[worker.http_url().trim_start_matches("http://").to_string()],
        "1s",
    );
    say(format!(
        "Prometheus at {} scrapes master and worker every second",
        prometheus.url()
    ));

    let path = format!("/weir-e2e/observability/{}", weir_e2e::unique_name("out"));
    let job_file = write_file(
        master.dir(),
        "kafka-to-hdfs.conf",
        &format!(
            r#"env {{
  parallelism = 2
  job.mode = "STREAMING"
  checkpoint.interval = 2000
  read_limit.rows_per_second = {ROWS_PER_SECOND}
}}
source {{
  Kafka {{
    bootstrap.servers = "{bootstrap}"
    topic = "{topic}"
    consumer.group = "{group}"
    start_mode = "earliest"
    format = "json"
    schema = {{ fields {{ p = "int", seq = "bigint", pad = "string" }} }}
    queue.max_bytes = {QUEUE_MAX_BYTES}
  }}
}}
sink {{
  HdfsFile {{
    fs.defaultFS = "{hdfs}"
    path = "{path}"
    file_format_type = "json"
  }}
}}
"#,
            topic = topic.name(),
            group = weir_e2e::unique_name("weir-obs-group"),
        ),
    );
    let job_id = master.submit(&job_file);
    wait_state(&master, &job_id, "Running");
    say(format!("job {job_id} running"));

    // While it reads: Prometheus's RSS of the worker agrees with /proc, and both expositions
    // pass promtool with the job's task and split series in them.
    prometheus.wait_for("the worker's task series are scraped", SOON, || {
        prometheus
            .scalar(&format!(
                "count(weir_split_queue_max_bytes{{job_id=\"{job_id}\"}})"
            ))
            .and_then(|count| {
                if count == PARTITIONS as f64 {
                    Ok(())
                } else {
                    Err(format!("{count} split series"))
                }
            })
    });
    for round in 0..5 {
        let observed = prometheus.wait_for(
            "the scraped RSS is within 10 % of /proc",
            Duration::from_secs(5),
            || rss_matches(&prometheus, &worker),
        );
        say(format!("RSS check {round}: {observed}"));
        std::thread::sleep(Duration::from_millis(700));
    }
    for (name, base) in [("master", master.http_url()), ("worker", worker.http_url())] {
        let exposition = metrics_of(&base);
        if let Err(problems) = promtool_check_metrics(&exposition) {
            master.fail(format!(
                "the {name}'s /metrics fails promtool: {problems}\n{exposition}"
            ));
        }
        say(format!(
            "promtool check metrics passes on the {name}'s /metrics"
        ));
    }
    let worker_metrics = metrics_of(&worker.http_url());
    master.check(
        worker_metrics.contains(&format!("job_id=\"{job_id}\"")),
        || format!("the worker's exposition has no series of job {job_id}:\n{worker_metrics}"),
    );

    // Every row written and committed, as the job reports it.
    master.wait_until("every record is written", Duration::from_secs(60), || {
        let job = job_state(&master, &job_id)?;
        let written = u64_of(&job, "rows_written");
        if written == total {
            Ok(())
        } else {
            Err(format!("{written} of {total} rows written"))
        }
    });
    let committed = prometheus.wait_for("Prometheus sees every row committed", SOON, || {
        let committed = prometheus.scalar(&format!(
            "sum(weir_task_records_committed_total{{job_id=\"{job_id}\"}})"
        ))?;
        if committed == total as f64 {
            Ok(committed)
        } else {
            Err(format!("{committed} of {total} committed"))
        }
    });
    let written = prometheus
        .scalar(&format!(
            "sum(weir_task_records_written_total{{job_id=\"{job_id}\"}})"
        ))
        .unwrap_or_else(|error| master.fail(error));
    let read = prometheus
        .scalar(&format!(
            "sum(weir_split_records_read_total{{job_id=\"{job_id}\"}})"
        ))
        .unwrap_or_else(|error| master.fail(error));
    let lag = prometheus
        .scalar(&format!(
            "sum(weir_split_consumer_lag{{job_id=\"{job_id}\"}})"
        ))
        .unwrap_or_else(|error| master.fail(error));
    say(format!(
        "Prometheus: {read} read, {written} written, {committed} committed, lag {lag}"
    ));

    // The rows in HDFS are exactly what the counters say.
    let files: Vec<stack::HdfsEntry> = stack::list_recursive(&path)
        .unwrap_or_else(|error| master.fail(error))
        .into_iter()
        .filter(|entry| !entry.is_dir && !entry.name().starts_with('.'))
        .collect();
    let contents = stack::read_files(&files).unwrap_or_else(|error| master.fail(error));
    let rows_in_hdfs: usize = contents
        .iter()
        .map(|bytes| {
            bytes
                .split(|&byte| byte == b'\n')
                .filter(|line| !line.is_empty())
                .count()
        })
        .sum();
    say(format!(
        "{rows_in_hdfs} rows in {} committed files",
        files.len()
    ));
    master.check(
        written == rows_in_hdfs as f64 && committed == rows_in_hdfs as f64 && read == total as f64,
        || format!("records written {written} and committed {committed} must equal the {rows_in_hdfs} rows committed to HDFS ({total} produced, {read} read)"),
    );
    master.check(lag == 0.0, || {
        format!("lag {lag} after everything was read")
    });
    let files_committed = prometheus
        .scalar(&format!(
            "sum(weir_task_files_committed_total{{job_id=\"{job_id}\"}})"
        ))
        .unwrap_or_else(|error| master.fail(error));
    master.check(files_committed == files.len() as f64, || {
        format!(
            "{files_committed} files committed by the counter, {} in HDFS",
            files.len()
        )
    });

    // No queue ever held more bytes than its bound, over every scrape of the run.
    let window = format!("{}s", started.elapsed().as_secs() + 5);
    let over = prometheus
        .query(&format!(
            "max_over_time(weir_split_queue_bytes{{job_id=\"{job_id}\"}}[{window}]) > on(job_id, subtask, split) group_left max_over_time(weir_split_queue_max_bytes{{job_id=\"{job_id}\"}}[{window}])"
        ))
        .unwrap_or_else(|error| master.fail(error));
    master.check(over.is_empty(), || {
        format!("queues above their bound: {over:?}")
    });
    let peaks = prometheus
        .query(&format!(
            "max_over_time(weir_split_queue_bytes{{job_id=\"{job_id}\"}}[{window}])"
        ))
        .unwrap_or_else(|error| master.fail(error));
    master.check(peaks.len() == PARTITIONS as usize, || {
        format!("queue series: {peaks:?}")
    });
    say(format!(
        "queue peaks (bound {QUEUE_MAX_BYTES} B): {:?}",
        peaks
            .iter()
            .map(|peak| (peak.label("split").to_string(), peak.value))
            .collect::<Vec<_>>()
    ));
    let checkpoints = prometheus
        .scalar("weir_master_checkpoints_total{outcome=\"completed\"}")
        .unwrap_or_else(|error| master.fail(error));
    master.check(checkpoints >= 1.0, || {
        format!("{checkpoints} checkpoints completed")
    });
    // Every series the Grafana dashboard reads reached Prometheus.
    let absent: Vec<String> = dashboard_metrics()
        .into_iter()
        .filter(|name| {
            prometheus
                .query(&format!("count({{__name__=\"{name}\"}})"))
                .map_or(true, |samples| samples.is_empty())
        })
        .collect();
    master.check(absent.is_empty(), || {
        format!("dashboard metrics Prometheus has no series of: {absent:?}")
    });

    // Stopped, the job's task and split series disappear from the scrapes.
    let stopped = master.cli(&["stop", &job_id]);
    master.check(stopped.status.success(), || {
        format!("weir stop: {stopped:?}")
    });
    wait_state(&master, &job_id, "Stopped");
    prometheus.wait_for("the job's series are gone", SOON, || {
        let left = prometheus.query(&format!("{{job_id=\"{job_id}\",job=\"weir-worker\"}}"))?;
        if left.is_empty() {
            Ok(())
        } else {
            Err(format!(
                "{} series left, e.g. {:?}",
                left.len(),
                left.first()
            ))
        }
    });
    stack::remove_recursive(&path);
    say("done".to_string());
}

/// A FakeSource → LocalFile job (no external service), checkpointed every second.
fn local_job(master: &Master, name: &str) -> String {
    let out = master.dir().join(format!("{name}-out"));
    let file = write_file(
        master.dir(),
        &format!("{name}.conf"),
        &format!(
            r#"env {{
  parallelism = 2
  job.mode = "STREAMING"
  checkpoint.interval = 1000
  read_limit.rows_per_second = 400
}}
source {{
  FakeSource {{
    unbounded = true
    rows_per_second = 400
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
    master.submit(&file)
}

/// Series only a Kafka source gives samples to (FakeSource has no prefetch and no log end);
/// the Kafka test sees them in Prometheus.
const KAFKA_ONLY: [&str; 2] = ["weir_split_prefetch_bytes", "weir_split_consumer_lag"];

#[test]
fn every_metric_of_the_grafana_dashboard_is_exported() {
    let used = dashboard_metrics();
    let master = Master::start_default("dashboard-metrics");
    let worker = Worker::start(&master, "w-dash", "1GiB");
    let job_id = local_job(&master, "dashboard");
    wait_state(&master, &job_id, "Running");
    // A checkpoint completes, so the master's job checkpoint series have samples too.
    master.wait_until("a checkpoint completed", SOON, || {
        let job = job_state(&master, &job_id)?;
        if u64_of(&job, "last_checkpoint_id") > 0 {
            Ok(())
        } else {
            Err("none yet".into())
        }
    });
    let (master_metrics, worker_metrics) = (
        metrics_of(&master.http_url()),
        metrics_of(&worker.http_url()),
    );
    let declared: BTreeSet<String> = declared_names(&master_metrics)
        .union(&declared_names(&worker_metrics))
        .cloned()
        .collect();
    let sampled: BTreeSet<String> = sample_names(&master_metrics)
        .union(&sample_names(&worker_metrics))
        .cloned()
        .collect();
    let undeclared: Vec<&String> = used
        .iter()
        .filter(|name| !declared.contains(*name))
        .collect();
    master.check(undeclared.is_empty(), || {
        format!("the dashboard uses metrics neither the master nor the worker exports: {undeclared:?}\nexported: {declared:?}")
    });
    let unsampled: Vec<&String> = used
        .iter()
        .filter(|name| !sampled.contains(*name) && !KAFKA_ONLY.contains(&name.as_str()))
        .collect();
    master.check(unsampled.is_empty(), || {
        format!("dashboard metrics without a sample while a job runs: {unsampled:?}\nsampled: {sampled:?}")
    });
}

#[test]
fn health_readiness_and_the_api_mirror_the_cli() {
    let master = Master::start_default("health-api");
    let worker = Worker::start(&master, "w-api", "1GiB");
    for base in [master.http_url(), worker.http_url()] {
        let health =
            http::get(&format!("{base}/healthz")).unwrap_or_else(|error| panic!("{error}"));
        assert_eq!(
            (health.status, health.text().as_str()),
            (200, "ok\n"),
            "{base}"
        );
        // The master lists a worker ALIVE as it registers it; the worker is ready once the
        // answer reached it, a moment later.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        let ready = loop {
            let ready =
                http::get(&format!("{base}/readyz")).unwrap_or_else(|error| panic!("{error}"));
            if ready.status == 200 || std::time::Instant::now() > deadline {
                break ready;
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        };
        assert_eq!(
            (ready.status, ready.text().as_str()),
            (200, "ready\n"),
            "{base}"
        );
    }
    let job_id = local_job(&master, "api");
    wait_state(&master, &job_id, "Running");

    // The API's job and worker views carry every field of `weir job|workers -o json`, with the
    // same values where they do not move.
    let api = |path: &str| {
        let response = http::get(&format!("{}{path}", master.http_url()))
            .unwrap_or_else(|error| panic!("{error}"));
        assert_eq!(response.status, 200, "{path}: {}", response.text());
        assert!(
            response.content_type.starts_with("application/json"),
            "{path}: {}",
            response.content_type
        );
        response.json().unwrap_or_else(|error| panic!("{error}"))
    };
    let keys = |value: &Value| -> BTreeSet<String> {
        value
            .as_object()
            .map(|map| map.keys().cloned().collect())
            .unwrap_or_default()
    };
    let cli_job = master.job(&job_id);
    let api_job = api(&format!("/api/v1/jobs/{job_id}"));
    let missing: Vec<String> = keys(&cli_job)
        .difference(&keys(&api_job))
        .cloned()
        .collect();
    assert!(missing.is_empty(), "API job lacks {missing:?}: {api_job}");
    for field in [
        "job_id",
        "name",
        "state",
        "parallelism",
        "subtask_reservation_bytes",
    ] {
        assert_eq!(api_job[field], cli_job[field], "{field}");
    }
    assert_eq!(api_job["read_limit"]["rows_per_second"], 400);
    let cli_task = &cli_job["tasks"][0];
    let api_task = &api_job["tasks"][0];
    let missing: Vec<String> = keys(cli_task)
        .difference(&keys(api_task))
        .cloned()
        .collect();
    assert!(missing.is_empty(), "API task lacks {missing:?}");
    let missing: Vec<String> = keys(&cli_task["metrics"])
        .difference(&keys(&api_task["metrics"]))
        .cloned()
        .collect();
    assert!(missing.is_empty(), "API task metrics lack {missing:?}");

    let cli_workers = master.json(&["workers"]);
    let api_workers = api("/api/v1/workers");
    let (cli_worker, api_worker) = (&cli_workers["workers"][0], &api_workers["workers"][0]);
    let missing: Vec<String> = keys(cli_worker)
        .difference(&keys(api_worker))
        .cloned()
        .collect();
    assert!(
        missing.is_empty(),
        "API worker lacks {missing:?}: {api_worker}"
    );
    for field in [
        "worker_id",
        "address",
        "state",
        "memory_limit_bytes",
        "cores",
    ] {
        assert_eq!(api_worker[field], cli_worker[field], "{field}");
    }
    let one = api("/api/v1/workers/w-api");
    assert_eq!(one["tasks"].as_array().map(Vec::len), Some(2), "{one}");
    let cluster = api("/api/v1/cluster");
    assert_eq!(cluster["jobs"][0]["job_id"], job_id.as_str());
    let missing = http::get(&format!("{}/api/v1/jobs/j-nope", master.http_url())).unwrap();
    assert_eq!(missing.status, 404);
    assert_eq!(missing.json().unwrap()["error"], "no job with id j-nope");

    // A worker that loses its master is no longer ready.
    drop(master);
    let deadline = Instant::now() + SOON;
    loop {
        let ready = http::get(&format!("{}/readyz", worker.http_url()))
            .unwrap_or_else(|error| panic!("{error}"));
        if ready.status == 503 {
            assert_eq!(ready.text(), "not ready: not registered with a master\n");
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the worker stayed ready without its master"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}
