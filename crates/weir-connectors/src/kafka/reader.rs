//! One partition's reader: its librdkafka partition queue → decode → read limit → its split
//! queue.

use std::sync::Arc;

use std::pin::pin;

use futures::{FutureExt as _, StreamExt as _};
use rdkafka::TopicPartitionList;
use rdkafka::consumer::Consumer as _;
use rdkafka::consumer::stream_consumer::StreamPartitionQueue;
use rdkafka::error::KafkaError;
use rdkafka::message::Message as _;
use weir_core::config::FormatErrorHandleWay;
use weir_core::queue::QueueSender;

use super::client::{ConsumerRef, KafkaContext};
use super::decode::Decoder;
use super::offsets::{Range, is_gone};
use super::{KafkaShared, KafkaSplit};
use crate::context::{BoxFuture, SourceContext, SourceReader, SourceRecord};
use crate::error::ConnectorError;
use crate::source::SourceStatus;

/// The librdkafka side of a reader. Field order matters: the partition queue (which holds a
/// plain reference to the consumer) is dropped before the [`ConsumerRef`], so the last
/// reference to the consumer is always released on a blocking thread.
struct Input {
    queue: StreamPartitionQueue<KafkaContext>,
    _consumer: ConsumerRef,
}

/// How long a record may wait for the read limit or for room in its split queue before the
/// partition's fetching is paused. Longer than the usual waits of a partition moving at full
/// speed behind a busy sink (each pause drops the partition's prefetch, which must then be
/// fetched again), short enough that a stalled partition releases its prefetch at once.
pub(crate) const PAUSE_AFTER: std::time::Duration = std::time::Duration::from_millis(250);

/// Pauses and resumes librdkafka's fetching of one partition.
struct Fetching {
    consumer: ConsumerRef,
    partition: TopicPartitionList,
    split: Arc<KafkaSplit>,
}

impl Fetching {
    fn pause(&self) {
        match self.consumer.pause(&self.partition) {
            Ok(()) => self.split.state.set_fetch_paused(true),
            // Not fatal: the partition's prefetch stays bounded by its cap.
            Err(error) => tracing::debug!(%error, "pausing the partition failed"),
        }
    }

    fn resume(&self) {
        if let Err(error) = self.consumer.resume(&self.partition) {
            // A partition left paused would never be read again: the reader retries before it
            // waits for its next record.
            tracing::warn!(%error, "resuming the partition failed; retrying");
            return;
        }
        self.split.state.set_fetch_paused(false);
    }
}

/// Reads one assigned partition into its split queue.
pub(crate) struct PartitionReader {
    split: Arc<KafkaSplit>,
    fetching: Fetching,
    input: Input,
    decoder: Arc<Decoder>,
    on_format_error: FormatErrorHandleWay,
    status: Arc<SourceStatus>,
}

impl PartitionReader {
    pub(crate) fn new(
        split: Arc<KafkaSplit>,
        queue: StreamPartitionQueue<KafkaContext>,
        consumer: ConsumerRef,
        decoder: Arc<Decoder>,
        shared: &KafkaShared,
    ) -> Self {
        let mut partition = TopicPartitionList::with_capacity(1);
        partition.add_partition(&split.id.topic, split.id.partition);
        PartitionReader {
            fetching: Fetching {
                consumer: consumer.clone(),
                partition,
                split: Arc::clone(&split),
            },
            split,
            input: Input {
                queue,
                _consumer: consumer,
            },
            decoder,
            on_format_error: shared.config.format_error_handle_way,
            status: Arc::clone(&shared.status),
        }
    }

    /// Waits until the driver has assigned the partition; `None` if cancelled first.
    async fn assigned(&self, ctx: &SourceContext) -> Option<Range> {
        let mut range = self.split.range.subscribe();
        tokio::select! {
            biased;
            () = ctx.cancel.cancelled() => None,
            assigned = range.wait_for(Option::is_some) => assigned.ok().and_then(|r| *r),
        }
    }

