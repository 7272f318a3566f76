//! One partition's reader: its librdkafka partition queue → decode → read limit → its split
//! queue.

use std::collections::VecDeque;
use std::pin::pin;
use std::sync::Arc;
use std::time::Instant;

use futures::{FutureExt as _, StreamExt as _};
use rdkafka::TopicPartitionList;
use rdkafka::consumer::Consumer as _;
use rdkafka::consumer::stream_consumer::StreamPartitionQueue;
use rdkafka::error::KafkaError;
use rdkafka::message::Message as _;
use tokio::sync::Notify;
use tokio::time::MissedTickBehavior;
use weir_core::config::FormatErrorHandleWay;
use weir_core::queue::{HAND_OVER_BYTES, HAND_OVER_ROWS, QueueSender};
use weir_core::wait::timed;

use super::client::{ConsumerRef, KafkaContext};
use super::decode::{Decoded, Decoder};
use super::fetch_slots::{FetchSlot, FetchSlots, HeldSlot, IDLE_HANDOVER};
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

/// The longest a caught-up reader waits for its partition's high watermark to move before it
/// queues for a fetch slot anyway: a watermark the driver could not refresh (its queries
/// failing) must not keep a partition unread.
const CAUGHT_UP_WAIT_MAX: std::time::Duration = std::time::Duration::from_secs(30);

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

/// What one message did to the reader.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Step {
    /// Read on.
    Next,
    /// Read on: the record at this offset was read.
    Read(i64),
    /// The reader is done: the end of its range, or cancelled.
    End,
}

/// What a partition queue's stream yields.
type Message<'m> = rdkafka::error::KafkaResult<rdkafka::message::BorrowedMessage<'m>>;

/// Records decoded and waiting to be admitted together: one read-limit acquire and one
/// queue hand-over for all of them.
#[derive(Default)]
struct Batch {
    records: VecDeque<(SourceRecord, u64)>,
    bytes: u64,
}

impl Batch {
    fn push(&mut self, record: SourceRecord, size: u64) {
        self.bytes = self.bytes.saturating_add(size);
        self.records.push_back((record, size));
    }

    /// Whether it may take another message: within [`HAND_OVER_ROWS`] and
    /// [`HAND_OVER_BYTES`].
    fn has_room(&self) -> bool {
        self.records.len() < HAND_OVER_ROWS && self.bytes < HAND_OVER_BYTES
    }
}

