//! Format errors, broker outages, vanished topics, partition discovery, listing partitions.

use std::time::Duration;

use rdkafka::types::RDKafkaRespErr;
use weir_core::config::FormatErrorHandleWay;
use weir_core::schema::{DataType, Schema};

use super::*;
use crate::kafka::{ListPartitionsError, list_partitions, list_partitions_within};

fn poisoned(cluster: &Cluster, way: FormatErrorHandleWay) -> Running {
    let payloads = vec![
        json(0, 0),
        json(1, 0),
        br#"{"id": "not a number"}"#.to_vec(),
        json(3, 0),
    ];
    produce(&cluster.bootstrap, "poison", 0, &payloads);
    let mut config = cluster.source("poison");
    config.schema = Some(Schema::new([("id", DataType::Bigint)]));
    config.format_error_handle_way = way;
    start(&config, &[split("poison", 0)], Setup::default())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_poison_record_fails_the_reader_naming_topic_partition_and_offset() {
    let cluster = Cluster::new(&[("poison", 1)]);
    let mut running = poisoned(&cluster, FormatErrorHandleWay::Fail);
    assert_eq!(running.offsets(0, 2).await, vec![0, 1]);
    let error = running.reader_result(0).await.unwrap_err();
    assert_eq!(
        error.to_string(),
        "cannot decode the record at topic 'poison' partition 0 offset 2: field 'id' must be \
         bigint, found string \"not a number\" (format_error_handle_way = fail)"
    );
    running.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_poison_record_is_skipped_and_counted() {
    let cluster = Cluster::new(&[("poison", 1)]);
    let mut running = poisoned(&cluster, FormatErrorHandleWay::Skip);
    assert_eq!(running.offsets(0, 3).await, vec![0, 1, 3]);
    assert_eq!(running.states[0].records_skipped(), 1);
    running.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_broker_is_reported_then_cleared_when_it_returns() {
    let cluster = Cluster::new(&[("outage", 1)]);
    produce(&cluster.bootstrap, "outage", 0, &[json(0, 0), json(1, 0)]);
    cluster.mock.set_broker_up(1, false).unwrap();
    let mut config = cluster.source("outage");
    config
        .kafka_config
        .0
        .insert("reconnect.backoff.max.ms".into(), "200".into());
    let mut running = start(&config, &[split("outage", 0)], Setup::default());
    let status = running.status.clone();
    until("the outage is reported", || status.last_error().is_some()).await;
    let reported = status.last_error().unwrap_or_default();
    assert!(!reported.is_empty());

    cluster.mock.set_broker_up(1, true).unwrap();
    assert_eq!(running.offsets(0, 2).await, vec![0, 1]);
    until("the error is cleared", || status.last_error().is_none()).await;
    running.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_vanished_topic_fails_the_source_with_a_clear_message() {
    let cluster = Cluster::new(&[("doomed", 1)]);
    produce(&cluster.bootstrap, "doomed", 0, &[json(0, 0)]);
    let mut config = cluster.source("doomed");
    for (key, value) in [
        ("topic.metadata.refresh.interval.ms", "100"),
        ("topic.metadata.propagation.max.ms", "0"),
    ] {
        config.kafka_config.0.insert(key.into(), value.into());
    }
    let mut running = start(&config, &[split("doomed", 0)], Setup::default());
    assert_eq!(running.offsets(0, 1).await, vec![0]);
    // The mock has no admin API: make its metadata say the topic is gone.
    cluster
        .mock
        .cluster()
        .topic_error(
            "doomed",
            RDKafkaRespErr::RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART,
        )
        .unwrap();
    let error = running.reader_result(0).await.unwrap_err();
    let text = error.to_string();
    assert!(
        text.starts_with(
            "partition doomed-0 no longer exists (topic deleted or partitions removed)"
        ),
        "{text}"
    );
    let _ = running.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn added_splits_are_read_alongside_the_first_ones() {
    let cluster = Cluster::new(&[("grow", 2)]);
    for partition in 0..2 {
        let payloads: Vec<Vec<u8>> = (0..5).map(|id| json(id, partition)).collect();
        produce(&cluster.bootstrap, "grow", partition, &payloads);
    }
    let config = cluster.source("grow");
    let mut running = start(&config, &[split("grow", 0)], Setup::default());
    assert_eq!(running.offsets(0, 5).await, vec![0, 1, 2, 3, 4]);
    // Discovery offers both partitions; the one already read is ignored.
    assert_eq!(running.add(vec![split("grow", 0), split("grow", 1)]), 1);
    assert_eq!(running.states[1].name(), "grow-1");
    assert_eq!(running.offsets(1, 5).await, vec![0, 1, 2, 3, 4]);
    running.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pausing_intake_stops_reading() {
    let cluster = Cluster::new(&[("paused", 1)]);
    let payloads: Vec<Vec<u8>> = (0..50).map(|id| json(id, 0)).collect();
    produce(&cluster.bootstrap, "paused", 0, &payloads);
    let config = cluster.source("paused");
    let mut running = start(&config, &[split("paused", 0)], Setup::default());
    running.pause.send_replace(true);
    let state = running.states[0].clone();
    until("assigned", || state.position().is_some()).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    // At most the record in hand when the pause came.
    assert!(running.queues[0].stats().total_rows() <= 1);
    running.pause.send_replace(false);
    assert_eq!(running.offsets(0, 50).await.len(), 50);
    running.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn partitions_are_listed_by_name_and_by_pattern() {
    let cluster = Cluster::new(&[("orders", 3), ("orders-eu", 2), ("payments", 1)]);
    let config = cluster.source("payments, orders");
    let splits = list_partitions(&config).await.unwrap();
    let names: Vec<String> = splits.iter().map(ToString::to_string).collect();
    assert_eq!(names, ["orders-0", "orders-1", "orders-2", "payments-0"]);

    let mut pattern = cluster.source("orders.*");
    pattern.pattern = true;
    let splits = list_partitions(&pattern).await.unwrap();
    assert_eq!(splits.len(), 5, "{splits:?}");
    pattern.topic = "order".into();
    let error = list_partitions(&pattern).await.unwrap_err();
    assert_eq!(
        error,
        ListPartitionsError::NoMatchingTopic {
            pattern: "order".into()
        },
        "patterns match whole names"
    );
    assert!(!error.is_retryable());

    let missing = cluster.source("orders,nope");
    let error = list_partitions(&missing).await.unwrap_err();
    assert_eq!(
        error,
        ListPartitionsError::TopicNotFound {
            topic: "nope".into()
        }
    );
    assert!(!error.is_retryable());

    let mut bad = cluster.source("orders");
    bad.kafka_config
        .0
        .insert("no.such.property".into(), "1".into());
    let error = list_partitions(&bad).await.unwrap_err();
    assert!(
        matches!(error, ListPartitionsError::InvalidConfig { .. }),
        "{error}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unreachable_brokers_are_a_retryable_listing_error() {
    let config = KafkaSourceConfig::new("127.0.0.1:1", "orders");
    let error = list_partitions_within(&config, Duration::from_millis(500))
        .await
        .unwrap_err();
    assert!(
        matches!(error, ListPartitionsError::Unreachable { .. }),
        "{error}"
    );
    assert!(error.is_retryable());
    assert!(
        error
            .to_string()
            .starts_with("cannot reach Kafka at 127.0.0.1:1: "),
        "{error}"
    );
}
