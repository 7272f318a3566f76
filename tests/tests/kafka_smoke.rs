//! The test Kafka works with the client Weir uses (rdkafka, bundled librdkafka): topic creation,
//! keyed production, and consumption by explicit partition assignment — the way Weir's split
//! readers consume.

use std::collections::BTreeMap;
use std::time::Duration;

use futures::StreamExt;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{Consumer, StreamConsumer};
use rdkafka::message::Message;
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::{Offset, TopicPartitionList};

const PARTITIONS: i32 = 3;
const MESSAGES: usize = 10_000;
const DEADLINE: Duration = Duration::from_secs(60);

type Log = BTreeMap<(i32, i64), (String, String)>;

#[tokio::test]
async fn produce_and_consume_back_by_assignment() {
    let bootstrap = weir_e2e::kafka_bootstrap().unwrap_or_else(|missing| panic!("{missing}"));
    let topic = weir_e2e::unique_name("weir-smoke");

    create_topic(&bootstrap, &topic).await;
    let produced = produce(&bootstrap, &topic).await;
    assert_eq!(produced.len(), MESSAGES);
    let used_partitions: std::collections::BTreeSet<i32> =
        produced.keys().map(|(partition, _)| *partition).collect();
    assert_eq!(
        used_partitions.len(),
        PARTITIONS as usize,
        "keys should spread over every partition"
    );

    let consumed = tokio::time::timeout(DEADLINE, consume(&bootstrap, &topic, MESSAGES))
        .await
        .unwrap_or_else(|_| panic!("did not consume {MESSAGES} messages within {DEADLINE:?}"));
    assert_eq!(
        consumed, produced,
        "consumed (partition, offset) → (key, value) differs from what was produced"
    );
}

async fn create_topic(bootstrap: &str, topic: &str) {
    let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .create()
        .expect("admin client");
    let results = admin
        .create_topics(
            &[NewTopic::new(topic, PARTITIONS, TopicReplication::Fixed(1))],
            &AdminOptions::new().operation_timeout(Some(Duration::from_secs(30))),
        )
        .await
        .expect("create_topics request");
    for result in results {
        result.unwrap_or_else(|(name, code)| panic!("creating topic {name}: {code}"));
    }
}

async fn produce(bootstrap: &str, topic: &str) -> Log {
    let producer: FutureProducer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("linger.ms", "5")
        .set("enable.idempotence", "true")
        .create()
        .expect("producer");
    let sends = (0..MESSAGES).map(|index| {
        let producer = &producer;
        async move {
            let key = format!("key-{index}");
            let value = format!("value-{index}-{}", "x".repeat(index % 97));
            let record = FutureRecord::to(topic).key(&key).payload(&value);
            let delivery = producer
                .send(record, Duration::from_secs(30))
                .await
                .unwrap_or_else(|(error, _)| panic!("delivering message {index}: {error}"));
            ((delivery.partition, delivery.offset), (key, value))
        }
    });
    futures::stream::iter(sends)
        .buffer_unordered(1_000)
        .collect()
        .await
}

async fn consume(bootstrap: &str, topic: &str, expected: usize) -> Log {
    let consumer: StreamConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("group.id", weir_e2e::unique_name("weir-smoke-group"))
        .set("enable.auto.commit", "false")
        .set("enable.partition.eof", "false")
        .create()
        .expect("consumer");
    let mut assignment = TopicPartitionList::new();
    for partition in 0..PARTITIONS {
        assignment
            .add_partition_offset(topic, partition, Offset::Beginning)
            .expect("valid offset");
    }
    consumer.assign(&assignment).expect("assign");

    let mut consumed = Log::new();
    let mut stream = consumer.stream();
    while consumed.len() < expected {
        let message = stream
            .next()
            .await
            .expect("consumer stream ended")
            .expect("consume error");
        let text = |bytes: Option<&[u8]>| {
            String::from_utf8(bytes.expect("present").to_vec()).expect("utf-8")
        };
        let previous = consumed.insert(
            (message.partition(), message.offset()),
            (text(message.key()), text(message.payload())),
        );
        assert!(previous.is_none(), "offset delivered twice");
    }
    consumed
}
