//! A connection's outbox: the frames waiting for its writer task, bounded in frames and
//! in bytes.
//!
//! Two halves. [`Queue`] is the rule alone, with no locks and no tasks: what fits, and
//! when a client counts as too slow. [`Outbox`] shares a queue between the rooms that
//! push into it (many threads, never waiting) and the one writer task that empties it
//! (waiting for frames), and lets the connection's reader wait until its client has
//! caught up, and ask the writer for a ping.

use std::collections::VecDeque;
use std::sync::{Mutex, MutexGuard, PoisonError};

use axum::extract::ws::Utf8Bytes;
use tokio::sync::Notify;

/// How much may wait in one outbox (see `Config::limits`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OutboxLimits {
    /// At most this many frames (`--queue-capacity`).
    pub frames: usize,
    /// At most this many bytes of JSON, summed over the waiting frames. One frame larger
    /// than this is still accepted into an empty queue, so that no single frame (a
    /// `welcome` listing a huge room, say) can be impossible to deliver.
    pub bytes: usize,
}

/// The frames waiting for one client, oldest first.
#[derive(Debug)]
pub struct Queue {
    limits: OutboxLimits,
    /// Each frame is a reference-counted handle to JSON that every recipient shares: a
    /// frame in a hundred queues is in memory once.
    frames: VecDeque<Utf8Bytes>,
    /// The sum of the frames' lengths, kept up to date so that checking the byte bound
    /// costs nothing.
    bytes: usize,
}

/// A push that did not fit: the client is this far behind, and is dropped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Overflow {
    /// How many frames were waiting.
    pub frames: usize,
    /// How many bytes they held.
    pub bytes: usize,
}

impl Queue {
    pub fn new(limits: OutboxLimits) -> Queue {
        Queue {
            limits,
            frames: VecDeque::new(),
            bytes: 0,
        }
    }

    /// Adds `frame` at the back, unless the queue already holds `limits.frames` frames or
    /// `frame` would take it over `limits.bytes` (an empty queue takes any one frame).
    /// A refused frame changes nothing; what to do about it is the caller's decision.
    pub fn push(&mut self, frame: Utf8Bytes) -> Result<(), Overflow> {
        let too_many = self.frames.len() >= self.limits.frames;
        let too_big = !self.frames.is_empty() && self.bytes + frame.len() > self.limits.bytes;
        if too_many || too_big {
            return Err(Overflow {
                frames: self.frames.len(),
                bytes: self.bytes,
            });
        }
        self.bytes += frame.len();
        self.frames.push_back(frame);
        Ok(())
    }

    /// Moves every waiting frame, oldest first, to the end of `batch`.
    pub fn take_all(&mut self, batch: &mut Vec<Utf8Bytes>) {
        batch.extend(self.frames.drain(..));
        self.bytes = 0;
    }

    /// Whether less than half of each bound is used. The server reads the next frame
    /// from a client only while this holds for that client's own outbox.
    pub fn is_less_than_half_full(&self) -> bool {
        self.frames.len() * 2 < self.limits.frames && self.bytes * 2 < self.limits.bytes
    }

    pub fn len(&self) -> usize {
        self.frames.len()
    }

    pub fn is_empty(&self) -> bool {
        self.frames.is_empty()
    }

    pub fn bytes(&self) -> usize {
        self.bytes
    }
}

// ANCHOR: closing
/// Why an outbox was closed, which is how its connection ends. The first reason given
/// is the one that counts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Closing {
    /// The client could not keep up: its outbox overflowed, or writing to it took longer
    /// than the deadline. Closed with 1013 and this reason.
    TooSlow(String),
    /// The client broke a rule of WebSocket: closed with this code (1009, 1007, 1002).
    Refused { code: u16, reason: String },
    /// The client did not answer a ping in time (see `heartbeat`). Closed with 1001 and
    /// this reason, if the close frame can be written at once.
    Unresponsive(String),
    /// The client sent a close frame. tungstenite has queued the answer; the writer
    /// flushes it.
    ByClient,
    /// The connection failed or ended without a close frame: nobody is left to tell.
    Gone,
    /// The server is shutting down. The only reason that does not jump the queue: the
    /// writer delivers every frame already waiting, then closes with 1001.
    ShuttingDown,
}

