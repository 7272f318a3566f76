//! SeaTunnel options read besides the sections' own ones: the file sinks' save modes
//! ([`super::compat_sink`]), FakeSource's `rows` and `schema.columns`, and their rows of
//! docs/seatunnel.md.

use super::compat_sink::LEGACY_SAVE_MODE;
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
fn save_modes_are_read_in_any_case_and_unknown_ones_refused() {
    let modes = |options: &str| {
        local(options).map(|job| match job.sink {
            SinkConfig::LocalFile(sink) => (sink.schema_save_mode, sink.data_save_mode),
            other => panic!("LocalFile expected: {other:?}"),
        })
    };
    assert_eq!(
        modes("").unwrap(),
        (
            SchemaSaveMode::CreateSchemaWhenNotExist,
            DataSaveMode::AppendData
        )
    );
    assert_eq!(
        modes(
            "    \"schema_save_mode\" = \"recreate_schema\"\n    \"data_save_mode\" = \"DROP_DATA\""
        )
        .unwrap(),
        (SchemaSaveMode::RecreateSchema, DataSaveMode::DropData)
    );
    assert_eq!(
        modes("    schema_save_mode = ERROR_WHEN_SCHEMA_NOT_EXIST\n    data_save_mode = ERROR_WHEN_DATA_EXISTS")
            .unwrap(),
        (
            SchemaSaveMode::ErrorWhenSchemaNotExist,
            DataSaveMode::ErrorWhenDataExists
        )
    );
    let hdfs = parse(&format!(
        "{FAKE}\nsink {{ HdfsFile {{ fs.defaultFS = \"hdfs://nn:9000\", path = \"/a\", data_save_mode = DROP_DATA }} }}"
    ));
    assert!(hdfs.is_ok(), "{hdfs:?}");
    // An unknown value lists the known ones, naming the option and its line.
    let unknown = local("    data_save_mode = CUSTOM_PROCESSING").unwrap_err();
    assert_eq!(unknown.path(), Some("sink.LocalFile.data_save_mode"));
    assert_eq!(unknown.line(), Some(5));
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
    let mut out = String::from(
        "| file sink `schema_save_mode` | supported, every value, as SeaTunnel's file sinks \
         apply them to `path`: `CREATE_SCHEMA_WHEN_NOT_EXIST` (the default), `IGNORE`, \
         `RECREATE_SCHEMA` (deletes `path` with all in it, creates it again), \
         `ERROR_WHEN_SCHEMA_NOT_EXIST`; applied when the job starts from no checkpoint (its \
         first start, or a restart before its first checkpoint completed, when nothing of it \
         is committed), by every subtask on its worker's file system, never on a recovery \
         from a checkpoint |\n\
         | file sink `data_save_mode` | supported, every value, the same way: `APPEND_DATA` \
         (the default), `DROP_DATA` (deletes what is under `path`), `ERROR_WHEN_DATA_EXISTS` \
         (fails the job when something is) |\n",
    );
    out.push_str(&format!(
        "| file sink `save_mode` (any value) | accepted with a warning: {LEGACY_SAVE_MODE} |\n"
    ));
    out.push_str(&format!(
        "| FakeSource `rows` | supported: emitted in order with their `kind`, once per job (by \
         subtask 0, as SeaTunnel's one split), instead of generated rows; values typed by the \
         schema as the Kafka source's JSON reader types them; at most {} rows |\n\
         | `schema.columns` | supported: read as `schema.fields` (`name`, `type`; `nullable` \
         and `comment` accepted, as neither SeaTunnel's Kafka source nor its file sinks check \
         them); `defaultValue`, `columnLength`, `columnScale`, `primaryKey` and \
         `constraintKeys` refused |\n",
        super::fake_rows::MAX_FAKE_ROWS
    ));
    out.push_str(&format!(
        "| file sink `encoding` | supported for text, csv and json: the character sets of \
         the WHATWG Encoding Standard by its labels (UTF-8, GBK, gb18030, Big5, Shift_JIS, \
         EUC-KR, windows-125x, ISO-8859-x, …), except that Java's names of ISO-8859-1 \
         (`latin1`, …) and US-ASCII keep Java's meaning, as SeaTunnel writes through Java \
         (the Encoding Standard reads both as windows-1252); a character the set lacks is \
         written `?`, as Java writes it; UTF-16 and unknown names refused; refused with \
         parquet |\n\
         | HdfsFile `hadoop_conf` | supported: SeaTunnel's name for `hdfs.config`, checked \
         the same way (both set: refused) |\n\
         | HdfsFile `hdfs_site_path` | supported: the weir client reads the file (`weir \
         validate`, `weir submit`, `weir local`; a relative path is relative to the job file; \
         at most 1 MiB) and adds its properties to `hdfs.config` (or `hadoop_conf`), where the \
         job's own settings win; the job sent to the master holds them. A job text sent \
         straight to the master that names one is refused: {} |\n\
         | file sink `enable_header_write` | supported for text and csv (the written \
         columns' names joined by `field_delimiter`, first line of every file); refused with \
         json and parquet |\n",
        super::compat_sink::HDFS_SITE_PATH_REFUSAL
    ));
    out
}

