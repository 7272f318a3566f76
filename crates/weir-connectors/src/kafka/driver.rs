//! The background work of a Kafka subtask, alongside its partition readers.
//!
//! - **Events**: the consumer's main queue carries errors, logs and statistics (every record
//!   goes to a partition queue); it must be served or librdkafka's callbacks stall.
//! - **Assignment**: new splits get their start offsets resolved (per `start_mode`) and are
//!   added to the consumer's assignment; while brokers are unreachable this retries with
//!   exponential backoff and shows the error as the task's `last_error`.
//! - **Maintenance**: the positions of the last committed checkpoint are committed to the
//!   consumer group (through the committer) every `env.checkpoint.interval`, and high
//!   watermarks are refreshed for lag every [`WATERMARK_INTERVAL`].
//!
//! Blocking librdkafka calls run on blocking threads; nothing here polls in a loop.

use std::sync::Arc;
use std::time::Duration;

use rdkafka::error::KafkaError;
use rdkafka::message::Message as _;
use tokio::time::MissedTickBehavior;
use tokio_util::sync::CancellationToken;
use weir_core::split::SplitId;

use super::offsets::{self, OffsetsError};
use super::{KafkaShared, KafkaSplit};
use crate::context::BoxFuture;
use crate::error::ConnectorError;
use crate::source::SourceDriver;

/// How often high watermarks are refreshed. A stalled partition is not fetched, so
/// librdkafka's own view of its end would go stale; this queries the brokers instead.
pub const WATERMARK_INTERVAL: Duration = Duration::from_secs(5);

/// First and longest wait between attempts to resolve and assign partitions.
const RETRY_BACKOFF_MIN: Duration = Duration::from_millis(500);
const RETRY_BACKOFF_MAX: Duration = Duration::from_secs(30);

pub(crate) struct KafkaDriver {
    shared: Arc<KafkaShared>,
}

impl KafkaDriver {
    pub(crate) fn new(shared: Arc<KafkaShared>) -> Self {
        KafkaDriver { shared }
    }
}

impl SourceDriver for KafkaDriver {
    fn run(
        self: Box<Self>,
        stop: CancellationToken,
    ) -> BoxFuture<'static, Result<(), ConnectorError>> {
        Box::pin(async move {
            let shared = self.shared;
            let result = tokio::select! {
                () = stop.cancelled() => Ok(()),
                served = serve_events(&shared) => served,
                assigned = assign_splits(&shared) => assigned,
                maintained = maintain(&shared) => maintained,
            };
            // Best effort: the consumer's close (on a blocking thread, when the last
            // reference goes) waits for outstanding commits.
            if shared.config.commit_on_checkpoint {
                commit(&shared);
            }
            result
        })
    }
}

async fn serve_events(shared: &KafkaShared) -> Result<(), ConnectorError> {
    loop {
        match shared.consumer.recv().await {
            Ok(message) => {
                return Err(ConnectorError::Kafka {
                    what: "delivered a record outside its partition queue",
                    detail: format!(
                        "{}-{} offset {}",
                        message.topic(),
                        message.partition(),
                        message.offset()
                    ),
                });
            }
            Err(KafkaError::MessageConsumptionFatal(code)) => {
                return Err(ConnectorError::Kafka {
                    what: "consumer failed",
                    detail: code.to_string(),
                });
            }
            // The context's error callback has recorded it; librdkafka retries by itself.
            Err(error) => tracing::debug!(%error, "consumer event"),
        }
    }
}

