use super::test_host::TestHost;
use super::*;

const EXAMPLE: &str = r#"env {
  parallelism = 2
  job.mode = "STREAMING"          # BATCH | STREAMING, default BATCH
  checkpoint.interval = 10000     # ms
  read_limit.rows_per_second = 1000
  read_limit.bytes_per_second = 1048576
  job.retry.times = 3
  job.retry.interval.seconds = 3
  schedule.strategy = "wait"
}
source {
  FakeSource {
    row.num = 100000
    rows_per_second = 500
    string.length = 64
    schema = { fields { id = "bigint", name = "string", score = "double", ok = "boolean" } }
    queue.size = 1000
    queue.max_bytes = 8388608
  }
}
sink {
  Console {
    log.print_data = false
  }
}
"#;

pub(super) fn parse(text: &str) -> Result<JobConfig, ConfigError> {
    parse_job(text, "job.conf", &ParsePolicy::SelfContained)
}

fn parse_err(text: &str) -> ConfigError {
    match parse(text) {
        Ok(job) => panic!("expected an error, parsed {job:?}"),
        Err(error) => error,
    }
}

pub(super) const FAKE: &str = "source { FakeSource { schema = { fields { id = bigint } } } }";

#[test]
fn parses_the_full_example() {
    let job = parse(EXAMPLE).unwrap();
    let env = &job.env;
    assert_eq!(env.parallelism, 2);
    assert_eq!(env.job_mode, JobMode::Streaming);
    assert_eq!(env.checkpoint_interval_ms, 10_000);
    assert_eq!(env.read_limit_rows_per_second, Some(1000));
    assert_eq!(env.read_limit_bytes_per_second, Some(1_048_576));
    assert_eq!((env.retry_times, env.retry_interval_seconds), (3, 3));
    assert_eq!(env.schedule_strategy, ScheduleStrategy::Wait);

    let SourceConfig::FakeSource(fake) = &job.source else {
        panic!("FakeSource expected")
    };
    assert_eq!(fake.row_num, Some(100_000));
    assert_eq!(fake.rows_per_second, Some(500));
    assert_eq!(fake.string_length, 64);
    assert_eq!((fake.queue_size, fake.queue_max_bytes), (1000, 8_388_608));
    let names: Vec<&str> = fake.schema.fields.iter().map(|f| f.name.as_str()).collect();
    assert_eq!(names, ["id", "name", "score", "ok"], "file order is kept");
    let types: Vec<DataType> = fake
        .schema
        .fields
        .iter()
        .map(|f| f.data_type.clone())
        .collect();
    assert_eq!(
        types,
        [
            DataType::Bigint,
            DataType::String,
            DataType::Double,
            DataType::Boolean
        ]
    );

    let SinkConfig::Console(console) = &job.sink else {
        panic!("Console expected")
    };
    assert!(!console.print_data, "the log.print_data alias is honoured");
}

#[test]
fn defaults_apply_when_env_and_options_are_absent() {
    let job = parse(&format!("{FAKE}\nsink {{ Console {{}} }}")).unwrap();
    assert_eq!(job.env, EnvConfig::default());
    assert_eq!(job.env.job_mode, JobMode::Batch);
    assert_eq!(job.env.parallelism, 1);
    let SourceConfig::FakeSource(fake) = &job.source else {
        panic!("FakeSource expected")
    };
    assert_eq!(
        fake.row_num,
        Some(5),
        "absent row.num is SeaTunnel's default"
    );
    assert_eq!(fake.queue_size, 1000);
    assert_eq!(fake.queue_max_bytes, 8 * 1024 * 1024);
    let SinkConfig::Console(console) = &job.sink else {
        panic!("Console expected")
    };
    assert!(console.print_data);
}

#[test]
fn misspelt_option_reports_path_line_and_suggestion() {
    let error = parse_err(&format!(
        "env {{\n  job.mode = BATCH\n  parallelizm = 2\n}}\n{FAKE}\nsink {{ Console {{}} }}"
    ));
    assert_eq!(error.line(), Some(3));
    assert_eq!(error.path(), Some("env.parallelizm"));
    let text = error.to_string();
    assert!(
        text.starts_with(
            "job.conf:3: unknown option 'env.parallelizm' (did you mean 'parallelism'?"
        ),
        "{text}"
    );
    assert!(
        text.contains("known options: parallelism, job.mode, job.name"),
        "{text}"
    );
}

