//! The rules of the outbox's queue, one behaviour per test.

use axum::extract::ws::Utf8Bytes;
use ex_6_outbox::{OutboxLimits, Overflow, Queue};

fn queue(frames: usize, bytes: usize) -> Queue {
    Queue::new(OutboxLimits { frames, bytes })
}

/// A frame of `len` bytes.
fn frame(len: usize) -> Utf8Bytes {
    "x".repeat(len).into()
}

fn take_all(queue: &mut Queue) -> Vec<Utf8Bytes> {
    let mut batch = Vec::new();
    queue.take_all(&mut batch);
    batch
}

#[test]
fn frames_come_out_in_the_order_they_went_in() {
    let mut queue = queue(10, 1000);
    for text in ["first", "second", "third"] {
        queue.push(text.into()).unwrap();
    }
    assert_eq!(
        take_all(&mut queue),
        ["first", "second", "third"].map(Utf8Bytes::from)
    );
}

#[test]
fn the_frame_after_the_last_slot_is_refused() {
    let mut queue = queue(3, 1000);
    for _ in 0..3 {
        assert_eq!(queue.push(frame(10)), Ok(()));
    }
    assert_eq!(
        queue.push(frame(10)),
        Err(Overflow {
            frames: 3,
            bytes: 30
        })
    );
}

#[test]
fn the_byte_bound_counts_every_waiting_byte() {
    let mut queue = queue(100, 25);
    queue.push(frame(10)).unwrap();
    queue.push(frame(15)).unwrap();
    assert_eq!(queue.bytes(), 25, "exactly at the bound is fine");
    assert_eq!(
        queue.push(frame(1)),
        Err(Overflow {
            frames: 2,
            bytes: 25
        })
    );
}

#[test]
fn an_empty_queue_takes_one_frame_of_any_size() {
    let mut queue = queue(100, 25);
    assert_eq!(
        queue.push(frame(40)),
        Ok(()),
        "else it could never be delivered"
    );
    assert_eq!(
        queue.push(frame(1)),
        Err(Overflow {
            frames: 1,
            bytes: 40
        })
    );
}

#[test]
fn a_refused_frame_changes_nothing() {
    let mut queue = queue(2, 1000);
    queue.push("a".into()).unwrap();
    queue.push("b".into()).unwrap();
    assert!(queue.push("c".into()).is_err());
    assert_eq!((queue.len(), queue.bytes()), (2, 2));
    assert_eq!(take_all(&mut queue), ["a", "b"].map(Utf8Bytes::from));
}

#[test]
fn take_all_appends_to_the_batch_and_empties_the_queue() {
    let mut queue = queue(10, 1000);
    queue.push("new".into()).unwrap();
    let mut batch = vec![Utf8Bytes::from("already there")];
    queue.take_all(&mut batch);
    assert_eq!(batch, ["already there", "new"].map(Utf8Bytes::from));
    assert!(queue.is_empty());
    assert_eq!(queue.bytes(), 0);
    assert_eq!(take_all(&mut queue), Vec::<Utf8Bytes>::new());
}

#[test]
fn after_take_all_the_queue_fills_again_to_the_same_bounds() {
    let mut queue = queue(2, 20);
    for round in 0..3 {
        queue.push(frame(10)).unwrap();
        queue.push(frame(10)).unwrap();
        assert!(queue.push(frame(1)).is_err(), "round {round}");
        assert_eq!(take_all(&mut queue).len(), 2);
    }
}

#[test]
fn frames_are_shared_not_copied() {
    let mut queue = queue(10, 1000);
    let shared = frame(100);
    queue.push(shared.clone()).unwrap();
    let batch = take_all(&mut queue);
    assert_eq!(
        batch[0].as_ptr(),
        shared.as_ptr(),
        "the queue holds the same bytes, not a copy of them"
    );
}

#[test]
fn less_than_half_full_counts_frames() {
    let mut queue = queue(5, 1000);
    assert!(queue.is_less_than_half_full());
    queue.push(frame(1)).unwrap();
    queue.push(frame(1)).unwrap();
    assert!(queue.is_less_than_half_full(), "2 of 5 frames");
    queue.push(frame(1)).unwrap();
    assert!(!queue.is_less_than_half_full(), "3 of 5 frames");
    take_all(&mut queue);
    assert!(queue.is_less_than_half_full());
}

#[test]
fn less_than_half_full_counts_bytes() {
    let mut queue = queue(100, 100);
    queue.push(frame(49)).unwrap();
    assert!(queue.is_less_than_half_full(), "49 of 100 bytes");
    queue.push(frame(1)).unwrap();
    assert!(!queue.is_less_than_half_full(), "50 of 100 bytes");
}

#[test]
fn a_queue_of_one_frame_is_half_full_with_one() {
    let mut queue = queue(1, 1000);
    assert!(queue.is_less_than_half_full());
    queue.push(frame(1)).unwrap();
    assert!(!queue.is_less_than_half_full());
    assert!(queue.push(frame(1)).is_err());
}
