//! Running one test, alone, with a deadline.
//!
//! Each test runs as `EXE --exact NAME --test-threads=1` in a process group of its own.
//! A chat test starts server processes; if the test hangs, or ends without stopping
//! them, killing the group takes those servers down with it, so nothing a test started
//! outlives its turn or holds a port the next test wants.

use std::io::{self, Read};
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::Path;
use std::process::{Command, ExitStatus, Stdio};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

/// How much of each output stream is kept. libtest prints the failure (and so the
/// panic message) at the end, so the tail is what matters.
const KEEP_BYTES: usize = 256 * 1024;

/// How long to wait for the output pipes to close once the process group is dead. Only
/// a process that left the group (`setsid`) can hold them open longer.
const PIPE_GRACE: Duration = Duration::from_secs(2);

/// How much of a failing test's output goes into the reports.
const REPORT_LINES: usize = 60;

/// How a bounded run ended.
#[derive(Debug)]
pub enum Ending {
    Exited(ExitStatus),
    /// The deadline passed and the whole process group was killed.
    TimedOut,
}

/// A finished bounded run.
#[derive(Debug)]
pub struct Finished {
    pub ending: Ending,
    pub stdout: String,
    pub stderr: String,
    pub elapsed: Duration,
}

/// Runs `command` in a new process group and waits at most `timeout` for it.
///
/// Whatever happens, the group is killed before returning: on timeout to stop the test,
/// otherwise to reap anything the test left running.
pub fn run_bounded(mut command: Command, timeout: Duration) -> io::Result<Finished> {
    command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0);
    let started = Instant::now();
    let mut child = command.spawn()?;
    // With process_group(0) the group id is the child's pid.
    let group = child.id() as libc::pid_t;
    let stdout = Tail::collect(child.stdout.take().expect("stdout is piped"));
    let stderr = Tail::collect(child.stderr.take().expect("stderr is piped"));

    // Waiting on a thread lets the deadline be a channel timeout instead of a polling loop.
    let (exited, exit) = mpsc::channel();
    thread::spawn(move || {
        let _ = exited.send(child.wait());
    });
    let ending = match exit.recv_timeout(timeout) {
        Ok(status) => Ending::Exited(status?),
        Err(RecvTimeoutError::Timeout) => {
            kill_group(group);
            // The waiter reaps the killed child; its status says nothing new.
            let _ = exit.recv();
            Ending::TimedOut
        }
        Err(RecvTimeoutError::Disconnected) => {
            return Err(io::Error::other("the thread waiting for the test died"));
        }
    };
    let elapsed = started.elapsed();
    kill_group(group);
    Ok(Finished {
        ending,
        stdout: stdout.finish(PIPE_GRACE),
        stderr: stderr.finish(PIPE_GRACE),
        elapsed,
    })
}

fn kill_group(group: libc::pid_t) {
    // SAFETY: killpg only sends a signal; an already empty group gives ESRCH, which is fine.
    unsafe {
        libc::killpg(group, libc::SIGKILL);
    }
}

/// The last `KEEP_BYTES` of a pipe, read on a thread so a chatty test can never fill
/// the pipe and block while the grader waits for it to exit.
struct Tail {
    bytes: Arc<Mutex<Vec<u8>>>,
    done: mpsc::Receiver<()>,
}

impl Tail {
    fn collect(mut pipe: impl Read + Send + 'static) -> Tail {
        let bytes = Arc::new(Mutex::new(Vec::new()));
        let (finished, done) = mpsc::channel();
        let sink = Arc::clone(&bytes);
        thread::spawn(move || {
            let mut chunk = [0u8; 8192];
            while let Ok(n) = pipe.read(&mut chunk) {
                if n == 0 {
                    break;
                }
                let mut kept = sink.lock().unwrap_or_else(|e| e.into_inner());
                kept.extend_from_slice(&chunk[..n]);
                if kept.len() > 2 * KEEP_BYTES {
                    let excess = kept.len() - KEEP_BYTES;
                    kept.drain(..excess);
                }
            }
            let _ = finished.send(());
        });
        Tail { bytes, done }
    }

    fn finish(self, grace: Duration) -> String {
        let _ = self.done.recv_timeout(grace);
        let kept = self.bytes.lock().unwrap_or_else(|e| e.into_inner());
        let start = kept.len().saturating_sub(KEEP_BYTES);
        strip_ansi(&String::from_utf8_lossy(&kept[start..]))
    }
}

