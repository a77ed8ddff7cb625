//! What there is to grade: the exercises of a reference workspace, their test targets,
//! the tests in them and what each test is worth.
//!
//! Test targets come from `cargo metadata` (so `[[test]]` tables and `autotests` mean
//! what Cargo says they mean). Test *names* come from two places: the test executable's
//! `--list` when the submission compiles, and [`scan_test_names`] over the reference
//! source when it does not. The scan is what keeps the maximum score the same for a
//! submission that does not compile; `verify` checks that the two agree.

use std::cmp::Ordering;
use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use serde_json::Value;

use crate::build::cargo;

/// One exercise of the reference workspace.
#[derive(Debug, Clone)]
pub struct Exercise {
    /// The directory name. Scorecards key on it, never on a position, so renumbering or
    /// inserting an exercise cannot shift a learner's marks onto another exercise.
    pub name: String,
    /// The Cargo package name, for `cargo test -p`; the directory name is not enough
    /// because Cargo does not require the two to match.
    pub package: String,
    /// The reference exercise directory.
    pub dir: PathBuf,
    /// The integration test targets. Only these count: unit tests in `src/` belong to
    /// the learner, who could write ones that pass.
    pub targets: Vec<TestTarget>,
    /// `[package.metadata.grading] points`: tests not named here are worth one point.
    pub points: BTreeMap<String, u32>,
}

/// One integration test target (one file under `tests/`).
#[derive(Debug, Clone)]
pub struct TestTarget {
    /// The target name Cargo gives it (`--test NAME`).
    pub name: String,
    /// The target's root source file, relative to the exercise directory.
    pub file: PathBuf,
    /// The tests a scan of `file` finds, sorted; used when the target does not compile.
    pub scanned: Vec<String>,
}

impl Exercise {
    /// What passing `test` is worth.
    pub fn points_for(&self, test: &str) -> u32 {
        self.points.get(test).copied().unwrap_or(1)
    }
}

/// Every `ex-*` directory of `reference` that holds a `Cargo.toml`, in natural order
/// (`ex-2` before `ex-10`).
pub fn exercises(reference: &Path) -> Result<Vec<Exercise>> {
    let mut dirs = Vec::new();
    let entries =
        fs::read_dir(reference).with_context(|| format!("reading {}", reference.display()))?;
    for entry in entries {
        let entry = entry?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.starts_with("ex-") && entry.path().join("Cargo.toml").is_file() {
            dirs.push(name);
        }
    }
    dirs.sort_by(|a, b| natural_order(a, b));
    if dirs.is_empty() {
        return Ok(Vec::new());
    }

    let packages = workspace_packages(reference)?;
    let mut found = Vec::new();
    for name in dirs {
        let dir = reference.join(&name);
        let key = dir
            .canonicalize()
            .with_context(|| format!("resolving {}", dir.display()))?;
        let Some(package) = packages.get(&key) else {
            bail!(
                "{} has a Cargo.toml but is not a member of the workspace {}",
                dir.display(),
                reference.join("Cargo.toml").display()
            );
        };
        found.push(exercise_from_metadata(name, dir, &key, package)?);
    }
    Ok(found)
}

/// `cargo metadata --no-deps` of the reference workspace, keyed by package directory.
/// `--no-deps` neither resolves nor writes a lock file, so the reference stays untouched.
fn workspace_packages(reference: &Path) -> Result<BTreeMap<PathBuf, Value>> {
    let output = cargo()
        .args([
            "metadata",
            "--no-deps",
            "--format-version",
            "1",
            "--manifest-path",
        ])
        .arg(reference.join("Cargo.toml"))
        .output()
        .context("running cargo metadata")?;
    if !output.status.success() {
        bail!(
            "cargo metadata failed for {}:\n{}",
            reference.display(),
            String::from_utf8_lossy(&output.stderr).trim_end()
        );
    }
    let metadata: Value =
        serde_json::from_slice(&output.stdout).context("parsing cargo metadata output")?;
    let mut packages = BTreeMap::new();
    for package in metadata["packages"].as_array().into_iter().flatten() {
        let Some(manifest) = package["manifest_path"].as_str() else {
            continue;
        };
        if let Some(dir) = Path::new(manifest).parent() {
            let dir = dir.canonicalize().unwrap_or_else(|_| dir.to_path_buf());
            packages.insert(dir, package.clone());
        }
    }
    Ok(packages)
}