async fn assign_splits(shared: &Arc<KafkaShared>) -> Result<(), ConnectorError> {
    loop {
        shared.pending_added().await;
        let batch = shared.take_pending();
        if batch.is_empty() {
            continue;
        }
        let ids: Vec<SplitId> = batch.iter().map(|split| split.id.clone()).collect();
        let mut backoff = RETRY_BACKOFF_MIN;
        let ranges = loop {
            let task_shared = Arc::clone(shared);
            let task_ids = ids.clone();
            let resolved = tokio::task::spawn_blocking(move || {
                offsets::resolve_and_assign(&task_shared, &task_ids)
            })
            .await
            .map_err(|error| ConnectorError::Interrupted {
                what: "assigning partitions",
                reason: error.to_string(),
            })?;
            match resolved {
                Ok(ranges) => break ranges,
                Err(OffsetsError::Gone { split, detail }) => {
                    return Err(ConnectorError::PartitionGone {
                        split: split.to_string(),
                        detail,
                    });
                }
                Err(OffsetsError::Fatal(detail)) => {
                    return Err(ConnectorError::Kafka {
                        what: "partitions could not be assigned",
                        detail,
                    });
                }
                Err(OffsetsError::Retry(detail)) => {
                    shared.status.set_error(format!(
                        "cannot resolve start offsets of {} partition(s), retrying in {backoff:?}: {detail}",
                        ids.len()
                    ));
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(RETRY_BACKOFF_MAX);
                }
            }
        };
        shared.status.clear_error();
        // Lag is known from the start, not one watermark interval later; and a reader knows
        // before it first queues for a fetch slot whether its partition has records.
        refresh_watermarks_of(shared, &batch).await?;
        for (split, range) in batch.iter().zip(ranges) {
            // resolve_and_assign paused it; its reader resumes it once it holds a fetch slot.
            split.state.set_fetch_paused(true);
            split.state.init_position(range.start);
            if let Some(end) = range.end {
                split.state.set_high_watermark(end);
            }
            split.range.send_replace(Some(range));
        }
        tracing::info!(
            partitions = ids.len(),
            start_mode = shared.config.start_mode.name(),
            "partitions assigned"
        );
    }
}

async fn maintain(shared: &Arc<KafkaShared>) -> Result<(), ConnectorError> {
    let mut watermarks = tokio::time::interval(WATERMARK_INTERVAL);
    watermarks.set_missed_tick_behavior(MissedTickBehavior::Delay);
    let mut commits = tokio::time::interval(shared.commit_interval.max(Duration::from_millis(1)));
    commits.set_missed_tick_behavior(MissedTickBehavior::Delay);
    let committing = shared.config.commit_on_checkpoint;
    loop {
        tokio::select! {
            _ = watermarks.tick() => refresh_watermarks(shared).await?,
            _ = commits.tick(), if committing => commit(shared),
        }
    }
}

fn assigned(shared: &KafkaShared) -> Vec<Arc<KafkaSplit>> {
    shared
        .splits()
        .into_iter()
        .filter(|split| split.range.borrow().is_some())
        .collect()
}

async fn refresh_watermarks(shared: &Arc<KafkaShared>) -> Result<(), ConnectorError> {
    refresh_watermarks_of(shared, &assigned(shared)).await
}

async fn refresh_watermarks_of(
    shared: &Arc<KafkaShared>,
    splits: &[Arc<KafkaSplit>],
) -> Result<(), ConnectorError> {
    if splits.is_empty() {
        return Ok(());
    }
    let ids: Vec<SplitId> = splits.iter().map(|split| split.id.clone()).collect();
    let task_shared = Arc::clone(shared);
    let queried =
        tokio::task::spawn_blocking(move || offsets::high_watermarks(&task_shared.consumer, &ids))
            .await
            .map_err(|error| ConnectorError::Interrupted {
                what: "querying high watermarks",
                reason: error.to_string(),
            })?;
    match queried {
        Ok(ends) => {
            for (split, end) in splits.iter().zip(ends) {
                if let Some(end) = end {
                    split.state.set_high_watermark(end);
                }
            }
            shared.watermarks_refreshed.notify_waiters();
            shared.status.clear_error();
            Ok(())
        }
        Err(OffsetsError::Gone { split, detail }) => Err(ConnectorError::PartitionGone {
            split: split.to_string(),
            detail,
        }),
        Err(OffsetsError::Retry(detail) | OffsetsError::Fatal(detail)) => {
            shared
                .status
                .set_error(format!("cannot query high watermarks: {detail}"));
            Ok(())
        }
    }
}

/// Commits, for every split that has one, the position of the last checkpoint the sink has
/// committed (through the committer, which never blocks the caller). Positions of rows not
/// yet in a committed checkpoint are never committed: a restart from the group's offsets
/// must not skip rows whose files a failure discarded.
fn commit(shared: &KafkaShared) {
    let Some(committer) = &shared.committer else {
        return;
    };
    let positions: Vec<(SplitId, i64)> = shared
        .splits()
        .into_iter()
        .filter_map(|split| Some((split.id.clone(), split.state.committed_position()?)))
        .collect();
    if !positions.is_empty() {
        committer.commit(positions);
    }
}
