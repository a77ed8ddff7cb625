//! Helpers every step's tests share, written once.
//!
//! - [`ServerProcess`] starts a step's real binary on `--addr 127.0.0.1:0`, waits for the
//!   `listening on` line (the event, never a sleep) and kills the process when dropped.
//! - [`TcpClient`] speaks the line protocol of step 2.
//! - [`WsClient`] speaks WebSocket (steps 3 and later), with JSON helpers for step 4's
//!   protocol.
//! - [`http_get`] is a deliberately tiny HTTP/1.1 client, enough for `/`, `/healthz` and the
//!   JSON API, so the tests do not pull in a second HTTP stack.
//! - [`raw`] speaks WebSocket over a bare TCP socket, for clients no library would be
//!   (one that never reads, or never answers a ping); [`split`] gives a WebSocket client
//!   in two halves, for one task that talks while another listens.
//! - [`refused_at_startup`] runs a binary that must refuse its configuration, and
//!   [`assert_help_mentions`] checks what its `--help` says.
//! - [`browser`] drives a real headless Chromium through chromedriver for the web client's
//!   tests and the book's screenshots; without Chromium those tests skip visibly.
//!
//! Every wait is bounded by [`WAIT`]: a broken server fails a test, it never hangs it.

use std::net::SocketAddr;
use std::process::Stdio;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde_json::Value;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::process::{Child, Command};
use tokio::sync::mpsc;
use tokio::time::timeout;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream, tungstenite};

pub use tokio_tungstenite::tungstenite::Message;

pub mod browser;
pub mod raw;
pub mod split;

pub use raw::{never_reading_client, raw_client, read_raw_frame};
pub use split::{next_json, split_client};

/// How long any single wait in a test may take before the test fails. Generous, because
/// CI machines are slow and shared; a healthy server answers in milliseconds.
pub const WAIT: Duration = Duration::from_secs(10);

/// How long a server binary may take to print its `listening on` line.
pub const STARTUP: Duration = Duration::from_secs(30);

/// Awaits `fut` for at most [`WAIT`], failing the test with `what` if it does not finish.
pub async fn within<T>(what: &str, fut: impl Future<Output = T>) -> T {
    match timeout(WAIT, fut).await {
        Ok(value) => value,
        Err(_) => panic!("timed out after {WAIT:?} waiting for {what}"),
    }
}

/// A step's server binary, running on an ephemeral port for the length of one test.
pub struct ServerProcess {
    /// Killed on drop (`kill_on_drop`), so a failing test never leaves a server behind.
    child: Child,
    addr: SocketAddr,
    /// Every line the server printed after its `listening on` line, so a test can wait
    /// for a log event instead of sleeping.
    lines: mpsc::UnboundedReceiver<String>,
}

impl ServerProcess {
    /// Starts `binary` (use `env!("CARGO_BIN_EXE_step-N")`) with `--addr 127.0.0.1:0` and
    /// `extra_args`, and returns once it has printed `listening on SCHEME://HOST:PORT`.
    pub async fn start(binary: &str, extra_args: &[&str]) -> ServerProcess {
        ServerProcess::start_with_env(binary, extra_args, &[]).await
    }

    /// Like [`ServerProcess::start`], with extra environment variables (e.g. the `CHAT_*`
    /// equivalents of the flags).
    pub async fn start_with_env(
        binary: &str,
        extra_args: &[&str],
        env: &[(&str, &str)],
    ) -> ServerProcess {
        let mut child = Command::new(binary)
            .args(["--addr", "127.0.0.1:0"])
            .args(extra_args)
            .env("RUST_LOG", "info")
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .unwrap_or_else(|e| panic!("could not start {binary}: {e}"));

        // Both streams are forwarded into one channel and drained for the life of the
        // process, so a chatty server can never block on a full pipe.
        let (tx, mut rx) = mpsc::unbounded_channel();
        forward_lines(child.stdout.take().expect("piped stdout"), tx.clone());
        forward_lines(child.stderr.take().expect("piped stderr"), tx);

        let mut seen = Vec::new();
        let found = timeout(STARTUP, async {
            while let Some(line) = rx.recv().await {
                if let Some(addr) = parse_listening_line(&line) {
                    return Some(addr);
                }
                seen.push(line);
            }
            None
        })
        .await;
        match found {
            Ok(Some(addr)) => ServerProcess {
                child,
                addr,
                lines: rx,
            },
            Ok(None) => panic!(
                "{binary} exited before listening; it printed:\n{}",
                seen.join("\n")
            ),
            Err(_) => panic!(
                "{binary} printed no `listening on` line within {STARTUP:?}; it printed:\n{}",
                seen.join("\n")
            ),
        }
    }