fn exercise_from_metadata(
    name: String,
    dir: PathBuf,
    canonical_dir: &Path,
    package: &Value,
) -> Result<Exercise> {
    let package_name = package["name"]
        .as_str()
        .context("cargo metadata: package without a name")?
        .to_string();

    let mut targets = Vec::new();
    for target in package["targets"].as_array().into_iter().flatten() {
        let is_test = target["kind"]
            .as_array()
            .is_some_and(|kinds| kinds.iter().any(|k| k == "test"));
        if !is_test {
            continue;
        }
        let target_name = target["name"].as_str().unwrap_or_default().to_string();
        let src_path = PathBuf::from(target["src_path"].as_str().unwrap_or_default());
        let file = src_path
            .strip_prefix(canonical_dir)
            .map(Path::to_path_buf)
            .unwrap_or(src_path.clone());
        let source = fs::read_to_string(&src_path)
            .with_context(|| format!("reading test file {}", src_path.display()))?;
        // Sorted as libtest lists them, so a scorecard reads the same either way.
        let mut scanned = scan_test_names(&source);
        scanned.sort();
        targets.push(TestTarget {
            name: target_name,
            file,
            scanned,
        });
    }
    targets.sort_by(|a, b| a.name.cmp(&b.name));

    let mut points = BTreeMap::new();
    let table = &package["metadata"]["grading"]["points"];
    if let Some(table) = table.as_object() {
        for (test, value) in table {
            let Some(worth) = value.as_u64().and_then(|v| u32::try_from(v).ok()) else {
                bail!(
                    "{name}: [package.metadata.grading] points.{test} must be a whole number, not {value}"
                );
            };
            points.insert(test.clone(), worth);
        }
    } else if !table.is_null() {
        bail!("{name}: [package.metadata.grading] points must be a table of test = points");
    }

    Ok(Exercise {
        name,
        package: package_name,
        dir,
        targets,
        points,
    })
}

/// `ex-2-b` before `ex-10-a`: compare runs of digits by value.
fn natural_order(a: &str, b: &str) -> Ordering {
    fn chunks(s: &str) -> Vec<(bool, &str)> {
        let mut out = Vec::new();
        let mut start = 0;
        let bytes = s.as_bytes();
        for i in 1..=bytes.len() {
            if i == bytes.len() || bytes[i].is_ascii_digit() != bytes[start].is_ascii_digit() {
                out.push((bytes[start].is_ascii_digit(), &s[start..i]));
                start = i;
            }
        }
        out
    }
    let (ca, cb) = (chunks(a), chunks(b));
    for ((da, sa), (db, sb)) in ca.iter().zip(cb.iter()) {
        let order = match (da, db) {
            (true, true) => {
                let (ta, tb) = (sa.trim_start_matches('0'), sb.trim_start_matches('0'));
                ta.len().cmp(&tb.len()).then_with(|| ta.cmp(tb))
            }
            _ => sa.cmp(sb),
        };
        if order != Ordering::Equal {
            return order;
        }
    }
    ca.len().cmp(&cb.len()).then_with(|| a.cmp(b))
}

#[derive(Debug, PartialEq)]
enum Token {
    Ident(String),
    Punct(char),
}

