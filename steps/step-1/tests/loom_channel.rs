//! loom models of the hand-made broadcast channel.
//!
//! loom runs each model many times, once for every meaningful interleaving of its threads
//! (up to a bound on preemptions), and fails if any run breaks an assertion or leaves
//! every thread blocked. It only sees the operations of its own types, so the code under
//! test must use `loom::sync` instead of `std::sync`. We get that without a `cfg` flag:
//! this test crate has its own `sync` module, and compiles `src/channel.rs` as a module
//! of its own, where `crate::sync` now means loom.
//!
//! It all runs under a plain `cargo test`, in a second or two.

// ANCHOR: loom_sync
/// What `crate::sync` means inside this test crate: loom's types, under std's names.
mod sync {
    pub use loom::sync::{Arc, Mutex, MutexGuard};
}

/// The real channel, compiled against the `sync` module above.
#[allow(dead_code)] // these models use only part of the channel's API
#[path = "../src/channel.rs"]
mod channel;
// ANCHOR_END: loom_sync

use channel::{Receiver, RecvError, channel};
use loom::future::block_on;
use loom::sync::atomic::AtomicBool;
use loom::thread;
use std::pin::pin;
use std::sync::atomic::Ordering::SeqCst;
use std::task::{Context, Wake, Waker};

// ANCHOR: model
/// Checks `model` under every interleaving with at most `PREEMPTIONS` forced thread
/// switches. Bugs need few preemptions to show, and each one more multiplies the runs,
/// so a small bound keeps the models fast. Set here, not in the environment, so that a
/// plain `cargo test` is the whole command.
fn check(model: impl Fn() + Sync + Send + 'static) {
    // 2 is the smallest bound that finds the lost wake-up below; 3 makes this file take
    // about 19 s instead of half a second.
    const PREEMPTIONS: usize = 2;
    let mut builder = loom::model::Builder::new();
    builder.preemption_bound = Some(PREEMPTIONS);
    builder.check(model);
}
// ANCHOR_END: model

/// What one receiver saw by reading until `Closed`.
#[derive(Debug, Default)]
struct Drained {
    messages: Vec<u32>,
    lagged: u64,
}

/// Reads until the channel is closed, recording messages and lag reports. Bounded, so
/// that a cursor that never moves fails the model instead of spinning forever.
fn drain(mut receiver: Receiver<u32>) -> Drained {
    let mut drained = Drained::default();
    for _ in 0..16 {
        match block_on(receiver.recv()) {
            Ok(message) => drained.messages.push(message),
            Err(RecvError::Lagged(missed)) => drained.lagged += missed,
            Err(RecvError::Closed) => return drained,
        }
    }
    panic!("no Closed after 16 receives: {drained:?}");
}

// ANCHOR: fan_out_model
/// With room for everything, each of two concurrent receivers gets every message once,
/// in order, whatever the interleaving of sends and receives.
#[test]
fn every_receiver_sees_every_message_once_in_order() {
    check(|| {
        let (tx, alice) = channel(2);
        let bob = tx.subscribe();
        let alice = thread::spawn(move || drain(alice));
        let bob = thread::spawn(move || drain(bob));

        tx.send(1).unwrap();
        tx.send(2).unwrap();
        drop(tx);

        for receiver in [alice, bob] {
            let drained = receiver.join().unwrap();
            assert_eq!(drained.messages, [1, 2]);
            assert_eq!(drained.lagged, 0);
        }
    });
}
// ANCHOR_END: fan_out_model

