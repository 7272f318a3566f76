//! The records the tests produce and the check of what landed in HDFS: the committed files under
//! the sink's `path` are listed and read back with Hadoop's FsShell (never with Weir's code),
//! each line is parsed into the id it carries (and its payload checked), and the ids are
//! counted.
//!
//! Record `id` goes to partition `id % PARTITIONS` and, in a fresh topic, lands at offset
//! `id / PARTITIONS` there, so "which ids were committed" also says "up to which offset of each
//! partition".

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::ops::Range;

use serde_json::Value;
use weir_e2e::kafka::Record;
use weir_e2e::stack::{HdfsEntry, list_recursive, read_files};

/// Partitions of every test topic.
pub const PARTITIONS: u64 = 4;
/// Length of each record's pseudo-random payload.
const PAD_LEN: usize = 24;

/// The sink's `file_format_type` (and how the source decodes the record, so that a committed
/// line maps back to exactly one record).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// Kafka value `ID,PAD` read with `format = "text"`, `field_delimiter = ","` into
    /// `{id: bigint, pad: string}`; the text sink writes `ID\u{1}PAD` (its default delimiter).
    Text,
    /// Kafka value `{"id":ID,"pad":"PAD"}` read with `format = "json"`; the json sink writes
    /// one such object per line.
    Json,
}

impl Format {
    /// The value of `file_format_type`.
    pub fn option(self) -> &'static str {
        match self {
            Format::Text => "text",
            Format::Json => "json",
        }
    }

    /// Extension of a committed file without compression.
    pub fn extension(self) -> &'static str {
        match self {
            Format::Text => ".txt",
            Format::Json => ".json",
        }
    }

    /// The Kafka source lines that decode this test's records.
    pub fn source_lines(self) -> Vec<String> {
        let schema = r#"schema = { fields { id = "bigint", pad = "string" } }"#.to_string();
        match self {
            Format::Text => vec![
                r#"format = "text""#.to_string(),
                r#"field_delimiter = ",""#.to_string(),
                schema,
            ],
            Format::Json => vec![r#"format = "json""#.to_string(), schema],
        }
    }

    /// The Kafka value of record `id`.
    pub fn payload(self, id: u64) -> Vec<u8> {
        match self {
            Format::Text => format!("{id},{}", pad(id)).into_bytes(),
            Format::Json => format!(r#"{{"id":{id},"pad":"{}"}}"#, pad(id)).into_bytes(),
        }
    }

    /// The id a committed line holds; an error if the line is not exactly what the sink should
    /// write for some produced record.
    fn parse_line(self, line: &str) -> Result<u64, String> {
        let (id, pad_seen) = match self {
            Format::Text => {
                let fields: Vec<&str> = line.split('\u{1}').collect();
                if fields.len() != 2 {
                    return Err(format!(
                        "expected 2 fields separated by \\u0001 (the text sink's default field_delimiter), found {}",
                        fields.len()
                    ));
                }
                let id: u64 = fields[0].parse().map_err(|error| {
                    format!("the id field {:?} is not a number: {error}", fields[0])
                })?;
                (id, fields[1].to_string())
            }
            Format::Json => {
                let value: Value = serde_json::from_str(line)
                    .map_err(|error| format!("not a JSON object: {error}"))?;
                let id = value["id"]
                    .as_u64()
                    .ok_or_else(|| "no unsigned integer `id`".to_string())?;
                let pad_seen = value["pad"]
                    .as_str()
                    .ok_or_else(|| "no string `pad`".to_string())?
                    .to_string();
                (id, pad_seen)
            }
        };
        if pad_seen != pad(id) {
            return Err(format!(
                "id {id} carries pad {pad_seen:?}, but record {id} was produced with {:?}",
                pad(id)
            ));
        }
        Ok(id)
    }
}

/// The `compress_codec` of the sink.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Codec {
    /// `none`.
    None,
    /// `gzip`: committed files end `.gz`; FsShell `-text` decompresses them.
    Gzip,
}

