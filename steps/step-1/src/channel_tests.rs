//! Ordinary tests of the hand-made channel, on std's mutex and tokio's runtime.
//!
//! They live here and not inside `channel.rs` because `tests/loom_channel.rs` compiles
//! `channel.rs` on its own against loom, where these tests could not run.

use crate::channel::{RecvError, SendError, TryRecvError, channel};

#[test]
fn every_receiver_gets_every_message_in_order() {
    let (tx, mut alice) = channel(4);
    let mut bob = tx.subscribe();
    for text in ["hi", "how are you?", "bye"] {
        tx.send(text).unwrap();
    }
    for receiver in [&mut alice, &mut bob] {
        assert_eq!(receiver.try_recv(), Ok("hi"));
        assert_eq!(receiver.try_recv(), Ok("how are you?"));
        assert_eq!(receiver.try_recv(), Ok("bye"));
        assert_eq!(receiver.try_recv(), Err(TryRecvError::Empty));
    }
}

#[test]
fn send_reports_how_many_receivers_it_reached() {
    let (tx, alice) = channel(2);
    assert_eq!(tx.send(1), Ok(1));
    let bob = tx.subscribe();
    assert_eq!(tx.send(2), Ok(2));
    assert_eq!(tx.receiver_count(), 2);
    drop(alice);
    drop(bob);
    assert_eq!(tx.receiver_count(), 0);
}

#[test]
fn send_without_receivers_fails_and_hands_the_message_back() {
    let (tx, alice) = channel(2);
    drop(alice);
    assert_eq!(tx.send("anyone?"), Err(SendError("anyone?")));
}

#[test]
fn a_new_subscriber_sees_only_later_messages() {
    let (tx, _alice) = channel(4);
    tx.send("before").unwrap();
    let mut bob = tx.subscribe();
    tx.send("after").unwrap();
    assert_eq!(bob.try_recv(), Ok("after"));
    assert_eq!(bob.try_recv(), Err(TryRecvError::Empty));
}

#[test]
fn a_lagging_receiver_is_told_exactly_how_many_it_missed_then_catches_up() {
    let (tx, mut carol) = channel(2);
    for n in 1..=5 {
        tx.send(n).unwrap();
    }
    // The ring kept 4 and 5; 1, 2 and 3 were overwritten before carol read them.
    assert_eq!(carol.try_recv(), Err(TryRecvError::Lagged(3)));
    assert_eq!(carol.try_recv(), Ok(4));
    assert_eq!(carol.try_recv(), Ok(5));
    assert_eq!(carol.try_recv(), Err(TryRecvError::Empty));
}

#[test]
fn lag_is_per_receiver() {
    let (tx, mut alice) = channel(2);
    let mut carol = tx.subscribe();
    for n in 1..=3 {
        tx.send(n).unwrap();
        assert_eq!(alice.try_recv(), Ok(n));
    }
    assert_eq!(carol.try_recv(), Err(TryRecvError::Lagged(1)));
    assert_eq!(carol.try_recv(), Ok(2));
    assert_eq!(alice.try_recv(), Err(TryRecvError::Empty));
}

#[test]
fn closed_comes_only_after_the_kept_messages_are_drained() {
    let (tx, mut alice) = channel(4);
    tx.send("last words").unwrap();
    drop(tx);
    assert_eq!(alice.try_recv(), Ok("last words"));
    assert_eq!(alice.try_recv(), Err(TryRecvError::Closed));
    assert_eq!(alice.try_recv(), Err(TryRecvError::Closed));
}

#[test]
fn a_lagging_receiver_hears_about_its_loss_before_the_close() {
    let (tx, mut carol) = channel(1);
    for n in 1..=3 {
        tx.send(n).unwrap();
    }
    drop(tx);
    assert_eq!(carol.try_recv(), Err(TryRecvError::Lagged(2)));
    assert_eq!(carol.try_recv(), Ok(3));
    assert_eq!(carol.try_recv(), Err(TryRecvError::Closed));
}

#[test]
fn the_channel_stays_open_while_any_sender_clone_lives() {
    let (tx, mut alice) = channel(2);
    let tx2 = tx.clone();
    drop(tx);
    assert_eq!(alice.try_recv(), Err(TryRecvError::Empty));
    tx2.send("still here").unwrap();
    assert_eq!(alice.try_recv(), Ok("still here"));
    drop(tx2);
    assert_eq!(alice.try_recv(), Err(TryRecvError::Closed));
}

#[test]
#[should_panic(expected = "capacity of at least 1")]
fn a_zero_capacity_is_refused() {
    let _ = channel::<u8>(0);
}

#[tokio::test]
async fn recv_waits_for_a_message_sent_later() {
    let (tx, mut alice) = channel(2);
    let waiting = tokio::spawn(async move { alice.recv().await });
    // Let the receiver reach its `await` before sending, so the send has a waker to wake.
    tokio::task::yield_now().await;
    tx.send("hello").unwrap();
    assert_eq!(waiting.await.unwrap(), Ok("hello"));
}

#[tokio::test]
async fn recv_reports_lag_then_the_oldest_kept_message() {
    let (tx, mut carol) = channel(2);
    for n in 1..=4 {
        tx.send(n).unwrap();
    }
    assert_eq!(carol.recv().await, Err(RecvError::Lagged(2)));
    assert_eq!(carol.recv().await, Ok(3));
}

#[tokio::test]
async fn dropping_the_last_sender_wakes_every_waiting_receiver() {
    let (tx, alice) = channel::<&str>(2);
    let bob = tx.subscribe();
    let waiting: Vec<_> = [alice, bob]
        .into_iter()
        .map(|mut receiver| tokio::spawn(async move { receiver.recv().await }))
        .collect();
    tokio::task::yield_now().await;
    drop(tx);
    for task in waiting {
        assert_eq!(task.await.unwrap(), Err(RecvError::Closed));
    }
}

/// The broken receive in `channel.rs` passes this test, which is the point: the bug needs
/// a send to land in a gap a few instructions wide, and a test that runs each side to
/// its `await` in turn never puts it there. `tests/loom_channel.rs` does.
#[tokio::test]
async fn an_ordinary_test_does_not_see_the_lost_wakeup() {
    let (tx, mut alice) = channel(2);
    let waiting = tokio::spawn(async move { alice.recv_lost_wakeup().await });
    tokio::task::yield_now().await;
    tx.send("hello").unwrap();
    assert_eq!(waiting.await.unwrap(), Ok("hello"));
}
