//! The grader against a throwaway repository in a temp dir: a tiny exercises workspace
//! with no dependencies from a registry (so builds take seconds), a path dependency
//! outside the workspace (the grader must rewrite it), and tests that pass, fail and hang.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use grader::report::{Outcome, Scorecard};

/// A fake repository: `exercises/`, `crates/`, and whatever a test adds.
struct FakeRepo {
    dir: tempfile::TempDir,
}

const WORKSPACE: &str = r#"
[workspace]
resolver = "3"
members = ["ex-*"]

[workspace.dependencies]
scoring = { path = "../crates/scoring" }
"#;

/// `passes` is worth 3 points, to show `[package.metadata.grading]` at work.
const EXERCISE_MANIFEST: &str = r#"
[package]
name = "ex-1-answer"
version = "0.1.0"
edition = "2024"
publish = false

[dev-dependencies]
scoring.workspace = true

[package.metadata.grading]
points = { passes = 3 }
"#;

const STUB: &str = "/// Return the answer.\npub fn answer() -> u32 {\n    todo!()\n}\n";

const SOLVED: &str = "pub fn answer() -> u32 {\n    42\n}\n\n\
    #[cfg(test)]\nmod learner_tests {\n    #[test]\n    fn free_point() {}\n}\n";

impl FakeRepo {
    /// An exercise `ex-1-answer` whose tests pass, fail, and hang; the hanging test
    /// starts a `sleep` child and writes its pid to `hang.pid`, so a test can check
    /// the grader killed the whole process group.
    fn with_pass_fail_hang() -> FakeRepo {
        let repo = FakeRepo::new();
        let pid_file = repo.path().join("hang.pid");
        repo.write("exercises/ex-1-answer/Cargo.toml", EXERCISE_MANIFEST);
        repo.write("exercises/ex-1-answer/src/lib.rs", STUB);
        repo.write(
            "exercises/ex-1-answer/tests/basic.rs",
            &format!(
                r#"
use ex_1_answer::answer;

#[test]
fn passes() {{
    assert_eq!(answer(), 42);
}}

#[test]
fn fails() {{
    assert_eq!(scoring::double(answer()), 1, "doubled <answer> & \"more\"");
}}

#[test]
fn hangs() {{
    let _ = answer();
    let child = std::process::Command::new("sleep").arg("30").spawn().unwrap();
    std::fs::write({pid_file:?}, child.id().to_string()).unwrap();
    for _ in 0..30 {{
        std::thread::sleep(std::time::Duration::from_secs(1));
    }}
}}
"#
            ),
        );
        repo
    }

    /// An exercise whose tests all fail on the stub and pass on `solutions/`.
    fn with_solution() -> FakeRepo {
        let repo = FakeRepo::new();
        repo.write("exercises/ex-1-answer/Cargo.toml", EXERCISE_MANIFEST);
        repo.write("exercises/ex-1-answer/src/lib.rs", STUB);
        repo.write(
            "exercises/ex-1-answer/tests/basic.rs",
            "use ex_1_answer::answer;\n\n\
             #[test]\nfn passes() {\n    assert_eq!(answer(), 42);\n}\n\n\
             #[test]\nfn is_even() {\n    assert_eq!(scoring::double(answer()) % 4, 0);\n}\n",
        );
        repo.write(
            "solutions/ex-1-answer/Cargo.toml",
            "[package]\nname = \"ex-1-answer-solution\"\nversion = \"0.1.0\"\nedition = \"2024\"\n\
             autotests = false\n\n[lib]\nname = \"ex_1_answer\"\n\n\
             [[test]]\nname = \"basic\"\npath = \"../../exercises/ex-1-answer/tests/basic.rs\"\n",
        );
        repo.write("solutions/ex-1-answer/src/lib.rs", SOLVED);
        repo
    }

