use std::time::Duration;

use super::*;

const EXAMPLE: &str = r#"env {
  parallelism = 2
  job.mode = "STREAMING"
}
source {
  Kafka {
    bootstrap.servers = "broker-1:9092,broker-2:9092"
    topic = "orders, payments"
    consumer.group = "weir-orders"
    start_mode = "specific_offsets"
    start_mode.offsets = {
      orders-0 = 70
      payments-3 = 12
    }
    format = text
    field_delimiter = "|"
    schema = { fields { id = bigint, name = string } }
    format_error_handle_way = skip
    kafka.config = {
      client.id = "weir-client"
      fetch.min.bytes = 1
      check.crcs = true
    }
    queue.size = 500
    queue.max_bytes = 4194304
    prefetch.max_bytes = 2097152
    partition-discovery.interval-millis = 60000
    result_table_name = kafka_orders
  }
}
sink { Console {} }
"#;

fn parse(text: &str) -> Result<JobConfig, ConfigError> {
    parse_job(text, "job.conf", &ParsePolicy::SelfContained)
}

fn kafka(text: &str) -> KafkaSourceConfig {
    match parse(text).map(|job| job.source) {
        Ok(SourceConfig::Kafka(kafka)) => kafka,
        other => panic!("expected a Kafka source, got {other:?}"),
    }
}

fn parse_err(text: &str) -> ConfigError {
    match parse(text) {
        Ok(job) => panic!("expected an error, parsed {job:?}"),
        Err(error) => error,
    }
}

/// A Kafka job with `options` (one per line, starting at line 5), and `topic = t` unless they
/// set the topic (a key set twice is an error).
fn job_with(options: &str) -> String {
    let topic = if options.contains("topic =") {
        "# topic below"
    } else {
        "topic = t"
    };
    format!(
        "source {{\n  Kafka {{\n    bootstrap.servers = \"k:9092\"\n    {topic}\n{options}\n  }}\n}}\nsink {{ Console {{}} }}"
    )
}

#[test]
fn parses_the_full_example() {
    let source = kafka(EXAMPLE);
    assert_eq!(source.bootstrap_servers, "broker-1:9092,broker-2:9092");
    assert_eq!(source.topics(), ["orders", "payments"]);
    assert!(!source.pattern);
    assert_eq!(source.consumer_group, "weir-orders");
    assert_eq!(source.start_mode, StartMode::SpecificOffsets);
    assert_eq!(
        source.start_mode_offsets.entries().unwrap(),
        vec![("orders".into(), 0, 70), ("payments".into(), 3, 12)]
    );
    assert_eq!(source.format, MessageFormat::Text);
    assert_eq!(source.field_delimiter, "|");
    assert_eq!(source.output_schema().fields.len(), 2);
    assert_eq!(source.format_error_handle_way, FormatErrorHandleWay::Skip);
    assert_eq!(source.kafka_config.get("client.id"), Some("weir-client"));
    assert_eq!(source.kafka_config.get("fetch.min.bytes"), Some("1"));
    assert_eq!(source.kafka_config.get("check.crcs"), Some("true"));
    assert_eq!(
        (source.queue_size, source.queue_max_bytes),
        (500, 4_194_304)
    );
    // A fetch slot's share of the default budget (8 MiB of prefetch over 2 slots) would allow
    // a larger cap; prefetch.max_bytes (2 MiB) bounds it.
    assert_eq!(source.prefetch().queued_max_messages_kbytes, 2048);
    assert_eq!(
        source.partition_discovery_interval(),
        Some(Duration::from_secs(60))
    );
    assert_eq!(source.plugin_output.as_deref(), Some("kafka_orders"));
}

#[test]
fn defaults_follow_seatunnel_where_it_has_them() {
    let source = kafka(&job_with(""));
    assert_eq!(source, KafkaSourceConfig::new("k:9092", "t"));
    assert_eq!(source.start_mode, StartMode::GroupOffsets);
    assert_eq!(source.consumer_group, "weir");
    assert_eq!(source.format, MessageFormat::Json);
    assert_eq!(source.field_delimiter, ",");
    assert_eq!(source.format_error_handle_way, FormatErrorHandleWay::Fail);
    assert!(source.commit_on_checkpoint);
    assert_eq!(source.queue_size, 1000);
    assert_eq!(source.queue_max_bytes, 8 * 1024 * 1024);
    assert_eq!(source.prefetch_max_bytes, 1024 * 1024);
    assert_eq!(source.partition_discovery_interval(), None);
    let schema = source.output_schema();
    assert_eq!(schema.fields[0].name, CONTENT_FIELD);
    assert_eq!(schema.fields[0].data_type, DataType::String);
    let job = parse(&job_with("")).unwrap();
    assert!(job.source.has_splits());
    assert_eq!(job.source.plugin_name(), "Kafka");
    assert_eq!(
        job.source.queue_bounds(),
        QueueBounds {
            max_rows: 1000,
            max_bytes: 8 * 1024 * 1024
        }
    );
}

