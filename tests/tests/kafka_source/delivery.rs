//! Delivery: backpressure without loss, and where each start mode starts.

use super::*;

// ----------------------------------------------------------------------------------------------
// Backpressure without loss
// ----------------------------------------------------------------------------------------------

/// 2 partitions × 5 000 `{"p":P,"seq":N}`. The Console sink stalls for 10 s — the test stops
/// reading the worker's stdout pipe, so the sink's write to stdout blocks — and then resumes.
/// While it stalls, the split queues fill up to `queue.size` and reading stops (rows_read
/// stays put); afterwards every (p, seq) is printed exactly once and in order per partition.
#[test]
fn backpressure_without_loss() {
    let name = "backpressure_without_loss";
    let per_partition: u64 = 5_000;
    let total = 2 * per_partition;
    let queue_size: u64 = 500;
    let stall = Duration::from_secs(10);

    let bootstrap = bootstrap();
    let topic = Topic::create(&bootstrap, "weir-backpressure", 2);
    let records: Vec<Record> = json_records(2, per_partition).collect();
    let produced = produce(&bootstrap, topic.name(), records.clone());
    assert_offsets_are_seqs(&records, &produced);

    let master = Master::start_default(name);
    let worker = Worker::start_with(
        &master,
        "w-backpressure",
        WorkerOptions::new("1GiB").capturing_stdout(),
    );
    // The sink will block as soon as the stdout pipe (64 KiB) and its own buffer are full.
    worker.pause_stdout();

    let mut job = KafkaJob::new(&bootstrap, topic.name());
    job.source = vec![format!("queue.size = {queue_size}")];
    job.print_data = true;
    let job_id = job.submit(&master, name);
    wait_running(&master, &job_id);

    let stalled = wait_job(
        &master,
        &job_id,
        &format!("the sink is stalled and both split queues hold queue.size = {queue_size} rows"),
        SOON,
        |job| {
            let splits = splits(job);
            splits.len() == 2
                && splits
                    .iter()
                    .all(|split| u64_of(split, "queue_rows") >= queue_size)
        },
    );
    let rows_written = u64_of(&stalled, "rows_written");
    let rows_read = u64_of(&stalled, "rows_read");
    master.check(rows_written < total - 2 * queue_size, || {
        format!("the sink should stall mid-stream, but it took {rows_written} of {total} rows: {stalled:#}")
    });
    eprintln!(
        "[{name}] sink stalled after {rows_written} rows written, {rows_read} read; holding the stall for {stall:?}"
    );

    // The stall: sample each second that nothing moves and nothing grows.
    let stall_started = Instant::now();
    while stall_started.elapsed() < stall {
        std::thread::sleep(Duration::from_secs(1));
        let job = master.job(&job_id);
        let state = text(&job, "state");
        let now_written = u64_of(&job, "rows_written");
        let now_read = u64_of(&job, "rows_read");
        master.check(state == "Running", || {
            format!("the job left Running during the stall: {job:#}")
        });
        master.check(now_written == rows_written, || {
            format!("rows_written moved from {rows_written} to {now_written} while the sink was blocked: {job:#}")
        });
        master.check(now_read == rows_read, || {
            format!(
                "rows_read grew from {rows_read} to {now_read} while the sink was blocked and the queues were full: {job:#}"
            )
        });
        for split in splits(&job) {
            master.check(u64_of(&split, "queue_rows") <= queue_size, || {
                format!("a split queue holds more than queue.size = {queue_size} rows: {split:#}")
            });
        }
    }

    worker.resume_stdout();
    let resumed = Instant::now();
    let job_json = wait_job(
        &master,
        &job_id,
        &format!("rows_written = {total}"),
        Duration::from_secs(60),
        |job| u64_of(job, "rows_written") >= total,
    );
    eprintln!(
        "[{name}] all {total} rows written {:.1?} after the sink resumed",
        resumed.elapsed()
    );
    master.check(
        u64_of(&job_json, "rows_written") == total && u64_of(&job_json, "rows_read") == total,
        || format!("expected exactly {total} rows read and written: {job_json:#}"),
    );

    let printed = wait_printed(&master, &worker, &job_id, total as usize, SOON);
    let mut seen: BTreeMap<i64, Vec<i64>> = BTreeMap::new();
    for &(p, seq) in &printed {
        seen.entry(p).or_default().push(seq);
    }
    let expected: Vec<i64> = (0..per_partition as i64).collect();
    for p in 0..2 {
        let seqs = seen.get(&p).cloned().unwrap_or_default();
        if seqs != expected {
            let unique: BTreeSet<i64> = seqs.iter().copied().collect();
            let missing: Vec<i64> = expected
                .iter()
                .copied()
                .filter(|s| !unique.contains(s))
                .take(20)
                .collect();
            let disorder = seqs.windows(2).position(|pair| pair[0] >= pair[1]);
            master.fail(format!(
                "partition {p}: {} rows printed ({} distinct), expected seq 0..{per_partition} once each in order; first missing {missing:?}; first out-of-order index {disorder:?} (see {})",
                seqs.len(),
                unique.len(),
                worker.stdout_path().unwrap().display()
            ));
        }
    }
    master.check(printed.len() == total as usize, || {
        format!("{} row lines printed, expected {total}", printed.len())
    });
}