impl Codec {
    /// The value of `compress_codec`.
    pub fn option(self) -> &'static str {
        match self {
            Codec::None => "none",
            Codec::Gzip => "gzip",
        }
    }

    fn suffix(self) -> &'static str {
        match self {
            Codec::None => "",
            Codec::Gzip => ".gz",
        }
    }
}

/// A deterministic pseudo-random lowercase payload for `id` (so a line whose id survived but
/// whose content was mangled or swapped is caught).
pub fn pad(id: u64) -> String {
    let mut state = id ^ 0x9E37_79B9_7F4A_7C15;
    let mut out = String::with_capacity(PAD_LEN);
    while out.len() < PAD_LEN {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        let mut draw = state;
        for _ in 0..13.min(PAD_LEN - out.len()) {
            out.push((b'a' + (draw % 26) as u8) as char);
            draw /= 26;
        }
    }
    out
}

/// The partition record `id` goes to.
pub fn partition_of(id: u64) -> u64 {
    id % PARTITIONS
}

/// Records for `ids`, each to partition `id % PARTITIONS`, in id order.
pub fn records(format: Format, ids: Range<u64>) -> Vec<Record> {
    ids.map(|id| Record::new(partition_of(id) as i32, format.payload(id)))
        .collect()
}

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
    let suffix = format!("{}{}", format.extension(), codec.suffix());
    let problems = listing_problems(&entries, &suffix);
    if !problems.is_empty() {
        return Err(format!(
            "{} entries under the sink's path {path} are not committed {suffix} files:\n  {}\nfull listing:\n{}",
            problems.len(),
            problems.join("\n  "),
            show_entries(&entries)
        ));
    }
    let contents = read_files(&entries)?;
    let mut files = Vec::with_capacity(entries.len());
    let mut bad_lines = Vec::new();
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

/// `[a, b)` ranges of a sorted id list, shortened for messages.
fn ranges(ids: &[u64], limit: usize) -> String {
    let mut out: Vec<String> = Vec::new();
    let mut index = 0;
    while index < ids.len() && out.len() < limit {
        let start = ids[index];
        let mut end = start;
        while index + 1 < ids.len() && ids[index + 1] == end + 1 {
            index += 1;
            end += 1;
        }
        out.push(if start == end {
            start.to_string()
        } else {
            format!("{start}..={end}")
        });
        index += 1;
    }
    let more = if index < ids.len() { ", …" } else { "" };
    format!("[{}{more}]", out.join(", "))
}

impl Committed {
    /// Rows in all committed files.
    pub fn rows(&self) -> usize {
        self.files.iter().map(|file| file.ids.len()).sum()
    }

    /// Distinct ids.
    pub fn distinct(&self) -> BTreeSet<u64> {
        self.files
            .iter()
            .flat_map(|file| file.ids.iter().copied())
            .collect()
    }

    /// The committed files' paths.
    pub fn paths(&self) -> BTreeSet<String> {
        self.files
            .iter()
            .map(|file| file.entry.path.clone())
            .collect()
    }

    /// One line: files, rows, distinct ids, bytes.
    pub fn summary(&self) -> String {
        format!(
            "{} committed files, {} rows, {} distinct ids, {} bytes under {}",
            self.files.len(),
            self.rows(),
            self.distinct().len(),
            self.files.iter().map(|file| file.entry.size).sum::<u64>(),
            self.path
        )
    }

    /// Files per id, for ids that occur more than once.
    fn duplicates(&self) -> BTreeMap<u64, Vec<String>> {
        let mut seen: BTreeMap<u64, Vec<String>> = BTreeMap::new();
        for file in &self.files {
            for &id in &file.ids {
                seen.entry(id)
                    .or_default()
                    .push(file.entry.name().to_string());
            }
        }
        seen.retain(|_, files| files.len() > 1);
        seen
    }

