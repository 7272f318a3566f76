//! The records the tests produce and the check of what landed in HDFS: the committed files under
//! the sink's `path` are listed and read back with Hadoop's FsShell (never with Weir's code),
//! each line is parsed into the id it carries (and its payload checked), and the ids are
//! counted.
//!
//! Record `id` goes to partition `id % PARTITIONS` and, in a fresh topic, lands at offset
//! `id / PARTITIONS` there, so "which ids were committed" also says "up to which offset of each
//! partition".

mod check;
mod committed;
mod records;

pub use committed::{Committed, CommittedFile, read_committed, show_entries};
pub use records::{Codec, Format, PARTITIONS, pad, partition_of, records};
