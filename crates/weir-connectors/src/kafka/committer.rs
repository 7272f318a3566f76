//! Offsets of `consumer.group`: reading them (`start_mode = group_offsets`) and committing
//! the positions of completed checkpoints (whose files are committed) — on a client of its
//! own.
//!
//! Why not the reading consumer: librdkafka's consumer close waits for every commit in
//! flight, and a commit waits for a group coordinator for as long as it takes — with the
//! brokers down, forever. Committing on the reading consumer would make stopping a task while
//! Kafka is unreachable hang a thread (and keep the consumer's prefetched data) until Kafka
//! returns. The reading consumer therefore never talks to the group (its close is always
//! prompt); this client does, from its own thread, and at shutdown waits at most
//! [`CLOSE_GRACE`] for its last commit before leaving it to finish in the background.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{self, RecvTimeoutError, SyncSender, TrySendError};
use std::time::{Duration, Instant};

use rdkafka::ClientContext;
use rdkafka::config::FromClientConfigAndContext;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer as _, ConsumerContext};
use rdkafka::error::KafkaResult;
use rdkafka::topic_partition_list::{Offset, TopicPartitionList};
use weir_core::config::KafkaSourceConfig;
use weir_core::split::SplitId;

use super::client::client_config;
use super::offsets::OFFSETS_TIMEOUT;

/// How long a stopping committer waits for its last commit to be acknowledged.
pub(crate) const CLOSE_GRACE: Duration = Duration::from_secs(5);

/// Requests waiting for the committer thread; a commit that finds it full is skipped (the
/// next one carries newer positions anyway).
const BACKLOG: usize = 4;

/// How often the thread serves librdkafka's callbacks when it has no request.
const SERVE_INTERVAL: Duration = Duration::from_millis(100);

type Committed = Result<Vec<Option<i64>>, String>;

enum Request {
    Commit(Vec<(SplitId, i64)>),
    Committed(Vec<SplitId>, mpsc::SyncSender<Committed>),
}

struct CommitContext {
    in_flight: Arc<AtomicUsize>,
}

impl ClientContext for CommitContext {
    /// This client reads no partition; its statistics (if `kafka.config` enables them for
    /// every client) carry nothing Weir reports.
    fn stats(&self, _statistics: rdkafka::statistics::Statistics) {}
}

impl ConsumerContext for CommitContext {
    fn commit_callback(&self, result: KafkaResult<()>, offsets: &TopicPartitionList) {
        self.in_flight.fetch_sub(1, Ordering::AcqRel);
        match result {
            Ok(()) => tracing::debug!(partitions = offsets.count(), "offsets committed"),
            // Only lag shown by Kafka tooling and `group_offsets` starts depend on it (recovery
            // uses the checkpoint's own offsets); the next commit, every
            // `env.checkpoint.interval`, retries with the same or newer positions.
            Err(error) => tracing::warn!(%error, "committing offsets failed"),
        }
    }
}

/// The committer of one subtask. Dropping it stops its thread (see the module doc).
pub(crate) struct Committer {
    requests: SyncSender<Request>,
}

impl Committer {
    /// Starts the committer's client and thread.
    pub(crate) fn start(config: &KafkaSourceConfig, client_id: &str) -> Result<Self, String> {
        let mut client = client_config(config, &format!("{client_id}-commit"));
        client
            .set("group.id", &config.consumer_group)
            .set("enable.auto.commit", "false");
        let in_flight = Arc::new(AtomicUsize::new(0));
        let context = CommitContext {
            in_flight: Arc::clone(&in_flight),
        };
        let consumer = BaseConsumer::from_config_and_context(&client, context)
            .map_err(|error| error.to_string())?;
        let (requests, incoming) = mpsc::sync_channel(BACKLOG);
        std::thread::Builder::new()
            .name("weir-kafka-commit".into())
            .spawn(move || serve(consumer, &incoming, &in_flight))
            .map_err(|error| format!("cannot start the commit thread: {error}"))?;
        Ok(Committer { requests })
    }

