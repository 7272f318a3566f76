use std::future::Future;
use std::pin::{Pin, pin};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use super::*;
use crate::budget::ByteBudget;

/// Polls once without a runtime: tells whether the operation completed immediately.
fn poll_once<F: Future>(future: Pin<&mut F>) -> Poll<F::Output> {
    future.poll(&mut Context::from_waker(Waker::noop()))
}

fn send_now<T>(tx: &QueueSender<T>, item: T, size: u64) -> bool {
    matches!(poll_once(pin!(tx.send(item, size))), Poll::Ready(Ok(())))
}

#[test]
fn row_bound_blocks_the_next_send_until_an_item_leaves() {
    let (tx, mut rx) = bounded_queue::<u32>(2, 1_000_000);
    assert!(send_now(&tx, 1, 10));
    assert!(send_now(&tx, 2, 10));

    let mut third = pin!(tx.send(3, 10));
    assert!(poll_once(third.as_mut()).is_pending());
    assert_eq!(tx.stats().rows(), 2);

    assert_eq!(rx.try_recv(), Ok(1));
    assert!(matches!(poll_once(third.as_mut()), Poll::Ready(Ok(()))));
    assert_eq!(rx.try_recv(), Ok(2));
    assert_eq!(rx.try_recv(), Ok(3));
    assert_eq!(rx.try_recv(), Err(TryRecvError::Empty));
}

#[test]
fn byte_bound_blocks_until_enough_bytes_leave() {
    let (tx, mut rx) = bounded_queue::<&str>(100, 100);
    assert!(send_now(&tx, "a", 60));
    let mut second = pin!(tx.send("b", 50));
    assert!(poll_once(second.as_mut()).is_pending());
    assert_eq!(tx.stats().bytes(), 60);

    assert_eq!(rx.try_recv(), Ok("a"));
    assert!(matches!(poll_once(second.as_mut()), Poll::Ready(Ok(()))));
    assert_eq!(tx.stats().bytes(), 50);
    // Exactly filling the bound is allowed.
    assert!(send_now(&tx, "c", 50));
    assert_eq!(tx.stats().bytes(), 100);
    assert!(!send_now(&tx, "d", 1));
}

#[test]
fn oversize_item_waits_for_an_empty_queue_then_is_the_only_overshoot() {
    let (tx, mut rx) = bounded_queue::<&str>(100, 100);
    assert!(send_now(&tx, "small", 10));
    let mut big = pin!(tx.send("big", 500));
    assert!(poll_once(big.as_mut()).is_pending());

    assert_eq!(rx.try_recv(), Ok("small"));
    assert!(matches!(poll_once(big.as_mut()), Poll::Ready(Ok(()))));
    assert_eq!(tx.stats().bytes(), 500);
    assert_eq!(tx.stats().peak_bytes(), 500);
    // While the oversize item is queued, nothing else gets in, not even one byte.
    assert!(!send_now(&tx, "tiny", 1));
    assert_eq!(rx.try_recv(), Ok("big"));
    assert!(send_now(&tx, "tiny", 1));
}

#[test]
fn zero_byte_items_never_fail_and_fit_a_full_byte_budget() {
    let (tx, mut rx) = bounded_queue::<u8>(3, 0);
    assert!(send_now(&tx, 1, 0));
    assert!(send_now(&tx, 2, 0));
    assert!(send_now(&tx, 3, 0));
    // Only the row bound applies to them.
    assert!(!send_now(&tx, 4, 0));
    assert_eq!(rx.try_recv(), Ok(1));

    let (tx, _rx) = bounded_queue::<u8>(10, 5);
    assert!(send_now(&tx, 1, 5));
    assert!(send_now(&tx, 2, 0));
}

#[test]
fn stats_track_level_peaks_and_totals() {
    let (tx, mut rx) = bounded_queue::<u8>(10, 1000);
    for (item, size) in [(1, 100), (2, 200), (3, 300)] {
        assert!(send_now(&tx, item, size));
    }
    rx.try_recv().unwrap();
    rx.try_recv().unwrap();
    assert!(send_now(&tx, 4, 50));
    let stats = rx.stats().snapshot();
    assert_eq!(
        stats,
        QueueStatsSnapshot {
            rows: 2,
            bytes: 350,
            peak_rows: 3,
            peak_bytes: 600,
            max_rows: 10,
            max_bytes: 1000,
            total_rows: 4,
            total_bytes: 650,
            full_wait: std::time::Duration::ZERO,
        }
    );
}

