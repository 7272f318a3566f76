//! Bounded memory: split queues never pass `queue.max_bytes`; worker RSS stays within idle RSS +
//! the job's reservation.

use super::*;

// ----------------------------------------------------------------------------------------------
// Bounded memory
// ----------------------------------------------------------------------------------------------

/// Figures of one bounded-memory run.
#[derive(Debug, Default)]
struct MemoryRun {
    idle_rss_reported: u64,
    /// The baseline: the larger of the two idle figures (a heartbeat's figure may predate the
    /// worker's start-up allocations).
    idle_rss: u64,
    idle_rss_proc: u64,
    reservation: u64,
    bound: u64,
    peak_rss: u64,
    peak_rss_reported: u64,
    /// VmHWM when the worker was idle, and at the end of the run.
    idle_hwm: u64,
    final_hwm: u64,
    samples: usize,
    rows_read: u64,
    rows_written: u64,
    /// Per split: the highest queue_bytes and queue_rows seen, and whether the queue was once
    /// full by bytes (another row of the split's average size would not have fitted).
    split_peaks: BTreeMap<String, (u64, u64, bool)>,
    queue_max_bytes: BTreeMap<String, u64>,
    last_job: Value,
}

/// Runs `job` on a fresh worker with `--memory-limit 1GiB` and samples every second for
/// `duration`: every split's `queue_bytes` and `queue_peak_bytes` stay within its
/// `queue_max_bytes`, and the worker's RSS (/proc VmRSS) stays within its idle RSS + the job's
/// `subtask_reservation_bytes` × parallelism. Idle RSS is taken right after the worker
/// registered, before the job is submitted: the larger of `weir workers`' `rss_bytes` and
/// /proc's VmRSS. Violations are collected over the whole run and reported together with the
/// RSS history.
fn run_bounded_memory(
    name: &str,
    job: &KafkaJob,
    partitions: usize,
    duration: Duration,
) -> (Master, Worker, MemoryRun) {
    let master = Master::start_default(name);
    let worker = Worker::start(&master, &format!("w-{name}"), "1GiB");
    let idle = reported_worker(&master, &worker);
    let mut run = MemoryRun {
        idle_rss_reported: u64_of(&idle, "rss_bytes"),
        idle_rss_proc: worker.rss_bytes().unwrap_or_default(),
        idle_hwm: worker.peak_rss_bytes().unwrap_or_default(),
        ..MemoryRun::default()
    };

    let job_id = job.submit(&master, name);
    let running = wait_running(&master, &job_id);
    run.reservation = u64_of(&running, "subtask_reservation_bytes");
    master.check(run.reservation > 0, || {
        format!("the job reports no subtask_reservation_bytes: {running:#}")
    });
    run.idle_rss = run.idle_rss_reported.max(run.idle_rss_proc);
    run.bound = run.idle_rss + run.reservation * u64::from(job.parallelism);
    eprintln!(
        "[{name}] idle RSS {} (weir workers) / {} (/proc); subtask_reservation_bytes {} × parallelism {} → RSS bound {}",
        mib(run.idle_rss_reported),
        mib(run.idle_rss_proc),
        mib(run.reservation),
        job.parallelism,
        mib(run.bound)
    );

    let mut violations: Vec<String> = Vec::new();
    let mut first_violation_job: Option<Value> = None;
    let mut history: Vec<String> = Vec::new();
    let started = Instant::now();
    let mut next_sample = started;
    while started.elapsed() < duration {
        // Sampling cadence, not synchronisation: each sample is checked on its own.
        let now = Instant::now();
        if now < next_sample {
            std::thread::sleep(next_sample - now);
        }
        next_sample += Duration::from_secs(1);

        let job_json = master.job(&job_id);
        let rss = worker
            .rss_bytes()
            .unwrap_or_else(|| master.fail("the worker process is gone"));
        let reported = master
            .try_worker(worker.id())
            .ok()
            .flatten()
            .map(|entry| u64_of(&entry, "rss_bytes"))
            .unwrap_or_default();
        run.samples += 1;
        run.peak_rss = run.peak_rss.max(rss);
        run.peak_rss_reported = run.peak_rss_reported.max(reported);
        let at = started.elapsed().as_secs_f64();
        let queued: u64 = splits(&job_json)
            .iter()
            .map(|split| u64_of(split, "queue_bytes"))
            .sum();
        history.push(format!(
            "{at:.0}s: RSS {} queues {} rows_read {}",
            mib(rss),
            mib(queued),
            u64_of(&job_json, "rows_read")
        ));

        let state = text(&job_json, "state");
        master.check(state == "Running", || {
            format!("[{name}] at {at:.0} s the job is {state}, not Running: {job_json:#}")
        });
        // The reservation as the job reports it now (it covers the splits assigned so far).
        let reservation = u64_of(&job_json, "subtask_reservation_bytes");
        run.reservation = run.reservation.max(reservation);
        let bound = run.idle_rss + reservation * u64::from(job.parallelism);
        run.bound = run.bound.max(bound);
        if rss > bound {
            violations.push(format!(
                "at {at:.0} s worker RSS {rss} ({}) exceeds idle RSS {} + subtask_reservation_bytes {reservation} × {} = {bound} ({}) by {}",
                mib(rss),
                run.idle_rss,
                job.parallelism,
                mib(bound),
                mib(rss - bound),
            ));
            first_violation_job.get_or_insert_with(|| job_json.clone());
        }
        for split in splits(&job_json) {
            let split_name = text(&split, "split");
            let max = u64_of(&split, "queue_max_bytes");
            let bytes = u64_of(&split, "queue_bytes");
            let peak = u64_of(&split, "queue_peak_bytes");
            let rows = u64_of(&split, "queue_rows");
            if max == 0 || bytes > max || peak > max {
                violations.push(format!(
                    "at {at:.0} s split {split_name}'s queue is not within queue.max_bytes {max}: queue_bytes {bytes}, queue_peak_bytes {peak}"
                ));
                first_violation_job.get_or_insert_with(|| job_json.clone());
            }
            let read_rows = u64_of(&split, "rows_read");
            let average_row = u64_of(&split, "bytes_read")
                .checked_div(read_rows)
                .unwrap_or(u64::MAX);
            let full_by_bytes = rows > 0 && bytes.saturating_add(average_row) > max;
            let entry = run.split_peaks.entry(split_name.clone()).or_default();
            entry.0 = entry.0.max(bytes.max(peak));
            entry.1 = entry.1.max(rows);
            entry.2 |= full_by_bytes;
            run.queue_max_bytes.insert(split_name, max);
        }
        run.last_job = job_json;
    }
    run.rows_read = u64_of(&run.last_job, "rows_read");
    run.rows_written = u64_of(&run.last_job, "rows_written");
    // The peak between samples too: VmHWM over the run, against the same bound measured from
    // the idle high-water mark (start-up may have peaked above the idle RSS).
    run.final_hwm = worker
        .peak_rss_bytes()
        .unwrap_or_else(|| master.fail("the worker process is gone"));
    let hwm_bound = run.idle_rss.max(run.idle_hwm) + run.reservation * u64::from(job.parallelism);
    if run.final_hwm > hwm_bound {
        violations.push(format!(
            "the worker's peak RSS (VmHWM) {} exceeds the idle peak {} + subtask_reservation_bytes {} × {} = {}",
            mib(run.final_hwm),
            mib(run.idle_rss.max(run.idle_hwm)),
            run.reservation,
            job.parallelism,
            mib(hwm_bound)
        ));
    }
    eprintln!(
        "[{name}] {} samples over {duration:?}: peak RSS {} (/proc, sampled) / {} (VmHWM; idle {}) / {} (weir workers), bound {} (reservation {}); rows_read {}, rows_written {}; per split (peak queue bytes, peak queue rows, once full by bytes): {:?}; queue_max_bytes {:?}",
        run.samples,
        mib(run.peak_rss),
        mib(run.final_hwm),
        mib(run.idle_hwm),
        mib(run.peak_rss_reported),
        mib(run.bound),
        mib(run.reservation),
        run.rows_read,
        run.rows_written,
        run.split_peaks,
        run.queue_max_bytes,
    );
    if !violations.is_empty() {
        master.fail(format!(
            "[{name}] memory bounds violated in {} of {} samples:\n  {}\nsamples:\n  {}\njob at the first violation: {:#}",
            violations.len(),
            run.samples,
            violations.join("\n  "),
            history.join("\n  "),
            first_violation_job.unwrap_or_default()
        ));
    }
    master.check(run.split_peaks.len() == partitions, || {
        format!(
            "[{name}] expected metrics of {partitions} splits, saw {:?}: {:#}",
            run.split_peaks.keys().collect::<Vec<_>>(),
            run.last_job
        )
    });
    (master, worker, run)
}

