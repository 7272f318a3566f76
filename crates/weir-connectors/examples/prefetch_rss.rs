//! Measures what a stalled Kafka subtask holds in memory: RSS growth of the process while a
//! Kafka source reads partitions whose queues nobody drains, against the reservation Weir
//! makes for it (`weir_core::reservation`). Prints figures; asserts nothing.
//!
//! ```text
//! cargo run -p weir-connectors --example prefetch_rss -- \
//!     [value bytes=1024] [partitions=4] [prefetch.max_bytes=1048576] [queue.max_bytes=1048576]
//! ```
//!
//! The in-process mock cluster keeps 5 MiB of log per partition, produced before the
//! baseline is taken, so its memory is not counted; each partition's log must exceed
//! `queue.max_bytes` + the prefetch for the reader to stall on a full queue. Run each
//! configuration in its own process: freed memory is not always returned to the OS.

use std::time::{Duration, Instant};

use tokio::sync::watch;
use tokio_util::sync::CancellationToken;
use weir_connectors::kafka::mock::MockKafka;
use weir_connectors::{ReadLimiter, SourceContext, SubtaskInfo, open_source};
use weir_core::config::{KAFKA_CLIENT_OVERHEAD_BYTES, ParsePolicy, SourceConfig, parse_job};
use weir_core::queue::bounded_queue;
use weir_core::reservation::format_bytes;
use weir_core::split::SplitId;

/// The mock cluster drops log beyond 5 MiB per partition; stay below it.
const LOG_BYTES_PER_PARTITION: u64 = 4 * 1024 * 1024 + 512 * 1024;

fn rss_bytes() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|rest| {
            rest.trim()
                .trim_end_matches("kB")
                .trim()
                .parse::<u64>()
                .ok()
        })
        .map_or(0, |kib| kib * 1024)
}

fn arg(index: usize, default: u64) -> u64 {
    std::env::args()
        .nth(index)
        .and_then(|text| text.parse().ok())
        .unwrap_or(default)
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let value_bytes = arg(1, 1024).max(1);
    let partitions = arg(2, 4) as i32;
    let prefetch = arg(3, 1024 * 1024);
    let queue_bytes = arg(4, 1024 * 1024);
    let records = (LOG_BYTES_PER_PARTITION / (value_bytes + 70)).max(1);
    // WEIR_COMMIT=1 also runs the offset committer (a second librdkafka client).
    let commit = std::env::var("WEIR_COMMIT").is_ok_and(|v| v == "1");

    let kafka = MockKafka::new(1).expect("mock cluster");
    kafka.create_topic("rss", partitions).expect("topic");
    let value = vec![b'x'; value_bytes as usize];
    let values: Vec<Vec<u8>> = (0..records).map(|_| value.clone()).collect();
    for partition in 0..partitions {
        kafka
            .produce("rss", partition, &values, None)
            .expect("produce");
    }
    drop(values);
    tokio::time::sleep(Duration::from_secs(1)).await;
    let baseline = rss_bytes();

    let text = format!(
        "env {{ job.mode = STREAMING }}\n\
         source {{ Kafka {{ bootstrap.servers = \"{}\", topic = rss, start_mode = earliest,\n\
           format = text, prefetch.max_bytes = {prefetch}, queue.max_bytes = {queue_bytes},\n\
           queue.size = 1000000, commit_on_checkpoint = {commit},\n\
           kafka.config = {{ statistics.interval.ms = 1000 }} }} }}\n\
         sink {{ Console {{ log.print.data = false }} }}",
        kafka.bootstrap_servers()
    );
    let job = parse_job(&text, "rss.conf", &ParsePolicy::SelfContained).expect("job");
    let SourceConfig::Kafka(source) = &job.source else {
        unreachable!("the job above has a Kafka source")
    };
    let splits: Vec<SplitId> = (0..partitions).map(|p| SplitId::new("rss", p)).collect();
    let subtask = SubtaskInfo {
        job_id: "rss".into(),
        subtask_index: 0,
        parallelism: 1,
        attempt: 1,
    };
    let opened = open_source(&job, &subtask, &splits, &[]).expect("open");
    let cancel = CancellationToken::new();
    let ctx = SourceContext {
        cancel: cancel.clone(),
        paused: watch::channel(false).1,
        read_limit: ReadLimiter::unlimited(),
    };
    let stop = CancellationToken::new();
    if let Some(driver) = opened.driver {
        tokio::spawn(driver.run(stop.clone()));
    }
    let mut receivers = Vec::new();
    let mut states = Vec::new();
    for split in opened.readers {
        states.push(split.state.clone());
        let (sender, receiver) = bounded_queue(1_000_000, queue_bytes);
        receivers.push(receiver);
        tokio::spawn(split.reader.run(sender, ctx.clone()));
    }
    let started = Instant::now();
    // Wait until every queue is full and nothing has moved for two seconds.
    let mut last = u64::MAX;
    let mut still_since = Instant::now();
    loop {
        tokio::time::sleep(Duration::from_millis(250)).await;
        let admitted: u64 = receivers.iter().map(|r| r.stats().total_rows()).sum();
        if admitted != last {
            last = admitted;
            still_since = Instant::now();
        } else if still_since.elapsed() > Duration::from_secs(2) && admitted > 0 {
            break;
        }
        if started.elapsed() > Duration::from_secs(60) {
            println!("warning: queues still moving after 60 s");
            break;
        }
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    let stalled = rss_bytes();

    let queued: u64 = receivers.iter().map(|r| r.stats().bytes()).sum();
    let prefetched: Vec<String> = states
        .iter()
        .map(|state| state.prefetch_bytes().map_or("?".into(), format_bytes))
        .collect();
    let rows: u64 = receivers.iter().map(|r| r.stats().rows()).sum();
    let settings = source.prefetch();
    let prefetch_reservation = settings.reservation_bytes();
    let growth = stalled.saturating_sub(baseline);
    let reservation = job.source.buffer_bytes(partitions as usize);
    println!(
        "value {value_bytes} B, {partitions} partitions, {records} records each; \
         prefetch.max_bytes {} (fetch.message.max.bytes {}, queued.min.messages {}), \
         queue.max_bytes {}",
        format_bytes(prefetch),
        format_bytes(settings.fetch_message_max_bytes),
        settings.queued_min_messages,
        format_bytes(queue_bytes),
    );
    println!(
        "RSS growth while stalled: {} (queues hold {} in {rows} rows; the rest is librdkafka: \
         {} per partition)",
        format_bytes(growth),
        format_bytes(queued),
        format_bytes(growth.saturating_sub(queued) / partitions.max(1) as u64),
    );
    println!(
        "librdkafka reports prefetched per partition: {}",
        prefetched.join(", ")
    );
    println!(
        "reservation: {} = client {} + {partitions} × (queue {} + prefetch {}); \
         growth / reservation = {:.2}",
        format_bytes(reservation),
        format_bytes(KAFKA_CLIENT_OVERHEAD_BYTES),
        format_bytes(queue_bytes),
        format_bytes(prefetch_reservation),
        growth as f64 / reservation as f64,
    );
    cancel.cancel();
    stop.cancel();
    drop(receivers);
    tokio::time::sleep(Duration::from_millis(200)).await;
}
