//! The Kafka source: one split per topic partition.
//!
//! A subtask runs **one** librdkafka consumer (a `StreamConsumer`: async, woken by
//! librdkafka's queue callbacks, so N partitions need no N polling threads) with
//! `assign()` — never group subscription — and splits every assigned partition into its own
//! queue (`split_partition_queue`) *before* assigning it, so no record ever reaches the
//! consumer's main queue. Per partition:
//!
//! ```text
//! librdkafka prefetch (≤ the partition's cap + one fetch) ─▶ PartitionReader
//!   receive → decode → read limit (rows and bytes) → split queue (queue.size, queue.max_bytes,
//!   and the subtask's shared budget)
//! ```
//!
//! Partitions start paused and are fetched only while their reader holds one of the subtask's
//! fetch slots ([`fetch_slots`]). A full split queue (or an exhausted shared budget) stops its
//! reader; a reader that has waited 250 ms (`PAUSE_AFTER`) pauses its partition and hands its
//! slot over, and librdkafka drops the partition's prefetch and stops fetching it until the
//! reader moves again. That chain is the backpressure, and it keeps the memory of a subtask
//! within `buffer.max_bytes` whatever its partition count (docs/architecture.md, "Memory
//! budget").
//!
//! A driver task ([`driver`]) serves the consumer's main queue (errors, logs, statistics),
//! resolves start offsets and assigns partitions (retrying with backoff while brokers are
//! unreachable), has the positions of the last completed checkpoint committed every
//! `env.checkpoint.interval`, and refreshes high watermarks for lag. Group offsets are read
//! and committed by a second, partition-less client ([`committer`]), so that closing the
//! reading consumer never waits for a group coordinator.

mod avro;
mod changes;
mod client;
mod committer;
mod decode;
mod driver;
mod fetch_slots;
mod metadata;
pub mod mock;
mod offsets;
mod reader;

use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use rdkafka::config::FromClientConfigAndContext;
use tokio::sync::{Notify, watch};
use weir_core::config::{EnvConfig, JobMode, KafkaSourceConfig, StartMode};
use weir_core::split::SplitId;

use self::client::{Consumer, ConsumerRef, KafkaContext, SplitRegistry, consumer_config};
pub use self::client::{check_client_properties, check_client_properties_of_job};
use self::committer::Committer;
use self::decode::Decoder;
use self::fetch_slots::FetchSlots;
pub use self::metadata::{
    ListPartitionsError, METADATA_TIMEOUT, list_partitions, list_partitions_within,
};
use self::offsets::Range;
use self::reader::PartitionReader;
use crate::context::SubtaskInfo;
use crate::error::ConnectorError;
use crate::source::{OpenedSource, SourceStatus, SplitOpener, SplitReader, SplitState};

/// One partition of a running source.
pub(crate) struct KafkaSplit {
    pub(crate) id: SplitId,
    pub(crate) state: Arc<SplitState>,
    /// Set by the driver once the partition is assigned.
    pub(crate) range: watch::Sender<Option<Range>>,
}

/// What the opener, the driver and the readers of one subtask share.
pub(crate) struct KafkaShared {
    pub(crate) consumer: ConsumerRef,
    /// Reads and commits `consumer.group`'s offsets; `None` when the source does neither.
    pub(crate) committer: Option<Committer>,
    pub(crate) config: KafkaSourceConfig,
    pub(crate) status: Arc<SourceStatus>,
    /// Batch jobs read each partition up to its high watermark at assignment, then end.
    pub(crate) bounded: bool,
    /// Next offset to read per split, from the checkpoint the subtask resumes from; these
    /// splits ignore `start_mode`.
    pub(crate) restored: std::collections::HashMap<SplitId, i64>,
    /// Every split opened, in order.
    splits: Mutex<Vec<Arc<KafkaSplit>>>,
    /// Opened but not yet assigned; the driver takes them.
    pending: Mutex<Vec<Arc<KafkaSplit>>>,
    pending_added: Notify,
    /// `env.checkpoint.interval`: how often positions are committed.
    pub(crate) commit_interval: std::time::Duration,
    /// The partitions librdkafka may fetch at once.
    pub(crate) fetch_slots: Arc<FetchSlots>,
    /// Notified after each refresh of the splits' high watermarks: caught-up readers wait for
    /// it before they queue for a fetch slot again (`kafka/reader.rs`).
    pub(crate) watermarks_refreshed: Arc<Notify>,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // Only Vec pushes and clones run under these locks: a poisoned one is still consistent.
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

impl KafkaShared {
    pub(crate) fn splits(&self) -> Vec<Arc<KafkaSplit>> {
        lock(&self.splits).clone()
    }

