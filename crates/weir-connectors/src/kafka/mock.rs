//! An in-process Kafka cluster (librdkafka's MockCluster) for demos and tests.
//!
//! It supports produce, fetch, offsets and consumer groups, but no admin API (topics are
//! created with [`MockKafka::create_topic`]), no lookups by timestamp, and keeps only 5 MiB
//! of log per partition: older records are dropped. Large backlogs need a real broker.

use std::time::Duration;

use rdkafka::config::ClientConfig;
use rdkafka::error::KafkaError;
use rdkafka::mocking::MockCluster;
use rdkafka::producer::{BaseProducer, BaseRecord, DefaultProducerContext, Producer as _};

/// A running mock cluster; dropping it stops its brokers.
pub struct MockKafka {
    cluster: MockCluster<'static, DefaultProducerContext>,
    bootstrap: String,
}

impl MockKafka {
    /// Starts a cluster of `brokers` brokers (ids `1..=brokers`).
    pub fn new(brokers: i32) -> Result<Self, KafkaError> {
        let cluster = MockCluster::new(brokers)?;
        let bootstrap = cluster.bootstrap_servers();
        Ok(MockKafka { cluster, bootstrap })
    }

    /// The `bootstrap.servers` of the cluster.
    pub fn bootstrap_servers(&self) -> &str {
        &self.bootstrap
    }

    /// Creates `topic` with `partitions` partitions.
    pub fn create_topic(&self, topic: &str, partitions: i32) -> Result<(), KafkaError> {
        self.cluster.create_topic(topic, partitions, 1)
    }

    /// Takes broker `id` down (its connections are closed) or brings it back up.
    pub fn set_broker_up(&self, id: i32, up: bool) -> Result<(), KafkaError> {
        if up {
            self.cluster.broker_up(id)
        } else {
            self.cluster.broker_down(id)
        }
    }

    /// The underlying librdkafka mock cluster, for fault injection.
    pub fn cluster(&self) -> &MockCluster<'static, DefaultProducerContext> {
        &self.cluster
    }

    /// Produces `values` to one partition (with `timestamp` in ms, if given) and waits until
    /// the cluster has acknowledged all of them. Blocking.
    pub fn produce(
        &self,
        topic: &str,
        partition: i32,
        values: &[Vec<u8>],
        timestamp: Option<i64>,
    ) -> Result<(), KafkaError> {
        produce(&self.bootstrap, topic, partition, values, timestamp)
    }
}

/// Produces `values` to one partition of the cluster at `bootstrap` and waits for all
/// acknowledgements. Blocking.
pub fn produce(
    bootstrap: &str,
    topic: &str,
    partition: i32,
    values: &[Vec<u8>],
    timestamp: Option<i64>,
) -> Result<(), KafkaError> {
    let producer: BaseProducer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("linger.ms", "5")
        .create()?;
    for value in values {
        let mut record = BaseRecord::<(), Vec<u8>>::to(topic)
            .partition(partition)
            .payload(value);
        if let Some(timestamp) = timestamp {
            record = record.timestamp(timestamp);
        }
        loop {
            match producer.send(record) {
                Ok(()) => break,
                Err((
                    KafkaError::MessageProduction(rdkafka::types::RDKafkaErrorCode::QueueFull),
                    returned,
                )) => {
                    // The local queue is full: let deliveries drain, then retry.
                    producer.poll(Duration::from_millis(10));
                    record = returned;
                }
                Err((error, _)) => return Err(error),
            }
        }
    }
    producer.flush(Duration::from_secs(30))
}