    async fn read(
        self,
        out: QueueSender<SourceRecord>,
        mut ctx: SourceContext,
    ) -> Result<(), ConnectorError> {
        let Some(range) = self.assigned(&ctx).await else {
            return Ok(());
        };
        tracing::debug!(start = range.start, end = ?range.end, "partition assigned");
        if range.end.is_some_and(|end| range.start >= end) {
            return Ok(());
        }
        let mut messages = self.input.queue.stream();
        loop {
            // A resume that failed is retried before waiting for the next record: a paused
            // partition would never deliver it.
            if self.split.state.fetch_paused() {
                self.fetching.resume();
            }
            // While the memory governor pauses intake nothing is taken from librdkafka, and
            // the partition is paused: its prefetch is dropped and fetching stops.
            if *ctx.paused.borrow() {
                self.fetching.pause();
                let resumed = ctx.wait_while_paused().await;
                self.fetching.resume();
                if !resumed {
                    return Ok(());
                }
            }
            let next = tokio::select! {
                biased;
                () = ctx.cancel.cancelled() => return Ok(()),
                next = messages.next() => next,
            };
            // The message (and its share of librdkafka's fetch buffer) is released at the
            // end of this block, before any wait below.
            let (offset, decoded) = match next {
                Some(Ok(message)) => (message.offset(), self.decoder.decode(message.payload())),
                Some(Err(error)) => {
                    self.on_kafka_error(error)?;
                    continue;
                }
                None => {
                    return Err(ConnectorError::Kafka {
                        what: "partition stream ended",
                        detail: self.split.id.to_string(),
                    });
                }
            };
            self.status.clear_error();
            if range.end.is_some_and(|end| offset >= end) {
                return Ok(());
            }
            match decoded {
                Ok(row) => {
                    let size = row.size_bytes();
                    let record = SourceRecord {
                        row,
                        position: offset,
                    };
                    // The limit is taken before the queue: a slow limit slows this
                    // partition's reading, not just its emission.
                    let admitted = async {
                        ctx.read_limit.acquire(1, size).await;
                        out.send(record, size).await
                    };
                    match self.admit(admitted, &ctx).await {
                        Some(sent) => sent.map_err(|_| ConnectorError::QueueClosed)?,
                        None => return Ok(()),
                    }
                }
                Err(reason) => self.on_format_error(offset, reason)?,
            }
            if range.end.is_some_and(|end| offset + 1 >= end) {
                return Ok(());
            }
            // A partition queue that always has records never makes this task yield.
            tokio::task::consume_budget().await;
        }
    }

    /// Awaits `admitted` (the read limit, then room in the split queue); `None` if the task
    /// was cancelled first. Most records are admitted at once, without a timer. One that
    /// waits longer than [`PAUSE_AFTER`] pauses the partition's fetching until it is admitted:
    /// librdkafka then drops what it prefetched for the partition and fetches again from the
    /// next record on resume, so a partition that cannot move holds no prefetch — behind a
    /// stalled sink or a slow read limit the broker's data stays in the broker, whatever the
    /// partition count.
    async fn admit<T>(
        &self,
        admitted: impl std::future::Future<Output = T>,
        ctx: &SourceContext,
    ) -> Option<T> {
        let mut admitted = pin!(admitted);
        if let Some(done) = admitted.as_mut().now_or_never() {
            return Some(done);
        }
        tokio::select! {
            biased;
            () = ctx.cancel.cancelled() => return None,
            done = admitted.as_mut() => return Some(done),
            () = tokio::time::sleep(PAUSE_AFTER) => {}
        }
        self.fetching.pause();
        let done = tokio::select! {
            biased;
            () = ctx.cancel.cancelled() => None,
            done = admitted => Some(done),
        };
        self.fetching.resume();
        done
    }

    fn on_format_error(&self, offset: i64, reason: String) -> Result<(), ConnectorError> {
        match self.on_format_error {
            FormatErrorHandleWay::Fail => Err(ConnectorError::UndecodableRecord {
                topic: self.split.id.topic.clone(),
                partition: self.split.id.partition,
                offset,
                reason,
            }),
            FormatErrorHandleWay::Skip => {
                self.split.state.add_skipped();
                tracing::debug!(offset, %reason, "undecodable record skipped");
                Ok(())
            }
        }
    }

    /// Errors on a partition queue: the partition is gone (fail), librdkafka failed fatally
    /// (fail), or anything else, which librdkafka retries itself (recorded, not fatal).
    fn on_kafka_error(&self, error: KafkaError) -> Result<(), ConnectorError> {
        let code = error.rdkafka_error_code();
        if code.is_some_and(is_gone) {
            return Err(ConnectorError::PartitionGone {
                split: self.split.id.to_string(),
                detail: error.to_string(),
            });
        }
        if matches!(error, KafkaError::MessageConsumptionFatal(_)) {
            return Err(ConnectorError::Kafka {
                what: "consumer failed",
                detail: error.to_string(),
            });
        }
        self.status
            .set_error(format!("partition {}: {error}", self.split.id));
        Ok(())
    }
}

impl SourceReader for PartitionReader {
    fn run(
        self: Box<Self>,
        out: QueueSender<SourceRecord>,
        ctx: SourceContext,
    ) -> BoxFuture<'static, Result<(), ConnectorError>> {
        // The runtime runs each reader in a span naming its split.
        Box::pin(self.read(out, ctx))
    }
}