#[test]
fn unknown_nested_and_object_options_name_the_leaf() {
    let error = parse_err(&format!(
        "env {{\n  job.mdoe = BATCH\n}}\n{FAKE}\nsink {{ Console {{}} }}"
    ));
    assert_eq!(error.path(), Some("env.job.mdoe"));
    assert_eq!(error.line(), Some(2));
    assert!(
        error.to_string().contains("did you mean 'job.mode'?"),
        "{error}"
    );

    let error = parse_err(
        "source {\n FakeSource {\n  schema = { fields { id = int } }\n  extra {\n   deep = 1\n  }\n }\n}\nsink { Console {} }",
    );
    assert_eq!(error.path(), Some("source.FakeSource.extra.deep"));
    assert_eq!(error.line(), Some(5));
}

#[test]
fn wrong_type_names_the_full_path_and_the_value() {
    let text = "sink { Console {} }\nsource {\n  FakeSource {\n    schema = { fields { id = bigint } }\n    row.num = \"ten\"\n  }\n}";
    let error = parse_err(text);
    assert_eq!(
        error.to_string(),
        "job.conf:5: 'source.FakeSource.row.num' must be an integer, found string \"ten\""
    );
    assert_eq!(error.path(), Some("source.FakeSource.row.num"));

    let error = parse_err(&format!(
        "{FAKE}\nsink {{\n  Console {{\n    log.print.data = maybe\n  }}\n}}"
    ));
    assert_eq!(error.line(), Some(4));
    assert!(error.to_string().contains("must be a boolean"), "{error}");
}

#[test]
fn quoted_numbers_are_accepted_like_seatunnel() {
    let job = parse(&format!(
        "env {{ parallelism = \"4\" }}\n{FAKE}\nsink {{ Console {{}} }}"
    ));
    assert_eq!(job.unwrap().env.parallelism, 4);
}

#[test]
fn integer_range_and_semantic_checks_carry_lines() {
    let error = parse_err(&format!(
        "env {{\n parallelism = -1\n}}\n{FAKE}\nsink {{ Console {{}} }}"
    ));
    assert_eq!(
        error.to_string(),
        "job.conf:2: 'env.parallelism' must be a non-negative integer, found -1"
    );

    let error = parse_err(&format!(
        "env {{\n\n parallelism = 0\n}}\n{FAKE}\nsink {{ Console {{}} }}"
    ));
    assert_eq!(
        error.to_string(),
        "job.conf:3: 'env.parallelism' must be at least 1, found 0"
    );

    let error = parse_err(
        "source {\n FakeSource {\n  schema = { fields { id = int } }\n  queue.size = 0\n }\n}\nsink { Console {} }",
    );
    assert_eq!(error.path(), Some("source.FakeSource.queue.size"));
    assert_eq!(error.line(), Some(4));

    let error = parse_err(&format!(
        "env {{ read_limit.bytes_per_second = 0 }}\n{FAKE}\nsink {{ Console {{}} }}"
    ));
    assert_eq!(error.path(), Some("env.read_limit.bytes_per_second"));
}

#[test]
fn console_write_buffer_is_an_option_counted_in_the_reservation() {
    let console = |options: &str| {
        parse(&format!(
            "{FAKE}\nsink {{\n  Console {{\n    {options}\n  }}\n}}"
        ))
    };
    let default = console("").unwrap();
    assert_eq!(default.sink.buffer_bytes(), CONSOLE_WRITE_BUFFER_BYTES);
    let job = console("write.buffer_bytes = 1MiB").unwrap();
    let SinkConfig::Console(config) = &job.sink else {
        panic!("Console expected")
    };
    assert_eq!(config.write_buffer_bytes, ByteSize(1 << 20));
    assert_eq!(job.sink.buffer_bytes(), 1 << 20);
    assert_eq!(
        crate::reservation::subtask_reservation(&job, 1),
        crate::reservation::subtask_reservation(&default, 1) + (1 << 20)
            - CONSOLE_WRITE_BUFFER_BYTES
    );

    let error = console("write.buffer_bytes = 0").unwrap_err();
    assert_eq!(
        error.to_string(),
        "job.conf:4: 'sink.Console.write.buffer_bytes' must be at least 1, found 0"
    );
    let error = console("write.buffer_bytes = 65MiB").unwrap_err();
    assert_eq!(error.path(), Some("sink.Console.write.buffer_bytes"));
    assert!(
        error.to_string().contains("must be at most 64MiB"),
        "{error}"
    );
    assert!(console("write.buffer_bytes = 64MiB").is_ok());
    let error = console("write.buffer_bytes = lots").unwrap_err();
    assert_eq!(error.path(), Some("sink.Console.write.buffer_bytes"));
}

