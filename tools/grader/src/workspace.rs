//! The throwaway workspace a grading run builds in.
//!
//! It is a copy of the *reference* exercises workspace (manifests and tests) with the
//! *submission's* `src/` directories swapped in. The learner's `Cargo.toml` and
//! `tests/` are never read, so editing a test cannot earn a point.

use std::fs::{self, File};
use std::os::fd::AsRawFd;
use std::path::{Component, Path, PathBuf};

use anyhow::{Context, Result, bail};

use crate::discover::Exercise;

/// A copy of the reference workspace, removed when dropped.
#[derive(Debug)]
pub struct WorkCopy {
    /// The copy's root, the directory holding its workspace `Cargo.toml`.
    root: PathBuf,
}

impl WorkCopy {
    /// Copies the workspace manifest, the lock file and every `ex-*` directory (without
    /// `target/`) of `reference` to `dest`.
    ///
    /// `lock_seed` is used when the reference has no `Cargo.lock` of its own: starting
    /// from the repository's lock file gives the copy the same dependency versions the
    /// rest of the repository was tested with, and spares a registry lookup.
    pub fn create(reference: &Path, dest: PathBuf, lock_seed: Option<&Path>) -> Result<WorkCopy> {
        if dest.exists() {
            fs::remove_dir_all(&dest)
                .with_context(|| format!("removing a stale {}", dest.display()))?;
        }
        fs::create_dir_all(&dest).with_context(|| format!("creating {}", dest.display()))?;
        // From here on, dropping `copy` cleans up even if a step below fails.
        let copy = WorkCopy { root: dest };

        let reference = reference
            .canonicalize()
            .with_context(|| format!("resolving {}", reference.display()))?;
        copy_manifest(
            &reference.join("Cargo.toml"),
            &copy.root.join("Cargo.toml"),
            &reference,
        )?;
        let lock = reference.join("Cargo.lock");
        if let Some(lock) = Some(lock.as_path())
            .filter(|l| l.is_file())
            .or(lock_seed.filter(|l| l.is_file()))
        {
            fs::copy(lock, copy.root.join("Cargo.lock"))
                .with_context(|| format!("copying {}", lock.display()))?;
        }
        for entry in fs::read_dir(&reference)? {
            let entry = entry?;
            let name = entry.file_name();
            if name.to_string_lossy().starts_with("ex-") && entry.path().is_dir() {
                copy_exercise(&entry.path(), &copy.root.join(&name), &reference)?;
            }
        }
        Ok(copy)
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The copy of `exercise`.
    pub fn exercise_dir(&self, exercise: &Exercise) -> PathBuf {
        self.root.join(&exercise.name)
    }

    /// Replaces the copy's `src/` of `exercise` with `src`.
    pub fn install_src(&self, exercise: &Exercise, src: &Path) -> Result<()> {
        let dest = self.exercise_dir(exercise).join("src");
        if dest.exists() {
            fs::remove_dir_all(&dest)?;
        }
        copy_tree(src, &dest, &[])
    }
}

impl Drop for WorkCopy {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.root);
    }
}

/// An exclusive lock on a grader target directory, held for a whole grading run.
///
/// Cargo locks the directory while it builds, but not while the grader runs the test
/// executables; a second grader rebuilding them at that moment would swap the programs
/// under the first one's feet.
pub struct TargetLock {
    /// Closing the file releases the lock.
    _file: File,
}

impl TargetLock {
    pub fn acquire(target_dir: &Path) -> Result<TargetLock> {
        fs::create_dir_all(target_dir)
            .with_context(|| format!("creating {}", target_dir.display()))?;
        let path = target_dir.join("grader.lock");
        let file = File::create(&path).with_context(|| format!("creating {}", path.display()))?;
        // SAFETY: flock on a file descriptor we own; the lock ends when `file` is closed.
        let busy = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } != 0;
        if busy {
            eprintln!(
                "grader: waiting for another grader using {}",
                target_dir.display()
            );
            // SAFETY: as above, blocking this time.
            if unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX) } != 0 {
                bail!(
                    "locking {}: {}",
                    path.display(),
                    std::io::Error::last_os_error()
                );
            }
        }
        Ok(TargetLock { _file: file })
    }
}

