//! Poison records: `fail` names topic, partition and offset; `skip` counts and goes on.

use super::*;

// ----------------------------------------------------------------------------------------------
// Poison records
// ----------------------------------------------------------------------------------------------

/// Partition 0: 20 valid records. Partition 1: valid seq 0..10, an invalid JSON record at
/// offset 10, valid seq 11..20. Returns the topic and the number of valid records (39).
fn poison_topic(bootstrap: &str) -> (Topic, u64) {
    let topic = Topic::create(bootstrap, "weir-poison", 2);
    let mut records: Vec<Record> = (0..20)
        .map(|seq| Record::new(0, json_message(0, seq)))
        .collect();
    for seq in 0..20u64 {
        let payload = if seq == 10 {
            br#"{"p":1,"seq":"#.to_vec()
        } else {
            json_message(1, seq)
        };
        records.push(Record::new(1, payload));
    }
    let produced = produce(bootstrap, topic.name(), records.clone());
    assert_offsets_are_seqs(&records, &produced);
    (topic, 39)
}

/// Whether `text` has `word` followed (after spaces, `=`, `:` or `#`) by the number `value`.
fn names_number(text: &str, word: &str, value: i64) -> bool {
    let lower = text.to_lowercase();
    lower.match_indices(word).any(|(at, found)| {
        let rest = lower[at + found.len()..].trim_start_matches([' ', '=', ':', '#', '"']);
        let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
        digits.parse::<i64>().ok() == Some(value)
    })
}

/// `format_error_handle_way = fail`, `job.retry.times = 0`: the job fails, and its reason names
/// the topic, partition 1 and offset 10.
#[test]
fn poison_fail() {
    let bootstrap = bootstrap();
    let (topic, _) = poison_topic(&bootstrap);
    let master = Master::start_default("poison_fail");
    let _worker = Worker::start(&master, "w-poison-fail", "1GiB");
    let mut job = KafkaJob::new(&bootstrap, topic.name());
    job.source = vec![r#"format_error_handle_way = "fail""#.into()];
    let job_id = job.submit(&master, "poison_fail");
    let failed = master.wait_until(&format!("job {job_id} is Failed"), START, || {
        let job = master.try_job(&job_id)?;
        match text(&job, "state").as_str() {
            "Failed" => Ok(job),
            "Cancelled" | "Finished" => {
                master.fail(format!("the job ended but did not fail: {job:#}"))
            }
            _ => Err(job.to_string()),
        }
    });
    let reason = text(&failed, "state_reason");
    eprintln!("[poison_fail] state_reason: {reason}");
    let names_partition =
        names_number(&reason, "partition", 1) || reason.contains(&format!("{}-1", topic.name()));
    master.check(
        reason.contains(topic.name()) && names_partition && names_number(&reason, "offset", 10),
        || {
            format!(
                "state_reason should name topic {}, partition 1 and offset 10: {reason:?}; job {failed:#}",
                topic.name()
            )
        },
    );
}

/// `format_error_handle_way = skip`: records_skipped = 1 (on split T-1), every valid record is
/// written, the job keeps running.
#[test]
fn poison_skip() {
    let bootstrap = bootstrap();
    let (topic, valid) = poison_topic(&bootstrap);
    let master = Master::start_default("poison_skip");
    let _worker = Worker::start(&master, "w-poison-skip", "1GiB");
    let mut job = KafkaJob::new(&bootstrap, topic.name());
    job.source = vec![r#"format_error_handle_way = "skip""#.into()];
    let job_id = job.submit(&master, "poison_skip");
    wait_running(&master, &job_id);
    let job = wait_job(
        &master,
        &job_id,
        &format!("rows_written = {valid} and records_skipped = 1"),
        SOON,
        |job| u64_of(job, "rows_written") >= valid && task_sum(job, "records_skipped") >= 1,
    );
    master.check(
        u64_of(&job, "rows_written") == valid && task_sum(&job, "records_skipped") == 1,
        || format!("expected rows_written {valid} and records_skipped 1: {job:#}"),
    );
    let poisoned = format!("{}-1", topic.name());
    let by_split = splits_by_name(&job);
    master.check(
        by_split
            .get(&poisoned)
            .is_some_and(|split| u64_of(split, "records_skipped") == 1),
        || format!("split {poisoned} should count the skipped record: {job:#}"),
    );
    master.check(text(&job, "state") == "Running", || {
        format!("the job should keep running after skipping: {job:#}")
    });
    eprintln!("[poison_skip] rows_written {valid}, records_skipped 1, state Running");
}
