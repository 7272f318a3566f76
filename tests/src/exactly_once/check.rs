//! Checking the ids of the committed files: duplicates, missing and unexpected ids, partition
//! prefixes and file names.

use std::collections::{BTreeMap, BTreeSet};
use std::ops::Range;

use super::committed::Committed;
use super::records::{PARTITIONS, partition_of};

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
    use crate::stack::HdfsEntry;

    use super::*;
    use crate::exactly_once::committed::CommittedFile;

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
}
