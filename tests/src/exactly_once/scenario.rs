//! A test's topic and HDFS directory.

use std::collections::BTreeMap;
use std::ops::Range;
use std::time::Instant;

use super::support::{Codec, Committed, Format, PARTITIONS, partition_of, read_committed, records};
use crate::kafka::{self, Topic, produce};
use crate::stack::remove_recursive;

/// One test's Kafka topic (4 partitions) and HDFS directory.
pub struct Scenario {
    /// The test's name, at the start of its progress lines.
    pub name: &'static str,
    /// Bootstrap servers of the stack's Kafka.
    pub bootstrap: String,
    /// `hdfs://` URL of the stack's NameNode.
    pub hdfs: String,
    /// The test's topic.
    pub topic: Topic,
    /// `/weir-e2e/<suite>/<name>-<pid>-<nanos>`; the sink writes to `<base>/out`.
    pub base: String,
    started: Instant,
}

impl Scenario {
    /// A scenario of the `exactly_once` tests: topic `weir-eo-<name>-…`, HDFS directory
    /// `/weir-e2e/exactly-once/<name>-…`.
    pub fn new(name: &'static str) -> Self {
        Self::in_suite("exactly-once", "weir-eo", name)
    }

    /// Reads the stack's addresses (failing with how to start the stack when they are not
    /// set) and creates the topic `<topic_prefix>-<name>-…`; files go under
    /// `/weir-e2e/<suite>/<name>-…`.
    pub fn in_suite(suite: &str, topic_prefix: &str, name: &'static str) -> Self {
        let bootstrap = crate::kafka_bootstrap().unwrap_or_else(|missing| panic!("{missing}"));
        let hdfs = crate::hdfs_url().unwrap_or_else(|missing| panic!("{missing}"));
        let topic = Topic::create(
            &bootstrap,
            &format!("{topic_prefix}-{name}"),
            PARTITIONS as i32,
        );
        let base = format!(
            "/weir-e2e/{suite}/{}",
            crate::unique_name(&name.replace('_', "-"))
        );
        let scenario = Scenario {
            name,
            bootstrap,
            hdfs,
            topic,
            base,
            started: Instant::now(),
        };
        scenario.say(format!(
            "topic {} ({PARTITIONS} partitions), sink path {}{}",
            scenario.topic.name(),
            scenario.hdfs,
            scenario.path()
        ));
        scenario
    }

    /// The sink's `path`.
    pub fn path(&self) -> String {
        format!("{}/out", self.base)
    }

    /// A progress line on stderr, with the time since the test started.
    pub fn say(&self, message: impl std::fmt::Display) {
        eprintln!(
            "[{} +{:>5.1}s] {message}",
            self.name,
            self.started.elapsed().as_secs_f64()
        );
    }

    /// Produces the records of `ids` and checks each landed where the tests expect it
    /// (partition `id % 4`, offset `id / 4`).
    pub fn produce(&self, format: Format, ids: Range<u64>) {
        let records = records(format, ids.clone());
        let produced = produce(&self.bootstrap, self.topic.name(), records.clone());
        for (id, delivered) in ids.clone().zip(&produced.deliveries) {
            let expected = (partition_of(id) as i32, (id / PARTITIONS) as i64);
            assert_eq!(
                (delivered.partition, delivered.offset),
                expected,
                "record {id} should land at partition {} offset {} of a fresh topic",
                expected.0,
                expected.1
            );
        }
        self.say(format!(
            "produced ids {ids:?} ({} records, {} KiB) in {:.1?}",
            records.len(),
            produced.payload_bytes / 1024,
            produced.elapsed
        ));
    }

    /// The end offset of each partition, keyed by split name (`topic-partition`).
    pub fn end_offsets(&self) -> BTreeMap<String, i64> {
        kafka::watermarks(&self.bootstrap, self.topic.name(), PARTITIONS as i32)
            .into_iter()
            .enumerate()
            .map(|(partition, (_, high))| (format!("{}-{partition}", self.topic.name()), high))
            .collect()
    }

    /// Reads everything committed under the sink's path with FsShell.
    pub fn committed(&self, format: Format, codec: Codec) -> Result<Committed, String> {
        read_committed(&self.path(), format, codec)
    }
}

impl Drop for Scenario {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!(
                "[{}] the test failed; its HDFS files are kept in {}{} (list them with `deploy/local/stack run hdfs org.apache.hadoop.fs.FsShell -ls -R {}`)",
                self.name, self.hdfs, self.base, self.base
            );
        } else {
            remove_recursive(&self.base);
        }
    }
}
