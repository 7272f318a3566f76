//! Change-event formats end to end (issue 15): SeaTunnel's own Canal and Debezium e2e messages
//! (`tests/seatunnel-data/`) produced into real topics, read by `format = canal_json` and
//! `format = debezium_json` jobs of real `weir master` / `weir worker` processes into LocalFile
//! JSON files; every row of the files is checked, in order. A poison message in each topic is
//! skipped and counted with `format_error_handle_way = skip`, and fails a third job, named by
//! its offset, with `fail`.
//!
//! File sinks write a row's values, not its kind (as SeaTunnel's do): the old image of an
//! update and a deleted row are lines like any other.
//!
//! Needs the stack (`deploy/local/stack up && eval "$(deploy/local/stack env)"`) and the built
//! binary. Run: `cargo test -p weir-e2e --test kafka_formats`.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::{Value, json};
use weir_e2e::cluster::{Master, Worker, write_file};
use weir_e2e::job_json::{tasks, text, u64_of};
use weir_e2e::kafka::{Record, Topic, produce};

const CANAL_DATA: &str = include_str!("../seatunnel-data/canal_data.txt");
const DEBEZIUM_DATA: &str = include_str!("../seatunnel-data/debezium_data.txt");
const WAIT: Duration = Duration::from_secs(40);

fn job_text(
    bootstrap: &str,
    topic: &str,
    format: &str,
    fields: &str,
    on_error: &str,
    out: &Path,
) -> String {
    format!(
        r#"
env {{
  parallelism = 1
  job.mode = "BATCH"
  job.retry.times = 0
}}
source {{
  Kafka {{
    bootstrap.servers = "{bootstrap}"
    topic = "{topic}"
    start_mode = earliest
    format = {format}
    format_error_handle_way = {on_error}
    schema = {{ fields {{ {fields} }} }}
  }}
}}
sink {{
  LocalFile {{
    path = "{out}"
    file_format_type = "json"
  }}
}}
"#,
        out = out.display()
    )
}

/// The JSON lines of every committed file under `dir`, files in name order (one subtask, so
/// one checkpoint sequence: name order is write order).
fn rows_in(dir: &Path) -> Vec<Value> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|error| panic!("reading {}: {error}", dir.display()))
        .map(|entry| entry.expect("a directory entry").path())
        .filter(|path| path.is_file())
        .collect();
    files.sort();
    files
        .iter()
        .flat_map(|file| {
            std::fs::read_to_string(file)
                .unwrap_or_else(|error| panic!("reading {}: {error}", file.display()))
                .lines()
                .map(|line| {
                    serde_json::from_str(line)
                        .unwrap_or_else(|error| panic!("{}: {line:?}: {error}", file.display()))
                })
                .collect::<Vec<Value>>()
        })
        .collect()
}

fn wait_state(master: &Master, job_id: &str, wanted: &str) -> Value {
    master.wait_until(&format!("job {job_id} is {wanted}"), WAIT, || {
        let job = master.try_job(job_id)?;
        let state = text(&job, "state");
        if state == wanted {
            Ok(job)
        } else if matches!(state.as_str(), "Finished" | "Failed" | "Cancelled") {
            master.fail(format!("job {job_id} ended {state}, not {wanted}: {job:#}"))
        } else {
            Err(job.to_string())
        }
    })
}

fn skipped(job: &Value) -> u64 {
    tasks(job)
        .iter()
        .map(|task| u64_of(&task["metrics"], "records_skipped"))
        .sum()
}

fn product(id: i64, name: &str, description: &str, weight: &str) -> Value {
    json!({"id": id, "name": name, "description": description, "weight": weight})
}

