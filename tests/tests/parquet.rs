//! Kafka → HdfsFile in Parquet on the real stack, every file read back with independent readers
//! (pyarrow and DuckDB, installed by `tests/readers/setup`): each codec, and a hive-partitioned
//! directory read with `pyarrow.dataset`. Exactly-once across a worker kill -9 for Parquet is
//! `exactly_once::crash::crash_parquet`.
//!
//! Every value of every type is compared in `values`; memory behind a stalled HDFS is
//! `stalled`.
//!
//! Run: `cargo test -p weir-e2e --test parquet` (with the stack's env and the readers' venv).

use std::collections::BTreeMap;
use std::path::Path;

use serde_json::Value;
use weir_e2e::cluster::{Master, Worker, write_file};
use weir_e2e::exactly_once::support::{Codec, Format, pad, read_committed};
use weir_e2e::exactly_once::wait::{wait_caught_up, wait_running};
use weir_e2e::exactly_once::{CHECKPOINT_INTERVAL_MS, START, Scenario, WORKER_MEMORY};
use weir_e2e::job_json::{tasks, u64_of};
use weir_e2e::kafka::{Record, produce};
use weir_e2e::readers::read_hive_dataset;
use weir_e2e::stack::try_fs_shell;

#[path = "parquet/stalled.rs"]
mod stalled;
#[path = "parquet/values.rs"]
mod values;

/// Records of each test: enough for several batches per file, few enough for < 60 s.
const RECORDS: u64 = 4000;

/// A Kafka → HdfsFile (parquet) job reading the scenario's topic into `path`.
fn job_text(scenario: &Scenario, path: &str, codec: Codec, source: &str, sink: &str) -> String {
    format!(
        r#"env {{
  parallelism = 1
  job.mode = "STREAMING"
  checkpoint.interval = {CHECKPOINT_INTERVAL_MS}
}}
source {{
  Kafka {{
    bootstrap.servers = "{bootstrap}"
    topic = "{topic}"
    consumer.group = "{group}"
    start_mode = "earliest"
    format = "json"
{source}
  }}
}}
sink {{
  HdfsFile {{
    fs.defaultFS = "{hdfs}"
    path = "{path}"
    file_format_type = "parquet"
    compress_codec = "{codec}"
{sink}
  }}
}}
"#,
        bootstrap = scenario.bootstrap,
        topic = scenario.topic.name(),
        group = weir_e2e::unique_name("weir-pq-group"),
        hdfs = scenario.hdfs,
        codec = codec.option(),
    )
}

fn submit(master: &Master, scenario: &Scenario, name: &str, text: &str) -> String {
    scenario.say(format!("job file {name}:\n{text}"));
    let file = write_file(master.dir(), &format!("{name}.conf"), text);
    master.submit(&file)
}

/// One job per codec (none, snappy, gzip, zstd, lz4) over the same 4 000 records: every
/// committed file is read by pyarrow and DuckDB (which must agree), has the codec asked for,
/// columns `id int64` and `pad string`, and the ids are there exactly once.
#[test]
fn every_codec_is_read_back_by_pyarrow_and_duckdb() {
    weir_e2e::readers::python();
    let scenario = Scenario::in_suite("parquet", "weir-pq", "codecs");
    scenario.produce(Format::Parquet, 0..RECORDS);
    let ends = scenario.end_offsets();
    let master = Master::start_default("parquet_codecs");
    let _worker = Worker::start(&master, "w-parquet-codecs", WORKER_MEMORY);
    let schema = r#"    schema = { fields { id = "bigint", pad = "string" } }"#;
    let jobs: Vec<(Codec, String, String)> = [
        Codec::None,
        Codec::Snappy,
        Codec::Gzip,
        Codec::Zstd,
        Codec::Lz4,
    ]
    .into_iter()
    .map(|codec| {
        let path = format!("{}/{}", scenario.base, codec.option());
        let text = job_text(&scenario, &path, codec, schema, "");
        let job = submit(&master, &scenario, codec.option(), &text);
        (codec, path, job)
    })
    .collect();
    for (_, _, job) in &jobs {
        wait_running(&scenario, &master, job, None, START);
    }
    for (codec, path, job) in &jobs {
        wait_caught_up(&scenario, &master, job, &ends);
        let committed = read_committed(path, Format::Parquet, *codec)
            .unwrap_or_else(|error| master.fail(format!("{codec:?}: {error}")));
        committed
            .check_exactly_once(0..RECORDS)
            .unwrap_or_else(|error| master.fail(format!("{codec:?}: {error}")));
        scenario.say(format!("{codec:?}: {}", committed.summary()));
    }
}

