//! Where a subtask's files live: in-progress and pending files under its temporary
//! directory, committed files under `path`, in partition directories.

use weir_core::config::{FileSinkConfig, Template, format_utc_time};
use weir_core::row::{Row, Value};

use super::format::push_text;
use crate::fs::join_path;

/// Hive's directory name for a null (or empty) partition value.
pub(super) const DEFAULT_PARTITION: &str = "__HIVE_DEFAULT_PARTITION__";

/// The names of one subtask's files.
pub(super) struct Naming {
    /// `path`, within the file system.
    root: String,
    /// `<tmp_path>/<job>/<subtask>`, within the file system.
    subtask_dir: String,
    job: String,
    subtask: u32,
    file_name: Template,
    time_format: String,
    /// `.txt`, `.csv.gz`, ...
    extension: String,
    partition_dir: Option<Template>,
    /// Positions and (escaped) names of the `partition_by` fields.
    partition_fields: Vec<(usize, String)>,
}

impl Naming {
    /// `root` and `tmp_root` are within the file system; `partition_fields` are the
    /// positions of the `partition_by` fields (empty when not partitioned).
    pub(super) fn new(
        config: &FileSinkConfig,
        root: &str,
        tmp_root: &str,
        job_id: &str,
        subtask: u32,
        partition_fields: Vec<usize>,
    ) -> Result<Self, String> {
        let job = sanitize(job_id);
        let file_name = Template::parse(&config.file_name_expression)?;
        let partition_dir = if config.have_partition {
            Some(Template::parse(&config.partition_dir_expression())?)
        } else {
            None
        };
        let mut extension = format!(".{}", config.file_format_type.extension());
        if config.compress_codec == weir_core::config::CompressCodec::Gzip {
            extension.push_str(".gz");
        }
        Ok(Naming {
            root: root.trim_end_matches('/').to_string(),
            subtask_dir: join_path(tmp_root, &format!("{job}/{subtask}")),
            job,
            subtask,
            file_name,
            time_format: config.filename_time_format.clone(),
            extension,
            partition_dir,
            partition_fields: partition_fields
                .into_iter()
                .zip(&config.partition_by)
                .map(|(position, name)| (position, escape_partition(name)))
                .collect(),
        })
    }

    /// `<tmp_path>/<job>/<subtask>`: everything this subtask has not committed.
    pub(super) fn subtask_dir(&self) -> &str {
        &self.subtask_dir
    }

    /// The in-progress file `seq` of `attempt`.
    pub(super) fn in_progress(&self, attempt: u32, seq: u64) -> String {
        join_path(&self.subtask_dir, &format!("a{attempt}-{seq}.inprogress"))
    }

    /// The pending file `seq` of `attempt`.
    pub(super) fn pending(&self, attempt: u32, seq: u64) -> String {
        join_path(&self.subtask_dir, &format!("a{attempt}-{seq}.pending"))
    }

    /// The partition directory of `row` below `path` (`day=2024-01-01/country=DE`), or
    /// `""` when the sink is not partitioned.
    pub(super) fn partition_of(&self, row: &Row) -> String {
        let Some(template) = &self.partition_dir else {
            return String::new();
        };
        let values: Vec<String> = self
            .partition_fields
            .iter()
            .map(|(position, _)| partition_value(row.values.get(*position)))
            .collect();
        template.render(|variable| {
            let (kind, index) = variable.split_at(1);
            let index: usize = index.parse().ok()?;
            match kind {
                "k" => self
                    .partition_fields
                    .get(index)
                    .map(|(_, name)| name.clone()),
                "v" => values.get(index).cloned(),
                _ => None,
            }
        })
    }

    /// The committed path of pending file `seq` in `partition`, named for `checkpoint`
    /// prepared at `now_millis`.
    pub(super) fn final_path(
        &self,
        partition: &str,
        seq: u64,
        checkpoint: u64,
        now_millis: i64,
    ) -> String {
        let name = self.file_name.render(|variable| match variable {
            "transactionId" => Some(format!("{}_{}_{checkpoint}", self.job, self.subtask)),
            "job_id" => Some(self.job.clone()),
            "subtask" => Some(self.subtask.to_string()),
            "checkpoint" => Some(checkpoint.to_string()),
            // The format was checked when the job was parsed.
            "now" => format_utc_time(&self.time_format, now_millis).ok(),
            _ => None,
        });
        let file = format!("{name}_{seq}{}", self.extension);
        if partition.is_empty() {
            join_path(&self.root, &file)
        } else {
            join_path(&join_path(&self.root, partition), &file)
        }
    }
}

/// A partition value as a directory name: escaped as Hive escapes it; null and empty values
/// are [`DEFAULT_PARTITION`].
fn partition_value(value: Option<&Value>) -> String {
    let mut text = String::new();
    if let Some(value) = value {
        push_text(&mut text, value);
    }
    if text.is_empty() {
        DEFAULT_PARTITION.to_string()
    } else {
        escape_partition(&text)
    }
}

/// Hive's `FileUtils.escapePathName`: characters that are unsafe in paths become `%XX`. A
/// leading `.` is escaped too, so that no value makes a hidden directory, `.` or `..`.
pub(super) fn escape_partition(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for (at, c) in text.char_indices() {
        let unsafe_char = matches!(
            c,
            '"' | '#'
                | '%'
                | '\''
                | '*'
                | '/'
                | ':'
                | '='
                | '?'
                | '\\'
                | '\u{7f}'
                | '{'
                | '['
                | ']'
                | '^'
        ) || c.is_control()
            || (at == 0 && c == '.');
        if unsafe_char {
            let mut utf8 = [0u8; 4];
            for byte in c.encode_utf8(&mut utf8).bytes() {
                out.push_str(&format!("%{byte:02X}"));
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// A job id as a path segment: characters other than ASCII letters, digits, `.`, `-` and `_`
/// become `_` (job ids are hex; this only guards against surprises).
fn sanitize(text: &str) -> String {
    let clean: String = text
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_') {
                c
            } else {
                '_'
            }
        })
        .collect();
    match clean.as_str() {
        "" | "." | ".." => format!("_{clean}"),
        _ => clean,
    }
}
