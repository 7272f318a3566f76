//! The worker's link to the master: registration, the heartbeat stream, task status reports,
//! and deregistration when the worker stops.
//!
//! While the master answers its heartbeats the worker runs what the master deployed. When it
//! loses its master — no answer for `heartbeat_timeout_ms` (handed over at registration), an
//! answer that its session has ended, or the end of the stream — the worker is **fenced**: its
//! session ends at once, so it takes no further order of the master (`crate::session`), and it
//! stops all its tasks before it registers again. The master declares it dead after the same
//! timeout, counted from no earlier a beat, and only then places its subtasks elsewhere: two
//! copies of a subtask must never commit, and the fenced one has nothing left to commit with.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tonic::transport::{Channel, ClientTlsConfig, Endpoint};
use tracing::{info, warn};
use weir_proto::v1 as pb;
use weir_proto::v1::cluster_service_client::ClusterServiceClient;

use crate::governor::MemoryState;
use crate::session::CurrentSession;
use crate::task_table::{StatusSink, TaskTable};

/// First and largest pause between attempts to reach the master.
const RECONNECT_BACKOFF: (Duration, Duration) =
    (Duration::from_millis(200), Duration::from_secs(5));
/// How long a registration may take before it is tried again.
const REGISTER_TIMEOUT: Duration = Duration::from_secs(5);
/// How long a stopping worker waits for the master to take its deregistration.
const DEREGISTER_TIMEOUT: Duration = Duration::from_secs(3);
/// How long one task status report may take; a master that does not answer (a partition) must
/// not hold the reports behind it forever.
const REPORT_TIMEOUT: Duration = Duration::from_secs(5);
/// HTTP/2 keepalive of the connection to the master: a connection that stops answering pings (a
/// network partition that drops packets) is replaced, so registering again can reach the master
/// once the network is back.
const MASTER_KEEPALIVE: (Duration, Duration) = (Duration::from_secs(5), Duration::from_secs(5));
/// Heartbeats queued for the stream; when the master stops reading, later beats are skipped.
const BEATS_QUEUED: usize = 2;

/// What the worker tells the master about itself.
#[derive(Debug, Clone)]
pub struct Identity {
    pub worker_id: String,
    pub address: String,
    pub cores: u32,
    pub memory_limit: u64,
}

/// Sends task status reports to the master, in order, retrying briefly. Each report carries
/// the current session id (`session`, set by [`run_link`] at each registration): the master
/// refuses reports that do not, so only this worker can report for its tasks.
pub struct MasterReporter {
    queue: mpsc::UnboundedSender<pb::TaskStatusReport>,
}

