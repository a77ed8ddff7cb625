//! Step 1: one broadcast channel.
//!
//! A chat room is a broadcast: every message goes to every member. Before any networking,
//! this step builds that one piece by hand, checks it with loom, and runs it next to
//! `tokio::sync::broadcast`, which the later steps use.
//!
//! | idea | where |
//! |---|---|
//! | a ring of the last `capacity` messages, one cursor per receiver | `channel.rs`: `State`, `Receiver` |
//! | lag counted exactly, then catch-up from the oldest kept message | `channel.rs`: `take_next` |
//! | close: `Closed` after draining, every waiting receiver woken | `channel.rs`: `Drop for Sender` |
//! | waiting without losing a wake-up (waker registered under the lock) | `channel.rs`: `poll_recv` |
//! | one source file, checked on std and on loom, no `cfg` flag | `sync.rs`, `tests/loom_channel.rs` |
//! | a lost-wakeup bug that loom finds and an ordinary test misses | `channel.rs`: `recv_lost_wakeup`, `channel_tests.rs` |
//! | one producer, several consumer tasks, tokio's channel side by side | `demo.rs`, `main.rs` |

pub mod channel;
pub mod demo;
mod sync;

#[cfg(test)]
mod channel_tests;
