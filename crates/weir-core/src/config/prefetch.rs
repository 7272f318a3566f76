//! The librdkafka prefetch bound Weir sets per partition, and what it costs in memory.
//!
//! With one queue per partition (`split_partition_queue`), librdkafka keeps fetching a
//! partition while its local queue holds fewer than `queued.min.messages` messages and fewer
//! than `queued.max.messages.kbytes` of payload; each fetch returns up to
//! `fetch.message.max.bytes` for the partition (or one whole record batch, if a batch is
//! larger). So a partition whose reader has stopped holds at most the cap plus one fetch —
//! librdkafka's default cap, 64 MiB per partition, is the unbounded-queue trap one layer down
//! (+333 MiB RSS for 4 stalled partitions, see NOTES.md).
//!
//! A low cap alone slows draining 4-15x with librdkafka's default `fetch.queue.backoff.ms`
//! (1 s); at 10 ms it reads at full speed and stays bounded.

/// `fetch.message.max.bytes` is the smaller of `prefetch.max_bytes` and this.
pub const FETCH_MESSAGE_MAX_BYTES_CAP: u64 = 256 * 1024;

/// `fetch.queue.backoff.ms` Weir sets: how soon librdkafka re-checks a partition whose
/// prefetch was full.
pub const FETCH_QUEUE_BACKOFF_MS: u64 = 10;

/// `fetch.wait.max.ms` Weir sets: how long the broker may hold a fetch that finds no data.
/// A partition that gets a fetch slot is fetched only from the next fetch request on, so this
/// bounds how long a newly resumed partition waits for its first fetch; it must stay below
/// the idle hand-over time of a slot (100 ms, `weir-connectors` `kafka/fetch_slots.rs`), or
/// an idle slot could be handed on before its partition was ever fetched.
pub const FETCH_WAIT_MAX_MS: u64 = 20;

/// librdkafka's upper limit for `queued.max.messages.kbytes` (KiB).
const MAX_QUEUED_KBYTES: u64 = 2_097_151;

/// Bytes librdkafka holds per prefetched message besides its payload (its op and message
/// structures, allocator overhead). Measured 370-550 B: RSS growth beyond the prefetched
/// payload librdkafka reports (`fetchq_size`), divided by the messages it holds
/// (`examples/prefetch_rss.rs`, 100 B to 1 KiB records).
pub const PREFETCH_BYTES_PER_MESSAGE: u64 = 512;

/// Memory of one Kafka subtask's clients with no partition data: the reading consumer and
/// the offset committer (librdkafka threads, buffers, metadata). Part of every Kafka
/// subtask's reservation, whatever its partition count. Measured ≈ 2.3 MiB for the consumer
/// and ≈ 0.8 MiB for the committer (`examples/prefetch_rss.rs`, fitting RSS growth over 1, 4
/// and 8 stalled partitions); reserved with margin for more brokers (one thread and
/// connection buffers each).
pub const KAFKA_CLIENT_OVERHEAD_BYTES: u64 = 8 * 1024 * 1024;

/// The largest record (and record batch) the reservation allows for: Kafka's default
/// `message.max.bytes` (1 MiB). A stalled partition may hold one whole fetched batch beyond
/// the cap (a fetch returns whole batches, and producers batch up to their `batch.size`:
/// librdkafka's default is 1 MB — measured: 1.8 MiB prefetched against a 1 MiB cap with
/// 256 KiB fetches), and its reader holds one more record, received and decoded, while it
/// waits for room in the split queue. Topics configured for larger records or batches need
/// more memory than Weir reserves for them.
pub const ASSUMED_MAX_RECORD_BYTES: u64 = 1024 * 1024;

/// The smallest per-partition prefetch cap Weir divides the budget down to (or
/// `prefetch.max_bytes`, if smaller).
pub const PREFETCH_FLOOR_BYTES: u64 = 8 * 1024;

