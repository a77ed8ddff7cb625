//! "What changed since the previous step": one unified diff per step, generated from
//! the step directories into `book/src/generated/step-N.diff`.
//!
//! What goes in, and why:
//! - every text file of the step (src/, Cargo.toml, static/, README, ...) is compared;
//! - `target/` and hidden directories are build or editor output, never shown;
//! - `tests/` at the step root is left out: tests change a lot from step to step and
//!   are not what the chapter teaches, and the diff would drown in them;
//! - anchor marker lines are dropped before comparing: they are scaffolding for the
//!   book, and the reader should see the program change, not the markers;
//! - a file only in the new step is shown whole against `/dev/null`, a file only in the
//!   old step likewise, and a binary file that changed gets a one-line note.
//!
//! Paths are sorted and nothing depends on time or machine, so the output is stable and
//! `--check` can compare it byte for byte.

use crate::anchors;
use crate::tree::{self, display};
use anyhow::{Context, Result};
use similar::{Algorithm, TextDiff};
use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};

/// Lines of unchanged code around each change: enough to see where it happens.
const CONTEXT_LINES: usize = 3;

/// Where generated files live, relative to the workspace root.
pub const GENERATED_DIR: &str = "book/src/generated";

/// The command that regenerates the diffs, quoted in every staleness message.
pub const REGENERATE: &str = "run `cargo run -p book-tools -- diffs`";

/// One generated file: where it goes and what it must contain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Generated {
    pub step: u32,
    pub path: PathBuf,
    pub contents: String,
}

/// The step directories (`steps/step-N`), sorted by N.
pub fn steps(root: &Path) -> Result<Vec<(u32, PathBuf)>> {
    let dir = root.join("steps");
    let mut steps = Vec::new();
    if !dir.is_dir() {
        return Ok(steps);
    }
    for entry in fs::read_dir(&dir).with_context(|| format!("reading {}", dir.display()))? {
        let entry = entry?;
        let name = entry.file_name();
        let number = name
            .to_str()
            .and_then(|n| n.strip_prefix("step-"))
            .and_then(|n| n.parse::<u32>().ok());
        if let (Some(number), true) = (number, entry.file_type()?.is_dir()) {
            steps.push((number, entry.path()));
        }
    }
    steps.sort();
    Ok(steps)
}

/// The diff every step after the first should have, paired with the step before it.
pub fn expected(root: &Path) -> Result<Vec<Generated>> {
    let steps = steps(root)?;
    let out_dir = root.join(GENERATED_DIR);
    let mut generated = Vec::new();
    for pair in steps.windows(2) {
        let (old_n, old_dir) = &pair[0];
        let (new_n, new_dir) = &pair[1];
        let contents = diff_dirs(
            old_dir,
            &format!("step-{old_n}"),
            new_dir,
            &format!("step-{new_n}"),
        )?;
        generated.push(Generated {
            step: *new_n,
            path: out_dir.join(format!("step-{new_n}.diff")),
            contents,
        });
    }
    Ok(generated)
}

/// Files under the generated directory that look like step diffs, present or not.
fn existing_step_diffs(root: &Path) -> Result<Vec<PathBuf>> {
    let dir = root.join(GENERATED_DIR);
    let mut found = Vec::new();
    if !dir.is_dir() {
        return Ok(found);
    }
    for entry in fs::read_dir(&dir)? {
        let path = entry?.path();
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
        if name.starts_with("step-") && name.ends_with(".diff") {
            found.push(path);
        }
    }
    found.sort();
    Ok(found)
}

/// Writes every diff that is missing or out of date and removes diffs of steps that no
/// longer exist. Returns one line per change made.
pub fn write(root: &Path) -> Result<Vec<String>> {
    let expected = expected(root)?;
    let mut changes = Vec::new();
    fs::create_dir_all(root.join(GENERATED_DIR))?;
    for item in &expected {
        let current = fs::read_to_string(&item.path).ok();
        if current.as_deref() != Some(item.contents.as_str()) {
            fs::write(&item.path, &item.contents)
                .with_context(|| format!("writing {}", item.path.display()))?;
            let verb = if current.is_some() {
                "updated"
            } else {
                "created"
            };
            changes.push(format!("{verb} {}", display(root, &item.path)));
        }
    }
    let wanted: BTreeSet<&PathBuf> = expected.iter().map(|g| &g.path).collect();
    for path in existing_step_diffs(root)? {
        if !wanted.contains(&path) {
            fs::remove_file(&path)?;
            changes.push(format!(
                "removed {} (no such step pair)",
                display(root, &path)
            ));
        }
    }
    Ok(changes)
}

