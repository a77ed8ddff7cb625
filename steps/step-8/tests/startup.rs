//! How the step 7 binary starts: the line it prints, whatever the log level.

use std::process::Stdio;

use chat_test_support::{http_get, parse_listening_line, within};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::Command;

const SERVER: &str = env!("CARGO_BIN_EXE_step-8");

#[tokio::test]
async fn no_log_level_hides_the_listening_line() {
    for level in ["warn", "off"] {
        let mut child = Command::new(SERVER)
            .args(["--addr", "127.0.0.1:0"])
            .env("RUST_LOG", level)
            .stdout(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("start step-7");
        let stdout = child.stdout.take().expect("piped stdout");
        let line = within("the listening line on stdout", async {
            BufReader::new(stdout).lines().next_line().await
        })
        .await
        .expect("read stdout")
        .expect("a line on stdout");

        assert!(
            line.starts_with("listening on http://127.0.0.1:"),
            "RUST_LOG={level}: {line}"
        );
        let addr = parse_listening_line(&line).expect("an address in the line");
        let health = http_get(addr, "/healthz").await;
        assert_eq!((health.status, health.body.as_str()), (200, "ok"));
    }
}
