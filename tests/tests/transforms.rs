//! Transforms on the real binaries: a FakeSource → LocalFile batch job with a chain of Copy,
//! FieldMapper, Replace and Filter runs on a `weir master` and a `weir worker` process, and
//! every committed row is checked against the transformation of its own source values.
//!
//! Needs only the built binary (no external service).

use std::path::Path;
use std::time::Duration;

use serde_json::Value;
use weir_e2e::cluster::{Master, Worker, write_file};
use weir_e2e::job_json::text;
use weir_e2e::local_files::committed_files;

const ROWS_PER_SUBTASK: usize = 300;
const PARALLELISM: usize = 2;
const DEADLINE: Duration = Duration::from_secs(45);

/// What Replace makes of a FakeSource string (ASCII letters and digits): `[a-m]` → `#`.
fn replaced(text: &str) -> String {
    text.chars()
        .map(|c| if ('a'..='m').contains(&c) { '#' } else { c })
        .collect()
}

#[test]
fn a_chain_of_transforms_rewrites_every_committed_row() {
    let master = Master::start_default("transforms");
    let _worker = Worker::start(&master, "w-transforms", "1GiB");
    let out = master.dir().join("out");
    let path = Value::String(out.display().to_string()).to_string();
    // The sink's options name the fields as the chain leaves them (`key`, `text`).
    let job_file = write_file(
        master.dir(),
        "transforms.conf",
        &format!(
            r##"env {{
  parallelism = {PARALLELISM}
  job.mode = "BATCH"
  checkpoint.interval = 1000
}}
source {{
  FakeSource {{
    result_table_name = "fake"
    row.num = {ROWS_PER_SUBTASK}
    string.length = 12
    schema = {{ fields {{ id = "bigint", name = "string", score = "double", flag = "boolean" }} }}
  }}
}}
transform {{
  Copy {{
    source_table_name = "fake"
    result_table_name = "copied"
    fields {{ original = name }}
  }}
  FieldMapper {{
    source_table_name = "copied"
    result_table_name = "mapped"
    field_mapper = {{ id = key, name = text, original = original, score = score }}
  }}
  Replace {{
    source_table_name = "mapped"
    result_table_name = "replaced"
    replace_field = "text"
    pattern = "[a-m]"
    replacement = "#"
    is_regex = true
  }}
  Filter {{
    source_table_name = "replaced"
    result_table_name = "filtered"
    exclude_fields = [score]
  }}
}}
sink {{
  LocalFile {{
    source_table_name = "filtered"
    path = {path}
    file_format_type = "json"
    sink_columns = [key, text, original]
  }}
}}
"##
        ),
    );
    let job_id = master.submit(&job_file);
    let finished = master.wait_until("the job finishes", DEADLINE, || {
        let job = master.try_job(&job_id)?;
        match text(&job, "state").as_str() {
            "Finished" => Ok(job),
            "Failed" | "Cancelled" => Err(format!("the job ended: {job:#}")),
            other => Err(other.to_string()),
        }
    });

    let rows = committed_rows(&master, &out);
    master.check(rows.len() == ROWS_PER_SUBTASK * PARALLELISM, || {
        format!(
            "{} rows committed, expected {}: {finished:#}",
            rows.len(),
            ROWS_PER_SUBTASK * PARALLELISM
        )
    });
    let mut rewritten = 0;
    for row in &rows {
        let mut fields: Vec<&str> = row
            .as_object()
            .map(|object| object.keys().map(String::as_str).collect())
            .unwrap_or_default();
        fields.sort_unstable();
        master.check(fields == ["key", "original", "text"], || {
            format!("a row with fields {fields:?}, expected key, text and original: {row}")
        });
        master.check(row["key"].is_i64(), || {
            format!("key is not a bigint: {row}")
        });
        let original = row["original"].as_str().unwrap_or_default();
        let text = row["text"].as_str().unwrap_or_default();
        master.check(original.len() == 12, || {
            format!("the copy of name is not a 12-character string: {row}")
        });
        master.check(text == replaced(original), || {
            format!("text should be {:?}: {row}", replaced(original))
        });
        if text != original {
            rewritten += 1;
        }
    }
    master.check(rewritten > 0, || {
        "no row had a letter a-m to replace: the check proves nothing".to_string()
    });
}

/// The JSON rows of the committed files under `out`; fails if nothing was committed.
fn committed_rows(master: &Master, out: &Path) -> Vec<Value> {
    // In-progress and temporary files are hidden; a finished job leaves none visible.
    let files = committed_files(out).unwrap_or_else(|error| master.fail(error));
    master.check(!files.is_empty(), || {
        format!("no committed file under {}", out.display())
    });
    let mut rows = Vec::new();
    for file in files {
        let content = std::fs::read_to_string(&file).unwrap_or_else(|error| {
            master.fail(format!("cannot read {}: {error}", file.display()))
        });
        for line in content.lines() {
            let row: Value = serde_json::from_str(line).unwrap_or_else(|error| {
                master.fail(format!(
                    "{} has a line that is not JSON ({error}): {line}",
                    file.display()
                ))
            });
            rows.push(row);
        }
    }
    rows
}