#[test]
fn start_mode_and_its_dotted_options_coexist_in_either_order() {
    let source = kafka(&job_with(
        "    start_mode.timestamp = 1700000000000\n    start_mode = timestamp",
    ));
    assert_eq!(source.start_mode, StartMode::Timestamp);
    assert_eq!(source.start_mode_timestamp, Some(1_700_000_000_000));

    let source = kafka(&job_with(
        "    start_mode = SPECIFIC_OFFSETS\n    start_mode.offsets = { my.topic-2 = 5, t-0 = 1 }\n    topic = \"t,my.topic\"",
    ));
    assert_eq!(
        source.start_mode_offsets.entries().unwrap(),
        vec![("my.topic".into(), 2, 5), ("t".into(), 0, 1)]
    );
}

#[test]
fn start_mode_options_are_checked_against_the_mode() {
    let error = parse_err(&job_with("    start_mode = timestamp"));
    assert_eq!(
        error.to_string(),
        "job.conf:5: 'source.Kafka.start_mode.timestamp' is required with start_mode = \
         timestamp (milliseconds since the epoch)"
    );
    let error = parse_err(&job_with(
        "    start_mode = latest\n    start_mode.timestamp = 5",
    ));
    assert_eq!(error.line(), Some(6));
    assert!(
        error
            .to_string()
            .ends_with("is only used with start_mode = timestamp, not latest"),
        "{error}"
    );
    let error = parse_err(&job_with("    start_mode = specific_offsets"));
    assert_eq!(error.path(), Some("source.Kafka.start_mode.offsets"));
    let error = parse_err(&job_with(
        "    start_mode = specific_offsets\n    start_mode.offsets = {\n      other-0 = 1\n    }",
    ));
    assert_eq!(
        error.path(),
        Some("source.Kafka.start_mode.offsets.other-0")
    );
    assert_eq!(error.line(), Some(7));
    assert!(error.to_string().contains("names topic 'other'"), "{error}");
    let error = parse_err(&job_with(
        "    start_mode = specific_offsets\n    start_mode.offsets = { t-0 = -4 }",
    ));
    assert!(error.to_string().contains("non-negative offset"), "{error}");
    let error = parse_err(&job_with("    start_mode = beginning"));
    assert!(
        error.to_string().contains(
            "must be one of earliest, latest, group_offsets, timestamp, specific_offsets"
        ),
        "{error}"
    );
}

#[test]
fn owned_kafka_config_keys_are_rejected_naming_key_and_reason() {
    let error = parse_err(&job_with(
        "    kafka.config = {\n      client.id = x\n      enable.auto.commit = true\n    }",
    ));
    assert_eq!(
        error.to_string(),
        "job.conf:7: 'source.Kafka.kafka.config.enable.auto.commit' cannot be set: Weir \
         commits offsets itself, those of completed checkpoints (see \
         `commit_on_checkpoint`)"
    );
    for (key, option) in [
        ("group.id", "consumer.group"),
        ("queued.max.messages.kbytes", "prefetch.max_bytes"),
        ("fetch.queue.backoff.ms", "10 ms"),
        ("bootstrap.servers", "bootstrap.servers"),
    ] {
        let error = parse_err(&job_with(&format!("    kafka.config = {{ {key} = 1 }}")));
        assert_eq!(
            error.path(),
            Some(format!("source.Kafka.kafka.config.{key}").as_str())
        );
        assert!(error.to_string().contains(option), "{error}");
    }
    let error = parse_err(&job_with("    kafka.config = { client = [1, 2] }"));
    assert!(
        error
            .to_string()
            .contains("must be a string, number or boolean"),
        "{error}"
    );
}

