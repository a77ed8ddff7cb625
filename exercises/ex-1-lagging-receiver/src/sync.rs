//! The one door through which `channel.rs` reaches synchronization primitives: std's
//! here, loom's in `tests/loom_lagging.rs`, which has a `sync` module of its own.

pub use std::sync::{Arc, Mutex, MutexGuard};
