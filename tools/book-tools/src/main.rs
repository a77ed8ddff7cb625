//! `cargo run -p book-tools -- <check | diffs [--check] | build-check | transcripts [--check]>`:
//! see README.md.

use anyhow::Result;
use book_tools::{check, diffs, mdbook, transcripts, tree};
use clap::{Parser, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Parser, Debug)]
#[command(about = "Keeps the book and the code it shows in step")]
struct Cli {
    /// Workspace root. Defaults to the one this tool is built in, so the commands work
    /// from any directory.
    #[arg(long, global = true, value_name = "DIR")]
    root: Option<PathBuf>,

    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Check includes, anchors, SUMMARY.md, pasted code and generated diffs.
    Check,
    /// Generate book/src/generated/step-N.diff from steps/step-(N-1) to steps/step-N.
    Diffs {
        /// Write nothing; fail if any generated diff is missing or stale.
        #[arg(long)]
        check: bool,
    },
    /// Build the book with mdBook and fail on any ERROR or WARN it logs.
    BuildCheck,
    /// Run every block marked `<!-- transcript -->` again and write what it prints now.
    Transcripts {
        /// Write nothing; fail if any block shows other output than its commands print.
        #[arg(long)]
        check: bool,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let root = cli.root.unwrap_or_else(tree::default_root);
    match run(&cli.command, &root) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
    }
}

/// Returns whether the book is in order; errors are for when the tool itself could not
/// do its job (unreadable directory, mdbook missing).
fn run(command: &Command, root: &std::path::Path) -> Result<bool> {
    match command {
        Command::Check => {
            let problems = check::run(root);
            if problems.is_empty() {
                println!(
                    "book check passed: {} chapters, {} anchors, every include resolves and every anchor is used",
                    check::count_chapters(root),
                    check::count_project_anchors(root)
                );
                return Ok(true);
            }
            let footer = format!("book check failed: {} problem(s)", problems.len());
            Ok(report(&problems, Some(&footer)))
        }
        Command::Diffs { check: true } => {
            let stale = diffs::stale(root)?;
            if stale.is_empty() {
                println!("generated diffs are up to date");
                return Ok(true);
            }
            Ok(report(&stale, Some(diffs::REGENERATE)))
        }
        Command::Diffs { check: false } => {
            let changes = diffs::write(root)?;
            if changes.is_empty() {
                println!("generated diffs are up to date");
            }
            for change in changes {
                println!("{change}");
            }
            Ok(true)
        }
        Command::BuildCheck => mdbook::build_check(root),
        Command::Transcripts { check } => {
            let (found, problems) = transcripts::find(root)?;
            if !problems.is_empty() {
                return Ok(report(&problems, None));
            }
            let count = found.len();
            let reruns = transcripts::rerun_all(root, found)?;
            if *check {
                let problems: Vec<_> = reruns.iter().flat_map(|r| r.problems()).collect();
                if problems.is_empty() {
                    println!("{count} transcripts print what the book shows");
                    return Ok(true);
                }
                return Ok(report(&problems, Some(transcripts::REGENERATE)));
            }
            let changed = transcripts::rewrite(&reruns)?;
            if changed.is_empty() {
                println!("{count} transcripts print what the book shows");
            }
            for file in changed {
                println!("rewrote transcripts in {file}");
            }
            Ok(true)
        }
    }
}

/// Prints what is wrong, one line each, then what to do about it; the book is not in
/// order, so this is always `false`.
fn report(problems: &[impl std::fmt::Display], footer: Option<&str>) -> bool {
    for problem in problems {
        eprintln!("{problem}");
    }
    if let Some(footer) = footer {
        eprintln!("{footer}");
    }
    false
}