    /// The address the server really bound.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The server's process id (to send it a signal or read its memory use).
    pub fn pid(&self) -> u32 {
        self.child.id().expect("server still running")
    }

    /// `ws://127.0.0.1:PORT{path_and_query}`.
    pub fn ws_url(&self, path_and_query: &str) -> String {
        format!("ws://{}{}", self.addr, path_and_query)
    }

    /// Waits for an output line containing `needle` and returns it.
    pub async fn wait_for_line(&mut self, needle: &str) -> String {
        within(&format!("a server line containing {needle:?}"), async {
            loop {
                match self.lines.recv().await {
                    Some(line) if line.contains(needle) => return line,
                    Some(_) => continue,
                    None => panic!("server output ended before a line containing {needle:?}"),
                }
            }
        })
        .await
    }

    /// Waits for the process to exit and returns its exit code.
    pub async fn wait_for_exit(&mut self) -> Option<i32> {
        let status = within("the server to exit", self.child.wait())
            .await
            .expect("wait for server");
        status.code()
    }
}

/// Runs `binary` with `--addr 127.0.0.1:0`, `args` and `env`, expects it to refuse to
/// start, and returns what it printed on stderr.
pub async fn refused_at_startup(binary: &str, args: &[&str], env: &[(&str, &str)]) -> String {
    let run = Command::new(binary)
        .args(["--addr", "127.0.0.1:0"])
        .args(args)
        .envs(env.iter().copied())
        .kill_on_drop(true)
        .output();
    let output = within("the server to refuse to start", run)
        .await
        .expect("run the server");
    assert!(!output.status.success(), "it started with {args:?} {env:?}");
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// Sets one setting to `value` twice, first as `flag` and then as the environment
/// `variable`, expects `binary` to refuse to start both times, and returns what it
/// printed on stderr each time: a setting must be checked whichever way it comes.
pub async fn refused_from_flag_and_environment(
    binary: &str,
    flag: &str,
    variable: &str,
    value: &str,
) -> [String; 2] {
    [
        refused_at_startup(binary, &[flag, value], &[]).await,
        refused_at_startup(binary, &[], &[(variable, value)]).await,
    ]
}

/// Runs `binary --help` and fails the test unless its output names every one of
/// `expected` (flags, their variables, their defaults).
pub async fn assert_help_mentions(binary: &str, expected: &[&str]) {
    let help = within("--help", Command::new(binary).arg("--help").output())
        .await
        .expect("run --help");
    assert!(help.status.success());
    let help = String::from_utf8_lossy(&help.stdout);
    for expected in expected {
        assert!(help.contains(expected), "no {expected:?} in:\n{help}");
    }
}

fn forward_lines<R>(stream: R, tx: mpsc::UnboundedSender<String>)
where
    R: tokio::io::AsyncRead + Unpin + Send + 'static,
{
    tokio::spawn(async move {
        let mut lines = BufReader::new(stream).lines();
        while let Ok(Some(line)) = lines.next_line().await {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
}

/// Finds `listening on SCHEME://HOST:PORT` in a log line and returns the address.
pub fn parse_listening_line(line: &str) -> Option<SocketAddr> {
    let rest = &line[line.find("listening on ")? + "listening on ".len()..];
    let rest = &rest[rest.find("://")? + 3..];
    let end = rest
        .find(|c: char| c.is_whitespace() || c == '/')
        .unwrap_or(rest.len());
    rest[..end].parse().ok()
}

/// A line-oriented TCP client, as `nc` would be (step 2).
pub struct TcpClient {
    lines: tokio::io::Lines<BufReader<OwnedReadHalf>>,
    writer: OwnedWriteHalf,
}

impl TcpClient {
    pub async fn connect(addr: SocketAddr) -> TcpClient {
        let stream = within("a TCP connection", TcpStream::connect(addr))
            .await
            .expect("connect");
        let (reader, writer) = stream.into_split();
        TcpClient {
            lines: BufReader::new(reader).lines(),
            writer,
        }
    }

    /// Sends `line` followed by a newline.
    pub async fn send_line(&mut self, line: &str) {
        let mut bytes = line.as_bytes().to_vec();
        bytes.push(b'\n');
        self.writer.write_all(&bytes).await.expect("write line");
    }

    /// Sends raw bytes, for tests that need invalid UTF-8 or a missing newline.
    pub async fn send_raw(&mut self, bytes: &[u8]) {
        self.writer.write_all(bytes).await.expect("write bytes");
    }

    /// The next line from the server; fails the test if none arrives in time.
    pub async fn recv_line(&mut self) -> String {
        match within("a line from the server", self.lines.next_line()).await {
            Ok(Some(line)) => line,
            Ok(None) => panic!("the server closed the connection"),
            Err(e) => panic!("read error: {e}"),
        }
    }

    /// Waits for the server to close the connection, returning any lines it sent first.
    pub async fn recv_until_closed(&mut self) -> Vec<String> {
        within("the server to close the connection", async {
            let mut lines = Vec::new();
            while let Ok(Some(line)) = self.lines.next_line().await {
                lines.push(line);
            }
            lines
        })
        .await
    }

    /// Closes the writing half, as `nc` does on end of input.
    pub async fn shutdown_write(&mut self) {
        self.writer.shutdown().await.expect("shutdown");
    }
}

type WsStream = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// A WebSocket test client (steps 3 and later).
pub struct WsClient {
    stream: WsStream,
}

/// What a WebSocket connection attempt answered.
// Returned once per connection attempt and matched at once, so its size does not matter
// and a Box would only add noise at every call site.
#[allow(clippy::large_enum_variant)]
pub enum Upgrade {
    /// The server switched protocols.
    Accepted(WsClient),
    /// The server refused with an HTTP status and body before the upgrade.
    Refused { status: u16, body: String },
}

impl WsClient {
    /// Connects to `url` and fails the test if the server does not upgrade.
    pub async fn connect(url: &str) -> WsClient {
        match WsClient::try_connect(url).await {
            Upgrade::Accepted(client) => client,
            Upgrade::Refused { status, body } => {
                panic!("upgrade to {url} refused with {status}: {body}")
            }
        }
    }

    /// Connects to `url` and reports a refusal instead of failing.
    pub async fn try_connect(url: &str) -> Upgrade {
        match within(
            "a WebSocket handshake",
            tokio_tungstenite::connect_async(url),
        )
        .await
        {
            Ok((stream, _response)) => Upgrade::Accepted(WsClient { stream }),
            Err(tungstenite::Error::Http(response)) => {
                let status = response.status().as_u16();
                let body = response
                    .body()
                    .as_ref()
                    .map(|b| String::from_utf8_lossy(b).into_owned())
                    .unwrap_or_default();
                Upgrade::Refused { status, body }
            }
            Err(e) => panic!("WebSocket handshake with {url} failed: {e}"),
        }
    }

    pub async fn send(&mut self, message: Message) {
        within("a frame to be sent", self.stream.send(message))
            .await
            .expect("send frame");
    }

    pub async fn send_text(&mut self, text: &str) {
        self.send(Message::text(text)).await;
    }

    pub async fn send_json(&mut self, value: &Value) {
        self.send_text(&value.to_string()).await;
    }

    /// The next frame that is not a ping or pong (tungstenite answers pings itself).
    pub async fn recv(&mut self) -> Message {
        within("a frame from the server", async {
            loop {
                match self.stream.next().await {
                    Some(Ok(Message::Ping(_) | Message::Pong(_))) => continue,
                    Some(Ok(message)) => return message,
                    Some(Err(e)) => panic!("WebSocket error while waiting for a frame: {e}"),
                    None => panic!("the server closed the connection"),
                }
            }
        })
        .await
    }

    /// The next text frame; fails the test on any other kind of frame.
    pub async fn recv_text(&mut self) -> String {
        match self.recv().await {
            Message::Text(text) => text.to_string(),
            other => panic!("expected a text frame, got {other:?}"),
        }
    }

    /// The next text frame, parsed as JSON.
    pub async fn recv_json(&mut self) -> Value {
        let text = self.recv_text().await;
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("frame is not JSON ({e}): {text}"))
    }

    /// The next JSON frame whose `type` is `kind`, skipping others (e.g. presence notices).
    pub async fn recv_type(&mut self, kind: &str) -> Value {
        loop {
            let frame = self.recv_json().await;
            if frame["type"] == kind {
                return frame;
            }
        }
    }

    /// Waits for the server's close frame and returns it (None if the server closed
    /// without one). Frames before it are skipped.
    pub async fn recv_close(&mut self) -> Option<CloseFrame> {
        within("the server to close the connection", async {
            loop {
                match self.stream.next().await {
                    Some(Ok(Message::Close(frame))) => return frame,
                    Some(Ok(_)) => continue,
                    Some(Err(_)) | None => return None,
                }
            }
        })
        .await
    }

    /// Starts a normal close (1000) and waits for the server to answer it.
    pub async fn close(mut self) {
        within("the close handshake", self.stream.close(None))
            .await
            .ok();
        self.recv_close().await;
    }
}

/// A parsed HTTP response.
#[derive(Debug)]
pub struct HttpResponse {
    pub status: u16,
    /// Header names in lower case.
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl HttpResponse {
    pub fn header(&self, name: &str) -> Option<&str> {
        let name = name.to_ascii_lowercase();
        self.headers
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.as_str())
    }

    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body)
            .unwrap_or_else(|e| panic!("body is not JSON ({e}): {}", self.body))
    }
}

/// `GET path` over a fresh connection, with `Connection: close` so the body ends at EOF.
pub async fn http_get(addr: SocketAddr, path: &str) -> HttpResponse {
    within(&format!("GET {path}"), async {
        let mut stream = TcpStream::connect(addr).await.expect("connect");
        let request = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
        stream.write_all(request.as_bytes()).await.expect("write");
        let mut raw = Vec::new();
        stream.read_to_end(&mut raw).await.expect("read");
        parse_response(&raw)
    })
    .await
}

/// Parses a whole HTTP/1.1 response, as read from a connection until it closed (for a
/// test that writes its own request, a half one say, and reads what comes back).
pub fn parse_response(raw: &[u8]) -> HttpResponse {
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("response has a header block");
    let head = String::from_utf8_lossy(&raw[..split]);
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|s| s.parse().ok())
        .expect("status line");
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    let mut body = raw[split + 4..].to_vec();
    let chunked = headers
        .iter()
        .any(|(n, v)| n == "transfer-encoding" && v.contains("chunked"));
    if chunked {
        body = dechunk(&body);
    }
    HttpResponse {
        status,
        headers,
        body: String::from_utf8_lossy(&body).into_owned(),
    }
}

