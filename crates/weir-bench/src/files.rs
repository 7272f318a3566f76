//! Reading back what a sink committed: on HDFS with hdfs-native (a client library, not Weir's
//! code; faster than a JVM per call), or on the local file system. Also the clean-up.

use std::collections::BTreeMap;
use std::path::PathBuf;

use anyhow::Context as _;
use hdfs_native::{Client, ClientBuilder};

/// One committed file.
#[derive(Debug, Clone)]
pub struct FileEntry {
    pub path: String,
    pub size: u64,
}

/// Where a sink writes.
pub enum Store {
    Hdfs {
        runtime: tokio::runtime::Runtime,
        client: Client,
    },
    Local,
}

impl Store {
    pub fn hdfs(url: &str) -> anyhow::Result<Self> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .context("a runtime for the HDFS client")?;
        let _context = runtime.enter();
        let client = ClientBuilder::new()
            .with_url(url)
            .build()
            .with_context(|| format!("HDFS client for {url}"))?;
        Ok(Store::Hdfs { runtime, client })
    }

    pub fn local() -> Self {
        Store::Local
    }

    /// Files (not directories) under `dir`, recursively; empty if `dir` does not exist.
    pub fn list(&self, dir: &str) -> anyhow::Result<Vec<FileEntry>> {
        match self {
            Store::Hdfs { runtime, client } => runtime.block_on(async {
                if client.get_file_info(dir).await.is_err() {
                    return Ok(Vec::new());
                }
                let statuses = client
                    .list_status(dir, true)
                    .await
                    .with_context(|| format!("listing {dir}"))?;
                Ok(statuses
                    .into_iter()
                    .filter(|status| !status.isdir)
                    .map(|status| FileEntry {
                        path: status.path,
                        size: status.length as u64,
                    })
                    .collect())
            }),
            Store::Local => {
                let mut files = Vec::new();
                let mut stack = vec![PathBuf::from(dir)];
                while let Some(next) = stack.pop() {
                    let Ok(entries) = std::fs::read_dir(&next) else {
                        continue;
                    };
                    for entry in entries.flatten() {
                        let meta = entry.metadata()?;
                        if meta.is_dir() {
                            stack.push(entry.path());
                        } else {
                            files.push(FileEntry {
                                path: entry.path().display().to_string(),
                                size: meta.len(),
                            });
                        }
                    }
                }
                files.sort_by(|a, b| a.path.cmp(&b.path));
                Ok(files)
            }
        }
    }

    pub fn read(&self, path: &str) -> anyhow::Result<Vec<u8>> {
        match self {
            Store::Hdfs { runtime, client } => runtime.block_on(async {
                let reader = client
                    .read(path)
                    .await
                    .with_context(|| format!("opening {path}"))?;
                let length = reader.file_length();
                let bytes = reader
                    .read_range(0, length)
                    .await
                    .with_context(|| format!("reading {path}"))?;
                Ok(bytes.to_vec())
            }),
            Store::Local => std::fs::read(path).with_context(|| format!("reading {path}")),
        }
    }

    /// Deletes `dir` recursively, best effort.
    pub fn delete(&self, dir: &str) {
        match self {
            Store::Hdfs { runtime, client } => {
                let _ = runtime.block_on(client.delete(dir, true));
            }
            Store::Local => {
                let _ = std::fs::remove_dir_all(dir);
            }
        }
    }
}

/// Lines counted in the committed files, and the (partition, seq) pairs seen (if parsed).
#[derive(Debug, Default)]
pub struct Committed {
    pub files: usize,
    pub bytes: u64,
    pub rows: u64,
    /// Per partition, how often each seq occurs.
    pub seen: BTreeMap<i64, BTreeMap<u64, u32>>,
    pub unparsable: u64,
}

impl Committed {
    /// Exactly-once against the watermarks: every (p, seq) with seq < high(p) occurs once,
    /// nothing else occurs. Returns (missing, duplicated, unexpected) counts.
    pub fn check_exactly_once(&self, highs: &[i64]) -> (u64, u64, u64) {
        let (mut missing, mut duplicated, mut unexpected) = (0u64, 0u64, 0u64);
        for (partition, high) in highs.iter().enumerate() {
            let seen = self.seen.get(&(partition as i64));
            for seq in 0..*high as u64 {
                match seen.and_then(|seen| seen.get(&seq)) {
                    None => missing += 1,
                    Some(1) => {}
                    Some(n) => duplicated += u64::from(n - 1),
                }
            }
        }
        for (partition, seqs) in &self.seen {
            let high = highs.get(*partition as usize).copied().unwrap_or(0) as u64;
            unexpected += seqs
                .iter()
                .filter(|(seq, _)| **seq >= high)
                .map(|(_, n)| u64::from(*n))
                .sum::<u64>();
        }
        (missing, duplicated, unexpected + self.unparsable)
    }
}

/// Lists the committed files under `dir`; with `parse`, reads each one and parses every JSON
/// line's `p` and `seq`, else only adds up sizes (rows then stays 0).
pub fn committed(store: &Store, dir: &str, parse: bool) -> anyhow::Result<Committed> {
    let files = store.list(dir)?;
    let mut committed = Committed {
        files: files.len(),
        bytes: files.iter().map(|file| file.size).sum(),
        ..Committed::default()
    };
    if !parse {
        return Ok(committed);
    }
    for file in &files {
        let bytes = store.read(&file.path)?;
        for line in bytes.split(|&b| b == b'\n').filter(|line| !line.is_empty()) {
            committed.rows += 1;
            match parse_p_seq(line) {
                Some((p, seq)) => {
                    *committed.seen.entry(p).or_default().entry(seq).or_default() += 1
                }
                None => committed.unparsable += 1,
            }
        }
    }
    Ok(committed)
}

/// `p` and `seq` of a JSON line `{"p":P,"seq":N,...}` (cheap: no full JSON parse of the pad).
fn parse_p_seq(line: &[u8]) -> Option<(i64, u64)> {
    let text = std::str::from_utf8(line).ok()?;
    let number_after = |key: &str| -> Option<i64> {
        let start = text.find(key)? + key.len();
        let rest = &text[start..];
        let end = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '-'))
            .unwrap_or(rest.len());
        rest[..end].parse().ok()
    };
    let p = number_after("\"p\":")?;
    let seq = number_after("\"seq\":")?;
    Some((p, u64::try_from(seq).ok()?))
}

/// Counts the lines of every committed file (for text/json sinks: one row per line).
pub fn count_lines(store: &Store, dir: &str) -> anyhow::Result<(usize, u64, u64)> {
    let files = store.list(dir)?;
    let mut lines = 0u64;
    let mut bytes = 0u64;
    for file in &files {
        let content = store.read(&file.path)?;
        bytes += content.len() as u64;
        lines += content.iter().filter(|&&b| b == b'\n').count() as u64;
    }
    Ok((files.len(), lines, bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_p_and_seq() {
        assert_eq!(
            parse_p_seq(br#"{"p":3,"seq":12345,"pad":"abc"}"#),
            Some((3, 12345))
        );
        assert_eq!(parse_p_seq(b"nonsense"), None);
    }

    #[test]
    fn exactly_once_counts() {
        let mut committed = Committed::default();
        for (p, seq) in [(0, 0), (0, 1), (0, 1), (1, 0), (1, 5)] {
            *committed.seen.entry(p).or_default().entry(seq).or_default() += 1;
        }
        // partition 0 has 0..3 (2 missing), partition 1 has 0..1 (5 unexpected)
        assert_eq!(committed.check_exactly_once(&[3, 1]), (1, 1, 1));
    }
}
