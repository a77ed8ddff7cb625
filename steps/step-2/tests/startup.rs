//! How the step 2 binary starts: the line it prints, and failing when it cannot listen.

use std::process::Stdio;

use chat_test_support::{ServerProcess, TcpClient, parse_listening_line, within};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

const SERVER: &str = env!("CARGO_BIN_EXE_step-2");

/// Starts the server and returns it (killed on drop) with the first line it printed on
/// stdout, which must be the listening line.
async fn first_stdout_line(mut server: Command) -> (Child, String) {
    let mut child = server
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("start step-2");
    let stdout = child.stdout.take().expect("piped stdout");
    let line = within("the listening line", async {
        BufReader::new(stdout).lines().next_line().await
    })
    .await
    .expect("read stdout")
    .expect("a line on stdout");
    (child, line)
}

#[tokio::test]
async fn prints_a_tcp_listening_line_with_the_real_port() {
    let mut server = Command::new(SERVER);
    server
        .args(["--addr", "127.0.0.1:0"])
        .env("RUST_LOG", "info");
    let (_child, line) = first_stdout_line(server).await;

    assert!(line.contains("listening on tcp://127.0.0.1:"), "{line}");
    let addr = parse_listening_line(&line).expect("an address in the line");
    assert_ne!(addr.port(), 0, "the line must name the port really bound");
    let mut client = TcpClient::connect(addr).await;
    assert_eq!(client.recv_line().await, "* what is your name?");
}

#[tokio::test]
async fn no_log_level_hides_the_listening_line() {
    for level in ["warn", "off"] {
        let mut server = Command::new(SERVER);
        server
            .args(["--addr", "127.0.0.1:0"])
            .env("RUST_LOG", level);
        let (_child, line) = first_stdout_line(server).await;
        assert!(
            line.starts_with("listening on tcp://127.0.0.1:"),
            "RUST_LOG={level}: {line}"
        );
        let addr = parse_listening_line(&line).expect("an address in the line");
        let mut client = TcpClient::connect(addr).await;
        assert_eq!(client.recv_line().await, "* what is your name?");
    }
}

#[tokio::test]
async fn the_chat_addr_variable_sets_the_address() {
    let mut server = Command::new(SERVER);
    server.env("CHAT_ADDR", "127.0.0.1:0");
    let (_child, line) = first_stdout_line(server).await;
    let addr = parse_listening_line(&line).expect("an address in the line");
    assert_ne!(addr.port(), 3000);
}

#[tokio::test]
async fn an_address_in_use_is_a_startup_error() {
    let first = ServerProcess::start(SERVER, &[]).await;
    let taken = first.addr().to_string();
    let output = within(
        "the second server to exit",
        Command::new(SERVER).args(["--addr", &taken]).output(),
    )
    .await
    .expect("run step-2");
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains(&format!("could not listen on {taken}")),
        "{stderr}"
    );
}

#[tokio::test]
async fn a_malformed_address_is_a_startup_error() {
    let output = within(
        "step-2 to exit",
        Command::new(SERVER)
            .args(["--addr", "not-an-address"])
            .output(),
    )
    .await
    .expect("run step-2");
    assert!(!output.status.success());
}