impl Closing {
    /// Whether closing for this reason throws away the frames still waiting.
    pub fn drops_waiting_frames(&self) -> bool {
        !matches!(self, Closing::ShuttingDown)
    }
}

/// The outbox is closed: nothing more will reach this connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Closed;
// ANCHOR_END: closing

/// One connection's outbox, shared by the rooms that push into it and the writer task
/// that empties it.
pub struct Outbox {
    /// A `std` mutex: it is held for a push or a `take_all`, never across an `.await`,
    /// and it is a leaf, taken last (inside a room's lock) and never holding another.
    state: Mutex<State>,
    /// Wakes the writer: a frame arrived, a ping is due, or the outbox closed. One
    /// waiter, and
    /// `notify_one` keeps a wake-up for a writer that is not waiting yet.
    frames_ready: Notify,
    /// Wakes the reader paused in [`Outbox::wait_for_room`]: the writer took the frames.
    room_freed: Notify,
    /// Wakes everyone waiting in [`Outbox::closed`] (the reader and the writer).
    closed: Notify,
}

struct State {
    queue: Queue,
    /// The reader's heartbeat asked for a ping, and the writer has not taken the request
    /// yet. A flag, not a frame in the queue: the ping goes out ahead of the frames
    /// waiting, and two requests before the writer wakes make one ping.
    ping_due: bool,
    /// Set once, never cleared.
    closing: Option<Closing>,
}

impl Outbox {
    pub fn new(limits: OutboxLimits) -> Outbox {
        Outbox {
            state: Mutex::new(State {
                queue: Queue::new(limits),
                ping_due: false,
                closing: None,
            }),
            frames_ready: Notify::new(),
            room_freed: Notify::new(),
            closed: Notify::new(),
        }
    }

    /// Queues `frame` for the writer. Never waits, so a room can push while holding its
    /// lock. A frame that does not fit closes the outbox as [`Closing::TooSlow`]: the
    /// client is dropped, and whoever published carries on as if nothing happened.
    pub fn push(&self, frame: Utf8Bytes) -> Result<(), Closed> {
        let mut state = self.lock();
        if state.closing.is_some() {
            return Err(Closed);
        }
        match state.queue.push(frame) {
            Ok(()) => {
                drop(state);
                self.frames_ready.notify_one();
                Ok(())
            }
            Err(Overflow { frames, bytes }) => {
                let reason = format!("could not keep up: {frames} frames ({bytes} bytes) waiting");
                Self::set_closing(&mut state, Closing::TooSlow(reason));
                drop(state);
                self.wake_everyone();
                Err(Closed)
            }
        }
    }

    /// Closes the outbox for `why`, unless it is closed already. The frames still
    /// waiting are dropped, a close jumps the queue, except when the server is shutting
    /// down (see [`Closing::ShuttingDown`]).
    pub fn close(&self, why: Closing) {
        let mut state = self.lock();
        Self::set_closing(&mut state, why);
        drop(state);
        self.wake_everyone();
    }

    fn set_closing(state: &mut State, why: Closing) {
        if state.closing.is_none() {
            if why.drops_waiting_frames() {
                // Whatever was waiting will never be written: free it now, not when the
                // connection's tasks get round to ending.
                state.queue = Queue::new(state.queue.limits);
            }
            state.closing = Some(why);
        }
    }

    fn wake_everyone(&self) {
        self.frames_ready.notify_one();
        self.room_freed.notify_one();
        self.closed.notify_waiters();
    }

    /// For the reader: asks the writer to send a protocol ping before anything else it
    /// has not taken yet. Does nothing once the outbox is closed.
    pub fn request_ping(&self) {
        let mut state = self.lock();
        if state.closing.is_none() {
            state.ping_due = true;
            drop(state);
            self.frames_ready.notify_one();
        }
    }

