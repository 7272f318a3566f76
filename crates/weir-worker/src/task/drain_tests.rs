//! Fair draining: the subtask takes rows from its split queues round-robin, so a split whose
//! queue is always full cannot starve one that has only a few rows.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::time::timeout;
use weir_connectors::{
    BoxFuture, ConnectorError, SinkWriter, SourceContext, SourceReader, SourceRecord,
};
use weir_core::queue::QueueSender;
use weir_core::row::{Row, Value};

use super::*;

const LIMIT: Duration = Duration::from_secs(10);
/// Rows each split queue holds.
const QUEUE_ROWS: usize = 16;
/// Rows of the cold split.
const COLD_ROWS: i64 = 8;
/// Most hot rows the sink may take before each cold row. Round-robin between batches gives
/// one batch: what the hot queue held when it was taken, at most [`QUEUE_ROWS`]; the slack of
/// a second batch covers the cold reader being scheduled after the hot one has refilled its
/// queue.
const MAX_HOT_BETWEEN: usize = 2 * QUEUE_ROWS;

fn record(split: &str, index: i64) -> (SourceRecord, u64) {
    let row = Row::new(vec![Value::String(split.into()), Value::Bigint(index)]);
    let size = row.size_bytes();
    (
        SourceRecord {
            row,
            position: index,
            more_at_position: false,
        },
        size,
    )
}

/// Sends rows for as long as it runs: its queue is full whenever the sink looks.
struct HotReader;

impl SourceReader for HotReader {
    fn run(
        self: Box<Self>,
        out: QueueSender<SourceRecord>,
        ctx: SourceContext,
    ) -> BoxFuture<'static, Result<(), ConnectorError>> {
        Box::pin(async move {
            for index in 0.. {
                let (record, size) = record("hot", index);
                tokio::select! {
                    () = ctx.cancel.cancelled() => return Ok(()),
                    sent = out.send(record, size) => {
                        sent.map_err(|_| ConnectorError::QueueClosed)?;
                    }
                }
            }
            Ok(())
        })
    }
}

/// Sends [`COLD_ROWS`] rows, then ends.
struct ColdReader;

impl SourceReader for ColdReader {
    fn run(
        self: Box<Self>,
        out: QueueSender<SourceRecord>,
        _ctx: SourceContext,
    ) -> BoxFuture<'static, Result<(), ConnectorError>> {
        Box::pin(async move {
            for index in 0..COLD_ROWS {
                let (record, size) = record("cold", index);
                out.send(record, size)
                    .await
                    .map_err(|_| ConnectorError::QueueClosed)?;
            }
            Ok(())
        })
    }
}

/// Takes one row per write, yielding in each so that the readers can refill their queues,
/// and records which split each row came from.
#[derive(Clone, Default)]
struct OrderSink(Arc<Mutex<Vec<String>>>);

impl OrderSink {
    fn order(&self) -> Vec<String> {
        self.0.lock().unwrap().clone()
    }
}

impl SinkWriter for OrderSink {
    fn write(&mut self, row: Row) -> BoxFuture<'_, Result<(), ConnectorError>> {
        if let Some(Value::String(split)) = row.values.first() {
            self.0.lock().unwrap().push(split.clone());
        }
        Box::pin(async {
            tokio::task::yield_now().await;
            Ok(())
        })
    }

    fn flush(&mut self) -> BoxFuture<'_, Result<(), ConnectorError>> {
        Box::pin(async { Ok(()) })
    }
}

fn start_hot_and_cold(sink: OrderSink) -> RunningTask {
    let readers: Vec<(String, Box<dyn SourceReader>)> = vec![
        ("hot".into(), Box::new(HotReader)),
        ("cold".into(), Box::new(ColdReader)),
    ];
    super::tests::start_pipeline(readers, Box::new(sink), QUEUE_ROWS, "OrderSink")
}