fn fake_rows(rows: &str) -> Result<JobConfig, ConfigError> {
    parse(&format!(
        "source {{\n  FakeSource {{\n    schema = {{ fields {{ s = string, i = int, d = \"decimal(10, 2)\", t = timestamp, a = \"array<int>\", m = \"map<string, string>\", r = {{ x = bigint }} }} }}\n    rows = [\n{rows}\n    ]\n  }}\n}}\nsink {{ Console {{}} }}"
    ))
}

#[test]
fn fake_source_rows_are_typed_by_the_schema_in_order_with_their_kind() {
    use crate::row::{Row, RowKind, Value};
    let job = fake_rows(
        "      { kind = INSERT, fields = [\"1\", 123, \"12.5\", \"2023-04-22T23:20:58\", [1, 2], {\"k\": \"v\"}, [5]] }\n      { kind = UPDATE_AFTER, fields = [null, \"7\", 1, \"2023-04-22 00:00:00\", [], {}, {x = 6}] }\n      { fields = [a, 1, 0, \"2023-04-22T00:00:00\", [], {}, null] }",
    )
    .unwrap();
    let SourceConfig::FakeSource(source) = &job.source else {
        panic!("FakeSource expected: {:?}", job.source);
    };
    let rows = source.rows.as_ref().unwrap();
    assert_eq!(rows.len(), 3);
    let timestamp = |text: &str| {
        Value::Timestamp(chrono::NaiveDateTime::parse_from_str(text, "%Y-%m-%d %H:%M:%S").unwrap())
    };
    assert_eq!(
        rows[0],
        Row::with_kind(
            vec![
                Value::String("1".into()),
                Value::Int(123),
                Value::Decimal {
                    unscaled: 1250,
                    scale: 2
                },
                timestamp("2023-04-22 23:20:58"),
                Value::Array(vec![Value::Int(1), Value::Int(2)]),
                Value::Map(vec![(Value::String("k".into()), Value::String("v".into()))]),
                Value::Row(vec![Value::Bigint(5)]),
            ],
            RowKind::Insert
        )
    );
    assert_eq!(rows[1].kind, RowKind::UpdateAfter);
    assert_eq!(rows[1].values[0], Value::Null);
    assert_eq!(rows[1].values[1], Value::Int(7));
    assert_eq!(rows[1].values[6], Value::Row(vec![Value::Bigint(6)]));
    assert_eq!(rows[2].kind, RowKind::Insert, "INSERT is the default kind");
}

#[test]
fn fake_source_rows_of_a_wrong_shape_name_the_option_the_line_and_the_row() {
    let good = "[1], {}, null]";
    for (row, why) in [
        (
            format!("      {{ kind = MERGE, fields = [a, 1, 1, \"2023-01-01 00:00:00\", {good} }}"),
            "row 1: kind must be INSERT, UPDATE_BEFORE, UPDATE_AFTER or DELETE, found string \"MERGE\"",
        ),
        (
            "      { fields = [a, 1] }".to_string(),
            "row 1 has 2 field values, but the schema has 7 fields",
        ),
        (
            format!("      {{ fields = [a, x, 1, \"2023-01-01 00:00:00\", {good} }}"),
            "row 1: field 'i' is int, found string \"x\"",
        ),
        (
            format!("      {{ fields = [a, 1, 1.234, \"2023-01-01 00:00:00\", {good} }}"),
            "row 1: field 'd' is decimal(10, 2), found number 1.234",
        ),
        (
            format!("      {{ fields = [a, 1, 1, \"2023-01-01 00:00:00\", {good}, row = 1 }}"),
            "row 1 has an unknown key 'row'",
        ),
        ("      [a, 1]".to_string(), "row 1 must be a block"),
        (
            "      { kind = INSERT }".to_string(),
            "row 1 needs `fields = [...]`",
        ),
    ] {
        let error = fake_rows(&row).unwrap_err();
        assert_eq!(error.path(), Some("source.FakeSource.rows"), "{error}");
        assert_eq!(error.line(), Some(4), "{error}");
        assert!(error.to_string().contains(why), "{error}\nexpected: {why}");
    }
}

