//! Small shared pieces: progress lines, units, /proc readings, waiting with a deadline.

use std::sync::OnceLock;
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use serde_json::Value;
pub use weir_e2e::job_json::{splits, tasks, text as text_of, u64_of};

pub const KIB: u64 = 1 << 10;
pub const MIB: u64 = 1 << 20;
pub const GIB: u64 = 1 << 30;

fn start() -> Instant {
    static START: OnceLock<Instant> = OnceLock::new();
    *START.get_or_init(Instant::now)
}

/// Marks the start of the program (progress lines show the time since).
pub fn init_clock() {
    let _ = start();
}

/// A progress line on stderr: `[  12.3s] [scenario] message`.
pub fn progress(scenario: &str, message: impl std::fmt::Display) {
    eprintln!(
        "[{:>7.1}s] [{scenario}] {message}",
        start().elapsed().as_secs_f64()
    );
}

pub fn mib(bytes: u64) -> f64 {
    bytes as f64 / MIB as f64
}

/// `1.5 GiB`, `12.0 MiB`, `512 B`.
pub fn human_bytes(bytes: u64) -> String {
    if bytes >= GIB {
        format!("{:.2} GiB", bytes as f64 / GIB as f64)
    } else if bytes >= MIB {
        format!("{:.1} MiB", bytes as f64 / MIB as f64)
    } else if bytes >= KIB {
        format!("{:.1} KiB", bytes as f64 / KIB as f64)
    } else {
        format!("{bytes} B")
    }
}

/// Rounds to `digits` decimals (for JSON figures people read).
pub fn round(value: f64, digits: i32) -> f64 {
    let factor = 10f64.powi(digits);
    // `+ 0.0` turns -0.0 into 0.0.
    (value * factor).round() / factor + 0.0
}

/// Scales a duration in seconds, with a floor so tiny scales still measure something.
pub fn scaled_secs(seconds: f64, scale: f64, floor: f64) -> Duration {
    Duration::from_secs_f64((seconds * scale).max(floor))
}

/// User + system CPU seconds of a process so far (`/proc/PID/stat`).
pub fn proc_cpu_seconds(pid: u32) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) is in parentheses and may hold spaces.
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // rest starts at field 3 (state); utime is field 14, stime field 15.
    let utime: f64 = fields.get(11)?.parse().ok()?;
    let stime: f64 = fields.get(12)?.parse().ok()?;
    // SAFETY: sysconf has no preconditions.
    let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    let ticks = if ticks > 0 { ticks as f64 } else { 100.0 };
    Some((utime + stime) / ticks)
}

/// Polls `probe` every `every` until it returns `Ok(Some(_))`, for at most `timeout`; the
/// error names `what` and the last observation.
pub fn wait_for<T>(
    what: &str,
    timeout: Duration,
    every: Duration,
    mut probe: impl FnMut() -> anyhow::Result<Result<T, String>>,
) -> anyhow::Result<T> {
    let started = Instant::now();
    loop {
        let observed = match probe()? {
            Ok(value) => return Ok(value),
            Err(observed) => observed,
        };
        if started.elapsed() >= timeout {
            bail!(
                "timed out after {:.0?} waiting until {what}; last observed: {observed}",
                started.elapsed()
            );
        }
        std::thread::sleep(every);
    }
}

/// Sleeps until `deadline` (no-op if it passed).
pub fn sleep_until(deadline: Instant) {
    let now = Instant::now();
    if deadline > now {
        std::thread::sleep(deadline - now);
    }
}

/// A line about a job for progress output.
pub fn job_line(job: &Value) -> String {
    format!(
        "{} rows_read {} rows_written {} lag {} queue {} ckpt {}",
        text_of(job, "state"),
        u64_of(job, "rows_read"),
        u64_of(job, "rows_written"),
        job["consumer_lag"].as_i64().unwrap_or_default(),
        human_bytes(u64_of(job, "queue_bytes")),
        job["checkpoints"]["last_completed_id"]
            .as_u64()
            .unwrap_or_default(),
    )
}

/// Free space of the file system holding `path`, in bytes.
pub fn free_space(path: &std::path::Path) -> anyhow::Result<u64> {
    use std::ffi::CString;
    use std::os::unix::ffi::OsStrExt as _;
    let c_path = CString::new(path.as_os_str().as_bytes()).context("path with a NUL byte")?;
    let mut stat: libc::statvfs = unsafe { std::mem::zeroed() };
    // SAFETY: c_path is a valid C string and stat a valid out pointer.
    let rc = unsafe { libc::statvfs(c_path.as_ptr(), &mut stat) };
    if rc != 0 {
        bail!(
            "statvfs({}): {}",
            path.display(),
            std::io::Error::last_os_error()
        );
    }
    Ok(stat.f_bavail as u64 * stat.f_frsize as u64)
}

/// A target printed beside a figure (never asserted).
pub fn target(description: &str, value: f64, met: bool) -> Value {
    serde_json::json!({
        "target": description,
        "value": value,
        "met": met,
    })
}

/// The highest queue bytes and librdkafka prefetch bytes (summed over splits) seen in a job's
/// samples.
#[derive(Debug, Default, Clone, Copy)]
pub struct BufferPeaks {
    pub queue: u64,
    pub prefetch: u64,
}

impl BufferPeaks {
    /// Takes one sample of the job (`weir job -o json`).
    pub fn observe(&mut self, job: &Value) {
        self.queue = self.queue.max(u64_of(job, "queue_bytes"));
        let prefetch: u64 = splits(job)
            .iter()
            .map(|split| u64_of(split, "prefetch_bytes"))
            .sum();
        self.prefetch = self.prefetch.max(prefetch);
    }
}
