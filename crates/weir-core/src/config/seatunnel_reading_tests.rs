//! How Weir reads the rest of a SeaTunnel job text, option by option: env keys of other
//! engines, FakeSource split and size options, Java client properties of the Kafka source,
//! file sink options that need `have_partition` or Kerberos, plugin parallelism, transforms,
//! placeholders, plugin-name case and repeated blocks. Each accepted SeaTunnel form either
//! changes what runs or says (as a warning) why it does not.

use super::test_host::TestHost;
use super::*;

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
fn fake_source_split_options_are_accepted_with_a_warning_when_they_change_no_row() {
    let split = |options: &str| {
        parse(&format!(
            "source {{\n  FakeSource {{\n    row.num = 10000\n{options}\n    schema = {{ fields {{ id = bigint }} }}\n  }}\n}}\nsink {{ Console {{}} }}"
        ))
    };
    let job = split("    split.num = 5\n    split.read-interval = 3000").unwrap();
    let SourceConfig::FakeSource(source) = &job.source else {
        panic!("FakeSource expected: {:?}", job.source);
    };
    assert_eq!(source.row_num, Some(10000));
    assert_eq!(job.warnings.len(), 2, "{:?}", job.warnings);
    assert!(
        job.warnings[0].starts_with("job.conf:4: 'source.FakeSource.split.num' is ignored: "),
        "{}",
        job.warnings[0]
    );
    assert!(
        job.warnings[1]
            .starts_with("job.conf:5: 'source.FakeSource.split.read-interval' is ignored: ")
            && job.warnings[1].contains("rows_per_second"),
        "{}",
        job.warnings[1]
    );
    // Where splitting could change the row count, it is refused with the reason.
    let uneven = split("    split.num = 3").unwrap_err();
    assert_eq!(uneven.path(), Some("source.FakeSource.split.num"));
    assert_eq!(uneven.line(), Some(4));
    assert!(
        uneven
            .to_string()
            .contains("does not divide row.num = 10000"),
        "{uneven}"
    );
    let zero = split("    split.num = 0").unwrap_err();
    assert!(zero.to_string().contains("at least 1"), "{zero}");
    let word = split("    split.read-interval = soon").unwrap_err();
    assert!(word.to_string().contains("non-negative integer"), "{word}");
    // Other split options stay unknown.
    let other = split("    split.size = 3").unwrap_err();
    assert!(
        other
            .to_string()
            .contains("unknown option 'source.FakeSource.split.size'"),
        "{other}"
    );
}

#[test]
fn java_consumer_properties_without_meaning_are_accepted_with_a_warning() {
    let kafka = |config: &str| {
        parse(&format!(
            "source {{\n  Kafka {{\n    bootstrap.servers = \"k:9092\"\n    topic = t\n    kafka.config = {{\n{config}\n    }}\n  }}\n}}\nsink {{ Console {{}} }}"
        ))
    };
    let job = kafka(
        "      client.id = client_1\n      max.poll.records = 500\n      enable.auto.commit = \"false\"",
    )
    .unwrap();
    let SourceConfig::Kafka(source) = &job.source else {
        panic!("Kafka expected: {:?}", job.source);
    };
    // Only what librdkafka knows is passed on.
    let keys: Vec<&String> = source.kafka_config.0.keys().collect();
    assert_eq!(keys, ["client.id"]);
    assert_eq!(job.warnings.len(), 2, "{:?}", job.warnings);
    assert!(
        job.warnings[0]
            .starts_with("job.conf:7: 'source.Kafka.kafka.config.max.poll.records' is ignored: "),
        "{}",
        job.warnings[0]
    );
    assert!(
        job.warnings[1]
            .starts_with("job.conf:8: 'source.Kafka.kafka.config.enable.auto.commit' is ignored: "),
        "{}",
        job.warnings[1]
    );
    // Quoted as one key, and a boolean false: the same.
    let quoted =
        kafka("      \"max.poll.records\" = 1\n      \"enable.auto.commit\" = false").unwrap();
    assert_eq!(quoted.warnings.len(), 2, "{:?}", quoted.warnings);
    // Auto-commit asked for is still refused, naming the option.
    let on = kafka("      enable.auto.commit = true").unwrap_err();
    assert_eq!(
        on.path(),
        Some("source.Kafka.kafka.config.enable.auto.commit")
    );
    assert!(
        on.to_string().contains("Weir commits offsets itself"),
        "{on}"
    );
}

