//! `transform { }` in job files: blocks parsed and checked against the source schema, errors
//! that name the option and its line, and the plugin_input / plugin_output chain rules.

use crate::config::{ConfigError, JobConfig, ParsePolicy, TransformConfig, parse_job};
use crate::row::{Row, Value};
use crate::schema::DataType;

const SOURCE: &str = "source {\n  FakeSource {\n    result_table_name = fake\n    \
     schema = { fields { id = bigint, name = string, age = int } }\n  }\n}";

fn parse(text: &str) -> Result<JobConfig, ConfigError> {
    parse_job(text, "job.conf", &ParsePolicy::SelfContained)
}

/// A job of [`SOURCE`] (lines 1-6), `transforms` from line 7 and a Console sink.
fn job(transforms: &str, sink: &str) -> Result<JobConfig, ConfigError> {
    parse(&format!(
        "{SOURCE}\ntransform {{\n{transforms}\n}}\nsink {{\n  Console {{ {sink} }}\n}}"
    ))
}

fn names(job: &JobConfig) -> Vec<String> {
    job.source
        .sink_schema(&job.transform)
        .fields
        .into_iter()
        .map(|field| field.name)
        .collect()
}

fn plugins(job: &JobConfig) -> Vec<&'static str> {
    job.transform
        .configs()
        .iter()
        .map(TransformConfig::plugin_name)
        .collect()
}

#[test]
fn a_chain_of_the_simple_transforms_gives_the_sink_its_schema() {
    let job = job(
        "  FieldMapper { field_mapper = { id = id, name = full_name } }\n  \
         Replace { replace_field = full_name, pattern = \" \", replacement = \"_\" }\n  \
         Copy { fields { copy = full_name } }\n  \
         Split { separator = \"_\", split_field = copy, output_fields = [first, last] }\n  \
         Filter { exclude_fields = [copy] }\n  \
         FilterRowKind { exclude_kinds = [DELETE] }",
        "",
    )
    .unwrap();
    assert_eq!(
        plugins(&job),
        [
            "FieldMapper",
            "Replace",
            "Copy",
            "Split",
            "Filter",
            "FilterRowKind"
        ]
    );
    assert_eq!(names(&job), ["id", "full_name", "first", "last"]);
    let schema = job.source.sink_schema(&job.transform);
    assert_eq!(schema.fields[0].data_type, DataType::Bigint);
    let row = Row::new(vec![
        Value::Bigint(7),
        Value::String("Joy Ding".into()),
        Value::Int(20),
    ]);
    assert_eq!(
        job.transform.apply(row).unwrap().values,
        [
            Value::Bigint(7),
            Value::String("Joy_Ding".into()),
            Value::String("Joy".into()),
            Value::String("Ding".into()),
        ]
    );
    // An empty section: no step, the source's schema.
    let empty = job_text_without_transforms();
    assert!(empty.transform.is_empty());
    assert_eq!(names(&empty), ["id", "name", "age"]);
}

fn job_text_without_transforms() -> JobConfig {
    job("  # nothing", "").unwrap()
}

#[test]
fn schema_errors_name_the_option_and_its_line() {
    let error = job(
        "  FieldMapper { field_mapper = { id = id, name = full_name } }\n  \
         Replace {\n    replace_field = name\n    pattern = a\n    replacement = b\n  }",
        "",
    )
    .unwrap_err();
    assert_eq!(error.path(), Some("transform.Replace.replace_field"));
    assert_eq!(error.line(), Some(10));
    let text = error.to_string();
    assert!(text.contains("'name'"), "{text}");
    assert!(text.contains("fields: id, full_name"), "{text}");

    let error = job(
        "  Replace {\n    replace_field = age\n    pattern = \"1\"\n    \
         replacement = b\n  }",
        "",
    )
    .unwrap_err();
    assert_eq!(error.path(), Some("transform.Replace.replace_field"));
    assert_eq!(error.line(), Some(9));
    assert!(error.to_string().contains("type int"), "{error}");

    let error = job(
        "  FieldMapper {\n    field_mapper {\n      id = id\n      nope = x\n    }\n  }",
        "",
    )
    .unwrap_err();
    assert_eq!(
        error.path(),
        Some("transform.FieldMapper.field_mapper.nope")
    );
    assert_eq!(error.line(), Some(11));

    let error = job(
        "  Replace {\n    replace_field = name\n    pattern = \"(a\"\n    replacement = b\n    \
         is_regex = true\n  }",
        "",
    )
    .unwrap_err();
    assert_eq!(error.path(), Some("transform.Replace.pattern"));
    assert_eq!(error.line(), Some(10));
}