/// `have_partition` by a `day` field: the committed directory, copied out of HDFS, is read by
/// `pyarrow.dataset` with hive partitioning; every record is there once, its `day` (from the
/// directory names, not written in the files) matching the record's.
#[test]
fn hive_partitions_are_read_by_pyarrow_dataset() {
    weir_e2e::readers::python();
    let scenario = Scenario::in_suite("parquet", "weir-pq", "hive");
    let day = |id: u64| format!("d{}", id % 3);
    let records: Vec<Record> = (0..RECORDS)
        .map(|id| {
            let payload = format!(r#"{{"id":{id},"pad":"{}","day":"{}"}}"#, pad(id), day(id));
            Record::new((id % 4) as i32, payload.into_bytes())
        })
        .collect();
    produce(&scenario.bootstrap, scenario.topic.name(), records);
    let ends = scenario.end_offsets();
    let master = Master::start_default("parquet_hive");
    let _worker = Worker::start(&master, "w-parquet-hive", WORKER_MEMORY);
    let path = scenario.path();
    let text = job_text(
        &scenario,
        &path,
        Codec::Snappy,
        r#"    schema = { fields { id = "bigint", pad = "string", day = "string" } }"#,
        "    have_partition = true\n    partition_by = [\"day\"]\n    max_open_files = 3",
    );
    let job = submit(&master, &scenario, "hive", &text);
    wait_running(&scenario, &master, &job, None, START);
    wait_caught_up(&scenario, &master, &job, &ends);

    let local = std::env::temp_dir().join(weir_e2e::unique_name("weir-pq-hive"));
    std::fs::create_dir_all(&local).expect("a local scratch directory");
    try_fs_shell(&["-get", &path, &local.display().to_string()])
        .unwrap_or_else(|error| master.fail(error));
    let read = read_hive_dataset(&local.join("out"));
    let _ = std::fs::remove_dir_all(&local);
    let (columns, rows) = read.unwrap_or_else(|error| master.fail(error));
    let names: Vec<&str> = columns.iter().map(|(name, _)| name.as_str()).collect();
    assert_eq!(names, ["id", "pad", "day"], "{columns:?}");
    let mut seen: BTreeMap<u64, u32> = BTreeMap::new();
    for row in &rows {
        let id = row[0]
            .as_u64()
            .unwrap_or_else(|| master.fail(format!("id is not an integer: {row:?}")));
        let expected = [Value::from(id), Value::from(pad(id)), Value::from(day(id))];
        master.check(row[..] == expected[..], || {
            format!("row {row:?}, expected {expected:?}")
        });
        *seen.entry(id).or_default() += 1;
    }
    let wrong: Vec<_> = (0..RECORDS)
        .filter(|id| seen.get(id) != Some(&1))
        .take(10)
        .collect();
    master.check(wrong.is_empty() && seen.len() as u64 == RECORDS, || {
        format!(
            "ids not read exactly once from the hive dataset (first 10): {wrong:?}; {} rows",
            rows.len()
        )
    });
    assert!(Path::new(&path).is_absolute());
    scenario.say(format!(
        "pyarrow.dataset read {} rows in 3 hive partitions",
        rows.len()
    ));
}

/// 120 × 1 MiB records into one Parquet file that no checkpoint closes during the run (the
/// interval is 10 minutes): without the row-group bound the whole file would sit in memory.
/// The worker's peak RSS (VmHWM, and every sample while it writes) stays within its idle RSS + the job's
/// `subtask_reservation_bytes`, and `sink_buffer_bytes` within its bound.
#[test]
fn one_mib_records_stay_within_the_reservation() {
    const MIB: u64 = 1 << 20;
    const PER_PARTITION: u64 = 60;
    let scenario = Scenario::in_suite("parquet", "weir-pq", "memory");
    let topic = weir_e2e::kafka::Topic::create_with(
        &scenario.bootstrap,
        "weir-pq-1mib",
        2,
        &[("max.message.bytes", "4194304")],
    );
    produce(
        &scenario.bootstrap,
        topic.name(),
        weir_e2e::kafka::padded_json_records(2, PER_PARTITION, MIB as usize),
    );
    let master = Master::start_default("parquet_memory");
    let worker = Worker::start(&master, "w-parquet-memory", WORKER_MEMORY);
    let idle = worker.rss_bytes().unwrap_or_default();
    let text = format!(
        r#"env {{
  parallelism = 1
  job.mode = "STREAMING"
  checkpoint.interval = 600000
}}
source {{
  Kafka {{
    bootstrap.servers = "{bootstrap}"
    topic = "{topic}"
    consumer.group = "{group}"
    start_mode = "earliest"
    format = "json"
    schema = {{ fields {{ p = "int", seq = "bigint", pad = "string" }} }}
  }}
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
        topic = topic.name(),
        group = weir_e2e::unique_name("weir-pq-group"),
        hdfs = scenario.hdfs,
        path = scenario.path(),
    );
    let job = submit(&master, &scenario, "memory", &text);
    let running = wait_running(&scenario, &master, &job, None, START);
    let reservation = u64_of(&running, "subtask_reservation_bytes");
    assert!(reservation > 0, "no subtask_reservation_bytes: {running:#}");
    let bound = idle + reservation;
    scenario.say(format!(
        "idle RSS {} MiB + reservation {} MiB = bound {} MiB",
        idle / MIB,
        reservation / MIB,
        bound / MIB
    ));
    let (mut peak, mut peak_buffer, mut buffer_bound) = (0, 0, 0);
    let written = master.wait_until(
        "every 1 MiB record is written to the open Parquet file",
        std::time::Duration::from_secs(120),
        || {
            peak = peak.max(worker.rss_bytes().unwrap_or_default());
            let job = master.try_job(&job)?;
            for task in tasks(&job) {
                peak_buffer = peak_buffer.max(u64_of(&task["metrics"], "sink_buffer_bytes"));
                buffer_bound = buffer_bound.max(u64_of(&task["metrics"], "sink_buffer_max_bytes"));
            }
            let rows = u64_of(&job, "rows_written");
            if rows >= 2 * PER_PARTITION {
                Ok(job)
            } else {
                Err(format!("rows_written {rows}, RSS {} MiB", peak / MIB))
            }
        },
    );
    let hwm = worker.peak_rss_bytes().unwrap_or_default();
    scenario.say(format!(
        "peak RSS {} MiB sampled, VmHWM {} MiB, bound {} MiB; sink_buffer_bytes peak {} of {}",
        peak / MIB,
        hwm / MIB,
        bound / MIB,
        peak_buffer / MIB,
        buffer_bound / MIB
    ));
    master.check(peak_buffer <= buffer_bound, || {
        format!("sink_buffer_bytes {peak_buffer} passed its bound {buffer_bound}: {written:#}")
    });
    master.check(hwm <= bound && peak <= bound, || {
        format!(
            "worker peak RSS {} MiB (VmHWM) / {} MiB (sampled) exceeds idle {} MiB + reservation \
             {} MiB: {written:#}",
            hwm / MIB,
            peak / MIB,
            idle / MIB,
            reservation / MIB
        )
    });
}

/// The Parquet example of SeaTunnel's HdfsFile documentation (docs/en/connector-v2/sink/
/// HdfsFile.md, "For parquet file format with `have_partition` and `custom_filename` and
/// `sink_columns`"), its sink block unchanged but for `fs.defaultFS` and `path`, behind a Kafka
/// source of `name`, `age` and a field the sink leaves out. Every committed file lies in an
/// `age=N` directory, is read by pyarrow and DuckDB, holds exactly the columns `name` and `age`
/// (written in the file too: `is_partition_field_write_in_file = true`), and every record is
/// there once.
#[test]
fn seatunnel_documentation_parquet_job_runs_unchanged() {
    weir_e2e::readers::python();
    let scenario = Scenario::in_suite("parquet", "weir-pq", "seatunnel_doc");
    let records: Vec<Record> = (0..RECORDS)
        .map(|id| {
            let payload = format!(
                r#"{{"name":"n{id}","age":{},"extra":"{}"}}"#,
                id % 5,
                pad(id)
            );
            Record::new((id % 4) as i32, payload.into_bytes())
        })
        .collect();
    produce(&scenario.bootstrap, scenario.topic.name(), records);
    let ends = scenario.end_offsets();
    let master = Master::start_default("parquet_seatunnel_doc");
    let _worker = Worker::start(&master, "w-parquet-doc", WORKER_MEMORY);
    let path = scenario.path();
    let text = format!(
        r#"env {{
  parallelism = 1
  job.mode = "STREAMING"
  checkpoint.interval = {CHECKPOINT_INTERVAL_MS}
}}
source {{
  Kafka {{
    bootstrap.servers = "{bootstrap}"
    topic = "{topic}"
    consumer.group = "{group}"
    start_mode = "earliest"
    format = "json"
    schema = {{ fields {{ name = "string", age = "int", extra = "string" }} }}
  }}
}}
sink {{
HdfsFile {{
    fs.defaultFS = "{hdfs}"
    path = "{path}"
    have_partition = true
    partition_by = ["age"]
    partition_dir_expression = "${{k0}}=${{v0}}"
    is_partition_field_write_in_file = true
    custom_filename = true
    file_name_expression = "${{transactionId}}_${{now}}"
    filename_time_format = "yyyy.MM.dd"
    file_format_type = "parquet"
    sink_columns = ["name","age"]
    is_enable_transaction = true
}}
}}
"#,
        bootstrap = scenario.bootstrap,
        topic = scenario.topic.name(),
        group = weir_e2e::unique_name("weir-pq-group"),
        hdfs = scenario.hdfs,
    );
    let job = submit(&master, &scenario, "seatunnel_doc", &text);
    wait_running(&scenario, &master, &job, None, START);
    wait_caught_up(&scenario, &master, &job, &ends);

    let entries: Vec<_> = weir_e2e::stack::list_recursive(&path)
        .unwrap_or_else(|error| master.fail(error))
        .into_iter()
        .filter(|entry| !entry.is_dir)
        .collect();
    let contents = weir_e2e::stack::read_files(&entries).unwrap_or_else(|error| master.fail(error));
    let named: Vec<(String, Vec<u8>)> = entries
        .iter()
        .map(|entry| entry.path.clone())
        .zip(contents)
        .collect();
    let files = weir_e2e::readers::read_parquet(&named).unwrap_or_else(|error| master.fail(error));
    let mut seen: BTreeMap<String, u32> = BTreeMap::new();
    for file in &files {
        let columns: Vec<(&str, &str)> = file
            .columns
            .iter()
            .map(|(name, kind)| (name.as_str(), kind.as_str()))
            .collect();
        assert_eq!(
            columns,
            [("name", "string"), ("age", "int32")],
            "{}",
            file.name
        );
        assert!(file.name.ends_with(".parquet"), "{}", file.name);
        for row in &file.rows {
            let name = row[0].as_str().unwrap_or_default().to_string();
            let id: u64 = name.trim_start_matches('n').parse().unwrap_or(u64::MAX);
            let age = id % 5;
            master.check(row[1] == age, || {
                format!("{}: row {row:?} should have age {age}", file.name)
            });
            master.check(file.name.contains(&format!("/age={age}/")), || {
                format!("{}: row {row:?} is not in directory age={age}", file.name)
            });
            *seen.entry(name).or_default() += 1;
        }
    }
    let expected: BTreeMap<String, u32> = (0..RECORDS).map(|id| (format!("n{id}"), 1)).collect();
    master.check(seen == expected, || {
        format!(
            "the committed files do not hold every record once: {} distinct names, {} rows",
            seen.len(),
            seen.values().sum::<u32>()
        )
    });
    scenario.say(format!(
        "{} committed files, every record once",
        files.len()
    ));
}