fn copy_exercise(from: &Path, to: &Path, reference: &Path) -> Result<()> {
    copy_tree(from, to, &["target", "Cargo.toml"])?;
    let manifest = from.join("Cargo.toml");
    if manifest.is_file() {
        copy_manifest(&manifest, &to.join("Cargo.toml"), reference)?;
    }
    Ok(())
}

/// Copies a manifest, making every relative `path` that leads out of the reference
/// workspace absolute, so the copy still finds `../crates/...` from its new place.
/// Paths inside the workspace (`src/lib.rs`, a sibling exercise) stay relative: they
/// are copied along.
fn copy_manifest(from: &Path, to: &Path, reference: &Path) -> Result<()> {
    let text = fs::read_to_string(from).with_context(|| format!("reading {}", from.display()))?;
    let mut manifest: toml::Table = text
        .parse()
        .with_context(|| format!("parsing {}", from.display()))?;
    let dir = from.parent().unwrap_or(Path::new("."));
    let text = if absolutize_paths(&mut manifest, dir, reference) {
        toml::to_string(&manifest).with_context(|| format!("rewriting {}", from.display()))?
    } else {
        text
    };
    fs::write(to, text).with_context(|| format!("writing {}", to.display()))
}

/// Rewrites in place; true if anything changed.
fn absolutize_paths(table: &mut toml::Table, dir: &Path, reference: &Path) -> bool {
    let mut changed = false;
    for (key, value) in table.iter_mut() {
        match value {
            toml::Value::String(path) if key == "path" => {
                let relative = Path::new(path.as_str());
                if relative.is_absolute() {
                    continue;
                }
                let resolved = normalize(&dir.join(relative));
                if !resolved.starts_with(reference) {
                    *path = resolved.to_string_lossy().into_owned();
                    changed = true;
                }
            }
            toml::Value::Table(inner) => changed |= absolutize_paths(inner, dir, reference),
            toml::Value::Array(items) => {
                for item in items {
                    if let toml::Value::Table(inner) = item {
                        changed |= absolutize_paths(inner, dir, reference);
                    }
                }
            }
            _ => {}
        }
    }
    changed
}

/// Resolves `.` and `..` without touching the file system (the target may not exist).
fn normalize(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for component in path.components() {
        match component {
            Component::ParentDir => {
                out.pop();
            }
            Component::CurDir => {}
            other => out.push(other),
        }
    }
    out
}

/// Copies a directory tree, following symbolic links, leaving out entries named in `skip`
/// at the top level.
fn copy_tree(from: &Path, to: &Path, skip: &[&str]) -> Result<()> {
    fs::create_dir_all(to).with_context(|| format!("creating {}", to.display()))?;
    for entry in fs::read_dir(from).with_context(|| format!("reading {}", from.display()))? {
        let entry = entry?;
        let name = entry.file_name();
        if skip.iter().any(|s| name == *s) {
            continue;
        }
        let source = entry.path();
        let dest = to.join(&name);
        if source.is_dir() {
            copy_tree(&source, &dest, &[])?;
        } else if source.is_file() {
            fs::copy(&source, &dest).with_context(|| format!("copying {}", source.display()))?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_paths_leaving_the_workspace_become_absolute() {
        let mut manifest: toml::Table = r#"
            [workspace.dependencies]
            chat-test-support = { path = "../crates/chat-test-support" }
            [[test]]
            name = "t"
            path = "tests/t.rs"
        "#
        .parse()
        .unwrap();
        let reference = Path::new("/repo/exercises");
        assert!(absolutize_paths(&mut manifest, reference, reference));
        assert_eq!(
            manifest["workspace"]["dependencies"]["chat-test-support"]["path"].as_str(),
            Some("/repo/crates/chat-test-support")
        );
        assert_eq!(manifest["test"][0]["path"].as_str(), Some("tests/t.rs"));
    }

    #[test]
    fn a_manifest_without_outside_paths_is_left_alone() {
        let mut manifest: toml::Table = "[package]\nname = \"ex-a\"\n".parse().unwrap();
        let reference = Path::new("/repo/exercises");
        assert!(!absolutize_paths(
            &mut manifest,
            &reference.join("ex-a"),
            reference
        ));
    }
}