/// The names libtest would give the functions under a `#[test]`-like attribute
/// (`#[test]`, `#[tokio::test]`, `#[tokio::test(flavor = "multi_thread")]`, any path
/// ending in `test`), with `module::` prefixes for tests inside inline `mod` blocks.
///
/// A token-level scan rather than a parser: it skips comments and string and char
/// literals so that a `#[test]` inside a string does not count, which is all the
/// precision a test file needs.
pub fn scan_test_names(source: &str) -> Vec<String> {
    let tokens = tokenize(source);
    let mut names = Vec::new();
    // Open inline modules with the brace depth of their body.
    let mut modules: Vec<(String, usize)> = Vec::new();
    let mut depth = 0usize;
    let mut under_test_attribute = false;
    let mut i = 0;
    while i < tokens.len() {
        match &tokens[i] {
            Token::Punct('#') => {
                let inner = tokens.get(i + 1) == Some(&Token::Punct('!'));
                let open = i + 1 + usize::from(inner);
                if tokens.get(open) == Some(&Token::Punct('[')) {
                    let close = matching_bracket(&tokens, open);
                    if !inner && is_test_attribute(&tokens[open + 1..close]) {
                        under_test_attribute = true;
                    }
                    i = close + 1;
                    continue;
                }
            }
            Token::Ident(word) if word == "mod" => {
                if let (Some(Token::Ident(module)), Some(Token::Punct('{'))) =
                    (tokens.get(i + 1), tokens.get(i + 2))
                {
                    depth += 1;
                    modules.push((module.clone(), depth));
                    under_test_attribute = false;
                    i += 3;
                    continue;
                }
            }
            Token::Ident(word) if word == "fn" => {
                if let Some(Token::Ident(function)) = tokens.get(i + 1) {
                    if under_test_attribute {
                        let mut path: Vec<&str> = modules.iter().map(|(m, _)| m.as_str()).collect();
                        path.push(function);
                        names.push(path.join("::"));
                    }
                    under_test_attribute = false;
                }
            }
            Token::Punct('{') => {
                depth += 1;
                under_test_attribute = false;
            }
            Token::Punct('}') => {
                depth = depth.saturating_sub(1);
                while modules.last().is_some_and(|(_, d)| *d > depth) {
                    modules.pop();
                }
            }
            Token::Punct(';') => under_test_attribute = false,
            _ => {}
        }
        i += 1;
    }
    names
}

/// Index of the `]` closing the `[` at `open` (or the last token if it is unclosed).
fn matching_bracket(tokens: &[Token], open: usize) -> usize {
    let mut depth = 0usize;
    for (offset, token) in tokens[open..].iter().enumerate() {
        match token {
            Token::Punct('[') => depth += 1,
            Token::Punct(']') => {
                depth -= 1;
                if depth == 0 {
                    return open + offset;
                }
            }
            _ => {}
        }
    }
    tokens.len().saturating_sub(1)
}

/// True for an attribute whose path ends in `test`: `test`, `tokio::test`, `::tokio::test`.
fn is_test_attribute(body: &[Token]) -> bool {
    let mut i = 0;
    loop {
        if body.get(i) == Some(&Token::Punct(':')) && body.get(i + 1) == Some(&Token::Punct(':')) {
            i += 2;
        }
        let Some(Token::Ident(segment)) = body.get(i) else {
            return false;
        };
        i += 1;
        match body.get(i) {
            None | Some(Token::Punct('(')) => return segment == "test",
            Some(Token::Punct(':')) => continue,
            Some(_) => return false,
        }
    }
}

fn tokenize(source: &str) -> Vec<Token> {
    let chars: Vec<char> = source.chars().collect();
    let at = |i: usize| chars.get(i).copied();
    let mut tokens = Vec::new();
    let mut i = 0;
    while let Some(c) = at(i) {
        if c.is_whitespace() {
            i += 1;
        } else if c == '/' && at(i + 1) == Some('/') {
            while at(i).is_some_and(|c| c != '\n') {
                i += 1;
            }
        } else if c == '/' && at(i + 1) == Some('*') {
            let mut depth = 0usize;
            while let Some(c) = at(i) {
                if c == '/' && at(i + 1) == Some('*') {
                    depth += 1;
                    i += 2;
                } else if c == '*' && at(i + 1) == Some('/') {
                    depth -= 1;
                    i += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    i += 1;
                }
            }
        } else if c == '"' {
            i = skip_string(&chars, i + 1);
        } else if let Some(end) = raw_string_end(&chars, i) {
            i = end;
        } else if c == 'b' && at(i + 1) == Some('"') {
            i = skip_string(&chars, i + 2);
        } else if c == 'b' && at(i + 1) == Some('\'') {
            i = skip_char_or_lifetime(&chars, i + 1);
        } else if c == '\'' {
            i = skip_char_or_lifetime(&chars, i);
        } else if c.is_alphanumeric() || c == '_' {
            let start = i;
            while at(i).is_some_and(|c| c.is_alphanumeric() || c == '_') {
                i += 1;
            }
            tokens.push(Token::Ident(chars[start..i].iter().collect()));
        } else {
            tokens.push(Token::Punct(c));
            i += 1;
        }
    }
    tokens
}