/// 500 000 × 1 KiB over 4 partitions, read at `read_limit.rows_per_second = 1` by 2 subtasks
/// for 60 s: queues within their byte bound, RSS within idle + reservation, and the limit
/// really slowed reading (rows_read ≈ 60, not the backlog).
#[test]
fn bounded_memory_1kib() {
    let bootstrap = bootstrap();
    let topic = Topic::create(&bootstrap, "weir-bm-1kib", 4);
    let produced = produce(
        &bootstrap,
        topic.name(),
        padded_json_records(4, 125_000, 1024),
    );
    eprintln!(
        "[bounded_memory_1kib] produced {} × 1 KiB ({}) in {:.1?} ({:.0} msg/s)",
        produced.deliveries.len(),
        mib(produced.payload_bytes),
        produced.elapsed,
        produced.deliveries.len() as f64 / produced.elapsed.as_secs_f64()
    );
    let ends = kafka::watermarks(&bootstrap, topic.name(), 4);
    assert!(
        ends.iter().all(|&(low, high)| low == 0 && high == 125_000),
        "each partition should hold 125 000 messages: {ends:?}"
    );

    let mut job = KafkaJob::new(&bootstrap, topic.name());
    job.parallelism = 2;
    job.env = vec!["read_limit.rows_per_second = 1".into()];
    job.fields = r#"p = "int", seq = "bigint", pad = "string""#.into();
    let submitted = Instant::now();
    let (master, _worker, run) =
        run_bounded_memory("bounded_memory_1kib", &job, 4, Duration::from_secs(60));

    // 1 row/s for the whole job: at most one row per second since submission plus each
    // subtask's burst of one row (and a little slack for the heartbeat's age).
    let elapsed = submitted.elapsed().as_secs();
    master.check(run.rows_read <= elapsed + 5, || {
        format!(
            "read_limit.rows_per_second = 1 did not limit reading: rows_read {} after {elapsed} s: {:#}",
            run.rows_read, run.last_job
        )
    });
    master.check(run.rows_read >= 30, || {
        format!(
            "the job hardly read anything: rows_read {} after {elapsed} s (expected ≈ 1 row/s): {:#}",
            run.rows_read, run.last_job
        )
    });

    // The backlog stays in Kafka and the lag shows it.
    let lag: i64 = tasks(&run.last_job)
        .iter()
        .map(|task| task["metrics"]["consumer_lag"].as_i64().unwrap_or(-1))
        .sum();
    let unread = 500_000 - run.rows_read as i64;
    master.check(lag >= unread - 50_000 && lag <= unread + 1_000, || {
        format!(
            "consumer_lag {lag} does not show the ≈ {unread} unread messages: {:#}",
            run.last_job
        )
    });
    eprintln!("[bounded_memory_1kib] consumer_lag {lag}");
}

