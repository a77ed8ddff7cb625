//! The receive path, checked through the channel's public API with `try_recv`.
//!
//! If this file and README.md ever disagree, this file is right.

use ex_1_lagging_receiver::channel::{TryRecvError, channel};

#[test]
fn a_receiver_that_keeps_up_gets_every_message_in_order() {
    let (tx, mut alice) = channel(2);
    for n in 1..=5 {
        tx.send(n).unwrap();
        assert_eq!(alice.try_recv(), Ok(n));
    }
}

#[test]
fn nothing_new_is_empty_not_closed() {
    let (tx, mut alice) = channel(2);
    assert_eq!(alice.try_recv(), Err(TryRecvError::Empty));
    tx.send("hi").unwrap();
    assert_eq!(alice.try_recv(), Ok("hi"));
    assert_eq!(alice.try_recv(), Err(TryRecvError::Empty));
}

#[test]
fn every_receiver_reads_at_its_own_pace() {
    let (tx, mut alice) = channel(4);
    let mut bob = tx.subscribe();
    tx.send("one").unwrap();
    tx.send("two").unwrap();
    assert_eq!(alice.try_recv(), Ok("one"));
    assert_eq!(alice.try_recv(), Ok("two"));
    assert_eq!(bob.try_recv(), Ok("one"));
    tx.send("three").unwrap();
    assert_eq!(bob.try_recv(), Ok("two"));
    assert_eq!(bob.try_recv(), Ok("three"));
    assert_eq!(alice.try_recv(), Ok("three"));
}

#[test]
fn a_receiver_that_fell_behind_is_told_exactly_how_many_it_missed() {
    let (tx, mut carol) = channel(2);
    for n in 1..=5 {
        tx.send(n).unwrap();
    }
    // The ring kept 4 and 5: 1, 2 and 3 were overwritten before carol read them.
    assert_eq!(carol.try_recv(), Err(TryRecvError::Lagged(3)));
}

#[test]
fn after_the_lag_report_it_goes_on_from_the_oldest_kept_message() {
    let (tx, mut carol) = channel(2);
    for n in 1..=5 {
        tx.send(n).unwrap();
    }
    assert!(matches!(carol.try_recv(), Err(TryRecvError::Lagged(_))));
    assert_eq!(carol.try_recv(), Ok(4));
    assert_eq!(carol.try_recv(), Ok(5));
    assert_eq!(carol.try_recv(), Err(TryRecvError::Empty));
}

#[test]
fn a_receiver_that_had_read_some_loses_only_the_rest() {
    let (tx, mut carol) = channel(3);
    tx.send(1).unwrap();
    tx.send(2).unwrap();
    assert_eq!(carol.try_recv(), Ok(1));
    for n in 3..=7 {
        tx.send(n).unwrap();
    }
    // Kept: 5, 6, 7. carol wanted 2 next, so she lost 2, 3 and 4.
    assert_eq!(carol.try_recv(), Err(TryRecvError::Lagged(3)));
    assert_eq!(carol.try_recv(), Ok(5));
}

#[test]
fn received_plus_missed_is_exactly_what_was_sent() {
    let (tx, mut carol) = channel(3);
    let (mut received, mut missed) = (Vec::new(), 0);
    for n in 1..=20 {
        tx.send(n).unwrap();
        // carol reads now and then, one message at a time.
        if n % 5 == 0 {
            match carol.try_recv() {
                Ok(message) => received.push(message),
                Err(TryRecvError::Lagged(n)) => missed += n,
                Err(other) => panic!("unexpected {other:?}"),
            }
        }
    }
    drop(tx);
    loop {
        match carol.try_recv() {
            Ok(message) => received.push(message),
            Err(TryRecvError::Lagged(n)) => missed += n,
            Err(TryRecvError::Closed) => break,
            Err(TryRecvError::Empty) => panic!("Empty after every sender is gone"),
        }
    }
    assert_eq!(received.len() as u64 + missed, 20);
    assert!(received.windows(2).all(|pair| pair[0] < pair[1]));
    assert_eq!(received.last(), Some(&20));
}

#[test]
fn closed_comes_only_after_the_kept_messages_are_read() {
    let (tx, mut alice) = channel(4);
    tx.send("last words").unwrap();
    drop(tx);
    assert_eq!(alice.try_recv(), Ok("last words"));
    assert_eq!(alice.try_recv(), Err(TryRecvError::Closed));
    assert_eq!(alice.try_recv(), Err(TryRecvError::Closed));
}

#[test]
fn a_lagging_receiver_hears_of_its_loss_before_the_close() {
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
fn the_channel_is_open_while_any_sender_clone_lives() {
    let (tx, mut alice) = channel::<&str>(2);
    let tx2 = tx.clone();
    drop(tx);
    assert_eq!(alice.try_recv(), Err(TryRecvError::Empty));
    drop(tx2);
    assert_eq!(alice.try_recv(), Err(TryRecvError::Closed));
}

#[test]
fn a_late_subscriber_starts_with_the_next_message() {
    let (tx, _alice) = channel(4);
    tx.send("before").unwrap();
    let mut bob = tx.subscribe();
    assert_eq!(bob.try_recv(), Err(TryRecvError::Empty));
    tx.send("after").unwrap();
    assert_eq!(bob.try_recv(), Ok("after"));
}
