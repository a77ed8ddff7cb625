//! The scorecard and its three renderings: text for people, JSON for scripts, JUnit XML
//! for gradebooks and CI dashboards. All three come from the one [`Scorecard`].

use std::fmt::Write as _;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// How one test ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    Passed,
    Failed,
    TimedOut,
    /// The submission's code did not compile with this test file.
    DoesNotCompile,
    /// The submission has no `src/` for this exercise.
    Missing,
}

impl Outcome {
    pub fn passed(self) -> bool {
        self == Outcome::Passed
    }

    /// The JUnit `failure type`.
    fn kind(self) -> &'static str {
        match self {
            Outcome::Passed => "passed",
            Outcome::Failed => "failed",
            Outcome::TimedOut => "timeout",
            Outcome::DoesNotCompile => "compile",
            Outcome::Missing => "missing",
        }
    }
}

/// One test of one exercise.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TestCard {
    /// The name libtest gives the test (`module::name` inside a module).
    pub name: String,
    /// The test target (file under `tests/`) it belongs to.
    pub target: String,
    /// What the test is worth.
    pub points: u32,
    /// What it earned: `points` or 0.
    pub score: u32,
    pub outcome: Outcome,
    /// One line saying why it failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    pub seconds: f64,
    /// The end of the output of a failing test, or the compiler error.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output: Option<String>,
}

/// One exercise.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ExerciseCard {
    /// The exercise directory name, its stable identity.
    pub name: String,
    pub score: u32,
    pub max: u32,
    /// What kept tests from running at all (no `src/`, the first compiler error), shown
    /// once under the exercise rather than on every test.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub problem: Option<String>,
    pub tests: Vec<TestCard>,
}

impl ExerciseCard {
    pub fn new(name: String, problem: Option<String>, tests: Vec<TestCard>) -> ExerciseCard {
        ExerciseCard {
            score: tests.iter().map(|t| t.score).sum(),
            max: tests.iter().map(|t| t.points).sum(),
            name,
            problem,
            tests,
        }
    }

    /// How a test is named in the text report: with its target when the exercise has
    /// several test files, since two files may hold tests of the same name.
    fn display_name(&self, test: &TestCard) -> String {
        let several_targets = self.tests.iter().any(|t| t.target != test.target);
        if several_targets {
            format!("{}::{}", test.target, test.name)
        } else {
            test.name.clone()
        }
    }
}

/// A whole grading run.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Scorecard {
    /// The folder that was graded.
    pub submission: PathBuf,
    /// When, as RFC 3339 UTC.
    pub graded_at: String,
    pub passed: usize,
    pub failed: usize,
    pub score: u32,
    pub max: u32,
    pub exercises: Vec<ExerciseCard>,
}

impl Scorecard {
    pub fn new(submission: PathBuf, exercises: Vec<ExerciseCard>) -> Scorecard {
        let tests = || exercises.iter().flat_map(|e| &e.tests);
        Scorecard {
            submission,
            graded_at: humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string(),
            passed: tests().filter(|t| t.outcome.passed()).count(),
            failed: tests().filter(|t| !t.outcome.passed()).count(),
            score: exercises.iter().map(|e| e.score).sum(),
            max: exercises.iter().map(|e| e.max).sum(),
            exercises,
        }
    }