/// A generated file that `write` would change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stale {
    /// Relative to the workspace root, `/`-separated.
    pub path: String,
    /// "missing", "out of date", ...
    pub reason: String,
}

impl std::fmt::Display for Stale {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.path, self.reason)
    }
}

/// What `write` would change; empty when everything is up to date.
pub fn stale(root: &Path) -> Result<Vec<Stale>> {
    let expected = expected(root)?;
    let mut found = Vec::new();
    let mut note = |path: &Path, reason: &str| {
        found.push(Stale {
            path: display(root, path),
            reason: reason.to_string(),
        })
    };
    for item in &expected {
        match fs::read_to_string(&item.path) {
            Err(_) => note(&item.path, "missing"),
            Ok(current) if current != item.contents => note(&item.path, "out of date"),
            Ok(_) => {}
        }
    }
    let wanted: BTreeSet<&PathBuf> = expected.iter().map(|g| &g.path).collect();
    for path in existing_step_diffs(root)? {
        if !wanted.contains(&path) {
            note(&path, "belongs to no step pair (`diffs` deletes it)");
        }
    }
    Ok(found)
}

/// The files of one step that take part in the diff, relative and `/`-separated.
fn step_files(step_dir: &Path) -> Result<BTreeSet<String>> {
    let tests = step_dir.join("tests");
    let skip = |d: &Path| tree::is_build_or_hidden(d) || d == tests;
    let files =
        tree::walk(step_dir, &skip).with_context(|| format!("listing {}", step_dir.display()))?;
    Ok(files
        .iter()
        .filter(|f| {
            !f.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with('.'))
        })
        .map(|f| display(step_dir, f))
        .collect())
}

enum Content {
    Text(String),
    Binary(Vec<u8>),
}

fn read(path: &Path) -> Result<Content> {
    let bytes = fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    if bytes.contains(&0) {
        return Ok(Content::Binary(bytes));
    }
    match String::from_utf8(bytes) {
        Ok(text) => Ok(Content::Text(without_markers(&text))),
        Err(e) => Ok(Content::Binary(e.into_bytes())),
    }
}

/// Drops anchor marker lines, keeping every other line byte for byte.
fn without_markers(text: &str) -> String {
    text.split_inclusive('\n')
        .filter(|line| anchors::marker(line).is_none())
        .collect()
}

/// The unified diff from `old_dir` to `new_dir`, with paths in headers prefixed by the
/// given labels (`step-1/src/main.rs`).
pub fn diff_dirs(
    old_dir: &Path,
    old_label: &str,
    new_dir: &Path,
    new_label: &str,
) -> Result<String> {
    let old_files = step_files(old_dir)?;
    let new_files = step_files(new_dir)?;
    let mut out = String::new();
    for rel in old_files.union(&new_files) {
        let old = if old_files.contains(rel) {
            Some(read(&old_dir.join(rel))?)
        } else {
            None
        };
        let new = if new_files.contains(rel) {
            Some(read(&new_dir.join(rel))?)
        } else {
            None
        };
        let old_name = format!("{old_label}/{rel}");
        let new_name = format!("{new_label}/{rel}");
        match (old, new) {
            (Some(Content::Text(a)), Some(Content::Text(b))) => {
                out.push_str(&unified(&a, &b, &old_name, &new_name))
            }
            (Some(Content::Text(a)), None) => {
                out.push_str(&unified(&a, "", &old_name, "/dev/null"))
            }
            (None, Some(Content::Text(b))) => {
                out.push_str(&unified("", &b, "/dev/null", &new_name))
            }
            (Some(Content::Binary(a)), Some(Content::Binary(b))) if a == b => {}
            (None, None) => {}
            (old, new) => {
                let old_name = if old.is_some() {
                    old_name.as_str()
                } else {
                    "/dev/null"
                };
                let new_name = if new.is_some() {
                    new_name.as_str()
                } else {
                    "/dev/null"
                };
                out.push_str(&format!("Binary files {old_name} and {new_name} differ\n"));
            }
        }
    }
    Ok(out)
}

