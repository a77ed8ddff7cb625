//! Shown program output, run again: the `transcripts` subcommand.
//!
//! A chapter shows what a command prints (`curl -i` against a step's server, a flag the
//! server refuses, `--help`). Code is included from compiled files, so it cannot drift;
//! output pasted into a chapter can, the day an error message is reworded. A block
//! marked as a transcript is run again and compared, line for line.
//!
//! The marker is an HTML comment on the line just before the fence, invisible in the
//! rendered book:
//!
//! - `<!-- transcript -->`: run the commands as they are, from the repository root.
//! - `<!-- transcript: step-5 alice@rust bob -->`: first start step 5's server on a free
//!   port, connect WebSocket clients `alice` (room `rust`) and `bob` (the default room)
//!   in that order and keep them connected, then run the commands with `127.0.0.1:3000`
//!   pointing at that server.
//!
//! Inside the block, a line starting with `$ ` is a command (a trailing `\` continues
//! it on the next line); what follows, up to the next command, is what it prints,
//! stdout and stderr together. Before comparing, the real output loses what no reader
//! needs and no run repeats: `\r`, `date:` headers, spaces at the ends of lines, and the
//! real port, which is written back as 3000.

use crate::Problem;
use crate::tree::{self, display};
use anyhow::{Context, Result, bail};
use chat_test_support::{ServerProcess, WsClient};
use similar::TextDiff;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

/// The command that rewrites the blocks, quoted in every mismatch.
pub const REGENERATE: &str = "run `cargo run -p book-tools -- transcripts` to rewrite them";

/// How long one command may run. Generous: a `cargo run` may have to link first.
const COMMAND_TIMEOUT: Duration = Duration::from_secs(180);

/// The address chapters use; the real one replaces it when commands run.
const BOOK_ADDR: &str = "127.0.0.1:3000";

/// One marked block in a chapter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transcript {
    /// The chapter, relative to the workspace root.
    pub file: String,
    pub path: PathBuf,
    /// 1-based line of the marker.
    pub line: usize,
    /// Lines of the block, fences excluded, as 0-based indices into the chapter.
    pub body: std::ops::Range<usize>,
    pub server: Option<Server>,
    pub commands: Vec<Shown>,
}

/// The server a transcript runs against, and who is connected to it first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Server {
    /// The package, e.g. `step-5`; its binary has the same name.
    pub package: String,
    /// `(user, room)` in the order they connect; `None` is the server's default room.
    pub members: Vec<(String, Option<String>)>,
}

/// One command and the output the chapter shows for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Shown {
    /// The command's lines as written, `$ ` and continuations included.
    pub written: Vec<String>,
    /// The command as the shell gets it.
    pub command: String,
    pub expected: Vec<String>,
}

/// Finds every marked block in the chapters under `book/src`.
pub fn find(root: &Path) -> Result<(Vec<Transcript>, Vec<Problem>)> {
    let book = root.join("book/src");
    let mut chapters = tree::walk(&book, &|dir| {
        tree::is_build_or_hidden(dir) || dir.ends_with("generated")
    })
    .with_context(|| format!("reading {}", book.display()))?;
    chapters.retain(|path| path.extension().is_some_and(|e| e == "md"));
    chapters.sort();

    let mut found = Vec::new();
    let mut problems = Vec::new();
    for path in chapters {
        let text =
            fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
        let file = display(root, &path);
        match parse(&file, &path, &text) {
            Ok(mut transcripts) => found.append(&mut transcripts),
            Err(mut bad) => problems.append(&mut bad),
        }
    }
    Ok((found, problems))
}

