// A small bounded broadcast channel: your copy of step 1's `channel.rs`.
//
// Every message goes to every receiver. The channel keeps only the last `capacity`
// messages, in a ring. A receiver that falls further behind than that does not slow the
// sender down: it is told how many messages it lost (`Lagged(n)`) and goes on from the
// oldest message still kept. Only the receive path, `State::take_next`, is missing.
//
// (Plain `//` comments up here, not `//!`: `tests/loom_lagging.rs` pastes this file into
// a module with `include!`, where inner doc comments are not allowed.)

use std::future::poll_fn;
use std::task::{Context, Poll, Waker};

use crate::sync::{Arc, Mutex, MutexGuard};

/// Creates a channel that keeps the last `capacity` messages.
///
/// # Panics
///
/// If `capacity` is zero: a channel that keeps nothing could deliver nothing.
pub fn channel<T: Clone>(capacity: usize) -> (Sender<T>, Receiver<T>) {
    assert!(
        capacity > 0,
        "a broadcast channel needs a capacity of at least 1"
    );
    let state = State {
        ring: (0..capacity).map(|_| None).collect(),
        next_seq: 0,
        senders: 1,
        receivers: 1,
        waiters: Vec::new(),
    };
    let shared = Arc::new(Mutex::new(state));
    let receiver = Receiver {
        shared: Arc::clone(&shared),
        next: 0,
    };
    (Sender { shared }, receiver)
}

/// Everything the senders and receivers share, behind one mutex.
///
/// One lock for everything keeps the reasoning small: whoever holds it sees a consistent
/// ring, counts and waiter list. It is held for a few instructions and never across an
/// `.await`, so a plain blocking mutex is the right tool, not an async one.
struct State<T> {
    /// The last `capacity` messages: message number `seq` lives in slot `seq % capacity`.
    /// A send overwrites the oldest slot, which is how the channel stays bounded without
    /// ever making a sender wait for a slow receiver.
    ring: Box<[Option<T>]>,
    /// The sequence number the next message will get, which is also how many messages
    /// were ever sent. The oldest message still kept is `next_seq - capacity` (or 0).
    next_seq: u64,
    /// Live `Sender`s. When the last one goes, nothing new can arrive: receivers drain
    /// what is kept and then see `Closed`.
    senders: usize,
    /// Live `Receiver`s. `send` reports it, and fails at zero, because a message that
    /// nobody can ever read is something the caller wants to hear about.
    receivers: usize,
    /// Wakers of the tasks waiting in `recv`. A receiver adds its waker while it still
    /// holds the lock under which it saw "nothing new", so no send can slip in between
    /// and be missed.
    waiters: Vec<Waker>,
}

/// The sending half. Clone it to have several producers; the channel closes when the
/// last clone is dropped.
pub struct Sender<T> {
    /// Shared with every other sender and receiver of this channel.
    shared: Arc<Mutex<State<T>>>,
}

/// The receiving half: one cursor into the shared ring.
pub struct Receiver<T> {
    /// Shared with every other sender and receiver of this channel.
    shared: Arc<Mutex<State<T>>>,
    /// The sequence number of the next message this receiver wants. Each receiver has its
    /// own, so a slow one holds back nobody but itself.
    next: u64,
}

/// No receiver is left, so the message was not sent; here it is back.
#[derive(Debug, PartialEq, Eq)]
pub struct SendError<T>(pub T);

/// Why `recv` returned no message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecvError {
    /// This receiver fell behind, and this many messages were overwritten before it read
    /// them. The next `recv` returns the oldest message still kept.
    Lagged(u64),
    /// Every sender is gone and this receiver has read everything that was kept.
    Closed,
}

/// Why `try_recv` returned no message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TryRecvError {
    /// Nothing new yet, but a sender is still there: try again later.
    Empty,
    /// As [`RecvError::Lagged`].
    Lagged(u64),
    /// As [`RecvError::Closed`].
    Closed,
}

impl<T> Sender<T> {
    /// Sends `message` to every receiver and returns how many receivers there are.
    ///
    /// Never waits: when the ring is full the oldest message is overwritten, and the
    /// receivers that had not read it yet will see `Lagged`.
    pub fn send(&self, message: T) -> Result<usize, SendError<T>> {
        let (receivers, waiters) = {
            let mut state = lock(&self.shared);
            if state.receivers == 0 {
                return Err(SendError(message));
            }
            let slot = state.slot(state.next_seq);
            state.ring[slot] = Some(message);
            state.next_seq += 1;
            (state.receivers, std::mem::take(&mut state.waiters))
        };
        // Wake after unlocking: the first thing a woken receiver does is take the lock.
        for waker in waiters {
            waker.wake();
        }
        Ok(receivers)
    }

