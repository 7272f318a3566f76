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