    /// Commits `positions` (next offset to read per split) without waiting for the result.
    pub(crate) fn commit(&self, positions: Vec<(SplitId, i64)>) -> bool {
        match self.requests.try_send(Request::Commit(positions)) {
            Ok(()) => true,
            Err(TrySendError::Full(_)) => {
                tracing::debug!("commit skipped: the previous ones are still queued");
                false
            }
            Err(TrySendError::Disconnected(_)) => false,
        }
    }

    /// The group's committed offset of each split (`None`: none committed). Blocking, bounded
    /// by the offsets timeout.
    pub(crate) fn committed(&self, splits: Vec<SplitId>) -> Committed {
        let (reply, answer) = mpsc::sync_channel(1);
        self.requests
            .send(Request::Committed(splits, reply))
            .map_err(|_| "the commit thread has stopped".to_string())?;
        answer
            .recv_timeout(OFFSETS_TIMEOUT + Duration::from_secs(1))
            .map_err(|_| "no answer from the commit thread".to_string())?
    }
}

fn serve(
    consumer: BaseConsumer<CommitContext>,
    incoming: &mpsc::Receiver<Request>,
    in_flight: &AtomicUsize,
) {
    loop {
        match incoming.recv_timeout(SERVE_INTERVAL) {
            Ok(Request::Commit(positions)) => commit(&consumer, &positions, in_flight),
            Ok(Request::Committed(splits, reply)) => {
                // The asker may have given up waiting; nothing to do then.
                let _ = reply.send(committed(&consumer, &splits));
            }
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => break,
        }
        // Serves commit results and errors; this client is assigned nothing, so no records.
        while consumer.poll(Duration::ZERO).is_some() {}
    }
    let deadline = Instant::now() + CLOSE_GRACE;
    while in_flight.load(Ordering::Acquire) > 0 && Instant::now() < deadline {
        let _ = consumer.poll(SERVE_INTERVAL);
    }
    if in_flight.load(Ordering::Acquire) == 0 {
        drop(consumer);
    } else {
        // Closing now would wait for the coordinator as long as Kafka is unreachable.
        // Leaving the client to finish its commit costs a few idle threads, not a hung task.
        tracing::warn!(
            "the last offset commit is still waiting for Kafka; leaving it to finish in the background"
        );
        std::mem::forget(consumer);
    }
}

fn commit(
    consumer: &BaseConsumer<CommitContext>,
    positions: &[(SplitId, i64)],
    in_flight: &AtomicUsize,
) {
    let mut list = TopicPartitionList::with_capacity(positions.len());
    for (split, position) in positions {
        if list
            .add_partition_offset(&split.topic, split.partition, Offset::Offset(*position))
            .is_err()
        {
            return;
        }
    }
    in_flight.fetch_add(1, Ordering::AcqRel);
    if let Err(error) = consumer.commit(&list, CommitMode::Async) {
        in_flight.fetch_sub(1, Ordering::AcqRel);
        tracing::warn!(%error, "committing offsets failed");
    }
}

fn committed(consumer: &BaseConsumer<CommitContext>, splits: &[SplitId]) -> Committed {
    let mut query = TopicPartitionList::with_capacity(splits.len());
    for split in splits {
        query.add_partition(&split.topic, split.partition);
    }
    let answer = consumer
        .committed_offsets(query, OFFSETS_TIMEOUT)
        .map_err(|error| error.to_string())?;
    splits
        .iter()
        .map(|split| {
            let element = answer
                .find_partition(&split.topic, split.partition)
                .ok_or_else(|| format!("no committed offset returned for {split}"))?;
            element
                .error()
                .map_err(|error| format!("{split}: {error}"))?;
            Ok(match element.offset() {
                Offset::Offset(offset) => Some(offset),
                _ => None,
            })
        })
        .collect()
}
