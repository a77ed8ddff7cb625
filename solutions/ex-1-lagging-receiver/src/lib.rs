//! Exercise 1: the lagging receiver.
//!
//! The reference solution: step 1's hand-made broadcast channel with its receive path,
//! `State::take_next` in `channel.rs`, written out. The tests are the exercise's.
//! See exercises/ex-1-lagging-receiver/README.md for the task.

pub mod channel;
mod sync;
