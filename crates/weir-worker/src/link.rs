//! The worker's link to the master: registration, the heartbeat stream, task status reports.
//!
//! While the heartbeat stream is up the worker runs what the master deployed. When the stream
//! breaks (master gone, or the master declared this worker dead), the worker stops all its
//! tasks before registering again: the master has, or will have, placed them elsewhere, and two
//! copies of a subtask must never run.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::transport::{Channel, Endpoint};
use tracing::{info, warn};
use weir_proto::v1 as pb;
use weir_proto::v1::cluster_service_client::ClusterServiceClient;

use crate::memory::MemoryState;
use crate::tasks::{StatusSink, TaskTable};

/// First and largest pause between attempts to reach the master.
const RECONNECT_BACKOFF: (Duration, Duration) =
    (Duration::from_millis(200), Duration::from_secs(5));

/// What the worker tells the master about itself.
#[derive(Debug, Clone)]
pub struct Identity {
    pub worker_id: String,
    pub address: String,
    pub cores: u32,
    pub memory_limit: u64,
}

/// Sends task status reports to the master, in order, retrying briefly.
pub struct MasterReporter {
    queue: mpsc::UnboundedSender<pb::TaskStatusReport>,
}

impl MasterReporter {
    pub fn start(client: ClusterServiceClient<Channel>) -> Arc<Self> {
        // Unbounded is safe here: at most a few reports per task lifetime, and tasks are bounded
        // by the worker's memory budget.
        let (queue, mut reports) = mpsc::unbounded_channel::<pb::TaskStatusReport>();
        tokio::spawn(async move {
            while let Some(report) = reports.recv().await {
                let mut client = client.clone();
                for attempt in 1..=3u32 {
                    match client.report_task_status(report.clone()).await {
                        Ok(_) => break,
                        Err(status) => {
                            warn!(task = %report.task_id, attempt, error = %status.message(), "could not report task status");
                            tokio::time::sleep(Duration::from_millis(200 * u64::from(attempt)))
                                .await;
                        }
                    }
                }
            }
        });
        Arc::new(Self { queue })
    }
}

impl StatusSink for MasterReporter {
    fn report(&self, report: pb::TaskStatusReport) {
        let _ = self.queue.send(report);
    }
}

pub fn master_channel(master: &str) -> Result<Channel, tonic::transport::Error> {
    Ok(Endpoint::from_shared(master.to_string())?
        .connect_timeout(Duration::from_secs(3))
        .connect_lazy())
}

/// Registers, heartbeats, and re-registers after every loss of the master, forever.
pub async fn run_link(
    channel: Channel,
    identity: Identity,
    memory: MemoryState,
    tasks: TaskTable,
    registered: crate::http::Registration,
) {
    let mut backoff = RECONNECT_BACKOFF.0;
    let mut warned = false;
    loop {
        let mut client = ClusterServiceClient::new(channel.clone());
        let request = pb::RegisterWorkerRequest {
            worker_id: identity.worker_id.clone(),
            address: identity.address.clone(),
            cores: identity.cores,
            memory_limit_bytes: identity.memory_limit,
            memory: Some(memory.report(identity.memory_limit, tasks.reserved())),
        };
        let registration = match client.register_worker(request).await {
            Ok(response) => response.into_inner(),
            Err(status) => {
                if !warned {
                    warn!(error = %status.message(), "cannot reach the master; retrying");
                    warned = true;
                }
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(RECONNECT_BACKOFF.1);
                continue;
            }
        };
        backoff = RECONNECT_BACKOFF.0;
        warned = false;
        info!(worker = %identity.worker_id, "registered with the master");
        registered.set(true);

        let cause =
            heartbeat_until_broken(&mut client, &identity, &registration, &memory, &tasks).await;
        registered.set(false);
        warn!(%cause, "lost the master; stopping all tasks before registering again");
        tasks.cancel_all().await;
    }
}

async fn heartbeat_until_broken(
    client: &mut ClusterServiceClient<Channel>,
    identity: &Identity,
    registration: &pb::RegisterWorkerResponse,
    memory: &MemoryState,
    tasks: &TaskTable,
) -> String {
    let interval = Duration::from_millis(registration.heartbeat_interval_ms.max(1));
    let (beats, stream) = mpsc::channel(1);
    let sender = async {
        let mut ticker = tokio::time::interval(interval);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut rates = RateTracker::default();
        loop {
            ticker.tick().await;
            let beat = pb::HeartbeatRequest {
                worker_id: identity.worker_id.clone(),
                session_id: registration.session_id.clone(),
                memory: Some(memory.report(identity.memory_limit, tasks.reserved())),
                tasks: rates.fill(tasks.metrics()),
            };
            if beats.send(beat).await.is_err() {
                return;
            }
        }
    };
    tokio::select! {
        result = client.heartbeat(ReceiverStream::new(stream)) => match result {
            Ok(_) => "the master closed the heartbeat stream".to_string(),
            Err(status) => format!("heartbeat stream failed: {}", status.message()),
        },
        () = sender => "heartbeat sender stopped".to_string(),
    }
}

/// Turns cumulative row and byte counts into rates between two heartbeats, for every task and
/// every split of it: (rows, bytes) read since the previous heartbeat over the time between
/// the two samples. A task or split seen for the first time reports 0 (no previous sample).
#[derive(Default)]
struct RateTracker {
    previous: HashMap<String, Sample>,
}

