//! SeaTunnel's file sink options that are read before the sink's own section: the legacy
//! `save_mode`, `hadoop_conf` and `hdfs_site_path`, and the table placeholders of its options.

use hocon::HoconValue;

use super::SourceConfig;
use super::compat_kafka::KERBEROS_REFUSAL;
use super::error::ConfigError;
use super::options::describe;
use super::placeholders::replace;
use super::placeholders::table::{IDENTIFIER_PLACEHOLDERS, TablePath};
use super::section::{Context, join};

/// Why the legacy `save_mode` is accepted with a warning, whatever its value.
pub(crate) const LEGACY_SAVE_MODE: &str = "an option of SeaTunnel's old Spark `File` sink \
     (overwrite, append, ignore, error); SeaTunnel's own LocalFile and HdfsFile sinks no longer \
     read it, so the job behaves as with APPEND_DATA, which is what Weir does; use \
     `data_save_mode`";

/// Removes the legacy `save_mode` of SeaTunnel's old Spark `File` sink from a file sink block
/// (at `path`), with a warning: no file sink reads it any more (`schema_save_mode` and
/// `data_save_mode` are the sink's own options).
pub(crate) fn strip_legacy_save_mode(
    block: &HoconValue,
    path: &str,
    ctx: &Context,
    warnings: &mut Vec<String>,
) -> Result<HoconValue, ConfigError> {
    let Some(entries) = block.as_object() else {
        return Ok(block.clone());
    };
    let mut kept = entries.clone();
    if let Some(value) = kept.shift_remove("save_mode") {
        let option = join(path, "save_mode");
        if value.as_str().is_none() {
            return Err(ctx.invalid(
                option,
                format!("must be a string, found {}", describe(&value)),
            ));
        }
        warnings.push(super::compat::warning(ctx, &option, LEGACY_SAVE_MODE));
    }
    Ok(HoconValue::Object(kept))
}

/// SeaTunnel's Kerberos options of its file sinks.
pub(crate) const KERBEROS_FILE_OPTIONS: &[&str] =
    &["kerberos_principal", "kerberos_keytab_path", "krb5_path"];

/// Why `hdfs_site_path` is refused where the job text is not the client's (the master's).
pub(crate) const HDFS_SITE_PATH_REFUSAL: &str = "the weir client reads that file (`weir \
     validate`, `weir submit`, `weir local`) and sends its properties in the job; the master \
     and the workers read no file named by a job: submit the job file with `weir submit`, or \
     copy its properties into hadoop_conf (or hdfs.config)";

/// Reads `hadoop_conf` (renamed
/// `hdfs.config`, SeaTunnel's name for the same settings) and `hdfs_site_path` (refused) of a
/// file sink block at `path`.
pub(crate) fn strip_file_options(
    block: &HoconValue,
    path: &str,
    ctx: &Context,
) -> Result<HoconValue, ConfigError> {
    let Some(entries) = block.as_object() else {
        return Ok(block.clone());
    };
    let mut kept = entries.clone();
    for option in KERBEROS_FILE_OPTIONS {
        if kept.contains_key(*option) {
            let option = join(path, option);
            return Err(ConfigError::Unsupported {
                at: ctx.at(&option),
                path: option,
                message: KERBEROS_REFUSAL.to_string(),
            });
        }
    }
    if kept.contains_key("hdfs_site_path") {
        let option = join(path, "hdfs_site_path");
        return Err(ConfigError::Unsupported {
            at: ctx.at(&option),
            path: option,
            message: HDFS_SITE_PATH_REFUSAL.to_string(),
        });
    }
    if let Some(value) = kept.shift_remove("hadoop_conf") {
        let has_hdfs_config = kept
            .get("hdfs.config")
            .or_else(|| {
                kept.get("hdfs")
                    .and_then(HoconValue::as_object)
                    .and_then(|hdfs| hdfs.get("config"))
            })
            .is_some();
        if has_hdfs_config {
            return Err(ctx.invalid(
                join(path, "hadoop_conf"),
                "is SeaTunnel's name for hdfs.config, which is set too: keep one",
            ));
        }
        let mut hdfs = kept
            .get("hdfs")
            .and_then(HoconValue::as_object)
            .cloned()
            .unwrap_or_default();
        hdfs.insert("config".to_string(), value);
        kept.insert("hdfs".to_string(), HoconValue::Object(hdfs));
    }
    Ok(HoconValue::Object(kept))
}

/// Fills SeaTunnel's table placeholders (`${table_name}`, `${database_name}`, …, see
/// `placeholders::table`) in every string option of a sink block (at `path`) from the
/// source's table: a Kafka topic `a`, `db.a` or `db.schema.a` as SeaTunnel names its table,
/// FakeSource's `plugin_output` or SeaTunnel's `default.default.default`. A source of several
/// tables (a topic list or pattern) cannot fill them and is refused, naming the option.
pub(crate) fn fill_table_placeholders(
    block: &HoconValue,
    source: &SourceConfig,
    path: &str,
    ctx: &Context,
) -> Result<HoconValue, ConfigError> {
    let table = match source {
        SourceConfig::FakeSource(fake) => match &fake.plugin_output {
            Some(name) => TablePath::of(name).ok_or_else(|| {
                format!("the source's plugin_output '{name}' has more than three dotted parts")
            }),
            None => Ok(TablePath::default_table()),
        },
        SourceConfig::Kafka(kafka) if kafka.pattern || kafka.topic.contains(',') => Err(
            "the Kafka source reads several topics, each a table of its own to SeaTunnel, and \
             Weir writes one sink path: name one topic, or remove the placeholder"
                .to_string(),
        ),
        SourceConfig::Kafka(kafka) => TablePath::of(kafka.topic.trim()).ok_or_else(|| {
            format!(
                "the topic '{}' has more than three dotted parts",
                kafka.topic
            )
        }),
    };
    let mut block = block.clone();
    let mut refused = None;
    fill_in(&mut block, path, &table, &mut refused);
    match refused {
        Some((option, why)) => Err(ctx.invalid(
            option,
            format!("uses a table placeholder, which cannot be filled: {why}"),
        )),
        None => Ok(block),
    }
}

fn fill_in(
    value: &mut HoconValue,
    path: &str,
    table: &Result<TablePath, String>,
    refused: &mut Option<(String, String)>,
) {
    match value {
        HoconValue::Object(fields) => {
            for (key, field) in fields.iter_mut() {
                fill_in(field, &join(path, key), table, refused);
            }
        }
        HoconValue::Array(items) => {
            for item in items {
                fill_in(item, path, table, refused);
            }
        }
        HoconValue::Scalar(scalar) if scalar.value_type == hocon::ScalarType::String => {
            let unfilled = std::cell::Cell::new(false);
            let fill = |name: &str, default: Option<&str>| match table {
                Ok(table) => table.fill(name, default),
                Err(_) => {
                    unfilled.set(unfilled.get() | IDENTIFIER_PLACEHOLDERS.contains(&name));
                    None
                }
            };
            if let Some(filled) = replace(&scalar.raw, &fill) {
                scalar.raw = filled;
            }
            if let (true, Err(why), None) = (unfilled.get(), table, &refused) {
                *refused = Some((path.to_string(), why.clone()));
            }
        }
        _ => {}
    }
}
