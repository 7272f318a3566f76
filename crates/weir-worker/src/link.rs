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
pub async fn run_link(channel: Channel, identity: Identity, memory: MemoryState, tasks: TaskTable) {
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

        let cause =
            heartbeat_until_broken(&mut client, &identity, &registration, &memory, &tasks).await;
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

/// Turns cumulative row and byte counts into rates between two heartbeats.
#[derive(Default)]
struct RateTracker {
    previous: HashMap<String, (Instant, u64, u64)>,
}

impl RateTracker {
    fn fill(&mut self, mut metrics: Vec<pb::TaskMetrics>) -> Vec<pb::TaskMetrics> {
        let now = Instant::now();
        let mut next = HashMap::with_capacity(metrics.len());
        for task in &mut metrics {
            if let Some((at, rows, bytes)) = self.previous.get(&task.task_id) {
                let seconds = now.duration_since(*at).as_secs_f64();
                if seconds > 0.0 {
                    task.rows_per_second = task.rows_read.saturating_sub(*rows) as f64 / seconds;
                    task.bytes_per_second = task.bytes_read.saturating_sub(*bytes) as f64 / seconds;
                }
            }
            next.insert(task.task_id.clone(), (now, task.rows_read, task.bytes_read));
        }
        self.previous = next;
        metrics
    }
}