/// One task's counters at one heartbeat.
struct Sample {
    at: Instant,
    rows: u64,
    bytes: u64,
    /// Split name → (rows, bytes) read.
    splits: HashMap<String, (u64, u64)>,
}

/// (rows/s, bytes/s) between `before` and `now` over `seconds`; counters that went backwards
/// (a restarted split) count as no progress.
fn rates(before: (u64, u64), now: (u64, u64), seconds: f64) -> (f64, f64) {
    (
        now.0.saturating_sub(before.0) as f64 / seconds,
        now.1.saturating_sub(before.1) as f64 / seconds,
    )
}

impl RateTracker {
    fn fill(&mut self, metrics: Vec<pb::TaskMetrics>) -> Vec<pb::TaskMetrics> {
        self.fill_at(metrics, Instant::now())
    }

    fn fill_at(&mut self, mut metrics: Vec<pb::TaskMetrics>, now: Instant) -> Vec<pb::TaskMetrics> {
        let mut next = HashMap::with_capacity(metrics.len());
        for task in &mut metrics {
            if let Some(before) = self.previous.get(&task.task_id) {
                let seconds = now.duration_since(before.at).as_secs_f64();
                if seconds > 0.0 {
                    (task.rows_per_second, task.bytes_per_second) = rates(
                        (before.rows, before.bytes),
                        (task.rows_read, task.bytes_read),
                        seconds,
                    );
                    for split in &mut task.splits {
                        if let Some(counts) = before.splits.get(&split.split) {
                            (split.rows_per_second, split.bytes_per_second) =
                                rates(*counts, (split.rows_read, split.bytes_read), seconds);
                        }
                    }
                }
            }
            let splits = task
                .splits
                .iter()
                .map(|split| (split.split.clone(), (split.rows_read, split.bytes_read)))
                .collect();
            next.insert(
                task.task_id.clone(),
                Sample {
                    at: now,
                    rows: task.rows_read,
                    bytes: task.bytes_read,
                    splits,
                },
            );
        }
        self.previous = next;
        metrics
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn split(name: &str, rows: u64, bytes: u64) -> pb::SplitMetrics {
        pb::SplitMetrics {
            split: name.into(),
            rows_read: rows,
            bytes_read: bytes,
            ..Default::default()
        }
    }

    fn task(id: &str, splits: Vec<pb::SplitMetrics>) -> pb::TaskMetrics {
        pb::TaskMetrics {
            task_id: id.into(),
            rows_read: splits.iter().map(|split| split.rows_read).sum(),
            bytes_read: splits.iter().map(|split| split.bytes_read).sum(),
            splits,
            ..Default::default()
        }
    }

    #[test]
    fn tasks_and_splits_get_rates_from_the_previous_heartbeat() {
        let mut tracker = RateTracker::default();
        let t0 = Instant::now();
        let first = tracker.fill_at(
            vec![task(
                "a",
                vec![split("t-0", 100, 1_000), split("t-1", 50, 500)],
            )],
            t0,
        );
        assert_eq!(first[0].rows_per_second, 0.0, "no previous sample");
        assert_eq!(first[0].splits[0].rows_per_second, 0.0);

        // 2 s later: t-0 read 40 rows, t-1 read 10 rows; t-2 is new.
        let second = tracker.fill_at(
            vec![task(
                "a",
                vec![
                    split("t-0", 140, 1_400),
                    split("t-1", 60, 600),
                    split("t-2", 30, 300),
                ],
            )],
            t0 + Duration::from_secs(2),
        );
        let a = &second[0];
        assert_eq!((a.rows_per_second, a.bytes_per_second), (40.0, 400.0));
        let by_split: Vec<(f64, f64)> = a
            .splits
            .iter()
            .map(|split| (split.rows_per_second, split.bytes_per_second))
            .collect();
        assert_eq!(
            by_split,
            [(20.0, 200.0), (5.0, 50.0), (0.0, 0.0)],
            "a split seen for the first time has no rate yet"
        );
        // The splits' rates add up to the task's when no split is new.
        let third = tracker.fill_at(
            vec![task(
                "a",
                vec![
                    split("t-0", 150, 1_500),
                    split("t-1", 70, 700),
                    split("t-2", 40, 400),
                ],
            )],
            t0 + Duration::from_secs(3),
        );
        let split_sum: f64 = third[0].splits.iter().map(|s| s.rows_per_second).sum();
        assert_eq!(split_sum, third[0].rows_per_second);
        assert_eq!(split_sum, 30.0);
    }

    #[test]
    fn a_task_that_left_is_forgotten() {
        let mut tracker = RateTracker::default();
        let t0 = Instant::now();
        tracker.fill_at(vec![task("a", vec![split("t-0", 10, 10)])], t0);
        tracker.fill_at(Vec::new(), t0 + Duration::from_secs(1));
        let back = tracker.fill_at(
            vec![task("a", vec![split("t-0", 90, 90)])],
            t0 + Duration::from_secs(2),
        );
        assert_eq!(
            back[0].rows_per_second, 0.0,
            "a new task starts without a rate"
        );
        assert_eq!(back[0].splits[0].rows_per_second, 0.0);
    }
}
