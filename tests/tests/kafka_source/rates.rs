//! Read limits measured over 20 s windows: rows/s, bytes/s, and the job-wide budget.

use super::*;

// ----------------------------------------------------------------------------------------------
// Read limits
// ----------------------------------------------------------------------------------------------

/// Polls `weir job` until `read(job)` changes (a fresh heartbeat); returns when that was seen
/// and the new value. Polls tightly so that the instant is within a few tens of ms of the
/// report's arrival.
fn next_report(
    master: &Master,
    job_id: &str,
    read: &dyn Fn(&Value) -> u64,
    previous: u64,
) -> (Instant, u64, Value) {
    let started = Instant::now();
    loop {
        let job = master.job(job_id);
        let value = read(&job);
        if value != previous {
            return (Instant::now(), value, job);
        }
        if is_terminal(&text(&job, "state")) {
            master.fail(format!(
                "job {job_id} ended during a rate measurement: {job:#}"
            ));
        }
        if started.elapsed() > SOON {
            master.fail(format!(
                "the measured counter stayed at {previous} for {SOON:?}: {job:#}"
            ));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Measures the growth of `read(job)` per second over ≈ `WINDOW`, between two fresh reports.
/// Returns (delta normalised to the window, per second, the last job).
fn measure_rate(master: &Master, job_id: &str, read: &dyn Fn(&Value) -> u64) -> (f64, f64, Value) {
    let current = read(&master.job(job_id));
    let (t0, v0, _) = next_report(master, job_id, read, current);
    // The window itself: a measurement interval, not a wait for an event.
    std::thread::sleep(WINDOW.saturating_sub(Duration::from_millis(300)));
    let current = read(&master.job(job_id));
    let (t1, v1, job) = next_report(master, job_id, read, current);
    let seconds = (t1 - t0).as_secs_f64();
    let per_second = v1.saturating_sub(v0) as f64 / seconds;
    (per_second * WINDOW.as_secs_f64(), per_second, job)
}

fn within(actual: f64, target: f64) -> bool {
    (actual - target).abs() <= target * RATE_TOLERANCE
}

/// `rows_per_second = 200`, parallelism 1: 4 000 rows ± 5 % over 20 s.
fn rate_rows(bootstrap: &str) {
    let name = "rate_rows";
    let topic = Topic::create(bootstrap, "weir-rate-rows", 1);
    produce(bootstrap, topic.name(), json_records(1, 12_000));
    let master = Master::start_default(name);
    let _worker = Worker::start(&master, "w-rate-rows", "1GiB");
    let mut job = KafkaJob::new(bootstrap, topic.name());
    job.env = vec!["read_limit.rows_per_second = 200".into()];
    let job_id = job.submit(&master, name);
    wait_running(&master, &job_id);
    // Past the limiter's initial burst.
    wait_job(&master, &job_id, "rows_read ≥ 200", SOON, |job| {
        u64_of(job, "rows_read") >= 200
    });
    let (rows, per_second, last) = measure_rate(&master, &job_id, &|job| u64_of(job, "rows_read"));
    eprintln!(
        "[{name}] rows_read over {WINDOW:?}: {rows:.0} ({per_second:.1} rows/s; target 4000)"
    );
    master.check(within(rows, 4000.0), || {
        format!(
            "rows_per_second = 200 read {rows:.0} rows per {WINDOW:?} ({per_second:.1}/s), not 4000 ± 5 %: {last:#}"
        )
    });
}

/// `bytes_per_second = 100 KiB` with 1 KiB messages, parallelism 1: `bytes_read` (Weir's
/// in-memory row size, what the limiter budgets) grows by 20 × 100 KiB ± 5 % over 20 s.
fn rate_bytes(bootstrap: &str) {
    let name = "rate_bytes";
    let limit = 100 * KIB;
    let topic = Topic::create(bootstrap, "weir-rate-bytes", 1);
    produce(bootstrap, topic.name(), padded_json_records(1, 8_000, 1024));
    let master = Master::start_default(name);
    let _worker = Worker::start(&master, "w-rate-bytes", "1GiB");
    let mut job = KafkaJob::new(bootstrap, topic.name());
    job.env = vec![format!("read_limit.bytes_per_second = {limit}")];
    job.fields = r#"p = "int", seq = "bigint", pad = "string""#.into();
    let job_id = job.submit(&master, name);
    wait_running(&master, &job_id);
    wait_job(&master, &job_id, "bytes_read ≥ 100 KiB", SOON, |job| {
        task_sum(job, "bytes_read") >= limit
    });
    let bytes_read = |job: &Value| task_sum(job, "bytes_read");
    let (bytes, per_second, last) = measure_rate(&master, &job_id, &bytes_read);
    let rows = u64_of(&last, "rows_read");
    let bytes_per_row = task_sum(&last, "bytes_read") as f64 / rows.max(1) as f64;
    let target = limit as f64 * WINDOW.as_secs_f64();
    eprintln!(
        "[{name}] bytes_read over {WINDOW:?}: {bytes:.0} ({per_second:.0} B/s; target {target:.0}); {bytes_per_row:.0} bytes per 1 KiB message as Weir counts them → {:.1} rows/s",
        per_second / bytes_per_row
    );
    master.check(within(bytes, target), || {
        format!(
            "bytes_per_second = {limit} read {bytes:.0} bytes (as bytes_read counts them) per {WINDOW:?} ({per_second:.0} B/s), not {target:.0} ± 5 %: {last:#}"
        )
    });
}

/// Relative tolerance of one split's reported current rate against its share of the limit.
///
/// The figure is one heartbeat's worth (≈ 1 s, ≈ 50 rows at 50 rows/s) timed by the worker's
/// own clock, so counting granularity costs ±1 row (±2 %). The two splits of a subtask draw
/// on one token bucket; served in turn they get 50 rows/s each, and a reader that misses its
/// turn for a moment (a librdkafka fetch, a slow poll on 2 shared cores) hands a few rows to
/// its sibling while their sum stays the subtask's share. ±25 % (37.5–62.5 rows/s) covers
/// that and still fails a split that gets half or double its share, that reports its task's
/// rate (2×) or the job's (4×), or nothing. It relies on the limiter serving sibling readers
/// fairly: without that one split can take most of the share for seconds at a time.
const SPLIT_RATE_TOLERANCE: f64 = 0.25;

/// `rows_per_second = 200` for a job of parallelism 2 over 4 partitions: the job reads 4 000
/// rows ± 5 % in 20 s in total (not 8 000), spread over both subtasks, and each split reports
/// a current rate of about a quarter of the limit.
fn rate_is_per_job(bootstrap: &str) {
    let name = "rate_is_per_job";
    let topic = Topic::create(bootstrap, "weir-rate-job", 4);
    produce(bootstrap, topic.name(), json_records(4, 5_000));
    let master = Master::start_default(name);
    let _worker = Worker::start(&master, "w-rate-job", "1GiB");
    let mut job = KafkaJob::new(bootstrap, topic.name());
    job.parallelism = 2;
    job.env = vec!["read_limit.rows_per_second = 200".into()];
    let job_id = job.submit(&master, name);
    wait_running(&master, &job_id);
    let started = wait_job(
        &master,
        &job_id,
        "rows_read ≥ 200 and 4 splits report",
        SOON,
        |job| u64_of(job, "rows_read") >= 200 && splits(job).len() == 4,
    );
    master.check(tasks(&started).len() == 2, || {
        format!("parallelism 2 should run 2 subtasks: {started:#}")
    });
    let by_task = |job: &Value| -> Vec<u64> {
        tasks(job)
            .iter()
            .map(|task| u64_of(&task["metrics"], "rows_read"))
            .collect()
    };
    let before = by_task(&master.job(&job_id));
    let (rows, per_second, last) = measure_rate(&master, &job_id, &|job| u64_of(job, "rows_read"));
    let after = by_task(&last);
    let per_subtask: Vec<i64> = after
        .iter()
        .zip(&before)
        .map(|(a, b)| *a as i64 - *b as i64)
        .collect();
    eprintln!(
        "[{name}] job rows_read over {WINDOW:?}: {rows:.0} ({per_second:.1} rows/s; target 4000, per-subtask limiting would give 8000); per subtask ≈ {per_subtask:?}"
    );
    master.check(within(rows, 4000.0), || {
        format!(
            "a job of parallelism 2 with rows_per_second = 200 read {rows:.0} rows per {WINDOW:?} ({per_second:.1}/s), not the job's 4000 ± 5 %: {last:#}"
        )
    });
    master.check(per_subtask.iter().all(|&rows| rows > 0), || {
        format!("both subtasks should read: {per_subtask:?}: {last:#}")
    });
    // `last` is a fresh heartbeat 20 s into steady reading: every split has a full interval
    // behind it.
    let share = 200.0 / 4.0;
    let split_rates: BTreeMap<String, f64> = splits_by_name(&last)
        .into_iter()
        .map(|(name, split)| (name, split["rows_per_second"].as_f64().unwrap_or(-1.0)))
        .collect();
    eprintln!("[{name}] split rates (rows/s; target {share} ± 25 % each): {split_rates:?}");
    master.check(split_rates.len() == 4, || {
        format!("4 splits should report a rate: {split_rates:?}: {last:#}")
    });
    // Measured like the task's rate, over the same interval: a task's splits add up to it.
    for task in tasks(&last) {
        let metrics = &task["metrics"];
        let task_rate = metrics["rows_per_second"].as_f64().unwrap_or(-1.0);
        let split_sum: f64 = metrics["splits"]
            .as_array()
            .map(|splits| {
                splits
                    .iter()
                    .map(|split| split["rows_per_second"].as_f64().unwrap_or(-1.0))
                    .sum()
            })
            .unwrap_or_default();
        master.check((split_sum - task_rate).abs() <= 0.01 * task_rate, || {
            format!(
                "the splits' rows_per_second should add up to their task's ({task_rate:.2}), \
                 not {split_sum:.2}: {last:#}"
            )
        });
    }
    master.check(
        split_rates
            .values()
            .all(|&rate| (rate - share).abs() <= share * SPLIT_RATE_TOLERANCE),
        || {
            format!(
                "each split's rows_per_second should be the job's 200 / 4 = {share} ± 25 %: \
                 {split_rates:?}: {last:#}"
            )
        },
    );
}

/// The three rate windows run at once, each with its own topic, master and worker.
#[test]
fn read_limits() {
    let bootstrap = bootstrap();
    let b = bootstrap.as_str();
    run_concurrently(vec![
        scenario("rate_rows", move || rate_rows(b)),
        scenario("rate_bytes", move || rate_bytes(b)),
        scenario("rate_is_per_job", move || rate_is_per_job(b)),
    ]);
}
