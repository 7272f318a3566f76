//! SeaTunnel's file sink options read before the sink's section ([`super::compat_sink`]), and
//! their rows of docs/seatunnel.md.

use super::compat_sink::{DATA_SAVE_MODES, LEGACY_SAVE_MODE, SCHEMA_SAVE_MODES, Verdict};
use super::test_host::TestHost;
use super::*;

fn parse(text: &str) -> Result<JobConfig, ConfigError> {
    TestHost::default().parse(text).map(|file| file.config)
}

const FAKE: &str = "source { FakeSource { row.num = 1, schema = { fields { id = bigint } } } }";

fn local(options: &str) -> Result<JobConfig, ConfigError> {
    parse(&format!(
        "{FAKE}\nsink {{\n  LocalFile {{\n    path = \"/tmp/a\"\n{options}\n  }}\n}}"
    ))
}

#[test]
fn save_modes_weir_honours_are_accepted_and_the_others_refused_with_the_reason() {
    // What Weir does anyway: accepted, no warning; any case, as SeaTunnel's enum options.
    for options in [
        "    schema_save_mode = CREATE_SCHEMA_WHEN_NOT_EXIST\n    data_save_mode = APPEND_DATA",
        "    \"schema_save_mode\" = \"ignore\"\n    \"data_save_mode\" = \"append_data\"",
    ] {
        let job = local(options).unwrap();
        assert!(job.warnings.is_empty(), "{:?}", job.warnings);
    }
    let hdfs = parse(&format!(
        "{FAKE}\nsink {{ HdfsFile {{ fs.defaultFS = \"hdfs://nn:9000\", path = \"/a\", data_save_mode = APPEND_DATA }} }}"
    ));
    assert!(hdfs.is_ok(), "{hdfs:?}");
    // What would delete or refuse existing data: refused, naming the option and its line.
    for (options, path, why) in [
        (
            "    data_save_mode = DROP_DATA",
            "sink.LocalFile.data_save_mode",
            "Weir never deletes committed files",
        ),
        (
            "    schema_save_mode = RECREATE_SCHEMA",
            "sink.LocalFile.schema_save_mode",
            "a job that recovers would run it again",
        ),
        (
            "    data_save_mode = ERROR_WHEN_DATA_EXISTS",
            "sink.LocalFile.data_save_mode",
            "would fail every recovery",
        ),
        (
            "    schema_save_mode = ERROR_WHEN_SCHEMA_NOT_EXIST",
            "sink.LocalFile.schema_save_mode",
            "create the directory before submitting",
        ),
    ] {
        let error = local(options).unwrap_err();
        assert_eq!(error.path(), Some(path), "{error}");
        assert_eq!(error.line(), Some(5), "{error}");
        let text = error.to_string();
        assert!(
            text.contains("is not supported") && text.contains(why),
            "{text}"
        );
    }
    // An unknown value lists the known ones.
    let unknown = local("    data_save_mode = CUSTOM_PROCESSING").unwrap_err();
    assert!(
        unknown
            .to_string()
            .contains("must be one of APPEND_DATA, DROP_DATA, ERROR_WHEN_DATA_EXISTS"),
        "{unknown}"
    );
}

#[test]
fn the_legacy_save_mode_is_accepted_with_a_warning() {
    let job = local("    save_mode = \"error\"").unwrap();
    assert_eq!(job.warnings.len(), 1, "{:?}", job.warnings);
    assert!(
        job.warnings[0].starts_with("job.conf:5: 'sink.LocalFile.save_mode' is ignored: ")
            && job.warnings[0].contains("APPEND_DATA"),
        "{}",
        job.warnings[0]
    );
    let list = local("    save_mode = [error]").unwrap_err();
    assert!(list.to_string().contains("must be a string"), "{list}");
}

/// The rows of docs/seatunnel.md's option table for these options.
pub(super) fn markdown_rows() -> String {
    let mut out = String::new();
    for (option, modes) in [
        ("schema_save_mode", SCHEMA_SAVE_MODES),
        ("data_save_mode", DATA_SAVE_MODES),
    ] {
        for (mode, verdict) in modes {
            let cell = match verdict {
                Verdict::Supported(why) => format!("supported: {why}"),
                Verdict::Refused(why) => format!("refused: {why}"),
            };
            out.push_str(&format!("| file sink `{option} = {mode}` | {cell} |\n"));
        }
    }
    out.push_str(&format!(
        "| file sink `save_mode` (any value) | accepted with a warning: {LEGACY_SAVE_MODE} |\n"
    ));
    out
}