impl MasterReporter {
    /// Starts the sender under `tracker`, until `stop` fires.
    pub fn start(
        client: ClusterServiceClient<Channel>,
        tracker: &TaskTracker,
        stop: CancellationToken,
    ) -> Arc<Self> {
        // Unbounded is safe here: at most a few reports per task lifetime, and tasks are bounded
        // by the worker's memory budget.
        let (queue, mut reports) = mpsc::unbounded_channel::<pb::TaskStatusReport>();
        let send_all = async move {
            while let Some(report) = reports.recv().await {
                let mut client = client.clone();
                for attempt in 1..=3u32 {
                    let sent = tokio::time::timeout(
                        REPORT_TIMEOUT,
                        client.report_task_status(report.clone()),
                    )
                    .await
                    .unwrap_or_else(|_| {
                        Err(tonic::Status::deadline_exceeded(format!(
                            "no answer within {REPORT_TIMEOUT:?}"
                        )))
                    });
                    match sent {
                        Ok(_) => break,
                        // The session ended (fenced or stopping): the master no longer counts
                        // this task, and retrying would not change that.
                        Err(status) if status.code() == tonic::Code::FailedPrecondition => {
                            info!(task = %report.task_id, reason = %status.message(), "task status not taken by the master");
                            break;
                        }
                        Err(status) => {
                            warn!(task = %report.task_id, attempt, error = %status.message(), "could not report task status");
                            tokio::time::sleep(Duration::from_millis(200 * u64::from(attempt)))
                                .await;
                        }
                    }
                }
            }
        };
        tracker.spawn(async move {
            tokio::select! {
                () = stop.cancelled() => {}
                () = send_all => {}
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

/// The channel to the master; with `tls`, the master must present its certificate.
pub fn master_channel(
    master: &str,
    tls: Option<ClientTlsConfig>,
) -> Result<Channel, tonic::transport::Error> {
    let mut endpoint = Endpoint::from_shared(master.to_string())?
        .connect_timeout(Duration::from_secs(3))
        .http2_keep_alive_interval(MASTER_KEEPALIVE.0)
        .keep_alive_timeout(MASTER_KEEPALIVE.1)
        .keep_alive_while_idle(true);
    if let Some(tls) = tls {
        endpoint = endpoint.tls_config(tls)?;
    }
    Ok(endpoint.connect_lazy())
}

/// What the link works with.
pub struct Link {
    pub channel: Channel,
    pub identity: Identity,
    pub memory: MemoryState,
    pub tasks: TaskTable,
    pub session: CurrentSession,
    /// Whether the worker is registered now (`/readyz`).
    pub registered: crate::http::Registration,
}

/// How a registration ended.
enum SessionEnd {
    /// The worker lost its master, for this reason.
    Lost(String),
    /// The worker is stopping (and has deregistered).
    Stopping,
}

/// Registers, heartbeats, and re-registers after every loss of the master, until `stop` fires;
/// then deregisters (if registered) and returns. Stopping the tasks at shutdown is the caller's.
pub async fn run_link(link: Link, stop: CancellationToken) {
    let mut backoff = RECONNECT_BACKOFF.0;
    let mut warned = false;
    loop {
        let mut client = ClusterServiceClient::new(link.channel.clone());
        let identity = &link.identity;
        let request = pb::RegisterWorkerRequest {
            worker_id: identity.worker_id.clone(),
            address: identity.address.clone(),
            cores: identity.cores,
            memory_limit_bytes: identity.memory_limit,
            memory: Some(
                link.memory
                    .report(identity.memory_limit, link.tasks.reserved()),
            ),
        };
        // The master counts its silence timeout from the registration.
        let registered_at = Instant::now();
        link.session.registering();
        let outcome = tokio::select! {
            () = stop.cancelled() => {
                link.session.clear();
                return;
            }
            outcome = tokio::time::timeout(REGISTER_TIMEOUT, client.register_worker(request)) => outcome,
        };
        let registration = match outcome {
            Ok(Ok(response)) => response.into_inner(),
            failed => {
                link.session.clear();
                if !warned {
                    let error = match failed {
                        Ok(Err(status)) => status.message().to_string(),
                        _ => format!("no answer within {REGISTER_TIMEOUT:?}"),
                    };
                    warn!(%error, "cannot register with the master; retrying");
                    warned = true;
                }
                tokio::select! {
                    () = stop.cancelled() => return,
                    () = tokio::time::sleep(backoff) => {}
                }
                backoff = (backoff * 2).min(RECONNECT_BACKOFF.1);
                continue;
            }
        };
        backoff = RECONNECT_BACKOFF.0;
        warned = false;
        link.session.set(registration.session_id.clone());
        link.registered.set(true);
        info!(worker = %identity.worker_id, session = %registration.session_id, "registered with the master");
        // systemd (`Type=notify`): ready at the moment /readyz turns ready. Sent again after a
        // re-registration, which systemd ignores.
        crate::notify_systemd(sd_notify::NotifyState::Ready);

        let beats = Heartbeats {
            registration: &registration,
            registered_at,
            link: &link,
        };
        let ended = beats.until_session_ends(&mut client, &stop).await;
        link.registered.set(false);
        match ended {
            SessionEnd::Stopping => return,
            SessionEnd::Lost(cause) => {
                let started = Instant::now();
                warn!(%cause, "lost the master: fenced, stopping all tasks before registering again");
                let stopped = link.tasks.cancel_all().await;
                info!(
                    tasks = stopped,
                    took_ms = started.elapsed().as_millis() as u64,
                    "fenced: all tasks stopped"
                );
            }
        }
    }
}

/// One registration's heartbeat stream.
struct Heartbeats<'a> {
    registration: &'a pb::RegisterWorkerResponse,
    /// When the registration was sent: the master has heard the worker since.
    registered_at: Instant,
    link: &'a Link,
}

impl Heartbeats<'_> {
    /// Sends a heartbeat every interval and reads the master's answers, until the session ends:
    /// the worker lost its master (the session is then ended here, before anything else), or
    /// `stop` fired (the worker has deregistered).
    async fn until_session_ends(
        &self,
        client: &mut ClusterServiceClient<Channel>,
        stop: &CancellationToken,
    ) -> SessionEnd {
        match self.run(client, stop).await {
            Some(cause) => {
                self.link.session.clear();
                SessionEnd::Lost(cause)
            }
            None => SessionEnd::Stopping,
        }
    }

    /// The worker is stopping: its session ends, and it deregisters while its heartbeat stream
    /// is still open, so that the master sees an orderly exit before the stream closes.
    async fn leave(&self, client: &mut ClusterServiceClient<Channel>) {
        if let Some(session_id) = self.link.session.clear() {
            deregister(client, &self.link.identity.worker_id, session_id).await;
        }
    }

    /// The cause of the loss of the master, or `None` when `stop` fired (after [`Self::leave`]).
    async fn run(
        &self,
        client: &mut ClusterServiceClient<Channel>,
        stop: &CancellationToken,
    ) -> Option<String> {
        let registration = self.registration;
        let interval = Duration::from_millis(registration.heartbeat_interval_ms.max(1));
        let timeout = match registration.heartbeat_timeout_ms {
            // A master that does not say (it predates fencing): its default ratio.
            0 => interval * 5,
            millis => Duration::from_millis(millis),
        };
        let no_answer = || {
            format!(
                "no answer to its heartbeats for {} ms (the heartbeat timeout)",
                timeout.as_millis()
            )
        };
        // Sent time of the newest beat the master answered: it heard the worker then, so it
        // declares it dead no earlier than `timeout` after that.
        let mut heard_at = self.registered_at;
        let (beats, outgoing) = mpsc::channel(BEATS_QUEUED);
        let opened = tokio::select! {
            () = stop.cancelled() => {
                self.leave(client).await;
                return None;
            }
            () = tokio::time::sleep_until((heard_at + timeout).into()) => return Some(no_answer()),
            opened = client.heartbeat(ReceiverStream::new(outgoing)) => opened,
        };
        let mut answers = match opened {
            Ok(response) => response.into_inner(),
            Err(status) => {
                return Some(format!("the heartbeat stream failed: {}", status.message()));
            }
        };
        let mut ticker = tokio::time::interval(interval);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut rates = RateTracker::default();
        // Beats not answered yet, by sequence; at most `timeout / interval` of them.
        let mut unanswered: VecDeque<(u64, Instant)> = VecDeque::new();
        let mut sequence = 0u64;
        loop {
            tokio::select! {
                () = stop.cancelled() => {
                    // `beats` and `answers` live on: the stream stays open until this returns.
                    self.leave(client).await;
                    return None;
                }
                () = tokio::time::sleep_until((heard_at + timeout).into()) => return Some(no_answer()),
                _ = ticker.tick() => {
                    sequence += 1;
                    let beat = self.beat(sequence, &mut rates);
                    match beats.try_send(beat) {
                        Ok(()) => unanswered.push_back((sequence, Instant::now())),
                        // The master does not take beats: its answers will stop too.
                        Err(mpsc::error::TrySendError::Full(_)) => {}
                        Err(mpsc::error::TrySendError::Closed(_)) => {
                            return Some("the heartbeat stream closed".to_string());
                        }
                    }
                }
                answer = answers.message() => match answer {
                    Ok(Some(answer)) => {
                        while let Some(&(sent, at)) = unanswered.front()
                            && sent <= answer.sequence
                        {
                            unanswered.pop_front();
                            if sent == answer.sequence {
                                heard_at = heard_at.max(at);
                            }
                        }
                        match pb::SessionStatus::try_from(answer.status) {
                            Ok(pb::SessionStatus::Current) => {}
                            Ok(pb::SessionStatus::MasterStopping) => {
                                return Some("the master is shutting down".to_string());
                            }
                            _ => {
                                return Some(format!(
                                    "the master ended this session: {}",
                                    answer.message
                                ));
                            }
                        }
                    }
                    Ok(None) => return Some("the master closed the heartbeat stream".to_string()),
                    Err(status) => {
                        return Some(format!("the heartbeat stream failed: {}", status.message()));
                    }
                },
            }
        }
    }

    fn beat(&self, sequence: u64, rates: &mut RateTracker) -> pb::HeartbeatRequest {
        let link = self.link;
        pb::HeartbeatRequest {
            worker_id: link.identity.worker_id.clone(),
            session_id: self.registration.session_id.clone(),
            memory: Some(
                link.memory
                    .report(link.identity.memory_limit, link.tasks.reserved()),
            ),
            tasks: rates.fill(link.tasks.metrics()),
            sequence,
        }
    }
}

/// Ends the session with the master, so that it places this worker's subtasks elsewhere at once.
async fn deregister(
    client: &mut ClusterServiceClient<Channel>,
    worker_id: &str,
    session_id: String,
) {
    let request = pb::DeregisterWorkerRequest {
        worker_id: worker_id.to_string(),
        session_id,
    };
    match tokio::time::timeout(DEREGISTER_TIMEOUT, client.deregister_worker(request)).await {
        Ok(Ok(_)) => info!("deregistered from the master: its subtasks move to other workers"),
        Ok(Err(status)) => {
            warn!(error = %status.message(), "could not deregister; the master will declare this worker dead after its heartbeat timeout")
        }
        Err(_) => {
            warn!(wait = ?DEREGISTER_TIMEOUT, "the master did not answer the deregistration; it will declare this worker dead after its heartbeat timeout")
        }
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