#[test]
fn schema_columns_read_as_the_same_schema_as_fields() {
    let kafka = |schema: &str| {
        parse(&format!(
            "source {{\n  Kafka {{\n    bootstrap.servers = \"k:9092\"\n    topic = t\n    schema = {{\n{schema}\n    }}\n  }}\n}}\nsink {{ Console {{}} }}"
        ))
    };
    let schema = |job: JobConfig| match job.source {
        SourceConfig::Kafka(source) => source.schema,
        other => panic!("Kafka expected: {other:?}"),
    };
    let columns = kafka(
        "      columns = [\n        { name = id, type = bigint, nullable = false, comment = \"the key\" }\n        { name = m, type = \"map<string, smallint>\" }\n        { name = r, type = { a = int } }\n      ]",
    )
    .unwrap();
    let fields =
        kafka("      fields { id = bigint, m = \"map<string, smallint>\", r = { a = int } }")
            .unwrap();
    assert_eq!(schema(columns), schema(fields));
    for (text, why) in [
        (
            "      columns = [ { name = id, type = bigint, defaultValue = 1 } ]",
            "unknown field `defaultValue`",
        ),
        ("      columns = [ { name = id } ]", "missing field `type`"),
        (
            "      columns = [ { name = id, type = bigint }, { name = id, type = int } ]",
            "duplicate column 'id'",
        ),
        (
            "      columns = [ { name = id, type = bigint } ]\n      fields { id = bigint }",
            "both `fields` and `columns`",
        ),
        (
            "      columns = [ { name = id, type = bigint } ]\n      primaryKey = { name = pk, columnNames = [id] }",
            "unknown key 'primaryKey' in schema",
        ),
    ] {
        let error = kafka(text).unwrap_err();
        assert!(
            error
                .path()
                .is_some_and(|path| path.starts_with("source.Kafka.schema")),
            "{error}"
        );
        // The line of `schema` or of the column.
        assert!(matches!(error.line(), Some(5 | 6)), "{error}");
        assert!(error.to_string().contains(why), "{error}\nexpected: {why}");
    }
}

