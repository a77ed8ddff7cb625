//! The grader: scores a learner's `exercises/` folder against the reference tests.
//!
//! One idea per module, in the order a grading run uses them:
//!
//! - [`discover`]: which exercises exist, their test targets, the test names a source scan
//!   finds (so a submission that does not compile is still scored out of the full maximum)
//!   and the points each test is worth.
//! - [`workspace`]: a throwaway copy of the reference workspace with the learner's `src/`
//!   swapped in, so the learner's own copy of the tests never counts.
//! - [`build`]: `cargo test --no-run` on the copy, collecting the test executables or the
//!   first compiler error.
//! - [`run`]: each test alone in its own process group, with a deadline; the group is
//!   killed afterwards so servers a test started cannot outlive it.
//! - [`grade`]: ties the above together into a [`report::Scorecard`].
//! - [`report`]: the scorecard as text, JSON and JUnit XML.
//! - [`verify`]: what CI runs: every test fails on the stubs, every test passes on the
//!   solutions, and each solution runs the exercise's one copy of the tests.

pub mod build;
pub mod discover;
pub mod grade;
pub mod report;
pub mod run;
pub mod verify;
pub mod workspace;
