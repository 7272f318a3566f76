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

/// librdkafka's upper limit for `queued.max.messages.kbytes` (KiB).
const MAX_QUEUED_KBYTES: u64 = 2_097_151;

/// Bytes librdkafka holds per prefetched message besides its payload (its op and message
/// structures, and the record's share of the fetch buffer's framing). Measured: see
/// [`PrefetchSettings::reservation_bytes`].
pub const PREFETCH_BYTES_PER_MESSAGE: u64 = 512;

/// Memory of one librdkafka consumer with no partition data: its threads (main, internal
/// broker, one per broker connection), their buffers and metadata. Part of every Kafka
/// subtask's reservation, whatever its partition count. Measured: see
/// [`PrefetchSettings::reservation_bytes`].
pub const KAFKA_CLIENT_OVERHEAD_BYTES: u64 = 8 * 1024 * 1024;

/// The largest record the reservation allows for: Kafka's default `message.max.bytes`
/// (1 MiB). A stalled partition may hold one whole fetched batch beyond the cap (a batch is
/// never split), and its reader holds one more record, received and decoded, while it waits
/// for room in the split queue. Topics configured for larger records need more memory than
/// Weir reserves for them.
pub const ASSUMED_MAX_RECORD_BYTES: u64 = 1024 * 1024;

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
    /// with R = [`ASSUMED_MAX_RECORD_BYTES`]. Measured with 1 MiB records behind a stalled
    /// sink (tests/tests/kafka_source.rs, `bounded_memory_1mib`): without the `R` terms RSS
    /// exceeded the reservation by up to 5 MiB for 2 partitions.
    pub fn reservation_bytes(&self) -> u64 {
        let cap = self.queued_max_messages_kbytes * 1024;
        let messages = self.queued_min_messages + self.fetch_message_max_bytes / 1024;
        let overshoot = self.fetch_message_max_bytes.max(ASSUMED_MAX_RECORD_BYTES);
        cap + overshoot + 2 * ASSUMED_MAX_RECORD_BYTES + PREFETCH_BYTES_PER_MESSAGE * messages
    }

    /// The properties to hand librdkafka, as `(name, value)`.
    pub fn librdkafka_properties(&self) -> [(&'static str, String); 4] {
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
    }

    #[test]
    fn small_caps_fetch_no_more_than_the_cap() {
        let settings = PrefetchSettings::for_max_bytes(1500);
        assert_eq!(settings.queued_max_messages_kbytes, 2);
        assert_eq!(settings.fetch_message_max_bytes, 2048);
        assert!(settings.reservation_bytes() >= 2 * 2048);
    }

    #[test]
    fn bounds_are_checked() {
        assert!(PrefetchSettings::check_max_bytes(1023).is_err());
        assert!(PrefetchSettings::check_max_bytes(1024).is_ok());
        assert!(PrefetchSettings::check_max_bytes(u64::MAX).is_err());
    }
}
