//! Where a subtask's files live: in-progress and pending files under its temporary
//! directory, committed files under `path`, in partition directories.

use weir_core::config::{FileSinkConfig, Template, format_utc_time};
use weir_core::row::{Row, Value};

use super::format::push_text;
use crate::context::SubtaskInfo;
use crate::fs::join_path;

/// Hive's directory name for a null (or empty) partition value.
pub(super) const DEFAULT_PARTITION: &str = "__HIVE_DEFAULT_PARTITION__";

/// The names of one subtask's files.
pub(super) struct Naming {
    /// `path`, within the file system.
    root: String,
    /// `tmp_path`, within the file system.
    tmp_root: String,
    /// `<tmp_path>/<job>/<subtask>`, within the file system.
    subtask_dir: String,
    job: String,
    subtask: u32,
    /// How many subtasks the job runs: subtask 0 also recovers the files of subtasks at or
    /// above it (a job restored with fewer subtasks).
    parallelism: u32,
    file_name: Template,
    time_format: String,
    /// `.txt`, `.csv.gz`, ...
    extension: String,
    partition_dir: Option<Template>,
    /// Positions and (escaped) names of the `partition_by` fields.
    partition_fields: Vec<(usize, String)>,
}

impl Naming {
    /// `root` and `tmp_root` are within the file system (normalised); `partition_fields` are
    /// the positions of the `partition_by` fields (empty when not partitioned).
    pub(super) fn new(
        config: &FileSinkConfig,
        (root, tmp_root): (&str, &str),
        subtask: &SubtaskInfo,
        partition_fields: Vec<usize>,
    ) -> Result<Self, String> {
        let job_id = subtask.job_id.as_str();
        let (subtask, parallelism) = (subtask.subtask_index, subtask.parallelism);
        let job = sanitize(job_id);
        let file_name = Template::parse(config.effective_file_name_expression())?;
        let partition_dir = if config.have_partition {
            Some(Template::parse(&config.partition_dir_expression())?)
        } else {
            None
        };
        let extension = config.file_extension();
        Ok(Naming {
            root: root.trim_end_matches('/').to_string(),
            tmp_root: tmp_root.trim_end_matches('/').to_string(),
            subtask_dir: join_path(tmp_root, &format!("{job}/{subtask}")),
            job,
            subtask,
            parallelism,
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

    /// `path`, within the file system: where committed files go.
    pub(super) fn root(&self) -> &str {
        &self.root
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

impl Naming {
    /// Checks that the restored file `pending` → `final_path` (normalised paths within the
    /// file system) is one this sink's naming could have produced for subtask `self.subtask`
    /// of `from_job` (the job that took the checkpoint: this one, or the one it was restored
    /// from; empty means this one): pending `<tmp_path>/<job>/<subtask>/a<attempt>-<seq>.pending`
    /// and final `<path>/[<partition dirs>/]<file_name_expression>_<seq><ext>`, the same `seq`.
    /// Subtask 0 also owns the files of subtasks at or above the parallelism. Says why not.
    pub(super) fn check_restored(
        &self,
        from_job: &str,
        pending: &str,
        final_path: &str,
    ) -> Result<(), String> {
        let job = if from_job.is_empty() {
            self.job.clone()
        } else {
            sanitize(from_job)
        };
        let in_tmp = below(pending, &self.tmp_root)
            .ok_or_else(|| format!("the pending file is not under tmp_path {}", self.tmp_root))?;
        let [file_job, file_subtask, name] = in_tmp.split('/').collect::<Vec<_>>()[..] else {
            return Err(format!(
                "the pending file is not in a <job>/<subtask> directory of tmp_path {}",
                self.tmp_root
            ));
        };
        if file_job != job {
            return Err(format!(
                "the pending file is in the directory of job '{file_job}', not of '{job}'"
            ));
        }
        let file_subtask = file_subtask
            .parse::<u32>()
            .ok()
            .filter(|index| index.to_string() == file_subtask)
            .ok_or_else(|| format!("'{file_subtask}' is not a subtask directory"))?;
        let ours =
            file_subtask == self.subtask || (self.subtask == 0 && file_subtask >= self.parallelism);
        if !ours {
            return Err(format!(
                "the pending file belongs to subtask {file_subtask}, not {}",
                self.subtask
            ));
        }
        let seq = pending_seq(name).ok_or_else(|| {
            format!("'{name}' is not a pending file's name (a<attempt>-<seq>.pending)")
        })?;
        let in_root = below(final_path, &self.root)
            .ok_or_else(|| format!("the final path is not under path {}", self.root))?;
        let (dirs, file) = in_root.rsplit_once('/').unwrap_or(("", in_root));
        let depth = dirs.split('/').filter(|dir| !dir.is_empty()).count();
        if depth != self.partition_depth() {
            return Err(format!(
                "the final path is {depth} directories below path, not {} (partition_by)",
                self.partition_depth()
            ));
        }
        let suffix = format!("_{seq}{}", self.extension);
        let stem = file.strip_suffix(&suffix).ok_or_else(|| {
            format!("the final name '{file}' does not end in '{suffix}' (its pending file's seq)")
        })?;
        if !self.file_name_matches(stem, &job, file_subtask) {
            return Err(format!(
                "the final name '{file}' does not follow file_name_expression for job '{job}' \
                 subtask {file_subtask}"
            ));
        }
        Ok(())
    }

    /// How many directories below `path` committed files are: the segments of the partition
    /// directory expression (0 when not partitioned).
    fn partition_depth(&self) -> usize {
        let Some(template) = &self.partition_dir else {
            return 0;
        };
        let rendered = template.render(|variable| {
            let (kind, index) = variable.split_at(1);
            let known = matches!(kind, "k" | "v")
                && index
                    .parse::<usize>()
                    .is_ok_and(|index| index < self.partition_fields.len());
            known.then(|| "x".to_string())
        });
        rendered
            .split('/')
            .filter(|dir| !dir.is_empty() && *dir != ".")
            .count()
    }

    /// Whether `stem` is what `file_name_expression` renders to for `job` and `subtask`, with
    /// any checkpoint number and any `${now}`.
    fn file_name_matches(&self, stem: &str, job: &str, subtask: u32) -> bool {
        // Variables become NUL (which no file name holds), so the literals are what is between.
        let mut variables = Vec::new();
        let rendered = self.file_name.render(|variable| {
            variables.push(variable.to_string());
            Some("\0".to_string())
        });
        let literals: Vec<&str> = rendered.split('\0').collect();
        if literals.len() != variables.len() + 1 {
            return false;
        }
        let mut tokens = Vec::new();
        for (literal, variable) in literals
            .iter()
            .zip(variables.iter().map(Some).chain([None]))
        {
            tokens.push(Token::Literal(literal.to_string()));
            match variable.map(String::as_str) {
                Some("transactionId") => {
                    tokens.push(Token::Literal(format!("{job}_{subtask}_")));
                    tokens.push(Token::Digits);
                }
                Some("job_id") => tokens.push(Token::Literal(job.to_string())),
                Some("subtask") => tokens.push(Token::Literal(subtask.to_string())),
                Some("checkpoint") => tokens.push(Token::Digits),
                Some("now") => tokens.push(Token::Text),
                // Unknown variables render empty (and are refused when the job is parsed).
                Some(_) | None => {}
            }
        }
        matches_tokens(&tokens, stem)
    }
}

/// A piece of a file name pattern.
enum Token {
    Literal(String),
    /// One or more ASCII digits.
    Digits,
    /// One or more characters.
    Text,
}

/// Whether `text` is exactly `tokens` (backtracking; names are short).
fn matches_tokens(tokens: &[Token], text: &str) -> bool {
    let Some((first, rest)) = tokens.split_first() else {
        return text.is_empty();
    };
    match first {
        Token::Literal(literal) => text
            .strip_prefix(literal.as_str())
            .is_some_and(|after| matches_tokens(rest, after)),
        Token::Digits => {
            let run = text.bytes().take_while(u8::is_ascii_digit).count();
            (1..=run).any(|end| matches_tokens(rest, &text[end..]))
        }
        Token::Text => text
            .char_indices()
            .skip(1)
            .map(|(at, _)| at)
            .chain([text.len()])
            .filter(|end| *end > 0)
            .any(|end| matches_tokens(rest, &text[end..])),
    }
}

/// `path` relative to `dir` (both normalised), if strictly below it.
fn below<'a>(path: &'a str, dir: &str) -> Option<&'a str> {
    if dir == "/" {
        return path.strip_prefix('/').filter(|rest| !rest.is_empty());
    }
    path.strip_prefix(dir)?
        .strip_prefix('/')
        .filter(|rest| !rest.is_empty())
}

/// The `seq` of a pending file's name `a<attempt>-<seq>.pending` (numbers written as the sink
/// writes them).
fn pending_seq(name: &str) -> Option<u64> {
    let (attempt, seq) = name
        .strip_prefix('a')?
        .strip_suffix(".pending")?
        .split_once('-')?;
    let (attempt, seq): (u32, u64) = (attempt.parse().ok()?, seq.parse().ok()?);
    (format!("a{attempt}-{seq}.pending") == name).then_some(seq)
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