#[test]
fn zero_max_rows_is_treated_as_one() {
    let (tx, _rx) = bounded_queue::<u8>(0, 100);
    assert_eq!(tx.stats().max_rows(), 1);
    assert!(send_now(&tx, 1, 1));
    assert!(!send_now(&tx, 2, 1));
}

#[tokio::test]
async fn recv_drains_then_reports_closed_when_all_senders_are_gone() {
    let (tx, mut rx) = bounded_queue::<u8>(10, 100);
    let tx2 = tx.clone();
    tx.send(1, 1).await.unwrap();
    tx2.send(2, 1).await.unwrap();
    drop(tx);
    assert_eq!(rx.try_recv(), Ok(1));
    drop(tx2);
    assert_eq!(rx.recv().await, Some(2));
    assert_eq!(rx.recv().await, None);
    assert_eq!(rx.try_recv(), Err(TryRecvError::Disconnected));
}

#[tokio::test]
async fn dropping_the_receiver_fails_pending_and_later_sends_and_frees_the_items() {
    let (tx, rx) = bounded_queue::<String>(1, 100);
    tx.send("queued".into(), 10).await.unwrap();
    let blocked = tokio::spawn({
        let tx = tx.clone();
        async move { tx.send("blocked".to_string(), 10).await }
    });
    tokio::task::yield_now().await;
    drop(rx);
    let returned = tokio::time::timeout(Duration::from_secs(5), blocked)
        .await
        .expect("a blocked sender must wake when the receiver goes away")
        .unwrap();
    assert_eq!(returned.unwrap_err().0, "blocked");
    assert!(tx.is_closed());
    assert!(tx.send("late".into(), 1).await.is_err());
    assert_eq!(tx.stats().rows(), 0);
    assert_eq!(tx.stats().bytes(), 0);
}

#[tokio::test]
async fn a_blocked_sender_is_woken_by_recv() {
    let (tx, mut rx) = bounded_queue::<u32>(1, 100);
    tx.send(1, 1).await.unwrap();
    let blocked = tokio::spawn(async move { tx.send(2, 1).await.is_ok() });
    assert_eq!(rx.recv().await, Some(1));
    let sent = tokio::time::timeout(Duration::from_secs(5), blocked).await;
    assert!(sent.expect("sender was not woken").unwrap());
    assert_eq!(rx.recv().await, Some(2));
    assert_eq!(rx.recv().await, None);
}