#[test]
fn java_client_forms_of_kafka_settings_are_read_as_librdkafkas() {
    let kafka = |options: &str| {
        parse(&format!(
            "source {{\n  Kafka {{\n    bootstrap.servers = \"k:9092\"\n    topic = t\n{options}\n  }}\n}}\nsink {{ Console {{}} }}"
        ))
    };
    let properties = |job: &JobConfig| match &job.source {
        SourceConfig::Kafka(source) => source.kafka_config.0.clone(),
        other => panic!("Kafka expected: {other:?}"),
    };
    // PLAIN and SCRAM credentials of sasl.jaas.config become sasl.username and sasl.password.
    let job = kafka(
        "    kafka.config = {\n      sasl.mechanism = \"SCRAM-SHA-512\"\n      sasl.jaas.config = \"org.apache.kafka.common.security.scram.ScramLoginModule required username=\\\"admin\\\" password=\\\"s3cret\\\";\"\n    }",
    )
    .unwrap();
    let config = properties(&job);
    assert_eq!(config["sasl.username"], "admin");
    assert_eq!(config["sasl.password"], "s3cret");
    assert!(!config.contains_key("sasl.jaas.config"), "{config:?}");
    assert!(job.warnings.is_empty(), "{:?}", job.warnings);
    // Kerberos in any of its forms: refused, saying so, naming the option, never the value.
    for (options, option, line) in [
        (
            "    kafka.config = {\n      sasl.jaas.config = \"com.sun.security.auth.module.Krb5LoginModule required useKeyTab=true keyTab=\\\"/k\\\" principal=\\\"s3cret@X\\\";\"\n    }",
            "sasl.jaas.config",
            6,
        ),
        (
            "    kafka.config = {\n      java.security.krb5.conf = \"/etc/krb5.conf\"\n    }",
            "java.security.krb5.conf",
            6,
        ),
        (
            "    kafka.config = {\n      sasl.mechanism = GSSAPI\n    }",
            "sasl.mechanism",
            6,
        ),
    ] {
        let error = kafka(options).unwrap_err();
        assert_eq!(
            error.path(),
            Some(format!("source.Kafka.kafka.config.{option}").as_str())
        );
        assert_eq!(error.line(), Some(line), "{error}");
        let text = error.to_string();
        assert!(text.contains("Kerberos is not supported yet"), "{text}");
        assert!(!text.contains("s3cret"), "{text}");
    }
    let other = kafka(
        "    kafka.config = { sasl.jaas.config = \"org.apache.kafka.common.security.oauthbearer.OAuthBearerLoginModule required;\" }",
    )
    .unwrap_err();
    assert!(
        other
            .to_string()
            .contains("OAuthBearerLoginModule has no librdkafka equivalent"),
        "{other}"
    );
    let broken =
        kafka("    kafka.config = { sasl.jaas.config = \"x password=\\\"s3cret\" }").unwrap_err();
    assert!(!broken.to_string().contains("s3cret"), "{broken}");
    // The legacy plugin-level form, with a warning; Java's `none` is librdkafka's `error`.
    let legacy = kafka("    kafka.auto.offset.reset = none\n    kafka.client.id = c").unwrap();
    let config = properties(&legacy);
    assert_eq!(config["auto.offset.reset"], "error");
    assert_eq!(config["client.id"], "c");
    assert_eq!(legacy.warnings.len(), 2, "{:?}", legacy.warnings);
    assert!(
        legacy.warnings[0].starts_with(
            "job.conf:5: 'source.Kafka.kafka.auto.offset.reset' is read as \
             'kafka.config.auto.offset.reset': the legacy form"
        ),
        "{}",
        legacy.warnings[0]
    );
    let both = kafka("    kafka.client.id = c\n    kafka.config = { client.id = d }").unwrap_err();
    assert!(both.to_string().contains("keep one"), "{both}");
}

#[test]
fn kerberos_options_of_file_sinks_are_refused_saying_so() {
    let error = parse(&format!(
        "{FAKE}\nsink {{\n  HdfsFile {{\n    fs.defaultFS = \"hdfs://nn:9000\"\n    path = \"/a\"\n    kerberos_principal = \"u@X\"\n  }}\n}}"
    ))
    .unwrap_err();
    assert_eq!(error.path(), Some("sink.HdfsFile.kerberos_principal"));
    assert_eq!(error.line(), Some(6));
    assert!(
        error.to_string().contains("Kerberos is not supported yet"),
        "{error}"
    );
}

