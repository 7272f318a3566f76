//! Live memory of the worker and the memory governor.
//!
//! The governor samples the process RSS every `memory_sample_interval_ms`. Above the soft
//! watermark of `memory.limit` it pauses all intake (every source stops reading) until RSS falls
//! below the resume mark; the hysteresis keeps it from flapping. Its state travels in every
//! heartbeat, so `weir workers` shows it.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use sysinfo::{Pid, ProcessRefreshKind, ProcessesToUpdate, System};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::{info, warn};
use weir_proto::v1 as pb;

/// One measurement of the worker's memory.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MemorySample {
    pub process_rss: u64,
    pub system_total: u64,
    pub system_available: u64,
    pub cgroup_limit: Option<u64>,
}

#[derive(Debug, thiserror::Error)]
pub enum MemoryError {
    #[error("cannot read this system's memory figures: {0}")]
    Unsupported(String),
}

/// Reads process and system memory with sysinfo.
pub struct MemoryProbe {
    system: System,
    pid: Pid,
}

impl MemoryProbe {
    pub fn new() -> Result<Self, MemoryError> {
        let system = System::new().map_err(|error| MemoryError::Unsupported(error.to_string()))?;
        let pid = sysinfo::get_current_pid()
            .map_err(|error| MemoryError::Unsupported(error.to_string()))?;
        Ok(Self { system, pid })
    }

    pub fn sample(&mut self) -> MemorySample {
        self.system.refresh_memory();
        self.system.refresh_processes_specifics(
            ProcessesToUpdate::Some(&[self.pid]),
            false,
            ProcessRefreshKind::nothing().with_memory(),
        );
        let process = self.system.process(self.pid);
        let process_rss = process.map(|process| process.memory()).unwrap_or_default();
        // The limit of the cgroup this process is in (and of its ancestors), read through
        // /proc/self/cgroup: a worker in a child cgroup — a systemd unit's `MemoryMax=`, a
        // `systemd-run --scope -p MemoryMax=` — has it there, not at the root of the hierarchy,
        // which is all the system-wide reading sees (enough only inside a container's cgroup
        // namespace).
        let cgroup = process
            .and_then(|process| process.cgroup_limits())
            .or_else(|| self.system.cgroup_limits());
        MemorySample {
            process_rss,
            system_total: self.system.total_memory(),
            system_available: self.system.available_memory(),
            cgroup_limit: cgroup
                .map(|limits| limits.total_memory)
                .filter(|&limit| limit > 0 && limit < self.system.total_memory()),
        }
    }
}

/// `memory.limit` when the configuration sets none: the cgroup limit, else a fraction of RAM.
pub fn default_memory_limit(sample: &MemorySample, memory_fraction: f64) -> u64 {
    sample
        .cgroup_limit
        .unwrap_or((sample.system_total as f64 * memory_fraction) as u64)
}

/// The governor's thresholds, in bytes of process RSS.
#[derive(Debug, Clone, Copy)]
pub struct Watermarks {
    pub pause_at: u64,
    pub resume_below: u64,
}

impl Watermarks {
    pub fn new(memory_limit: u64, soft: f64, resume: f64) -> Self {
        Self {
            pause_at: (memory_limit as f64 * soft) as u64,
            resume_below: (memory_limit as f64 * resume) as u64,
        }
    }

    /// Whether intake should be paused after seeing `rss`, given whether it is paused now.
    pub fn paused_after(&self, paused: bool, rss: u64) -> bool {
        if paused {
            rss >= self.resume_below
        } else {
            rss >= self.pause_at
        }
    }
}

/// The latest memory sample and the intake switch, shared with the heartbeat and the tasks.
#[derive(Clone)]
pub struct MemoryState {
    latest: Arc<Mutex<MemorySample>>,
    paused: watch::Receiver<bool>,
}