// ----------------------------------------------------------------------------------------------
// Start modes
// ----------------------------------------------------------------------------------------------

/// Runs one start-mode job on its own master and worker and returns them with the job id, once
/// it is running.
fn start_mode_job(
    name: &str,
    bootstrap: &str,
    topic: &str,
    start: Vec<String>,
) -> (Master, Worker, String) {
    let master = Master::start_default(name);
    let worker = Worker::start_with(
        &master,
        &format!("w-{name}"),
        WorkerOptions::new("1GiB").capturing_stdout(),
    );
    let mut job = KafkaJob::new(bootstrap, topic);
    job.start = start;
    job.print_data = true;
    let job_id = job.submit(&master, name);
    wait_running(&master, &job_id);
    (master, worker, job_id)
}

/// Waits until the job wrote `expected.len()` rows and the worker printed them; checks the
/// printed (p, seq) are exactly `expected`, each once, in order per partition.
fn expect_rows(master: &Master, worker: &Worker, job_id: &str, expected: &BTreeSet<(i64, i64)>) {
    let count = expected.len() as u64;
    let job = wait_job(
        master,
        job_id,
        &format!("rows_written ≥ {count}"),
        SOON,
        |job| u64_of(job, "rows_written") >= count,
    );
    let printed = wait_printed(master, worker, job_id, expected.len(), SOON);
    let printed_set: BTreeSet<(i64, i64)> = printed.iter().copied().collect();
    let unexpected: Vec<_> = printed_set.difference(expected).take(20).collect();
    let missing: Vec<_> = expected.difference(&printed_set).take(20).collect();
    master.check(printed.len() == expected.len() && unexpected.is_empty() && missing.is_empty(), || {
        format!(
            "printed {} rows ({} distinct), expected {} exactly; unexpected {unexpected:?}, missing {missing:?}; job: {job:#}",
            printed.len(),
            printed_set.len(),
            expected.len()
        )
    });
    for p in 0..2 {
        let seqs: Vec<i64> = printed
            .iter()
            .filter(|(q, _)| *q == p)
            .map(|(_, s)| *s)
            .collect();
        master.check(seqs.windows(2).all(|pair| pair[0] < pair[1]), || {
            format!("partition {p}'s rows were printed out of order: {seqs:?}")
        });
    }
    let job = master.job(job_id);
    master.check(u64_of(&job, "rows_read") == count, || {
        format!("rows_read should be exactly {count}: {job:#}")
    });
}

