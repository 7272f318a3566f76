//! A Parquet sink behind a stalled HDFS (issue 16's acceptance): the worker's RSS growth stays
//! within the job's reservation while row groups are open and the sink cannot close its files,
//! and once HDFS answers again every record is committed exactly once.
//!
//! The sink stalls for real: its `fs.defaultFS` goes through a TCP proxy to the stack's
//! NameNode. The job runs until rows reach the open Parquet files, then the proxy blackholes
//! the NameNode: the next checkpoint's close (completing the file at the NameNode) never
//! returns, the sink stops taking rows, and the source fills its queues behind it.

use std::net::ToSocketAddrs as _;
use std::time::{Duration, Instant};

use weir_e2e::proxy::Proxy;

use super::*;

const MIB: u64 = 1 << 20;
const PER_PARTITION: u64 = 5_000;
/// Bytes of each record (its `fill` field is not in the schema: librdkafka holds it, rows
/// do not).
const RECORD_BYTES: usize = 1024;
/// How long the sink stays stalled while the worker is watched.
const STALL: Duration = Duration::from_secs(12);

#[test]
fn parquet_sink_stays_within_the_reservation_behind_a_stalled_hdfs() {
    weir_e2e::readers::python();
    let scenario = Scenario::in_suite("parquet", "weir-pq", "stalled");
    let total = 4 * PER_PARTITION;
    let records: Vec<Record> = (0..total)
        .map(|id| {
            Record::new(
                (id % 4) as i32,
                Format::Parquet.payload_of_size(id, RECORD_BYTES),
            )
        })
        .collect();
    produce(&scenario.bootstrap, scenario.topic.name(), records);
    let namenode = scenario
        .hdfs
        .trim_start_matches("hdfs://")
        .to_socket_addrs()
        .ok()
        .and_then(|mut addresses| addresses.next())
        .unwrap_or_else(|| panic!("cannot resolve the NameNode address of {}", scenario.hdfs));
    let proxy = Proxy::start(namenode);
    let master = Master::start_default("parquet_stalled");
    let worker = Worker::start(&master, "w-parquet-stalled", WORKER_MEMORY);
    let idle = worker.rss_bytes().unwrap_or_default();

    let path = scenario.path();
    let text = format!(
        r#"env {{
  parallelism = 1
  job.mode = "STREAMING"
  checkpoint.interval = 2000
  job.retry.times = 10
  job.retry.interval.seconds = 2
  read_limit.rows_per_second = 2000
}}
source {{
  Kafka {{
    bootstrap.servers = "{bootstrap}"
    topic = "{topic}"
    consumer.group = "{group}"
    start_mode = "earliest"
{source}  }}
}}
sink {{
  HdfsFile {{
    fs.defaultFS = "{hdfs}"
    path = "{path}"
    file_format_type = "parquet"
    compress_codec = "snappy"
  }}
}}
"#,
        bootstrap = scenario.bootstrap,
        topic = scenario.topic.name(),
        group = weir_e2e::unique_name("weir-pq-group"),
        hdfs = proxy.url().replace("http://", "hdfs://"),
        source = Format::Parquet
            .source_lines()
            .iter()
            .map(|line| format!("    {line}\n"))
            .collect::<String>(),
    );
    let job = submit(&master, &scenario, "stalled", &text);
    let running = wait_running(&scenario, &master, &job, None, START);
    let reservation = u64_of(&running, "subtask_reservation_bytes");
    master.check(reservation > 0, || {
        format!("no subtask_reservation_bytes: {running:#}")
    });
    // Rows in the open file's row group (sink_buffer_bytes), then HDFS goes silent.
    let (mut peak, mut peak_buffer, mut buffer_bound) = (0, 0, 0);
    let mut sample = |master: &Master| -> Result<u64, String> {
        peak = peak.max(worker.rss_bytes().unwrap_or_default());
        let state = master.try_job(&job)?;
        for task in tasks(&state) {
            peak_buffer = peak_buffer.max(u64_of(&task["metrics"], "sink_buffer_bytes"));
            buffer_bound = buffer_bound.max(u64_of(&task["metrics"], "sink_buffer_max_bytes"));
        }
        Ok(u64_of(&state, "rows_written"))
    };
    master.wait_until(
        "rows reach the open Parquet file",
        Duration::from_secs(60),
        || {
            let rows = sample(&master)?;
            if rows >= 2_000 {
                Ok(())
            } else {
                Err(format!("rows_written {rows}"))
            }
        },
    );
    proxy.blackhole();
    let stalled = Instant::now();
    let mut written = Vec::new();
    while stalled.elapsed() < STALL {
        std::thread::sleep(Duration::from_secs(1));
        written.push(sample(&master).unwrap_or_else(|error| master.fail(error)));
    }
    let peak = peak.max(worker.peak_rss_bytes().unwrap_or_default());
    let growth = peak.saturating_sub(idle);
    scenario.say(format!(
        "stalled {STALL:?}: RSS idle {} MiB, peak {} MiB (growth {} MiB), reservation {} MiB; \
         sink_buffer_bytes peak {} of {} KiB; rows_written each second {written:?}",
        idle / MIB,
        peak / MIB,
        growth / MIB,
        reservation / MIB,
        peak_buffer >> 10,
        buffer_bound >> 10
    ));
    // The last half of the window: the sink takes no rows (it waits on the NameNode).
    let half = &written[written.len() / 2..];
    master.check(half.windows(2).all(|pair| pair[0] == pair[1]), || {
        format!("the sink kept writing while HDFS was silent: {written:?}")
    });
    master.check(written.last().copied().unwrap_or(0) < total, || {
        "every row was written before HDFS went silent: nothing was stalled".to_string()
    });
    // Rows were held in row groups before the stall (a stall at the NameNode blocks the sink
    // when it next opens or completes a file, so the group in hand may be small then).
    master.check(peak_buffer > 0 && peak_buffer <= buffer_bound, || {
        format!("sink_buffer_bytes peaked at {peak_buffer} of {buffer_bound}")
    });
    master.check(growth <= reservation, || {
        format!(
            "the worker's RSS grew by {} MiB behind the stalled Parquet sink, beyond the \
             reservation {} MiB",
            growth / MIB,
            reservation / MIB
        )
    });

    proxy.heal();
    let committed = master.wait_until(
        "every record committed after HDFS answers again",
        Duration::from_secs(120),
        || {
            let committed = read_committed(&path, Format::Parquet, Codec::Snappy)?;
            if committed.distinct().len() as u64 >= total {
                Ok(committed)
            } else {
                Err(committed.summary())
            }
        },
    );
    if let Err(problem) = committed.check_exactly_once(0..total) {
        master.fail(problem);
    }
}