/// Removes terminal escape sequences: they are noise in a report and not valid in XML.
pub fn strip_ansi(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '\u{1b}' {
            out.push(c);
            continue;
        }
        if chars.peek() == Some(&'[') {
            chars.next();
            // Parameters and intermediates, then one final byte in '@'..='~'.
            for c in chars.by_ref() {
                if ('@'..='~').contains(&c) {
                    break;
                }
            }
        }
    }
    out
}

/// The test names an executable lists (`--list --format terse` prints `name: test`).
pub fn list_tests(executable: &Path, dir: &Path, timeout: Duration) -> Result<Vec<String>> {
    let mut command = Command::new(executable);
    command
        .args(["--list", "--format", "terse"])
        .current_dir(dir);
    let finished = run_bounded(command, timeout)
        .with_context(|| format!("starting {}", executable.display()))?;
    match finished.ending {
        Ending::Exited(status) if status.success() => Ok(finished
            .stdout
            .lines()
            .filter_map(|line| line.strip_suffix(": test"))
            .map(str::to_string)
            .collect()),
        Ending::Exited(status) => bail!(
            "`--list` failed ({}): {}",
            describe_status(status),
            finished.stderr.trim()
        ),
        Ending::TimedOut => bail!("`--list` did not finish within {}s", timeout.as_secs()),
    }
}

/// What running one test showed.
#[derive(Debug)]
pub struct TestRun {
    pub passed: bool,
    pub timed_out: bool,
    /// One line saying why a test failed.
    pub reason: Option<String>,
    /// The end of a failing test's output, for the reports.
    pub output: Option<String>,
    pub elapsed: Duration,
}

/// Runs test `name` of `executable` alone, with the working directory and environment
/// `cargo test` would give it.
pub fn run_test(
    executable: &Path,
    dir: &Path,
    name: &str,
    timeout: Duration,
) -> io::Result<TestRun> {
    let mut command = Command::new(executable);
    command
        .args(["--exact", name, "--test-threads=1", "--include-ignored"])
        .args(["--color", "never"])
        .current_dir(dir)
        .env("CARGO_MANIFEST_DIR", dir)
        // Backtraces would push the panic message out of the one-line reason.
        .env("RUST_BACKTRACE", "0");
    let finished = run_bounded(command, timeout)?;
    let elapsed = finished.elapsed;
    let output = || Some(report_tail(&finished.stdout, &finished.stderr));
    let run = match finished.ending {
        Ending::TimedOut => TestRun {
            passed: false,
            timed_out: true,
            reason: Some(format!("timed out after {}s", timeout.as_secs())),
            output: output(),
            elapsed,
        },
        // `--exact` with a name that matches nothing also exits 0, with "0 passed".
        Ending::Exited(status) if status.success() && ran_one_passing_test(&finished.stdout) => {
            TestRun {
                passed: true,
                timed_out: false,
                reason: None,
                output: None,
                elapsed,
            }
        }
        Ending::Exited(status) => TestRun {
            passed: false,
            timed_out: false,
            reason: Some(failure_reason(&finished.stdout, &finished.stderr, status)),
            output: output(),
            elapsed,
        },
    };
    Ok(run)
}

fn ran_one_passing_test(stdout: &str) -> bool {
    stdout
        .lines()
        .any(|line| line.starts_with("test result: ok. 1 passed;"))
}

/// One line: the panic message and where it happened, or the best clue there is.
pub fn failure_reason(stdout: &str, stderr: &str, status: ExitStatus) -> String {
    if let Some(panic) = panic_message(stdout).or_else(|| panic_message(stderr)) {
        return panic;
    }
    if let Some(error) = stdout.lines().find_map(|line| line.strip_prefix("Error: ")) {
        return shorten(&format!("returned Err: {error}"));
    }
    if stdout.contains("running 0 tests") {
        return "the test binary has no test by this name".to_string();
    }
    match stderr.lines().rev().find(|line| !line.trim().is_empty()) {
        Some(last) => shorten(&format!("{}: {}", describe_status(status), last.trim())),
        None => describe_status(status),
    }
}