    // ANCHOR: next_batch
    /// For the writer: waits until frames are waiting or a ping is due, then moves all
    /// the frames to `batch` and says whether to send a ping first. Returns why the
    /// outbox closed once it has and no frame is left to write.
    pub async fn next_batch(&self, batch: &mut Vec<Utf8Bytes>) -> Result<bool, Closing> {
        loop {
            {
                let mut state = self.lock();
                match &state.closing {
                    // Frames still waiting after a close are the ones a shutdown kept:
                    // they are owed to the client, and go out first (below).
                    Some(closing) if state.queue.is_empty() => return Err(closing.clone()),
                    _ => {}
                }
                if !state.queue.is_empty() || state.ping_due {
                    let ping_due = std::mem::take(&mut state.ping_due);
                    state.queue.take_all(batch);
                    drop(state);
                    self.room_freed.notify_one();
                    return Ok(ping_due);
                }
            }
            // A push between the check above and this line is not lost: `notify_one`
            // stores a permit when nobody waits, and this returns at once.
            self.frames_ready.notified().await;
        }
    }

    /// For the reader: whether it may read the client's next frame now, because the
    /// outbox is less than half full (or closed, and there is nothing left to protect).
    pub fn has_room(&self) -> bool {
        let state = self.lock();
        state.closing.is_some() || state.queue.is_less_than_half_full()
    }

    /// For the reader: returns once [`Outbox::has_room`] holds.
    pub async fn wait_for_room(&self) {
        loop {
            if self.has_room() {
                return;
            }
            self.room_freed.notified().await;
        }
    }
    // ANCHOR_END: next_batch

    /// Waits until the outbox is closed, and says why.
    pub async fn closed(&self) -> Closing {
        loop {
            // Registered before the check, so that a close between the check and the
            // wait still wakes it (`notify_waiters` keeps no permit).
            let notified = self.closed.notified();
            let mut notified = std::pin::pin!(notified);
            notified.as_mut().enable();
            if let Some(closing) = &self.lock().closing {
                return closing.clone();
            }
            notified.await;
        }
    }

    // ANCHOR: cut_short
    /// Waits until the outbox is closed for a reason that drops the waiting frames. The
    /// writer stops a write half done when this happens; a shutdown never interrupts it.
    pub async fn cut_short(&self) {
        if self.closed().await.drops_waiting_frames() {
            return;
        }
        // The first reason to close is the one that counts, so a shutdown stays a
        // shutdown: nothing will cut this writer short any more.
        std::future::pending().await
    }
    // ANCHOR_END: cut_short

    /// Why the outbox closed, if it has.
    pub fn closing(&self) -> Option<Closing> {
        self.lock().closing.clone()
    }

    /// Takes the lock. Every change under it is complete before anything can panic, so a
    /// poisoned lock still guards a consistent state.
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::time::Duration;

    use super::*;

    fn limits(frames: usize, bytes: usize) -> OutboxLimits {
        OutboxLimits { frames, bytes }
    }

    fn frame(len: usize) -> Utf8Bytes {
        "x".repeat(len).into()
    }

    #[test]
    fn the_queue_holds_at_most_its_number_of_frames() {
        let mut queue = Queue::new(limits(3, 1000));
        for _ in 0..3 {
            queue.push(frame(10)).unwrap();
        }
        assert_eq!(
            queue.push(frame(10)),
            Err(Overflow {
                frames: 3,
                bytes: 30
            })
        );
        assert_eq!(
            (queue.len(), queue.bytes()),
            (3, 30),
            "a refusal changes nothing"
        );
    }

    #[test]
    fn the_queue_holds_at_most_its_bytes_but_always_one_frame() {
        let mut queue = Queue::new(limits(100, 25));
        queue.push(frame(10)).unwrap();
        queue.push(frame(15)).unwrap();
        assert_eq!(
            queue.push(frame(1)),
            Err(Overflow {
                frames: 2,
                bytes: 25
            })
        );
        let mut batch = Vec::new();
        queue.take_all(&mut batch);
        assert_eq!(
            queue.push(frame(40)),
            Ok(()),
            "an empty queue takes any frame"
        );
        assert!(queue.push(frame(1)).is_err());
    }