#[test]
fn canal_and_debezium_messages_become_rows_in_files() {
    let bootstrap = weir_e2e::kafka_bootstrap().unwrap_or_else(|missing| panic!("{missing}"));

    // Canal: SeaTunnel's 7 messages (3 DDL, 9 inserts in one, 2 updates, 1 delete), with a
    // poison message (an id that is no int) after the DDL, at offset 3.
    let canal_topic = Topic::create(&bootstrap, "weir-canal", 1);
    let mut canal: Vec<Vec<u8>> = CANAL_DATA.lines().map(|l| l.as_bytes().to_vec()).collect();
    canal.insert(3, br#"{"type":"INSERT","data":[{"id":"one"}]}"#.to_vec());
    produce(
        &bootstrap,
        canal_topic.name(),
        canal.into_iter().map(|v| Record::new(0, v)),
    );

    // Debezium: SeaTunnel's 3 snapshot reads (schema envelope), then an update and a delete
    // of id 1, the empty value Debezium sends after a delete, and a poison event at offset 6.
    let debezium_topic = Topic::create(&bootstrap, "weir-debezium", 1);
    let mut debezium: Vec<Vec<u8>> = DEBEZIUM_DATA
        .lines()
        .map(|l| l.as_bytes().to_vec())
        .collect();
    let image = |year: i64| {
        json!({"id": 1, "f_varchar": "v", "f_year": year, "f_date": 19109,
        "f_datetime": 1_651_069_800_000_i64, "f_blob": "aGVsbG8="})
    };
    let event = |op: &str, before: Value, after: Value| {
        json!({"schema": null, "payload": {"op": op, "before": before, "after": after}})
            .to_string()
            .into_bytes()
    };
    debezium.push(event("u", image(2022), image(2023)));
    debezium.push(event("d", image(2023), Value::Null));
    debezium.push(Vec::new());
    debezium.push(event("c", Value::Null, json!({"id": "x"})));
    produce(
        &bootstrap,
        debezium_topic.name(),
        debezium.into_iter().map(|v| Record::new(0, v)),
    );

    let master = Master::start_default("kafka_formats");
    let _worker = Worker::start(&master, "w-formats", "1GiB");
    let canal_fields = r#"id = "int", name = "string", description = "string", weight = "string""#;
    let debezium_fields = r#"id = "int", f_varchar = "string", f_year = "int", f_date = "date", f_datetime = "timestamp", f_blob = "bytes""#;
    let canal_out = master.dir().join("canal-out");
    let debezium_out = master.dir().join("debezium-out");
    let submit = |name: &str, text: String| {
        master.submit(&write_file(master.dir(), &format!("{name}.conf"), &text))
    };
    let canal_job = submit(
        "canal",
        job_text(
            &bootstrap,
            canal_topic.name(),
            "canal_json",
            canal_fields,
            "skip",
            &canal_out,
        ),
    );
    let debezium_job = submit(
        "debezium",
        job_text(
            &bootstrap,
            debezium_topic.name(),
            "debezium_json",
            debezium_fields,
            "skip",
            &debezium_out,
        ),
    );
    let failing_job = submit(
        "canal-fail",
        job_text(
            &bootstrap,
            canal_topic.name(),
            "canal_json",
            canal_fields,
            "fail",
            &master.dir().join("fail-out"),
        ),
    );

    let job = wait_state(&master, &canal_job, "Finished");
    assert_eq!(skipped(&job), 1, "the poison message is counted: {job:#}");
    let mut expected: Vec<Value> = [
        (1101, "scooter", "Small 2-wheel scooter", "3.14"),
        (1102, "car battery", "12V car battery", "8.1"),
        (
            1103,
            "12-pack drill bits",
            "12-pack of drill bits with sizes ranging from #40 to #3",
            "0.8",
        ),
        (1104, "hammer", "12oz carpenter's hammer", "0.75"),
        (1105, "hammer", "14oz carpenter's hammer", "0.875"),
        (1106, "hammer", "16oz carpenter's hammer", "1.0"),
        (1107, "rocks", "box of assorted rocks", "5.3"),
        (1108, "jacket", "water resistent black wind breaker", "0.1"),
        (1109, "spare tire", "24 inch spare tire", "22.2"),
    ]
    .into_iter()
    .map(|(id, name, description, weight)| product(id, name, description, weight))
    .collect();
    // Updates: the row before (-U), then after (+U); the delete: the deleted row (-D).
    expected.extend([
        product(1101, "scooter", "Small 2-wheel scooter", "3.14"),
        product(1101, "scooter", "Small 2-wheel scooter", "4.56"),
        product(1107, "rocks", "box of assorted rocks", "5.3"),
        product(1107, "rocks", "box of assorted rocks", "7.88"),
        product(1109, "spare tire", "24 inch spare tire", "22.2"),
    ]);
    assert_eq!(rows_in(&canal_out), expected);
    assert_eq!(u64_of(&job, "rows_written"), 14, "{job:#}");

    let job = wait_state(&master, &debezium_job, "Finished");
    assert_eq!(skipped(&job), 1, "the poison event is counted: {job:#}");
    let snapshot = |id: i64, year: i64| {
        json!({"id": id, "f_varchar": "This is a varchar field", "f_year": year,
            "f_date": "2022-04-27", "f_datetime": "2022-04-27T14:30:00", "f_blob": "aGVsbG8="})
    };
    let changed = |year: i64| {
        json!({"id": 1, "f_varchar": "v", "f_year": year, "f_date": "2022-04-27",
            "f_datetime": "2022-04-27T14:30:00", "f_blob": "aGVsbG8="})
    };
    assert_eq!(
        rows_in(&debezium_out),
        vec![
            snapshot(1, 2022),
            snapshot(2, 2013),
            snapshot(3, 2021),
            changed(2022),
            changed(2023),
            changed(2023),
        ]
    );

    let job = wait_state(&master, &failing_job, "Failed");
    let reason = text(&job, "state_reason");
    assert!(
        reason.contains(canal_topic.name())
            && reason.contains("offset 3")
            && reason.contains("field 'id' must be int"),
        "the failure names the topic, the offset and the cause: {reason}"
    );
}