#[tokio::test]
async fn a_cancelled_send_enqueues_nothing_and_does_not_swallow_wakeups() {
    let (tx, mut rx) = bounded_queue::<u32>(1, 100);
    tx.send(1, 1).await.unwrap();
    {
        let mut cancelled = pin!(tx.send(99, 1));
        assert!(poll_once(cancelled.as_mut()).is_pending());
    }
    let tx2 = tx.clone();
    let waiting = tokio::spawn(async move { tx2.send(2, 1).await.is_ok() });
    assert_eq!(rx.recv().await, Some(1));
    let sent = tokio::time::timeout(Duration::from_secs(5), waiting).await;
    assert!(sent.expect("second sender was not woken").unwrap());
    drop(tx);
    assert_eq!(rx.recv().await, Some(2));
    assert_eq!(rx.recv().await, None);
    assert_eq!(rx.stats().total_rows(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_producers_and_consumer_never_exceed_the_bounds() {
    const MAX_ROWS: usize = 16;
    const MAX_BYTES: u64 = 1_000;
    const PER_PRODUCER: u64 = 5_000;
    let (tx, mut rx) = bounded_queue::<(u64, u64)>(MAX_ROWS, MAX_BYTES);
    let stats = Arc::clone(tx.stats());

    let mut producers = Vec::new();
    for producer in 0..2u64 {
        let tx = tx.clone();
        let stats = Arc::clone(&stats);
        producers.push(tokio::spawn(async move {
            for seq in 0..PER_PRODUCER {
                // Sizes 0..=299: all fit the byte bound, so the bound must hold exactly.
                let size = (seq * 7919 + producer * 13) % 300;
                tx.send((producer, seq), size).await.unwrap();
                assert!(stats.bytes() <= MAX_BYTES);
                assert!(stats.rows() <= MAX_ROWS as u64);
            }
        }));
    }
    drop(tx);

    let mut next_seq = [0u64; 2];
    while let Some((producer, seq)) = rx.recv().await {
        assert!(stats.bytes() <= MAX_BYTES);
        // Per-producer FIFO order.
        assert_eq!(seq, next_seq[producer as usize]);
        next_seq[producer as usize] += 1;
    }
    for producer in producers {
        producer.await.unwrap();
    }
    assert_eq!(next_seq, [PER_PRODUCER, PER_PRODUCER]);
    let end = stats.snapshot();
    assert!(end.peak_bytes <= MAX_BYTES, "{end:?}");
    assert!(end.peak_rows <= MAX_ROWS as u64, "{end:?}");
    assert_eq!(end.total_rows, 2 * PER_PRODUCER);
    assert_eq!((end.rows, end.bytes), (0, 0));
}

#[test]
fn queues_of_one_budget_together_stay_within_it() {
    let budget = Arc::new(ByteBudget::new(100));
    let (tx_a, mut rx_a) = budgeted_queue::<u32>(1000, 1_000_000, &budget);
    let (tx_b, _rx_b) = budgeted_queue::<u32>(1000, 1_000_000, &budget);
    // Each split is guaranteed 25 bytes, the other 50 are shared: a takes 75.
    let mut sent_a = 0;
    while send_now(&tx_a, 1, 5) {
        sent_a += 5;
    }
    assert_eq!(sent_a, 75);
    let mut sent_b = 0;
    while send_now(&tx_b, 2, 5) {
        sent_b += 5;
    }
    assert_eq!(sent_b, 25, "b still gets its guaranteed share");
    assert_eq!(budget.used(), 100);
    assert_eq!(tx_a.stats().bytes() + tx_b.stats().bytes(), 100);

    // A waiting sender of b is woken once an eighth of the budget has left a's queue (not
    // for every item: that would wake every waiting sender per item).
    let mut waiting = pin!(tx_b.send(3, 5));
    assert!(poll_once(waiting.as_mut()).is_pending());
    assert_eq!(rx_a.try_recv(), Ok(1));
    assert!(poll_once(waiting.as_mut()).is_pending());
    assert_eq!(rx_a.try_recv(), Ok(1));
    assert_eq!(rx_a.try_recv(), Ok(1));
    assert!(matches!(poll_once(waiting.as_mut()), Poll::Ready(Ok(()))));
    assert_eq!(budget.peak(), 100);
}

#[test]
fn a_dropped_queue_returns_its_bytes_and_share_to_the_budget() {
    let budget = Arc::new(ByteBudget::new(100));
    let (tx_a, rx_a) = budgeted_queue::<u32>(1000, 1_000_000, &budget);
    let (tx_b, _rx_b) = budgeted_queue::<u32>(1000, 1_000_000, &budget);
    assert!(send_now(&tx_a, 1, 70));
    drop(rx_a);
    drop(tx_a);
    assert_eq!(budget.live_splits(), 1);
    while send_now(&tx_b, 2, 10) {}
    assert_eq!(budget.used(), 100, "b may now use the whole budget");
}

#[tokio::test]
async fn a_sender_blocked_on_the_budget_is_woken_by_another_queue() {
    let budget = Arc::new(ByteBudget::new(80));
    let (tx_a, mut rx_a) = budgeted_queue::<u32>(1000, 1_000_000, &budget);
    let (tx_b, mut rx_b) = budgeted_queue::<u32>(1000, 1_000_000, &budget);
    // b holds more than its guaranteed share (20), a takes the rest.
    assert!(send_now(&tx_b, 0, 30));
    while send_now(&tx_a, 1, 10) {}
    assert_eq!(budget.used(), 80);
    let blocked = tokio::spawn(async move { tx_b.send(2, 10).await.is_ok() });
    tokio::task::yield_now().await;
    assert!(!blocked.is_finished());
    // Draining a (not b) frees the budget; b's sender must wake from the budget alone.
    while rx_a.try_recv().is_ok() {}
    let sent = tokio::time::timeout(Duration::from_secs(5), blocked)
        .await
        .expect("woken by the budget")
        .unwrap();
    assert!(sent);
    assert_eq!(rx_b.try_recv(), Ok(0));
    assert_eq!(rx_b.try_recv(), Ok(2));
}

/// Only a send that found no room counts its wait, from the first refusal to its admission.
#[tokio::test]
async fn a_send_that_waits_for_room_counts_its_wait() {
    let began = std::time::Instant::now();
    let (tx, mut rx) = bounded_queue::<u8>(1, 100);
    tx.send(1, 1).await.unwrap();
    assert_eq!(
        tx.stats().full_wait(),
        std::time::Duration::ZERO,
        "no wait yet"
    );
    let blocked = tokio::spawn({
        let tx = tx.clone();
        async move { tx.send(2, 1).await.is_ok() }
    });
    // On this single-threaded runtime, yielding runs the spawned send: it finds the queue
    // full and waits.
    tokio::task::yield_now().await;
    assert!(!blocked.is_finished(), "the second send found room");
    assert_eq!(rx.recv().await, Some(1));
    assert!(blocked.await.unwrap());
    let waited = tx.stats().full_wait();
    assert!(
        waited > std::time::Duration::ZERO,
        "the blocked send counted nothing"
    );
    assert!(
        waited <= began.elapsed(),
        "{waited:?} > the test's own time"
    );
    assert_eq!(rx.stats().snapshot().full_wait, waited);
}

fn batch_of<T>(items: impl IntoIterator<Item = (T, u64)>) -> VecDeque<(T, u64)> {
    items.into_iter().collect()
}

#[test]
fn a_batch_is_admitted_as_far_as_it_fits_and_the_rest_waits_in_order() {
    let (tx, mut rx) = bounded_queue::<u32>(3, 100);
    let mut batch = batch_of([(1, 10), (2, 10), (3, 10), (4, 10), (5, 10)]);
    {
        let mut sending = pin!(tx.send_batch(&mut batch));
        assert!(poll_once(sending.as_mut()).is_pending());
        assert_eq!(tx.stats().rows(), 3, "the row bound holds within a batch");
        assert_eq!(tx.stats().peak_rows(), 3);

        let mut taken = Vec::new();
        let took = poll_once(pin!(rx.recv_batch(&mut taken, 2, u64::MAX)));
        assert_eq!(took, Poll::Ready(2));
        assert_eq!(taken, [1, 2]);
        assert!(matches!(poll_once(sending.as_mut()), Poll::Ready(Ok(()))));
    }
    assert!(batch.is_empty());
    let mut rest = Vec::new();
    assert_eq!(
        poll_once(pin!(rx.recv_batch(&mut rest, 10, u64::MAX))),
        Poll::Ready(3)
    );
    assert_eq!(rest, [3, 4, 5]);
    assert_eq!(tx.stats().total_rows(), 5);
    assert_eq!(tx.stats().total_bytes(), 50);
    assert_eq!((tx.stats().rows(), tx.stats().bytes()), (0, 0));
}

#[test]
fn a_batch_keeps_the_byte_bound_and_the_oversize_rule() {
    let (tx, mut rx) = bounded_queue::<&str>(100, 100);
    let mut batch = batch_of([("a", 60), ("b", 50), ("big", 500)]);
    let mut sending = pin!(tx.send_batch(&mut batch));
    assert!(poll_once(sending.as_mut()).is_pending());
    assert_eq!(tx.stats().bytes(), 60);
    assert_eq!(rx.try_recv(), Ok("a"));
    // "b" fits now; "big" waits for an empty queue.
    assert!(poll_once(sending.as_mut()).is_pending());
    assert_eq!(tx.stats().bytes(), 50);
    assert_eq!(rx.try_recv(), Ok("b"));
    assert!(matches!(poll_once(sending.as_mut()), Poll::Ready(Ok(()))));
    assert_eq!(
        tx.stats().peak_bytes(),
        500,
        "the oversize item is the only overshoot"
    );
}

#[test]
fn recv_batch_takes_past_the_first_item_only_within_its_byte_limit() {
    let (tx, mut rx) = bounded_queue::<u32>(100, 10_000);
    for (item, size) in [(1, 700), (2, 200), (3, 200), (4, 10)] {
        assert!(send_now(&tx, item, size));
    }
    let mut taken = Vec::new();
    // The first item is taken whatever its size; the second fits in 1 000, the third not.
    assert_eq!(
        poll_once(pin!(rx.recv_batch(&mut taken, 10, 1_000))),
        Poll::Ready(2)
    );
    assert_eq!(taken, [1, 2]);
    assert_eq!(tx.stats().bytes(), 210);
    taken.clear();
    assert_eq!(
        poll_once(pin!(rx.recv_batch(&mut taken, 10, 1))),
        Poll::Ready(1)
    );
    assert_eq!(taken, [3]);
}

#[tokio::test]
async fn recv_batch_waits_for_an_item_and_returns_zero_once_closed() {
    let (tx, mut rx) = bounded_queue::<u32>(10, 100);
    let mut taken = Vec::new();
    assert!(poll_once(pin!(rx.recv_batch(&mut taken, 10, 100))).is_pending());
    let producer = tokio::spawn(async move {
        let mut batch = batch_of([(7, 1), (8, 1)]);
        tx.send_batch(&mut batch).await.is_ok()
    });
    let mut got = Vec::new();
    while got.len() < 2 {
        assert!(rx.recv_batch(&mut got, 10, 100).await > 0);
    }
    assert_eq!(got, [7, 8]);
    assert!(producer.await.unwrap());
    assert_eq!(rx.recv_batch(&mut got, 10, 100).await, 0);
}

#[test]
fn a_cancelled_batch_keeps_what_was_not_admitted() {
    let (tx, mut rx) = bounded_queue::<u32>(2, 100);
    let mut batch = batch_of([(1, 1), (2, 1), (3, 1), (4, 1)]);
    {
        let mut sending = pin!(tx.send_batch(&mut batch));
        assert!(poll_once(sending.as_mut()).is_pending());
    }
    let left: Vec<u32> = batch.iter().map(|(item, _)| *item).collect();
    assert_eq!(
        left,
        [3, 4],
        "dropped before the rest fit: 3 and 4 were not enqueued"
    );
    assert_eq!(rx.try_recv(), Ok(1));
    assert_eq!(rx.try_recv(), Ok(2));
    assert_eq!(rx.try_recv(), Err(TryRecvError::Empty));
}

#[test]
fn a_batch_sent_to_a_dropped_receiver_is_handed_back() {
    let (tx, rx) = bounded_queue::<u32>(10, 100);
    drop(rx);
    let mut batch = batch_of([(1, 1), (2, 1)]);
    let Poll::Ready(Err(SendError(back))) = poll_once(pin!(tx.send_batch(&mut batch))) else {
        panic!("a send to a dropped receiver must fail at once");
    };
    assert_eq!(back.len(), 2);
    assert!(batch.is_empty());
}

#[test]
fn batches_of_queues_sharing_a_budget_stay_within_it() {
    let budget = Arc::new(ByteBudget::new(100));
    let (tx_a, mut rx_a) = budgeted_queue::<u32>(100, 1_000, &budget);
    let (tx_b, _rx_b) = budgeted_queue::<u32>(100, 1_000, &budget);
    let mut a = batch_of((0..10).map(|item| (item, 20)));
    let mut b = batch_of((0..10).map(|item| (item, 20)));
    let mut sending_a = pin!(tx_a.send_batch(&mut a));
    let mut sending_b = pin!(tx_b.send_batch(&mut b));
    assert!(poll_once(sending_a.as_mut()).is_pending());
    assert!(poll_once(sending_b.as_mut()).is_pending());
    let held = tx_a.stats().bytes() + tx_b.stats().bytes();
    assert!(held <= 100, "two batches hold {held} B of a 100 B budget");
    assert!(
        tx_b.stats().bytes() > 0,
        "the second queue got its fair share"
    );
    let mut taken = Vec::new();
    assert!(
        matches!(poll_once(pin!(rx_a.recv_batch(&mut taken, 100, u64::MAX))), Poll::Ready(n) if n > 0)
    );
    assert!(poll_once(sending_a.as_mut()).is_pending());
    let held = tx_a.stats().bytes() + tx_b.stats().bytes();
    assert!(
        held <= 100,
        "after a take, two batches hold {held} B of a 100 B budget"
    );
}
