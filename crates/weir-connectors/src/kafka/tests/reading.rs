//! Reading: order, bounds, the read limit, start modes, commits.

use std::time::{Duration, Instant};

use weir_core::config::{JobMode, PartitionOffsets, StartMode};
use weir_core::row::Value;

use super::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reads_every_record_of_each_partition_in_order() {
    let cluster = Cluster::new(&[("orders", 3)]);
    for partition in 0..3 {
        let payloads: Vec<Vec<u8>> = (0..200).map(|id| json(id, partition)).collect();
        produce(&cluster.bootstrap, "orders", partition, &payloads);
    }
    let mut config = cluster.source("orders");
    config.schema = Some(id_schema());
    let splits: Vec<SplitId> = (0..3).map(|p| split("orders", p)).collect();
    let mut running = start(&config, &splits, Setup::default());
    for (index, partition) in (0..3).enumerate() {
        for expected in 0..200 {
            let record = running.next(index).await;
            assert_eq!(record.position, expected, "partition {partition}");
            assert_eq!(
                record.row.values,
                vec![Value::Bigint(expected), Value::Int(partition)]
            );
        }
    }
    // The high watermark is queried right after assignment; position is what was taken.
    until("high watermarks known", || {
        running
            .states
            .iter()
            .all(|s| s.high_watermark() == Some(200))
    })
    .await;
    for state in &running.states {
        assert_eq!(state.position(), Some(200));
    }
    assert_eq!(running.states[2].name(), "orders-2");
    assert_eq!(running.status.last_error(), None);
    running.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_queue_never_exceeds_its_byte_bound() {
    let cluster = Cluster::new(&[("big", 1)]);
    let payloads: Vec<Vec<u8>> = (0..2000).map(|_| vec![b'x'; 1024]).collect();
    produce(&cluster.bootstrap, "big", 0, &payloads);
    let mut config = cluster.source("big");
    config
        .kafka_config
        .0
        .insert("statistics.interval.ms".into(), "1000".into());
    let setup = Setup {
        queue_rows: 1000,
        queue_bytes: 64 * 1024,
        ..Setup::default()
    };
    let running = start(&config, &[split("big", 0)], setup);
    let stats = running.queues[0].stats().clone();
    // Each row is a ~1 KiB string plus its slots: the 64 KiB bound holds ~60 of them.
    until("queue full", || {
        stats.total_rows() > 0 && stats.bytes() + stats.bytes() / stats.rows().max(1) > 64 * 1024
    })
    .await;
    let full = stats.snapshot();
    // Give the stalled reader every chance to push past the bound.
    tokio::time::sleep(Duration::from_millis(300)).await;
    // The stalled reader pauses its partition and fetches nothing more while it waits.
    let state = running.states[0].clone();
    until("partition paused", || state.fetch_paused()).await;
    // librdkafka holds what it prefetched for a paused partition until its queue is polled
    // (its statistics show it): the cap bounds it, and nothing more is fetched while the
    // reader waits.
    let prefetched = state.prefetch_bytes().unwrap_or_default();
    assert!(
        prefetched <= config.prefetch().active_bytes(),
        "prefetched {prefetched} beyond the partition's bound"
    );
    let later = stats.snapshot();
    assert_eq!(
        later.total_rows, full.total_rows,
        "nothing admitted while full"
    );
    assert!(later.peak_bytes <= 64 * 1024, "{later:?}");
    assert!(
        later.rows < 1000,
        "the byte bound, not the row bound, holds: {later:?}"
    );
    // Draining resumes the partition; it is read on from where it paused, nothing lost or
    // read twice.
    let mut running = running;
    for expected in 0..2000 {
        assert_eq!(running.next(0).await.position, expected);
    }
    until("partition resumed", || !state.fetch_paused()).await;
    running.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_read_limit_is_taken_before_the_queue() {
    let cluster = Cluster::new(&[("slow", 2)]);
    for partition in 0..2 {
        let payloads: Vec<Vec<u8>> = (0..500).map(|id| json(id, partition)).collect();
        produce(&cluster.bootstrap, "slow", partition, &payloads);
    }
    let config = cluster.source("slow");
    // 20 rows/s shared by both partitions; nothing drains the (roomy) queues.
    let setup = Setup {
        limiter: ReadLimiter::new(Some(20.0), None),
        ..Setup::default()
    };
    let started = Instant::now();
    let running = start(&config, &[split("slow", 0), split("slow", 1)], setup);
    let stats: Vec<_> = running.queues.iter().map(|q| q.stats().clone()).collect();
    let admitted = || stats.iter().map(|s| s.total_rows()).sum::<u64>();
    until("rows admitted", || admitted() >= 10).await;
    tokio::time::sleep(Duration::from_millis(1000)).await;
    let rows = admitted();
    let elapsed = started.elapsed().as_secs_f64();
    // Burst of 2, then 20/s: the queues hold only what the limit let through, though
    // 1000 records are waiting in Kafka and the queues have room for all of them.
    assert!(
        rows as f64 <= 2.0 + 20.0 * elapsed + 1.0,
        "{rows} rows in {elapsed:.2}s"
    );
    assert!(rows >= 10);
    running.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn latest_starts_after_what_was_there() {
    let cluster = Cluster::new(&[("events", 1)]);
    let old: Vec<Vec<u8>> = (0..10).map(|id| json(id, 0)).collect();
    produce(&cluster.bootstrap, "events", 0, &old);
    let mut config = cluster.source("events");
    config.start_mode = StartMode::Latest;
    let mut running = start(&config, &[split("events", 0)], Setup::default());
    let state = running.states[0].clone();
    until("assigned at the end", || state.position() == Some(10)).await;
    let new: Vec<Vec<u8>> = (10..15).map(|id| json(id, 0)).collect();
    let bootstrap = cluster.bootstrap.clone();
    tokio::task::spawn_blocking(move || produce(&bootstrap, "events", 0, &new))
        .await
        .unwrap();
    assert_eq!(running.offsets(0, 5).await, vec![10, 11, 12, 13, 14]);
    running.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn specific_offsets_and_unlisted_partitions_from_earliest() {
    let cluster = Cluster::new(&[("t", 2)]);
    for partition in 0..2 {
        let payloads: Vec<Vec<u8>> = (0..20).map(|id| json(id, partition)).collect();
        produce(&cluster.bootstrap, "t", partition, &payloads);
    }
    let mut config = cluster.source("t");
    config.start_mode = StartMode::SpecificOffsets;
    config.start_mode_offsets = PartitionOffsets([("t-0".to_string(), 7)].into());
    let mut running = start(&config, &[split("t", 0), split("t", 1)], Setup::default());
    assert_eq!(running.offsets(0, 3).await, vec![7, 8, 9]);
    assert_eq!(running.offsets(1, 3).await, vec![0, 1, 2]);
    running.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn timestamp_without_later_records_starts_at_the_end() {
    // The mock broker cannot look offsets up by timestamp (it answers "none"), which is what
    // a real broker answers for a timestamp after the last record: start at the end.
    let cluster = Cluster::new(&[("ts", 1)]);
    let old: Vec<Vec<u8>> = (0..5).map(|id| json(id, 0)).collect();
    produce_at(&cluster.bootstrap, "ts", 0, &old, Some(1_000));
    let mut config = cluster.source("ts");
    config.start_mode = StartMode::Timestamp;
    config.start_mode_timestamp = Some(2_000);
    let mut running = start(&config, &[split("ts", 0)], Setup::default());
    let state = running.states[0].clone();
    until("assigned", || state.position().is_some()).await;
    assert_eq!(state.position(), Some(5));
    let bootstrap = cluster.bootstrap.clone();
    let new: Vec<Vec<u8>> = (5..8).map(|id| json(id, 0)).collect();
    tokio::task::spawn_blocking(move || produce_at(&bootstrap, "ts", 0, &new, Some(3_000)))
        .await
        .unwrap();
    assert_eq!(running.offsets(0, 3).await, vec![5, 6, 7]);
    running.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn checkpointed_positions_are_committed_and_group_offsets_resume_from_them() {
    let cluster = Cluster::new(&[("g", 1)]);
    let payloads: Vec<Vec<u8>> = (0..100).map(|id| json(id, 0)).collect();
    produce(&cluster.bootstrap, "g", 0, &payloads);
    let mut config = cluster.source("g");
    config.consumer_group = "weir-test".into();

    // No committed offset yet: group_offsets starts at earliest.
    config.start_mode = StartMode::GroupOffsets;
    let mut first = start(&config, &[split("g", 0)], Setup::default());
    assert_eq!(first.offsets(0, 40).await, (0..40).collect::<Vec<i64>>());
    // Only the position of a committed checkpoint is committed to the group (here 30, though
    // the "sink" took 40 rows); stopping sends it.
    first.states[0].set_committed_position(30);
    first.stop().await.unwrap();
    let bootstrap = cluster.bootstrap.clone();
    until("offset 30 committed", || {
        committed(&bootstrap, "weir-test", "g") == Some(30)
    })
    .await;

    let mut second = start(&config, &[split("g", 0)], Setup::default());
    assert_eq!(second.offsets(0, 2).await, vec![30, 31]);
    second.stop().await.unwrap();
}

/// The offset committed by `group` for partition 0 of `topic`.
fn committed(bootstrap: &str, group: &str, topic: &str) -> Option<i64> {
    use rdkafka::config::ClientConfig;
    use rdkafka::consumer::{BaseConsumer, Consumer};
    use rdkafka::{Offset, TopicPartitionList};
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("group.id", group)
        .create()
        .ok()?;
    let mut list = TopicPartitionList::new();
    list.add_partition(topic, 0);
    let offsets = consumer
        .committed_offsets(list, Duration::from_secs(5))
        .ok()?;
    match offsets.elements().first()?.offset() {
        Offset::Offset(offset) => Some(offset),
        _ => None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn batch_jobs_end_at_the_high_watermark_of_their_start() {
    let cluster = Cluster::new(&[("b", 2)]);
    let payloads: Vec<Vec<u8>> = (0..25).map(|id| json(id, 0)).collect();
    produce(&cluster.bootstrap, "b", 0, &payloads);
    // Partition 1 is empty: its reader ends at once.
    let config = cluster.source("b");
    let setup = Setup {
        mode: JobMode::Batch,
        ..Setup::default()
    };
    let mut running = start(&config, &[split("b", 0), split("b", 1)], setup);
    running.reader_result(1).await.unwrap();
    assert_eq!(running.offsets(0, 25).await, (0..25).collect::<Vec<i64>>());
    running.reader_result(0).await.unwrap();
    assert!(
        running.queues[0].recv().await.is_none(),
        "nothing past the end"
    );
    running.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_the_fetch_slots_fetch_and_every_partition_is_read_in_turns() {
    const PARTITIONS: i32 = 8;
    const RECORDS: i64 = 300;
    let cluster = Cluster::new(&[("many", PARTITIONS)]);
    for partition in 0..PARTITIONS {
        let payloads: Vec<Vec<u8>> = (0..RECORDS)
            .map(|id| {
                let mut record = json(id, partition);
                record.resize(1024, b' ');
                record
            })
            .collect();
        produce(&cluster.bootstrap, "many", partition, &payloads);
    }
    let mut config = cluster.source("many");
    config.schema = Some(id_schema());
    // 512 KiB of prefetch: one fetch slot.
    config.buffer_max_bytes = 2 * 1024 * 1024;
    assert_eq!(config.fetch_slots(), 1);
    let splits: Vec<SplitId> = (0..PARTITIONS).map(|p| split("many", p)).collect();
    // Queues of 20 rows: every reader stalls long before its partition is read.
    let mut running = start(
        &config,
        &splits,
        Setup {
            queue_rows: 20,
            ..Setup::default()
        },
    );
    let fetching = |running: &Running| running.states.iter().filter(|s| !s.fetch_paused()).count();
    // Stalled: the slot holder has filled its queue; nobody else fetched.
    until("a queue filled", || {
        running
            .queues
            .iter()
            .any(|queue| queue.stats().rows() == 20)
    })
    .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let filled = running
        .queues
        .iter()
        .filter(|queue| queue.stats().total_rows() > 0)
        .count();
    assert_eq!(filled, 1, "only the slot holder's partition was read");
    assert!(fetching(&running) <= 1);
    // Drained concurrently: each partition in order, exactly once, with at most one
    // partition fetching at any moment.
    let mut drains = Vec::new();
    for (index, mut queue) in std::mem::take(&mut running.queues).into_iter().enumerate() {
        drains.push(tokio::spawn(async move {
            let mut offsets = Vec::new();
            while offsets.len() < RECORDS as usize {
                let record = tokio::time::timeout(PATIENCE, queue.recv())
                    .await
                    .unwrap_or_else(|_| panic!("partition {index} stalled"))
                    .expect("queue open");
                offsets.push(record.position);
            }
            offsets
        }));
    }
    let mut most_fetching = 0;
    while !drains.iter().all(|drain| drain.is_finished()) {
        most_fetching = most_fetching.max(fetching(&running));
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    for drain in drains {
        assert_eq!(drain.await.unwrap(), (0..RECORDS).collect::<Vec<_>>());
    }
    assert_eq!(
        most_fetching, 1,
        "one fetch slot, one partition fetching at a time"
    );
    running.stop().await.unwrap();
}
