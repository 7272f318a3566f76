//! One byte budget per subtask (issue 14's acceptance): a subtask reading 256 partitions behind
//! a stalled HdfsFile sink holds its split queues within `buffer.max_bytes`, pauses the
//! partitions that cannot move (the backlog stays in Kafka), keeps the worker's RSS growth within
//! the job's reservation — and, once the sink resumes, every record is committed exactly once.
//!
//! The sink stalls for real: its `fs.defaultFS` goes through a TCP proxy to the stack's
//! NameNode, and the proxy blackholes every connection (the sink's first call, recovering its
//! temporary directory, then never returns) until it is healed.

use std::net::ToSocketAddrs as _;

use weir_e2e::exactly_once::support::{Codec, Format, read_committed};
use weir_e2e::proxy::Proxy;

use super::*;

const PARTITIONS: u64 = 256;
const PER_PARTITION: u64 = 100;
/// Bytes of each record: the issue's 1 KiB.
const RECORD_BYTES: usize = 1024;
/// `buffer.max_bytes` of the job: 2 MiB, of which 1.5 MiB for the queues. The backlog's rows
/// take ≈ 10× that in memory, so without the budget the queues would take the whole backlog.
const BUDGET: u64 = 2 * MIB;
/// How long the sink stays stalled while the worker is watched.
const STALL: Duration = Duration::from_secs(15);
/// Bound for reading and committing the whole backlog once the sink resumes (a retry of the
/// task included).
const RESUME: Duration = Duration::from_secs(90);

/// A Prometheus gauge of the worker, summed over its series.
fn worker_gauge(worker: &Worker, name: &str) -> Result<u64, String> {
    let metrics = weir_e2e::http::get(&format!("{}/metrics", worker.http_url()))?.text();
    let values: Vec<f64> = metrics
        .lines()
        .filter(|line| line.starts_with(name) && line[name.len()..].starts_with(['{', ' ']))
        .filter_map(|line| line.rsplit(' ').next()?.parse().ok())
        .collect();
    if values.is_empty() {
        return Err(format!("no {name} in the worker's /metrics"));
    }
    Ok(values.iter().sum::<f64>() as u64)
}

fn job_text(bootstrap: &str, topic: &str, hdfs: &str, path: &str) -> String {
    format!(
        r#"env {{
  parallelism = 1
  job.mode = "STREAMING"
  checkpoint.interval = 2000
  job.retry.times = 10
  job.retry.interval.seconds = 2
}}
source {{
  Kafka {{
    bootstrap.servers = "{bootstrap}"
    topic = "{topic}"
    consumer.group = "{group}"
    start_mode = "earliest"
    buffer.max_bytes = {BUDGET}
{source}  }}
}}
sink {{
  HdfsFile {{
    fs.defaultFS = "{hdfs}"
    path = "{path}"
    file_format_type = "json"
  }}
}}
"#,
        group = weir_e2e::unique_name("weir-e2e-budget"),
        source = Format::Json
            .source_lines()
            .iter()
            .map(|line| format!("    {line}\n"))
            .collect::<String>(),
    )
}