/// The marked blocks of one chapter, or what is wrong with their markers.
pub fn parse(file: &str, path: &Path, text: &str) -> Result<Vec<Transcript>, Vec<Problem>> {
    let lines: Vec<&str> = text.lines().collect();
    let mut found = Vec::new();
    let mut problems = Vec::new();
    for (index, line) in lines.iter().enumerate() {
        let Some(marker) = line
            .trim()
            .strip_prefix("<!-- transcript")
            .and_then(|rest| rest.strip_suffix("-->"))
        else {
            continue;
        };
        let problem = |message: String| Problem::new(file, index + 1, message);
        let server = match marker.trim().strip_prefix(':') {
            None if marker.trim().is_empty() => None,
            None => {
                problems.push(problem(format!("cannot read the marker `{}`", line.trim())));
                continue;
            }
            Some(spec) => match parse_server(spec) {
                Some(server) => Some(server),
                None => {
                    problems.push(problem(format!(
                        "cannot read the marker `{}`: expected `<!-- transcript: step-N [user[@room] ...] -->`",
                        line.trim()
                    )));
                    continue;
                }
            },
        };
        let opens_block = lines
            .get(index + 1)
            .is_some_and(|next| next.starts_with("```console") || next.starts_with("```text"));
        let start = index + 2;
        let end = lines[start.min(lines.len())..]
            .iter()
            .position(|l| l.trim_end() == "```")
            .map(|offset| start + offset);
        let (true, Some(end)) = (opens_block, end) else {
            problems.push(problem(
                "a transcript marker must stand just before a ```console or ```text block".into(),
            ));
            continue;
        };
        let commands = match split_commands(&lines[start..end]) {
            Some(commands) => commands,
            None => {
                problems.push(problem(
                    "a transcript block must start with a `$ ` command line".into(),
                ));
                continue;
            }
        };
        found.push(Transcript {
            file: file.to_string(),
            path: path.to_path_buf(),
            line: index + 1,
            body: start..end,
            server,
            commands,
        });
    }
    if problems.is_empty() {
        Ok(found)
    } else {
        Err(problems)
    }
}

/// `step-5 alice@rust bob` → step 5, alice in `rust`, bob in the default room.
fn parse_server(spec: &str) -> Option<Server> {
    let mut words = spec.split_whitespace();
    let package = words.next()?;
    package.strip_prefix("step-")?.parse::<u32>().ok()?;
    let members = words
        .map(|word| match word.split_once('@') {
            Some((user, room)) => (user.to_string(), Some(room.to_string())),
            None => (word.to_string(), None),
        })
        .collect();
    Some(Server {
        package: package.to_string(),
        members,
    })
}

/// Splits a block into commands and their shown output. `None` if the block does not
/// start with a command.
fn split_commands(body: &[&str]) -> Option<Vec<Shown>> {
    let mut commands: Vec<Shown> = Vec::new();
    let mut continued = false;
    for line in body {
        if continued {
            let shown = commands.last_mut()?;
            shown.written.push(line.to_string());
            shown.command.push('\n');
            shown.command.push_str(line);
            continued = line.ends_with('\\');
        } else if let Some(command) = line.strip_prefix("$ ") {
            commands.push(Shown {
                written: vec![line.to_string()],
                command: command.to_string(),
                expected: Vec::new(),
            });
            continued = command.ends_with('\\');
        } else {
            commands.last_mut()?.expected.push(line.to_string());
        }
    }
    (!commands.is_empty()).then_some(commands)
}

/// What a command printed, made comparable with a chapter (see the module comment).
pub fn normalize(output: &str, addr: Option<&str>) -> Vec<String> {
    let output = output.replace('\r', "");
    let output = match addr {
        Some(addr) => output.replace(addr, BOOK_ADDR),
        None => output,
    };
    output
        .lines()
        .filter(|line| !line.to_ascii_lowercase().starts_with("date: "))
        .map(|line| line.trim_end().to_string())
        .collect()
}

/// Whether two outputs differ only in blank lines at their end, or where no two runs
/// agree: how long tests took
/// (`finished in 0.00s`) and the id of a thread that panicked (`thread 'x' (14611)`).
/// The chapter keeps the numbers of the run it shows; only a real change fails.
fn same_run(expected: &[String], actual: &[String]) -> bool {
    let (expected, actual) = (
        without_trailing_blanks(expected),
        without_trailing_blanks(actual),
    );
    expected.len() == actual.len()
        && expected
            .iter()
            .zip(actual)
            .all(|(e, a)| mask_run_specific(e) == mask_run_specific(a))
}

