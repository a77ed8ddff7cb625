//! Tools that keep the book and the code it shows in step.
//!
//! mdBook on its own renders a missing anchor as an empty listing and exits 0 when an
//! included file is missing, so a book can rot without anyone noticing. This crate
//! turns every such drift into a failing command:
//!
//! - [`links`]: finds `{{#include}}`-style directives exactly the way mdBook parses them.
//! - [`anchors`]: reads the anchor markers in source files and selects the lines an
//!   include shows.
//! - [`check`]: the `check` subcommand (includes, anchors, SUMMARY.md, pasted code,
//!   generated diffs).
//! - [`diffs`]: the `diffs` subcommand (step N-1 to step N, as unified diffs).
//! - [`mdbook`]: the `build-check` subcommand (mdBook build with warnings as errors).
//! - [`transcripts`]: the `transcripts` subcommand (shown program output, run again).
//! - [`tree`]: the workspace layout: where the root is, which files count as project code.

pub mod anchors;
pub mod check;
pub mod diffs;
pub mod links;
pub mod mdbook;
pub mod transcripts;
pub mod tree;

use std::fmt;

/// One thing wrong with the book, reported as `file:line: message` so editors and CI
/// logs can jump to it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Problem {
    /// Path relative to the workspace root, with `/` separators, so the report reads the
    /// same on every machine.
    pub file: String,
    /// 1-based line; 0 when the problem is about the file as a whole.
    pub line: usize,
    pub message: String,
}

impl Problem {
    pub fn new(file: impl Into<String>, line: usize, message: impl Into<String>) -> Self {
        Problem {
            file: file.into(),
            line,
            message: message.into(),
        }
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.line == 0 {
            write!(f, "{}: {}", self.file, self.message)
        } else {
            write!(f, "{}:{}: {}", self.file, self.line, self.message)
        }
    }
}