#[test]
fn required_and_semantic_errors_carry_lines() {
    let error = parse_err("source {\n  Kafka {\n    topic = t\n  }\n}\nsink { Console {} }");
    assert_eq!(
        error.to_string(),
        "job.conf:2: missing required option 'source.Kafka.bootstrap.servers'"
    );
    let error = parse_err(&job_with("    prefetch.max_bytes = 100"));
    assert_eq!(
        error.to_string(),
        "job.conf:5: 'source.Kafka.prefetch.max_bytes' must be at least 1024, found 100"
    );
    let error = parse_err(&job_with("    queue.max_bytes = 0"));
    assert_eq!(error.path(), Some("source.Kafka.queue.max_bytes"));
    let error = parse_err(&job_with("    pattern = true\n    topic = \"orders-(\""));
    assert_eq!(error.path(), Some("source.Kafka.topic"));
    assert!(
        error.to_string().contains("not a valid regular expression"),
        "{error}"
    );
    let error = parse_err(&job_with("    topic = \"a,,b\""));
    assert!(error.to_string().contains("comma-separated"), "{error}");
    let error = parse_err(&job_with("    format = protobuf"));
    assert_eq!(error.line(), Some(5));
    let error = parse_err(&job_with("    reader_cache_queue_size = 5"));
    assert!(
        matches!(error, ConfigError::UnknownOption { .. }),
        "unsupported SeaTunnel options are errors: {error}"
    );
}

#[test]
fn kafka_jobs_round_trip_through_json() {
    let job = parse(EXAMPLE).unwrap();
    let json = serde_json::to_string(&job).unwrap();
    let back: JobConfig = serde_json::from_str(&json).unwrap();
    assert_eq!(back, job);
}

#[test]
fn reference_documents_the_kafka_options() {
    let doc = reference_markdown();
    let row = |name: &str| {
        doc.lines()
            .skip_while(|line| !line.starts_with("### source: Kafka"))
            .find(|line| line.starts_with(&format!("| `{name}` |")))
            .unwrap_or_else(|| panic!("no row for {name}"))
            .to_string()
    };
    assert!(row("bootstrap.servers").contains("| string | **required** |"));
    assert!(row("start_mode").contains("`group_offsets`"));
    assert!(row("start_mode.offsets").contains("| object |"));
    assert!(row("kafka.config").contains("| object | `{}` |"));
    assert!(row("prefetch.max_bytes").contains("`1048576`"));
    assert!(row("queue.max_bytes").contains("`8388608`"));
    assert!(row("partition-discovery.interval-millis").contains("`-1`"));
    assert!(row("commit_on_checkpoint").contains("env.checkpoint.interval"));
}

#[test]
fn formats_take_the_schema_they_can_read() {
    for (format, expected) in [
        ("raw", MessageFormat::Raw),
        ("canal_json", MessageFormat::CanalJson),
        ("debezium_json", MessageFormat::DebeziumJson),
        ("avro", MessageFormat::Avro),
    ] {
        let source = kafka(&job_with(&format!(
            "    format = {format}\n    schema = {{ fields {{ v = bytes }} }}"
        )));
        assert_eq!(source.format, expected);
        assert_eq!(source.format.name(), format);
    }
    let raw = |fields: &str| {
        job_with(&format!(
            "    format = raw\n    schema = {{ fields {{ {fields} }} }}"
        ))
    };
    assert_eq!(kafka(&raw("line = string")).output_schema().fields.len(), 1);
    let error = parse_err(&raw("a = string, b = string"));
    assert_eq!(error.path(), Some("source.Kafka.schema"));
    assert!(
        error
            .to_string()
            .contains("must have exactly one field, of type string or bytes, with format = raw"),
        "{error}"
    );
    assert!(parse_err(&raw("n = int")).to_string().contains("n int"));
    // Without a schema every format reads the whole value as `content`, as in SeaTunnel.
    assert_eq!(
        kafka(&job_with("    format = raw")).output_schema().fields[0].name,
        CONTENT_FIELD
    );

    let avro = |fields: &str| {
        job_with(&format!(
            "    format = avro\n    schema = {{ fields {{ {fields} }} }}"
        ))
    };
    let error = parse_err(&avro("id = int, at = time"));
    assert!(
        error
            .to_string()
            .contains("field 'at' is time, which has no Avro type"),
        "{error}"
    );
    let error = parse_err(&avro("m = \"map<int, string>\""));
    assert!(
        error.to_string().contains("Avro map keys are strings"),
        "{error}"
    );
    kafka(&avro(
        "m = \"map<string, array<int>>\", d = \"decimal(10, 2)\"",
    ));

    let source = kafka(&job_with(
        "    format = debezium_json\n    debezium_record_include_schema = false",
    ));
    assert_eq!(source.debezium_record_include_schema, Some(false));
    let error = parse_err(&job_with("    debezium_record_include_schema = true"));
    assert_eq!(
        error.path(),
        Some("source.Kafka.debezium_record_include_schema")
    );
    assert!(
        error
            .to_string()
            .contains("is only used with format = debezium_json, not json"),
        "{error}"
    );
}