#[tokio::test]
async fn a_cold_split_is_drained_between_the_rows_of_a_hot_one() {
    let sink = OrderSink::default();
    let mut task = start_hot_and_cold(sink.clone());
    let cold_rows = |order: &[String]| order.iter().filter(|split| *split == "cold").count();
    let all_cold = async {
        while cold_rows(&sink.order()) < COLD_ROWS as usize {
            tokio::task::yield_now().await;
        }
    };
    timeout(LIMIT, all_cold)
        .await
        .unwrap_or_else(|_| panic!("the cold split starved: {:?}", sink.order()));
    let order = sink.order();
    // The hot split's queue is still full (but for the row just taken) after the last cold
    // row: the cold rows did not wait for it to run dry.
    let hot = &task.metrics().splits[0];
    assert_eq!(hot.split, "hot");
    assert!(hot.queue_rows >= QUEUE_ROWS as u64 - 1, "{hot:?}");

    let mut hot_since_cold = 0;
    let mut gaps = Vec::new();
    for split in &order {
        if split == "hot" {
            hot_since_cold += 1;
        } else {
            gaps.push(hot_since_cold);
            hot_since_cold = 0;
        }
    }
    assert_eq!(gaps.len(), COLD_ROWS as usize);
    assert!(
        gaps.iter().all(|&gap| gap <= MAX_HOT_BETWEEN),
        "hot rows before each cold row: {gaps:?} (order {order:?})"
    );

    task.cancel();
    assert_eq!(
        timeout(LIMIT, task.wait()).await.unwrap(),
        TaskOutcome::Cancelled
    );
}

/// Sends nothing until released, then one row, then ends.
struct HeldReader(tokio::sync::oneshot::Receiver<()>);

impl SourceReader for HeldReader {
    fn run(
        self: Box<Self>,
        out: QueueSender<SourceRecord>,
        _ctx: SourceContext,
    ) -> BoxFuture<'static, Result<(), ConnectorError>> {
        Box::pin(async move {
            let _ = self.0.await;
            let (record, size) = record("held", 0);
            out.send(record, size)
                .await
                .map_err(|_| ConnectorError::QueueClosed)
        })
    }
}

/// Where the time goes: an empty queue shows as idle time while it lasts (not only once a
/// row comes), a sink write that does not complete at once as sink wait, and a reader whose
/// queue is full as queue-full time.
#[tokio::test]
async fn idle_sink_wait_and_full_queues_are_timed() {
    let (release, held) = tokio::sync::oneshot::channel();
    let readers: Vec<(String, Box<dyn SourceReader>)> =
        vec![("held".into(), Box::new(HeldReader(held)))];
    let mut task = super::tests::start_pipeline(
        readers,
        Box::new(OrderSink::default()),
        QUEUE_ROWS,
        "OrderSink",
    );
    let first = task.metrics().idle;
    let growing = async {
        while task.metrics().idle <= first {
            tokio::task::yield_now().await;
        }
    };
    timeout(LIMIT, growing)
        .await
        .expect("idle time grows while the queue stays empty");
    assert_eq!(
        task.metrics().sink_wait,
        Duration::ZERO,
        "nothing written yet"
    );
    release.send(()).unwrap();
    let written = async {
        while task.metrics().rows_written < 1 {
            tokio::task::yield_now().await;
        }
    };
    timeout(LIMIT, written)
        .await
        .expect("the held row is written");
    // OrderSink's write yields once: it did not complete at once.
    assert!(task.metrics().sink_wait > Duration::ZERO);
    // Its only reader ended: the input is bounded and the task finishes.
    assert_eq!(
        timeout(LIMIT, task.wait()).await.unwrap(),
        TaskOutcome::Finished
    );

    // The hot reader's queue is full whenever the sink looks: its sends wait for room.
    let mut task = start_hot_and_cold(OrderSink::default());
    let full = async {
        while task.metrics().queue_full_wait.is_zero() {
            tokio::task::yield_now().await;
        }
    };
    timeout(LIMIT, full)
        .await
        .expect("the hot reader waits for room");
    let metrics = task.metrics();
    assert!(
        !metrics.splits[0].queue_full_wait.is_zero(),
        "{:?}",
        metrics.splits[0]
    );
    task.cancel();
    assert_eq!(
        timeout(LIMIT, task.wait()).await.unwrap(),
        TaskOutcome::Cancelled
    );
}
