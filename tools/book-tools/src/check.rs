//! `check`: everything that lets a book drift away from its code, turned into errors.
//!
//! 1. Every chapter listed in `SUMMARY.md` exists; every other Markdown file under
//!    `book/src` is either listed or included by a chapter (mdBook ignores it otherwise).
//! 2. Every include-like directive (`include`, `rustdoc_include`, `playground`) in a
//!    chapter, and in the files those pull in, names a file that exists, an anchor that
//!    exists in it, or a line range inside it.
//! 3. Anchor markers are well formed in every included file and every project file:
//!    each start has one end with the same name, no name is defined twice in a file.
//! 4. Every anchor defined in a project file (steps/, exercises/, solutions/, crates/,
//!    tools/; `.rs .html .toml .js .css`) is included by some chapter.
//! 5. No chapter shows pasted project code (see [`MAX_FREE_LINES`] and
//!    [`PASTE_WINDOW`] for the two rules).
//! 6. Every generated step diff is up to date and included by some chapter.
//! 7. Every `cargo ... -p NAME` in a chapter names a package that exists (in the
//!    workspace or in `exercises/`), so the commands a reader types keep working.
//!    Placeholders such as `step-N` or `ex-N-<topic>` are left alone.

use crate::Problem;
use crate::anchors;
use crate::diffs;
use crate::links::{self, Directive, Selection};
use crate::tree::{self, display, normalize};
use std::collections::{BTreeSet, HashMap};
use std::fs;
use std::path::{Path, PathBuf};

/// Languages whose fences would hold project code.
pub const CODE_LANGUAGES: &[&str] = &["rust", "rs", "toml", "html", "js", "javascript", "css"];

/// Rule A: a fence in one of [`CODE_LANGUAGES`] may hold at most this many non-blank
/// lines besides include directives. A two-line illustration in the prose is fine; a
/// listing is not, and must be included from the source. A fence whose info string
/// contains [`NOT_PROJECT_CODE`] (for example ```` ```rust,not-project-code ````) is
/// exempt from this rule, for the rare snippet that is not part of any crate (say, code
/// that deliberately does not compile).
pub const MAX_FREE_LINES: usize = 3;

/// The fence attribute that exempts a block from rule A (never from rule B).
pub const NOT_PROJECT_CODE: &str = "not-project-code";

/// Rule B: a fence in any language that repeats this many consecutive significant lines
/// of a project file is pasted code, whatever its marker says.
pub const PASTE_WINDOW: usize = 3;

/// Lines shorter than this (after trimming) are too common (`}`, `Ok(())`, `loop {`) to
/// count as evidence of pasting.
const SIGNIFICANT_LEN: usize = 10;

/// mdBook stops expanding nested includes at this depth.
const MAX_DEPTH: usize = 10;

/// Runs every check and returns the problems, sorted by file and line.
pub fn run(root: &Path) -> Vec<Problem> {
    let mut checker = Checker::new(root);
    checker.run();
    let mut problems = checker.problems;
    problems.sort();
    problems.dedup();
    problems
}

struct Checker {
    root: PathBuf,
    book_src: PathBuf,
    problems: Vec<Problem>,
    /// (canonical file, anchor name) pairs some chapter shows.
    used_anchors: BTreeSet<(PathBuf, String)>,
    /// Canonical paths of every file any chapter pulls in, at any depth.
    included: BTreeSet<PathBuf>,
    /// Files whose markers were already checked, so each problem is reported once.
    marker_checked: BTreeSet<PathBuf>,
}

impl Checker {
    fn new(root: &Path) -> Self {
        let root = root.canonicalize().unwrap_or_else(|_| root.to_path_buf());
        Checker {
            book_src: root.join("book/src"),
            root,
            problems: Vec::new(),
            used_anchors: BTreeSet::new(),
            included: BTreeSet::new(),
            marker_checked: BTreeSet::new(),
        }
    }

    fn report(&mut self, file: &Path, line: usize, message: impl Into<String>) {
        let file = display(&self.root, file);
        self.problems.push(Problem::new(file, line, message));
    }

