//! `grader grade`: score a learner's exercises folder against the reference tests.
//! `grader verify`: what CI runs: every stub fails, every solution passes.
//!
//! Exit codes: 0 when grading ran (whatever the score) or verify found nothing wrong;
//! 1 when verify found a violation; 2 when the grader itself could not run.

use std::fs;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, Result};
use clap::{Args, Parser, Subcommand};

use grader::grade::{Reference, default_exercises_dir, grade};
use grader::verify::verify;

#[derive(Parser, Debug)]
#[command(about = "Grades exercises against the reference tests")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Grade a submission (a learner's exercises folder) and print a scorecard.
    Grade {
        #[command(flatten)]
        common: Common,
        /// The learner's folder: `<DIR>/<exercise>/src` is what gets graded
        /// [default: the reference exercises themselves].
        #[arg(long, value_name = "DIR")]
        submission: Option<PathBuf>,
        /// Also write the scorecard as JSON.
        #[arg(long, value_name = "FILE")]
        json: Option<PathBuf>,
        /// Also write the scorecard as JUnit XML.
        #[arg(long, value_name = "FILE")]
        junit: Option<PathBuf>,
    },
    /// Check that every test fails on the stubs and passes on the solutions.
    Verify {
        #[command(flatten)]
        common: Common,
        /// The reference solutions [default: `solutions/` beside the exercises folder].
        #[arg(long, value_name = "DIR")]
        solutions: Option<PathBuf>,
    },
}

#[derive(Args, Debug)]
struct Common {
    /// The reference exercises workspace [default: this repository's `exercises/`].
    #[arg(long, value_name = "DIR")]
    exercises: Option<PathBuf>,
    /// Grade only this exercise (by directory name); repeat for several.
    #[arg(long, value_name = "NAME")]
    only: Vec<String>,
    /// Seconds one test may run before it is killed and scored 0.
    #[arg(long, value_name = "SECS", default_value_t = 60)]
    timeout: u64,
}

impl Common {
    fn reference(&self) -> Result<Reference> {
        let dir = self.exercises.clone().unwrap_or_else(default_exercises_dir);
        Reference::load(&dir)
    }

    fn timeout(&self) -> Duration {
        Duration::from_secs(self.timeout)
    }
}

fn main() -> ExitCode {
    match run(Cli::parse()) {
        Ok(code) => code,
        Err(error) => {
            eprintln!("grader: error: {error:#}");
            ExitCode::from(2)
        }
    }
}

fn run(cli: Cli) -> Result<ExitCode> {
    match cli.command {
        Command::Grade {
            common,
            submission,
            json,
            junit,
        } => {
            let reference = common.reference()?;
            let submission = submission.unwrap_or_else(|| reference.root.clone());
            let scorecard = grade(&reference, &submission, &common.only, common.timeout())?;
            if let Some(path) = json {
                fs::write(&path, scorecard.to_json())
                    .with_context(|| format!("writing {}", path.display()))?;
            }
            if let Some(path) = junit {
                fs::write(&path, scorecard.to_junit())
                    .with_context(|| format!("writing {}", path.display()))?;
            }
            print!("{}", scorecard.to_text());
            Ok(ExitCode::SUCCESS)
        }
        Command::Verify { common, solutions } => {
            let reference = common.reference()?;
            let solutions = solutions.unwrap_or_else(|| reference.repo.join("solutions"));
            let verification = verify(&reference, &solutions, &common.only, common.timeout())?;
            print!("{}", verification.summary());
            Ok(if verification.ok() {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            })
        }
    }
}