/// Blank lines at the end of an output are not shown before the block's closing fence
/// (cargo test ends with one); in the middle of a block they are, and are compared.
fn without_trailing_blanks(lines: &[String]) -> &[String] {
    let end = lines
        .iter()
        .rposition(|line| !line.is_empty())
        .map_or(0, |i| i + 1);
    &lines[..end]
}

fn mask_run_specific(line: &str) -> String {
    let mut line = line.to_string();
    if let Some(at) = line.rfind("finished in ") {
        let start = at + "finished in ".len();
        let time = &line[start..];
        if time.ends_with('s') && time[..time.len() - 1].parse::<f64>().is_ok() {
            line.replace_range(start.., "…s");
        }
    }
    if let (true, Some(open)) = (line.starts_with("thread '"), line.find("' (")) {
        let start = open + "' (".len();
        if let Some(len) = line[start..].find(") panicked") {
            if line[start..start + len].bytes().all(|b| b.is_ascii_digit()) {
                line.replace_range(start..start + len, "…");
            }
        }
    }
    line
}

/// One block run again: what the chapter shows and what the commands print now.
pub struct Rerun {
    pub transcript: Transcript,
    pub actual: Vec<Vec<String>>,
}

impl Rerun {
    /// Whether every command printed what the chapter shows.
    pub fn matches(&self) -> bool {
        self.transcript
            .commands
            .iter()
            .zip(&self.actual)
            .all(|(shown, actual)| same_run(&shown.expected, actual))
    }

    /// The problems to report, each with a diff from the chapter to the real output.
    pub fn problems(&self) -> Vec<Problem> {
        let mut problems = Vec::new();
        for (shown, actual) in self.transcript.commands.iter().zip(&self.actual) {
            if same_run(&shown.expected, actual) {
                continue;
            }
            let expected = shown.expected.join("\n") + "\n";
            let actual = actual.join("\n") + "\n";
            let diff = TextDiff::from_lines(&expected, &actual)
                .unified_diff()
                .header("the chapter shows", "the command prints")
                .to_string();
            problems.push(Problem::new(
                &self.transcript.file,
                self.transcript.line,
                format!("`{}` prints something else:\n{diff}", shown.command),
            ));
        }
        problems
    }
}

/// Builds the binaries the transcripts need, then runs every transcript.
pub fn rerun_all(root: &Path, transcripts: Vec<Transcript>) -> Result<Vec<Rerun>> {
    let mut packages: Vec<&str> = transcripts
        .iter()
        .filter_map(|t| t.server.as_ref().map(|s| s.package.as_str()))
        .collect();
    packages.sort();
    packages.dedup();
    if !packages.is_empty() {
        let mut build =
            std::process::Command::new(std::env::var("CARGO").unwrap_or("cargo".into()));
        build.current_dir(root).args(["build", "-q", "--locked"]);
        for package in &packages {
            build.args(["-p", package]);
        }
        let status = build.status().context("running cargo build")?;
        if !status.success() {
            bail!("cargo build of {packages:?} failed");
        }
    }
    let runtime = tokio::runtime::Runtime::new().context("starting tokio")?;
    let mut reruns = Vec::new();
    for transcript in transcripts {
        let actual = runtime.block_on(rerun(root, &transcript))?;
        reruns.push(Rerun { transcript, actual });
    }
    Ok(reruns)
}

/// Runs one transcript's commands, against its own server if it names one.
async fn rerun(root: &Path, transcript: &Transcript) -> Result<Vec<Vec<String>>> {
    let mut server = None;
    let mut members = Vec::new();
    if let Some(spec) = &transcript.server {
        let binary = target_dir(root).join("debug").join(&spec.package);
        let started = ServerProcess::start(&binary.to_string_lossy(), &[]).await;
        for (user, room) in &spec.members {
            let query = match room {
                Some(room) => format!("/ws?user={user}&room={room}"),
                None => format!("/ws?user={user}"),
            };
            let mut client = WsClient::connect(&started.ws_url(&query)).await;
            // Joined once its welcome arrives; the next member connects after that, so
            // the order of a member list is the order of the marker.
            client.recv_type("welcome").await;
            members.push(client);
        }
        server = Some(started);
    }
    let addr = server.as_ref().map(|s| s.addr().to_string());
    let mut outputs = Vec::new();
    for shown in &transcript.commands {
        let command = match &server {
            Some(server) => point_at(&shown.command, server.addr()),
            None => shown.command.clone(),
        };
        let output = run(root, &command)
            .await
            .with_context(|| format!("{}:{}: `{}`", transcript.file, transcript.line, command))?;
        outputs.push(normalize(&output, addr.as_deref()));
    }
    Ok(outputs)
}