/// The same case with 1 MiB messages, `read_limit.rows_per_second = 1`, `queue.size = 1000` and
/// the default `queue.max_bytes`, behind a Console sink that takes 5 s per row. At 1 row/s in
/// and 0.2 rows/s out the queues fill up — by bytes (a handful of rows), never by rows — and
/// RSS stays within idle + reservation. (With a sink faster than the limit nothing would
/// accumulate in the queues, and the byte bound would go untested.)
#[test]
fn bounded_memory_1mib() {
    let bootstrap = bootstrap();
    let message = MIB as usize;
    let per_partition = 150;
    let topic = Topic::create_with(
        &bootstrap,
        "weir-bm-1mib",
        2,
        &[("max.message.bytes", "4194304")],
    );
    let produced = produce(
        &bootstrap,
        topic.name(),
        padded_json_records(2, per_partition, message),
    );
    eprintln!(
        "[bounded_memory_1mib] produced {} × 1 MiB ({}) in {:.1?}",
        produced.deliveries.len(),
        mib(produced.payload_bytes),
        produced.elapsed
    );

    let mut job = KafkaJob::new(&bootstrap, topic.name());
    job.parallelism = 1;
    job.env = vec!["read_limit.rows_per_second = 1".into()];
    job.fields = r#"p = "int", seq = "bigint", pad = "string""#.into();
    job.source = vec!["queue.size = 1000".into()];
    job.print_data = false;
    job.print_delay_ms = 5000;
    let submitted = Instant::now();
    let (master, _worker, run) =
        run_bounded_memory("bounded_memory_1mib", &job, 2, Duration::from_secs(60));

    for (split, &(peak_bytes, peak_rows, full_by_bytes)) in &run.split_peaks {
        let max = run.queue_max_bytes[split];
        // Rows of ≈ 1 MiB: the byte bound admits at most max / 1 MiB of them.
        let rows_allowed_by_bytes = max / MIB + 1;
        master.check(peak_rows <= rows_allowed_by_bytes, || {
            format!(
                "split {split} held {peak_rows} rows of ≈ 1 MiB, more than queue.max_bytes {max} admits: {:#}",
                run.last_job
            )
        });
        master.check(full_by_bytes, || {
            format!(
                "split {split}'s queue never filled up to its byte bound (peak {peak_bytes} of {max} bytes, peak {peak_rows} rows) although rows arrive at 1/s and the sink takes 5 s per row: {:#}",
                run.last_job
            )
        });
    }
    // The sink took ≈ 0.2 rows/s, and reading stopped when the queues were full: the rest of
    // the 300 MiB backlog stayed in Kafka.
    let elapsed = submitted.elapsed().as_secs();
    master.check(run.rows_written <= elapsed / 5 + 2, || {
        format!(
            "rows_written {} after {elapsed} s although the sink takes 5 s per row: {:#}",
            run.rows_written, run.last_job
        )
    });
    master.check(run.rows_read <= elapsed + 2, || {
        format!(
            "rows_read {} after {elapsed} s: read_limit.rows_per_second = 1 did not limit reading: {:#}",
            run.rows_read, run.last_job
        )
    });
}