fn dechunk(mut raw: &[u8]) -> Vec<u8> {
    let mut body = Vec::new();
    while let Some(end) = raw.windows(2).position(|w| w == b"\r\n") {
        let size = usize::from_str_radix(String::from_utf8_lossy(&raw[..end]).trim(), 16)
            .expect("chunk size");
        if size == 0 {
            break;
        }
        body.extend_from_slice(&raw[end + 2..end + 2 + size]);
        raw = &raw[end + 2 + size + 2..];
    }
    body
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_address_in_a_listening_line() {
        let line = "2026-01-01T00:00:00Z  INFO step_4: listening on http://127.0.0.1:41234";
        assert_eq!(
            parse_listening_line(line),
            Some("127.0.0.1:41234".parse().unwrap())
        );
        assert_eq!(
            parse_listening_line("listening on tcp://127.0.0.1:9/ now"),
            Some("127.0.0.1:9".parse().unwrap())
        );
        assert_eq!(parse_listening_line("starting up"), None);
    }

    #[test]
    fn parses_plain_and_chunked_responses() {
        let plain = parse_response(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok");
        assert_eq!((plain.status, plain.body.as_str()), (200, "ok"));
        let chunked = parse_response(
            b"HTTP/1.1 400 Bad Request\r\nTransfer-Encoding: chunked\r\n\r\n3\r\n{\"a\r\n3\r\n\":1\r\n1\r\n}\r\n0\r\n\r\n",
        );
        assert_eq!(chunked.status, 400);
        assert_eq!(chunked.json()["a"], 1);
    }
}