// ANCHOR: lag_model
/// With room for one message, a receiver racing three sends may lose some, but never
/// silently: what it received plus what it was told it lost is exactly what was sent,
/// what it received is in order with no repeats, and the last message always arrives.
#[test]
fn received_plus_lagged_is_exactly_what_was_sent() {
    check(|| {
        const SENT: u32 = 3;
        let (tx, carol) = channel(1);
        let carol = thread::spawn(move || drain(carol));

        for message in 1..=SENT {
            tx.send(message).unwrap();
        }
        drop(tx);

        let drained = carol.join().unwrap();
        assert_eq!(
            drained.messages.len() as u64 + drained.lagged,
            u64::from(SENT)
        );
        assert!(drained.messages.windows(2).all(|pair| pair[0] < pair[1]));
        assert_eq!(drained.messages.last(), Some(&SENT));
    });
}
// ANCHOR_END: lag_model

// ANCHOR: close_model
/// Two receivers wait on an empty channel; dropping the only sender must wake both.
/// If `Drop for Sender` forgot one, that thread would sleep forever and loom would
/// report a deadlock instead of letting the model finish.
#[test]
fn closing_wakes_every_waiting_receiver() {
    check(|| {
        let (tx, alice) = channel::<u32>(1);
        let bob = tx.subscribe();
        let alice = thread::spawn(move || drain(alice));
        let bob = thread::spawn(move || drain(bob));

        drop(tx);

        for receiver in [alice, bob] {
            assert!(receiver.join().unwrap().messages.is_empty());
        }
    });
}
// ANCHOR_END: close_model

// ANCHOR: wake_probe
/// A waker that only remembers that it was woken.
///
/// The lost-wakeup models poll `recv` once with it instead of blocking in `block_on`,
/// and then ask the question directly: "this receiver is waiting and a message is there;
/// was it woken?" Blocking would also expose the bug, as a deadlock, but loom 0.7 reports
/// a deadlock by panicking while other model threads are still parked; unwinding them can
/// panic again inside loom, and then the whole test binary aborts (it does for this
/// model): red, but useless to `should_panic`.
struct WakeProbe(AtomicBool);

impl Wake for WakeProbe {
    fn wake(self: std::sync::Arc<Self>) {
        self.0.store(true, SeqCst);
    }
}

/// Polls a receive once, on its own loom thread, while the model thread sends one
/// message. Fails if the receiver ended up waiting without being woken.
fn assert_no_lost_wakeup(is_waiting_after_one_poll: fn(&mut Receiver<u32>, &Waker) -> bool) {
    check(move || {
        let (tx, alice) = channel(1);
        let probe = std::sync::Arc::new(WakeProbe(AtomicBool::new(false)));
        let waker = Waker::from(std::sync::Arc::clone(&probe));
        let alice = thread::spawn(move || {
            let mut alice = alice;
            let waiting = is_waiting_after_one_poll(&mut alice, &waker);
            // Hand the receiver back: dropping it here would make the send fail.
            (alice, waiting)
        });

        tx.send(1).unwrap();

        let (_alice, waiting) = alice.join().unwrap();
        assert!(
            !waiting || probe.0.load(SeqCst),
            "lost wake-up: the receiver waits, a message is there, and nobody will wake it"
        );
    });
}
// ANCHOR_END: wake_probe

// ANCHOR: lost_wakeup_model
/// The deliberately broken `recv_lost_wakeup`: loom finds the run in which the send lands
/// between the receiver's check and its registration. The test passes because the
/// assertion inside the model fails.
#[test]
#[should_panic(expected = "lost wake-up")]
fn loom_catches_the_lost_wakeup() {
    assert_no_lost_wakeup(|alice, waker| {
        let mut receive = pin!(alice.recv_lost_wakeup());
        receive
            .as_mut()
            .poll(&mut Context::from_waker(waker))
            .is_pending()
    });
}

/// The same model with the real `recv` passes: the one difference is where the waker is
/// registered.
#[test]
fn the_real_recv_has_no_lost_wakeup() {
    assert_no_lost_wakeup(|alice, waker| {
        let mut receive = pin!(alice.recv());
        receive
            .as_mut()
            .poll(&mut Context::from_waker(waker))
            .is_pending()
    });
}
// ANCHOR_END: lost_wakeup_model