/// The command with the book's address replaced by the server's: `127.0.0.1:3000` as a
/// URL has it, `127.0.0.1 3000` as `nc` takes it, and `127.0.0.1/3000` as in bash's
/// `/dev/tcp/HOST/PORT`.
fn point_at(command: &str, addr: std::net::SocketAddr) -> String {
    let (ip, port) = (addr.ip(), addr.port());
    command
        .replace(BOOK_ADDR, &addr.to_string())
        .replace("127.0.0.1 3000", &format!("{ip} {port}"))
        .replace("127.0.0.1/3000", &format!("{ip}/{port}"))
}

/// Runs one command line in bash from the repository root and returns everything it
/// printed, stdout and stderr in the order they came.
async fn run(root: &Path, command: &str) -> Result<String> {
    let child = tokio::process::Command::new("bash")
        .arg("-c")
        .arg(format!("{CURL_AS_ON_A_TERMINAL}\n{{ {command}\n}} 2>&1"))
        .current_dir(root)
        .env("CARGO_TERM_COLOR", "never")
        .env_remove("RUST_LOG")
        .env_remove("RUST_BACKTRACE")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .context("starting bash")?;
    match tokio::time::timeout(COMMAND_TIMEOUT, child.wait_with_output()).await {
        Ok(output) => Ok(String::from_utf8_lossy(&output?.stdout).into_owned()),
        Err(_) => bail!("still running after {COMMAND_TIMEOUT:?}"),
    }
}

/// curl draws a progress meter on stderr when its output is not a terminal, as here, and
/// never when a reader runs the same command by hand.
const CURL_AS_ON_A_TERMINAL: &str = r#"curl() { command curl --no-progress-meter "$@"; }"#;

/// Where cargo puts binaries: `CARGO_TARGET_DIR`, or `target/` in the workspace.
fn target_dir(root: &Path) -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("target"))
}

