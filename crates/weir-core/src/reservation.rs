//! Admission arithmetic: how much memory one subtask of a job may hold.
//!
//! A worker admits a subtask only if its reservation fits the worker's free budget. The
//! reservation is the sum of everything the subtask can buffer — bounded by construction —
//! plus a fixed allowance for the rest:
//!
//! ```text
//! reservation = source buffers   (FakeSource: its queue.max_bytes;
//!                                 Kafka: KAFKA_CLIENT_OVERHEAD_BYTES + ¾ buffer.max_bytes
//!                                        + fetch slots × max(a stalled partition's prefetch,
//!                                          FULL_SPEED_SLOT_BYTES))
//!             + sink buffer      (the sink writer's bounded write buffer)
//!             + transforms       (what the transform chain may allocate for the row it
//!                                 transforms, see TransformChain::reserved_bytes; 0 without)
//!             + SUBTASK_OVERHEAD_BYTES
//! ```
//!
//! A Kafka subtask's partitions share one byte budget, `buffer.max_bytes` (queues and
//! librdkafka prefetch together, see [`crate::budget`] and
//! [`crate::config::PrefetchSettings::for_budget`]), and only a fixed number of them fetch at
//! once (the fetch slots, [`crate::config::fetch_slots`]), each reserving the larger of what a
//! partition read at full speed holds and a stalled partition's worst case: the reservation
//! does not grow with the partition count.

use std::fmt;

use crate::config::JobConfig;

/// Fixed allowance per subtask for what is not a data buffer: task structures, the tokio
/// tasks and their stacks of futures, generator/decoder state, the rows in hand on each side
/// of the queues (at most one batch of [`crate::queue::HAND_OVER_BYTES`] beyond one row on
/// each side), and allocator slack.
pub const SUBTASK_OVERHEAD_BYTES: u64 = 4 * 1024 * 1024;

/// The parts of one subtask's reservation, for explaining admission decisions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SubtaskReservation {
    /// What the source side may buffer ([`crate::config::SourceConfig::buffer_bytes`]) for
    /// the subtask's splits.
    pub source_buffer_bytes: u64,
    /// What the sink side may buffer ([`crate::config::SinkConfig::buffer_bytes`]).
    pub sink_buffer_bytes: u64,
    /// What the transform chain may allocate for the one row it transforms at a time, for
    /// the source's largest row ([`crate::transform::TransformChain::reserved_bytes`],
    /// [`crate::config::SourceConfig::max_row_bytes`]); 0 without transforms.
    pub transform_bytes: u64,
    /// [`SUBTASK_OVERHEAD_BYTES`].
    pub overhead_bytes: u64,
}

impl SubtaskReservation {
    /// Computes the parts for a subtask of `job` that reads `splits_in_subtask` splits
    /// (ignored by sources without splits).
    pub fn of(job: &JobConfig, splits_in_subtask: usize) -> Self {
        SubtaskReservation {
            source_buffer_bytes: job.source.buffer_bytes(splits_in_subtask),
            sink_buffer_bytes: job.sink.buffer_bytes(),
            transform_bytes: job.transform.reserved_bytes(job.source.max_row_bytes()),
            overhead_bytes: SUBTASK_OVERHEAD_BYTES,
        }
    }

    /// The sum of the parts.
    pub fn total(&self) -> u64 {
        self.source_buffer_bytes
            .saturating_add(self.sink_buffer_bytes)
            .saturating_add(self.transform_bytes)
            .saturating_add(self.overhead_bytes)
    }
}

impl fmt::Display for SubtaskReservation {
    /// `12.1 MiB (8 MiB source buffers + 64 KiB sink buffer + 4 MiB overhead)`, with
    /// `+ 2 MiB transforms` before the overhead when the job has transforms that allocate.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} ({} source buffers + {} sink buffer",
            format_bytes(self.total()),
            format_bytes(self.source_buffer_bytes),
            format_bytes(self.sink_buffer_bytes),
        )?;
        if self.transform_bytes > 0 {
            write!(f, " + {} transforms", format_bytes(self.transform_bytes))?;
        }
        write!(f, " + {} overhead)", format_bytes(self.overhead_bytes))
    }
}

/// Bytes one subtask of `job` reserves on the worker that runs it, when it reads
/// `splits_in_subtask` splits (FakeSource ignores the count).
pub fn subtask_reservation(job: &JobConfig, splits_in_subtask: usize) -> u64 {
    SubtaskReservation::of(job, splits_in_subtask).total()
}