/// Past the closing quote of a string whose body starts at `i`.
fn skip_string(chars: &[char], mut i: usize) -> usize {
    while let Some(&c) = chars.get(i) {
        match c {
            '\\' => i += 2,
            '"' => return i + 1,
            _ => i += 1,
        }
    }
    i
}

/// If a raw string (`r"…"`, `r#"…"#`, `br"…"`) starts at `i`, the index past its end.
fn raw_string_end(chars: &[char], i: usize) -> Option<usize> {
    let mut j = match (chars.get(i), chars.get(i + 1)) {
        (Some('r'), _) => i + 1,
        (Some('b'), Some('r')) => i + 2,
        _ => return None,
    };
    let hashes = chars[j..].iter().take_while(|&&c| c == '#').count();
    j += hashes;
    if chars.get(j) != Some(&'"') {
        return None;
    }
    j += 1;
    while j < chars.len() {
        if chars[j] == '"'
            && chars[j + 1..]
                .iter()
                .take(hashes)
                .filter(|&&c| c == '#')
                .count()
                == hashes
        {
            return Some(j + 1 + hashes);
        }
        j += 1;
    }
    Some(j)
}

/// At a `'`: skip a char literal, or just the quote of a lifetime or label (its name
/// then lexes as an identifier, which is harmless).
fn skip_char_or_lifetime(chars: &[char], i: usize) -> usize {
    match (chars.get(i + 1), chars.get(i + 2)) {
        (Some('\\'), _) => {
            let mut j = i + 3;
            while chars.get(j).is_some_and(|&c| c != '\'') {
                j += 1;
            }
            j + 1
        }
        (Some(_), Some('\'')) => i + 3,
        _ => i + 1,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scan_finds_plain_and_tokio_tests_and_skips_helpers() {
        let source = r##"
            use std::time::Duration;
            // #[test] fn in_a_comment() {}
            /* #[test] fn in_a_block /* nested */ comment() {} */
            const NOT_A_TEST: &str = "#[test] fn in_a_string() {}";
            const RAW: &str = r#"#[test] fn in_a_raw_string() {}"#;

            #[test]
            fn plain() { let c = '{'; let q = '\''; assert!(c != q); }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            #[ignore = "slow"]
            async fn with_tokio<'a>() -> Result<(), Box<dyn std::error::Error>> { Ok(()) }

            fn helper() {}

            #[cfg(test)]
            mod nested {
                #[test]
                fn inner() {}
                mod deeper { #[::tokio::test] async fn deepest() {} }
            }

            #[test]
            fn after_modules() {}
        "##;
        assert_eq!(
            scan_test_names(source),
            [
                "plain",
                "with_tokio",
                "nested::inner",
                "nested::deeper::deepest",
                "after_modules"
            ]
        );
    }

    #[test]
    fn attributes_that_are_not_tests_do_not_count() {
        let source =
            "#[cfg(test)] fn a() {} #[test_case(1)] fn b() {} #[derive(Debug)] struct S; fn c() {}";
        assert!(scan_test_names(source).is_empty());
    }

    #[test]
    fn natural_order_puts_ex_2_before_ex_10() {
        let mut names = vec!["ex-10-a", "ex-2-b", "ex-1-c"];
        names.sort_by(|a, b| natural_order(a, b));
        assert_eq!(names, ["ex-1-c", "ex-2-b", "ex-10-a"]);
    }
}
