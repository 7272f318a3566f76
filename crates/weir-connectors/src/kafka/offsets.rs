//! Blocking librdkafka calls of the driver: resolving start (and, for bounded jobs, end)
//! offsets, assigning partitions, querying high watermarks. Each runs on a blocking thread
//! and is bounded by a timeout.

use std::collections::HashMap;
use std::time::Duration;

use rdkafka::consumer::Consumer as _;
use rdkafka::error::KafkaError;
use rdkafka::topic_partition_list::{Offset, TopicPartitionList};
use rdkafka::types::RDKafkaErrorCode;
use weir_core::config::{KafkaSourceConfig, StartMode};
use weir_core::split::SplitId;

use super::KafkaShared;
use super::client::Consumer;
use super::committer::Committer;

/// Bound of each offset request to the brokers.
pub(crate) const OFFSETS_TIMEOUT: Duration = Duration::from_secs(10);

/// ListOffsets "timestamps" meaning the first and the next offset of a partition.
const EARLIEST: i64 = -2;
const LATEST: i64 = -1;

/// Where a partition's reading starts and (for a bounded job) ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Range {
    /// The first offset to read.
    pub start: i64,
    /// Stop before this offset (the high watermark when the partition was assigned).
    pub end: Option<i64>,
}

/// Why resolving or assigning failed.
#[derive(Debug)]
pub(crate) enum OffsetsError {
    /// A partition does not exist (any more).
    Gone { split: SplitId, detail: String },
    /// Brokers unreachable or another transient failure: try again later.
    Retry(String),
    /// librdkafka refused the assignment itself.
    Fatal(String),
}

/// Whether `code` says a topic or partition does not exist.
pub(crate) fn is_gone(code: RDKafkaErrorCode) -> bool {
    matches!(
        code,
        RDKafkaErrorCode::UnknownTopicOrPartition
            | RDKafkaErrorCode::UnknownTopic
            | RDKafkaErrorCode::UnknownPartition
    )
}

fn list_of(splits: &[SplitId], offset: impl Fn(&SplitId) -> Offset) -> TopicPartitionList {
    let mut list = TopicPartitionList::with_capacity(splits.len());
    for split in splits {
        // Only fails for offsets librdkafka cannot represent; every caller passes valid ones.
        let _ = list.add_partition_offset(&split.topic, split.partition, offset(split));
    }
    list
}

/// Reads `(topic, partition) → offset` out of a result list; per-partition errors fail.
fn offsets_of(list: &TopicPartitionList) -> Result<HashMap<(String, i32), Offset>, OffsetsError> {
    let mut found = HashMap::new();
    for element in list.elements() {
        let split = SplitId::new(element.topic(), element.partition());
        if let Err(error) = element.error() {
            return Err(classify(Some(split), error));
        }
        found.insert((split.topic, split.partition), element.offset());
    }
    Ok(found)
}

fn classify(split: Option<SplitId>, error: KafkaError) -> OffsetsError {
    match (split, error.rdkafka_error_code()) {
        (Some(split), Some(code)) if is_gone(code) => OffsetsError::Gone {
            split,
            detail: error.to_string(),
        },
        _ => OffsetsError::Retry(error.to_string()),
    }
}

/// The offset of each split for a ListOffsets `timestamp` (or [`EARLIEST`] / [`LATEST`]);
/// `None` where the broker found none (a timestamp after the last record).
fn list_offsets(
    consumer: &Consumer,
    splits: &[SplitId],
    timestamp: i64,
) -> Result<Vec<Option<i64>>, OffsetsError> {
    if splits.is_empty() {
        return Ok(Vec::new());
    }
    // from_raw: -2 and -1 are librdkafka's logical Beginning and End, which ListOffsets
    // reads as "earliest" and "latest".
    let query = list_of(splits, |_| Offset::from_raw(timestamp));
    let answer = consumer
        .offsets_for_times(query, OFFSETS_TIMEOUT)
        .map_err(|error| classify(None, error))?;
    let found = offsets_of(&answer)?;
    Ok(splits
        .iter()
        .map(
            |split| match found.get(&(split.topic.clone(), split.partition)) {
                Some(Offset::Offset(offset)) => Some(*offset),
                _ => None,
            },
        )
        .collect())
}

/// Fills the `None`s of `offsets` with the splits' earliest (or latest) offsets.
fn fill_missing(
    consumer: &Consumer,
    splits: &[SplitId],
    offsets: Vec<Option<i64>>,
    fallback: i64,
) -> Result<Vec<i64>, OffsetsError> {
    let missing: Vec<SplitId> = splits
        .iter()
        .zip(&offsets)
        .filter(|(_, offset)| offset.is_none())
        .map(|(split, _)| split.clone())
        .collect();
    let mut filled = list_offsets(consumer, &missing, fallback)?.into_iter();
    offsets
        .into_iter()
        .zip(splits)
        .map(|(offset, split)| match offset {
            Some(offset) => Ok(offset),
            None => filled.next().flatten().ok_or_else(|| {
                OffsetsError::Retry(format!("the broker returned no offset for {split}"))
            }),
        })
        .collect()
}

