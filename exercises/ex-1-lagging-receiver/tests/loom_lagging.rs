//! A loom model of the receive path: whatever the interleaving of a sender and a
//! receiver, lag is counted exactly and the receiver ends with `Closed`.
//!
//! As in step 1, this test crate compiles `src/channel.rs` itself, with its own `sync`
//! module standing in for the library's, so that `crate::sync` means loom inside it.

/// What `crate::sync` means inside this test crate: loom's types, under std's names.
mod sync {
    pub use loom::sync::{Arc, Mutex, MutexGuard};
}

/// The channel under test, compiled against the `sync` module above.
///
/// Step 1 writes `#[path = "../src/channel.rs"] mod channel;`. That path would be read
/// relative to this file, which the reference solution runs from another crate, so it
/// would always find the exercise's copy. `CARGO_MANIFEST_DIR` names the crate being
/// tested instead.
#[allow(dead_code)] // the model uses only part of the channel's API
mod channel {
    include!(concat!(env!("CARGO_MANIFEST_DIR"), "/src/channel.rs"));
}

use channel::{RecvError, channel};
use ex_1_lagging_receiver::channel::TryRecvError;
use loom::future::block_on;
use loom::thread;

/// Runs the receive path once on the ordinary std build before the model. An unfinished
/// or panicking `take_next` then fails this test with its own message. Inside the model
/// the same panic would strike with the channel's lock held, and loom, which cannot take
/// a poisoned lock again, would abort the whole test binary instead.
fn receive_path_works_outside_loom() {
    let (tx, mut carol) = ex_1_lagging_receiver::channel::channel(1);
    tx.send(1).unwrap();
    tx.send(2).unwrap();
    drop(tx);
    let mut outcomes = Vec::new();
    for _ in 0..3 {
        outcomes.push(carol.try_recv());
    }
    assert_eq!(
        outcomes,
        [
            Err(TryRecvError::Lagged(1)),
            Ok(2),
            Err(TryRecvError::Closed)
        ]
    );
}

#[test]
fn lag_is_counted_exactly_under_every_interleaving() {
    receive_path_works_outside_loom();

    let mut builder = loom::model::Builder::new();
    // Few preemptions find most bugs; each one more multiplies the runs.
    builder.preemption_bound = Some(2);
    builder.check(|| {
        const SENT: u32 = 3;
        let (tx, mut carol) = channel(1);
        let producer = thread::spawn(move || {
            for message in 1..=SENT {
                tx.send(message).unwrap();
            }
        });

        let (mut received, mut missed) = (Vec::new(), 0);
        // Bounded: a cursor that never moves would otherwise spin here forever.
        let mut closed = false;
        for _ in 0..2 * SENT + 1 {
            match block_on(carol.recv()) {
                Ok(message) => received.push(message),
                Err(RecvError::Lagged(n)) => missed += n,
                Err(RecvError::Closed) => {
                    closed = true;
                    break;
                }
            }
        }
        assert!(
            closed,
            "carol never saw Closed: {received:?}, {missed} missed"
        );
        producer.join().unwrap();

        assert_eq!(received.len() as u64 + missed, u64::from(SENT));
        assert!(received.windows(2).all(|pair| pair[0] < pair[1]));
        assert_eq!(received.last(), Some(&SENT));
    });
}
