//! The local stack from tests: `deploy/local/stack` commands (stopping and starting one service,
//! e.g. the NameNode, while the rest runs) and HDFS's own command-line client, Hadoop's FsShell
//! (`deploy/local/stack run hdfs org.apache.hadoop.fs.FsShell …`), as the independent reader of
//! what Weir wrote: tests never judge Weir's files with Weir's own code.
//!
//! Every call is blocking and starts one JVM (about a second); failures carry the command and
//! its output.

use std::path::PathBuf;
use std::process::{Command, Output, Stdio};
use std::time::Instant;

/// `deploy/local/stack` of this repository.
pub fn stack_script() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join("deploy")
        .join("local")
        .join("stack")
}

/// Runs `deploy/local/stack ARGS` and returns what it did (the stack's own settings, such as
/// `WEIR_STACK_DIR`, come from the test's environment).
pub fn stack(args: &[&str]) -> Output {
    Command::new(stack_script())
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|error| {
            panic!(
                "cannot run {} {}: {error}",
                stack_script().display(),
                args.join(" ")
            )
        })
}

fn describe(args: &[&str], output: &Output) -> String {
    format!(
        "`deploy/local/stack {}` exited with {}\n--- stdout ---\n{}\n--- stderr ---\n{}",
        args.join(" "),
        output.status,
        tail_text(&String::from_utf8_lossy(&output.stdout), 40),
        tail_text(&String::from_utf8_lossy(&output.stderr), 40),
    )
}

fn tail_text(text: &str, lines: usize) -> String {
    let all: Vec<&str> = text.trim_end().lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

/// Runs `deploy/local/stack ARGS`; `Err` describes a non-zero exit.
pub fn try_stack(args: &[&str]) -> Result<Output, String> {
    let output = stack(args);
    if output.status.success() {
        Ok(output)
    } else {
        Err(describe(args, &output))
    }
}

// ----------------------------------------------------------------------------------------------
// FsShell
// ----------------------------------------------------------------------------------------------

const FS_SHELL: &str = "org.apache.hadoop.fs.FsShell";

/// Runs `FsShell ARGS` on the stack's Hadoop classpath and configuration.
pub fn fs_shell(args: &[&str]) -> Output {
    let mut all = vec!["run", "hdfs", FS_SHELL];
    all.extend_from_slice(args);
    stack(&all)
}

/// Runs `FsShell ARGS`; `Err` describes a non-zero exit.
pub fn try_fs_shell(args: &[&str]) -> Result<Output, String> {
    let mut all = vec!["run", "hdfs", FS_SHELL];
    all.extend_from_slice(args);
    try_stack(&all)
}

/// One line of `FsShell -ls -R`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HdfsEntry {
    /// Absolute path, without the `hdfs://host:port` prefix.
    pub path: String,
    /// Whether it is a directory.
    pub is_dir: bool,
    /// Length in bytes (0 for directories).
    pub size: u64,
}

impl HdfsEntry {
    /// The last path component.
    pub fn name(&self) -> &str {
        self.path.rsplit('/').next().unwrap_or_default()
    }
}

/// Parses `-ls` output: `drwxr-xr-x   - user group   0 2026-11-25 16:00 /dir` and
/// `-rw-r--r--   1 user group 1234 2026-11-25 16:00 /dir/file`; other lines (`Found N items`)
/// are skipped.
pub fn parse_ls(stdout: &str) -> Result<Vec<HdfsEntry>, String> {
    let mut entries = Vec::new();
    for line in stdout.lines() {
        let line = line.trim_end();
        if line.is_empty() || line.starts_with("Found ") {
            continue;
        }
        // Seven whitespace-separated fields, then the path (which may hold spaces).
        let mut rest = line;
        let mut fields = Vec::with_capacity(7);
        for _ in 0..7 {
            let trimmed = rest.trim_start();
            let end = trimmed.find(char::is_whitespace).ok_or_else(|| {
                format!("cannot parse this `FsShell -ls` line (too few fields): {line:?}")
            })?;
            fields.push(&trimmed[..end]);
            rest = &trimmed[end..];
        }
        let path = rest.trim_start().to_string();
        if path.is_empty() {
            return Err(format!("no path in this `FsShell -ls` line: {line:?}"));
        }
        let is_dir = fields[0].starts_with('d');
        let size = fields[4]
            .parse()
            .map_err(|error| format!("bad size {:?} ({error}) in {line:?}", fields[4]))?;
        // FsShell prints full URIs when given one; keep only the path.
        let path = match path.strip_prefix("hdfs://") {
            Some(after) => after
                .find('/')
                .map(|slash| after[slash..].to_string())
                .unwrap_or_else(|| "/".to_string()),
            None => path,
        };
        entries.push(HdfsEntry { path, is_dir, size });
    }
    Ok(entries)
}