/// The start offset of each split under the source's `start_mode`.
fn start_offsets(
    consumer: &Consumer,
    committer: Option<&Committer>,
    config: &KafkaSourceConfig,
    splits: &[SplitId],
) -> Result<Vec<i64>, OffsetsError> {
    match config.start_mode {
        StartMode::Earliest => fill_missing(consumer, splits, vec![None; splits.len()], EARLIEST),
        StartMode::Latest => fill_missing(consumer, splits, vec![None; splits.len()], LATEST),
        StartMode::Timestamp => {
            let timestamp = config.start_mode_timestamp.unwrap_or(0).max(0);
            let found = list_offsets(consumer, splits, timestamp)?;
            // No record at or after the timestamp: start at the end.
            fill_missing(consumer, splits, found, LATEST)
        }
        StartMode::SpecificOffsets => {
            let listed = config.start_mode_offsets.entries().unwrap_or_default();
            let given = splits
                .iter()
                .map(|split| {
                    listed
                        .iter()
                        .find(|(topic, partition, _)| {
                            *topic == split.topic && *partition == split.partition
                        })
                        .map(|(_, _, offset)| *offset)
                })
                .collect();
            fill_missing(consumer, splits, given, EARLIEST)
        }
        StartMode::GroupOffsets => {
            let committed = match committer {
                Some(committer) => committer
                    .committed(splits.to_vec())
                    .map_err(OffsetsError::Retry)?,
                None => vec![None; splits.len()],
            };
            // No committed offset: start at earliest.
            fill_missing(consumer, splits, committed, EARLIEST)
        }
    }
}

/// The start of each split: its offset in the checkpoint the subtask resumes from, else per
/// `start_mode`.
fn restored_or_start_offsets(
    shared: &KafkaShared,
    splits: &[SplitId],
) -> Result<Vec<i64>, OffsetsError> {
    let restored: Vec<Option<i64>> = splits
        .iter()
        .map(|split| shared.restored.get(split).copied())
        .collect();
    let missing: Vec<SplitId> = splits
        .iter()
        .zip(&restored)
        .filter(|(_, offset)| offset.is_none())
        .map(|(split, _)| split.clone())
        .collect();
    let mut started = if missing.is_empty() {
        Vec::new()
    } else {
        start_offsets(
            &shared.consumer,
            shared.committer.as_ref(),
            &shared.config,
            &missing,
        )?
    }
    .into_iter();
    restored
        .into_iter()
        .zip(splits)
        .map(|(offset, split)| match offset {
            Some(offset) => Ok(offset),
            None => started.next().ok_or_else(|| {
                OffsetsError::Retry(format!("no start offset was resolved for {split}"))
            }),
        })
        .collect()
}

/// Resolves where each split starts (and ends, when `bounded`), then adds the splits to the
/// consumer's assignment at those offsets. Blocking.
pub(crate) fn resolve_and_assign(
    shared: &KafkaShared,
    splits: &[SplitId],
) -> Result<Vec<Range>, OffsetsError> {
    let consumer: &Consumer = &shared.consumer;
    let starts = restored_or_start_offsets(shared, splits)?;
    let ends = if shared.bounded {
        fill_missing(consumer, splits, vec![None; splits.len()], LATEST)?
            .into_iter()
            .map(Some)
            .collect()
    } else {
        vec![None; splits.len()]
    };
    let assignment = {
        let mut list = TopicPartitionList::with_capacity(splits.len());
        for (split, start) in splits.iter().zip(&starts) {
            list.add_partition_offset(&split.topic, split.partition, Offset::Offset(*start))
                .map_err(|error| OffsetsError::Fatal(error.to_string()))?;
        }
        list
    };
    consumer
        .incremental_assign(&assignment)
        .map_err(|error| OffsetsError::Fatal(format!("assigning partitions failed: {error}")))?;
    // Fetching starts paused: a partition is fetched only while its reader holds a fetch slot
    // (kafka/fetch_slots.rs). Paused at once (librdkafka serves the pause before it returns),
    // before the partition's fetch position is resolved, so nothing is fetched for it.
    consumer
        .pause(&assignment)
        .map_err(|error| OffsetsError::Fatal(format!("pausing new partitions failed: {error}")))?;
    Ok(starts
        .into_iter()
        .zip(ends)
        .map(|(start, end)| Range { start, end })
        .collect())
}

/// The high watermark (log end offset) of each split. Blocking.
pub(crate) fn high_watermarks(
    consumer: &Consumer,
    splits: &[SplitId],
) -> Result<Vec<Option<i64>>, OffsetsError> {
    list_offsets(consumer, splits, LATEST)
}