/// Writes the real output into each block that differs; returns the chapters changed.
pub fn rewrite(reruns: &[Rerun]) -> Result<Vec<String>> {
    let mut changed: Vec<String> = Vec::new();
    let mut by_chapter: Vec<(&Path, Vec<&Rerun>)> = Vec::new();
    for rerun in reruns.iter().filter(|r| !r.matches()) {
        let path = rerun.transcript.path.as_path();
        match by_chapter.iter_mut().find(|(p, _)| *p == path) {
            Some((_, list)) => list.push(rerun),
            None => by_chapter.push((path, vec![rerun])),
        }
    }
    for (path, mut list) in by_chapter {
        let file = list[0].transcript.file.clone();
        let text = fs::read_to_string(path)?;
        let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
        // From the bottom up, so that earlier blocks keep their line numbers.
        list.sort_by_key(|r| std::cmp::Reverse(r.transcript.body.start));
        for rerun in list {
            let mut body = Vec::new();
            let last = rerun.actual.len().saturating_sub(1);
            for (i, (shown, actual)) in rerun
                .transcript
                .commands
                .iter()
                .zip(&rerun.actual)
                .enumerate()
            {
                body.extend(shown.written.iter().cloned());
                let actual = if i == last {
                    without_trailing_blanks(actual)
                } else {
                    actual
                };
                body.extend(actual.iter().cloned());
            }
            lines.splice(rerun.transcript.body.clone(), body);
        }
        let mut text_out = lines.join("\n");
        if text.ends_with('\n') {
            text_out.push('\n');
        }
        fs::write(path, text_out)?;
        changed.push(file);
    }
    Ok(changed)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parsed(text: &str) -> Result<Vec<Transcript>, Vec<Problem>> {
        parse("book/src/x.md", Path::new("x.md"), text)
    }

    #[test]
    fn a_marked_block_splits_into_commands_and_their_output() {
        let text = "intro\n<!-- transcript: step-5 alice@rust bob -->\n```console\n$ curl -s a \\\n    b\n[1]\n$ true\n```\n";
        let found = parsed(text).unwrap();
        assert_eq!(found.len(), 1);
        let t = &found[0];
        assert_eq!(t.line, 2);
        assert_eq!(t.body, 3..7);
        assert_eq!(
            t.server,
            Some(Server {
                package: "step-5".into(),
                members: vec![("alice".into(), Some("rust".into())), ("bob".into(), None)],
            })
        );
        assert_eq!(t.commands.len(), 2);
        assert_eq!(t.commands[0].command, "curl -s a \\\n    b");
        assert_eq!(t.commands[0].expected, vec!["[1]"]);
        assert_eq!(t.commands[1].command, "true");
        assert!(t.commands[1].expected.is_empty());
    }

    #[test]
    fn unmarked_blocks_are_left_alone() {
        assert_eq!(parsed("```console\n$ curl x\ny\n```\n").unwrap(), vec![]);
    }

    #[test]
    fn a_marker_without_a_block_or_a_command_is_a_problem() {
        let problems = parsed("<!-- transcript -->\ntext\n").unwrap_err();
        assert!(problems[0].message.contains("just before"), "{problems:?}");
        let problems = parsed("<!-- transcript -->\n```text\nno command\n```\n").unwrap_err();
        assert!(problems[0].message.contains("`$ `"), "{problems:?}");
        let problems = parsed("<!-- transcript: nonsense -->\n```text\n$ x\n```\n").unwrap_err();
        assert!(problems[0].message.contains("cannot read"), "{problems:?}");
    }

    #[test]
    fn output_loses_carriage_returns_dates_and_the_real_port() {
        let output = "HTTP/1.1 200 OK\r\ndate: Sun, 22 Nov 2026 03:00:00 GMT\r\nlocation: http://127.0.0.1:40123/x \r\n\r\nok";
        assert_eq!(
            normalize(output, Some("127.0.0.1:40123")),
            vec![
                "HTTP/1.1 200 OK",
                "location: http://127.0.0.1:3000/x",
                "",
                "ok"
            ]
        );
    }

    #[test]
    fn test_timings_and_thread_ids_may_differ_but_nothing_else() {
        let shown = vec![
            "thread 'x' (14611) panicked at a.rs:1:2:".to_string(),
            "test result: ok. 1 passed; finished in 0.00s".to_string(),
        ];
        let now = vec![
            "thread 'x' (99) panicked at a.rs:1:2:".to_string(),
            "test result: ok. 1 passed; finished in 12.34s".to_string(),
        ];
        assert!(same_run(&shown, &now));
        let moved = vec![now[0].replace("1:2", "1:3"), now[1].clone()];
        assert!(!same_run(&shown, &moved));
        let failed = vec![now[0].clone(), now[1].replace("ok.", "FAILED.")];
        assert!(!same_run(&shown, &failed));
    }

    #[test]
    fn commands_are_pointed_at_the_real_server() {
        let addr = "127.0.0.1:40123".parse().unwrap();
        assert_eq!(
            point_at(
                "curl http://127.0.0.1:3000/x; nc -N 127.0.0.1 3000; exec 3<>/dev/tcp/127.0.0.1/3000",
                addr
            ),
            "curl http://127.0.0.1:40123/x; nc -N 127.0.0.1 40123; exec 3<>/dev/tcp/127.0.0.1/40123"
        );
    }

    #[test]
    fn a_mismatch_is_reported_with_a_diff() {
        let transcript = parsed("<!-- transcript -->\n```console\n$ echo hi\nhello\n```\n")
            .unwrap()
            .remove(0);
        let rerun = Rerun {
            transcript,
            actual: vec![vec!["hi".into()]],
        };
        assert!(!rerun.matches());
        let problems = rerun.problems();
        assert_eq!(problems.len(), 1);
        assert!(
            problems[0].message.contains("-hello\n+hi"),
            "{}",
            problems[0]
        );
    }
}