#[test]
fn partition_options_without_have_partition_are_accepted_with_a_warning() {
    let local = |options: &str| {
        parse(&format!(
            "{FAKE}\nsink {{\n  LocalFile {{\n    path = \"/tmp/a\"\n{options}\n  }}\n}}"
        ))
    };
    for options in [
        "    partition_by = [id]\n    partition_dir_expression = \"${k0}=${v0}\"",
        "    have_partition = false\n    partition_by = [id]\n    partition_dir_expression = \"${k0}=${v0}\"",
    ] {
        let job = local(options).unwrap();
        let SinkConfig::LocalFile(sink) = &job.sink else {
            panic!("LocalFile expected: {:?}", job.sink);
        };
        assert!(!sink.have_partition && sink.partition_by.is_empty());
        assert_eq!(sink.partition_dir_expression, None);
        assert_eq!(job.warnings.len(), 2, "{:?}", job.warnings);
        assert!(
            job.warnings[0].contains("'sink.LocalFile.partition_by' is ignored: have_partition"),
            "{}",
            job.warnings[0]
        );
        assert!(
            job.warnings[1].contains("'sink.LocalFile.partition_dir_expression' is ignored"),
            "{}",
            job.warnings[1]
        );
    }
    // With have_partition = true they are used, without a warning.
    let used = local("    have_partition = true\n    partition_by = [id]").unwrap();
    assert!(used.warnings.is_empty(), "{:?}", used.warnings);
    let SinkConfig::LocalFile(sink) = &used.sink else {
        panic!("LocalFile expected: {:?}", used.sink);
    };
    assert_eq!(sink.partition_by, ["id"]);
}

#[test]
fn fake_source_takes_seatunnels_value_sizes_within_bounds() {
    let fake = |options: &str| {
        parse(&format!(
            "source {{\n  FakeSource {{\n    row.num = 10\n{options}\n    schema = {{ fields {{ m = \"map<string, array<int>>\", b = bytes }} }}\n  }}\n}}\nsink {{ Console {{}} }}"
        ))
    };
    let job = fake("    map.size = 10\n    array.size = 3\n    bytes.length = 7").unwrap();
    let SourceConfig::FakeSource(source) = &job.source else {
        panic!("FakeSource expected: {:?}", job.source);
    };
    assert_eq!(
        (source.map_size, source.array_size, source.bytes_length),
        (10, 3, 7)
    );
    // SeaTunnel's defaults.
    let SourceConfig::FakeSource(defaults) = fake("").unwrap().source else {
        panic!("FakeSource expected");
    };
    assert_eq!(
        (
            defaults.map_size,
            defaults.array_size,
            defaults.bytes_length
        ),
        (5, 5, 5)
    );
    let big = fake("    array.size = 65537").unwrap_err();
    assert_eq!(big.path(), Some("source.FakeSource.array.size"));
    assert!(big.to_string().contains("at most 65536"), "{big}");
    // Nested collections multiply: 65536 entries of 65536 ints is refused before it runs.
    let nested = fake("    map.size = 65536\n    array.size = 65536").unwrap_err();
    assert_eq!(nested.path(), Some("source.FakeSource.schema"));
    assert!(nested.to_string().contains("lower them"), "{nested}");
}