/// Prefetch budget one fetching partition is given: the number of partitions of a subtask that
/// librdkafka may fetch at once (its *fetch slots*) is the prefetch part of `buffer.max_bytes`
/// divided by this, at least one: two slots at the default budget (8 MiB).
///
/// Why slots: a fetch returns at least one whole record batch of each partition it includes,
/// whatever `fetch.message.max.bytes` says (librdkafka doubles a partition's fetch size until a
/// batch fits). A backlog produced in bulk comes in batches of up to the producer's
/// `batch.size` (1 MB by default), and 1 KiB records cost librdkafka ~0.5 KiB each besides
/// their payload; with every partition fetching, memory grows by one batch per partition —
/// measured +41 MiB for 256 partitions of a 25 MiB backlog behind a stalled sink, whatever the
/// cap. With a fixed number of partitions fetching at once, it is bounded by the slots.
///
/// Why 4 MiB (two slots, not four): at full speed a fetching partition costs librdkafka far
/// more than its cap ([`FULL_SPEED_SLOT_BYTES`]), so each slot is expensive; and two slots read
/// 128 partitions as fast as four did (`weir-bench throughput --partitions 128`, docs/
/// benchmarks.md "Two fetch slots"), with 70 MiB less peak RSS at parallelism 4. One slot was
/// 30-80 % slower: every hand-over then stops the subtask's reading for a first fetch.
pub const FETCH_SLOT_BYTES: u64 = 4 * 1024 * 1024;

/// What librdkafka holds for one partition read at full speed, whatever its cap: ten of the
/// largest record batches ([`ASSUMED_MAX_RECORD_BYTES`]) the reservation allows for.
///
/// More than a stalled partition holds ([`PrefetchSettings::reservation_bytes`]) for two
/// reasons, both librdkafka's. A fetch response is one buffer shared by every partition the
/// fetch included, and its messages point into it: the buffer is freed only when the last of
/// them is, so a partition's queued records keep whole responses alive. And a partition's fetch
/// size grows (doubling) until whole record batches fit, so its partition queue passes the cap
/// by several batches (up to 4.9 MiB queued against a 1 MiB cap, from librdkafka's own
/// statistics). Measured with `weir-bench throughput --partitions 128` (1 KiB records in
/// batches up to 1 MB): 6.5-10 MiB per fetching partition, from peak RSS against the number of
/// partitions fetching at once and from heaptrack (fetch-response buffers alive at the peak);
/// the same with caps of 256 KiB and 1 MiB and with 64 KiB fetches.
pub const FULL_SPEED_SLOT_BYTES: u64 = 10 * ASSUMED_MAX_RECORD_BYTES;

/// How many partitions of a subtask librdkafka may fetch at once, for a prefetch `budget`.
pub fn fetch_slots(budget: u64) -> usize {
    usize::try_from(budget / FETCH_SLOT_BYTES)
        .unwrap_or(usize::MAX)
        .max(1)
}

/// The librdkafka properties Weir derives from `prefetch.max_bytes`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PrefetchSettings {
    /// `queued.max.messages.kbytes`: the per-partition payload cap, in KiB.
    pub queued_max_messages_kbytes: u64,
    /// `fetch.message.max.bytes`: bytes per partition per fetch request.
    pub fetch_message_max_bytes: u64,
    /// `queued.min.messages`: librdkafka also stops fetching a partition that holds this many
    /// messages, which bounds per-message overhead for tiny records. One per KiB of the cap.
    pub queued_min_messages: u64,
    /// `fetch.queue.backoff.ms`.
    pub fetch_queue_backoff_ms: u64,
}

impl PrefetchSettings {
    /// The settings for a per-partition cap of `max_bytes` (rounded up to whole KiB).
    pub fn for_max_bytes(max_bytes: u64) -> Self {
        let kbytes = max_bytes.div_ceil(1024).clamp(1, MAX_QUEUED_KBYTES);
        PrefetchSettings {
            queued_max_messages_kbytes: kbytes,
            fetch_message_max_bytes: (kbytes * 1024).min(FETCH_MESSAGE_MAX_BYTES_CAP),
            queued_min_messages: kbytes,
            fetch_queue_backoff_ms: FETCH_QUEUE_BACKOFF_MS,
        }
    }

    /// The settings of a subtask whose `budget` bytes of prefetch are shared by its
    /// [`fetch_slots`]: the largest cap whose [`active_bytes`](Self::active_bytes) fits one
    /// slot's even part of `budget`, at most `max_bytes` (`prefetch.max_bytes`) and at least
    /// [`PREFETCH_FLOOR_BYTES`] (or `max_bytes`, if smaller). Independent of the partition
    /// count, so partitions added by discovery need no new settings.
    pub fn for_budget(budget: u64, max_bytes: u64) -> Self {
        let share = budget / fetch_slots(budget) as u64;
        // active_bytes(cap) ≈ cap + min(cap, 256 KiB) + (cap + min(cap, 256 KiB)) / 2.
        let cap = if share <= 3 * FETCH_MESSAGE_MAX_BYTES_CAP {
            share / 3
        } else {
            (share - FETCH_MESSAGE_MAX_BYTES_CAP * 3 / 2) * 2 / 3
        };
        // Whole KiB, rounded down: librdkafka's cap is in KiB.
        let cap = (cap / 1024 * 1024).max(PREFETCH_FLOOR_BYTES).min(max_bytes);
        Self::for_max_bytes(cap)
    }

