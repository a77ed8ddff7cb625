//! The one door through which `registry.rs` reaches synchronization primitives: std's
//! here, loom's in `tests/loom_registry.rs`, which has a `sync` module of its own.

pub use std::sync::{Arc, Mutex, MutexGuard};
