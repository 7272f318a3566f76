//! `sink { HdfsFile { } }` and `sink { LocalFile { } }` options.

use super::tests::{FAKE, parse};
use super::*;

fn file_sink(plugin: &str, options: &str) -> Result<FileSinkConfig, ConfigError> {
    let job = parse(&format!(
        "{FAKE}\nsink {{\n  {plugin} {{\n{options}\n  }}\n}}"
    ))?;
    match job.sink {
        SinkConfig::HdfsFile(config) | SinkConfig::LocalFile(config) => Ok(config),
        other => panic!("file sink expected, parsed {other:?}"),
    }
}

fn file_sink_err(plugin: &str, options: &str) -> ConfigError {
    match file_sink(plugin, options) {
        Ok(config) => panic!("expected an error, parsed {config:?}"),
        Err(error) => error,
    }
}

const HDFS: &str = "    fs.defaultFS = \"hdfs://nn:9000\"\n    path = /data/orders";

#[test]
fn file_sink_defaults_follow_seatunnel() {
    let config = file_sink("HdfsFile", HDFS).unwrap();
    assert_eq!(config.fs_default_fs.as_deref(), Some("hdfs://nn:9000"));
    assert_eq!(config.path, "/data/orders");
    assert_eq!(config.tmp_path(), "/data/.weir-tmp");
    assert_eq!(config.file_format_type, FileFormat::Text);
    assert_eq!(config.field_delimiter(), "\u{1}");
    assert_eq!(config.row_delimiter, "\n");
    assert_eq!(config.compress_codec, CompressCodec::None);
    assert!(!config.have_partition && config.partition_by.is_empty());
    assert!(!config.is_partition_field_write_in_file);
    assert_eq!(config.file_name_expression, "${transactionId}");
    assert_eq!(config.filename_time_format, "yyyy.MM.dd");
    assert!(config.is_enable_transaction);
    assert_eq!(config.batch_size, 1_000_000);
    assert_eq!(config.rolling_file_size, ByteSize(128 << 20));
    assert_eq!(config.rolling_interval_ms, 0);
    assert_eq!(config.write_buffer_bytes, ByteSize(96 << 10));
    assert_eq!(config.max_open_files, 16);
    assert_eq!(config.sink_columns, None);
    let mut expected = FileSinkConfig::new("/data/orders");
    expected.fs_default_fs = Some("hdfs://nn:9000".into());
    assert_eq!(config, expected);
}