/// Every SeaTunnel type (FakeSource generates them; the Kafka decoding of the new types comes
/// with the compat work): a BATCH job of 1 000 rows into Parquet, read by pyarrow and DuckDB
/// (which must agree value by value), each column with the Parquet/Arrow type of SeaTunnel's
/// mapping, every row there, the `null` column all null.
#[test]
fn every_type_is_read_back_with_its_type() {
    weir_e2e::readers::python();
    const ROWS: u64 = 1000;
    let hdfs = weir_e2e::hdfs_url().unwrap_or_else(|missing| panic!("{missing}"));
    let base = format!("/weir-e2e/parquet/{}", weir_e2e::unique_name("every-type"));
    let path = format!("{base}/out");
    let master = Master::start_default("parquet_types");
    let _worker = Worker::start(&master, "w-parquet-types", WORKER_MEMORY);
    let text = format!(
        r#"env {{
  parallelism = 1
  job.mode = "BATCH"
  checkpoint.interval = {CHECKPOINT_INTERVAL_MS}
}}
source {{
  FakeSource {{
    row.num = {ROWS}
    schema = {{ fields {{
      id = "bigint", t = "tinyint", s = "smallint", i = "int", f = "float", d = "double",
      ok = "boolean", name = "string", raw = "bytes", price = "decimal(10, 2)",
      day = "date", at = "time", ts = "timestamp", nothing = "null",
      list = "array<bigint>", tags = "map<string, double>"
    }} }}
  }}
}}
sink {{
  HdfsFile {{
    fs.defaultFS = "{hdfs}"
    path = "{path}"
    file_format_type = "parquet"
    compress_codec = "zstd"
  }}
}}
"#
    );
    eprintln!("[parquet_types] job file:\n{text}");
    let file = write_file(master.dir(), "types.conf", &text);
    let job = master.submit(&file);
    master.wait_until(
        &format!("job {job} is Finished"),
        std::time::Duration::from_secs(120),
        || {
            let state = weir_e2e::job_json::text(&master.try_job(&job)?, "state");
            match state.as_str() {
                "Finished" => Ok(()),
                "Failed" | "Cancelled" => {
                    master.fail(format!("job {job} ended {state}: {:#}", master.job(&job)))
                }
                _ => Err(state),
            }
        },
    );
    let entries: Vec<_> = weir_e2e::stack::list_recursive(&path)
        .unwrap_or_else(|error| master.fail(error))
        .into_iter()
        .filter(|entry| !entry.is_dir)
        .collect();
    let contents = weir_e2e::stack::read_files(&entries).unwrap_or_else(|error| master.fail(error));
    let named: Vec<(String, Vec<u8>)> = entries
        .iter()
        .map(|entry| entry.path.clone())
        .zip(contents)
        .collect();
    let files = weir_e2e::readers::read_parquet(&named);
    weir_e2e::stack::remove_recursive(&base);
    let files = files.unwrap_or_else(|error| master.fail(error));
    let expected = [
        ("id", "int64"),
        ("t", "int8"),
        ("s", "int16"),
        ("i", "int32"),
        ("f", "float"),
        ("d", "double"),
        ("ok", "bool"),
        ("name", "string"),
        ("raw", "binary"),
        ("price", "decimal128(10, 2)"),
        ("day", "date32[day]"),
        ("at", "time64[us]"),
        ("ts", "timestamp[us]"),
        ("nothing", "null"),
        ("list", "list<element: int64>"),
        ("tags", "map<string, double ('tags')>"),
    ];
    let mut rows = 0;
    for file in &files {
        let columns: Vec<(&str, &str)> = file
            .columns
            .iter()
            .map(|(name, kind)| (name.as_str(), kind.as_str()))
            .collect();
        assert_eq!(columns, expected, "{}", file.name);
        assert_eq!(file.codecs, ["ZSTD"], "{}", file.name);
        for row in &file.rows {
            assert!(row[13].is_null(), "the null column holds {row:?}");
            assert!(
                row[9].as_str().is_some_and(|price| price.contains('.')),
                "price is a decimal with a scale of 2: {row:?}"
            );
            assert!(row[14].is_array() && row[15].is_array(), "{row:?}");
        }
        rows += file.rows.len() as u64;
    }
    assert_eq!(rows, ROWS, "rows read back from {} files", files.len());
}
