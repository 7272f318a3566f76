//! Caught-up partitions and the fetch slots: a partition with nothing to read does not take a
//! slot from one with a backlog, and is read again once its high watermark moves.

use super::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn caught_up_partitions_wait_for_records_before_taking_a_slot() {
    const PARTITIONS: i32 = 4;
    const BACKLOG: i64 = 300;
    let cluster = Cluster::new(&[("mostly_empty", PARTITIONS)]);
    let backlog: Vec<Vec<u8>> = (0..BACKLOG).map(|id| json(id, 0)).collect();
    produce(&cluster.bootstrap, "mostly_empty", 0, &backlog);
    let mut config = cluster.source("mostly_empty");
    config.schema = Some(id_schema());
    // 512 KiB of prefetch: one fetch slot for the four partitions.
    config.buffer_max_bytes = 2 * 1024 * 1024;
    assert_eq!(config.fetch_slots(), 1);
    let splits: Vec<SplitId> = (0..PARTITIONS).map(|p| split("mostly_empty", p)).collect();
    // Queues of 20 rows: partition 0's reader waits for room between the paced takes below.
    let mut running = start(
        &config,
        &splits,
        Setup {
            queue_rows: 20,
            ..Setup::default()
        },
    );
    // Assigned (until then no partition is paused; the watermarks are queried first), and
    // partition 0 holds the slot. At the start an empty partition may take the free slot, and
    // hands it on after an idle wait.
    until("every partition assigned", || {
        running.states.iter().all(|s| s.high_watermark().is_some())
    })
    .await;
    until("partition 0 fetching", || !running.states[0].fetch_paused()).await;
    // Partition 0's backlog is taken at a pace (a record every 5 ms, 1.5 s in all), so its
    // reader keeps reading, and would end its turn after 500 ms if another reader queued for
    // the slot.
    let mut queues = std::mem::take(&mut running.queues).into_iter();
    let (Some(mut first), Some(_), Some(mut third)) = (queues.next(), queues.next(), queues.next())
    else {
        panic!("four queues")
    };
    let paced = tokio::spawn(async move {
        let mut offsets = Vec::new();
        while offsets.len() < BACKLOG as usize {
            let record = tokio::time::timeout(PATIENCE, first.recv())
                .await
                .expect("partition 0 stalled")
                .expect("queue open");
            offsets.push(record.position);
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        offsets
    });
    // The empty partitions neither queue for the slot nor fetch: while partition 0 is read,
    // only partition 0 is resumed.
    let mut resumed = Vec::new();
    while !paced.is_finished() {
        for (index, state) in running.states.iter().enumerate().skip(1) {
            if !state.fetch_paused() && !resumed.contains(&index) {
                resumed.push(index);
            }
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    assert_eq!(paced.await.unwrap(), (0..BACKLOG).collect::<Vec<_>>());
    assert!(
        resumed.is_empty(),
        "empty partitions {resumed:?} were resumed while partition 0 had a backlog"
    );
    // New records in a caught-up partition are read once the driver's watermark refresh
    // (every 5 s) shows them.
    let late: Vec<Vec<u8>> = (0..10).map(|id| json(id, 2)).collect();
    produce(&cluster.bootstrap, "mostly_empty", 2, &late);
    for expected in 0..10 {
        let record = tokio::time::timeout(PATIENCE, third.recv())
            .await
            .expect("the late records of partition 2 were not read")
            .expect("queue open");
        assert_eq!(record.position, expected);
    }
    running.stop().await.unwrap();
}