    fn run(&mut self) {
        let summary = self.book_src.join("SUMMARY.md");
        let Ok(summary_text) = fs::read_to_string(&summary) else {
            self.report(&summary, 0, "missing: the book has no table of contents");
            return;
        };
        let chapters = self.summary_chapters(&summary, &summary_text);
        for chapter in &chapters {
            let Ok(text) = fs::read_to_string(chapter) else {
                continue;
            };
            self.follow_directives(chapter, &text, None, 0);
            self.check_fences(chapter, &text);
        }
        self.check_orphan_pages(&chapters);
        self.check_project_anchors();
        self.check_paste(&chapters);
        self.check_generated();
        self.check_package_names(&chapters);
    }

    /// The chapter files `SUMMARY.md` links to, reporting the ones that do not exist.
    fn summary_chapters(&mut self, summary: &Path, text: &str) -> Vec<PathBuf> {
        let mut chapters = Vec::new();
        for (index, line) in text.lines().enumerate() {
            for target in markdown_link_targets(line) {
                // `[Draft]()` is a draft chapter; external links are not files.
                if target.is_empty() || target.contains("://") {
                    continue;
                }
                let target = target.split('#').next().unwrap_or_default();
                let path = normalize(&self.book_src.join(target));
                if path.is_file() {
                    chapters.push(path);
                } else {
                    self.report(
                        summary,
                        index + 1,
                        format!("chapter `{target}` does not exist"),
                    );
                }
            }
        }
        chapters
    }

    /// Checks the directives in `text` and the files they include, the way mdBook
    /// expands them. `text` is all of `file`, or the part of it an include selected; then
    /// `line_map[i]` is the line in `file` of the part's line `i + 1`.
    fn follow_directives(
        &mut self,
        file: &Path,
        text: &str,
        line_map: Option<&[usize]>,
        depth: usize,
    ) {
        if depth >= MAX_DEPTH {
            self.report(
                file,
                0,
                "includes nest too deep; check for an include cycle",
            );
            return;
        }
        let base = file.parent().unwrap_or(Path::new("."));
        for directive in links::find_directives(text) {
            let line = match line_map {
                Some(map) => map.get(directive.line - 1).copied().unwrap_or(0),
                None => directive.line,
            };
            self.follow_one(file, base, &directive, line, depth);
        }
    }

    fn follow_one(
        &mut self,
        file: &Path,
        base: &Path,
        directive: &Directive,
        line: usize,
        depth: usize,
    ) {
        let target = normalize(&base.join(&directive.path));
        let generated = self.root.join(diffs::GENERATED_DIR);
        if !target.is_file() {
            let hint = if target.starts_with(&generated) {
                format!("; {}", diffs::REGENERATE)
            } else {
                String::new()
            };
            let shown = display(&self.root, &target);
            self.report(
                file,
                line,
                format!(
                    "included file `{}` does not exist ({shown}){hint}",
                    directive.path
                ),
            );
            return;
        }
        let canonical = target.canonicalize().unwrap_or_else(|_| target.clone());
        let Ok(contents) = fs::read_to_string(&target) else {
            self.report(
                file,
                line,
                format!("included file `{}` is not UTF-8 text", directive.path),
            );
            return;
        };
        self.included.insert(canonical.clone());
        self.check_markers(&canonical, &contents);

        let shown = display(&self.root, &target);
        let selected = match &directive.selection {
            Selection::Anchor(name) => {
                let found = anchors::scan(&contents);
                if !found.defined.contains_key(name) {
                    self.report(file, line, format!("anchor `{name}` not found in {shown}"));
                    return;
                }
                self.used_anchors.insert((canonical.clone(), name.clone()));
                anchors::select(&contents, &directive.selection)
            }
            Selection::Lines { start, end } => {
                let total = contents.lines().count();
                if let Some(message) = range_problem(*start, *end, total) {
                    self.report(file, line, format!("{message} in {shown}"));
                    return;
                }
                anchors::select(&contents, &directive.selection)
            }
        };
        // mdBook expands directives inside what it included, relative to that file.
        let part = selected
            .iter()
            .map(|(_, l)| *l)
            .collect::<Vec<_>>()
            .join("\n");
        let line_map: Vec<usize> = selected.iter().map(|(n, _)| *n).collect();
        self.follow_directives(&canonical, &part, Some(&line_map), depth + 1);
    }