#[test]
fn options_are_checked_like_every_section() {
    let error = job(
        "  Filter {\n    include_fields = [id]\n    keep = [id]\n  }",
        "",
    )
    .unwrap_err();
    assert!(
        matches!(error, ConfigError::UnknownOption { ref path, .. } if path == "transform.Filter.keep"),
        "{error}"
    );
    assert_eq!(error.line(), Some(10));
    let error = job("  Replace { replace_field = name, pattern = a }", "").unwrap_err();
    assert_eq!(error.path(), Some("transform.Replace.replacement"));
    let error = job(
        "  Filter {\n    include_fields = [id]\n    exclude_fields = [age]\n  }",
        "",
    )
    .unwrap_err();
    assert_eq!(error.path(), Some("transform.Filter.exclude_fields"));
    let error = job("  FilterRowKind { include_kinds = [INSERTED] }", "").unwrap_err();
    assert!(error.to_string().contains("\"INSERTED\""), "{error}");
    // SeaTunnel's older names.
    let job = job(
        "  Filter { fields = [name, id] }\n  Copy { src_field = id, dest_field = id2 }",
        "",
    )
    .unwrap();
    assert_eq!(names(&job), ["name", "id", "id2"]);
}

#[test]
fn sql_and_unknown_transforms_are_refused_naming_them() {
    let sql = job("  Sql { query = \"select * from fake\" }", "").unwrap_err();
    assert_eq!(sql.path(), Some("transform.Sql"));
    assert_eq!(sql.line(), Some(8));
    assert!(
        sql.to_string()
            .contains("Sql transform is not supported yet"),
        "{sql}"
    );
    let other = job("  JsonPath { columns = [] }", "").unwrap_err();
    assert_eq!(other.path(), Some("transform.JsonPath"));
    assert!(
        other
            .to_string()
            .contains("'JsonPath' is not a transform Weir runs"),
        "{other}"
    );
    let typo = job("  Replce { }", "").unwrap_err();
    assert!(
        typo.to_string().contains("did you mean 'Replace'?"),
        "{typo}"
    );
}

#[test]
fn replace_first_without_regex_is_a_warning_of_the_job() {
    let job = job(
        "  Replace {\n    replace_field = name\n    pattern = a\n    replacement = b\n    \
         replace_first = true\n  }",
        "",
    )
    .unwrap();
    assert_eq!(job.warnings.len(), 1, "{:?}", job.warnings);
    assert!(
        job.warnings[0].starts_with("job.conf:12: 'transform.Replace.replace_first' is ignored"),
        "{:?}",
        job.warnings
    );
}

#[test]
fn linear_chains_of_stream_names_are_followed_in_any_block_order() {
    // Written in reverse order, chained by name: rows pass Filter first, then FieldMapper.
    let job = job(
        "  FieldMapper {\n    source_table_name = filtered\n    result_table_name = mapped\n    \
         field_mapper = { id = key }\n  }\n  \
         Filter {\n    plugin_input = fake\n    plugin_output = filtered\n    \
         include_fields = [id]\n  }",
        "source_table_name = mapped",
    )
    .unwrap();
    assert_eq!(plugins(&job), ["Filter", "FieldMapper"]);
    assert_eq!(names(&job), ["key"]);
    // Without names, the file order.
    let job = self::job(
        "  Filter { include_fields = [id, name] }\n  FieldMapper { field_mapper = { name = n } }",
        "",
    )
    .unwrap();
    assert_eq!(names(&job), ["n"]);
    // A sink that names the source's stream, no transform: as before.
    assert!(self::job("", "source_table_name = fake").is_ok());
}

#[test]
fn anything_but_one_path_from_source_to_sink_is_refused_with_the_reason() {
    // The sink reads the source directly: the transform's output goes nowhere.
    let error = job(
        "  Filter {\n    result_table_name = f\n    include_fields = [id]\n  }",
        "source_table_name = fake",
    )
    .unwrap_err();
    assert!(
        error.to_string().contains("'source.FakeSource', which"),
        "{error}"
    );
    assert!(error.to_string().contains("reads too"), "{error}");

    let error = job(
        "  Filter { include_fields = [id] }",
        "source_table_name = nowhere",
    )
    .unwrap_err();
    assert_eq!(error.path(), Some("sink.Console.source_table_name"));
    assert!(
        error
            .to_string()
            .contains("'nowhere', which no plugin produces"),
        "{error}"
    );

    let error = job(
        "  Filter {\n    result_table_name = fake\n    include_fields = [id]\n  }",
        "",
    )
    .unwrap_err();
    assert_eq!(error.path(), Some("transform.Filter.result_table_name"));
    assert!(error.to_string().contains("must be unique"), "{error}");

    // Two transforms reading each other: off the path from the source.
    let error = job(
        "  Filter {\n    plugin_input = b\n    plugin_output = a\n    include_fields = [id]\n  }\n  \
         Copy {\n    plugin_input = a\n    plugin_output = b\n    fields { c = id }\n  }",
        "plugin_input = fake",
    )
    .unwrap_err();
    assert!(error.to_string().contains("not on the path"), "{error}");
}
