//! A grading run: copy the reference, swap in the submission's `src/`, build, run every
//! test alone, and collect a [`Scorecard`].

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, Result, bail};

use crate::build::{self, CompileError};
use crate::discover::{self, Exercise, TestTarget};
use crate::report::{ExerciseCard, Outcome, Scorecard, TestCard};
use crate::run;
use crate::workspace::{TargetLock, WorkCopy};

/// The repository's own `exercises/`, found from where the grader's source lives.
pub fn default_exercises_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../exercises")
}

/// The reference exercises workspace: the manifests and tests every submission is
/// graded against.
#[derive(Debug)]
pub struct Reference {
    /// The exercises workspace directory, canonical.
    pub root: PathBuf,
    /// The repository holding it (its parent): home of `target/grader`, `Cargo.lock`
    /// and `solutions/`.
    pub repo: PathBuf,
    pub exercises: Vec<Exercise>,
}

impl Reference {
    pub fn load(dir: &Path) -> Result<Reference> {
        let root = dir
            .canonicalize()
            .with_context(|| format!("no exercises workspace at {}", dir.display()))?;
        if !root.join("Cargo.toml").is_file() {
            bail!("{} has no Cargo.toml", root.display());
        }
        let exercises = discover::exercises(&root)?;
        if exercises.is_empty() {
            bail!("no exercises (ex-*/Cargo.toml) in {}", root.display());
        }
        let repo = root.parent().unwrap_or(&root).to_path_buf();
        Ok(Reference {
            root,
            repo,
            exercises,
        })
    }

    /// The exercises named in `only`, or all of them when it is empty.
    pub fn select(&self, only: &[String]) -> Result<Vec<&Exercise>> {
        for name in only {
            if !self.exercises.iter().any(|e| &e.name == name) {
                let known: Vec<&str> = self.exercises.iter().map(|e| e.name.as_str()).collect();
                bail!("no exercise named {name}; there are: {}", known.join(", "));
            }
        }
        Ok(self
            .exercises
            .iter()
            .filter(|e| only.is_empty() || only.contains(&e.name))
            .collect())
    }

    /// Where grading builds: apart from the repository's main target directory, and
    /// the same every run so dependencies are built once.
    pub fn target_dir(&self) -> PathBuf {
        self.repo.join("target").join("grader")
    }
}

/// Grades `<submission>/<name>/src` of each selected exercise against the reference.
pub fn grade(
    reference: &Reference,
    submission: &Path,
    only: &[String],
    timeout: Duration,
) -> Result<Scorecard> {
    let selected = reference.select(only)?;
    let submission = submission
        .canonicalize()
        .with_context(|| format!("no submission folder at {}", submission.display()))?;
    let target_dir = reference.target_dir();
    let _lock = TargetLock::acquire(&target_dir)?;
    let work = WorkCopy::create(
        &reference.root,
        target_dir.join(format!("work-{}", std::process::id())),
        Some(&reference.repo.join("Cargo.lock")),
    )?;

    let mut cards = Vec::new();
    for exercise in selected {
        cards.push(grade_exercise(
            exercise,
            &submission,
            &work,
            &target_dir,
            timeout,
        )?);
    }
    Ok(Scorecard::new(submission, cards))
}

fn grade_exercise(
    exercise: &Exercise,
    submission: &Path,
    work: &WorkCopy,
    target_dir: &Path,
    timeout: Duration,
) -> Result<ExerciseCard> {
    let name = &exercise.name;
    let src = submission.join(name).join("src");
    if !src.is_dir() {
        eprintln!("grader: {name}: no src/ in the submission");
        let tests = exercise
            .targets
            .iter()
            .flat_map(|t| {
                unrun(
                    exercise,
                    t,
                    Outcome::Missing,
                    "no src/ in the submission",
                    None,
                )
            })
            .collect();
        let problem = format!("no src/ in the submission (looked for {})", src.display());
        return Ok(ExerciseCard::new(name.clone(), Some(problem), tests));
    }

    eprintln!("grader: {name}: building");
    work.install_src(exercise, &src)?;
    let dir = work.exercise_dir(exercise);
    let targets: Vec<String> = exercise.targets.iter().map(|t| t.name.clone()).collect();
    let build = build::test_executables(
        &dir.join("Cargo.toml"),
        &exercise.package,
        target_dir,
        &targets,
    )?;

    let mut tests = Vec::new();
    let mut problems: Vec<String> = Vec::new();
    for target in &exercise.targets {
        let Some(executable) = build.executables.get(&target.name) else {
            let error = build.errors.get(&target.name).map_or_else(
                || "no test executable was built".to_string(),
                CompileError::text,
            );
            if !problems.contains(&error) {
                problems.push(error.clone());
            }
            tests.extend(unrun(
                exercise,
                target,
                Outcome::DoesNotCompile,
                "does not compile",
                Some(error),
            ));
            continue;
        };
        match run::list_tests(executable, &dir, timeout) {
            Ok(names) => {
                for test in names {
                    tests.push(run_one(exercise, target, executable, &dir, test, timeout)?);
                }
            }
            Err(error) => {
                let problem = format!(
                    "{}: the test executable could not list its tests: {error:#}",
                    target.name
                );
                problems.push(problem.clone());
                tests.extend(unrun(
                    exercise,
                    target,
                    Outcome::Failed,
                    "could not list tests",
                    Some(problem),
                ));
            }
        }
    }
    let problem = (!problems.is_empty()).then(|| problems.join("\n"));
    Ok(ExerciseCard::new(name.clone(), problem, tests))
}

fn run_one(
    exercise: &Exercise,
    target: &TestTarget,
    executable: &Path,
    dir: &Path,
    test: String,
    timeout: Duration,
) -> Result<TestCard> {
    eprintln!("grader: {}: {}::{test}", exercise.name, target.name);
    let run = run::run_test(executable, dir, &test, timeout)
        .with_context(|| format!("running {}", executable.display()))?;
    let points = exercise.points_for(&test);
    let outcome = if run.passed {
        Outcome::Passed
    } else if run.timed_out {
        Outcome::TimedOut
    } else {
        Outcome::Failed
    };
    Ok(TestCard {
        score: if run.passed { points } else { 0 },
        points,
        name: test,
        target: target.name.clone(),
        outcome,
        reason: run.reason,
        seconds: run.elapsed.as_secs_f64(),
        output: run.output,
    })
}

/// Scores zero for every test a scan of `target` finds: the maximum stays what it
/// would be had the tests run.
fn unrun(
    exercise: &Exercise,
    target: &TestTarget,
    outcome: Outcome,
    reason: &str,
    output: Option<String>,
) -> Vec<TestCard> {
    target
        .scanned
        .iter()
        .map(|test| TestCard {
            name: test.clone(),
            target: target.name.clone(),
            points: exercise.points_for(test),
            score: 0,
            outcome,
            reason: Some(reason.to_string()),
            seconds: 0.0,
            output: output.clone(),
        })
        .collect()
}