    /// `Err` naming the duplicated ids and the files holding them, if any id occurs twice.
    pub fn check_no_duplicates(&self) -> Result<(), String> {
        let duplicates = self.duplicates();
        if duplicates.is_empty() {
            return Ok(());
        }
        let extra: usize = duplicates.values().map(|files| files.len() - 1).sum();
        let mut files_involved: BTreeMap<&str, usize> = BTreeMap::new();
        for files in duplicates.values() {
            for file in files {
                *files_involved.entry(file.as_str()).or_default() += 1;
            }
        }
        let examples: Vec<String> = duplicates
            .iter()
            .take(10)
            .map(|(id, files)| format!("id {id} in {files:?}"))
            .collect();
        Err(format!(
            "DUPLICATES: {} ids were committed more than once ({extra} extra rows); first: {}; files holding duplicated ids (file: count): {files_involved:?}; {}",
            duplicates.len(),
            examples.join("; "),
            self.summary()
        ))
    }

    /// `Err` describing missing, duplicated and unexpected ids unless every id of `expected`
    /// occurs exactly once and nothing else does.
    pub fn check_exactly_once(&self, expected: Range<u64>) -> Result<(), String> {
        let mut problems = Vec::new();
        if let Err(duplicates) = self.check_no_duplicates() {
            problems.push(duplicates);
        }
        let distinct = self.distinct();
        let unexpected: Vec<u64> = distinct
            .iter()
            .copied()
            .filter(|id| !expected.contains(id))
            .collect();
        if !unexpected.is_empty() {
            problems.push(format!(
                "UNEXPECTED: {} ids outside {expected:?} were committed: {}",
                unexpected.len(),
                ranges(&unexpected, 10)
            ));
        }
        let missing: Vec<u64> = expected
            .clone()
            .filter(|id| !distinct.contains(id))
            .collect();
        if !missing.is_empty() {
            let mut per_partition: BTreeMap<u64, usize> = BTreeMap::new();
            for &id in &missing {
                *per_partition.entry(partition_of(id)).or_default() += 1;
            }
            problems.push(format!(
                "MISSING: {} of the {} ids were not committed (per partition: {per_partition:?}); first missing: {}",
                missing.len(),
                expected.end - expected.start,
                ranges(&missing, 12)
            ));
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(format!(
                "the committed files do not hold every id of {expected:?} exactly once:\n  {}\n{}",
                problems.join("\n  "),
                self.summary()
            ))
        }
    }

    /// Per partition, the committed ids must be the partition's first `k` records: committed
    /// checkpoints cover offset prefixes, so a gap means a lost or uncommitted checkpoint.
    /// `Ok` carries `k` per partition.
    pub fn check_partition_prefixes(&self) -> Result<BTreeMap<u64, u64>, String> {
        let distinct = self.distinct();
        let mut prefixes = BTreeMap::new();
        let mut problems = Vec::new();
        for partition in 0..PARTITIONS {
            let ids: Vec<u64> = distinct
                .iter()
                .copied()
                .filter(|&id| partition_of(id) == partition)
                .collect();
            let count = ids.len() as u64;
            let expected: Vec<u64> = (0..count).map(|k| k * PARTITIONS + partition).collect();
            if ids != expected {
                let gaps: Vec<u64> = expected
                    .iter()
                    .copied()
                    .filter(|id| !distinct.contains(id))
                    .collect();
                problems.push(format!(
                    "partition {partition}: {count} ids committed, but not its first {count} records; not committed below the highest committed id {}: {}",
                    ids.last().copied().unwrap_or_default(),
                    ranges(&gaps, 10)
                ));
            }
            prefixes.insert(partition, count);
        }
        if problems.is_empty() {
            Ok(prefixes)
        } else {
            Err(format!(
                "the committed rows are not a prefix of each partition (a committed checkpoint must cover offsets 0..n of every partition it read):\n  {}\n{}",
                problems.join("\n  "),
                self.summary()
            ))
        }
    }