    fn check_markers(&mut self, file: &Path, contents: &str) {
        if !self.marker_checked.insert(file.to_path_buf()) {
            return;
        }
        for (line, message) in anchors::scan(contents).problems {
            self.report(file, line, message);
        }
    }

    /// Markdown files mdBook will never render: neither in SUMMARY.md nor included.
    fn check_orphan_pages(&mut self, chapters: &[PathBuf]) {
        let Ok(files) = tree::walk(&self.book_src, &tree::is_build_or_hidden) else {
            return;
        };
        let listed: BTreeSet<PathBuf> = chapters
            .iter()
            .map(|c| c.canonicalize().unwrap_or_else(|_| c.clone()))
            .collect();
        for file in files {
            let is_md = file.extension().is_some_and(|e| e == "md");
            if !is_md || file.file_name().is_some_and(|n| n == "SUMMARY.md") {
                continue;
            }
            let canonical = file.canonicalize().unwrap_or_else(|_| file.clone());
            if !listed.contains(&canonical) && !self.included.contains(&canonical) {
                self.report(
                    &file,
                    0,
                    "not listed in SUMMARY.md and not included by any chapter, so the book never shows it",
                );
            }
        }
    }

    fn check_project_anchors(&mut self) {
        let files = match tree::project_files(&self.root) {
            Ok(files) => files,
            Err(e) => {
                let root = self.root.clone();
                self.report(&root, 0, format!("cannot list project files: {e}"));
                return;
            }
        };
        for file in files {
            let Ok(contents) = fs::read_to_string(&file) else {
                continue;
            };
            let canonical = file.canonicalize().unwrap_or_else(|_| file.clone());
            self.check_markers(&canonical, &contents);
            for (name, span) in anchors::scan(&contents).defined {
                if !self
                    .used_anchors
                    .contains(&(canonical.clone(), name.clone()))
                {
                    self.report(
                        &file,
                        span.start,
                        format!("anchor `{name}` is defined but no chapter includes it"),
                    );
                }
            }
        }
    }

    /// Rule A, per chapter.
    fn check_fences(&mut self, chapter: &Path, text: &str) {
        for fence in fences(text) {
            let language = fence.language();
            if !CODE_LANGUAGES.contains(&language.as_str()) || fence.info.contains(NOT_PROJECT_CODE)
            {
                continue;
            }
            let free = fence
                .body
                .iter()
                .filter(|(_, l)| !l.trim().is_empty() && !is_only_directives(l))
                .count();
            if free > MAX_FREE_LINES {
                self.report(
                    chapter,
                    fence.line,
                    format!(
                        "```{language} block has {free} lines of code written into the chapter \
                         (at most {MAX_FREE_LINES}): include it from the source with an anchor, \
                         or mark the fence `{language},{NOT_PROJECT_CODE}` if it is not project code"
                    ),
                );
            }
        }
    }

    /// Rule B: any fence in any chapter that repeats project lines.
    fn check_paste(&mut self, chapters: &[PathBuf]) {
        let Ok(files) = tree::project_files(&self.root) else {
            return;
        };
        let mut index: HashMap<String, (PathBuf, usize)> = HashMap::new();
        for file in files {
            let Ok(contents) = fs::read_to_string(&file) else {
                continue;
            };
            let lines = significant_lines(contents.lines().enumerate().map(|(i, l)| (i + 1, l)));
            for window in lines.windows(PASTE_WINDOW) {
                let key = window_key(window);
                index
                    .entry(key)
                    .or_insert_with(|| (file.clone(), window[0].0));
            }
        }
        if index.is_empty() {
            return;
        }
        for chapter in chapters {
            let Ok(text) = fs::read_to_string(chapter) else {
                continue;
            };
            for fence in fences(&text) {
                let lines = significant_lines(fence.body.iter().map(|(n, l)| (*n, *l)));
                let hit = lines.windows(PASTE_WINDOW).find_map(|window| {
                    index
                        .get(&window_key(window))
                        .map(|(file, line)| (window[0].0, file.clone(), *line))
                });
                if let Some((at, source, source_line)) = hit {
                    let shown = display(&self.root, &source);
                    self.report(
                        chapter,
                        at,
                        format!(
                            "these lines are pasted from {shown}:{source_line}: \
                             include them with an anchor instead"
                        ),
                    );
                }
            }
        }
    }

