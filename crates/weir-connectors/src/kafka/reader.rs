//! One partition's reader: its librdkafka partition queue → decode → read limit → its split
//! queue.

use std::sync::Arc;

use futures::StreamExt as _;
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

/// Reads one assigned partition into its split queue.
pub(crate) struct PartitionReader {
    split: Arc<KafkaSplit>,
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
        PartitionReader {
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
            // While the memory governor pauses intake nothing is taken from librdkafka, so
            // its prefetch fills to the cap and fetching stops.
            if !ctx.wait_while_paused().await {
                return Ok(());
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
                    tokio::select! {
                        biased;
                        () = ctx.cancel.cancelled() => return Ok(()),
                        sent = admitted => sent.map_err(|_| ConnectorError::QueueClosed)?,
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