/// The first panic in libtest's output: `thread 'x' (id) panicked at FILE:LINE:COL:`
/// followed by the message, up to the `note:` or backtrace that closes it.
fn panic_message(output: &str) -> Option<String> {
    let mut lines = output.lines();
    let header = lines.by_ref().find(|line| line.contains(" panicked at "))?;
    let after = &header[header.find(" panicked at ")? + " panicked at ".len()..];
    let (location, inline_message) = match after.strip_suffix(':') {
        Some(location) => (location.to_string(), None),
        // Before Rust 1.73: panicked at 'message', file:line:col
        None => (String::new(), Some(after.to_string())),
    };
    let message = inline_message.unwrap_or_else(|| {
        lines
            .take_while(|line| {
                !line.is_empty() && !line.starts_with("note: ") && *line != "stack backtrace:"
            })
            .map(str::trim)
            .collect::<Vec<_>>()
            .join(" ")
    });
    let reason = if location.is_empty() {
        format!("panicked at {message}")
    } else {
        format!("panicked: {message} ({location})")
    };
    Some(shorten(&reason))
}

fn describe_status(status: ExitStatus) -> String {
    match (status.code(), status.signal()) {
        (Some(code), _) => format!("exited with code {code}"),
        (None, Some(signal)) => format!("crashed (signal {signal})"),
        _ => "ended abnormally".to_string(),
    }
}

fn shorten(line: &str) -> String {
    const MAX: usize = 240;
    let line = line.replace(['\n', '\r'], " ");
    if line.chars().count() <= MAX {
        return line;
    }
    let cut: String = line.chars().take(MAX - 1).collect();
    format!("{cut}…")
}

/// The last lines of stdout and stderr together.
fn report_tail(stdout: &str, stderr: &str) -> String {
    let mut text = stdout.trim().to_string();
    if !stderr.trim().is_empty() {
        text.push_str("\n--- stderr ---\n");
        text.push_str(stderr.trim_end());
    }
    let lines: Vec<&str> = text.lines().collect();
    let start = lines.len().saturating_sub(REPORT_LINES);
    lines[start..].join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn exit_code(code: i32) -> ExitStatus {
        ExitStatus::from_raw(code << 8)
    }

    #[test]
    fn reason_is_the_panic_message_and_location() {
        let stdout = "running 1 test\ntest fails ... FAILED\n\nfailures:\n\n---- fails stdout ----\n\n\
            thread 'fails' (9706) panicked at tests/t.rs:5:9:\nassertion `left == right` failed: wrong\n  left: 1\n right: 2\n\
            note: run with `RUST_BACKTRACE=1` environment variable to display a backtrace\n";
        assert_eq!(
            failure_reason(stdout, "", exit_code(101)),
            "panicked: assertion `left == right` failed: wrong left: 1 right: 2 (tests/t.rs:5:9)"
        );
    }

    #[test]
    fn todo_in_a_stub_reads_as_not_yet_implemented() {
        let stdout = "thread 'joins' panicked at ex-1/src/lib.rs:12:5:\nnot yet implemented\n";
        assert_eq!(
            failure_reason(stdout, "", exit_code(101)),
            "panicked: not yet implemented (ex-1/src/lib.rs:12:5)"
        );
    }

    #[test]
    fn a_test_returning_err_says_so() {
        let stdout = "---- t stdout ----\nError: connection refused\n";
        assert_eq!(
            failure_reason(stdout, "", exit_code(101)),
            "returned Err: connection refused"
        );
    }

    #[test]
    fn a_crash_names_the_signal() {
        assert_eq!(
            failure_reason("", "", ExitStatus::from_raw(libc::SIGSEGV)),
            "crashed (signal 11)"
        );
    }

    #[test]
    fn escape_sequences_are_removed() {
        assert_eq!(
            strip_ansi("\u{1b}[1m\u{1b}[31merror\u{1b}[0m: x"),
            "error: x"
        );
    }

    #[test]
    fn a_hanging_command_is_killed_at_the_deadline() {
        let mut command = Command::new("sh");
        command.args(["-c", "echo started; sleep 30"]);
        let finished = run_bounded(command, Duration::from_millis(300)).unwrap();
        assert!(matches!(finished.ending, Ending::TimedOut));
        assert!(finished.elapsed < Duration::from_secs(10));
        assert_eq!(finished.stdout.trim(), "started");
    }
}
