//! Building an exercise's integration tests and finding the executables Cargo made.
//!
//! `cargo test --no-run --message-format=json` reports each test executable as a
//! `compiler-artifact` message, and each compiler error as a `compiler-message`; reading
//! those is steadier than scraping Cargo's human output.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result};
use serde_json::Value;

/// How many lines of a compiler error the scorecard keeps.
const ERROR_LINES: usize = 12;

/// The `cargo` that runs the grader (`cargo run` sets `CARGO`), so nested builds use
/// the same toolchain.
pub fn cargo() -> Command {
    Command::new(std::env::var_os("CARGO").unwrap_or_else(|| OsString::from("cargo")))
}

/// Why a test target could not be built.
#[derive(Debug, Clone, PartialEq)]
pub struct CompileError {
    /// One line for the scorecard: the first error and where it is.
    pub headline: String,
    /// The first lines of the compiler's own rendering of that error.
    pub details: String,
}

impl CompileError {
    /// The error as the compiler rendered it, or the headline when that is all there is.
    pub fn text(&self) -> String {
        if self.details.is_empty() {
            self.headline.clone()
        } else {
            self.details.clone()
        }
    }
}

/// What building one exercise's test targets produced.
#[derive(Debug, Default)]
pub struct Build {
    /// Test target name → its executable.
    pub executables: BTreeMap<String, PathBuf>,
    /// Test target name → why it did not build.
    pub errors: BTreeMap<String, CompileError>,
}

/// Builds the integration tests `targets` of `package` (in the workspace of `manifest`).
///
/// Tries them all in one `cargo` run first. If that fails and there are several
/// targets, builds each alone, so one test file that does not compile against the
/// learner's API costs only its own tests.
pub fn test_executables(
    manifest: &Path,
    package: &str,
    target_dir: &Path,
    targets: &[String],
) -> Result<Build> {
    let mut build = Build::default();
    if targets.is_empty() {
        return Ok(build);
    }
    let together = cargo_test_no_run(manifest, package, target_dir, "*")?;
    if together.error.is_none() || targets.len() == 1 {
        for target in targets {
            record(&mut build, target, &together);
        }
        return Ok(build);
    }
    for target in targets {
        let alone = cargo_test_no_run(manifest, package, target_dir, target)?;
        record(&mut build, target, &alone);
    }
    Ok(build)
}

fn record(build: &mut Build, target: &str, attempt: &Attempt) {
    if let Some(executable) = attempt.executables.get(target) {
        build
            .executables
            .insert(target.to_string(), executable.clone());
    } else {
        let error = attempt.error.clone().unwrap_or_else(|| CompileError {
            headline: "cargo built no test executable for this target".to_string(),
            details: String::new(),
        });
        build.errors.insert(target.to_string(), error);
    }
}

/// One `cargo test --no-run` invocation.
struct Attempt {
    executables: BTreeMap<String, PathBuf>,
    error: Option<CompileError>,
}

fn cargo_test_no_run(
    manifest: &Path,
    package: &str,
    target_dir: &Path,
    test: &str,
) -> Result<Attempt> {
    let output = cargo()
        .args([
            "test",
            "--no-run",
            "--message-format=json",
            "--manifest-path",
        ])
        .arg(manifest)
        .args(["-p", package, "--test", test])
        .env("CARGO_TARGET_DIR", target_dir)
        // A score must depend on the submission only: a caller's `-D warnings` would
        // fail every stub that has an unused parameter, and any flag change would
        // rebuild the cached dependencies.
        .env_remove("RUSTFLAGS")
        .env_remove("CARGO_ENCODED_RUSTFLAGS")
        .output()
        .context("running cargo test --no-run")?;

    let mut executables = BTreeMap::new();
    let mut first_error = None;
    for line in String::from_utf8_lossy(&output.stdout).lines() {
        let Ok(message) = serde_json::from_str::<Value>(line) else {
            continue;
        };
        match message["reason"].as_str() {
            Some("compiler-artifact") => {
                if let Some((name, executable)) = test_executable(&message) {
                    executables.insert(name, executable);
                }
            }
            Some("compiler-message") if first_error.is_none() => {
                first_error = compile_error(&message["message"]);
            }
            _ => {}
        }
    }
    let error = if output.status.success() {
        None
    } else {
        Some(first_error.unwrap_or_else(|| cargo_failure(&output.stderr)))
    };
    Ok(Attempt { executables, error })
}