    /// A new receiver that sees only the messages sent from now on, the way someone who
    /// walks into a room hears only what is said after they came in.
    pub fn subscribe(&self) -> Receiver<T> {
        let mut state = lock(&self.shared);
        state.receivers += 1;
        Receiver {
            shared: Arc::clone(&self.shared),
            next: state.next_seq,
        }
    }

    /// How many receivers a message sent now would reach.
    pub fn receiver_count(&self) -> usize {
        lock(&self.shared).receivers
    }
}

impl<T> Clone for Sender<T> {
    fn clone(&self) -> Self {
        lock(&self.shared).senders += 1;
        Sender {
            shared: Arc::clone(&self.shared),
        }
    }
}

impl<T> Drop for Sender<T> {
    fn drop(&mut self) {
        let waiters = {
            let mut state = lock(&self.shared);
            state.senders -= 1;
            if state.senders > 0 {
                return;
            }
            std::mem::take(&mut state.waiters)
        };
        // Every waiting receiver must hear that the channel closed: one left asleep here
        // would wait forever for a message that can no longer come.
        for waker in waiters {
            waker.wake();
        }
    }
}

impl<T: Clone> Receiver<T> {
    /// Waits for the next message.
    ///
    /// Cancel safe: dropping the future before it finishes loses nothing, because the
    /// cursor moves only when a message (or a lag report) is returned.
    pub async fn recv(&mut self) -> Result<T, RecvError> {
        poll_fn(|cx| self.poll_recv(cx)).await
    }

    fn poll_recv(&mut self, cx: &mut Context<'_>) -> Poll<Result<T, RecvError>> {
        let mut state = lock(&self.shared);
        match state.take_next(&mut self.next) {
            Ok(message) => Poll::Ready(Ok(message)),
            Err(TryRecvError::Lagged(missed)) => Poll::Ready(Err(RecvError::Lagged(missed))),
            Err(TryRecvError::Closed) => Poll::Ready(Err(RecvError::Closed)),
            Err(TryRecvError::Empty) => {
                // Still under the lock that showed "nothing new". A send needs this lock,
                // so it either ran before our check (and we took its message) or runs
                // after this line (and finds our waker). There is no third case.
                state.register(cx.waker());
                Poll::Pending
            }
        }
    }

    /// Takes the next message if there is one, without waiting.
    pub fn try_recv(&mut self) -> Result<T, TryRecvError> {
        lock(&self.shared).take_next(&mut self.next)
    }
}

impl<T> Drop for Receiver<T> {
    fn drop(&mut self) {
        // A waker this receiver may have left in `waiters` stays there until the next
        // send or close, which wakes its task once for nothing: harmless, and it spares
        // every receiver an identity just to find its entry.
        lock(&self.shared).receivers -= 1;
    }
}

impl<T: Clone> State<T> {
    /// The receive path shared by `recv` and `try_recv`: the message at `*next`, or why
    /// there is none. Moves the cursor past what it returns.
    ///
    /// `*next` is this receiver's cursor: the sequence number of the message it wants.
    /// Messages are numbered from 0; `self.next_seq` is the number the next send will
    /// use; the ring keeps the last `self.capacity()` messages, message `seq` in slot
    /// `self.slot(seq)`. Check, in this order:
    ///
    /// 1. Was the message at `*next` already overwritten? Then return
    ///    `Err(TryRecvError::Lagged(n))`, where `n` is exactly how many messages this
    ///    receiver lost, and move the cursor to the oldest message still kept, so that
    ///    the next call returns that one.
    /// 2. Has the receiver read everything sent so far? Then return
    ///    `Err(TryRecvError::Closed)` if no sender is left (`self.senders == 0`), else
    ///    `Err(TryRecvError::Empty)`.
    /// 3. Otherwise return `Ok` with a clone of the message at `*next`, and move the
    ///    cursor one forward.
    #[allow(unused_variables)] // until you write the body
    fn take_next(&self, next: &mut u64) -> Result<T, TryRecvError> {
        todo!("ex-1: the receive path (lag, close, next message)")
    }
}

impl<T> State<T> {
    fn capacity(&self) -> u64 {
        self.ring.len() as u64
    }

    fn slot(&self, seq: u64) -> usize {
        (seq % self.capacity()) as usize
    }

    fn register(&mut self, waker: &Waker) {
        // A task polled twice keeps one entry: the list grows with waiting tasks, not
        // with polls.
        if !self.waiters.iter().any(|waiter| waiter.will_wake(waker)) {
            self.waiters.push(waker.clone());
        }
    }
}

/// Takes the lock even if another thread panicked while holding it. The only foreign code
/// that runs under the lock is `T::clone` (before the cursor moves) and `T::drop` of an
/// overwritten message (before `next_seq` moves), so such a panic leaves the state as it
/// was; refusing the lock afterwards would only spread one panic to the whole room.
fn lock<T>(shared: &Mutex<State<T>>) -> MutexGuard<'_, State<T>> {
    shared
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}
