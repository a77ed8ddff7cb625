//! Finding the file-including directives of a chapter, parsed the way mdBook 0.5's
//! `links` preprocessor parses them, so the check sees exactly what the build sees.

/// Which lines of the included file end up in the book.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Selection {
    /// The lines between the anchor's start and end markers.
    Anchor(String),
    /// 0-based, end exclusive, like mdBook's own ranges. `{{#include f}}` is
    /// `Lines { start: None, end: None }`.
    Lines {
        start: Option<usize>,
        end: Option<usize>,
    },
}

impl Selection {
    pub const WHOLE: Selection = Selection::Lines {
        start: None,
        end: None,
    };
}

/// The directive's name as written: `include`, `rustdoc_include` or `playground`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Include,
    RustdocInclude,
    Playground,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Directive {
    pub kind: Kind,
    /// The path as written, relative to the file that contains the directive.
    pub path: String,
    pub selection: Selection,
    /// 1-based line where the directive starts.
    pub line: usize,
    /// Byte range of the whole `{{...}}` in the scanned text.
    pub span: std::ops::Range<usize>,
}

/// All include-like directives in `text`, in order. Escaped ones (`\{{#include ...}}`)
/// are skipped, as mdBook prints them literally.
pub fn find_directives(text: &str) -> Vec<Directive> {
    let bytes = text.as_bytes();
    let mut found = Vec::new();
    let mut at = 0;
    while at < bytes.len() {
        if text[at..].starts_with("\\{{#") {
            // mdBook's escape pattern runs to the last `}}` on the same line.
            let line_end = text[at..].find('\n').map_or(text.len(), |i| at + i);
            if let Some(close) = text[at..line_end].rfind("}}") {
                at += close + 2;
                continue;
            }
        }
        if text[at..].starts_with("{{") {
            if let Some((name, args, end)) = parse_braces(text, at) {
                if let Some(directive) = directive(name, args, line_of(text, at), at..end) {
                    found.push(directive);
                }
                at = end;
                continue;
            }
        }
        at += text[at..].chars().next().map_or(1, char::len_utf8);
    }
    found
}

/// Matches `{{ \s* # name \s+ [^}]+ }}` starting at `start`; returns the name, the
/// arguments and the end offset. Like mdBook's pattern, whitespace may include newlines.
fn parse_braces(text: &str, start: usize) -> Option<(&str, &str, usize)> {
    let rest = &text[start + 2..];
    let after_space = rest.trim_start();
    let name_part = after_space.strip_prefix('#')?;
    let name_len = name_part
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .unwrap_or(name_part.len());
    if name_len == 0 {
        return None;
    }
    let name = &name_part[..name_len];
    let after_name = &name_part[name_len..];
    if !after_name.starts_with(char::is_whitespace) {
        return None;
    }
    let close = after_name.find('}')?;
    if !after_name[close..].starts_with("}}") {
        return None;
    }
    let args = &after_name[..close];
    if args.trim().is_empty() {
        return None;
    }
    let args_offset = text.len() - after_name.len();
    Some((name, args, args_offset + close + 2))
}

fn directive(
    name: &str,
    args: &str,
    line: usize,
    span: std::ops::Range<usize>,
) -> Option<Directive> {
    let kind = match name {
        "include" => Kind::Include,
        "rustdoc_include" => Kind::RustdocInclude,
        // mdBook still accepts the old name, with a warning.
        "playground" | "playpen" => Kind::Playground,
        _ => return None,
    };
    let spec = args.split_whitespace().next()?;
    let (path, selection) = match kind {
        Kind::Playground => (spec, Selection::WHOLE),
        _ => match spec.split_once(':') {
            Some((path, rest)) => (path, parse_selection(rest)),
            None => (spec, Selection::WHOLE),
        },
    };
    Some(Directive {
        kind,
        path: path.to_string(),
        selection,
        line,
        span,
    })
}

/// `N`, `N:`, `:M`, `N:M` are line ranges (1-based, inclusive, as written); anything
/// else that does not start with a number is an anchor name.
fn parse_selection(spec: &str) -> Selection {
    let mut parts = spec.splitn(3, ':');
    let first = parts.next().unwrap_or("");
    let start = match first.parse::<usize>() {
        Ok(n) => Some(n.saturating_sub(1)),
        Err(_) if first.is_empty() => None,
        Err(_) => return Selection::Anchor(first.to_string()),
    };
    let end = parts.next().map(str::parse::<usize>);
    let (start, end) = match (start, end) {
        (Some(s), Some(Ok(e))) => (Some(s), Some(e)),
        (Some(s), Some(Err(_))) => (Some(s), None),
        (Some(s), None) => (Some(s), Some(s + 1)),
        (None, Some(Ok(e))) => (None, Some(e)),
        (None, _) => (None, None),
    };
    Selection::Lines { start, end }
}

fn line_of(text: &str, offset: usize) -> usize {
    text[..offset].bytes().filter(|&b| b == b'\n').count() + 1
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(text: &str) -> Directive {
        let mut all = find_directives(text);
        assert_eq!(all.len(), 1, "{all:?}");
        all.remove(0)
    }

    #[test]
    fn whole_file_include() {
        let d = one("before\n{{#include ../../steps/step-1/src/main.rs}}\n");
        assert_eq!(d.kind, Kind::Include);
        assert_eq!(d.path, "../../steps/step-1/src/main.rs");
        assert_eq!(d.selection, Selection::WHOLE);
        assert_eq!(d.line, 2);
    }

    #[test]
    fn anchor_include() {
        let d = one("{{#include src/lib.rs:fan_out}}");
        assert_eq!(d.path, "src/lib.rs");
        assert_eq!(d.selection, Selection::Anchor("fan_out".into()));
    }

    #[test]
    fn rustdoc_include_with_spaces_inside_the_braces() {
        let d = one("{{ #rustdoc_include  a.rs:join-notice }}");
        assert_eq!(d.kind, Kind::RustdocInclude);
        assert_eq!(d.selection, Selection::Anchor("join-notice".into()));
    }

    #[test]
    fn line_ranges_follow_mdbook() {
        let lines = |s: &str| one(&format!("{{{{#include f.rs:{s}}}}}")).selection;
        let range = |start, end| Selection::Lines { start, end };
        assert_eq!(lines("3"), range(Some(2), Some(3)));
        assert_eq!(lines("3:"), range(Some(2), None));
        assert_eq!(lines(":5"), range(None, Some(5)));
        assert_eq!(lines("2:5"), range(Some(1), Some(5)));
    }

    #[test]
    fn escaped_and_unknown_directives_are_ignored() {
        assert!(find_directives("\\{{#include nope.rs}} and {{#title Chat}}").is_empty());
        assert!(find_directives("{{include nope.rs}} {{#include}}").is_empty());
    }

    #[test]
    fn several_on_one_line() {
        let all = find_directives("{{#include a.rs}} {{#include b.rs:x}}\n");
        let paths: Vec<_> = all.iter().map(|d| d.path.as_str()).collect();
        assert_eq!(paths, ["a.rs", "b.rs"]);
    }
}
