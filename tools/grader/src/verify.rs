//! What CI runs to prove the exercises grade honestly:
//!
//! 1. layout: each exercise has a solution whose `[[test]]` tables run exactly the
//!    exercise's test files (so there is one copy of the tests) and whose `src/` has the
//!    same files as the stub (so swapping one for the other is all grading does);
//! 2. every test fails on the stub as shipped, and the stub compiles;
//! 3. every test passes on the solution, and the tests a source scan finds are the ones
//!    the test executable lists (so an uncompilable submission is scored out of the
//!    same maximum).
//!
//! Each expectation is one check; the last line is `verify: N passed, N failed`.

use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, Result};

use crate::discover::Exercise;
use crate::grade::{Reference, grade};
use crate::report::{Outcome, Scorecard, TestCard};

/// The tally of checks, printed as it goes.
#[derive(Debug, Default)]
pub struct Verification {
    pub passed: usize,
    /// One line per failed check, naming the exercise and what is wrong.
    pub violations: Vec<String>,
}

impl Verification {
    fn check(&mut self, ok: bool, violation: impl FnOnce() -> String) -> bool {
        if ok {
            self.passed += 1;
        } else {
            self.violations.push(violation());
        }
        ok
    }

    pub fn ok(&self) -> bool {
        self.violations.is_empty()
    }

    /// The summary; its last line is `verify: N passed, N failed`.
    pub fn summary(&self) -> String {
        let mut out = String::new();
        if !self.violations.is_empty() {
            out.push_str("\nviolations:\n");
            for violation in &self.violations {
                out.push_str(&format!("  - {violation}\n"));
            }
        }
        out.push_str(&format!(
            "verify: {} passed, {} failed\n",
            self.passed,
            self.violations.len()
        ));
        out
    }
}

/// Runs every check, printing a line per exercise and section on stdout.
pub fn verify(
    reference: &Reference,
    solutions: &Path,
    only: &[String],
    timeout: Duration,
) -> Result<Verification> {
    let selected = reference.select(only)?;
    let mut verification = Verification::default();

    println!("verify: layout (solutions/<name> runs the exercise's own tests)");
    let have_solutions = verification.check(solutions.is_dir(), || {
        format!("no solutions folder at {}", solutions.display())
    });
    if have_solutions {
        for exercise in &selected {
            let before = verification.violations.len();
            check_layout(&mut verification, exercise, &solutions.join(&exercise.name))?;
            print_line(&verification, before, &exercise.name, "layout is right");
        }
        if only.is_empty() {
            check_no_orphan_solutions(&mut verification, reference, solutions)?;
        }
    }

    println!("verify: stubs (every test must fail)");
    let stubs = grade(reference, &reference.root, only, timeout)?;
    check_stubs(&mut verification, &stubs);

    if have_solutions {
        println!("verify: solutions (every test must pass)");
        let solved = grade(reference, solutions, only, timeout)?;
        check_solutions(&mut verification, &solved, &selected);
    }
    Ok(verification)
}

fn print_line(verification: &Verification, before: usize, exercise: &str, fine: &str) {
    let new = &verification.violations[before..];
    if new.is_empty() {
        println!("  ✓ {exercise}: {fine}");
    } else {
        for violation in new {
            println!("  ✗ {violation}");
        }
    }
}

fn check_layout(
    verification: &mut Verification,
    exercise: &Exercise,
    solution: &Path,
) -> Result<()> {
    let name = &exercise.name;
    verification.check(exercise.package == *name, || {
        format!(
            "{name}: the package is called {}, not {name}",
            exercise.package
        )
    });
    let scanned: BTreeSet<&str> = exercise
        .targets
        .iter()
        .flat_map(|t| t.scanned.iter().map(String::as_str))
        .collect();
    verification.check(!scanned.is_empty(), || {
        format!("{name}: has no tests (no #[test] functions under tests/)")
    });
    for test in exercise.points.keys() {
        verification.check(scanned.contains(test.as_str()), || {
            format!("{name}: [package.metadata.grading] points names `{test}`, which is not a test")
        });
    }

    let manifest = solution.join("Cargo.toml");
    if !verification.check(manifest.is_file(), || {
        format!("{name}: no {}", manifest.display())
    }) {
        return Ok(());
    }
    let text = fs::read_to_string(&manifest)?;
    let table: toml::Table = text
        .parse()
        .with_context(|| format!("parsing {}", manifest.display()))?;

    let expected: BTreeSet<PathBuf> = exercise
        .targets
        .iter()
        .map(|t| canonical(&exercise.dir.join(&t.file)))
        .collect();
    let declared: BTreeSet<PathBuf> = table
        .get("test")
        .and_then(|t| t.as_array())
        .into_iter()
        .flatten()
        .filter_map(|t| {
            let path = t
                .get("path")
                .and_then(|p| p.as_str())
                .map(PathBuf::from)
                .or_else(|| {
                    // A [[test]] without a path is tests/<name>.rs of the solution itself.
                    let name = t.get("name")?.as_str()?;
                    Some(PathBuf::from(format!("tests/{name}.rs")))
                })?;
            Some(canonical(&solution.join(path)))
        })
        .collect();
    verification.check(declared == expected, || {
        format!(
            "{name}: {}'s [[test]] paths are [{}], expected exactly [{}]",
            manifest.display(),
            list(&declared),
            list(&expected)
        )
    });
    let own_tests = solution.join("tests");
    verification.check(!own_tests.exists(), || {
        format!(
            "{name}: {} exists; the tests must live only in the exercise",
            own_tests.display()
        )
    });

    let stub_files = files_under(&exercise.dir.join("src"))?;
    let solution_files = files_under(&solution.join("src"))?;
    verification.check(stub_files == solution_files, || {
        format!(
            "{name}: src/ files differ between stub [{}] and solution [{}]",
            list(&stub_files),
            list(&solution_files)
        )
    });
    Ok(())
}

