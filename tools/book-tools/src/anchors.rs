//! Anchor markers, recognised the way mdBook recognises them: a line containing the
//! start tag followed by a name starts an anchor, a line containing the end tag and the
//! same name ends it. Names are word characters and `-`.

use crate::links::Selection;
use std::collections::BTreeMap;

// Spelled in two halves so this file does not itself look like it defines anchors.
const START_TAG: &str = concat!("ANCHOR", ":");
const END_TAG: &str = concat!("ANCHOR", "_END:");

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Marker {
    Start(String),
    End(String),
}

/// The marker on `line`, if any. An end tag wins, mirroring mdBook, which looks for the
/// end of an open anchor before looking for a new start.
pub fn marker(line: &str) -> Option<Marker> {
    if let Some(name) = tagged_name(line, END_TAG) {
        return Some(Marker::End(name));
    }
    tagged_name(line, START_TAG).map(Marker::Start)
}

/// The first `TAG\s*name` on the line, like a regex search for it.
fn tagged_name(line: &str, tag: &str) -> Option<String> {
    for (at, _) in line.match_indices(tag) {
        let rest = line[at + tag.len()..].trim_start();
        let name: String = rest
            .chars()
            .take_while(|c| c.is_alphanumeric() || *c == '_' || *c == '-')
            .collect();
        if !name.is_empty() {
            return Some(name);
        }
    }
    None
}

/// Where one anchor sits in its file (1-based lines).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Span {
    pub start: usize,
    pub end: Option<usize>,
}

/// The anchors a file defines, plus what is wrong with its markers.
#[derive(Debug, Default)]
pub struct Anchors {
    pub defined: BTreeMap<String, Span>,
    /// (1-based line, message)
    pub problems: Vec<(usize, String)>,
}

pub fn scan(text: &str) -> Anchors {
    let mut anchors = Anchors::default();
    for (index, line) in text.lines().enumerate() {
        let number = index + 1;
        match marker(line) {
            Some(Marker::Start(name)) => {
                if let Some(first) = anchors.defined.get(&name) {
                    anchors.problems.push((
                        number,
                        format!(
                            "anchor `{name}` is defined twice (first at line {}); mdBook only shows the first",
                            first.start
                        ),
                    ));
                } else {
                    anchors.defined.insert(
                        name,
                        Span {
                            start: number,
                            end: None,
                        },
                    );
                }
            }
            Some(Marker::End(name)) => match anchors.defined.get_mut(&name) {
                Some(span) if span.end.is_none() => span.end = Some(number),
                Some(span) => anchors.problems.push((
                    number,
                    format!(
                        "anchor `{name}` ends twice (it already ended at line {})",
                        span.end.unwrap_or_default()
                    ),
                )),
                None => anchors.problems.push((
                    number,
                    format!("anchor end `{name}` has no start marker before it"),
                )),
            },
            None => {}
        }
    }
    for (name, span) in &anchors.defined {
        if span.end.is_none() {
            anchors.problems.push((
                span.start,
                format!("anchor `{name}` is never closed: add an end marker with the same name"),
            ));
        }
    }
    anchors.problems.sort();
    anchors
}

/// The lines (1-based number, text) that an include with `selection` shows, with
/// marker lines dropped the way mdBook drops them inside an anchor.
pub fn select<'a>(text: &'a str, selection: &Selection) -> Vec<(usize, &'a str)> {
    let numbered = text.lines().enumerate().map(|(i, l)| (i + 1, l));
    match selection {
        Selection::Lines { start, end } => {
            let start = start.unwrap_or(0);
            let end = end.unwrap_or(usize::MAX);
            numbered
                .skip(start)
                .take(end.saturating_sub(start))
                .collect()
        }
        Selection::Anchor(wanted) => {
            let mut inside = false;
            let mut lines = Vec::new();
            for (number, line) in numbered {
                match marker(line) {
                    Some(Marker::End(name)) if inside && name == *wanted => break,
                    Some(Marker::Start(name)) if !inside && name == *wanted => inside = true,
                    Some(_) => {}
                    None if inside => lines.push((number, line)),
                    None => {}
                }
            }
            lines
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn start(name: &str) -> String {
        format!("    // {START_TAG} {name}")
    }

    fn end(name: &str) -> String {
        format!("    // {END_TAG} {name}")
    }

    #[test]
    fn recognises_markers_like_mdbook() {
        assert_eq!(
            marker(&start("fan_out")),
            Some(Marker::Start("fan_out".into()))
        );
        assert_eq!(marker(&end("fan-out")), Some(Marker::End("fan-out".into())));
        assert_eq!(
            marker(&format!("<!-- {START_TAG}page -->")),
            Some(Marker::Start("page".into()))
        );
        assert_eq!(marker(&format!("// {START_TAG}")), None);
        assert_eq!(marker("let anchor = 1;"), None);
    }

    #[test]
    fn well_formed_anchors_have_spans_and_no_problems() {
        let text = [start("outer"), start("inner"), end("inner"), end("outer")].join("\n");
        let found = scan(&text);
        assert!(found.problems.is_empty(), "{:?}", found.problems);
        assert_eq!(
            found.defined["outer"],
            Span {
                start: 1,
                end: Some(4)
            }
        );
        assert_eq!(
            found.defined["inner"],
            Span {
                start: 2,
                end: Some(3)
            }
        );
    }

    #[test]
    fn unclosed_duplicate_and_orphan_markers_are_problems() {
        let text = [start("a"), start("a"), end("a"), end("b"), start("c")].join("\n");
        let problems: Vec<usize> = scan(&text).problems.iter().map(|p| p.0).collect();
        assert_eq!(problems, [2, 4, 5]);
    }

    #[test]
    fn select_anchor_drops_other_markers() {
        let text = [
            "fn main() {".to_string(),
            start("body"),
            "    let hub = 1;".into(),
            start("inner"),
            "    drop(hub);".into(),
            end("inner"),
            end("body"),
            "}".into(),
        ]
        .join("\n");
        let lines = select(&text, &Selection::Anchor("body".into()));
        assert_eq!(lines, [(3, "    let hub = 1;"), (5, "    drop(hub);")]);
        assert!(select(&text, &Selection::Anchor("missing".into())).is_empty());
    }

    #[test]
    fn select_line_ranges() {
        let text = "a\nb\nc\nd";
        let range = |start, end| Selection::Lines { start, end };
        assert_eq!(select(text, &range(Some(1), Some(3))), [(2, "b"), (3, "c")]);
        assert_eq!(select(text, &range(Some(3), None)), [(4, "d")]);
        assert_eq!(select(text, &Selection::WHOLE).len(), 4);
    }
}