    fn new() -> FakeRepo {
        let repo = FakeRepo {
            dir: tempfile::tempdir().unwrap(),
        };
        repo.write("exercises/Cargo.toml", WORKSPACE);
        repo.write(
            "crates/scoring/Cargo.toml",
            "[package]\nname = \"scoring\"\nversion = \"0.1.0\"\nedition = \"2024\"\n",
        );
        repo.write(
            "crates/scoring/src/lib.rs",
            "pub fn double(n: u32) -> u32 {\n    n * 2\n}\n",
        );
        repo
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    fn write(&self, relative: &str, contents: &str) {
        let path = self.path().join(relative);
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(path, contents).unwrap();
    }

    /// Runs the grader with `--exercises` pointing at this repository.
    fn grader(&self, command: &str, args: &[&str]) -> Output {
        Command::new(env!("CARGO_BIN_EXE_grader"))
            .arg(command)
            .arg("--exercises")
            .arg(self.path().join("exercises"))
            .args(args)
            .output()
            .unwrap()
    }

    fn file(&self, name: &str) -> PathBuf {
        self.path().join(name)
    }
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn explain(output: &Output) -> String {
    format!(
        "status {:?}\n--- stdout\n{}\n--- stderr\n{}",
        output.status,
        stdout(output),
        String::from_utf8_lossy(&output.stderr)
    )
}

#[test]
fn a_learner_is_scored_on_pass_fail_and_timeout_with_reference_tests() {
    let repo = FakeRepo::with_pass_fail_hang();
    // The learner solved it, but also rewrote the tests to pass: those edits must not count.
    repo.write("learner/ex-1-answer/src/lib.rs", SOLVED);
    repo.write(
        "learner/ex-1-answer/tests/basic.rs",
        "#[test] fn passes() {} #[test] fn fails() {} #[test] fn hangs() {}",
    );
    let json = repo.file("report.json");
    let junit = repo.file("report.xml");

    let output = repo.grader(
        "grade",
        &[
            "--submission",
            repo.file("learner").to_str().unwrap(),
            "--timeout",
            "2",
            "--json",
            json.to_str().unwrap(),
            "--junit",
            junit.to_str().unwrap(),
        ],
    );

    assert!(output.status.success(), "{}", explain(&output));
    let text = stdout(&output);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(
        lines.last(),
        Some(&"grade: 1 passed, 2 failed"),
        "{}",
        explain(&output)
    );
    assert_eq!(lines[lines.len() - 2], "points: 3/5");
    assert!(text.contains("ex-1-answer  3/5"), "{text}");
    assert!(text.contains("✓ passes    3/3"), "{text}");
    assert!(
        text.contains("✗ fails     0/1  panicked: assertion `left == right` failed: doubled <answer> & \"more\""),
        "{text}"
    );
    assert!(
        text.contains("✗ hangs     0/1  timed out after 2s"),
        "{text}"
    );
    assert!(
        !text.contains("free_point"),
        "unit tests in the learner's src must not count:\n{text}"
    );

    let card: Scorecard = serde_json::from_str(&fs::read_to_string(&json).unwrap()).unwrap();
    assert_eq!(
        (card.passed, card.failed, card.score, card.max),
        (1, 2, 3, 5)
    );
    let outcomes: Vec<(&str, Outcome)> = card.exercises[0]
        .tests
        .iter()
        .map(|t| (t.name.as_str(), t.outcome))
        .collect();
    assert_eq!(
        outcomes,
        [
            ("fails", Outcome::Failed),
            ("hangs", Outcome::TimedOut),
            ("passes", Outcome::Passed)
        ]
    );

    let xml = fs::read_to_string(&junit).unwrap();
    assert!(
        xml.contains(r#"<testsuite name="ex-1-answer" tests="3" failures="2""#),
        "{xml}"
    );
    assert!(
        xml.contains("doubled &lt;answer&gt; &amp; &quot;more&quot;"),
        "{xml}"
    );
    assert!(
        xml.contains(r#"<failure type="timeout" message="timed out after 2s">"#),
        "{xml}"
    );
    assert_eq!(xml.matches("<testcase ").count(), 3);

    // The `sleep` the hanging test started was in its process group, so it is gone too.
    let pid = fs::read_to_string(repo.file("hang.pid")).unwrap();
    let stat = fs::read_to_string(format!("/proc/{}/stat", pid.trim())).unwrap_or_default();
    let state = stat
        .rsplit(") ")
        .next()
        .and_then(|rest| rest.chars().next());
    assert!(
        stat.is_empty() || state == Some('Z'),
        "the hanging test's child is still running: {stat}"
    );

    // Nothing left behind but the build cache.
    let leftovers: Vec<_> = fs::read_dir(repo.file("target/grader"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|name| name.starts_with("work-"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

#[test]
fn a_submission_that_does_not_compile_keeps_the_full_maximum() {
    let repo = FakeRepo::with_pass_fail_hang();
    repo.write(
        "learner/ex-1-answer/src/lib.rs",
        "pub fn answer() -> u32 {\n    \"forty-two\"\n}\n",
    );
    let json = repo.file("report.json");

    let output = repo.grader(
        "grade",
        &[
            "--submission",
            repo.file("learner").to_str().unwrap(),
            "--json",
            json.to_str().unwrap(),
        ],
    );

    assert!(output.status.success(), "{}", explain(&output));
    let text = stdout(&output);
    assert!(text.contains("ex-1-answer  0/5"), "{text}");
    assert!(text.contains("error[E0308]: mismatched types"), "{text}");
    assert!(text.contains("✗ passes    0/3  does not compile"), "{text}");
    assert!(text.ends_with("grade: 0 passed, 3 failed\n"), "{text}");
    let card: Scorecard = serde_json::from_str(&fs::read_to_string(&json).unwrap()).unwrap();
    assert!(
        card.exercises[0]
            .tests
            .iter()
            .all(|t| t.outcome == Outcome::DoesNotCompile)
    );
}

#[test]
fn a_missing_src_scores_zero_with_a_reason() {
    let repo = FakeRepo::with_pass_fail_hang();
    fs::create_dir_all(repo.file("learner")).unwrap();

    let output = repo.grader(
        "grade",
        &["--submission", repo.file("learner").to_str().unwrap()],
    );

    assert!(output.status.success(), "{}", explain(&output));
    let text = stdout(&output);
    assert!(text.contains("no src/ in the submission"), "{text}");
    assert!(text.contains("ex-1-answer  0/5"), "{text}");
    assert!(text.ends_with("grade: 0 passed, 3 failed\n"), "{text}");
}

#[test]
fn an_unknown_exercise_name_is_an_error_of_the_grader() {
    let repo = FakeRepo::with_pass_fail_hang();
    let output = repo.grader("grade", &["--only", "ex-9-nothing"]);
    assert_eq!(output.status.code(), Some(2), "{}", explain(&output));
    assert!(String::from_utf8_lossy(&output.stderr).contains("no exercise named ex-9-nothing"));
}

#[test]
fn verify_accepts_failing_stubs_and_passing_solutions() {
    let repo = FakeRepo::with_solution();

    let output = repo.grader("verify", &["--timeout", "20"]);

    assert!(output.status.success(), "{}", explain(&output));
    let text = stdout(&output);
    assert!(text.contains("✓ ex-1-answer: all 2 tests fail"), "{text}");
    assert!(
        text.contains("✓ ex-1-answer: all 2 tests pass (4/4 points)"),
        "{text}"
    );
    assert!(text.trim_end().ends_with(", 0 failed"), "{text}");
}

#[test]
fn verify_names_each_violation() {
    let repo = FakeRepo::with_solution();
    // A stub that answers 0 passes `is_even`; a solution that answers 41 fails both.
    repo.write(
        "exercises/ex-1-answer/src/lib.rs",
        "pub fn answer() -> u32 {\n    0\n}\n",
    );
    repo.write(
        "solutions/ex-1-answer/src/lib.rs",
        "pub fn answer() -> u32 {\n    41\n}\n",
    );
    // A second copy of the tests in the solution.
    repo.write("solutions/ex-1-answer/tests/basic.rs", "");

    let output = repo.grader("verify", &["--timeout", "20"]);

    assert_eq!(output.status.code(), Some(1), "{}", explain(&output));
    let text = stdout(&output);
    for violation in [
        "ex-1-answer: test `is_even` passes on the stub",
        "ex-1-answer: test `passes` fails on the solution: panicked: assertion `left == right` failed",
        "the tests must live only in the exercise",
    ] {
        assert!(text.contains(violation), "missing {violation:?} in\n{text}");
    }
    assert!(text.trim_end().ends_with(", 4 failed"), "{text}");
}
