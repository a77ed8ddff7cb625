//! The one door through which `channel.rs` reaches synchronization primitives.
//!
//! In the program these are the standard library's. The loom test
//! (`tests/loom_channel.rs`) compiles `channel.rs` inside a crate whose own `sync`
//! module exports loom's types under the same names, so the very same source is
//! model-checked without a single `cfg` in it.

pub use std::sync::{Arc, Mutex, MutexGuard};
