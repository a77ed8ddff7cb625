//! The one door through which `registry.rs` reaches synchronization primitives.
//!
//! In the program these are the standard library's. The loom test
//! (`tests/loom_registry.rs`) compiles `registry.rs` inside a crate whose own `sync`
//! module exports loom's types under the same names, so the very same source is
//! model-checked without a single `cfg` in it. (Step 1 does the same for its channel.)

pub use std::sync::{Arc, Mutex, MutexGuard};
