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
