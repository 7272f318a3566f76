//! Reading the committed files under the sink's `path` back with FsShell.

use std::fmt::Write as _;

use crate::stack::{HdfsEntry, list_recursive, read_files};

use super::records::{Codec, Format};

/// One committed file and the ids of its lines, in order.
#[derive(Debug)]
pub struct CommittedFile {
    /// Where it is.
    pub entry: HdfsEntry,
    /// The id of each line.
    pub ids: Vec<u64>,
}

/// Everything committed under a sink's `path`, read back with FsShell.
#[derive(Debug)]
pub struct Committed {
    /// The sink's `path`.
    pub path: String,
    /// The committed files, by path.
    pub files: Vec<CommittedFile>,
}

/// What makes a listing of `path` wrong: directories (the tests use no partitioning), hidden or
/// temporary names (`.x`, `_x`), in-progress or pending files, files of another format.
fn listing_problems(entries: &[HdfsEntry], expected_suffix: &str) -> Vec<String> {
    let mut problems = Vec::new();
    for entry in entries {
        let name = entry.name();
        let what = if entry.is_dir {
            Some("a directory (the job has no partitioning: nothing but final files belongs here)")
        } else if name.ends_with(".inprogress") || name.contains(".inprogress") {
            Some("an in-progress file")
        } else if name.ends_with(".pending") || name.contains(".pending") {
            Some("a pending (uncommitted) file")
        } else if name.starts_with('.') || name.starts_with('_') {
            Some("a hidden or temporary file")
        } else if !name.ends_with(expected_suffix) {
            Some("not a committed file of this job's format")
        } else {
            None
        };
        if let Some(what) = what {
            problems.push(format!("{} is {what}", entry.path));
        }
    }
    problems
}

/// Lists `path`, fails on anything but committed files of `format`/`codec` there, and reads
/// every file back, parsing each line.
pub fn read_committed(path: &str, format: Format, codec: Codec) -> Result<Committed, String> {
    let entries = list_recursive(path)
        .map_err(|error| format!("cannot list the sink's path {path}: {error}"))?;
    let suffix = format.suffix(codec);
    let problems = listing_problems(&entries, &suffix);
    if !problems.is_empty() {
        return Err(format!(
            "{} entries under the sink's path {path} are not committed {suffix} files:\n  {}\nfull listing:\n{}",
            problems.len(),
            problems.join("\n  "),
            show_entries(&entries)
        ));
    }
    let mut contents = read_files(&entries)?;
    let mut bad_lines = Vec::new();
    if format == Format::Parquet {
        contents = parquet_as_lines(&entries, contents, codec, &mut bad_lines)?;
    }
    let mut files = Vec::with_capacity(entries.len());
    for (entry, bytes) in entries.into_iter().zip(contents) {
        let text = match String::from_utf8(bytes) {
            Ok(text) => text,
            Err(error) => {
                bad_lines.push(format!("{}: not UTF-8 ({error})", entry.path));
                continue;
            }
        };
        if !text.is_empty() && !text.ends_with('\n') {
            bad_lines.push(format!(
                "{}: the last row has no row delimiter (\\n): the file was cut short or not flushed",
                entry.path
            ));
        }
        let mut ids = Vec::new();
        for (number, line) in text.lines().enumerate() {
            match format.parse_line(line) {
                Ok(id) => ids.push(id),
                Err(error) => bad_lines.push(format!(
                    "{} line {}: {error}: {:?}",
                    entry.path,
                    number + 1,
                    truncate(line, 120)
                )),
            }
        }
        files.push(CommittedFile { entry, ids });
    }
    if !bad_lines.is_empty() {
        return Err(format!(
            "{} committed lines under {path} are not rows this test produced (first 20):\n  {}",
            bad_lines.len(),
            bad_lines
                .iter()
                .take(20)
                .cloned()
                .collect::<Vec<_>>()
                .join("\n  ")
        ));
    }
    Ok(Committed {
        path: path.to_string(),
        files,
    })
}

/// Reads Parquet files with pyarrow and DuckDB (which must agree) and gives each file's rows as
/// lines of `[id, pad]` JSON, for the line checks; a file of another codec is a bad line.
fn parquet_as_lines(
    entries: &[HdfsEntry],
    contents: Vec<Vec<u8>>,
    codec: Codec,
    bad_lines: &mut Vec<String>,
) -> Result<Vec<Vec<u8>>, String> {
    let named: Vec<(String, Vec<u8>)> = entries
        .iter()
        .map(|entry| entry.path.clone())
        .zip(contents)
        .collect();
    let read = crate::readers::read_parquet(&named)?;
    Ok(read
        .into_iter()
        .map(|file| {
            let columns: Vec<(&str, &str)> = file
                .columns
                .iter()
                .map(|(name, kind)| (name.as_str(), kind.as_str()))
                .collect();
            if columns != [("id", "int64"), ("pad", "string")] {
                bad_lines.push(format!(
                    "{}: columns {columns:?}, expected id int64 and pad string",
                    file.name
                ));
            }
            if file.codecs != [codec.parquet_name()] {
                bad_lines.push(format!(
                    "{}: compressed with {:?}, expected {}",
                    file.name,
                    file.codecs,
                    codec.parquet_name()
                ));
            }
            let mut text = String::new();
            for row in &file.rows {
                text.push_str(&serde_json::Value::Array(row.clone()).to_string());
                text.push('\n');
            }
            text.into_bytes()
        })
        .collect())
}

fn truncate(text: &str, chars: usize) -> String {
    if text.chars().count() <= chars {
        text.to_string()
    } else {
        format!("{}…", text.chars().take(chars).collect::<String>())
    }
}

/// `-ls`-like lines for messages.
pub fn show_entries(entries: &[HdfsEntry]) -> String {
    let mut text = String::new();
    for entry in entries {
        let _ = writeln!(
            text,
            "  {} {:>10} {}",
            if entry.is_dir { "d" } else { "-" },
            entry.size,
            entry.path
        );
    }
    if entries.is_empty() {
        text.push_str("  (empty)\n");
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listing_flags_temporary_files() {
        let entry = |path: &str, is_dir| HdfsEntry {
            path: path.into(),
            is_dir,
            size: 0,
        };
        let problems = listing_problems(
            &[
                entry("/out/j_0_1_0.txt", false),
                entry("/out/.j_0_2_0.txt.inprogress", false),
                entry("/out/j_0_2_0.txt.pending", false),
                entry("/out/_temporary", true),
                entry("/out/j_0_1_0.json", false),
            ],
            ".txt",
        );
        assert_eq!(problems.len(), 4, "{problems:?}");
    }
}