    #[test]
    fn take_all_empties_the_queue_in_order_and_shares_the_bytes() {
        let mut queue = Queue::new(limits(10, 1000));
        let shared = frame(5);
        queue.push(shared.clone()).unwrap();
        queue.push("second".into()).unwrap();
        let mut batch = Vec::new();
        queue.take_all(&mut batch);
        assert_eq!(batch, [shared.clone(), "second".into()]);
        assert_eq!(batch[0].as_ptr(), shared.as_ptr(), "not a copy");
        assert!(queue.is_empty());
        assert_eq!(queue.bytes(), 0);
    }

    #[test]
    fn less_than_half_full_counts_both_bounds() {
        let mut queue = Queue::new(limits(4, 100));
        assert!(queue.is_less_than_half_full());
        queue.push(frame(10)).unwrap();
        assert!(queue.is_less_than_half_full());
        queue.push(frame(10)).unwrap();
        assert!(!queue.is_less_than_half_full(), "2 of 4 frames");
        let mut queue = Queue::new(limits(4, 100));
        queue.push(frame(50)).unwrap();
        assert!(!queue.is_less_than_half_full(), "50 of 100 bytes");
        let mut queue = Queue::new(limits(1, 100));
        assert!(queue.is_less_than_half_full());
        queue.push(frame(1)).unwrap();
        assert!(!queue.is_less_than_half_full());
    }

    #[test]
    fn an_overflow_closes_the_outbox_as_too_slow_and_frees_its_frames() {
        let outbox = Outbox::new(limits(2, 1000));
        outbox.push(frame(1)).unwrap();
        outbox.push(frame(1)).unwrap();
        assert_eq!(outbox.push(frame(1)), Err(Closed));
        let Some(Closing::TooSlow(reason)) = outbox.closing() else {
            panic!("not closed as too slow: {:?}", outbox.closing());
        };
        assert!(reason.contains("2 frames"), "{reason}");
        assert_eq!(outbox.push(frame(1)), Err(Closed), "closed for good");
        assert_eq!(outbox.lock().queue.len(), 0);
    }

    #[test]
    fn the_first_reason_to_close_is_kept() {
        let outbox = Outbox::new(limits(2, 1000));
        outbox.close(Closing::ByClient);
        outbox.close(Closing::Gone);
        assert_eq!(outbox.closing(), Some(Closing::ByClient));
    }

    #[tokio::test]
    async fn a_shutdown_refuses_new_frames_but_keeps_the_waiting_ones_for_the_writer() {
        let outbox = Outbox::new(limits(4, 1000));
        outbox.push("before".into()).unwrap();
        outbox.close(Closing::ShuttingDown);
        assert_eq!(outbox.push("after".into()), Err(Closed));
        outbox.close(Closing::Gone);
        assert_eq!(outbox.closing(), Some(Closing::ShuttingDown));
        let mut batch = Vec::new();
        outbox.next_batch(&mut batch).await.unwrap();
        assert_eq!(batch, ["before"].map(Utf8Bytes::from));
        assert_eq!(
            outbox.next_batch(&mut batch).await,
            Err(Closing::ShuttingDown)
        );
    }

    #[tokio::test(start_paused = true)]
    async fn only_a_close_that_drops_frames_cuts_the_writer_short() {
        let outbox = Outbox::new(limits(4, 1000));
        outbox.close(Closing::ShuttingDown);
        let waited = tokio::time::timeout(Duration::from_secs(3600), outbox.cut_short()).await;
        assert!(waited.is_err(), "a shutdown must let the writer finish");
        let outbox = Outbox::new(limits(4, 1000));
        outbox.close(Closing::TooSlow("could not keep up".into()));
        outbox.cut_short().await;
    }