#[test]
fn enum_values_are_checked_and_case_insensitive() {
    let error = parse_err(&format!(
        "env {{\n  job.mode = \"BATCHY\"\n}}\n{FAKE}\nsink {{ Console {{}} }}"
    ));
    assert_eq!(
        error.to_string(),
        "job.conf:2: 'env.job.mode' must be one of BATCH, STREAMING, found string \"BATCHY\""
    );

    let error = parse_err(&format!(
        "env {{ schedule.strategy = later }}\n{FAKE}\nsink {{ Console {{}} }}"
    ));
    assert!(
        error.to_string().contains("must be one of wait, reject"),
        "{error}"
    );

    let job = parse(&format!(
        "env {{ schedule.strategy = REJECT, job.mode = streaming }}\n{FAKE}\nsink {{ Console {{}} }}"
    ))
    .unwrap();
    assert_eq!(job.env.schedule_strategy, ScheduleStrategy::Reject);
    assert_eq!(job.env.job_mode, JobMode::Streaming);
}

#[test]
fn missing_required_option_points_at_the_enclosing_block() {
    let error =
        parse_err("sink { Console {} }\n\nsource {\n  FakeSource {\n    row.num = 1\n  }\n}");
    assert_eq!(
        error.to_string(),
        "job.conf:4: missing required option 'source.FakeSource.schema'"
    );

    let error = parse_err("sink { Console {} }");
    assert_eq!(error.path(), Some("source"));
    assert_eq!(error.line(), None);
    assert_eq!(
        error.to_string(),
        "job.conf: missing required option 'source'"
    );
}

#[test]
fn unsupported_column_type_names_the_field() {
    let error = parse_err(
        "source {\n FakeSource {\n  schema = {\n   fields {\n    id = bigint\n    price = \"decimal(50,2)\"\n   }\n  }\n }\n}\nsink { Console {} }",
    );
    assert_eq!(error.path(), Some("source.FakeSource.schema.fields.price"));
    assert_eq!(error.line(), Some(6));
    let text = error.to_string();
    assert!(
        text.contains(
            "unsupported data type \"decimal(50,2)\": a decimal's precision must be 1 to 38"
        ),
        "{text}"
    );
    assert!(
        text.contains("supported: string, boolean, tinyint, smallint, int, bigint"),
        "{text}"
    );
}

#[test]
fn plugin_sections_hold_exactly_one_known_plugin() {
    let error = parse_err("source {\n}\nsink { Console {} }");
    assert_eq!(
        error.to_string(),
        "job.conf:1: 'source' must contain exactly one plugin block, found none"
    );

    let error = parse_err(&format!(
        "{FAKE}\nsink {{\n Console {{}}\n LocalFile {{}}\n}}"
    ));
    assert_eq!(error.line(), Some(2));
    assert!(
        error.to_string().ends_with("found 2 (Console, LocalFile)"),
        "{error}"
    );

    let error = parse_err("source {\n  FakeSorce { }\n}\nsink { Console {} }");
    assert_eq!(
        error.to_string(),
        "job.conf:2: unknown source plugin 'FakeSorce' (did you mean 'FakeSource'? \
         known source plugins: FakeSource, Kafka)"
    );
}

#[test]
fn unknown_top_level_section_is_an_error() {
    let error = parse_err(&format!(
        "{FAKE}\nsink {{ Console {{}} }}\ntransforms {{ }}"
    ));
    assert_eq!(error.path(), Some("transforms"));
    assert_eq!(error.line(), Some(3));
    assert!(
        error
            .to_string()
            .contains("known options: env, source, transform, sink")
    );
}