    pub(crate) fn take_pending(&self) -> Vec<Arc<KafkaSplit>> {
        std::mem::take(&mut *lock(&self.pending))
    }

    pub(crate) async fn pending_added(&self) {
        self.pending_added.notified().await;
    }
}

/// Opens the Kafka source of one subtask with its initial `splits`.
pub(crate) fn open(
    config: &KafkaSourceConfig,
    env: &EnvConfig,
    subtask: &SubtaskInfo,
    splits: &[SplitId],
    restored: &[(SplitId, i64)],
) -> Result<OpenedSource, ConnectorError> {
    let status = Arc::new(SourceStatus::default());
    let client_id = format!("weir-{}-{}", subtask.job_id, subtask.subtask_index);
    let registry = Arc::new(SplitRegistry::default());
    let context = KafkaContext {
        status: Arc::clone(&status),
        splits: Arc::clone(&registry),
    };
    let consumer = Consumer::from_config_and_context(&consumer_config(config, &client_id), context)
        .map_err(|error| ConnectorError::Kafka {
            what: "consumer could not be created",
            detail: error.to_string(),
        })?;
    let bounded = env.job_mode == JobMode::Batch;
    let committer = (config.commit_on_checkpoint || config.start_mode == StartMode::GroupOffsets)
        .then(|| Committer::start(config, &client_id))
        .transpose()
        .map_err(|detail| ConnectorError::Kafka {
            what: "offset committer could not be created",
            detail,
        })?;
    let shared = Arc::new(KafkaShared {
        consumer: ConsumerRef::new(consumer),
        committer,
        config: config.clone(),
        status: Arc::clone(&status),
        bounded,
        restored: restored.iter().cloned().collect(),
        splits: Mutex::default(),
        pending: Mutex::default(),
        pending_added: Notify::new(),
        commit_interval: env.checkpoint_interval(),
        fetch_slots: Arc::new(FetchSlots::new(config.fetch_slots())),
        watermarks_refreshed: Arc::new(Notify::new()),
    });
    let mut opener = KafkaOpener {
        shared: Arc::clone(&shared),
        decoder: Arc::new(Decoder::new(config)),
        registry,
    };
    let readers = opener.open_splits(splits.to_vec())?;
    Ok(OpenedSource {
        readers,
        opener: Some(Box::new(opener)),
        driver: Some(Box::new(driver::KafkaDriver::new(shared))),
        status,
        unbounded: !bounded,
    })
}

/// Opens partition readers; shared by the initial open and partition discovery.
struct KafkaOpener {
    shared: Arc<KafkaShared>,
    decoder: Arc<Decoder>,
    registry: Arc<SplitRegistry>,
}

impl SplitOpener for KafkaOpener {
    fn open_splits(&mut self, splits: Vec<SplitId>) -> Result<Vec<SplitReader>, ConnectorError> {
        let shared = &self.shared;
        let mut readers = Vec::with_capacity(splits.len());
        let mut opened = Vec::with_capacity(splits.len());
        {
            let mut all = lock(&shared.splits);
            for id in splits {
                if all
                    .iter()
                    .chain(&opened)
                    .any(|split: &Arc<KafkaSplit>| split.id == id)
                {
                    tracing::debug!(split = %id, "split already read; ignored");
                    continue;
                }
                // Split before the partition is assigned (the driver assigns it later), so
                // none of its records can reach the consumer's main queue.
                let queue = shared
                    .consumer
                    .split_partition_queue(&id.topic, id.partition)
                    .ok_or_else(|| ConnectorError::Kafka {
                        what: "partition queue could not be created",
                        detail: format!("invalid topic or partition {id}"),
                    })?;
                let split = Arc::new(KafkaSplit {
                    state: Arc::new(SplitState::of_split(id.clone())),
                    id,
                    range: watch::channel(None).0,
                });
                self.registry
                    .insert(split.id.clone(), Arc::clone(&split.state));
                readers.push(SplitReader {
                    state: Arc::clone(&split.state),
                    reader: Box::new(PartitionReader::new(
                        Arc::clone(&split),
                        queue,
                        shared.consumer.clone(),
                        Arc::clone(&self.decoder),
                        shared,
                    )),
                });
                opened.push(split);
            }
            all.extend(opened.iter().cloned());
        }
        if !opened.is_empty() {
            lock(&shared.pending).extend(opened);
            shared.pending_added.notify_one();
        }
        Ok(readers)
    }
}

#[cfg(test)]
mod tests;