    #[tokio::test]
    async fn the_writer_takes_everything_waiting_and_then_waits() {
        let outbox = Arc::new(Outbox::new(limits(10, 1000)));
        outbox.push("a".into()).unwrap();
        outbox.push("b".into()).unwrap();
        let mut batch = Vec::new();
        outbox.next_batch(&mut batch).await.unwrap();
        assert_eq!(batch, ["a", "b"].map(Utf8Bytes::from));

        let pusher = Arc::clone(&outbox);
        let writer = tokio::spawn(async move {
            let mut batch = Vec::new();
            outbox.next_batch(&mut batch).await.map(|_| batch)
        });
        tokio::task::yield_now().await;
        pusher.push("c".into()).unwrap();
        assert_eq!(writer.await.unwrap(), Ok(vec!["c".into()]));
    }

    #[tokio::test]
    async fn a_ping_request_wakes_the_writer_even_with_no_frames() {
        let outbox = Arc::new(Outbox::new(limits(10, 1000)));
        let writer = tokio::spawn({
            let outbox = Arc::clone(&outbox);
            async move {
                let mut batch = Vec::new();
                outbox
                    .next_batch(&mut batch)
                    .await
                    .map(|ping| (ping, batch))
            }
        });
        tokio::task::yield_now().await;
        outbox.request_ping();
        assert_eq!(writer.await.unwrap(), Ok((true, vec![])));
    }

    #[tokio::test]
    async fn a_ping_comes_with_the_frames_waiting_and_two_requests_make_one_ping() {
        let outbox = Outbox::new(limits(10, 1000));
        outbox.push("a".into()).unwrap();
        outbox.request_ping();
        outbox.request_ping();
        let mut batch = Vec::new();
        assert_eq!(outbox.next_batch(&mut batch).await, Ok(true));
        assert_eq!(batch, ["a"].map(Utf8Bytes::from));
        outbox.push("b".into()).unwrap();
        assert_eq!(outbox.next_batch(&mut batch).await, Ok(false), "one ping");
    }

    #[test]
    fn the_reader_has_room_below_half_full_and_once_closed() {
        let outbox = Outbox::new(limits(4, 1000));
        outbox.push(frame(1)).unwrap();
        assert!(outbox.has_room());
        outbox.push(frame(1)).unwrap();
        assert!(!outbox.has_room());
        outbox.close(Closing::Unresponsive("no answer".into()));
        assert!(outbox.has_room(), "nothing left to protect");
        outbox.request_ping();
        assert!(!outbox.lock().ping_due, "no ping for a closed outbox");
    }

    #[tokio::test(start_paused = true)]
    async fn the_reader_waits_until_the_writer_has_taken_the_frames() {
        let outbox = Arc::new(Outbox::new(limits(4, 1000)));
        outbox.push(frame(1)).unwrap();
        outbox.push(frame(1)).unwrap();
        let waiting = tokio::time::timeout(Duration::from_secs(60), outbox.wait_for_room());
        assert!(
            waiting.await.is_err(),
            "2 of 4 frames: the reader must wait"
        );

        let reader = tokio::spawn({
            let outbox = Arc::clone(&outbox);
            async move { outbox.wait_for_room().await }
        });
        tokio::task::yield_now().await;
        assert!(!reader.is_finished());
        outbox.next_batch(&mut Vec::new()).await.unwrap();
        reader.await.unwrap();
    }

    #[tokio::test]
    async fn closing_wakes_the_writer_the_reader_and_every_watcher() {
        let outbox = Arc::new(Outbox::new(limits(2, 1000)));
        outbox.push(frame(1)).unwrap();
        let watcher = tokio::spawn({
            let outbox = Arc::clone(&outbox);
            async move { outbox.closed().await }
        });
        tokio::task::yield_now().await;
        outbox.close(Closing::Gone);
        assert_eq!(watcher.await.unwrap(), Closing::Gone);
        assert_eq!(
            outbox.next_batch(&mut Vec::new()).await,
            Err(Closing::Gone),
            "the waiting frame was dropped"
        );
        outbox.wait_for_room().await;
    }
}