#[test]
fn aliases_map_to_the_seatunnel_names_and_conflict_when_both_set() {
    let job = parse(
        "source { FakeSource { result_table_name = fake, schema = { fields { a = int } } } }\n\
         sink { Console { source_table_name = fake } }",
    )
    .unwrap();
    let SourceConfig::FakeSource(fake) = &job.source else {
        panic!("FakeSource expected")
    };
    assert_eq!(fake.plugin_output.as_deref(), Some("fake"));

    let error = parse_err(&format!(
        "{FAKE}\nsink {{ Console {{\n log.print.data = true\n log.print_data = false\n}} }}"
    ));
    assert_eq!(error.path(), Some("sink.Console.log.print_data"));
    assert_eq!(error.line(), Some(4));
}

#[test]
fn syntax_and_substitution_errors_carry_line_and_column() {
    let error = parse_err("env {\n  parallelism = 2\n  job.mode = \n}\nsource {");
    assert!(matches!(error, ConfigError::Syntax { .. }), "{error:?}");
    assert!(error.line().is_some());
    assert!(error.to_string().starts_with("job.conf:"), "{error}");
    assert!(error.location().column.is_some());

    let error = parse_err(&format!(
        "env {{\n  job.name = ${{WEIR_TEST_SURELY_UNSET_VARIABLE}}\n}}\n{FAKE}\nsink {{ Console {{}} }}"
    ));
    assert!(
        matches!(error, ConfigError::Substitution { .. }),
        "{error:?}"
    );
    assert_eq!(error.line(), Some(2));

    // The client resolves environment variables (an unset optional one is absent); the
    // master never reads its own.
    let text = format!(
        "env {{ job.name = ${{?WEIR_TEST_SURELY_UNSET_VARIABLE}} }}\n{FAKE}\nsink {{ Console {{}} }}"
    );
    let host = TestHost::default();
    let file = host.parse(&text).unwrap();
    assert_eq!(file.config.env.job_name, None);
    let error = parse_err(&text);
    assert!(
        matches!(error, ConfigError::Substitution { .. }),
        "{error:?}"
    );
    assert!(error.to_string().contains("weir submit"), "{error}");
}

#[test]
fn job_config_round_trips_through_json() {
    let job = parse(EXAMPLE).unwrap();
    let json = serde_json::to_string(&job).unwrap();
    let back: JobConfig = serde_json::from_str(&json).unwrap();
    assert_eq!(back, job);
}

#[test]
fn queue_bounds_come_from_the_source() {
    let job = parse(EXAMPLE).unwrap();
    assert_eq!(
        job.source.queue_bounds(),
        QueueBounds {
            max_rows: 1000,
            max_bytes: 8_388_608
        }
    );
    assert_eq!(job.source.plugin_name(), "FakeSource");
    assert_eq!(job.sink.plugin_name(), "Console");
}

#[test]
fn malformed_blocks_are_reported_with_their_path() {
    let error = parse_err("source { FakeSource {\n schema = 5\n} }\nsink { Console {} }");
    assert_eq!(
        error.to_string(),
        "job.conf:2: 'source.FakeSource.schema' must be an object, found number 5"
    );

    // `schema.columns` is read (SeaTunnel's newer form); a malformed one names the block.
    let error =
        parse_err("source { FakeSource {\n schema { columns = 5 }\n} }\nsink { Console {} }");
    assert_eq!(error.path(), Some("source.FakeSource.schema.columns"));
    assert_eq!(error.line(), Some(2));
    assert!(
        error
            .to_string()
            .ends_with("expected array, found number 5"),
        "{error}"
    );

    let error = parse_err(&format!("env = 5\n{FAKE}\nsink {{ Console {{}} }}"));
    assert_eq!(error.path(), Some("env"));
    assert_eq!(error.line(), Some(1));

    let error = parse_err("source = FakeSource\nsink { Console {} }");
    assert_eq!(error.path(), Some("source"));
    assert!(
        error
            .to_string()
            .contains("must be a block holding one plugin"),
        "{error}"
    );

    let error = parse_err(&format!(
        "env {{\n parallelism = 2.5\n}}\n{FAKE}\nsink {{ Console {{}} }}"
    ));
    assert_eq!(
        error.to_string(),
        "job.conf:2: 'env.parallelism' must be an integer, found number 2.5"
    );
}