/// One topic, 2 partitions × 100 messages; seq 0..50 have old timestamps, 50..100 newer ones
/// (and a copy of it for `latest`, which appends while it runs).
/// `earliest` reads all 200; `timestamp` = the first newer timestamp reads exactly the 100 newer;
/// `specific_offsets` {T-0 = 70, T-1 = 10} reads p0 70..100 and p1 10..100; `latest` reads none
/// of the 200 and exactly the 10 produced after it started (after marker records showed both
/// partitions positioned).
#[test]
fn start_modes() {
    let bootstrap = bootstrap();
    let topic = Topic::create(&bootstrap, "weir-start-modes", 2);
    let topic_name = topic.name().to_string();
    let old_base = now_ms() - 2 * 3_600_000;
    let new_base = now_ms() - 3_600_000;
    let records: Vec<Record> = (0..100u64)
        .flat_map(|seq| {
            (0..2).map(move |p| {
                let timestamp = if seq < 50 {
                    old_base + seq as i64
                } else {
                    new_base + (seq as i64 - 50)
                };
                Record::new(p, json_message(p, seq)).at(timestamp)
            })
        })
        .collect();
    let produced = produce(&bootstrap, &topic_name, records.clone());
    assert_offsets_are_seqs(&records, &produced);
    // `latest` appends to its topic while it runs, so it gets its own copy of the history.
    let latest_topic = Topic::create(&bootstrap, "weir-start-latest", 2);
    let latest_name = latest_topic.name().to_string();
    let produced = produce(&bootstrap, &latest_name, records.clone());
    assert_offsets_are_seqs(&records, &produced);

    let all = |from: [i64; 2]| -> BTreeSet<(i64, i64)> {
        (0..2i64)
            .flat_map(|p| (from[p as usize]..100).map(move |seq| (p, seq)))
            .collect()
    };
    let b = bootstrap.as_str();
    let t = topic_name.as_str();
    let latest = latest_name.as_str();
    run_concurrently(vec![
        scenario("earliest", move || {
            let (master, worker, job_id) = start_mode_job(
                "start_mode_earliest",
                b,
                t,
                vec![r#"start_mode = "earliest""#.into()],
            );
            expect_rows(&master, &worker, &job_id, &all([0, 0]));
        }),
        scenario("timestamp", move || {
            let (master, worker, job_id) = start_mode_job(
                "start_mode_timestamp",
                b,
                t,
                vec![
                    r#"start_mode = "timestamp""#.into(),
                    format!("start_mode.timestamp = {new_base}"),
                ],
            );
            expect_rows(&master, &worker, &job_id, &all([50, 50]));
        }),
        scenario("specific_offsets", move || {
            let (master, worker, job_id) = start_mode_job(
                "start_mode_specific_offsets",
                b,
                t,
                vec![
                    r#"start_mode = "specific_offsets""#.into(),
                    format!(r#"start_mode.offsets = {{ "{t}-0" = 70, "{t}-1" = 10 }}"#),
                ],
            );
            expect_rows(&master, &worker, &job_id, &all([70, 10]));
        }),
        scenario("latest", move || start_mode_latest(b, latest)),
    ]);
}

/// `latest`: produce marker records (seq ≥ 1000) until each split has read one — proof that
/// both partitions are positioned — then 5 tracked records (seq 2000..2005) per partition:
/// the job prints none of the 200 old records, every tracked one exactly once, and nothing else
/// but markers.
fn start_mode_latest(bootstrap: &str, topic: &str) {
    let name = "start_mode_latest";
    let (master, worker, job_id) = start_mode_job(
        name,
        bootstrap,
        topic,
        vec![r#"start_mode = "latest""#.into()],
    );

    let mut marker_seq = 1000u64;
    let positioned = master.wait_until(
        "each split of the latest job read a marker record",
        Duration::from_secs(40),
        || {
            let job = master.try_job(&job_id)?;
            let splits = splits_by_name(&job);
            let unread: Vec<i32> = (0..2)
                .filter(|p| {
                    splits
                        .get(&format!("{topic}-{p}"))
                        .is_none_or(|split| u64_of(split, "rows_read") == 0)
                })
                .collect();
            if unread.is_empty() && splits.len() == 2 {
                return Ok(job);
            }
            let markers: Vec<Record> = unread
                .iter()
                .map(|&p| Record::new(p, json_message(p, marker_seq)))
                .collect();
            marker_seq += 1;
            produce(bootstrap, topic, markers);
            // Give the markers a few heartbeats before sending more.
            std::thread::sleep(Duration::from_millis(500));
            Err(format!("splits not yet reading: {unread:?}; job: {job}"))
        },
    );
    let markers_read = u64_of(&positioned, "rows_read");

    let tracked: Vec<Record> = (2000..2005u64)
        .flat_map(|seq| (0..2).map(move |p| Record::new(p, json_message(p, seq))))
        .collect();
    produce(bootstrap, topic, tracked);
    let expected: BTreeMap<(i64, i64), usize> = (0..2i64)
        .flat_map(|p| (2000..2005i64).map(move |seq| ((p, seq), 1)))
        .collect();
    let tracked_seen = |printed: &[(i64, i64)]| {
        let mut seen: BTreeMap<(i64, i64), usize> = BTreeMap::new();
        for &(p, seq) in printed {
            if seq >= 2000 {
                *seen.entry((p, seq)).or_default() += 1;
            }
        }
        seen
    };
    // Markers still in flight when the splits were seen reading may arrive too; they are
    // allowed, so wait for the tracked records themselves.
    let printed = master.wait_until(
        "the worker printed all 10 records produced after the latest job started",
        SOON,
        || {
            let printed = printed_rows(&worker);
            let seen = tracked_seen(&printed);
            if seen.len() == expected.len() {
                Ok(printed)
            } else {
                let job = master.try_job(&job_id)?;
                Err(format!(
                    "{} row lines printed, tracked ones seen: {seen:?}; rows_written {}",
                    printed.len(),
                    job["rows_written"]
                ))
            }
        },
    );
    let job = master.job(&job_id);
    let old: Vec<_> = printed
        .iter()
        .filter(|(_, seq)| *seq < 1000)
        .take(20)
        .collect();
    master.check(old.is_empty(), || {
        format!("start_mode = latest printed records that existed before the job started: {old:?}; job {job:#}")
    });
    let seen = tracked_seen(&printed);
    master.check(seen == expected, || {
        format!(
            "the 10 records produced after start should each be printed once: {seen:?}; job {job:#}"
        )
    });
    let markers_printed = printed
        .iter()
        .filter(|(_, seq)| (1000..2000).contains(seq))
        .count();
    master.check(markers_printed + 10 == printed.len(), || {
        format!("only markers and the 10 tracked records may be printed: {printed:?}")
    });
    eprintln!(
        "[{name}] {markers_read} marker(s) read before the 10 tracked records were produced, {markers_printed} printed in all"
    );
}
