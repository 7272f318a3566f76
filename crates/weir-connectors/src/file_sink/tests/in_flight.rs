//! The HDFS in-flight bound (`write.max_in_flight_bytes`): what the open files' clients may
//! hold together, each file counting at most its pipeline.

use super::*;

/// With an in-flight bound, files stay open (no eviction) while the bytes written since their
/// last settle stay within the bound plus one output buffer; a checkpoint settles everything.
#[tokio::test]
async fn in_flight_bytes_stay_within_their_bound_with_every_file_open() {
    let mut fixture = Fixture::new();
    fixture.config.write_buffer_bytes = weir_core::config::ByteSize(64);
    fixture.config.have_partition = true;
    fixture.config.partition_by = vec!["day".into()];
    let mut sink = fixture.sink(1);
    // LocalFile has no bound of its own (its settle is a no-op); the accounting is the same.
    sink.limits.in_flight = Some(200);
    let stats = sink.buffer_stats();
    let mut seen = 0;
    for id in 0..400 {
        sink.write(row(id)).await.unwrap();
        seen = seen.max(stats.in_flight());
        assert!(stats.in_flight() <= 200 + 64, "{}", stats.in_flight());
        assert_eq!(stats.in_flight(), sink.in_flight);
    }
    assert!(seen > 64, "writes were counted: {seen}");
    assert_eq!(sink.open.len(), 2, "both partitions stay open");
    let files = sink.prepare_commit(1).await.unwrap();
    assert_eq!(files.len(), 2, "one file per partition: {files:?}");
    assert_eq!(stats.in_flight(), 0);
}

/// A file counts at most what its client holds (`Limits::pipeline`): one file written far past
/// the in-flight bound is never synced for it (the count never drops), and stays at the
/// pipeline's size.
#[tokio::test]
async fn one_file_counts_at_most_its_pipeline_and_is_never_synced_for_the_bound() {
    let mut fixture = Fixture::new();
    fixture.config.write_buffer_bytes = weir_core::config::ByteSize(64);
    let mut sink = fixture.sink(1);
    sink.limits.in_flight = Some(150);
    sink.limits.pipeline = 100;
    let stats = sink.buffer_stats();
    let mut last = 0;
    for id in 0..400 {
        sink.write(row(id)).await.unwrap();
        let now = stats.in_flight();
        assert!(
            now >= last,
            "the count dropped from {last} to {now}: a sync"
        );
        assert!(now <= 100, "{now}");
        last = now;
    }
    assert_eq!(last, 100, "the file's pipeline is counted in full");
    assert_eq!(sink.open.len(), 1);
    sink.prepare_commit(1).await.unwrap();
    assert_eq!(stats.in_flight(), 0);
}