    /// What the librdkafka prefetch of a subtask may hold, whatever its partition count: each
    /// of its [`fetch_slots`] the larger of a partition read at full speed
    /// ([`FULL_SPEED_SLOT_BYTES`]) and a stalled partition's worst case
    /// ([`reservation_bytes`](Self::reservation_bytes): its cap, one whole record batch beyond
    /// it and the record its reader holds), and never less than `budget`. Partitions without a
    /// slot hold nothing: they are paused from their assignment on, and hand their slot over
    /// only once their partition queue is polled empty.
    ///
    /// Measured (`weir-bench partitions`, 1 GiB backlogs of 1 KiB records produced in bulk,
    /// four slots then): 15.8 MiB prefetched at 4 and at 128 partitions behind a stalled sink,
    /// 4.1 MiB at 1 000 partitions. At full speed, see [`FULL_SPEED_SLOT_BYTES`].
    pub fn subtask_reservation_bytes(budget: u64, max_bytes: u64) -> u64 {
        let slots = fetch_slots(budget) as u64;
        let per_slot = Self::for_budget(budget, max_bytes)
            .reservation_bytes()
            .max(FULL_SPEED_SLOT_BYTES);
        budget.max(per_slot.saturating_mul(slots))
    }

    /// Memory one partition's prefetch holds at most while its reader takes records: the
    /// cap, one fetch of overshoot (librdkafka checks the cap before fetching, not after)
    /// and per-message overhead for both. A partition whose reader waits is paused and holds
    /// none; a record batch larger than the fetch size overshoots by that batch.
    pub fn active_bytes(&self) -> u64 {
        let cap = self.queued_max_messages_kbytes * 1024;
        let messages = self.queued_min_messages + self.fetch_message_max_bytes / 1024;
        cap + self.fetch_message_max_bytes + PREFETCH_BYTES_PER_MESSAGE * messages
    }

    /// Checks `prefetch.max_bytes`; the message reads after the option's quoted path.
    pub(crate) fn check_max_bytes(max_bytes: u64) -> Result<(), String> {
        if max_bytes < 1024 {
            return Err(format!("must be at least 1024, found {max_bytes}"));
        }
        if max_bytes > MAX_QUEUED_KBYTES * 1024 {
            return Err(format!(
                "must be at most {} (librdkafka's limit), found {max_bytes}",
                MAX_QUEUED_KBYTES * 1024
            ));
        }
        Ok(())
    }

    /// Memory one stalled partition's prefetch may hold: the payload cap, plus one fetch of
    /// overshoot (librdkafka checks the cap before fetching, not after) — at least one whole
    /// batch of the largest record — plus the record the reader holds (its payload and its
    /// decoded row), plus per-message overhead for the cap's worth of messages and one
    /// fetch's worth of them.
    ///
    /// ```text
    /// cap + max(fetch.message.max.bytes, R) + 2 × R
    ///     + PREFETCH_BYTES_PER_MESSAGE × (queued.min.messages + fetch.message.max.bytes / 1 KiB)
    /// ```
    /// with R = [`ASSUMED_MAX_RECORD_BYTES`]: 4.625 MiB per partition at the default
    /// `prefetch.max_bytes` (1 MiB).
    ///
    /// Measured (`cargo run -p weir-connectors --example prefetch_rss`: mock broker in
    /// process, librdkafka-produced 1 MB batches, queues never drained; per partition = RSS
    /// growth minus queue contents minus ≈ 2.3 MiB of client, over 4 partitions; librdkafka's
    /// own `fetchq_size` in brackets): 1 KiB records 2.2-2.5 MiB [1.0-1.8 MiB], 100-byte records
    /// 3.0-3.9 MiB [0.85 MiB, ~8600 messages: one fetch brought a whole 1 MB batch], 16 KiB
    /// records 2.2 MiB, 256 KiB records 1.9 MiB, 900 KB records 4.0 MiB (two records held
    /// besides the queue); `prefetch.max_bytes = 4 MiB`, 1 KiB records: 5.8 MiB [4.2 MiB]
    /// (reserved 9.1 MiB). Whole-process growth stayed at 0.39-0.69 of the subtask's source
    /// reservation in every run. With 1 MiB records against a real broker
    /// (`tests/tests/kafka_source/memory.rs`, `bounded_memory_1mib`), RSS exceeded the
    /// reservation by up to 5 MiB for 2 partitions without the `R` terms.
    ///
    /// Not covered: batches larger than R, compressed batches (librdkafka holds a fetched
    /// batch decompressed), and records of a few dozen bytes produced in ~1 MB batches (a
    /// fetch then brings ~20 000 messages at ~0.5 KiB of overhead each).
    pub fn reservation_bytes(&self) -> u64 {
        let cap = self.queued_max_messages_kbytes * 1024;
        let messages = self.queued_min_messages + self.fetch_message_max_bytes / 1024;
        let overshoot = self.fetch_message_max_bytes.max(ASSUMED_MAX_RECORD_BYTES);
        cap + overshoot + 2 * ASSUMED_MAX_RECORD_BYTES + PREFETCH_BYTES_PER_MESSAGE * messages
    }

