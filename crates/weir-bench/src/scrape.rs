//! What Prometheus scraping costs a worker: a scraper that GETs the worker's `/metrics` every
//! second while a benchmark job runs (as a production Prometheus would), and a measurement of
//! the worker CPU one scrape takes, from a burst of scrapes against the worker's idle CPU rate.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};

use crate::cluster::Worker;

/// Scrapes in the burst that measures one scrape's CPU.
const BURST: u32 = 1000;
/// How long the worker's CPU rate without scrapes is measured before the burst.
const BASELINE: Duration = Duration::from_secs(3);

/// The worker's `/metrics` exposition.
fn exposition(address: SocketAddr) -> anyhow::Result<Vec<u8>> {
    let response = weir_e2e::http::get(&format!("http://{address}/metrics"))
        .map_err(anyhow::Error::msg)
        .context("scraping the worker")?;
    if response.status != 200 {
        bail!("the worker's /metrics answered {}", response.status);
    }
    Ok(response.body)
}

fn scrape(address: SocketAddr) -> anyhow::Result<usize> {
    Ok(exposition(address)?.len())
}

/// Where the worker's subtasks spent their time, summed over them (seconds): the drain
/// loops idle (their queues empty), the drain loops waiting for the sink, and the readers
/// waiting for room in their queues (`weir_task_idle_seconds`, `weir_task_sink_wait_seconds`,
/// `weir_task_queue_full_seconds`).
#[derive(Debug, Clone, Copy, Default)]
pub struct Waits {
    pub idle: f64,
    pub sink_wait: f64,
    pub queue_full: f64,
    /// The readers waiting for their source (`weir_task_source_wait_seconds`).
    pub source_wait: f64,
    /// Rows the subtasks' sinks accepted (`weir_task_records_written_total`).
    pub rows_written: f64,
    /// Subtasks seen.
    pub subtasks: u32,
}

impl Waits {
    /// What happened between `earlier` and `self`.
    pub fn since(&self, earlier: &Waits) -> Waits {
        Waits {
            idle: self.idle - earlier.idle,
            sink_wait: self.sink_wait - earlier.sink_wait,
            queue_full: self.queue_full - earlier.queue_full,
            source_wait: self.source_wait - earlier.source_wait,
            rows_written: self.rows_written - earlier.rows_written,
            subtasks: self.subtasks,
        }
    }
}

/// Reads [`Waits`] from the worker's `/metrics` (only subtasks still running have series).
pub fn waits(address: SocketAddr) -> anyhow::Result<Waits> {
    let body = exposition(address)?;
    let text = String::from_utf8_lossy(&body);
    let mut waits = Waits::default();
    for line in text.lines() {
        let Some((series, value)) = line.rsplit_once(' ') else {
            continue;
        };
        let Ok(value) = value.parse::<f64>() else {
            continue;
        };
        let name = series.split('{').next().unwrap_or_default();
        match name {
            "weir_task_idle_seconds_total" => {
                waits.idle += value;
                waits.subtasks += 1;
            }
            "weir_task_sink_wait_seconds_total" => waits.sink_wait += value,
            "weir_task_queue_full_seconds_total" => waits.queue_full += value,
            "weir_task_source_wait_seconds_total" => waits.source_wait += value,
            "weir_task_records_written_total" => waits.rows_written += value,
            _ => {}
        }
    }
    Ok(waits)
}

/// GETs `/metrics` every second until stopped.
pub struct Scraper {
    stop: Arc<AtomicBool>,
    thread: JoinHandle<(u64, u64)>,
}

impl Scraper {
    pub fn start(address: SocketAddr) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let stopped = Arc::clone(&stop);
        let thread = std::thread::spawn(move || {
            let (mut scrapes, mut bytes) = (0u64, 0u64);
            let mut next = Instant::now();
            while !stopped.load(Ordering::Relaxed) {
                if let Ok(size) = scrape(address) {
                    scrapes += 1;
                    bytes = size as u64;
                }
                next += Duration::from_secs(1);
                while Instant::now() < next && !stopped.load(Ordering::Relaxed) {
                    std::thread::sleep(Duration::from_millis(50));
                }
            }
            (scrapes, bytes)
        });
        Scraper { stop, thread }
    }

    /// Stops it: (scrapes made, size of the last exposition).
    pub fn stop(self) -> (u64, u64) {
        self.stop.store(true, Ordering::Relaxed);
        self.thread.join().unwrap_or_default()
    }
}

/// One scrape's cost, measured while the worker holds its job's series.
pub struct ScrapeCost {
    /// Worker CPU seconds one scrape takes: the CPU a burst of scrapes used, less what the
    /// worker used meanwhile at its rate without scrapes.
    pub cpu_seconds: f64,
    /// Worker CPU seconds and wall-clock seconds the measurement itself took (to leave out of
    /// the pipeline's figures).
    pub spent_cpu: f64,
    pub spent_seconds: f64,
}

pub fn cost_of_a_scrape(worker: &Worker) -> anyhow::Result<ScrapeCost> {
    let cpu = || worker.cpu_seconds().context("the worker process is gone");
    let (first, began) = (cpu()?, Instant::now());
    std::thread::sleep(BASELINE);
    let idle_rate = (cpu()? - first) / began.elapsed().as_secs_f64();
    let (before, started) = (cpu()?, Instant::now());
    for _ in 0..BURST {
        scrape(worker.http_address())?;
    }
    let after = cpu()?;
    let used = after - before - idle_rate * started.elapsed().as_secs_f64();
    Ok(ScrapeCost {
        cpu_seconds: (used / f64::from(BURST)).max(0.0),
        spent_cpu: after - first,
        spent_seconds: began.elapsed().as_secs_f64(),
    })
}
