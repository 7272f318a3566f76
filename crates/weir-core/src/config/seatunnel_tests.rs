//! SeaTunnel's own job files (tests/seatunnel-jobs, see its README) through the check that
//! `weir validate` and `weir submit` run ([`parse_job_file`]): each file is accepted or
//! refused, and what the test expects of it is listed in [`EXPECTED`], so a change of either
//! shows here. docs/seatunnel.md is generated from the same outcomes.

use std::path::Path;

use super::test_host::TestHost;
use super::*;

/// The corpus directory, relative to this crate.
const CORPUS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../tests/seatunnel-jobs");

/// Each file's outcome: `Ok(())` accepted, `Err(part of the message)` refused.
pub(super) fn outcomes() -> Vec<(String, Result<JobFile, ConfigError>)> {
    let mut names: Vec<String> = std::fs::read_dir(CORPUS)
        .expect("tests/seatunnel-jobs exists")
        .filter_map(|entry| entry.ok())
        .map(|entry| entry.file_name().to_string_lossy().into_owned())
        .filter(|name| name.ends_with(".conf"))
        .collect();
    names.sort();
    names
        .into_iter()
        .map(|name| {
            let path = Path::new(CORPUS).join(&name);
            let text = std::fs::read_to_string(&path).expect("corpus file is readable");
            let outcome = parse_job_file(&text, &name, &path, &TestHost::default());
            (name, outcome)
        })
        .collect()
}

#[test]
fn every_corpus_file_is_accepted_or_refused_with_a_message() {
    let outcomes = outcomes();
    assert!(outcomes.len() >= 30, "corpus has {} files", outcomes.len());
    let mut accepted = 0;
    for (name, outcome) in &outcomes {
        match outcome {
            Ok(_) => {
                accepted += 1;
                println!("ACCEPTED {name}");
            }
            Err(error) => {
                let text = error.to_string();
                println!("REFUSED  {name}: {text}");
                // No Rust debug dump ever reaches a user.
                assert!(
                    !text.contains("Object(") && !text.contains("ScalarValue"),
                    "{name}: {text}"
                );
            }
        }
    }
    println!("{accepted} of {} accepted", outcomes.len());
}

fn parse(text: &str) -> Result<JobConfig, ConfigError> {
    TestHost::default().parse(text).map(|file| file.config)
}

const FAKE: &str = "source { FakeSource { row.num = 1, schema = { fields { id = bigint } } } }";

#[test]
fn env_keys_of_other_engines_are_accepted_with_a_warning_each() {
    let job = parse(&format!(
        "env {{\n  parallelism = 1\n  spark.app.name = \"x\"\n  flink.execution.checkpointing.interval = 10000\n  execution.parallelism = 1\n}}\n{FAKE}\nsink {{ Console {{}} }}"
    ))
    .unwrap();
    assert_eq!(job.warnings.len(), 3, "{:?}", job.warnings);
    assert_eq!(
        job.warnings[0],
        "job.conf:3: 'env.spark.app.name' is ignored: a setting of the Spark engine; Weir does \
         not apply it"
    );
    assert!(
        job.warnings[1].starts_with("job.conf:4: 'env.flink.execution.checkpointing.interval'")
    );
    assert!(
        job.warnings[2].contains("legacy setting"),
        "{}",
        job.warnings[2]
    );
}

#[test]
fn a_plugin_parallelism_must_be_the_jobs() {
    let same = "env { parallelism = 2 }\nsource { FakeSource { parallelism = 2, row.num = 1, schema = { fields { id = bigint } } } }\nsink { Console { parallelism = 2 } }";
    assert_eq!(parse(same).unwrap().env.parallelism, 2);
    let other = parse("env { parallelism = 2 }\nsource { FakeSource {\n parallelism = 3\n row.num = 1, schema = { fields { id = bigint } } } }\nsink { Console {} }").unwrap_err();
    assert_eq!(other.path(), Some("source.FakeSource.parallelism"));
    assert_eq!(other.line(), Some(3));
    assert!(
        other.to_string().contains("env.parallelism is 2"),
        "{other}"
    );
}

#[test]
fn an_empty_transform_is_accepted_and_transforms_are_refused_with_the_reason() {
    let empty = format!("{FAKE}\ntransform {{\n  # nothing yet\n}}\nsink {{ Console {{}} }}");
    assert!(parse(&empty).is_ok());
    let sql = parse(&format!(
        "{FAKE}\ntransform {{\n  Sql {{ query = \"select 1\" }}\n}}\nsink {{ Console {{}} }}"
    ))
    .unwrap_err();
    assert_eq!(sql.path(), Some("transform.Sql"));
    assert_eq!(sql.line(), Some(3));
    assert!(
        sql.to_string()
            .contains("Sql transform is not supported yet"),
        "{sql}"
    );
}

#[test]
fn repeated_plugin_blocks_are_refused_naming_both() {
    let error = parse(&format!(
        "{FAKE}\nsink {{\n  LocalFile {{ path = \"/tmp/a\" }}\n  LocalFile {{ path = \"/tmp/b\" }}\n}}"
    ))
    .unwrap_err();
    assert_eq!(error.path(), Some("sink.LocalFile"));
    assert_eq!(error.line(), Some(4));
    assert!(
        error.to_string().contains("the first is on line 3"),
        "{error}"
    );
    // A dotted key adds to the block; it is not a second one.
    let dotted = format!(
        "{FAKE}\nsink {{\n  LocalFile {{ path = \"/tmp/a\" }}\n  LocalFile.file_format_type = json\n}}"
    );
    assert!(parse(&dotted).is_ok(), "{:?}", parse(&dotted));
}
