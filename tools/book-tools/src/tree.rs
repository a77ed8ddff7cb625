//! The workspace layout as these tools see it.

use std::fs;
use std::io;
use std::path::{Component, Path, PathBuf};

/// Top-level directories whose files the book may show.
pub const PROJECT_DIRS: &[&str] = &["steps", "exercises", "solutions", "crates", "tools"];

/// File kinds that can carry anchors for the book.
pub const PROJECT_EXTENSIONS: &[&str] = &["rs", "html", "toml", "js", "css"];

/// This crate is left out of the project scan: its tests and docs spell out anchor
/// markers and sample code on purpose, and no chapter is about the book tooling.
pub const SELF_DIR: &str = "tools/book-tools";

/// The workspace root, found from this crate's manifest so the tools work from any
/// working directory.
pub fn default_root() -> PathBuf {
    let here = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    here.canonicalize().unwrap_or(here)
}

/// Every file under `dir`, sorted, skipping directories for which `skip_dir` returns
/// true. Symlinks are not followed so a stray link cannot make the walk loop.
pub fn walk(dir: &Path, skip_dir: &dyn Fn(&Path) -> bool) -> io::Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(current) = pending.pop() {
        for entry in fs::read_dir(&current)? {
            let entry = entry?;
            let kind = entry.file_type()?;
            let path = entry.path();
            if kind.is_dir() {
                if !skip_dir(&path) {
                    pending.push(path);
                }
            } else if kind.is_file() {
                files.push(path);
            }
        }
    }
    files.sort();
    Ok(files)
}

/// Build outputs and hidden directories never hold anything a chapter should show.
pub fn is_build_or_hidden(dir: &Path) -> bool {
    match dir.file_name().and_then(|n| n.to_str()) {
        Some(name) => name == "target" || name == "node_modules" || name.starts_with('.'),
        None => false,
    }
}

/// Files under the project directories that can define anchors, sorted.
pub fn project_files(root: &Path) -> io::Result<Vec<PathBuf>> {
    let own = root.join(SELF_DIR);
    let mut files = Vec::new();
    for top in PROJECT_DIRS {
        let dir = root.join(top);
        if !dir.is_dir() {
            continue;
        }
        let skip = |d: &Path| is_build_or_hidden(d) || d == own;
        for file in walk(&dir, &skip)? {
            let wanted = file
                .extension()
                .and_then(|e| e.to_str())
                .is_some_and(|e| PROJECT_EXTENSIONS.contains(&e));
            if wanted {
                files.push(file);
            }
        }
    }
    Ok(files)
}

/// `path` relative to `root` with `/` separators; paths outside the root stay absolute.
pub fn display(root: &Path, path: &Path) -> String {
    let Ok(inside) = path.strip_prefix(root) else {
        return path.display().to_string();
    };
    let parts: Vec<String> = inside
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect();
    parts.join("/")
}

/// Resolves `.` and `..` without touching the file system, so a missing file still gets
/// a readable path in the report.
pub fn normalize(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for component in path.components() {
        match component {
            Component::CurDir => {}
            Component::ParentDir => {
                if !out.pop() {
                    out.push("..");
                }
            }
            other => out.push(other.as_os_str()),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalize_removes_dot_segments() {
        assert_eq!(
            normalize(Path::new("/w/book/src/../../steps/./step-1/src/main.rs")),
            PathBuf::from("/w/steps/step-1/src/main.rs")
        );
    }

    #[test]
    fn display_is_relative_with_forward_slashes() {
        let root = Path::new("/w");
        assert_eq!(
            display(root, Path::new("/w/steps/step-1/src/main.rs")),
            "steps/step-1/src/main.rs"
        );
        assert_eq!(
            display(root, Path::new("/elsewhere/x.rs")),
            "/elsewhere/x.rs"
        );
    }

    #[test]
    fn project_files_skip_targets_and_this_crate() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        for file in [
            "steps/step-1/src/main.rs",
            "steps/step-1/static/index.html",
            "steps/step-1/README.md",
            "target/debug/build.rs",
            "exercises/target/x.rs",
            "tools/book-tools/src/lib.rs",
            "tools/grader/src/main.rs",
        ] {
            let path = root.join(file);
            fs::create_dir_all(path.parent().unwrap()).unwrap();
            fs::write(path, "").unwrap();
        }
        let found: Vec<String> = project_files(root)
            .unwrap()
            .iter()
            .map(|p| display(root, p))
            .collect();
        assert_eq!(
            found,
            [
                "steps/step-1/src/main.rs",
                "steps/step-1/static/index.html",
                "tools/grader/src/main.rs",
            ]
        );
    }
}