#[test]
fn file_sink_options_parse_sizes_lists_and_maps() {
    let config = file_sink(
        "LocalFile",
        r#"    path = "file:///tmp/out/"
    tmp_path = /tmp/staging
    file_format_type = CSV
    field_delimiter = ";"
    compress_codec = gzip
    have_partition = true
    partition_by = ["day", "country"]
    partition_dir_expression = "${v0}/c=${v1}"
    file_name_expression = "${job_id}-${subtask}-${checkpoint}-${now}"
    filename_time_format = "yyyyMMdd"
    batch_size = 10
    rolling.file_size = "64 KiB"
    rolling.interval = 60000
    write.buffer_bytes = 4096
    max_open_files = 4
    sink_columns = "id, name""#,
    )
    .unwrap();
    assert_eq!(config.tmp_path(), "/tmp/staging");
    assert_eq!(config.file_format_type, FileFormat::Csv);
    assert_eq!(config.field_delimiter(), ";");
    assert_eq!(config.partition_by, ["day", "country"]);
    assert_eq!(config.partition_dir_expression(), "${v0}/c=${v1}");
    assert_eq!(config.rolling_file_size, ByteSize(64 << 10));
    assert_eq!(config.write_buffer_bytes, ByteSize(4096));
    assert_eq!(
        config.sink_columns,
        Some(vec!["id".to_string(), "name".to_string()])
    );
    let json = serde_json::to_string(&config).unwrap();
    assert!(json.contains(r#""rolling.file_size":"64KiB""#), "{json}");
    assert_eq!(
        serde_json::from_str::<FileSinkConfig>(&json).unwrap(),
        config
    );

    let hdfs = file_sink(
        "HdfsFile",
        &format!("{HDFS}\n    remote_user = etl\n    hdfs.config = {{ dfs.nameservices = ns1 }}"),
    )
    .unwrap();
    assert_eq!(hdfs.hdfs_config.get("dfs.nameservices"), Some("ns1"));
    assert_eq!(hdfs.remote_user.as_deref(), Some("etl"));
}

#[test]
fn file_sink_buffer_bytes_count_every_open_file() {
    let mut config = FileSinkConfig::new("/data/x");
    let job = |sink: SinkConfig| sink.buffer_bytes();
    let buffer = 96 << 10;
    // The open file's buffer, and the last buffer of a rolled file closing in the background.
    assert_eq!(job(SinkConfig::LocalFile(config.clone())), 2 * buffer);
    // On HDFS each of the two also holds a pipeline.
    assert_eq!(
        job(SinkConfig::HdfsFile(config.clone())),
        buffer + 2 * (buffer + HDFS_WRITE_PIPELINE_BYTES)
    );
    config.have_partition = true;
    config.partition_by = vec!["day".into()];
    config.compress_codec = CompressCodec::Gzip;
    assert_eq!(
        job(SinkConfig::LocalFile(config.clone())),
        16 * (buffer + GZIP_ENCODER_BYTES) + buffer
    );
}

#[test]
fn hdfs_in_flight_bytes_bound_what_the_open_files_hold_together() {
    let mut config = FileSinkConfig::new("/data/x");
    assert_eq!(config.open_files_bound(), 1);
    assert_eq!(config.in_flight_limit(FileSystemKind::Local), None);
    assert_eq!(
        config.in_flight_limit(FileSystemKind::Hdfs),
        Some(DEFAULT_HDFS_IN_FLIGHT_BYTES)
    );
    // One file: its pipeline and the output buffer it holds, under the default bound.
    let per_file = HDFS_WRITE_PIPELINE_BYTES + (96 << 10);
    assert_eq!(config.in_flight_bytes(FileSystemKind::Hdfs), per_file);
    assert_eq!(config.in_flight_bytes(FileSystemKind::Local), 0);
    config.have_partition = true;
    config.partition_by = vec!["day".into()];
    assert_eq!(config.open_files_bound(), 16, "max_open_files");
    // 16 pipelines could hold 218 MiB: the bound counts instead.
    assert_eq!(
        config.in_flight_bytes(FileSystemKind::Hdfs),
        DEFAULT_HDFS_IN_FLIGHT_BYTES
    );
    assert_eq!(
        SinkConfig::HdfsFile(config.clone()).buffer_bytes(),
        16 * (96 << 10) + DEFAULT_HDFS_IN_FLIGHT_BYTES + per_file
    );
    config.write_max_in_flight_bytes = Some(ByteSize(1 << 30));
    assert_eq!(config.in_flight_bytes(FileSystemKind::Hdfs), 16 * per_file);
    // A bound below one output buffer still lets one buffer through.
    config.write_max_in_flight_bytes = Some(ByteSize(1));
    assert_eq!(config.in_flight_bytes(FileSystemKind::Hdfs), 96 << 10);

    let parsed = file_sink(
        "HdfsFile",
        &format!("{HDFS}\n    write.max_in_flight_bytes = 32MiB"),
    )
    .unwrap();
    assert_eq!(parsed.write_max_in_flight_bytes, Some(ByteSize(32 << 20)));
    let error = file_sink_err(
        "LocalFile",
        "path = \"/tmp/x\"\n    write.max_in_flight_bytes = 32MiB",
    );
    assert!(
        error.to_string().contains("write.max_in_flight_bytes")
            && error.to_string().contains("only used by HdfsFile"),
        "{error}"
    );
}

#[test]
fn unknown_file_sink_option_names_its_line() {
    let error = file_sink_err("HdfsFile", &format!("{HDFS}\n    rolling.file_sise = 1"));
    assert_eq!(error.path(), Some("sink.HdfsFile.rolling.file_sise"));
    assert_eq!(error.line(), Some(6));
    assert!(
        error
            .to_string()
            .contains("did you mean 'rolling.file_size'?"),
        "{error}"
    );
}

#[test]
fn hdfs_file_requires_default_fs_and_local_file_rejects_it() {
    let error = file_sink_err("HdfsFile", "    path = /data/x");
    assert_eq!(error.path(), Some("sink.HdfsFile.fs.defaultFS"));
    assert!(
        error.to_string().contains("missing required option"),
        "{error}"
    );

    let error = file_sink_err("LocalFile", HDFS);
    assert_eq!(error.path(), Some("sink.LocalFile.fs.defaultFS"));
    assert_eq!(error.line(), Some(4));
    assert!(
        error.to_string().contains("only used by HdfsFile"),
        "{error}"
    );

    let error = file_sink_err("LocalFile", "    path = /x/y\n    remote_user = etl");
    assert_eq!(error.path(), Some("sink.LocalFile.remote_user"));

    let error = file_sink_err(
        "HdfsFile",
        "    fs.defaultFS = \"hdfs://nn:9000/data\"\n    path = /x",
    );
    assert!(error.to_string().contains("without a path"), "{error}");
    let error = file_sink_err("HdfsFile", "    fs.defaultFS = \"s3a://b\"\n    path = /x");
    assert!(error.to_string().contains("hdfs:// URL"), "{error}");
}

#[test]
fn file_sink_combinations_are_checked() {
    let cases = [
        ("    path = relative/dir", "path", "absolute path"),
        ("    path = /", "path", "root"),
        (
            "    path = /a/b\n    tmp_path = /a/b/tmp",
            "tmp_path",
            "outside 'path'",
        ),
        (
            "    path = /a/b\n    tmp_path = /a",
            "tmp_path",
            "outside 'path'",
        ),
        (
            "    path = /a/b\n    is_enable_transaction = false",
            "is_enable_transaction",
            "always writes files transactionally",
        ),
        (
            "    path = /a/b\n    file_format_type = json\n    field_delimiter = \",\"",
            "field_delimiter",
            "only used with",
        ),
        (
            "    path = /a/b\n    have_partition = true",
            "partition_by",
            "is required",
        ),
        (
            "    path = /a/b\n    have_partition = true\n    partition_by = [a]\n    partition_dir_expression = \"${k1}\"",
            "partition_dir_expression",
            "${k1}",
        ),
        (
            "    path = /a/b\n    file_name_expression = \"part-${now}\"",
            "file_name_expression",
            "must contain ${transactionId}",
        ),
        (
            "    path = /a/b\n    file_name_expression = \"${transactionId}-${uuid}\"",
            "file_name_expression",
            "unknown variable ${uuid}",
        ),
        (
            "    path = /a/b\n    filename_time_format = \"yyyy-QQ\"",
            "filename_time_format",
            "'Q'",
        ),
        (
            "    path = /a/b\n    batch_size = 0",
            "batch_size",
            "at least 1",
        ),
        (
            "    path = /a/b\n    write.buffer_bytes = \"12 parsecs\"",
            "write.buffer_bytes",
            "512MiB",
        ),
        (
            "    path = /a/b\n    sink_columns = [id, id]",
            "sink_columns",
            "twice",
        ),
    ];
    for (options, option, message) in cases {
        let error = file_sink_err("LocalFile", options);
        assert_eq!(
            error.path(),
            Some(format!("sink.LocalFile.{option}").as_str()),
            "{options}: {error}"
        );
        assert!(error.to_string().contains(message), "{options}: {error}");
    }
}

#[test]
fn file_name_templates_and_time_formats_render() {
    let template = Template::parse("${transactionId}-x-${now}").unwrap();
    assert_eq!(
        template.variables().collect::<Vec<_>>(),
        ["transactionId", "now"]
    );
    let rendered = template.render(|name| Some(name.to_uppercase()));
    assert_eq!(rendered, "TRANSACTIONID-x-NOW");
    assert!(Template::parse("a${b").is_err());
    // 2024-02-29T13:04:05.678Z
    let millis = 1_709_211_845_678;
    assert_eq!(
        format_utc_time("yyyy.MM.dd HH:mm:ss.SSS yy", millis).unwrap(),
        "2024.02.29 13:04:05.678 24"
    );
    assert_eq!(format_utc_time("yyyy-MM-dd", 0).unwrap(), "1970-01-01");
    assert!(format_utc_time("yyyy/MM", 0).is_err());
}