/// `(target name, executable)` when `message` is an integration test executable.
fn test_executable(message: &Value) -> Option<(String, PathBuf)> {
    let is_test_profile = message["profile"]["test"].as_bool() == Some(true);
    let is_integration_test = message["target"]["kind"]
        .as_array()
        .is_some_and(|kinds| kinds.iter().any(|k| k == "test"));
    let executable = message["executable"].as_str()?;
    let name = message["target"]["name"].as_str()?;
    (is_test_profile && is_integration_test).then(|| (name.to_string(), PathBuf::from(executable)))
}

fn compile_error(diagnostic: &Value) -> Option<CompileError> {
    if diagnostic["level"].as_str() != Some("error") {
        return None;
    }
    let rendered = diagnostic["rendered"].as_str()?;
    let mut headline = rendered.lines().next().unwrap_or_default().to_string();
    if let Some(location) = rendered
        .lines()
        .find_map(|line| line.trim_start().strip_prefix("--> "))
    {
        headline = format!("{headline} ({location})");
    }
    Some(CompileError {
        headline,
        details: first_lines(rendered, ERROR_LINES),
    })
}

/// A failure Cargo reported itself (a bad manifest, a dependency it could not fetch).
fn cargo_failure(stderr: &[u8]) -> CompileError {
    let stderr = String::from_utf8_lossy(stderr);
    let from_error: Vec<&str> = stderr
        .lines()
        .skip_while(|line| !line.starts_with("error"))
        .collect();
    let lines = if from_error.is_empty() {
        stderr.lines().collect()
    } else {
        from_error
    };
    CompileError {
        headline: lines
            .first()
            .map_or("cargo failed without a message", |l| l.trim())
            .to_string(),
        details: first_lines(&lines.join("\n"), ERROR_LINES),
    }
}

fn first_lines(text: &str, count: usize) -> String {
    text.trim_end()
        .lines()
        .take(count)
        .collect::<Vec<_>>()
        .join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headline_names_the_error_and_where_it_is() {
        let diagnostic = serde_json::json!({
            "level": "error",
            "rendered": "error[E0425]: cannot find value `x` in this scope\n --> ex-a/src/lib.rs:3:5\n  |\n3 |     x\n  |     ^ not found\n",
        });
        let error = compile_error(&diagnostic).unwrap();
        assert_eq!(
            error.headline,
            "error[E0425]: cannot find value `x` in this scope (ex-a/src/lib.rs:3:5)"
        );
        assert!(error.details.ends_with("^ not found"));
    }

    #[test]
    fn warnings_are_not_compile_errors() {
        let diagnostic = serde_json::json!({"level": "warning", "rendered": "warning: unused"});
        assert_eq!(compile_error(&diagnostic), None);
    }

    #[test]
    fn unit_test_executables_of_src_do_not_count() {
        let lib_tests = serde_json::json!({
            "reason": "compiler-artifact",
            "profile": {"test": true},
            "target": {"name": "ex_a", "kind": ["lib"]},
            "executable": "/t/ex_a-123",
        });
        assert_eq!(test_executable(&lib_tests), None);
        let integration = serde_json::json!({
            "reason": "compiler-artifact",
            "profile": {"test": true},
            "target": {"name": "basic", "kind": ["test"]},
            "executable": "/t/basic-123",
        });
        assert_eq!(
            test_executable(&integration),
            Some(("basic".to_string(), PathBuf::from("/t/basic-123")))
        );
    }
}
