//! `weir cancel`: nothing uncommitted becomes visible, nothing is committed twice.

use std::collections::BTreeSet;

use weir_e2e::cluster::Worker;
use weir_e2e::stack::list_recursive;

use super::*;

const RECORDS: u64 = 100_000;
/// Slow enough (20 s for the backlog) that the cancel comes mid-run.
const ROWS_PER_SECOND: u64 = 5_000;
/// Bound for the cancelled job to discard its uncommitted files.
const DISCARD: Duration = Duration::from_secs(60);

/// In-progress or pending files under `dir` (empty when `dir` does not exist).
fn uncommitted_under(dir: &str) -> Result<Vec<String>, String> {
    if !weir_e2e::stack::exists(dir) {
        return Ok(Vec::new());
    }
    Ok(list_recursive(dir)?
        .into_iter()
        .filter(|entry| !entry.is_dir)
        .map(|entry| entry.path)
        .collect())
}

/// 100 000 records; Kafka → HdfsFile (text) with an explicit `tmp_path` beside `path`. Once a
/// checkpoint completed (mid-run), `weir cancel`: the job ends Cancelled; the files committed
/// before the cancel are all still there; the sink's `tmp_path` is emptied of in-progress and
/// pending files (cancel discards what was not committed); and under `path` there is nothing
/// but committed files, in which no id appears twice.
#[test]
fn cancel() {
    let name = "cancel";
    let format = Format::Text;
    let _hdfs = hdfs_shared();
    let scenario = Scenario::new(name);
    scenario.produce(format, 0..RECORDS);

    let master = Master::start_default(name);
    let _worker = Worker::start(&master, "w-cancel", WORKER_MEMORY);
    let tmp_path = format!("{}/staging", scenario.base);
    let mut job = JobFile::new(format, ROWS_PER_SECOND);
    job.tmp_path = Some(tmp_path.clone());
    let job_id = job.submit(&scenario, &master);
    wait_running(&scenario, &master, &job_id, None, START);
    let before = wait_first_checkpoint(&scenario, &master, &job_id);
    // Only listed (quick), so that the cancel comes soon after the first checkpoint.
    let committed_before: BTreeSet<String> = list_recursive(&scenario.path())
        .unwrap_or_else(|error| master.fail(error))
        .into_iter()
        .filter(|entry| !entry.is_dir)
        .map(|entry| entry.path)
        .collect();
    let running = master.job(&job_id);
    scenario.say(format!(
        "cancelling with {} files committed: {}",
        committed_before.len(),
        status_line(&running)
    ));
    master.check(running["consumer_lag"].as_i64().unwrap_or(-1) > 0, || {
        format!(
            "the job had read everything before the cancel, so it would not come mid-run: {}",
            status_line(&running)
        )
    });

    let output = master.cli(&["cancel", &job_id]);
    master.check(output.status.success(), || {
        describe(&["cancel", &job_id], &output)
    });
    let cancelled = wait_job(
        &scenario,
        &master,
        &job_id,
        "the job is Cancelled",
        START,
        |job| text(job, "state") == "Cancelled",
    );
    let last_checkpoint = checkpoints(&cancelled).last_completed_id;

    let leftovers = master.wait_until(
        &format!("the cancelled job's tmp_path {tmp_path} holds no in-progress or pending file"),
        DISCARD,
        || {
            let files = uncommitted_under(&tmp_path)?;
            if files.is_empty() {
                Ok(files)
            } else {
                Err(format!("{files:?}"))
            }
        },
    );
    scenario.say(format!(
        "tmp_path {tmp_path} is clean after the cancel ({} files)",
        leftovers.len()
    ));

    let committed = scenario
        .committed(format, Codec::None)
        .unwrap_or_else(|error| master.fail(error));
    scenario.say(format!("after the cancel: {}", committed.summary()));
    let gone: BTreeSet<String> = committed_before
        .difference(&committed.paths())
        .cloned()
        .collect();
    master.check(gone.is_empty(), || {
        format!("files committed before the cancel disappeared: {gone:?}")
    });
    master.check(!committed.files.is_empty(), || {
        format!(
            "checkpoint {} completed before the cancel, but nothing is committed under {}",
            checkpoints(&before).last_completed_id,
            scenario.path()
        )
    });
    committed
        .check_no_duplicates()
        .unwrap_or_else(|error| master.fail(error));
    master.check(committed.distinct().iter().all(|&id| id < RECORDS), || {
        format!(
            "ids that were never produced were committed: {}",
            committed.summary()
        )
    });
    committed
        .check_file_names(&[&job_id], PARALLELISM, last_checkpoint)
        .unwrap_or_else(|error| master.fail(error));
    // Not asserted (a cancel may cut a commit short; a restore would complete it), but telling.
    match committed.check_partition_prefixes() {
        Ok(prefixes) => scenario.say(format!(
            "committed: the first {prefixes:?} records of each partition"
        )),
        Err(gaps) => scenario.say(format!("note: {gaps}")),
    }
}