impl MemoryState {
    pub fn latest(&self) -> MemorySample {
        *self.latest.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub fn paused(&self) -> bool {
        *self.paused.borrow()
    }

    /// The switch tasks watch: `true` means stop reading.
    pub fn intake_paused(&self) -> watch::Receiver<bool> {
        self.paused.clone()
    }

    pub fn report(&self, memory_limit: u64, reserved: u64) -> pb::MemoryReport {
        let sample = self.latest();
        pb::MemoryReport {
            process_rss_bytes: sample.process_rss,
            system_total_bytes: sample.system_total,
            system_available_bytes: sample.system_available,
            cgroup_limit_bytes: sample.cgroup_limit,
            memory_limit_bytes: memory_limit,
            reserved_bytes: reserved,
            pressure: if self.paused() {
                pb::MemoryPressure::Paused
            } else {
                pb::MemoryPressure::Normal
            } as i32,
        }
    }
}

/// Starts the governor loop under `tracker`, until `stop` fires; returns the shared state it
/// keeps up to date.
pub fn start_governor(
    mut probe: MemoryProbe,
    watermarks: Watermarks,
    interval: Duration,
    tracker: &TaskTracker,
    stop: CancellationToken,
) -> MemoryState {
    let first = probe.sample();
    let latest = Arc::new(Mutex::new(first));
    let (pause_switch, paused) = watch::channel(false);
    let shared = Arc::clone(&latest);
    tracker.spawn(async move {
        let mut ticker = tokio::time::interval(interval);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                () = stop.cancelled() => return,
                _ = ticker.tick() => {}
            }
            let sample = probe.sample();
            *shared.lock().unwrap_or_else(PoisonError::into_inner) = sample;
            let was_paused = *pause_switch.borrow();
            let now_paused = watermarks.paused_after(was_paused, sample.process_rss);
            if now_paused != was_paused {
                if now_paused {
                    warn!(
                        rss = sample.process_rss,
                        pause_at = watermarks.pause_at,
                        "memory above the soft watermark: intake paused"
                    );
                } else {
                    info!(
                        rss = sample.process_rss,
                        resume_below = watermarks.resume_below,
                        "memory back below the resume mark: intake resumed"
                    );
                }
                if pause_switch.send(now_paused).is_err() {
                    return;
                }
            }
        }
    });
    MemoryState { latest, paused }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn governor_pauses_above_soft_and_resumes_below_resume_mark() {
        let marks = Watermarks::new(1000, 0.85, 0.75);
        assert!(!marks.paused_after(false, 849));
        assert!(marks.paused_after(false, 850));
        assert!(marks.paused_after(true, 800), "hysteresis keeps it paused");
        assert!(!marks.paused_after(true, 749));
    }

    #[test]
    fn probe_reads_a_plausible_rss() {
        fn proc_rss() -> u64 {
            let status = std::fs::read_to_string("/proc/self/status").unwrap();
            let vm_rss_kib: u64 = status
                .lines()
                .find_map(|line| line.strip_prefix("VmRSS:"))
                .and_then(|rest| rest.split_whitespace().next())
                .and_then(|number| number.parse().ok())
                .unwrap();
            vm_rss_kib * 1024
        }
        let mut probe = MemoryProbe::new().unwrap();
        // Other tests of this binary allocate concurrently: compare with /proc read just
        // before and just after the sample.
        let before = proc_rss();
        let sample = probe.sample();
        let after = proc_rss();
        let (low, high) = (before.min(after), before.max(after));
        assert!(
            sample.process_rss as f64 >= low as f64 * 0.9
                && sample.process_rss as f64 <= high as f64 * 1.1,
            "sysinfo {} vs /proc {before}..{after}",
            sample.process_rss,
        );
        assert!(sample.system_total >= sample.system_available);
    }

    #[test]
    fn default_limit_prefers_the_cgroup() {
        let mut sample = MemorySample {
            system_total: 16 << 30,
            ..MemorySample::default()
        };
        assert_eq!(default_memory_limit(&sample, 0.5), 8 << 30);
        sample.cgroup_limit = Some(2 << 30);
        assert_eq!(default_memory_limit(&sample, 0.5), 2 << 30);
    }
}