#[test]
fn encoding_hadoop_conf_and_hdfs_site_path_of_file_sinks() {
    let encoding = |options: &str| {
        local(options).map(|job| match job.sink {
            SinkConfig::LocalFile(sink) => sink.encoding,
            other => panic!("LocalFile expected: {other:?}"),
        })
    };
    assert_eq!(
        encoding("    encoding = \"utf-8\"").unwrap(),
        Charset::UTF_8
    );
    assert_eq!(
        encoding("    encoding = \"gbk\"").unwrap(),
        Charset::for_label("GBK").unwrap()
    );
    let unknown = encoding("    encoding = \"klingon\"").unwrap_err();
    assert_eq!(unknown.path(), Some("sink.LocalFile.encoding"));
    assert_eq!(unknown.line(), Some(5));
    assert!(
        unknown.to_string().contains("not a character set"),
        "{unknown}"
    );
    let utf16 = encoding("    encoding = \"UTF-16LE\"").unwrap_err();
    assert!(utf16.to_string().contains("UTF-16"), "{utf16}");
    let parquet = encoding("    encoding = gbk\n    file_format_type = parquet").unwrap_err();
    assert!(parquet.to_string().contains("only used with"), "{parquet}");
    // Unrepresentable characters become '?', as Java's writer makes them.
    let mut out = Vec::new();
    Charset::for_label("GBK")
        .unwrap()
        .encode_into("测试 ok \u{1F600}", &mut out);
    assert_eq!(out, b"\xb2\xe2\xca\xd4 ok ?");
    // Java's ISO-8859-1 and US-ASCII, not the Encoding Standard's windows-1252 for their labels:
    // in ISO-8859-1, U+0080 is byte 0x80 and the euro sign is not there; windows-1252 has it
    // at 0x80. Java's aliases name them too.
    let encode = |label: &str| {
        let mut out = Vec::new();
        Charset::for_label(label)
            .unwrap()
            .encode_into("é\u{80}€ÿ", &mut out);
        out
    };
    assert_eq!(encode("ISO-8859-1"), b"\xe9\x80?\xff");
    assert_eq!(encode(" latin1"), b"\xe9\x80?\xff");
    assert_eq!(encode("ISO8859_1"), b"\xe9\x80?\xff");
    assert_eq!(encode("US-ASCII"), b"????");
    assert_eq!(encode("windows-1252"), b"\xe9?\x80\xff");
    assert_eq!(
        format!("{:?}", Charset::for_label("l1").unwrap()),
        "ISO-8859-1"
    );
    let hdfs = |options: &str| {
        parse(&format!(
            "{FAKE}\nsink {{\n  HdfsFile {{\n    fs.defaultFS = \"hdfs://ns1\"\n    path = \"/a\"\n{options}\n  }}\n}}"
        ))
    };
    // hadoop_conf is hdfs.config, validated the same way.
    let job = hdfs(
        "    hadoop_conf = { dfs.nameservices = ns1, \"dfs.ha.namenodes.ns1\" = \"nn1,nn2\" }",
    )
    .unwrap();
    let SinkConfig::HdfsFile(sink) = &job.sink else {
        panic!("HdfsFile expected: {:?}", job.sink);
    };
    assert_eq!(
        sink.hdfs_config
            .0
            .get("dfs.nameservices")
            .map(String::as_str),
        Some("ns1")
    );
    let both = hdfs("    hadoop_conf = { a = b }\n    hdfs.config = { a = b }").unwrap_err();
    assert!(both.to_string().contains("keep one"), "{both}");
    // hdfs_site_path: read by the client, its properties added where the job sets none.
    let site = |options: &str| {
        TestHost::default()
            .with_file(
                "/etc/hadoop/hdfs-site.xml",
                "<configuration><property><name>dfs.nameservices</name><value>ns1</value></property><property><name>dfs.ha.namenodes.ns1</name><value>nn1,nn2</value></property></configuration>",
            )
            .with_file("/jobs/bad.xml", "<root/>")
            .parse(&format!(
                "{FAKE}\nsink {{\n  HdfsFile {{\n    fs.defaultFS = \"hdfs://ns1\"\n    path = \"/a\"\n{options}\n  }}\n}}"
            ))
    };
    let file = site("    hdfs_site_path = \"/etc/hadoop/hdfs-site.xml\"\n    hdfs.config = { dfs.nameservices = ns1 }").unwrap();
    let SinkConfig::HdfsFile(sink) = &file.config.sink else {
        panic!("HdfsFile expected: {:?}", file.config.sink);
    };
    assert_eq!(sink.hdfs_config.0["dfs.ha.namenodes.ns1"], "nn1,nn2");
    assert_eq!(sink.hdfs_config.0["dfs.nameservices"], "ns1");
    // The master gets the properties, not the path.
    assert!(
        file.resolved && !file.text.contains("hdfs_site_path"),
        "{}",
        file.text
    );
    let on_master = parse_job(&file.text, "job.conf", &ParsePolicy::SelfContained).unwrap();
    assert_eq!(on_master.sink, file.config.sink);
    let missing = site("    hdfs_site_path = \"missing.xml\"").unwrap_err();
    assert_eq!(missing.path(), Some("sink.HdfsFile.hdfs_site_path"));
    assert_eq!(missing.line(), Some(6));
    assert!(
        missing
            .to_string()
            .contains("/jobs/missing.xml does not exist"),
        "{missing}"
    );
    let bad = site("    hdfs_site_path = bad.xml").unwrap_err();
    assert!(
        bad.to_string().contains("not a Hadoop configuration file"),
        "{bad}"
    );
    // Sent straight to the master, which reads no file: refused, saying why.
    let master = parse_job(
        &format!("{FAKE}\nsink {{ HdfsFile {{ fs.defaultFS = \"hdfs://nn:9000\", path = \"/a\", hdfs_site_path = \"/x.xml\" }} }}"),
        "job.conf",
        &ParsePolicy::SelfContained,
    )
    .unwrap_err();
    assert_eq!(master.path(), Some("sink.HdfsFile.hdfs_site_path"));
    assert!(
        master
            .to_string()
            .contains("the weir client reads that file"),
        "{master}"
    );
}

#[test]
fn enable_header_write_is_for_text_and_csv() {
    let SinkConfig::LocalFile(sink) =
        local("    enable_header_write = true\n    file_format_type = csv")
            .unwrap()
            .sink
    else {
        panic!("LocalFile expected");
    };
    assert!(sink.enable_header_write);
    let json = local("    enable_header_write = true\n    file_format_type = json").unwrap_err();
    assert_eq!(json.path(), Some("sink.LocalFile.enable_header_write"));
    assert!(json.to_string().contains("only used with"), "{json}");
}