    fn check_generated(&mut self) {
        match diffs::stale(&self.root) {
            Ok(stale) => {
                for item in stale {
                    let message = format!("{}; {}", item.reason, diffs::REGENERATE);
                    self.problems.push(Problem::new(item.path, 0, message));
                }
            }
            Err(e) => {
                let steps = self.root.join("steps");
                self.report(&steps, 0, format!("cannot compute step diffs: {e:#}"));
            }
        }
        let Ok(expected) = diffs::expected(&self.root) else {
            return;
        };
        for item in expected {
            let canonical = item
                .path
                .canonicalize()
                .unwrap_or_else(|_| item.path.clone());
            if item.path.exists() && !self.included.contains(&canonical) {
                self.report(
                    &item.path,
                    0,
                    format!(
                        "no chapter includes this diff: show it in the step {} chapter inside a ```diff fence",
                        item.step
                    ),
                );
            }
        }
    }
}

impl Checker {
    fn check_package_names(&mut self, chapters: &[PathBuf]) {
        let known = package_names(&self.root);
        for chapter in chapters {
            let Ok(text) = fs::read_to_string(chapter) else {
                continue;
            };
            for (index, line) in text.lines().enumerate() {
                for name in cargo_package_args(line) {
                    if !is_placeholder(name) && !known.contains(name) {
                        self.report(
                            chapter,
                            index + 1,
                            format!(
                                "`-p {name}`: no package of that name in the workspace or in exercises/"
                            ),
                        );
                    }
                }
            }
        }
    }
}

/// Package names of every crate one level below the directories a reader can `-p`.
fn package_names(root: &Path) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    for top in tree::PROJECT_DIRS {
        let Ok(entries) = fs::read_dir(root.join(top)) else {
            continue;
        };
        for entry in entries.flatten() {
            let manifest = entry.path().join("Cargo.toml");
            if let Some(name) = fs::read_to_string(manifest)
                .ok()
                .and_then(|t| package_name(&t))
            {
                names.insert(name);
            }
        }
    }
    names
}

/// The `name` of the `[package]` table of a manifest.
fn package_name(manifest: &str) -> Option<String> {
    let mut in_package = false;
    for line in manifest.lines().map(str::trim) {
        if line.starts_with('[') {
            in_package = line == "[package]";
        } else if in_package {
            if let Some(value) = line.strip_prefix("name") {
                let value = value.trim_start().strip_prefix('=')?.trim();
                return Some(value.trim_matches('"').to_string());
            }
        }
    }
    None
}

/// Package names given with `-p` on a line that runs cargo.
fn cargo_package_args(line: &str) -> Vec<&str> {
    let Some(at) = line.find("cargo ") else {
        return Vec::new();
    };
    let words: Vec<&str> = line[at..].split_whitespace().collect();
    words
        .windows(2)
        .filter(|pair| pair[0] == "-p" || pair[0] == "--package")
        .map(|pair| pair[1].trim_matches(|c: char| "`'\",.;:)".contains(c)))
        .filter(|name| !name.is_empty())
        .collect()
}

/// `step-N`, `ex-N-<topic>`, `<name>`: names that stand for any package.
fn is_placeholder(name: &str) -> bool {
    name.contains('<') || name.split('-').any(|part| part == "N")
}