/// Everything under `dir` (`FsShell -ls -R DIR`), sorted by path. `Err` when FsShell fails,
/// e.g. because `dir` does not exist.
pub fn list_recursive(dir: &str) -> Result<Vec<HdfsEntry>, String> {
    let output = try_fs_shell(&["-ls", "-R", dir])?;
    let mut entries = parse_ls(&String::from_utf8_lossy(&output.stdout))?;
    entries.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(entries)
}

/// Whether `path` exists (`FsShell -test -e`).
pub fn exists(path: &str) -> bool {
    fs_shell(&["-test", "-e", path]).status.success()
}

/// Files `FsShell -cat` reads in one JVM.
const CAT_BATCH: usize = 200;
/// JVMs that run `FsShell -text` for compressed files at once.
const TEXT_JOBS: usize = 3;

/// The contents of `files` as FsShell shows them: plain files with `-cat` (many per JVM; the
/// output is cut at the lengths `-ls` listed, and must add up to them exactly), files ending
/// `.gz` with `-text` (which decompresses them; one JVM each). In the order given.
pub fn read_files(files: &[HdfsEntry]) -> Result<Vec<Vec<u8>>, String> {
    let started = Instant::now();
    let mut contents: Vec<Option<Vec<u8>>> = vec![None; files.len()];
    let plain: Vec<usize> = (0..files.len())
        .filter(|&index| !files[index].path.ends_with(".gz"))
        .collect();
    let compressed: Vec<usize> = (0..files.len())
        .filter(|&index| files[index].path.ends_with(".gz"))
        .collect();
    for batch in plain.chunks(CAT_BATCH) {
        let mut args = vec!["-cat"];
        args.extend(batch.iter().map(|&index| files[index].path.as_str()));
        let output = try_fs_shell(&args)?;
        let expected: u64 = batch.iter().map(|&index| files[index].size).sum();
        if output.stdout.len() as u64 != expected {
            return Err(format!(
                "`FsShell -cat` of {} files gave {} bytes, but `-ls` listed {expected} for them (did a final file change after it was listed?): {:?}",
                batch.len(),
                output.stdout.len(),
                batch
                    .iter()
                    .map(|&index| &files[index].path)
                    .collect::<Vec<_>>()
            ));
        }
        let mut at = 0usize;
        for &index in batch {
            let size = files[index].size as usize;
            contents[index] = Some(output.stdout[at..at + size].to_vec());
            at += size;
        }
    }
    let decompressed: Vec<Result<(usize, Vec<u8>), String>> = std::thread::scope(|scope| {
        let handles: Vec<_> = compressed
            .chunks(compressed.len().div_ceil(TEXT_JOBS).max(1))
            .map(|share| {
                scope.spawn(move || {
                    share
                        .iter()
                        .map(|&index| {
                            try_fs_shell(&["-text", files[index].path.as_str()])
                                .map(|output| (index, output.stdout))
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|handle| handle.join().expect("an FsShell -text thread"))
            .collect()
    });
    for result in decompressed {
        let (index, bytes) = result?;
        contents[index] = Some(bytes);
    }
    eprintln!(
        "[fs_shell] read {} files ({} plain with -cat, {} compressed with -text) in {:.1?}",
        files.len(),
        plain.len(),
        compressed.len(),
        started.elapsed()
    );
    Ok(contents
        .into_iter()
        .map(|content| content.expect("every file was read"))
        .collect())
}

/// Deletes `path` recursively, skipping the trash; best effort (this is clean-up).
pub fn remove_recursive(path: &str) {
    if let Err(error) = try_fs_shell(&["-rm", "-r", "-f", "-skipTrash", path]) {
        eprintln!("warning: cannot delete {path} from HDFS: {error}");
    }
}

// ----------------------------------------------------------------------------------------------
// Service outages
// ----------------------------------------------------------------------------------------------

/// One service of the stack, stopped (`deploy/local/stack stop SERVICE`). [`ServiceOutage::end`]
/// starts it again (`deploy/local/stack start SERVICE`, which returns once the service is
/// ready: Kafka serves metadata, HDFS serves writes); dropping the outage without ending it
/// starts it too, so a failing test never leaves the stack half down for the other tests.
pub struct ServiceOutage {
    /// `kafka`, `namenode` or `datanode`, as the stack script names them.
    service: &'static str,
    stopped_at: Option<Instant>,
}

impl ServiceOutage {
    /// Stops `service` (`kafka`, `namenode` or `datanode`); panics with the script's output if
    /// that fails.
    pub fn begin(service: &'static str) -> Self {
        let output = try_stack(&["stop", service]).unwrap_or_else(|error| {
            panic!("cannot stop {service}: {error}");
        });
        eprintln!(
            "[stack] {}",
            String::from_utf8_lossy(&output.stdout).trim_end()
        );
        ServiceOutage {
            service,
            stopped_at: Some(Instant::now()),
        }
    }

    /// How long the service has been down (zero once started again).
    pub fn elapsed(&self) -> std::time::Duration {
        self.stopped_at.map(|at| at.elapsed()).unwrap_or_default()
    }

    /// Starts the service again and waits until it is ready; panics if it cannot.
    pub fn end(&mut self) {
        if let Err(error) = self.start() {
            panic!("cannot start {} again: {error}", self.service);
        }
    }

    fn start(&mut self) -> Result<(), String> {
        let Some(stopped_at) = self.stopped_at.take() else {
            return Ok(());
        };
        let started = Instant::now();
        let output = try_stack(&["start", self.service])?;
        eprintln!(
            "[stack] {} was down for {:.1?}; started again and ready in {:.1?}:\n{}",
            self.service,
            started.duration_since(stopped_at),
            started.elapsed(),
            String::from_utf8_lossy(&output.stdout).trim_end()
        );
        Ok(())
    }
}

impl Drop for ServiceOutage {
    fn drop(&mut self) {
        if self.stopped_at.is_some() {
            let service = self.service;
            eprintln!("[stack] starting {service} again after the outage ended early");
            if let Err(error) = self.start() {
                eprintln!(
                    "error: {service} could not be started again; run `deploy/local/stack start {service}`: {error}"
                );
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ls_lines_parse() {
        let out = "Found 2 items\n\
            drwxr-xr-x   - root supergroup          0 2026-11-25 16:00 /a/out\n\
            -rw-r--r--   1 root supergroup       1234 2026-11-25 16:00 /a/out/j-1_0_1_0.txt\n\
            -rw-r--r--   1 root supergroup          7 2026-11-25 16:00 hdfs://127.0.0.1:9000/a/b c\n";
        let entries = parse_ls(out).unwrap();
        assert_eq!(
            entries,
            vec![
                HdfsEntry {
                    path: "/a/out".into(),
                    is_dir: true,
                    size: 0
                },
                HdfsEntry {
                    path: "/a/out/j-1_0_1_0.txt".into(),
                    is_dir: false,
                    size: 1234
                },
                HdfsEntry {
                    path: "/a/b c".into(),
                    is_dir: false,
                    size: 7
                },
            ]
        );
        assert_eq!(entries[1].name(), "j-1_0_1_0.txt");
        assert!(parse_ls("-rw-r--r-- 1 root\n").is_err());
    }
}