    /// The human scorecard. Its last line is `grade: N passed, N failed`.
    pub fn to_text(&self) -> String {
        let mut out = String::new();
        for exercise in &self.exercises {
            let _ = writeln!(
                out,
                "{}  {}/{}",
                exercise.name, exercise.score, exercise.max
            );
            if let Some(problem) = &exercise.problem {
                for line in problem.lines() {
                    let _ = writeln!(out, "  │ {line}");
                }
            }
            let names: Vec<String> = exercise
                .tests
                .iter()
                .map(|t| exercise.display_name(t))
                .collect();
            let width = names.iter().map(|n| n.chars().count()).max().unwrap_or(0);
            for (test, name) in exercise.tests.iter().zip(&names) {
                let mark = if test.outcome.passed() { '✓' } else { '✗' };
                let points = format!("{}/{}", test.score, test.points);
                let line = format!("  {mark} {name:<width$}  {points:>5}");
                let _ = match &test.reason {
                    Some(reason) => writeln!(out, "{line}  {reason}"),
                    None => writeln!(out, "{}", line.trim_end()),
                };
            }
            out.push('\n');
        }
        let _ = writeln!(out, "points: {}/{}", self.score, self.max);
        let _ = writeln!(out, "grade: {} passed, {} failed", self.passed, self.failed);
        out
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).expect("a scorecard always serializes") + "\n"
    }

    /// JUnit XML: one `testsuite` per exercise, one `testcase` per test, a `failure`
    /// for every test that earned nothing. The score is in each suite's `properties`.
    pub fn to_junit(&self) -> String {
        let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
        let total_time: f64 = self
            .exercises
            .iter()
            .flat_map(|e| &e.tests)
            .map(|t| t.seconds)
            .sum();
        let _ = writeln!(
            out,
            "<testsuites name=\"grader\" tests=\"{}\" failures=\"{}\" errors=\"0\" time=\"{:.3}\">",
            self.passed + self.failed,
            self.failed,
            total_time
        );
        for exercise in &self.exercises {
            let failures = exercise
                .tests
                .iter()
                .filter(|t| !t.outcome.passed())
                .count();
            let time: f64 = exercise.tests.iter().map(|t| t.seconds).sum();
            let _ = writeln!(
                out,
                "  <testsuite name=\"{}\" tests=\"{}\" failures=\"{failures}\" errors=\"0\" skipped=\"0\" time=\"{time:.3}\" timestamp=\"{}\">",
                xml_escape(&exercise.name),
                exercise.tests.len(),
                xml_escape(&self.graded_at),
            );
            out.push_str("    <properties>\n");
            for (name, value) in [
                ("score", exercise.score.to_string()),
                ("max", exercise.max.to_string()),
                ("submission", self.submission.display().to_string()),
            ] {
                let _ = writeln!(
                    out,
                    "      <property name=\"{name}\" value=\"{}\"/>",
                    xml_escape(&value)
                );
            }
            out.push_str("    </properties>\n");
            for test in &exercise.tests {
                let _ = write!(
                    out,
                    "    <testcase name=\"{}\" classname=\"{}.{}\" time=\"{:.3}\"",
                    xml_escape(&test.name),
                    xml_escape(&exercise.name),
                    xml_escape(&test.target),
                    test.seconds
                );
                if test.outcome.passed() {
                    out.push_str("/>\n");
                    continue;
                }
                let message = test.reason.as_deref().unwrap_or("failed");
                let _ = writeln!(
                    out,
                    ">\n      <failure type=\"{}\" message=\"{}\">{}</failure>\n    </testcase>",
                    test.outcome.kind(),
                    xml_escape(message),
                    xml_text(test.output.as_deref().unwrap_or(message)),
                );
            }
            out.push_str("  </testsuite>\n");
        }
        out.push_str("</testsuites>\n");
        out
    }
}

/// Escapes text for an XML attribute, and drops the characters XML 1.0 cannot hold at
/// all (most control characters), which test output may contain.
pub fn xml_escape(text: &str) -> String {
    escape(text, true)
}

/// Like [`xml_escape`], for element content, where line breaks can stay as they are.
pub fn xml_text(text: &str) -> String {
    escape(text, false)
}

fn escape(text: &str, attribute: bool) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            // Only attributes need their quotes and line breaks escaped.
            '\n' | '\r' | '\t' | '"' | '\'' if !attribute => out.push(c),
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            // Kept as references so attribute values keep their line breaks.
            '\n' => out.push_str("&#10;"),
            '\r' => out.push_str("&#13;"),
            '\t' => out.push_str("&#9;"),
            c if (c as u32) < 0x20 || c == '\u{fffe}' || c == '\u{ffff}' => {}
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn card() -> Scorecard {
        let tests = vec![
            TestCard {
                name: "passes".into(),
                target: "basic".into(),
                points: 3,
                score: 3,
                outcome: Outcome::Passed,
                reason: None,
                seconds: 0.01,
                output: None,
            },
            TestCard {
                name: "fails".into(),
                target: "basic".into(),
                points: 1,
                score: 0,
                outcome: Outcome::Failed,
                reason: Some("panicked: <&> \"quoted\" (tests/basic.rs:3:5)".into()),
                seconds: 0.02,
                output: Some("line one\nline \u{1}two".into()),
            },
        ];
        Scorecard::new(
            PathBuf::from("/learner"),
            vec![ExerciseCard::new("ex-1-a".into(), None, tests)],
        )
    }

    #[test]
    fn text_ends_with_the_passed_failed_line() {
        let text = card().to_text();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], "ex-1-a  3/4");
        assert_eq!(lines[1], "  ✓ passes    3/3");
        assert!(lines[2].starts_with("  ✗ fails     0/1  panicked: <&>"));
        assert_eq!(lines[lines.len() - 2], "points: 3/4");
        assert_eq!(lines[lines.len() - 1], "grade: 1 passed, 1 failed");
    }

    #[test]
    fn junit_escapes_and_drops_control_characters() {
        let xml = card().to_junit();
        assert!(xml.contains(
            "message=\"panicked: &lt;&amp;&gt; &quot;quoted&quot; (tests/basic.rs:3:5)\""
        ));
        assert!(xml.contains(">line one\nline two</failure>"));
        assert!(xml.contains("<testsuite name=\"ex-1-a\" tests=\"2\" failures=\"1\""));
        assert!(xml.contains("<property name=\"score\" value=\"3\"/>"));
    }

    #[test]
    fn json_round_trips() {
        let json = card().to_json();
        let back: Scorecard = serde_json::from_str(&json).unwrap();
        assert_eq!(
            (back.score, back.max, back.passed, back.failed),
            (3, 4, 1, 1)
        );
        assert_eq!(back.exercises[0].tests[1].outcome, Outcome::Failed);
    }
}