#[test]
fn many_partitions_stay_within_the_subtask_budget_behind_a_stalled_sink() {
    let name = "budget_256_partitions";
    let bootstrap = bootstrap();
    let hdfs = weir_e2e::hdfs_url().unwrap_or_else(|missing| panic!("{missing}"));
    let namenode = hdfs
        .trim_start_matches("hdfs://")
        .to_socket_addrs()
        .ok()
        .and_then(|mut addresses| addresses.next())
        .unwrap_or_else(|| panic!("cannot resolve the NameNode address of {hdfs}"));

    let creating = Instant::now();
    let topic = Topic::create(&bootstrap, "weir-budget", PARTITIONS as i32);
    eprintln!(
        "[{name}] created a topic of {PARTITIONS} partitions in {:.1?}",
        creating.elapsed()
    );
    let total = PARTITIONS * PER_PARTITION;
    let records: Vec<Record> = (0..total)
        .map(|id| {
            Record::new(
                (id % PARTITIONS) as i32,
                Format::Json.payload_of_size(id, RECORD_BYTES),
            )
        })
        .collect();
    let produced = produce(&bootstrap, topic.name(), records);
    eprintln!(
        "[{name}] produced {total} records ({}) in {:.1?}",
        mib(produced.payload_bytes),
        produced.elapsed
    );

    let master = Master::start_default(name);
    let worker = Worker::start(&master, &format!("w-{name}"), "1GiB");
    let idle = reported_worker(&master, &worker);
    let idle_rss = u64_of(&idle, "rss_bytes").max(worker.rss_bytes().unwrap_or_default());

    // The sink is stalled before its first call.
    let proxy = Proxy::start(namenode);
    proxy.blackhole();
    let base = format!("/weir-e2e/budget/{}", weir_e2e::unique_name(name));
    let path = format!("{base}/out");
    let proxied = proxy.url().replace("http://", "hdfs://");
    let job_file = job_text(&bootstrap, topic.name(), &proxied, &path);
    eprintln!("[{name}] job file:\n{job_file}");
    let job_path = write_file(master.dir(), &format!("{name}.conf"), &job_file);
    // `weir validate` prints one reservation per subtask, not a per-partition one.
    let validated = weir_e2e::cluster::weir(&["validate", &job_path.display().to_string()]);
    let printed = String::from_utf8_lossy(&validated.stdout).to_string();
    master.check(
        validated.status.success()
            && printed.contains("each subtask reserves")
            && !printed.contains("per partition"),
        || {
            format!(
                "weir validate printed: {printed}{}",
                String::from_utf8_lossy(&validated.stderr)
            )
        },
    );
    let job_id = master.submit(&job_path);
    let running = wait_running(&master, &job_id);
    let reservation = u64_of(&running, "subtask_reservation_bytes");
    eprintln!(
        "[{name}] idle RSS {}, subtask reservation {}",
        mib(idle_rss),
        mib(reservation)
    );

    // Stalled: the readers fill the queues up to the budget, then pause their partitions.
    let started = Instant::now();
    let mut peak_rss = 0;
    let mut history = Vec::new();
    let (mut rows_read, mut paused, mut buffer_peak, mut buffer_max) = (0, 0, 0, 0);
    while started.elapsed() < STALL {
        std::thread::sleep(Duration::from_secs(1));
        let rss = worker
            .rss_bytes()
            .unwrap_or_else(|| master.fail("the worker process is gone"));
        peak_rss = peak_rss.max(rss);
        rows_read = task_sum(&master.job(&job_id), "rows_read");
        paused = worker_gauge(&worker, "weir_task_paused_splits").unwrap_or_default();
        buffer_peak = worker_gauge(&worker, "weir_task_buffer_peak_bytes").unwrap_or_default();
        buffer_max = worker_gauge(&worker, "weir_task_buffer_max_bytes").unwrap_or_default();
        history.push(format!(
            "{:.0}s: RSS {} rows_read {rows_read} paused {paused} queued peak {}",
            started.elapsed().as_secs_f64(),
            mib(rss),
            mib(buffer_peak)
        ));
    }
    let peak_rss = peak_rss.max(worker.peak_rss_bytes().unwrap_or_default());
    let growth = peak_rss.saturating_sub(idle_rss);
    eprintln!(
        "[{name}] stalled for {STALL:?}: RSS growth {} (peak {}), reservation {}, budget {}; queues peaked at {} of {}; {paused} of {PARTITIONS} partitions paused; rows_read {rows_read} of {total}\n  {}",
        mib(growth),
        mib(peak_rss),
        mib(reservation),
        mib(BUDGET),
        mib(buffer_peak),
        mib(buffer_max),
        history.join("\n  ")
    );
    master.check(buffer_max == BUDGET - BUDGET / 4, || {
        format!(
            "the queues' shared budget is {buffer_max}, expected 3/4 of buffer.max_bytes {BUDGET}"
        )
    });
    // Every split may overshoot by one row through the oversize rule (rows of < 1 KiB here).
    master.check(buffer_peak <= buffer_max + PARTITIONS * KIB, || {
        format!("the split queues held {buffer_peak} bytes, beyond their budget {buffer_max}")
    });
    master.check(buffer_peak > buffer_max / 2, || {
        format!("the queues never filled ({buffer_peak} of {buffer_max}): was the sink stalled?")
    });
    master.check(rows_read < total / 2, || {
        format!(
            "the subtask read {rows_read} of {total} rows behind a stalled sink: the backlog should stay in Kafka"
        )
    });
    master.check(paused >= PARTITIONS * 3 / 4, || {
        format!(
            "only {paused} of {PARTITIONS} partitions were paused behind the stalled sink (librdkafka keeps prefetching the others)"
        )
    });
    master.check(growth <= reservation, || {
        format!(
            "the worker's RSS grew by {} behind the stalled sink, beyond the subtask's reservation {}",
            mib(growth),
            mib(reservation)
        )
    });

    // The sink resumes: every record is committed exactly once.
    proxy.heal();
    let resumed = Instant::now();
    let committed = master.wait_until("every record committed", RESUME, || {
        let committed = read_committed(&path, Format::Json, Codec::None)?;
        if committed.distinct().len() as u64 >= total {
            Ok(committed)
        } else {
            Err(format!(
                "{}; job: {}",
                committed.summary(),
                text(&master.job(&job_id), "state")
            ))
        }
    });
    eprintln!(
        "[{name}] resumed: {} in {:.1?}",
        committed.summary(),
        resumed.elapsed()
    );
    if let Err(problem) = committed.check_exactly_once(0..total) {
        master.fail(problem);
    }
    weir_e2e::stack::remove_recursive(&base);
}
