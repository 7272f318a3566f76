//! SeaTunnel's file sink options that are read before the sink's own section: the save modes
//! (`save_mode`, `schema_save_mode`, `data_save_mode`), `encoding`, `hadoop_conf` and
//! `hdfs_site_path`. A value whose meaning is what Weir does anyway is accepted; a value that
//! would need Weir to delete or refuse existing data is refused with the reason.

use hocon::HoconValue;

use super::error::ConfigError;
use super::options::describe;
use super::section::{Context, join};

/// What Weir does with one value of a save mode option.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Verdict {
    /// Accepted without a warning: what Weir does anyway, for the reason given (which only
    /// docs/seatunnel.md shows).
    Supported(
        #[cfg_attr(
            not(test),
            expect(dead_code, reason = "read by docs/seatunnel.md's generator")
        )]
        &'static str,
    ),
    /// Refused, for the reason given.
    Refused(&'static str),
}

/// SeaTunnel's `schema_save_mode` of its file sinks (its `SchemaSaveMode`, applied through the
/// file catalog to the directory `path` before the job starts), and what Weir does with each.
pub(crate) const SCHEMA_SAVE_MODES: &[(&str, Verdict)] = &[
    (
        "CREATE_SCHEMA_WHEN_NOT_EXIST",
        Verdict::Supported(
            "SeaTunnel's default: create `path` when it does not exist, keep it when it does; \
             Weir creates the directories of `path` when it commits the first file",
        ),
    ),
    (
        "IGNORE",
        Verdict::Supported(
            "leave `path` alone before the job; the first committed file creates it, in \
             SeaTunnel and in Weir",
        ),
    ),
    (
        "RECREATE_SCHEMA",
        Verdict::Refused(
            "it deletes `path` with every file in it before the job starts; Weir never \
             deletes committed files (a job that recovers would run it again and delete its \
             own committed output): empty the directory before submitting, and remove this \
             option",
        ),
    ),
    (
        "ERROR_WHEN_SCHEMA_NOT_EXIST",
        Verdict::Refused(
            "Weir cannot check `path` before the job starts: only the workers see its file \
             system; create the directory before submitting, and remove this option",
        ),
    ),
];

/// SeaTunnel's `data_save_mode` of its file sinks (its `DataSaveMode`, the three values its
/// file sinks take), and what Weir does with each.
pub(crate) const DATA_SAVE_MODES: &[(&str, Verdict)] = &[
    (
        "APPEND_DATA",
        Verdict::Supported(
            "SeaTunnel's default: keep the files under `path` and add new ones; Weir's file \
             names carry the job, the subtask and the checkpoint, so it never writes over one",
        ),
    ),
    (
        "DROP_DATA",
        Verdict::Refused(
            "it deletes the files under `path` before the job starts; Weir never deletes \
             committed files (a job that recovers would run it again and delete its own \
             committed output): empty the directory before submitting, and remove this option",
        ),
    ),
    (
        "ERROR_WHEN_DATA_EXISTS",
        Verdict::Refused(
            "Weir cannot check `path` before the job starts (only the workers see its file \
             system), and a check on the workers would fail every recovery of a job that has \
             committed files: check the directory before submitting, and remove this option",
        ),
    ),
];

/// Why the legacy `save_mode` is accepted with a warning, whatever its value.
pub(crate) const LEGACY_SAVE_MODE: &str = "an option of SeaTunnel's old Spark `File` sink \
     (overwrite, append, ignore, error); SeaTunnel's own LocalFile and HdfsFile sinks no longer \
     read it, so the job behaves as with APPEND_DATA, which is what Weir does; use \
     `data_save_mode`";

/// Removes `save_mode`, `schema_save_mode` and `data_save_mode` from a file sink block (at
/// `path`): the legacy one with a warning, the others when their value is what Weir does; a
/// value Weir cannot honour is refused with the reason, an unknown one lists the known ones.
pub(crate) fn strip_save_modes(
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
    for (name, modes) in [
        ("schema_save_mode", SCHEMA_SAVE_MODES),
        ("data_save_mode", DATA_SAVE_MODES),
    ] {
        let Some(value) = kept.shift_remove(name) else {
            continue;
        };
        let option = join(path, name);
        let verdict = value.as_str().and_then(|text| {
            modes
                .iter()
                .find(|(mode, _)| mode.eq_ignore_ascii_case(text.trim()))
        });
        match verdict {
            Some((_, Verdict::Supported(_))) => {}
            Some((mode, Verdict::Refused(why))) => {
                return Err(ConfigError::Unsupported {
                    at: ctx.at(&option),
                    path: option,
                    message: format!("{mode}: {why}"),
                });
            }
            None => {
                let known: Vec<&str> = modes.iter().map(|(mode, _)| *mode).collect();
                return Err(ctx.invalid(
                    option,
                    format!(
                        "must be one of {}, found {}",
                        known.join(", "),
                        describe(&value)
                    ),
                ));
            }
        }
    }
    Ok(HoconValue::Object(kept))
}

/// Why `encoding` other than UTF-8 is refused.
pub(crate) const ENCODING_REFUSAL: &str = "Weir writes files in UTF-8 only (SeaTunnel's \
     default); transcoding to another character set is not supported: remove the option or \
     write encoding = \"UTF-8\"";

/// Why `hdfs_site_path` is refused.
pub(crate) const HDFS_SITE_PATH_REFUSAL: &str = "the file would be read on the workers, which \
     the job cannot be checked against before it runs; copy its properties (dfs.nameservices, \
     dfs.ha.namenodes.*, dfs.namenode.rpc-address.*, dfs.client.failover.proxy.provider.*) \
     into hadoop_conf (or hdfs.config), which validate checks";

/// Reads `encoding` (UTF-8 accepted, other character sets refused), `hadoop_conf` (renamed
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
    if let Some(value) = kept.shift_remove("encoding") {
        let option = join(path, "encoding");
        let utf8 = value.as_str().is_some_and(|name| {
            let name = name.trim().to_ascii_lowercase();
            name == "utf-8" || name == "utf8"
        });
        if !utf8 {
            return Err(ConfigError::Unsupported {
                at: ctx.at(&option),
                path: option,
                message: format!("{}: {ENCODING_REFUSAL}", describe(&value)),
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
