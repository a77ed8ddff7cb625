//! Exercise 6: the outbox.
//!
//! A learner's copy of the queue inside step 6's outbox (`steps/step-6/src/outbox.rs`):
//! the frames waiting for one client, bounded in frames and in bytes. The rooms push
//! into it and never wait; a push that does not fit means the client is too far behind,
//! and the server drops it. The types are written; `push`, `take_all` and
//! `is_less_than_half_full` are yours. README.md says what each must do; `cargo test`
//! says whether it does.

use std::collections::VecDeque;

use axum::extract::ws::Utf8Bytes;

/// How much may wait in one outbox.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OutboxLimits {
    /// At most this many frames (the server's `--queue-capacity`).
    pub frames: usize,
    /// At most this many bytes, summed over the waiting frames. One frame larger than
    /// this is still accepted into an empty queue.
    pub bytes: usize,
}

/// A push that did not fit: the client is this far behind, and is dropped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Overflow {
    /// How many frames were waiting when the push was refused.
    pub frames: usize,
    /// How many bytes they held.
    pub bytes: usize,
}

/// The frames waiting for one client, oldest first.
#[derive(Debug)]
pub struct Queue {
    limits: OutboxLimits,
    /// Reference-counted handles: a frame waiting for a hundred clients is in memory
    /// once.
    frames: VecDeque<Utf8Bytes>,
    /// The sum of the waiting frames' lengths in bytes (`Utf8Bytes::len`).
    bytes: usize,
}

impl Queue {
    pub fn new(limits: OutboxLimits) -> Queue {
        Queue {
            limits,
            frames: VecDeque::new(),
            bytes: 0,
        }
    }

    /// Adds `frame` at the back, unless
    ///
    /// - `limits.frames` frames are already waiting, or
    /// - the queue is not empty and `frame` would take the waiting bytes over
    ///   `limits.bytes`.
    ///
    /// A refused frame changes nothing, and the error says how many frames and bytes
    /// were waiting.
    pub fn push(&mut self, frame: Utf8Bytes) -> Result<(), Overflow> {
        let _ = frame;
        todo!("check both bounds, then queue the frame and count its bytes")
    }

    /// Moves every waiting frame, oldest first, to the end of `batch` (keeping what
    /// `batch` already holds), and leaves the queue empty.
    pub fn take_all(&mut self, batch: &mut Vec<Utf8Bytes>) {
        let _ = batch;
        todo!("move the frames to `batch` and reset the byte count")
    }

    /// Whether less than half of each bound is in use: fewer frames than half of
    /// `limits.frames` *and* fewer bytes than half of `limits.bytes`. The server reads
    /// the next frame from a client only while this holds for that client's own queue.
    pub fn is_less_than_half_full(&self) -> bool {
        todo!("compare what is waiting with half of each bound")
    }

    /// The bounds this queue was made with.
    pub fn limits(&self) -> OutboxLimits {
        self.limits
    }

    /// How many frames are waiting.
    pub fn len(&self) -> usize {
        self.frames.len()
    }

    pub fn is_empty(&self) -> bool {
        self.frames.is_empty()
    }

    /// How many bytes the waiting frames hold.
    pub fn bytes(&self) -> usize {
        self.bytes
    }
}
