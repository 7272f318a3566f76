//! `--flamegraph OUT.svg`: records the worker with `perf` while the throughput scenario's
//! Kafka → HdfsFile pipeline runs, and folds the samples into a flame graph with the `inferno`
//! crate (as a library: nothing else to install besides `perf`).
//!
//! The release profile keeps line tables (`debug = "line-tables-only"` in the workspace
//! Cargo.toml) but not frame pointers, so stacks are unwound from DWARF: `perf record
//! --call-graph dwarf` copies a slice of each sampled thread's stack, and `perf script` unwinds
//! it afterwards. Next to the SVG the folded stacks (`OUT.folded`, one line per distinct stack
//! with its sample count) are kept for grep and diff between two runs.

use std::io::{BufReader, BufWriter};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use anyhow::{Context as _, bail};

use crate::util::progress;

/// Samples a second per CPU: enough for a 10–60 s pipeline, cheap enough that the worker's
/// own speed barely changes (each sample copies `STACK_BYTES` of stack).
const FREQUENCY: &str = "299";
/// Bytes of each sampled stack copied for DWARF unwinding (deep async stacks need more than
/// perf's default 8 KiB).
const STACK_BYTES: &str = "16384";

/// A `perf record` attached to one process.
pub struct Recording {
    child: Option<Child>,
    data: PathBuf,
    pid: u32,
}

impl Recording {
    /// Starts `perf record` on `pid`, writing its samples to `data`.
    pub fn start(pid: u32, data: &Path) -> anyhow::Result<Self> {
        let child = Command::new("perf")
            // cpu-clock: a software event every machine has (VMs often lack hardware
            // counters), and its sample weight is in nanoseconds of CPU.
            .args(["record", "--quiet", "-e", "cpu-clock", "-F", FREQUENCY, "--call-graph"])
            .arg(format!("dwarf,{STACK_BYTES}"))
            .arg("-p")
            .arg(pid.to_string())
            .arg("-o")
            .arg(data)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .context(
                "cannot run `perf` for --flamegraph: install it (Debian: `apt-get install linux-perf`) \
                 and run as root or with kernel.perf_event_paranoid ≤ 1",
            )?;
        Ok(Recording {
            child: Some(child),
            data: data.to_path_buf(),
            pid,
        })
    }

    /// Stops the recording (SIGINT, as Ctrl-C would: perf then writes its file out), folds the
    /// stacks and writes the flame graph to `svg` (and the folded stacks beside it). Returns
    /// the CPU seconds drawn (each stack's weight is cpu-clock's period, in nanoseconds).
    pub fn finish(mut self, svg: &Path, title: &str) -> anyhow::Result<f64> {
        let child = self.child.take().context("perf is not running")?;
        // SAFETY: kill(2) on the id of a child we have not reaped yet.
        let rc = unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGINT) };
        if rc != 0 {
            bail!(
                "cannot stop perf record: {}",
                std::io::Error::last_os_error()
            );
        }
        let output = child
            .wait_with_output()
            .context("waiting for perf record")?;
        // perf exits 0, or with the signal's status once it has written its data.
        if !self.data.is_file() {
            bail!(
                "perf record of pid {} wrote no data ({}): {}",
                self.pid,
                output.status,
                String::from_utf8_lossy(&output.stderr).trim()
            );
        }
        progress(
            "flamegraph",
            format!(
                "perf recorded the worker into {} ({}); unwinding with `perf script`",
                self.data.display(),
                crate::util::human_bytes(std::fs::metadata(&self.data).map_or(0, |m| m.len()))
            ),
        );
        let script = self.data.with_extension("script");
        let status = Command::new("perf")
            // --no-inline: resolving inlined frames through addr2line takes minutes.
            .args(["script", "--no-inline", "-i"])
            .arg(&self.data)
            .stdin(Stdio::null())
            .stdout(std::fs::File::create(&script).context("creating the perf script file")?)
            .stderr(Stdio::null())
            .status()
            .context("running perf script")?;
        if !status.success() {
            bail!(
                "`perf script -i {}` exited with {status}",
                self.data.display()
            );
        }
        let folded = svg.with_extension("folded");
        fold(&script, &folded)?;
        let _ = std::fs::remove_file(&script);
        let nanoseconds = draw(&folded, svg, title)?;
        Ok(nanoseconds as f64 / 1e9)
    }
}

impl Drop for Recording {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// `perf script` text → folded stacks (inferno's `collapse-perf`).
fn fold(script: &Path, folded: &Path) -> anyhow::Result<()> {
    use inferno::collapse::Collapse as _;
    use inferno::collapse::perf::{Folder, Options};
    let reader = BufReader::new(
        std::fs::File::open(script).with_context(|| format!("opening {}", script.display()))?,
    );
    let writer = BufWriter::new(
        std::fs::File::create(folded).with_context(|| format!("creating {}", folded.display()))?,
    );
    // The defaults keep the thread names (tokio-runtime-w, rdk:broker0…) as the root frames:
    // which thread does the work is half the story.
    Folder::from(Options::default())
        .collapse(reader, writer)
        .context("folding the perf stacks")
}

/// Folded stacks → SVG flame graph; returns the total weight drawn (ns of CPU).
fn draw(folded: &Path, svg: &Path, title: &str) -> anyhow::Result<u64> {
    let text =
        std::fs::read_to_string(folded).with_context(|| format!("reading {}", folded.display()))?;
    let samples: u64 = text
        .lines()
        .filter_map(|line| line.rsplit_once(' ')?.1.parse::<u64>().ok())
        .sum();
    if samples == 0 {
        bail!(
            "perf recorded no stacks of the worker (is it running? see {})",
            folded.display()
        );
    }
    let mut options = inferno::flamegraph::Options::default();
    options.title = title.to_string();
    options.count_name = "ns of CPU".to_string();
    let writer = BufWriter::new(
        std::fs::File::create(svg).with_context(|| format!("creating {}", svg.display()))?,
    );
    inferno::flamegraph::from_lines(&mut options, text.lines(), writer)
        .context("drawing the flame graph")?;
    Ok(samples)
}
