//! Every value of every SeaTunnel type, written by Kafka → HdfsFile in Parquet and read back by
//! pyarrow and DuckDB (which must agree), compared one by one with what the test produced:
//! nulls, decimals, dates, times, timestamps, bytes, arrays, maps and a nested row included.

use serde_json::json;

use super::*;

const ROWS: u64 = 400;

/// Record `id` as JSON text, as SeaTunnel's json format reads it (the decimal a JSON number);
/// every fourth record has every field but `id` null.
fn message(id: u64) -> String {
    let price = format!("{}.{:02}", id as i64 - 200, id % 100);
    fields(id)
        .to_string()
        .replace(r#""price":"PRICE""#, &format!(r#""price":{price}"#))
}

/// The fields of record `id`, the decimal a placeholder (serde_json has no decimal numbers).
fn fields(id: u64) -> serde_json::Value {
    if id % 4 == 3 {
        return json!({
            "id": id, "t": null, "s": null, "i": null, "f": null, "d": null, "ok": null,
            "name": null, "raw": null, "price": null, "day": null, "at": null, "ts": null,
            "list": null, "tags": null, "inner": null
        });
    }
    let n = id as i64;
    let raw = [id as u8, 0, 255];
    let day = chrono::NaiveDate::from_ymd_opt(2024, 1, 1)
        .unwrap_or_default()
        .checked_add_days(chrono::Days::new(id))
        .unwrap_or_default();
    let at = chrono::NaiveTime::from_num_seconds_from_midnight_opt((id * 37 % 86_400) as u32, 0)
        .unwrap_or_default();
    let ts = day.and_hms_opt(0, 0, 0).unwrap_or_default() + chrono::Duration::seconds(n * 3601);
    use base64::Engine as _;
    json!({
        "id": id,
        "t": (n % 256 - 128),
        "s": n * 7 - 1000,
        "i": n * 100_003,
        "f": n as f64 + 0.5,
        "d": n as f64 / 4.0,
        "ok": id.is_multiple_of(2),
        "name": format!("n{id} \"é\" \\ ,"),
        "raw": base64::engine::general_purpose::STANDARD.encode(raw),
        "price": "PRICE",
        "day": day.format("%Y-%m-%d").to_string(),
        "at": at.format("%H:%M:%S").to_string(),
        "ts": ts.format("%Y-%m-%d %H:%M:%S").to_string(),
        "list": [n, n + 1],
        "tags": { "k": n as f64 / 2.0 },
        "inner": { "a": n, "b": format!("b{id}") },
    })
}

/// What the readers print for record `id` (read_parquet.py's canonical JSON), in column order.
fn expected(id: u64) -> Vec<serde_json::Value> {
    let mut values = vec![json!(id)];
    if id % 4 == 3 {
        values.extend(std::iter::repeat_n(serde_json::Value::Null, 15));
        return values;
    }
    let sent = fields(id);
    let n = id as i64;
    let price = format!("{}.{:02}", n - 200, id % 100);
    let day = sent["day"].as_str().unwrap_or_default().to_string();
    let ts = sent["ts"].as_str().unwrap_or_default().replace(' ', "T");
    values.extend([
        sent["t"].clone(),
        sent["s"].clone(),
        sent["i"].clone(),
        sent["f"].clone(),
        sent["d"].clone(),
        sent["ok"].clone(),
        sent["name"].clone(),
        json!(format!("{:02x}00ff", id as u8)),
        json!(price),
        json!(day),
        sent["at"].clone(),
        json!(ts),
        sent["list"].clone(),
        json!([["k", n as f64 / 2.0]]),
        json!({ "a": n, "b": format!("b{id}") }),
    ]);
    values
}

#[test]
fn every_value_is_read_back_as_written() {
    weir_e2e::readers::python();
    let scenario = Scenario::in_suite("parquet", "weir-pq", "values");
    let records: Vec<Record> = (0..ROWS)
        .map(|id| Record::new((id % 4) as i32, message(id).into_bytes()))
        .collect();
    produce(&scenario.bootstrap, scenario.topic.name(), records);
    let ends = scenario.end_offsets();
    let master = Master::start_default("parquet_values");
    let _worker = Worker::start(&master, "w-parquet-values", WORKER_MEMORY);
    let schema = r#"    schema = { fields {
      id = "bigint", t = "tinyint", s = "smallint", i = "int", f = "float", d = "double",
      ok = "boolean", name = "string", raw = "bytes", price = "decimal(10, 2)",
      day = "date", at = "time", ts = "timestamp", list = "array<bigint>",
      tags = "map<string, double>", inner = { a = "bigint", b = "string" }
    } }"#;
    let path = scenario.path();
    let text = job_text(&scenario, &path, Codec::Snappy, schema, "");
    let job = submit(&master, &scenario, "values", &text);
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
    let mut seen = BTreeMap::new();
    for file in &files {
        for row in &file.rows {
            let id = row.first().and_then(Value::as_u64).unwrap_or(u64::MAX);
            master.check(seen.insert(id, row.clone()).is_none(), || {
                format!("row {id} committed twice ({})", file.name)
            });
        }
    }
    master.check(seen.len() as u64 == ROWS, || {
        format!("{} of {ROWS} rows read back", seen.len())
    });
    for (id, row) in &seen {
        let wanted = expected(*id);
        master.check(row == &wanted, || {
            format!("row {id}:\n  read back {row:?}\n  expected  {wanted:?}")
        });
    }
    scenario.say(format!(
        "{ROWS} rows of 16 columns in {} files compared value by value",
        files.len()
    ));
}