    /// The properties to hand librdkafka, as `(name, value)`.
    pub fn librdkafka_properties(&self) -> [(&'static str, String); 5] {
        [
            (
                "queued.max.messages.kbytes",
                self.queued_max_messages_kbytes.to_string(),
            ),
            (
                "fetch.message.max.bytes",
                self.fetch_message_max_bytes.to_string(),
            ),
            ("queued.min.messages", self.queued_min_messages.to_string()),
            (
                "fetch.queue.backoff.ms",
                self.fetch_queue_backoff_ms.to_string(),
            ),
            ("fetch.wait.max.ms", FETCH_WAIT_MAX_MS.to_string()),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_cap_derives_the_notes_settings() {
        let settings = PrefetchSettings::for_max_bytes(1024 * 1024);
        assert_eq!(settings.queued_max_messages_kbytes, 1024);
        assert_eq!(settings.fetch_message_max_bytes, 256 * 1024);
        assert_eq!(settings.queued_min_messages, 1024);
        assert_eq!(settings.fetch_queue_backoff_ms, 10);
        assert_eq!(
            settings.librdkafka_properties()[0],
            ("queued.max.messages.kbytes", "1024".to_string())
        );
        // The figure the documentation quotes.
        assert_eq!(settings.reservation_bytes(), 4 * 1024 * 1024 + 640 * 1024);
    }

    #[test]
    fn small_caps_fetch_no_more_than_the_cap() {
        let settings = PrefetchSettings::for_max_bytes(1500);
        assert_eq!(settings.queued_max_messages_kbytes, 2);
        assert_eq!(settings.fetch_message_max_bytes, 2048);
        assert!(settings.reservation_bytes() >= 2 * 2048);
    }

    #[test]
    fn the_budget_is_divided_among_fetch_slots() {
        let max = 1024 * 1024;
        // The default budget (8 MiB of prefetch): two slots at prefetch.max_bytes.
        let budget = 8 * 1024 * 1024;
        assert_eq!(fetch_slots(budget), 2);
        let settings = PrefetchSettings::for_budget(budget, max);
        assert_eq!(settings, PrefetchSettings::for_max_bytes(max));
        assert!(settings.active_bytes() * 2 <= budget);
        // A stalled slot's worst case (1 MiB cap + a 1 MiB batch + 2 MiB of held record +
        // per-message overhead = 4.625 MiB) is below what a slot holds at full speed.
        assert!(settings.reservation_bytes() < FULL_SPEED_SLOT_BYTES);
        assert_eq!(
            PrefetchSettings::subtask_reservation_bytes(budget, max),
            2 * FULL_SPEED_SLOT_BYTES
        );
        // A small budget: one slot with a smaller cap, still within the budget.
        let small = 512 * 1024;
        assert_eq!(fetch_slots(small), 1);
        let settings = PrefetchSettings::for_budget(small, max);
        assert!(settings.queued_max_messages_kbytes * 1024 < max);
        assert!(settings.active_bytes() <= small, "{settings:?}");
        assert_eq!(
            PrefetchSettings::subtask_reservation_bytes(small, max),
            FULL_SPEED_SLOT_BYTES
        );
        // Tiny budgets stop at the floor; a small prefetch.max_bytes is never raised to it.
        let tiny = PrefetchSettings::for_budget(4096, max);
        assert_eq!(tiny.queued_max_messages_kbytes * 1024, PREFETCH_FLOOR_BYTES);
        let capped = PrefetchSettings::for_budget(budget, 2048);
        assert_eq!(capped.queued_max_messages_kbytes, 2);
    }

    #[test]
    fn bounds_are_checked() {
        assert!(PrefetchSettings::check_max_bytes(1023).is_err());
        assert!(PrefetchSettings::check_max_bytes(1024).is_ok());
        assert!(PrefetchSettings::check_max_bytes(u64::MAX).is_err());
    }
}