fn unified(old: &str, new: &str, old_name: &str, new_name: &str) -> String {
    if old == new {
        return String::new();
    }
    TextDiff::configure()
        // Patience keeps whole functions together instead of matching stray braces,
        // which reads better for code.
        .algorithm(Algorithm::Patience)
        .diff_lines(old, new)
        .unified_diff()
        .context_radius(CONTEXT_LINES)
        .header(old_name, new_name)
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn put(root: &Path, rel: &str, contents: &str) {
        let path = root.join(rel);
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(path, contents).unwrap();
    }

    fn messages(root: &Path) -> Vec<String> {
        stale(root)
            .unwrap()
            .iter()
            .map(ToString::to_string)
            .collect()
    }

    fn two_steps() -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        put(
            root,
            "steps/step-1/Cargo.toml",
            "[package]\nname = \"step-1\"\n",
        );
        put(
            root,
            "steps/step-1/src/main.rs",
            "fn main() {\n    println!(\"one\");\n}\n",
        );
        put(root, "steps/step-1/src/gone.rs", "// removed later\n");
        put(root, "steps/step-1/tests/t.rs", "#[test]\nfn a() {}\n");
        put(
            root,
            "steps/step-2/Cargo.toml",
            "[package]\nname = \"step-2\"\n",
        );
        put(
            root,
            "steps/step-2/src/main.rs",
            &format!(
                "fn main() {{\n    // {}: greet\n    println!(\"two\");\n    // {}: greet\n}}\n",
                "ANCHOR", "ANCHOR_END"
            ),
        );
        put(root, "steps/step-2/static/index.html", "<p>hi</p>\n");
        put(root, "steps/step-2/tests/t.rs", "#[test]\nfn b() {}\n");
        put(root, "steps/step-2/target/debug/junk", "junk\n");
        dir
    }

    #[test]
    fn diff_has_headers_whole_added_and_removed_files_and_no_tests() {
        let dir = two_steps();
        let generated = expected(dir.path()).unwrap();
        assert_eq!(generated.len(), 1);
        assert_eq!(generated[0].step, 2);
        let expected_text = "\
--- step-1/Cargo.toml
+++ step-2/Cargo.toml
@@ -1,2 +1,2 @@
 [package]
-name = \"step-1\"
+name = \"step-2\"
--- step-1/src/gone.rs
+++ /dev/null
@@ -1 +0,0 @@
-// removed later
--- step-1/src/main.rs
+++ step-2/src/main.rs
@@ -1,3 +1,3 @@
 fn main() {
-    println!(\"one\");
+    println!(\"two\");
 }
--- /dev/null
+++ step-2/static/index.html
@@ -0,0 +1 @@
+<p>hi</p>
";
        assert_eq!(generated[0].contents, expected_text);
    }

    #[test]
    fn check_reports_missing_then_write_makes_it_clean() {
        let dir = two_steps();
        let root = dir.path();
        assert_eq!(messages(root), ["book/src/generated/step-2.diff: missing"]);
        assert_eq!(
            write(root).unwrap(),
            ["created book/src/generated/step-2.diff"]
        );
        assert!(messages(root).is_empty());
        // Running again changes nothing: the output is deterministic.
        assert!(write(root).unwrap().is_empty());

        put(root, "steps/step-2/src/main.rs", "fn main() {}\n");
        assert_eq!(
            messages(root),
            ["book/src/generated/step-2.diff: out of date"]
        );
    }

    #[test]
    fn diffs_without_a_step_are_reported_and_removed() {
        let dir = two_steps();
        let root = dir.path();
        write(root).unwrap();
        put(root, "book/src/generated/step-9.diff", "old\n");
        put(root, "book/src/generated/notes.txt", "not a step diff\n");
        assert_eq!(
            messages(root),
            ["book/src/generated/step-9.diff: belongs to no step pair (`diffs` deletes it)"]
        );
        write(root).unwrap();
        assert!(!root.join("book/src/generated/step-9.diff").exists());
        assert!(root.join("book/src/generated/notes.txt").exists());
    }

    #[test]
    fn steps_sort_numerically() {
        let dir = tempfile::tempdir().unwrap();
        for n in [10, 2, 1] {
            fs::create_dir_all(dir.path().join(format!("steps/step-{n}"))).unwrap();
        }
        fs::create_dir_all(dir.path().join("steps/not-a-step")).unwrap();
        let numbers: Vec<u32> = steps(dir.path()).unwrap().iter().map(|s| s.0).collect();
        assert_eq!(numbers, [1, 2, 10]);
    }

    #[test]
    fn missing_newline_at_end_is_marked() {
        let text = unified("a\n", "b", "step-1/x", "step-2/x");
        assert!(text.contains("\\ No newline at end of file"), "{text}");
    }
}