#[test]
fn a_plugin_parallelism_must_be_the_jobs() {
    // Without env.parallelism, the first plugin's is the job's.
    let job = parse("source { FakeSource {\n parallelism = 3\n row.num = 1, schema = { fields { id = bigint } } } }\nsink { Console { parallelism = 3 } }").unwrap();
    assert_eq!(job.env.parallelism, 3);
    let sink_only = parse(&format!("{FAKE}\nsink {{ Console {{ parallelism = 2 }} }}")).unwrap();
    assert_eq!(sink_only.env.parallelism, 2);
    let differ = parse("source { FakeSource {\n parallelism = 3\n row.num = 1, schema = { fields { id = bigint } } } }\nsink {\n Console {\n parallelism = 2 } }").unwrap_err();
    assert_eq!(differ.path(), Some("sink.Console.parallelism"));
    assert_eq!(differ.line(), Some(6));
    assert!(
        differ
            .to_string()
            .contains("but source.FakeSource.parallelism is 3"),
        "{differ}"
    );
    let zero = parse(&format!("{FAKE}\nsink {{ Console {{ parallelism = 0 }} }}")).unwrap_err();
    assert!(zero.to_string().contains("at least 1"), "{zero}");
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
fn an_empty_transform_is_accepted_and_sql_is_refused_with_the_reason() {
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
fn placeholders_inside_strings_take_job_variables_and_defaults() {
    let text = "env {\n  job.name = \"${jobName:fallback}\"\n}\nsource { FakeSource { row.num = \"${rowNum:50}\", schema = { fields { id = bigint } } } }\nsink {\n  LocalFile {\n    path = \"/tmp/${dir}\"\n    file_format_type = \"${fmt}\"\n    file_name_expression = \"${transactionId}_${now}\"\n  }\n}";
    let host = TestHost::default()
        .with_variable("fmt", "json")
        .with_variable("rowNum", "7")
        // Environment variables fill only unquoted substitutions, as in SeaTunnel.
        .with_env("dir", "from-env");
    let file = host.parse(text).unwrap();
    let SinkConfig::LocalFile(sink) = &file.config.sink else {
        panic!("LocalFile expected: {:?}", file.config.sink);
    };
    assert_eq!(sink.file_format_type, FileFormat::Json);
    assert_eq!(sink.path, "/tmp/${dir}");
    assert_eq!(sink.file_name_expression, "${transactionId}_${now}");
    let SourceConfig::FakeSource(source) = &file.config.source else {
        panic!("FakeSource expected");
    };
    assert_eq!(source.row_num, Some(7));
    assert_eq!(file.config.env.job_name.as_deref(), Some("fallback"));
    // What the master receives is filled in, and the master parses it to the same job.
    assert!(file.resolved);
    let on_master = parse_job(&file.text, "job.conf", &ParsePolicy::SelfContained).unwrap();
    assert_eq!(on_master.sink, file.config.sink);
    // The master itself fills only the written defaults.
    let sent = parse_job(text, "job.conf", &ParsePolicy::SelfContained).unwrap_err();
    assert!(sent.to_string().contains("${fmt}"), "{sent}");
}

#[test]
fn table_placeholders_of_sink_options_name_the_sources_table() {
    let kafka = |topic: &str| {
        parse(&format!(
            "source {{ Kafka {{ bootstrap.servers = \"k:9092\", topic = \"{topic}\" }} }}\nsink {{\n  LocalFile {{\n    path = \"/data/${{table_full_name}}/${{table_name}}/${{database_name:db}}\"\n  }}\n}}"
        ))
    };
    let path = |job: JobConfig| match job.sink {
        SinkConfig::LocalFile(sink) => sink.path,
        other => panic!("LocalFile expected: {other:?}"),
    };
    // A default is filled when the job is read, as SeaTunnel's job loader fills it: a
    // variable of that name is refused, so it always applies.
    assert_eq!(path(kafka("orders").unwrap()), "/data/orders/orders/db");
    assert_eq!(
        path(kafka("shop.orders").unwrap()),
        "/data/shop.orders/orders/db"
    );
    let several = kafka("a,b").unwrap_err();
    assert_eq!(several.path(), Some("sink.LocalFile.path"));
    assert_eq!(several.line(), Some(4));
    assert!(several.to_string().contains("several topics"), "{several}");
    let fake = |options: &str| {
        path(
            parse(&format!(
                "source {{ FakeSource {{ row.num = 1, {options} schema = {{ fields {{ id = bigint }} }} }} }}\nsink {{ LocalFile {{ path = \"/t/${{table_full_name}}/${{k0}}\" }} }}"
            ))
            .unwrap(),
        )
    };
    assert_eq!(fake(""), "/t/default.default.default/${k0}");
    assert_eq!(fake("plugin_output = fake,"), "/t/fake/${k0}");
}

#[test]
fn a_fake_source_without_row_num_generates_seatunnels_five_rows() {
    let fake = |env: &str| {
        let job = parse(&format!(
            "env {{ {env} }}\nsource {{ FakeSource {{ schema = {{ fields {{ id = bigint }} }} }} }}\nsink {{ Console {{}} }}"
        ))
        .unwrap();
        let SourceConfig::FakeSource(source) = job.source else {
            panic!("FakeSource expected");
        };
        source.row_num
    };
    assert_eq!(fake("job.mode = \"BATCH\""), Some(5));
    assert_eq!(fake("\"job.mode\" = batch"), Some(5));
    assert_eq!(fake("job.mode = \"STREAMING\""), Some(5));
    assert_eq!(fake(""), Some(5));
}

#[test]
fn unbounded_is_weirs_endless_fake_source_and_excludes_a_row_count() {
    let fake = |options: &str| {
        parse(&format!(
            "source {{\n  FakeSource {{\n    {options}\n    schema = {{ fields {{ id = bigint }} }}\n  }}\n}}\nsink {{ Console {{}} }}"
        ))
    };
    let job = fake("unbounded = true").unwrap();
    let SourceConfig::FakeSource(source) = job.source else {
        panic!("FakeSource expected");
    };
    assert_eq!((source.row_num, source.unbounded), (None, true));
    let both = fake("unbounded = true, row.num = 10").unwrap_err();
    assert_eq!(both.path(), Some("source.FakeSource.unbounded"));
    assert!(both.to_string().contains("row.num"), "{both}");
    let with_rows = fake("unbounded = true, rows = [ { fields = [1] } ]").unwrap_err();
    assert_eq!(with_rows.path(), Some("source.FakeSource.unbounded"));
    assert!(with_rows.to_string().contains("rows"), "{with_rows}");
}

#[test]
fn plugin_names_are_read_ignoring_case_as_seatunnel_reads_them() {
    let job = parse(
        "source {\n  fakesource {\n    row.num = 1\n    schema = { fields { id = bigint } }\n  }\n}\ntransform {\n  fieldmapper { field_mapper = { id = key } }\n}\nsink { localfile { path = \"/tmp/a\" } }",
    )
    .unwrap();
    assert!(matches!(job.source, SourceConfig::FakeSource(_)));
    assert!(matches!(job.sink, SinkConfig::LocalFile(_)));
    // Errors name the block as it is written, on its line.
    let error = parse("source {\n  fakesource {\n    row.num = ten\n    schema = { fields { id = bigint } }\n  }\n}\nsink { console {} }").unwrap_err();
    assert_eq!(error.path(), Some("source.fakesource.row.num"));
    assert_eq!(error.line(), Some(3));
    let sql = parse(&format!(
        "{FAKE}\ntransform {{\n  sql {{ query = \"select 1\" }}\n}}\nsink {{ Console {{}} }}"
    ))
    .unwrap_err();
    assert!(
        sql.to_string()
            .contains("Sql transform is not supported yet"),
        "{sql}"
    );
}

#[test]
fn a_key_set_twice_to_the_same_value_is_accepted() {
    let twice = |env: &str| {
        parse(&format!(
            "env {{\n{env}\n}}\n{FAKE}\nsink {{ Console {{}} }}"
        ))
    };
    assert!(twice("  job.mode = \"BATCH\"\n  job.mode = \"BATCH\"").is_ok());
    let different = twice("  job.mode = \"BATCH\"\n  job.mode = \"STREAMING\"").unwrap_err();
    assert_eq!(different.line(), Some(3));
    // A number and a string of the same digits are not the same value.
    assert!(twice("  parallelism = 1\n  parallelism = \"1\"").is_err());
    // Settings of other engines are dropped, whatever they say.
    let flink = twice(
        "  flink.restart-strategy = \"fixed-delay\"\n  flink.restart-strategy.fixed-delay.attempts = 2",
    )
    .unwrap();
    assert_eq!(flink.warnings.len(), 1, "{:?}", flink.warnings);
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

#[test]
fn repeated_transform_blocks_are_transforms_of_their_own() {
    let job = |second: &str| {
        parse(&format!(
            "source {{ FakeSource {{ row.num = 1, plugin_output = fake, schema = {{ fields {{ s = string }} }} }} }}\ntransform {{\n  Replace {{\n    plugin_input = fake\n    plugin_output = once\n    replace_field = s\n    pattern = a\n    replacement = b\n  }}\n  Replace {{\n    plugin_input = once\n    plugin_output = twice\n{second}\n  }}\n}}\nsink {{ Console {{ plugin_input = twice }} }}"
        ))
    };
    let chained = job("    replace_field = s\n    pattern = b\n    replacement = c").unwrap();
    assert_eq!(chained.transform.configs().len(), 2);
    let row = crate::row::Row::new(vec![crate::row::Value::String("abc".into())]);
    let out = chained.transform.apply(row).unwrap();
    assert_eq!(out.values[0], crate::row::Value::String("ccc".into()));
    // An error in the second block names it, on its own line.
    let error =
        job("    replace_field = missing\n    pattern = b\n    replacement = c").unwrap_err();
    assert_eq!(
        error.path(),
        Some("transform.Replace#2.replace_field"),
        "{error}"
    );
    assert_eq!(error.line(), Some(13), "{error}");
}
