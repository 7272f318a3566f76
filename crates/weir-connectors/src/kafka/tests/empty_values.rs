//! Zero-byte values and records without a value, read under a byte read limit: a zero-byte
//! record never errors by itself (SeaTunnel #11765 aborted the task on the first one); where
//! it cannot be decoded (`format = json`) it follows `format_error_handle_way`.

use weir_core::config::{FormatErrorHandleWay, MessageFormat};
use weir_core::row::Value;
use weir_core::schema::{DataType, Schema};

use super::*;

/// Bytes per second for the limit: generous enough not to slow the tests, but a real limit,
/// so every record goes through the byte bucket.
const BYTES_PER_SECOND: f64 = 1_000_000.0;

/// Offsets 0..4 of partition 0: `first`, a zero-byte value, a tombstone, `last`.
fn produce_mixed(cluster: &Cluster, topic: &str, first: &[u8], last: &[u8]) {
    produce_values(
        &cluster.bootstrap,
        topic,
        0,
        &[Some(first), Some(b""), None, Some(last)],
    );
}

fn byte_limited() -> Setup {
    Setup {
        limiter: ReadLimiter::new(None, Some(BYTES_PER_SECOND)),
        ..Setup::default()
    }
}

/// Takes `count` records of split 0 as (offset, values).
async fn rows(running: &mut Running, count: usize) -> Vec<(i64, Vec<Value>)> {
    let mut rows = Vec::with_capacity(count);
    for _ in 0..count {
        let record = running.next(0).await;
        rows.push((record.position, record.row.values));
    }
    rows
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn text_reads_zero_byte_values_and_tombstones_as_empty_rows() {
    let cluster = Cluster::new(&[("empty-text", 1)]);
    produce_mixed(&cluster, "empty-text", b"a,1", b"b,2");
    let mut config = cluster.source("empty-text");
    config.format = MessageFormat::Text;
    config.schema = Some(Schema::new([
        ("s", DataType::String),
        ("n", DataType::Bigint),
    ]));
    // `fail`: any decoding error would end the reader instead of delivering the rows.
    config.format_error_handle_way = FormatErrorHandleWay::Fail;
    let mut running = start(&config, &[split("empty-text", 0)], byte_limited());

    let empty = vec![Value::String(String::new()), Value::Null];
    assert_eq!(
        rows(&mut running, 4).await,
        vec![
            (0, vec![Value::String("a".into()), Value::Bigint(1)]),
            (1, empty.clone()),
            (2, empty),
            (3, vec![Value::String("b".into()), Value::Bigint(2)]),
        ]
    );
    assert_eq!(running.states[0].records_skipped(), 0);
    assert_eq!(running.status.last_error(), None);
    running.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_schema_zero_byte_values_and_tombstones_are_empty_content() {
    let cluster = Cluster::new(&[("empty-raw", 1)]);
    produce_mixed(&cluster, "empty-raw", b"first", b"last");
    let mut config = cluster.source("empty-raw");
    config.format_error_handle_way = FormatErrorHandleWay::Fail;
    let mut running = start(&config, &[split("empty-raw", 0)], byte_limited());

    let content = |text: &str| vec![Value::String(text.into())];
    assert_eq!(
        rows(&mut running, 4).await,
        vec![
            (0, content("first")),
            (1, content("")),
            (2, content("")),
            (3, content("last")),
        ]
    );
    assert_eq!(running.states[0].records_skipped(), 0);
    running.stop().await.unwrap();
}

fn json_config(cluster: &Cluster, topic: &str, way: FormatErrorHandleWay) -> KafkaSourceConfig {
    let mut config = cluster.source(topic);
    config.format = MessageFormat::Json;
    config.schema = Some(Schema::new([("id", DataType::Bigint)]));
    config.format_error_handle_way = way;
    config
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_skips_and_counts_zero_byte_values_and_tombstones() {
    let cluster = Cluster::new(&[("empty-json", 1)]);
    produce_mixed(&cluster, "empty-json", br#"{"id":0}"#, br#"{"id":3}"#);
    let config = json_config(&cluster, "empty-json", FormatErrorHandleWay::Skip);
    let mut running = start(&config, &[split("empty-json", 0)], byte_limited());

    assert_eq!(
        rows(&mut running, 2).await,
        vec![(0, vec![Value::Bigint(0)]), (3, vec![Value::Bigint(3)])]
    );
    assert_eq!(running.states[0].records_skipped(), 2);
    assert_eq!(running.status.last_error(), None);
    running.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_fails_on_a_zero_byte_value_naming_topic_partition_and_offset() {
    let cluster = Cluster::new(&[("empty-json-fail", 1)]);
    produce_mixed(&cluster, "empty-json-fail", br#"{"id":0}"#, br#"{"id":3}"#);
    let config = json_config(&cluster, "empty-json-fail", FormatErrorHandleWay::Fail);
    let mut running = start(&config, &[split("empty-json-fail", 0)], byte_limited());

    assert_eq!(
        rows(&mut running, 1).await,
        vec![(0, vec![Value::Bigint(0)])]
    );
    let error = running.reader_result(0).await.unwrap_err();
    assert_eq!(
        error.to_string(),
        "cannot decode the record at topic 'empty-json-fail' partition 0 offset 1: the value \
         is empty (zero bytes), not a JSON object (format_error_handle_way = fail)"
    );
    running.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_fails_on_a_tombstone_naming_its_offset() {
    let cluster = Cluster::new(&[("tombstone", 1)]);
    produce_values(
        &cluster.bootstrap,
        "tombstone",
        0,
        &[Some(br#"{"id":0}"#), None],
    );
    let config = json_config(&cluster, "tombstone", FormatErrorHandleWay::Fail);
    let mut running = start(&config, &[split("tombstone", 0)], byte_limited());

    assert_eq!(
        rows(&mut running, 1).await,
        vec![(0, vec![Value::Bigint(0)])]
    );
    let error = running.reader_result(0).await.unwrap_err();
    assert_eq!(
        error.to_string(),
        "cannot decode the record at topic 'tombstone' partition 0 offset 1: the record has \
         no value (a tombstone), not a JSON object (format_error_handle_way = fail)"
    );
    running.stop().await.unwrap();
}
