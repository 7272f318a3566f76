use std::time::Duration;

use tokio::sync::watch;
use tokio_util::sync::CancellationToken;
use weir_core::config::FakeSourceConfig;
use weir_core::queue::{QueueReceiver, bounded_queue};
use weir_core::row::{Row, RowKind, Value};
use weir_core::schema::{DataType, Schema};

use super::FakeSourceReader;
use crate::context::{SourceContext, SourceReader, SourceRecord, SubtaskInfo};
use crate::error::ConnectorError;
use crate::limiter::ReadLimiter;

fn config(row_num: Option<u64>) -> FakeSourceConfig {
    FakeSourceConfig {
        row_num,
        ..FakeSourceConfig::new(Schema::new([
            ("id", DataType::Bigint),
            ("name", DataType::String),
        ]))
    }
}

fn subtask() -> SubtaskInfo {
    SubtaskInfo {
        job_id: "job-1".into(),
        subtask_index: 0,
        parallelism: 1,
        attempt: 1,
    }
}

struct Harness {
    cancel: CancellationToken,
    pause: watch::Sender<bool>,
    rx: QueueReceiver<SourceRecord>,
    run: tokio::task::JoinHandle<Result<(), ConnectorError>>,
}

fn start(config: FakeSourceConfig, queue_rows: usize, paused: bool) -> Harness {
    let (tx, rx) = bounded_queue(queue_rows, u64::MAX);
    let cancel = CancellationToken::new();
    let (pause, paused_rx) = watch::channel(paused);
    let ctx = SourceContext {
        cancel: cancel.clone(),
        paused: paused_rx,
        read_limit: ReadLimiter::unlimited(),
    };
    let reader: Box<dyn SourceReader> = Box::new(FakeSourceReader::new(config, subtask()));
    let run = tokio::spawn(reader.run(tx, ctx));
    Harness {
        cancel,
        pause,
        rx,
        run,
    }
}

/// Lets other tasks run until `condition` holds (single-threaded runtime: deterministic).
async fn until(mut condition: impl FnMut() -> bool) {
    for _ in 0..100_000 {
        if condition() {
            return;
        }
        tokio::task::yield_now().await;
    }
    panic!("condition never became true");
}

async fn settle() {
    for _ in 0..1_000 {
        tokio::task::yield_now().await;
    }
}

#[tokio::test]
async fn bounded_source_generates_row_num_rows_then_ends() {
    let mut h = start(config(Some(50)), 1000, false);
    let mut ids = Vec::new();
    while let Some(record) = h.rx.recv().await {
        let Value::Bigint(id) = record.row.values[0] else {
            panic!("bigint expected")
        };
        assert_eq!(record.position, id, "position is the row index");
        ids.push(id);
    }
    assert_eq!(ids, (0..50).collect::<Vec<i64>>());
    h.run.await.unwrap().unwrap();
}

#[tokio::test]
async fn literal_rows_are_emitted_in_order_with_their_kind_once_per_job() {
    let rows = vec![
        Row::new(vec![Value::Bigint(7), Value::String("a".into())]),
        Row::with_kind(vec![Value::Bigint(8), Value::Null], RowKind::Delete),
    ];
    // row.num is not used with literal rows.
    let literal = FakeSourceConfig {
        rows: Some(rows.clone()),
        ..config(Some(50))
    };
    let mut h = start(literal.clone(), 1000, false);
    let mut seen = Vec::new();
    while let Some(record) = h.rx.recv().await {
        seen.push(record.row);
    }
    assert_eq!(seen, rows);
    h.run.await.unwrap().unwrap();
    // Another subtask emits none of them: SeaTunnel emits them once, from its one split.
    let (tx, mut rx) = bounded_queue(1000, u64::MAX);
    let (_pause, paused) = watch::channel(false);
    let ctx = SourceContext {
        cancel: CancellationToken::new(),
        paused,
        read_limit: ReadLimiter::unlimited(),
    };
    let second = SubtaskInfo {
        subtask_index: 1,
        parallelism: 2,
        ..subtask()
    };
    let reader: Box<dyn SourceReader> = Box::new(FakeSourceReader::new(literal, second));
    reader.run(tx, ctx).await.unwrap();
    assert!(rx.recv().await.is_none());
}

#[tokio::test]
async fn a_full_queue_stops_generation_and_cancel_still_ends_it() {
    let h = start(config(None), 10, false);
    let stats = h.rx.stats().clone();
    until(|| stats.rows() == 10).await;
    settle().await;
    assert_eq!(
        stats.total_rows(),
        10,
        "nothing beyond the bound was produced"
    );

    h.cancel.cancel();
    let result = tokio::time::timeout(Duration::from_secs(5), h.run).await;
    result
        .expect("cancel must end a blocked source")
        .unwrap()
        .unwrap();
}

#[tokio::test]
async fn pause_stops_production_until_resumed() {
    let mut h = start(config(None), 10, true);
    settle().await;
    assert_eq!(h.rx.stats().total_rows(), 0, "paused from the start");

    h.pause.send_replace(false);
    assert!(h.rx.recv().await.is_some());

    h.pause.send_replace(true);
    let at_pause = h.rx.stats().total_rows();
    // Let the source observe the pause: it may finish the batch in flight (at most
    // HAND_OVER_ROWS rows, generated before the pause), which draining lets in.
    settle().await;
    loop {
        while h.rx.try_recv().is_ok() {}
        let before = h.rx.stats().total_rows();
        settle().await;
        if h.rx.stats().total_rows() == before {
            break;
        }
    }
    let frozen = h.rx.stats().total_rows();
    assert!(
        frozen - at_pause <= weir_core::queue::HAND_OVER_ROWS as u64 + 10,
        "{} rows after the pause: more than the batch in flight and the queue",
        frozen - at_pause
    );
    settle().await;
    assert_eq!(h.rx.stats().total_rows(), frozen, "no rows while paused");
    assert_eq!(h.rx.stats().rows(), 0);

    h.pause.send_replace(false);
    assert!(h.rx.recv().await.is_some(), "production resumes");

    h.cancel.cancel();
    h.run.await.unwrap().unwrap();
}

#[tokio::test(start_paused = true)]
async fn rows_per_second_paces_generation() {
    let started = tokio::time::Instant::now();
    let mut h = start(
        FakeSourceConfig {
            rows_per_second: Some(10),
            ..config(Some(21))
        },
        1000,
        false,
    );
    let mut count = 0;
    while h.rx.recv().await.is_some() {
        count += 1;
    }
    assert_eq!(count, 21);
    // One row of burst, then 20 rows at 10/s.
    assert_eq!(started.elapsed(), Duration::from_secs(2));
    h.run.await.unwrap().unwrap();
}

#[tokio::test]
async fn a_dropped_queue_is_an_error_for_the_reader() {
    let h = start(config(None), 10, false);
    drop(h.rx);
    let result = h.run.await.unwrap();
    assert!(
        matches!(result, Err(ConnectorError::QueueClosed)),
        "{result:?}"
    );
}