/// What is wrong with a line range, if anything. `start`/`end` are 0-based, end
/// exclusive, as parsed; messages use the 1-based numbers the author wrote.
fn range_problem(start: Option<usize>, end: Option<usize>, total: usize) -> Option<String> {
    if let Some(start) = start.filter(|s| *s >= total) {
        return Some(format!(
            "line range starts at line {} but the file has {total} lines",
            start + 1
        ));
    }
    if let Some(end) = end {
        if end > total {
            return Some(format!(
                "line range ends at line {end} but the file has {total} lines"
            ));
        }
        if end <= start.unwrap_or(0) {
            return Some("line range is empty".to_string());
        }
    }
    None
}

/// Link targets `[...](target)` on one line of SUMMARY.md.
fn markdown_link_targets(line: &str) -> Vec<&str> {
    let mut targets = Vec::new();
    let mut rest = line;
    while let Some(at) = rest.find("](") {
        let after = &rest[at + 2..];
        let Some(close) = after.find(')') else {
            break;
        };
        targets.push(after[..close].trim());
        rest = &after[close + 1..];
    }
    targets
}

/// True when the line holds nothing but include-like directives.
fn is_only_directives(line: &str) -> bool {
    let directives = links::find_directives(line);
    if directives.is_empty() {
        return false;
    }
    let mut rest = line.to_string();
    for d in directives.iter().rev() {
        rest.replace_range(d.span.clone(), "");
    }
    rest.trim().is_empty()
}

/// A fenced code block in a chapter.
#[derive(Debug)]
struct Fence<'a> {
    /// 1-based line of the opening fence.
    line: usize,
    info: String,
    body: Vec<(usize, &'a str)>,
}

impl Fence<'_> {
    /// The first word of the info string: ```` ```rust,ignore ```` is `rust`.
    fn language(&self) -> String {
        self.info
            .split(|c: char| c == ',' || c.is_whitespace() || c == '{')
            .next()
            .unwrap_or_default()
            .to_ascii_lowercase()
    }
}

/// Fenced code blocks (``` or ~~~, any indentation, as in lists). An unclosed fence
/// runs to the end of the file, as in CommonMark.
fn fences(text: &str) -> Vec<Fence<'_>> {
    let mut fences = Vec::new();
    let mut open: Option<(char, usize, Fence)> = None;
    for (index, line) in text.lines().enumerate() {
        let number = index + 1;
        let trimmed = line.trim_start();
        let fence_char = trimmed.chars().next().filter(|c| *c == '`' || *c == '~');
        let run = fence_char.map_or(0, |c| trimmed.chars().take_while(|x| *x == c).count());
        match &mut open {
            Some((c, len, fence)) => {
                let closes = fence_char == Some(*c)
                    && run >= *len
                    && trimmed[run * c.len_utf8()..].trim().is_empty();
                if closes {
                    let (_, _, done) = open.take().expect("fence is open");
                    fences.push(done);
                } else {
                    fence.body.push((number, line));
                }
            }
            None => {
                if let Some(c) = fence_char.filter(|_| run >= 3) {
                    let info = trimmed[run..].trim();
                    // A backtick fence's info string cannot contain backticks
                    // (CommonMark), so "```inline``` text" is not a fence.
                    if c == '`' && info.contains('`') {
                        continue;
                    }
                    open = Some((
                        c,
                        run,
                        Fence {
                            line: number,
                            info: info.to_string(),
                            body: Vec::new(),
                        },
                    ));
                }
            }
        }
    }
    if let Some((_, _, fence)) = open {
        fences.push(fence);
    }
    fences
}

/// Lines worth comparing for rule B: trimmed, long enough, not anchor markers.
fn significant_lines<'a>(lines: impl Iterator<Item = (usize, &'a str)>) -> Vec<(usize, &'a str)> {
    lines
        .map(|(n, l)| (n, l.trim()))
        .filter(|(_, l)| l.len() >= SIGNIFICANT_LEN && anchors::marker(l).is_none())
        .collect()
}

fn window_key(window: &[(usize, &str)]) -> String {
    window
        .iter()
        .map(|(_, l)| *l)
        .collect::<Vec<_>>()
        .join("\n")
}

