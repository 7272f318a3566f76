//! Kafka helpers for end-to-end tests: topics with N partitions, fast production to explicit
//! partitions (optionally with explicit timestamps), end offsets, and topic deletion.
//!
//! Everything here is blocking: each call drives rdkafka's futures on a small runtime of its
//! own, so tests written against the blocking [`crate::cluster`] harness can use it directly.
//!
//! Payload sizes are honest: a message of "1 KiB" has a 1024-byte value, filled with
//! pseudo-random letters so that lz4 (used to keep production fast) does not shrink a backlog to
//! nothing on the wire — the broker, librdkafka's prefetch and Weir all see realistic batches.

use std::time::{Duration, Instant};

use futures::StreamExt;
use futures::stream::FuturesUnordered;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::producer::{FutureProducer, FutureRecord, Producer};

/// How long one admin request or one delivery may take.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);
/// Deliveries awaited at most in flight before the producer waits for some to complete.
const MAX_IN_FLIGHT: usize = 200_000;

fn block_on<F: std::future::Future>(future: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime for the Kafka helpers")
        .block_on(future)
}

fn admin(bootstrap: &str) -> AdminClient<DefaultClientContext> {
    ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .create()
        .expect("Kafka admin client")
}

/// Creates `topic` with `partitions` partitions (replication 1) and the given topic configs
/// (e.g. `("max.message.bytes", "4194304")`); panics if Kafka refuses. Returns once the topic's
/// metadata lists every partition.
pub fn create_topic_with(bootstrap: &str, topic: &str, partitions: i32, configs: &[(&str, &str)]) {
    let admin = admin(bootstrap);
    let mut new_topic = NewTopic::new(topic, partitions, TopicReplication::Fixed(1));
    for (key, value) in configs {
        new_topic = new_topic.set(key, value);
    }
    let results = block_on(admin.create_topics(
        &[new_topic],
        &AdminOptions::new().operation_timeout(Some(REQUEST_TIMEOUT)),
    ))
    .unwrap_or_else(|error| panic!("create_topics({topic}) request failed: {error}"));
    for result in results {
        result.unwrap_or_else(|(name, code)| panic!("creating topic {name}: {code}"));
    }
    // The controller has the topic; wait until the broker's metadata lists it too, so the first
    // producer or a Weir job started right after this never sees "unknown topic".
    let consumer = metadata_client(bootstrap);
    let started = Instant::now();
    loop {
        let listed = listed_partitions(&consumer, topic);
        if listed == Some(partitions as usize) {
            return;
        }
        if started.elapsed() > REQUEST_TIMEOUT {
            panic!(
                "topic {topic} was created but its metadata lists {listed:?} partitions, not {partitions}"
            );
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// How many partitions the broker lists for `topic`; `None` when it has no such topic.
pub fn topic_partitions(bootstrap: &str, topic: &str) -> Option<usize> {
    listed_partitions(&metadata_client(bootstrap), topic)
}

/// How many partitions `consumer`'s broker lists for `topic`, if it lists it.
fn listed_partitions(consumer: &BaseConsumer, topic: &str) -> Option<usize> {
    consumer
        .fetch_metadata(Some(topic), Duration::from_secs(5))
        .ok()
        .and_then(|metadata| {
            metadata
                .topics()
                .iter()
                .find(|t| t.name() == topic && t.error().is_none())
                .map(|t| t.partitions().len())
        })
}

/// Creates `topic` with `partitions` partitions and default configs.
pub fn create_topic(bootstrap: &str, topic: &str, partitions: i32) {
    create_topic_with(bootstrap, topic, partitions, &[]);
}

/// Deletes topics, best effort (errors are printed, not raised: this is clean-up).
pub fn delete_topics(bootstrap: &str, topics: &[&str]) {
    if topics.is_empty() {
        return;
    }
    let admin = admin(bootstrap);
    match block_on(admin.delete_topics(
        topics,
        &AdminOptions::new().operation_timeout(Some(Duration::from_secs(30))),
    )) {
        Ok(results) => {
            for result in results {
                if let Err((name, code)) = result {
                    eprintln!("warning: deleting topic {name}: {code}");
                }
            }
        }
        Err(error) => eprintln!("warning: delete_topics({topics:?}): {error}"),
    }
}

/// A topic that is deleted when dropped (also when the test fails: backlogs of hundreds of MiB
/// should not pile up on the developer's disk run after run).
pub struct Topic {
    bootstrap: String,
    name: String,
}

impl Topic {
    /// Creates a topic named `unique_name(prefix)` with `partitions` partitions.
    pub fn create(bootstrap: &str, prefix: &str, partitions: i32) -> Self {
        Self::create_with(bootstrap, prefix, partitions, &[])
    }

    /// Like [`Topic::create`], with topic configs.
    pub fn create_with(
        bootstrap: &str,
        prefix: &str,
        partitions: i32,
        configs: &[(&str, &str)],
    ) -> Self {
        let name = crate::unique_name(prefix);
        create_topic_with(bootstrap, &name, partitions, configs);
        Topic {
            bootstrap: bootstrap.to_string(),
            name,
        }
    }

    /// The topic's name.
    pub fn name(&self) -> &str {
        &self.name
    }
}

impl Drop for Topic {
    fn drop(&mut self) {
        delete_topics(&self.bootstrap, &[self.name.as_str()]);
    }
}

/// One message to produce.
#[derive(Debug, Clone)]
pub struct Record {
    /// The partition it goes to (explicit; no partitioner involved).
    pub partition: i32,
    /// Optional key.
    pub key: Option<Vec<u8>>,
    /// The value.
    pub payload: Vec<u8>,
    /// Explicit CreateTime timestamp in ms since the epoch; `None` lets the producer stamp it.
    pub timestamp_ms: Option<i64>,
}

impl Record {
    /// A keyless record for `partition` with the producer's timestamp.
    pub fn new(partition: i32, payload: Vec<u8>) -> Self {
        Record {
            partition,
            key: None,
            payload,
            timestamp_ms: None,
        }
    }

    /// The same record with an explicit timestamp.
    pub fn at(mut self, timestamp_ms: i64) -> Self {
        self.timestamp_ms = Some(timestamp_ms);
        self
    }
}

/// Where a produced record landed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Delivered {
    /// Partition.
    pub partition: i32,
    /// Offset in the partition.
    pub offset: i64,
}

/// What [`produce`] did.
#[derive(Debug, Clone)]
pub struct Produced {
    /// Per input record, in input order: where it landed.
    pub deliveries: Vec<Delivered>,
    /// Sum of the payload sizes (uncompressed value bytes).
    pub payload_bytes: u64,
    /// Wall time from the first send to the last acknowledgement.
    pub elapsed: Duration,
}

fn producer(bootstrap: &str) -> FutureProducer {
    ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        // Idempotence keeps per-partition order even with retries: tests derive expected
        // sequence numbers from offsets.
        .set("enable.idempotence", "true")
        .set("acks", "all")
        .set("linger.ms", "20")
        .set("batch.size", "1000000")
        .set("batch.num.messages", "10000")
        .set("compression.type", "lz4")
        .set("queue.buffering.max.messages", "500000")
        .set("queue.buffering.max.kbytes", "524288")
        // Room for 1 MiB values (the topic must allow them too: `max.message.bytes`).
        .set("message.max.bytes", "4194304")
        .set("message.timeout.ms", "120000")
        .create()
        .expect("Kafka producer")
}

/// Produces `records` to `topic`, each to its explicit partition, as fast as the broker takes
/// them (batched, lz4, many in flight), and waits for every acknowledgement. Panics on any
/// delivery failure: a test's backlog must be exactly what it asked for.
pub fn produce(
    bootstrap: &str,
    topic: &str,
    records: impl IntoIterator<Item = Record>,
) -> Produced {
    let producer = producer(bootstrap);
    block_on(async {
        let started = Instant::now();
        let mut payload_bytes = 0u64;
        let mut deliveries: Vec<Option<Delivered>> = Vec::new();
        let mut in_flight = FuturesUnordered::new();
        let settle = |(index, result): (usize, Result<Delivered, String>),
                      deliveries: &mut Vec<Option<Delivered>>| {
            match result {
                Ok(delivered) => deliveries[index] = Some(delivered),
                Err(error) => panic!("delivering record {index} to {topic}: {error}"),
            }
        };
        for (index, record) in records.into_iter().enumerate() {
            payload_bytes += record.payload.len() as u64;
            deliveries.push(None);
            loop {
                let mut future_record = FutureRecord::<[u8], [u8]>::to(topic)
                    .partition(record.partition)
                    .payload(&record.payload);
                if let Some(key) = &record.key {
                    future_record = future_record.key(key);
                }
                if let Some(timestamp) = record.timestamp_ms {
                    future_record = future_record.timestamp(timestamp);
                }
                match producer.send_result(future_record) {
                    Ok(delivery) => {
                        in_flight.push(async move {
                            let result = match delivery.await {
                                Ok(Ok(delivery)) => Ok(Delivered {
                                    partition: delivery.partition,
                                    offset: delivery.offset,
                                }),
                                Ok(Err((error, _))) => Err(error.to_string()),
                                Err(_) => Err("the producer dropped the delivery".to_string()),
                            };
                            (index, result)
                        });
                        break;
                    }
                    Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), _)) => {
                        // librdkafka's queue is full: let some deliveries complete.
                        match in_flight.next().await {
                            Some(done) => settle(done, &mut deliveries),
                            None => tokio::time::sleep(Duration::from_millis(5)).await,
                        }
                    }
                    Err((error, _)) => panic!("producing record {index} to {topic}: {error}"),
                }
            }
            while in_flight.len() >= MAX_IN_FLIGHT {
                let done = in_flight.next().await.expect("in-flight deliveries");
                settle(done, &mut deliveries);
            }
        }
        while let Some(done) = in_flight.next().await {
            settle(done, &mut deliveries);
        }
        producer
            .flush(REQUEST_TIMEOUT)
            .unwrap_or_else(|error| panic!("flushing the producer for {topic}: {error}"));
        Produced {
            deliveries: deliveries
                .into_iter()
                .map(|delivered| delivered.expect("every delivery settled"))
                .collect(),
            payload_bytes,
            elapsed: started.elapsed(),
        }
    })
}

