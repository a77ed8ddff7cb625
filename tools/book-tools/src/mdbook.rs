//! `build-check`: builds the book with mdBook and treats every logged error or warning
//! as a failure. mdBook logs a missing include as an error and still exits 0, so its
//! exit status alone proves little.

use anyhow::{Context, Result, bail};
use std::env;
use std::ffi::OsString;
use std::io::ErrorKind;
use std::path::{Path, PathBuf};
use std::process::Command;

/// mdBook's own warning when an optional preprocessor is not installed. The book is
/// still complete without mdbook-mermaid (diagrams show as source), so this one warning
/// is a note, not a failure: a machine with only mdbook installed can run the check.
const OPTIONAL_MISSING: &str = "but is marked as optional";

/// What one build printed, sorted into the lines that fail the check and the notes.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Verdict {
    pub failures: Vec<String>,
    pub notes: Vec<String>,
}

/// Sorts mdBook's log lines: any line with `ERROR` or `WARN` fails, except the
/// optional-preprocessor note.
pub fn judge(log: &str) -> Verdict {
    let mut verdict = Verdict::default();
    for line in log.lines().map(strip_ansi) {
        if line.contains(OPTIONAL_MISSING) {
            verdict.notes.push(line);
        } else if line.contains("ERROR") || line.contains("WARN") {
            verdict.failures.push(line);
        }
    }
    verdict
}

/// Removes terminal colour codes so the words are matched, not their styling.
fn strip_ansi(line: &str) -> String {
    let mut out = String::with_capacity(line.len());
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            // CSI sequences end with a letter.
            for next in chars.by_ref() {
                if next.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// The mdbook binary: on PATH, or where `cargo install` puts it.
fn find_mdbook() -> Result<PathBuf> {
    let candidates = [
        Some(PathBuf::from("mdbook")),
        env::var_os("CARGO_HOME").map(|h| PathBuf::from(h).join("bin/mdbook")),
        env::var_os("HOME").map(|h| PathBuf::from(h).join(".cargo/bin/mdbook")),
    ];
    for candidate in candidates.into_iter().flatten() {
        match Command::new(&candidate).arg("--version").output() {
            Ok(out) if out.status.success() => return Ok(candidate),
            Ok(_) => {}
            Err(e) if e.kind() == ErrorKind::NotFound => {}
            Err(e) => return Err(e).context("running `mdbook --version`"),
        }
    }
    bail!(
        "mdbook is not installed. Install it with `cargo install --locked mdbook` \
         (and `cargo install --locked mdbook-mermaid` to draw the diagrams), then run this again"
    )
}

/// Builds `book/` and prints mdBook's log. Returns whether the build was clean.
pub fn build_check(root: &Path) -> Result<bool> {
    let mdbook = find_mdbook()?;
    let version = Command::new(&mdbook).arg("--version").output()?;
    println!("using {}", String::from_utf8_lossy(&version.stdout).trim());

    let mut command = Command::new(&mdbook);
    command.arg("build").arg("book").current_dir(root);
    // Preprocessors such as mdbook-mermaid are looked up on PATH; when mdbook itself
    // was found outside PATH, its neighbours should be found too.
    if let Some(dir) = mdbook.parent().filter(|d| !d.as_os_str().is_empty()) {
        let mut paths: Vec<PathBuf> = vec![dir.to_path_buf()];
        paths.extend(env::split_paths(&env::var_os("PATH").unwrap_or_default()));
        let joined: OsString = env::join_paths(paths).context("building PATH")?;
        command.env("PATH", joined);
    }
    let output = command
        .output()
        .with_context(|| format!("running {} build book", mdbook.display()))?;

    let log = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    print!("{log}");
    if !log.ends_with('\n') && !log.is_empty() {
        println!();
    }

    let verdict = judge(&log);
    for note in &verdict.notes {
        println!(
            "note: {} (the book is complete; `cargo install --locked mdbook-mermaid` draws the diagrams)",
            note.trim()
        );
    }
    if !output.status.success() {
        eprintln!("mdbook build failed with {}", output.status);
        return Ok(false);
    }
    if !verdict.failures.is_empty() {
        eprintln!(
            "mdbook build logged {} error/warning line(s):",
            verdict.failures.len()
        );
        for line in &verdict.failures {
            eprintln!("  {line}");
        }
        return Ok(false);
    }
    println!("book built cleanly into book/build");
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_and_warnings_fail() {
        let log = "\
2026-01-01 INFO Book building has started
2026-01-01 ERROR Error updating \"{{#include missing.rs}}\", Could not read file
2026-01-01 WARN Caused By: No such file or directory
2026-01-01 INFO Running the html backend
";
        let verdict = judge(log);
        assert_eq!(verdict.failures.len(), 2);
        assert!(verdict.notes.is_empty());
    }

    #[test]
    fn missing_optional_preprocessor_is_only_a_note() {
        let log = " \u{1b}[33mWARN\u{1b}[0m The command `mdbook-mermaid` for preprocessor `mermaid` was not found, but is marked as optional.\n";
        let verdict = judge(log);
        assert!(verdict.failures.is_empty());
        assert_eq!(verdict.notes.len(), 1);
    }

    #[test]
    fn clean_log_passes() {
        let verdict = judge(" INFO Book building has started\n INFO Running the html backend\n");
        assert_eq!(verdict, Verdict::default());
    }

    #[test]
    fn colour_codes_are_removed() {
        assert_eq!(strip_ansi("\u{1b}[1;31mERROR\u{1b}[0m x"), "ERROR x");
    }
}
