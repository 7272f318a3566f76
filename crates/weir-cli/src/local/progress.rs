//! What `weir local` and `weir demo` show while a job runs: one poll of the job
//! ([`Snapshot`]) and the progress lines made from it ([`Progress`]).

use std::io::{IsTerminal as _, Write as _};

use tokio::time::{Duration, Instant};
use tonic::transport::Channel;
use weir_core::reservation::format_bytes;
use weir_proto::v1 as pb;
use weir_proto::v1::job_service_client::JobServiceClient;

use super::rpc_error;
use crate::output::job_state;

/// What a job looks like at one poll.
#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    pub state: pb::JobState,
    pub reason: String,
    pub rows_read: u64,
    pub rows_written: u64,
    pub rows_per_second: f64,
    /// -1 when unknown (sources without offsets, or not measured yet).
    pub lag: i64,
    pub queue_bytes: u64,
    /// Resident memory of the worker (this process), when it has heartbeated.
    pub worker_rss: Option<u64>,
    pub last_checkpoint_id: u64,
}

impl Snapshot {
    /// The job will not change state again.
    pub fn is_terminal(&self) -> bool {
        matches!(
            self.state,
            pb::JobState::Finished
                | pb::JobState::Failed
                | pb::JobState::Cancelled
                | pb::JobState::Stopped
        )
    }
}

pub(super) async fn snapshot(
    client: &mut JobServiceClient<Channel>,
    job_id: &str,
) -> anyhow::Result<Snapshot> {
    let detail = client
        .get_job(pb::GetJobRequest {
            job_id: job_id.to_string(),
        })
        .await
        .map_err(rpc_error)?
        .into_inner();
    let summary = detail.summary.unwrap_or_default();
    let checkpoint = detail
        .checkpoints
        .map_or(0, |checkpoints| checkpoints.last_completed_id);
    // RSS is decoration: a failed lookup must not end the follow.
    let worker_rss = client
        .list_workers(pb::ListWorkersRequest {})
        .await
        .ok()
        .and_then(|response| response.into_inner().workers.into_iter().next())
        .and_then(|worker| worker.memory)
        .map(|memory| memory.process_rss_bytes)
        .filter(|rss| *rss > 0);
    Ok(Snapshot {
        state: pb::JobState::try_from(summary.state).unwrap_or(pb::JobState::Unspecified),
        reason: summary.state_reason,
        rows_read: summary.rows_read,
        rows_written: summary.rows_written,
        rows_per_second: summary.rows_per_second,
        lag: summary.consumer_lag,
        queue_bytes: summary.queue_bytes,
        worker_rss,
        last_checkpoint_id: summary.last_checkpoint_id.max(checkpoint),
    })
}

/// Progress lines on stderr: one every `every`, or one line rewritten in place.
pub struct Progress {
    started: Instant,
    every: Duration,
    in_place: bool,
    last_print: Option<Instant>,
    last_state: Option<(pb::JobState, String)>,
    /// An in-place line is on screen and must be ended before other output.
    open_line: bool,
}

impl Progress {
    /// `in_place` only takes effect when stderr is a terminal.
    pub fn new(every: Duration, in_place: bool) -> Self {
        Self {
            started: Instant::now(),
            every,
            in_place: in_place && std::io::stderr().is_terminal(),
            last_print: None,
            last_state: None,
            open_line: false,
        }
    }

    /// Prints a state change at once, and the progress line when it is due.
    pub fn show(&mut self, snapshot: &Snapshot) {
        let state = (snapshot.state, snapshot.reason.clone());
        if self.last_state.as_ref() != Some(&state) {
            self.message(&format!(
                "{}{}",
                job_state(snapshot.state as i32),
                if snapshot.reason.is_empty() {
                    String::new()
                } else {
                    format!(": {}", snapshot.reason)
                }
            ));
            self.last_state = Some(state);
        }
        let due = self
            .last_print
            .is_none_or(|last| last.elapsed() >= self.every);
        if due {
            self.last_print = Some(Instant::now());
            let line = self.line(snapshot);
            let mut stderr = std::io::stderr().lock();
            // Progress is best effort: a closed stderr must not end the job.
            if self.in_place {
                let _ = write!(stderr, "\r\x1b[2K{line}");
                let _ = stderr.flush();
                self.open_line = true;
            } else {
                let _ = writeln!(stderr, "{line}");
            }
        }
    }

    /// A line of its own, below any in-place progress line.
    pub fn message(&mut self, text: &str) {
        self.finish();
        eprintln!("{text}");
    }

    /// Ends an in-place line so that what follows starts on a fresh line.
    pub fn finish(&mut self) {
        if self.open_line {
            eprintln!();
            self.open_line = false;
        }
    }

    fn line(&self, snapshot: &Snapshot) -> String {
        let lag = if snapshot.lag < 0 {
            "-".to_string()
        } else {
            snapshot.lag.to_string()
        };
        let rss = snapshot
            .worker_rss
            .map_or_else(|| "-".to_string(), format_bytes);
        let checkpoint = if snapshot.last_checkpoint_id == 0 {
            "-".to_string()
        } else {
            snapshot.last_checkpoint_id.to_string()
        };
        format!(
            "[{:5.1}s] {:<9} read {:>8}  written {:>8}  {:>6.0} rows/s  lag {:>7}  queue {:>9}  rss {:>9}  checkpoint {checkpoint}",
            self.started.elapsed().as_secs_f64(),
            job_state(snapshot.state as i32),
            snapshot.rows_read,
            snapshot.rows_written,
            snapshot.rows_per_second,
            lag,
            format_bytes(snapshot.queue_bytes),
            rss,
        )
    }
}