/// A JSON object `{"p":P,"seq":N}`.
pub fn json_message(partition: i32, seq: u64) -> Vec<u8> {
    format!(r#"{{"p":{partition},"seq":{seq}}}"#).into_bytes()
}

/// A JSON object `{"p":P,"seq":N,"pad":"…"}` of exactly `size` bytes; the pad is pseudo-random
/// lowercase letters derived from (partition, seq). Panics if `size` is too small for the
/// fields.
pub fn padded_json_message(partition: i32, seq: u64, size: usize) -> Vec<u8> {
    let head = format!(r#"{{"p":{partition},"seq":{seq},"pad":""#);
    let tail = "\"}";
    let pad = size
        .checked_sub(head.len() + tail.len())
        .unwrap_or_else(|| panic!("{size} bytes cannot hold {head}{tail}"));
    let mut message = Vec::with_capacity(size);
    message.extend_from_slice(head.as_bytes());
    let mut state = (u64::from(partition as u32) << 40) ^ seq ^ 0x9E37_79B9_7F4A_7C15;
    if state == 0 {
        state = 1;
    }
    let mut left = pad;
    while left > 0 {
        // xorshift64; one draw gives 13 base-26 digits (26^13 < 2^64).
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        let mut draw = state;
        for _ in 0..left.min(13) {
            message.push(b'a' + (draw % 26) as u8);
            draw /= 26;
        }
        left = left.saturating_sub(13);
    }
    message.extend_from_slice(tail.as_bytes());
    debug_assert_eq!(message.len(), size);
    message
}

/// `per_partition` messages of exactly `size` bytes to each of `partitions` partitions, the
/// partitions interleaved; message `n` of partition `p` is `padded_json_message(p, n, size)`.
pub fn padded_json_records(
    partitions: i32,
    per_partition: u64,
    size: usize,
) -> impl Iterator<Item = Record> {
    (0..per_partition).flat_map(move |seq| {
        (0..partitions).map(move |p| Record::new(p, padded_json_message(p, seq, size)))
    })
}

/// `per_partition` messages `{"p":P,"seq":N}` to each of `partitions` partitions.
pub fn json_records(partitions: i32, per_partition: u64) -> impl Iterator<Item = Record> {
    (0..per_partition)
        .flat_map(move |seq| (0..partitions).map(move |p| Record::new(p, json_message(p, seq))))
}

fn metadata_client(bootstrap: &str) -> BaseConsumer {
    ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("group.id", crate::unique_name("weir-e2e-metadata"))
        .set("enable.auto.commit", "false")
        .create()
        .expect("Kafka metadata consumer")
}

/// The offsets committed to consumer group `group` for partitions `0..partitions` of `topic`
/// (`None` where the group has none), read from the broker.
pub fn committed_offsets(
    bootstrap: &str,
    group: &str,
    topic: &str,
    partitions: i32,
) -> Vec<Option<i64>> {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("group.id", group)
        .set("enable.auto.commit", "false")
        .create()
        .expect("Kafka consumer for committed offsets");
    let mut list = rdkafka::TopicPartitionList::new();
    for partition in 0..partitions {
        list.add_partition(topic, partition);
    }
    let committed = consumer
        .committed_offsets(list, Duration::from_secs(10))
        .unwrap_or_else(|error| panic!("committed offsets of group {group} on {topic}: {error}"));
    (0..partitions)
        .map(|partition| {
            match committed
                .find_partition(topic, partition)
                .map(|element| element.offset())
            {
                Some(rdkafka::Offset::Offset(offset)) => Some(offset),
                _ => None,
            }
        })
        .collect()
}

// ----------------------------------------------------------------------------------------------
// The SASL_SSL listener
// ----------------------------------------------------------------------------------------------

/// Environment variable: `host:port` of the stack's SASL_SSL (SCRAM-SHA-512) listener.
pub const SASL_ENV: &str = "WEIR_TEST_KAFKA_SASL";
/// Environment variable: the PEM file of the CA that signed the listener's certificate.
pub const SASL_CA_ENV: &str = "WEIR_TEST_KAFKA_SASL_CA";
/// Environment variable: the SCRAM-SHA-512 user.
pub const SASL_USER_ENV: &str = "WEIR_TEST_KAFKA_SASL_USER";
/// Environment variable: the user's password.
pub const SASL_PASSWORD_ENV: &str = "WEIR_TEST_KAFKA_SASL_PASSWORD";

/// The stack's SASL_SSL listener and the credentials of its SCRAM user, as `deploy/local/stack
/// env` prints them. No `Debug`: it holds a password.
#[derive(Clone)]
pub struct SaslListener {
    /// `host:port` of the listener.
    pub bootstrap: String,
    /// The CA's PEM file (librdkafka's `ssl.ca.location`).
    pub ca_location: String,
    /// The SCRAM-SHA-512 user.
    pub username: String,
    /// Its password.
    pub password: String,
}

impl SaslListener {
    /// Reads the `WEIR_TEST_KAFKA_SASL*` variables and checks that the listener accepts
    /// connections; the error names the variable or address and the command that starts the
    /// stack.
    pub fn from_env() -> Result<Self, crate::MissingService> {
        const SERVICE: &str = "Kafka's SASL_SSL listener";
        let read = |variable: &'static str| match std::env::var(variable) {
            Ok(value) if !value.trim().is_empty() => Ok(value.trim().to_string()),
            _ => Err(crate::MissingService::Unset {
                variable,
                service: SERVICE,
            }),
        };
        let listener = SaslListener {
            bootstrap: read(SASL_ENV)?,
            ca_location: read(SASL_CA_ENV)?,
            username: read(SASL_USER_ENV)?,
            password: read(SASL_PASSWORD_ENV)?,
        };
        let unreachable = |reason: String| crate::MissingService::Unreachable {
            variable: SASL_ENV,
            service: SERVICE,
            value: listener.bootstrap.clone(),
            endpoint: listener.bootstrap.clone(),
            reason,
        };
        if !std::path::Path::new(&listener.ca_location).is_file() {
            return Err(unreachable(format!(
                "its CA file {SASL_CA_ENV}={} does not exist",
                listener.ca_location
            )));
        }
        let address = std::net::ToSocketAddrs::to_socket_addrs(listener.bootstrap.as_str())
            .ok()
            .and_then(|mut all| all.next())
            .ok_or_else(|| unreachable("the address does not resolve".to_string()))?;
        std::net::TcpStream::connect_timeout(&address, Duration::from_secs(3)).map_err(|error| {
            unreachable(format!(
                "{error}; a stack brought up before it had this listener needs `deploy/local/stack down` and `up`"
            ))
        })?;
        Ok(listener)
    }

    /// A `kafka.config = { ... }` block (HOCON) for this listener, with `password`.
    pub fn kafka_config(&self, password: &str) -> String {
        format!(
            r#"kafka.config = {{
      security.protocol = "SASL_SSL"
      sasl.mechanisms = "SCRAM-SHA-512"
      sasl.username = "{}"
      sasl.password = "{password}"
      ssl.ca.location = "{}"
    }}"#,
            self.username, self.ca_location
        )
    }
}

