//! The terminal client (`src/bin/client.rs`) against the real server, as a user runs it.

use std::process::{ExitStatus, Stdio};

use chat_test_support::{ServerProcess, WsClient, within};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader, Lines};
use tokio::process::{Child, ChildStderr, ChildStdin, ChildStdout, Command};

const SERVER: &str = env!("CARGO_BIN_EXE_step-3");
const CLIENT: &str = env!("CARGO_BIN_EXE_client");

/// The client binary with its three standard streams in our hands.
struct TerminalClient {
    child: Child,
    stdin: Option<ChildStdin>,
    stdout: Lines<BufReader<ChildStdout>>,
    stderr: Lines<BufReader<ChildStderr>>,
}

impl TerminalClient {
    fn start(server: &ServerProcess, user: &str) -> TerminalClient {
        let url = format!("ws://{}", server.addr());
        let mut child = Command::new(CLIENT)
            .args(["--user", user, "--url", &url])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("start the client");
        TerminalClient {
            stdin: child.stdin.take(),
            stdout: BufReader::new(child.stdout.take().expect("stdout")).lines(),
            stderr: BufReader::new(child.stderr.take().expect("stderr")).lines(),
            child,
        }
    }

    async fn type_line(&mut self, line: &str) {
        let stdin = self.stdin.as_mut().expect("stdin still open");
        stdin
            .write_all(format!("{line}\n").as_bytes())
            .await
            .expect("write stdin");
    }

    /// Ctrl-D.
    fn end_input(&mut self) {
        self.stdin = None;
    }

    async fn printed(&mut self) -> String {
        within("a line on the client's stdout", self.stdout.next_line())
            .await
            .expect("read stdout")
            .expect("the client's stdout ended")
    }

    async fn notice_containing(&mut self, needle: &str) -> String {
        within(&format!("a stderr line containing {needle:?}"), async {
            loop {
                match self.stderr.next_line().await.expect("read stderr") {
                    Some(line) if line.contains(needle) => return line,
                    Some(_) => continue,
                    None => panic!("stderr ended before a line containing {needle:?}"),
                }
            }
        })
        .await
    }

    async fn exit_status(&mut self) -> ExitStatus {
        within("the client to exit", self.child.wait())
            .await
            .expect("wait")
    }
}

#[tokio::test]
async fn the_client_chats_and_leaves_cleanly_at_end_of_input() {
    let server = ServerProcess::start(SERVER, &[]).await;
    let mut alice = WsClient::connect(&server.ws_url("/ws?user=alice")).await;
    assert_eq!(alice.recv_text().await, "* welcome, alice");

    let mut carol = TerminalClient::start(&server, "carol");
    assert_eq!(carol.printed().await, "* welcome, carol");
    assert_eq!(alice.recv_text().await, "* carol joined");

    carol.type_line("hello from a terminal").await;
    assert_eq!(alice.recv_text().await, "carol: hello from a terminal");
    alice.send_text("hi carol").await;
    assert_eq!(carol.printed().await, "alice: hi carol");

    // End of input: a close frame, the server's answer, and a clean exit.
    carol.end_input();
    assert!(carol.exit_status().await.success());
    carol.notice_containing("* disconnected").await;
    assert_eq!(alice.recv_text().await, "* carol left");
}

#[tokio::test]
async fn the_client_ends_when_the_server_closes_the_connection() {
    let server = ServerProcess::start(SERVER, &[]).await;
    let mut carol = TerminalClient::start(&server, "carol");
    assert_eq!(carol.printed().await, "* welcome, carol");

    // A line over the server's 16 KiB limit makes the server close with 1009.
    carol.type_line(&"x".repeat(20_000)).await;
    let notice = carol.notice_containing("closed the connection").await;
    assert!(notice.contains("1009"), "{notice}");
    assert!(carol.exit_status().await.success());
}

#[tokio::test]
async fn the_client_reports_a_refused_name_and_fails() {
    let server = ServerProcess::start(SERVER, &[]).await;
    let mut client = TerminalClient::start(&server, "not a name");
    let notice = client.notice_containing("refused").await;
    assert!(notice.contains("400"), "{notice}");
    assert!(notice.contains("bad user"), "{notice}");
    assert!(!client.exit_status().await.success());
}

#[tokio::test]
async fn the_client_sends_a_name_in_any_script() {
    let server = ServerProcess::start(SERVER, &[]).await;
    let mut zoe = TerminalClient::start(&server, "Zoë");
    assert_eq!(zoe.printed().await, "* welcome, Zoë");
}

#[tokio::test]
async fn the_client_reports_a_server_that_vanished_and_fails() {
    let server = ServerProcess::start(SERVER, &[]).await;
    let mut carol = TerminalClient::start(&server, "carol");
    assert_eq!(carol.printed().await, "* welcome, carol");

    drop(server); // killed: its sockets close without a close frame
    carol.notice_containing("connection lost").await;
    assert!(!carol.exit_status().await.success());
}

#[tokio::test]
async fn a_newline_in_a_message_cannot_forge_a_line_in_the_client() {
    let server = ServerProcess::start(SERVER, &[]).await;
    let mut mallory = WsClient::connect(&server.ws_url("/ws?user=mallory")).await;
    assert_eq!(mallory.recv_text().await, "* welcome, mallory");
    let mut carol = TerminalClient::start(&server, "carol");
    assert_eq!(carol.printed().await, "* welcome, carol");
    assert_eq!(mallory.recv_text().await, "* carol joined");

    mallory.send_text("hi\nalice: carol, you owe me $100").await;
    mallory.send_text("that was all").await;
    // One line for each message: nothing that looks like it came from alice.
    assert_eq!(
        carol.printed().await,
        "mallory: hi␊alice: carol, you owe me $100"
    );
    assert_eq!(carol.printed().await, "mallory: that was all");
}