    /// Checks the final names `<job>_<subtask>_<checkpoint>_<seq><ext>`: the job is one of
    /// `job_ids`, the subtask below `parallelism`, the checkpoint between 1 and
    /// `max_checkpoint` (the last completed one), and no two files of one job and subtask
    /// share a checkpoint and sequence number.
    pub fn check_file_names(
        &self,
        job_ids: &[&str],
        parallelism: u64,
        max_checkpoint: u64,
    ) -> Result<(), String> {
        let mut problems = Vec::new();
        for file in &self.files {
            let name = file.entry.name();
            let stem = name.split('.').next().unwrap_or_default();
            let parts: Vec<&str> = stem.rsplitn(4, '_').collect();
            let [seq, checkpoint, subtask, job] = parts.as_slice() else {
                problems.push(format!(
                    "{name}: not <job>_<subtask>_<checkpoint>_<seq>.<ext>"
                ));
                continue;
            };
            if !job_ids.contains(job) {
                problems.push(format!(
                    "{name}: job part {job:?} is none of this test's jobs {job_ids:?}"
                ));
            }
            match subtask.parse::<u64>() {
                Ok(subtask) if subtask < parallelism => {}
                _ => problems.push(format!(
                    "{name}: subtask part {subtask:?} is not a subtask index below the parallelism {parallelism}"
                )),
            }
            match checkpoint.parse::<u64>() {
                Ok(checkpoint) if (1..=max_checkpoint).contains(&checkpoint) => {}
                _ => problems.push(format!(
                    "{name}: checkpoint part {checkpoint:?} is not a completed checkpoint id (1..={max_checkpoint})"
                )),
            }
            if seq.parse::<u64>().is_err() {
                problems.push(format!("{name}: sequence part {seq:?} is not a number"));
            }
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(format!(
                "{} committed file names do not follow <job>_<subtask>_<checkpoint>_<seq>.<ext>:\n  {}",
                problems.len(),
                problems.join("\n  ")
            ))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(name: &str, ids: &[u64]) -> CommittedFile {
        CommittedFile {
            entry: HdfsEntry {
                path: format!("/out/{name}"),
                is_dir: false,
                size: 1,
            },
            ids: ids.to_vec(),
        }
    }

    #[test]
    fn lines_round_trip_and_mangled_lines_fail() {
        for format in [Format::Text, Format::Json] {
            let line = match format {
                Format::Text => format!("17\u{1}{}", pad(17)),
                Format::Json => String::from_utf8(format.payload(17)).unwrap(),
            };
            assert_eq!(format.parse_line(&line), Ok(17));
        }
        assert!(Format::Text.parse_line(&format!("17,{}", pad(17))).is_err());
        assert!(
            Format::Text
                .parse_line(&format!("17\u{1}{}", pad(18)))
                .is_err()
        );
        assert!(Format::Json.parse_line(r#"{"id":17}"#).is_err());
    }

    #[test]
    fn exactly_once_finds_duplicates_missing_and_strays() {
        let good = Committed {
            path: "/out".into(),
            files: vec![file("a", &[0, 2]), file("b", &[1, 3])],
        };
        assert!(good.check_exactly_once(0..4).is_ok());
        assert_eq!(
            good.check_partition_prefixes().unwrap(),
            BTreeMap::from([(0, 1), (1, 1), (2, 1), (3, 1)])
        );
        let bad = Committed {
            path: "/out".into(),
            files: vec![file("a", &[0, 2, 9]), file("b", &[2, 3])],
        };
        let error = bad.check_exactly_once(0..4).unwrap_err();
        assert!(error.contains("DUPLICATES: 1 ids"), "{error}");
        assert!(error.contains("MISSING: 1 of the 4"), "{error}");
        assert!(error.contains("UNEXPECTED: 1 ids"), "{error}");
        let gap = Committed {
            path: "/out".into(),
            files: vec![file("a", &[0, 8])],
        };
        assert!(gap.check_partition_prefixes().is_err());
    }

    #[test]
    fn names_are_checked() {
        let committed = Committed {
            path: "/out".into(),
            files: vec![file("j-abc_1_3_0.txt", &[]), file("j-abc_2_0_x.txt", &[])],
        };
        assert!(committed.check_file_names(&["j-abc"], 3, 3).is_err());
        let ok = Committed {
            path: "/out".into(),
            files: vec![file("j-abc_1_3_0.txt.gz", &[])],
        };
        assert!(ok.check_file_names(&["j-abc"], 2, 3).is_ok());
        assert!(ok.check_file_names(&["j-other"], 2, 3).is_err());
    }

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