/// `(low, high)` watermarks of each partition `0..partitions` of `topic`.
pub fn watermarks(bootstrap: &str, topic: &str, partitions: i32) -> Vec<(i64, i64)> {
    let consumer = metadata_client(bootstrap);
    (0..partitions)
        .map(|partition| {
            consumer
                .fetch_watermarks(topic, partition, Duration::from_secs(10))
                .unwrap_or_else(|error| panic!("watermarks of {topic}-{partition}: {error}"))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn padded_messages_have_the_exact_size_and_parse() {
        for size in [40, 1024, 1 << 20] {
            let message = padded_json_message(3, 123_456, size);
            assert_eq!(message.len(), size);
            let value: serde_json::Value = serde_json::from_slice(&message).expect("valid JSON");
            assert_eq!(value["p"], 3);
            assert_eq!(value["seq"], 123_456);
        }
        assert_ne!(
            padded_json_message(0, 1, 100),
            padded_json_message(0, 2, 100)
        );
    }

    #[test]
    fn records_interleave_partitions_in_sequence_order() {
        let records: Vec<Record> = json_records(2, 3).collect();
        let order: Vec<(i32, String)> = records
            .iter()
            .map(|r| (r.partition, String::from_utf8(r.payload.clone()).unwrap()))
            .collect();
        assert_eq!(order[0], (0, r#"{"p":0,"seq":0}"#.to_string()));
        assert_eq!(order[1], (1, r#"{"p":1,"seq":0}"#.to_string()));
        assert_eq!(order[5], (1, r#"{"p":1,"seq":2}"#.to_string()));
    }
}