/// How many anchors the project files define, for the CLI's summary line.
pub fn count_project_anchors(root: &Path) -> usize {
    tree::project_files(root)
        .unwrap_or_default()
        .iter()
        .filter_map(|f| fs::read_to_string(f).ok())
        .map(|text| anchors::scan(&text).defined.len())
        .sum()
}

/// Chapters listed in SUMMARY.md, for the CLI's summary line.
pub fn count_chapters(root: &Path) -> usize {
    let summary = root.join("book/src/SUMMARY.md");
    let Ok(text) = fs::read_to_string(summary) else {
        return 0;
    };
    let targets: BTreeSet<&str> = text
        .lines()
        .flat_map(markdown_link_targets)
        .filter(|t| !t.is_empty())
        .collect();
    targets.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Source lines wrapped in anchor markers, as a step's code would have them.
    fn anchored(name: &str, body: &str) -> String {
        let (start, end) = (concat!("ANCHOR", ":"), concat!("ANCHOR", "_END:"));
        format!("// {start} {name}\n{body}// {end} {name}\n")
    }

    const HUB: &str = "    let (sender, _receiver) = broadcast::channel(16);\n    let mut inbox = sender.subscribe();\n    sender.send(String::from(\"hello\"))?;\n";

    fn put(root: &Path, rel: &str, contents: &str) {
        let path = root.join(rel);
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(path, contents).unwrap();
    }

    /// A book with one chapter that shows one anchor of step 1: a clean starting point
    /// each test breaks in one way.
    fn clean_book() -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        put(
            root,
            "steps/step-1/src/main.rs",
            &format!("fn main() {{\n{}}}\n", anchored("channel", HUB)),
        );
        put(
            root,
            "steps/step-1/Cargo.toml",
            "[package]\nname = \"step-1\"\n",
        );
        put(
            root,
            "book/src/SUMMARY.md",
            "# Summary\n\n- [Step 1](step-1.md)\n",
        );
        put(
            root,
            "book/src/step-1.md",
            "# Step 1\n\n```rust\n{{#include ../../steps/step-1/src/main.rs:channel}}\n```\n",
        );
        dir
    }

    fn problems(root: &Path) -> Vec<String> {
        run(root).iter().map(ToString::to_string).collect()
    }

    #[test]
    fn clean_book_passes() {
        let dir = clean_book();
        assert_eq!(problems(dir.path()), Vec::<String>::new());
        assert_eq!(count_chapters(dir.path()), 1);
        assert_eq!(count_project_anchors(dir.path()), 1);
    }

    #[test]
    fn missing_file_and_missing_anchor_are_reported_with_their_line() {
        let dir = clean_book();
        let root = dir.path();
        put(
            root,
            "book/src/step-1.md",
            "# Step 1\n\n{{#include ../../steps/step-1/src/main.rs:channel}}\n\
             {{#include ../../steps/step-1/src/nope.rs}}\n\
             {{#rustdoc_include ../../steps/step-1/src/main.rs:fan_out}}\n",
        );
        assert_eq!(
            problems(root),
            [
                "book/src/step-1.md:4: included file `../../steps/step-1/src/nope.rs` does not exist (steps/step-1/src/nope.rs)",
                "book/src/step-1.md:5: anchor `fan_out` not found in steps/step-1/src/main.rs",
            ]
        );
    }

    #[test]
    fn unused_and_unclosed_anchors_are_reported_where_defined() {
        let dir = clean_book();
        let root = dir.path();
        let start = concat!("ANCHOR", ":");
        put(
            root,
            "steps/step-1/static/index.html",
            &format!(
                "<body>\n{}<!-- {start} footer -->\n</body>\n",
                anchored("page", "<p>chat</p>\n")
            ),
        );
        assert_eq!(
            problems(root),
            [
                "steps/step-1/static/index.html:2: anchor `page` is defined but no chapter includes it",
                "steps/step-1/static/index.html:5: anchor `footer` is defined but no chapter includes it",
                "steps/step-1/static/index.html:5: anchor `footer` is never closed: add an end marker with the same name",
            ]
        );
    }

    #[test]
    fn summary_entry_without_a_file_is_reported() {
        let dir = clean_book();
        let root = dir.path();
        put(
            root,
            "book/src/SUMMARY.md",
            "# Summary\n\n- [Step 1](step-1.md)\n- [Step 2](step-2.md)\n- [Later]()\n",
        );
        assert_eq!(
            problems(root),
            ["book/src/SUMMARY.md:4: chapter `step-2.md` does not exist"]
        );
    }

    #[test]
    fn page_outside_summary_is_reported_unless_included() {
        let dir = clean_book();
        let root = dir.path();
        put(root, "book/src/stray.md", "# Stray\n");
        put(root, "book/src/fragment.md", "A shared paragraph.\n");
        let chapter = fs::read_to_string(root.join("book/src/step-1.md")).unwrap();
        put(
            root,
            "book/src/step-1.md",
            &format!("{chapter}\n{{{{#include fragment.md}}}}\n"),
        );
        assert_eq!(
            problems(root),
            [
                "book/src/stray.md: not listed in SUMMARY.md and not included by any chapter, so the book never shows it"
            ]
        );
    }

    #[test]
    fn nested_includes_resolve_from_the_included_file_and_count_as_use() {
        let dir = clean_book();
        let root = dir.path();
        put(
            root,
            "exercises/ex-1-fan-out/src/lib.rs",
            &anchored("task", "pub fn fan_out() {}\n"),
        );
        put(
            root,
            "exercises/ex-1-fan-out/README.md",
            "# Fan out\n\n{{#include src/lib.rs:task}}\n{{#include src/lib.rs:gone}}\n",
        );
        let chapter = fs::read_to_string(root.join("book/src/step-1.md")).unwrap();
        put(
            root,
            "book/src/step-1.md",
            &format!(
                "{chapter}\n## Exercises\n\n{{{{#include ../../exercises/ex-1-fan-out/README.md}}}}\n"
            ),
        );
        assert_eq!(
            problems(root),
            [
                "exercises/ex-1-fan-out/README.md:4: anchor `gone` not found in exercises/ex-1-fan-out/src/lib.rs"
            ]
        );
    }

    #[test]
    fn line_ranges_must_fit_the_file() {
        let dir = clean_book();
        let root = dir.path();
        let chapter = fs::read_to_string(root.join("book/src/step-1.md")).unwrap();
        put(
            root,
            "book/src/step-1.md",
            &format!(
                "{chapter}{{{{#include ../../steps/step-1/src/main.rs:2:3}}}}\n\
                 {{{{#include ../../steps/step-1/src/main.rs:40:}}}}\n\
                 {{{{#include ../../steps/step-1/src/main.rs:1:99}}}}\n"
            ),
        );
        assert_eq!(
            problems(root),
            [
                "book/src/step-1.md:7: line range starts at line 40 but the file has 7 lines in steps/step-1/src/main.rs",
                "book/src/step-1.md:8: line range ends at line 99 but the file has 7 lines in steps/step-1/src/main.rs",
            ]
        );
    }

    #[test]
    fn long_rust_fence_without_include_is_pasted_code() {
        let dir = clean_book();
        let root = dir.path();
        let chapter = fs::read_to_string(root.join("book/src/step-1.md")).unwrap();
        let listing = "```rust\nfn greet(name: &str) -> String {\n    let greeting = format!(\"hi {name}\");\n    greeting\n}\n```\n";
        put(root, "book/src/step-1.md", &format!("{chapter}\n{listing}"));
        let found = problems(root);
        assert_eq!(found.len(), 1, "{found:?}");
        assert!(
            found[0].starts_with("book/src/step-1.md:7: ```rust block has 4 lines of code"),
            "{found:?}"
        );
    }

    #[test]
    fn marked_or_short_fences_pass_rule_a() {
        let dir = clean_book();
        let root = dir.path();
        let chapter = fs::read_to_string(root.join("book/src/step-1.md")).unwrap();
        let extra = "\
```rust,not-project-code
fn broken(name: &str) -> String {
    name
}
```

```rust
let rx = tx.subscribe();
```

```console
$ cargo run -p step-1
one
two
three
four
```
";
        put(root, "book/src/step-1.md", &format!("{chapter}\n{extra}"));
        assert_eq!(problems(root), Vec::<String>::new());
    }

    #[test]
    fn lines_copied_from_a_step_are_pasted_code_even_when_marked() {
        let dir = clean_book();
        let root = dir.path();
        let chapter = fs::read_to_string(root.join("book/src/step-1.md")).unwrap();
        put(
            root,
            "book/src/step-1.md",
            &format!("{chapter}\n```text,not-project-code\n{HUB}```\n"),
        );
        assert_eq!(
            problems(root),
            [
                "book/src/step-1.md:8: these lines are pasted from steps/step-1/src/main.rs:3: include them with an anchor instead"
            ]
        );
    }

    #[test]
    fn generated_diffs_must_exist_be_fresh_and_be_included() {
        let dir = clean_book();
        let root = dir.path();
        put(root, "steps/step-2/src/main.rs", "fn main() {}\n");
        put(
            root,
            "book/src/SUMMARY.md",
            "- [Step 1](step-1.md)\n- [Step 2](step-2.md)\n",
        );
        put(
            root,
            "book/src/step-2.md",
            "```diff\n{{#include generated/step-2.diff}}\n```\n",
        );
        assert_eq!(
            problems(root),
            [
                "book/src/generated/step-2.diff: missing; run `cargo run -p book-tools -- diffs`",
                "book/src/step-2.md:2: included file `generated/step-2.diff` does not exist (book/src/generated/step-2.diff); run `cargo run -p book-tools -- diffs`",
            ]
        );

        diffs::write(root).unwrap();
        assert_eq!(problems(root), Vec::<String>::new());

        put(
            root,
            "steps/step-2/src/main.rs",
            "fn main() { println!(\"changed\"); }\n",
        );
        assert_eq!(
            problems(root),
            ["book/src/generated/step-2.diff: out of date; run `cargo run -p book-tools -- diffs`"]
        );

        diffs::write(root).unwrap();
        put(root, "book/src/step-2.md", "# Step 2\n");
        assert_eq!(
            problems(root),
            [
                "book/src/generated/step-2.diff: no chapter includes this diff: show it in the step 2 chapter inside a ```diff fence"
            ]
        );
    }

    #[test]
    fn cargo_commands_must_name_real_packages() {
        let dir = clean_book();
        let root = dir.path();
        put(
            root,
            "steps/step-1/Cargo.toml",
            "[package]\nname = \"step-1\"\n\n[dependencies]\nname = 1\n",
        );
        put(
            root,
            "exercises/ex-1-fan-out/Cargo.toml",
            "[package]\nname = \"ex-1-fan-out\"\n",
        );
        let chapter = fs::read_to_string(root.join("book/src/step-1.md")).unwrap();
        let prose = "\
Run `cargo run -p step-1`, then `cargo test -p ex-1-fan-out`.
Any step: `cargo run -p step-N`; any exercise: `cargo test -p ex-N-<topic>`.
```console
$ cargo run --release -p step-9
```
";
        put(root, "book/src/step-1.md", &format!("{chapter}\n{prose}"));
        assert_eq!(
            problems(root),
            [
                "book/src/step-1.md:10: `-p step-9`: no package of that name in the workspace or in exercises/"
            ]
        );
    }

    #[test]
    fn fences_are_found_with_indentation_and_tildes() {
        let text =
            "- item\n\n  ```rust\n  let a = 1;\n  ```\n~~~toml\n[x]\n~~~\n```inline``` text\n";
        let found = fences(text);
        let summary: Vec<(usize, String, usize)> = found
            .iter()
            .map(|f| (f.line, f.language(), f.body.len()))
            .collect();
        assert_eq!(summary, [(3, "rust".into(), 1), (6, "toml".into(), 1)]);
    }
}