/// Reads one assigned partition into its split queue.
pub(crate) struct PartitionReader {
    split: Arc<KafkaSplit>,
    fetching: Fetching,
    slots: Arc<FetchSlots>,
    /// Notified when the driver has refreshed the high watermarks.
    watermarks_refreshed: Arc<Notify>,
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
            slots: Arc::clone(&shared.fetch_slots),
            watermarks_refreshed: Arc::clone(&shared.watermarks_refreshed),
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
        ctx: SourceContext,
    ) -> Result<(), ConnectorError> {
        let read = self.read_partition(out, ctx).await;
        // However the reader ends (end of a bounded range, cancellation, failure), its partition
        // stops fetching: with its slot freed, it would otherwise fetch beside the slots.
        self.fetching.pause();
        read
    }

    async fn read_partition(
        &self,
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
        let mut slot: Option<HeldSlot> = None;
        // The next offset to read: what the high watermark is compared with.
        let mut next_offset = range.start;
        // Checks whether a held slot should be handed over while no record arrives.
        let mut handover_check = tokio::time::interval(IDLE_HANDOVER);
        handover_check.set_missed_tick_behavior(MissedTickBehavior::Delay);
        loop {
            // While the memory governor pauses intake nothing is taken from librdkafka, and
            // the partition is paused: fetching stops (the slot is kept; it is resumed below).
            if *ctx.paused.borrow() {
                self.fetching.pause();
                if !ctx.wait_while_paused().await {
                    return Ok(());
                }
            }
            match &mut slot {
                None => {
                    let Some(acquired) = self.take_slot(next_offset, &ctx).await? else {
                        return Ok(());
                    };
                    slot = Some(HeldSlot::new(acquired));
                    self.fetching.resume();
                }
                Some(held) if !held.handing_over && held.turn_over(&self.slots) => {
                    // Paused first; the slot is freed once the partition queue is polled empty.
                    held.handing_over = true;
                    self.fetching.pause();
                }
                // A resume that failed is retried before waiting for the next record: a paused
                // partition would never deliver it.
                Some(held) if !held.handing_over && self.split.state.fetch_paused() => {
                    self.fetching.resume();
                }
                Some(_) => {}
            }
            if slot.as_ref().is_some_and(|held| held.handing_over) {
                // Paused: poll on only while librdkafka holds something for the partition (the
                // prefetch the pause made outdated, dropped as it is polled), then free the
                // slot.
                match messages.next().now_or_never() {
                    Some(next) => {
                        let (step, read) =
                            self.take(next, &mut messages, range, &out, &ctx).await?;
                        if step == Step::End {
                            return Ok(());
                        }
                        if let Some(offset) = read {
                            next_offset = offset + 1;
                        }
                        continue;
                    }
                    None => {
                        slot = None;
                        continue;
                    }
                }
            }
            let next = tokio::select! {
                biased;
                () = ctx.cancel.cancelled() => return Ok(()),
                next = timed(messages.next(), self.split.state.source_wait_clock()) => next,
                _ = handover_check.tick() => {
                    // A partition known to have records is waiting for its first fetch, not
                    // idle: it keeps its slot for its turn.
                    let has_records = self.has_records(next_offset);
                    if let Some(held) = slot
                        .as_mut()
                        .filter(|held| held.idle_over(&self.slots, has_records))
                    {
                        held.handing_over = true;
                        self.fetching.pause();
                    }
                    continue;
                }
            };
            if let Some(held) = &mut slot {
                held.last_record = Instant::now();
            }
            match self.take(next, &mut messages, range, &out, &ctx).await? {
                (Step::End, _) => return Ok(()),
                (_, Some(offset)) => {
                    next_offset = offset + 1;
                    // Caught up with the last known end of the partition while another reader
                    // waits: hand the slot over now rather than after an idle wait.
                    if let Some(held) = slot.as_mut().filter(|held| !held.handing_over)
                        && self.caught_up(next_offset)
                        && self.slots.contended()
                    {
                        held.handing_over = true;
                        self.fetching.pause();
                    }
                }
                (_, None) => {}
            }
        }
    }

    /// A fetch slot for the partition at `next_offset`: a free one at once (it keeps no other
    /// reader waiting); otherwise, once the partition has records to read, the first one
    /// freed. `None` if cancelled first.
    ///
    /// A caught-up partition queues for a slot only once it has records: otherwise, with many
    /// partitions, the caught-up ones would take the slots in turn, each for an idle hand-over,
    /// ahead of the partitions with a backlog.
    async fn take_slot(
        &self,
        next_offset: i64,
        ctx: &SourceContext,
    ) -> Result<Option<FetchSlot>, ConnectorError> {
        loop {
            if let Some(free) = self.slots.try_acquire() {
                return Ok(Some(free));
            }
            if self.caught_up(next_offset) && !self.wait_for_records(next_offset, ctx).await {
                return Ok(None);
            }
            let acquire = timed(self.slots.acquire(), self.split.state.source_wait_clock());
            let acquired = tokio::select! {
                biased;
                () = ctx.cancel.cancelled() => return Ok(None),
                acquired = acquire => acquired,
            };
            let Some(acquired) = acquired else {
                return Err(ConnectorError::Interrupted {
                    what: "waiting for a fetch slot",
                    reason: "the subtask's fetch slots were closed".to_string(),
                });
            };
            if !self.caught_up(next_offset) {
                return Ok(Some(acquired));
            }
            // Caught up while it waited (a refresh showed it had read everything): the slot
            // goes on unused.
            drop(acquired);
        }
    }

    /// Whether the partition is known to have no record at `next_offset` or beyond: its high
    /// watermark, as last refreshed, is not above it.
    fn caught_up(&self, next_offset: i64) -> bool {
        self.split
            .state
            .high_watermark()
            .is_some_and(|end| end <= next_offset)
    }

    /// Whether the partition is known to have a record at `next_offset`: its high watermark,
    /// as last refreshed, is above it. (Neither this nor [`caught_up`](Self::caught_up) holds
    /// while the watermark is unknown.)
    fn has_records(&self, next_offset: i64) -> bool {
        self.split
            .state
            .high_watermark()
            .is_some_and(|end| next_offset < end)
    }

    /// Waits until a refreshed high watermark shows records at `next_offset` or beyond, or for
    /// [`CAUGHT_UP_WAIT_MAX`]; `false` if cancelled first.
    async fn wait_for_records(&self, next_offset: i64, ctx: &SourceContext) -> bool {
        let gave_up = tokio::time::sleep(CAUGHT_UP_WAIT_MAX);
        let mut gave_up = pin!(gave_up);
        loop {
            // Registered before the check, so a refresh between the two is not missed.
            let refreshed = self.watermarks_refreshed.notified();
            let mut refreshed = pin!(refreshed);
            refreshed.as_mut().enable();
            if !self.caught_up(next_offset) {
                return true;
            }
            let waited = timed(
                async {
                    tokio::select! {
                        biased;
                        () = ctx.cancel.cancelled() => None,
                        () = refreshed => Some(true),
                        () = gave_up.as_mut() => Some(false),
                    }
                },
                self.split.state.source_wait_clock(),
            );
            match waited.await {
                None => return false,
                Some(true) => {}
                Some(false) => return true,
            }
        }
    }

    /// Decodes `first` and the messages librdkafka already holds behind it (while the read
    /// limit is off, up to a batch), then admits their records together; what the last
    /// message did, and the offset of the last record read, if any.
    async fn take<'m, S>(
        &self,
        first: Option<Message<'m>>,
        messages: &mut S,
        range: Range,
        out: &QueueSender<SourceRecord>,
        ctx: &SourceContext,
    ) -> Result<(Step, Option<i64>), ConnectorError>
    where
        S: futures::Stream<Item = Message<'m>> + Unpin,
    {
        let mut batch = Batch::default();
        let mut decoded = self.decode_into(first, range, &mut batch);
        let mut last_read = None;
        // Under a read limit each record takes its tokens alone, so that the limit paces
        // records, not batches.
        let gather = ctx.read_limit.is_unlimited();
        loop {
            match decoded {
                Ok(Step::Read(offset)) => last_read = Some(offset),
                Ok(Step::Next) => {}
                Ok(Step::End) | Err(_) => break,
            }
            if !gather || !batch.has_room() {
                break;
            }
            let Some(next) = messages.next().now_or_never() else {
                break;
            };
            decoded = self.decode_into(next, range, &mut batch);
        }
        // The records before a failure are admitted first: they were read, and a job that
        // fails on a poison record has everything before it in its queue.
        if !self.send(batch, out, ctx).await? {
            return Ok((Step::End, last_read));
        }
        let step = decoded?;
        // A partition queue that always has records never makes this task yield.
        tokio::task::consume_budget().await;
        Ok((step, last_read))
    }

    /// Decodes one message from the partition queue into `batch`; whether the reader reached
    /// the end of its range.
    fn decode_into(
        &self,
        next: Option<Message<'_>>,
        range: Range,
        batch: &mut Batch,
    ) -> Result<Step, ConnectorError> {
        // The message (and its share of librdkafka's fetch buffer) is released at the end of
        // this block, before any wait.
        let (offset, decoded) = match next {
            Some(Ok(message)) => (message.offset(), self.decoder.decode(message.payload())),
            Some(Err(error)) => {
                self.on_kafka_error(error)?;
                return Ok(Step::Next);
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
            return Ok(Step::End);
        }
        match decoded {
            Ok(Decoded::One(row)) => {
                let size = row.size_bytes();
                let record = SourceRecord {
                    row,
                    position: offset,
                    more_at_position: false,
                };
                batch.push(record, size);
            }
            // The rows of one record go into the same batch, so the read limit is taken for
            // all of them before the first is queued: once the sink has the first it gets the
            // others without waiting for the limit (it takes a record's rows together, never
            // with a barrier between them). Each row counts in the queue's bounds.
            Ok(Decoded::Many(rows)) => {
                let last = rows.len().saturating_sub(1);
                for (at, row) in rows.into_iter().enumerate() {
                    let size = row.size_bytes();
                    let record = SourceRecord {
                        row,
                        position: offset,
                        more_at_position: at < last,
                    };
                    batch.push(record, size);
                }
            }
            Err(reason) => self.on_format_error(offset, reason)?,
        }
        if range.end.is_some_and(|end| offset + 1 >= end) {
            return Ok(Step::End);
        }
        Ok(Step::Read(offset))
    }

    /// Admits the records of `batch` (none: nothing to do): the read limit for all of them,
    /// then room in the split queue; `false` if the task was cancelled first. The limit is
    /// taken before the queue: a slow limit slows this partition's reading, not just its
    /// emission.
    async fn send(
        &self,
        mut batch: Batch,
        out: &QueueSender<SourceRecord>,
        ctx: &SourceContext,
    ) -> Result<bool, ConnectorError> {
        if batch.records.is_empty() {
            return Ok(true);
        }
        let (rows, bytes) = (batch.records.len() as u64, batch.bytes);
        let admitted = async {
            ctx.read_limit.acquire(rows, bytes).await;
            out.send_batch(&mut batch.records).await
        };
        match self.admit(admitted, ctx).await {
            Some(sent) => sent.map(|()| true).map_err(|_| ConnectorError::QueueClosed),
            None => Ok(false),
        }
    }

    /// Awaits `admitted` (the read limit, then room in the split queue); `None` if the task
    /// was cancelled first. Most records are admitted at once, without a timer. One that
    /// waits longer than [`PAUSE_AFTER`] pauses the partition's fetching until it is admitted:
    /// a partition that cannot move fetches no more. Its fetch slot is kept: a stall that
    /// stops this reader (a full budget, a stalled sink, the read limit) stops the others too,
    /// and a slot handed over now would leave this partition's prefetch behind — librdkafka
    /// drops what it prefetched for a paused partition only when its queue is next polled.
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
        // The read loop resumes the partition before it waits for the next record.
        self.fetching.pause();
        tokio::select! {
            biased;
            () = ctx.cancel.cancelled() => None,
            done = admitted => Some(done),
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