fn check_no_orphan_solutions(
    verification: &mut Verification,
    reference: &Reference,
    solutions: &Path,
) -> Result<()> {
    for entry in fs::read_dir(solutions)? {
        let name = entry?.file_name().to_string_lossy().into_owned();
        if name.starts_with("ex-") {
            let known = reference.exercises.iter().any(|e| e.name == name);
            verification.check(known, || {
                format!(
                    "solutions/{name} has no exercise {name} in {}",
                    reference.root.display()
                )
            });
        }
    }
    Ok(())
}

fn check_stubs(verification: &mut Verification, stubs: &Scorecard) {
    for exercise in &stubs.exercises {
        let before = verification.violations.len();
        for test in &exercise.tests {
            match test.outcome {
                Outcome::Passed => verification.check(false, || {
                    format!("{}: test `{}` passes on the stub", exercise.name, test.name)
                }),
                Outcome::DoesNotCompile | Outcome::Missing => verification.check(false, || {
                    format!(
                        "{}: the stub cannot run test `{}`: {}",
                        exercise.name,
                        test.name,
                        exercise
                            .problem
                            .as_deref()
                            .unwrap_or("")
                            .lines()
                            .next()
                            .unwrap_or("")
                    )
                }),
                Outcome::Failed | Outcome::TimedOut => verification.check(true, String::new),
            };
        }
        let total = exercise.tests.len();
        print_line(
            verification,
            before,
            &exercise.name,
            &format!("all {total} tests fail"),
        );
    }
}

fn check_solutions(verification: &mut Verification, solved: &Scorecard, selected: &[&Exercise]) {
    for (exercise, card) in selected.iter().zip(&solved.exercises) {
        let before = verification.violations.len();
        for test in &card.tests {
            verification.check(test.outcome.passed(), || {
                format!(
                    "{}: test `{}` fails on the solution: {}",
                    card.name,
                    test.name,
                    test.reason.as_deref().unwrap_or("failed")
                )
            });
        }
        // Only targets that ran have a listed set to compare with the scan.
        for target in &exercise.targets {
            let ran: Vec<&TestCard> = card
                .tests
                .iter()
                .filter(|t| t.target == target.name)
                .collect();
            if ran
                .iter()
                .any(|t| matches!(t.outcome, Outcome::DoesNotCompile | Outcome::Missing))
            {
                continue;
            }
            let listed: BTreeSet<&str> = ran.iter().map(|t| t.name.as_str()).collect();
            let scanned: BTreeSet<&str> = target.scanned.iter().map(String::as_str).collect();
            verification.check(listed == scanned, || {
                format!(
                    "{}: tests/{} lists [{}] but the grader's source scan finds [{}]; a submission that does not compile would be scored out of a different maximum",
                    card.name,
                    target.name,
                    listed.iter().copied().collect::<Vec<_>>().join(", "),
                    scanned.iter().copied().collect::<Vec<_>>().join(", ")
                )
            });
        }
        let fine = format!(
            "all {} tests pass ({}/{} points)",
            card.tests.len(),
            card.score,
            card.max
        );
        print_line(verification, before, &card.name, &fine);
    }
}

fn canonical(path: &Path) -> PathBuf {
    path.canonicalize().unwrap_or_else(|_| path.to_path_buf())
}

fn list(paths: &BTreeSet<PathBuf>) -> String {
    paths
        .iter()
        .map(|p| p.display().to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

/// Every file under `dir`, relative to it; empty when `dir` does not exist.
fn files_under(dir: &Path) -> Result<BTreeSet<PathBuf>> {
    let mut files = BTreeSet::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(current) = pending.pop() {
        let Ok(entries) = fs::read_dir(&current) else {
            continue;
        };
        for entry in entries {
            let path = entry?.path();
            if path.is_dir() {
                pending.push(path);
            } else if let Ok(relative) = path.strip_prefix(dir) {
                files.insert(relative.to_path_buf());
            }
        }
    }
    Ok(files)
}