/// Human-readable binary size: `512 B`, `64 KiB`, `320 MiB`, `1.5 GiB`.
///
/// One decimal place, dropped when it is zero; the largest unit that keeps the value ≥ 1.
pub fn format_bytes(bytes: u64) -> String {
    const UNITS: [&str; 6] = ["KiB", "MiB", "GiB", "TiB", "PiB", "EiB"];
    if bytes < 1024 {
        return format!("{bytes} B");
    }
    let mut value = bytes as f64 / 1024.0;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    let rounded = (value * 10.0).round() / 10.0;
    // Rounding can carry into the next unit (1023.96 KiB → "1024 KiB"); step up instead.
    if rounded >= 1024.0 && unit + 1 < UNITS.len() {
        return format!("1 {}", UNITS[unit + 1]);
    }
    if rounded.fract() == 0.0 {
        format!("{rounded:.0} {}", UNITS[unit])
    } else {
        format!("{rounded:.1} {}", UNITS[unit])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{
        ASSUMED_MAX_RECORD_BYTES, CONSOLE_WRITE_BUFFER_BYTES, FULL_SPEED_SLOT_BYTES,
        KAFKA_CLIENT_OVERHEAD_BYTES, ParsePolicy, SourceConfig, parse_job,
    };

    const JOB: &str = r#"
        source { FakeSource { schema = { fields { id = bigint } }, queue.max_bytes = 1048576 } }
        sink { Console { log.print.data = false } }
    "#;

    #[test]
    fn reservation_sums_source_sink_and_overhead() {
        let job = parse_job(JOB, "job.conf", &ParsePolicy::SelfContained).unwrap();
        assert_eq!(
            job.source.buffer_bytes(3),
            1_048_576,
            "no splits: count ignored"
        );
        assert_eq!(job.sink.buffer_bytes(), CONSOLE_WRITE_BUFFER_BYTES);
        assert_eq!(
            subtask_reservation(&job, 0),
            1_048_576 + 64 * 1024 + SUBTASK_OVERHEAD_BYTES
        );
        assert_eq!(
            SubtaskReservation::of(&job, 0).to_string(),
            "5.1 MiB (1 MiB source buffers + 64 KiB sink buffer + 4 MiB overhead)"
        );
    }

    #[test]
    fn default_queue_bytes_drive_the_default_reservation() {
        let job = parse_job(
            "source { FakeSource { schema = { fields { id = bigint } } } }\nsink { Console {} }",
            "job.conf",
            &ParsePolicy::SelfContained,
        )
        .unwrap();
        assert_eq!(job.source.buffer_bytes(1), 8 * 1024 * 1024);
        assert_eq!(format_bytes(subtask_reservation(&job, 1)), "12.1 MiB");
    }

    #[test]
    fn kafka_reservation_does_not_grow_with_partitions() {
        let job = parse_job(
            "source { Kafka { bootstrap.servers = \"k:9092\", topic = t, buffer.max_bytes = 16777216 } }\n\
             sink { Console {} }",
            "job.conf",
            &ParsePolicy::SelfContained,
        )
        .unwrap();
        let SourceConfig::Kafka(kafka) = &job.source else {
            panic!("kafka expected")
        };
        let base = KAFKA_CLIENT_OVERHEAD_BYTES + 64 * 1024 + SUBTASK_OVERHEAD_BYTES;
        // 4 MiB of prefetch: one fetch slot, reserving what a partition read at full speed
        // holds (more than a stalled partition's worst case).
        let slot = kafka.prefetch().reservation_bytes();
        assert!(
            slot > ASSUMED_MAX_RECORD_BYTES * 2,
            "a batch and a held record"
        );
        assert!(slot < FULL_SPEED_SLOT_BYTES);
        for partitions in [0, 1, 4, 128, 1000, 100_000] {
            assert_eq!(
                subtask_reservation(&job, partitions),
                base + 12 * 1024 * 1024 + FULL_SPEED_SLOT_BYTES,
                "{partitions} partitions"
            );
        }
        assert_eq!(kafka.queue_budget_bytes(), 12 * 1024 * 1024);
    }

    #[test]
    fn transforms_that_allocate_add_their_growth_for_the_sources_largest_row() {
        let with = |transform: &str| {
            let text = format!(
                "source {{ Kafka {{ bootstrap.servers = \"k:9092\", topic = t, \
                 schema = {{ fields {{ a = string, b = string }} }} }} }}\n\
                 transform {{ {transform} }}\nsink {{ Console {{}} }}"
            );
            parse_job(&text, "job.conf", &ParsePolicy::SelfContained).unwrap()
        };
        let plain = with("");
        let moves = with("Filter { include_fields = [a] }");
        let copy = with("Copy { fields { c = a } }");
        let base = subtask_reservation(&plain, 1);
        assert_eq!(SubtaskReservation::of(&plain, 1).transform_bytes, 0);
        // A projection moves values: only its new slot vector.
        assert_eq!(subtask_reservation(&moves, 1), base + 32);
        // A copy may be the whole row again (plus its slot).
        let reservation = SubtaskReservation::of(&copy, 1);
        assert_eq!(reservation.transform_bytes, ASSUMED_MAX_RECORD_BYTES + 32);
        assert_eq!(reservation.total(), base + ASSUMED_MAX_RECORD_BYTES + 32);
        assert!(
            reservation
                .to_string()
                .contains("+ 1 MiB transforms + 4 MiB overhead"),
            "{reservation}"
        );
        assert!(
            !SubtaskReservation::of(&plain, 1)
                .to_string()
                .contains("transforms")
        );
    }

    #[test]
    fn formats_sizes() {
        assert_eq!(format_bytes(0), "0 B");
        assert_eq!(format_bytes(1023), "1023 B");
        assert_eq!(format_bytes(1024), "1 KiB");
        assert_eq!(format_bytes(64 * 1024), "64 KiB");
        assert_eq!(format_bytes(320 * 1024 * 1024), "320 MiB");
        assert_eq!(format_bytes(3 * 512 * 1024 * 1024), "1.5 GiB");
        assert_eq!(format_bytes(1024 * 1024 - 1), "1 MiB");
        assert_eq!(format_bytes(u64::MAX), "16 EiB");
    }
}
