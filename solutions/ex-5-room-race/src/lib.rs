//! Exercise 5: the room race.
//!
//! A learner's copy of the room registry of step 5, without the channels: rooms, their
//! members, and the rule that a room exists exactly while someone is in it. `join` and
//! `leave` in `registry.rs` work when one thread calls them at a time, and go wrong when
//! two threads race. README.md says what to fix; `cargo test` (loom) says whether it is
//! fixed.

pub mod registry;
mod sync;
