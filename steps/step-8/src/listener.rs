//! What happens to a connection before it is a WebSocket: TCP_NODELAY, and a deadline
//! for its first request.
//!
//! The heartbeat starts once a connection is upgraded. Before that, axum reads a
//! request's headers for as long as the client takes: a client that connects and sends
//! nothing, or half a request, or whose network vanished after the TCP handshake, holds
//! a task and a socket forever. (hyper can time out a request's headers, but only with
//! a timer installed, and `axum::serve` installs none.) So every accepted connection is
//! wrapped in a [`FirstRequest`], which gives the client [`REQUEST_DEADLINE`] to finish
//! its first request's headers, answers `408` with a JSON body when it does not (or
//! just closes the connection, if no request had even begun), and steps aside for good
//! once they are complete: a WebSocket goes on over the same
//! connection, and from then on the heartbeat watches it.
//!
//! At the end of a shutdown, axum stops accepting and waits for the requests in flight.
//! A request that is still arriving then is answered `503` at once, rather than waited
//! for until its deadline.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use axum::serve::Listener;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::time::{Sleep, sleep};
use tokio_util::sync::{CancellationToken, WaitForCancellationFutureOwned};

use crate::config::REQUEST_DEADLINE;

/// The listener `axum::serve` accepts from: a TCP listener whose connections have
/// Nagle's algorithm off and a deadline for their first request.
pub struct ChatListener {
    tcp: TcpListener,
    /// The token that starts axum's graceful shutdown: when it is cancelled, a request
    /// still arriving is answered `503` at once.
    http: CancellationToken,
}

impl ChatListener {
    pub fn new(tcp: TcpListener, http: CancellationToken) -> ChatListener {
        ChatListener { tcp, http }
    }
}

impl Listener for ChatListener {
    type Io = FirstRequest<TcpStream>;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        // axum's own `accept` for a TCP listener, which waits and retries after an
        // error (out of file descriptors, say) instead of ending the server.
        let (socket, addr) = Listener::accept(&mut self.tcp).await;
        // Nagle's algorithm holds a small write back while an earlier one is
        // unacknowledged, hoping to merge them; with the client delaying its
        // acknowledgements, a chat message can wait tens of milliseconds for nothing.
        // The writer already merges what is ready into one flush, so every flush
        // should leave at once.
        if let Err(error) = socket.set_nodelay(true) {
            tracing::warn!("could not turn off Nagle's algorithm: {error}");
        }
        let shutdown = self.http.clone().cancelled_owned();
        (
            FirstRequest::new(socket, sleep(REQUEST_DEADLINE), shutdown),
            addr,
        )
    }

    fn local_addr(&self) -> io::Result<Self::Addr> {
        self.tcp.local_addr()
    }
}

// ANCHOR: first_request
/// A connection that must finish its first request's headers before `deadline`, and
/// before the server shuts down.
///
/// It watches the bytes it reads for the blank line that ends a request's headers, and
/// does nothing else: it does not parse HTTP, hyper does that. If the deadline or the
/// shutdown comes first, its next read fails, and hyper closes the connection; a client
/// that had begun a request is first answered `408`, or `503` at a shutdown. Once the
/// blank line has passed, both are dropped.
pub struct FirstRequest<S> {
    stream: S,
    state: State,
}

enum State {
    /// The first request's headers are still coming.
    Reading {
        deadline: Pin<Box<Sleep>>,
        shutdown: Pin<Box<WaitForCancellationFutureOwned>>,
        end: HeadersEnd,
    },
    /// Too late: writing the answer (this many bytes of it are out).
    Answering {
        answer: &'static [u8],
        written: usize,
    },
    /// Too late, and the answer (if one was owed) is out: every read fails from now on.
    TimedOut,
    /// The headers arrived in time: the stream is passed through as it is.
    Passed,
}

/// What a client that took too long gets, before the connection closes. Every error
/// status of ours has a JSON body saying why.
const TIMED_OUT: &[u8] = b"HTTP/1.1 408 Request Timeout\r\n\
content-type: application/json\r\n\
content-length: 56\r\n\
connection: close\r\n\
\r\n\
{\"error\":\"the request did not arrive within 10 seconds\"}";

/// What a client whose request is still arriving at the end of a shutdown gets.
const SHUTTING_DOWN: &[u8] = b"HTTP/1.1 503 Service Unavailable\r\n\
content-type: application/json\r\n\
content-length: 32\r\n\
connection: close\r\n\
\r\n\
{\"error\":\"server shutting down\"}";

impl<S> FirstRequest<S> {
    pub fn new(
        stream: S,
        deadline: Sleep,
        shutdown: WaitForCancellationFutureOwned,
    ) -> FirstRequest<S> {
        FirstRequest {
            stream,
            state: State::Reading {
                deadline: Box::pin(deadline),
                shutdown: Box::pin(shutdown),
                end: HeadersEnd::default(),
            },
        }
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> AsyncRead for FirstRequest<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        loop {
            match &mut this.state {
                State::Passed => return Pin::new(&mut this.stream).poll_read(cx, buf),
                State::Reading {
                    deadline,
                    shutdown,
                    end,
                } => {
                    let answer = if deadline.as_mut().poll(cx).is_ready() {
                        Some(TIMED_OUT)
                    } else if shutdown.as_mut().poll(cx).is_ready() {
                        Some(SHUTTING_DOWN)
                    } else {
                        None
                    };
                    if let Some(answer) = answer {
                        // What the client sent so far is read and dropped first: a
                        // socket closed with unread bytes in it is reset, and the reset
                        // can destroy the answer on its way.
                        drain(Pin::new(&mut this.stream), cx, end);
                        // A browser may open a connection ahead of need and leave it
                        // unused; an answer to a request it never began would only
                        // puzzle it. Such a connection is closed without a word.
                        this.state = if end.request_begun() {
                            State::Answering { answer, written: 0 }
                        } else {
                            State::TimedOut
                        };
                        continue;
                    }
                    let before = buf.filled().len();
                    ready!(Pin::new(&mut this.stream).poll_read(cx, buf))?;
                    if end.seen_in(&buf.filled()[before..]) {
                        this.state = State::Passed;
                    }
                    return Poll::Ready(Ok(()));
                }
                State::Answering { answer, written } => {
                    // Nothing else has been written to this connection (there was no
                    // request to answer), so the socket's buffer has room for it all.
                    while *written < answer.len() {
                        let n =
                            ready!(Pin::new(&mut this.stream).poll_write(cx, &answer[*written..]))?;
                        if n == 0 {
                            break;
                        }
                        *written += n;
                    }
                    ready!(Pin::new(&mut this.stream).poll_flush(cx))?;
                    this.state = State::TimedOut;
                }
                State::TimedOut => {
                    return Poll::Ready(Err(io::Error::new(
                        io::ErrorKind::TimedOut,
                        "the request did not arrive in time",
                    )));
                }
            }
        }
    }
}
// ANCHOR_END: first_request

/// Reads what is ready to read, up to a bound, and drops it, showing it to `end` first
/// (so that a request that begins in it counts as begun).
fn drain<S: AsyncRead>(mut stream: Pin<&mut S>, cx: &mut Context<'_>, end: &mut HeadersEnd) {
    let mut scratch = [0u8; 1024];
    for _ in 0..64 {
        let mut buf = ReadBuf::new(&mut scratch);
        match stream.as_mut().poll_read(cx, &mut buf) {
            Poll::Ready(Ok(())) if !buf.filled().is_empty() => {
                end.seen_in(buf.filled());
            }
            _ => return,
        }
    }
}

/// Writes go straight through: the server only writes once it has a request.
impl<S: AsyncWrite + Unpin> AsyncWrite for FirstRequest<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().stream).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().stream).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_shutdown(cx)
    }
}

/// Finds the end of a request's headers, fed the bytes as they arrive: an empty line
/// after at least one that is not, where a line ends with `\n` or `\r\n` (hyper takes
/// both). Empty lines before the request line, which RFC 9112 lets a server ignore, do
/// not count.
#[derive(Debug, Default)]
struct HeadersEnd {
    /// Some byte other than `\r` and `\n` has arrived.
    text_seen: bool,
    /// The last byte other than `\r` was a `\n`.
    after_newline: bool,
}

impl HeadersEnd {
    /// Whether anything but empty lines has arrived: a request has begun.
    fn request_begun(&self) -> bool {
        self.text_seen
    }

    /// Reads `bytes`; true once the end of the headers is among them or behind.
    fn seen_in(&mut self, bytes: &[u8]) -> bool {
        for &byte in bytes {
            match byte {
                b'\r' => {}
                b'\n' if self.text_seen && self.after_newline => return true,
                b'\n' => self.after_newline = true,
                _ => {
                    self.text_seen = true;
                    self.after_newline = false;
                }
            }
        }
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt, DuplexStream, duplex};
    use tokio::time::{Duration, advance};

    /// A connection as the server sees it, and the client's end of it.
    fn connection() -> (FirstRequest<DuplexStream>, DuplexStream) {
        connection_until(CancellationToken::new())
    }

    /// The same, for a server whose graceful shutdown starts when `http` is cancelled.
    fn connection_until(http: CancellationToken) -> (FirstRequest<DuplexStream>, DuplexStream) {
        let (server, client) = duplex(4096);
        let first = FirstRequest::new(server, sleep(REQUEST_DEADLINE), http.cancelled_owned());
        (first, client)
    }

    /// The first line of what the server answered the client.
    async fn status_line(client: &mut DuplexStream) -> String {
        let mut answer = Vec::new();
        while !answer.ends_with(b"\r\n") {
            answer.push(client.read_u8().await.unwrap());
        }
        String::from_utf8(answer).unwrap().trim_end().to_string()
    }

    async fn read_some(server: &mut FirstRequest<DuplexStream>) -> io::Result<Vec<u8>> {
        let mut buf = [0u8; 256];
        let n = server.read(&mut buf).await?;
        Ok(buf[..n].to_vec())
    }

    #[tokio::test(start_paused = true)]
    async fn a_client_that_sends_nothing_is_closed_at_the_deadline_without_an_answer() {
        let (mut server, mut client) = connection();
        let started = tokio::time::Instant::now();
        let error = read_some(&mut server).await.unwrap_err();
        assert_eq!(error.kind(), io::ErrorKind::TimedOut);
        assert_eq!(started.elapsed(), REQUEST_DEADLINE);
        // Later reads fail too: the connection is over.
        assert!(read_some(&mut server).await.is_err());
        drop(server);
        let mut answer = Vec::new();
        client.read_to_end(&mut answer).await.unwrap();
        assert_eq!(answer, b"");
    }

    #[tokio::test(start_paused = true)]
    async fn a_request_begun_unread_at_the_deadline_still_gets_its_408() {
        let (mut server, mut client) = connection();
        // The bytes are there, but the server has not read them when the deadline
        // comes (here, it has not read at all).
        advance(REQUEST_DEADLINE).await;
        client.write_all(b"GET / HTTP/1.1\r\n").await.unwrap();
        assert!(read_some(&mut server).await.is_err());
        assert_eq!(
            status_line(&mut client).await,
            "HTTP/1.1 408 Request Timeout"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn half_a_request_is_read_and_then_answered_408_at_the_deadline() {
        let (mut server, mut client) = connection();
        client
            .write_all(b"GET /healthz HTTP/1.1\r\nHo")
            .await
            .unwrap();
        assert_eq!(
            read_some(&mut server).await.unwrap(),
            b"GET /healthz HTTP/1.1\r\nHo"
        );
        let error = read_some(&mut server).await.unwrap_err();
        assert_eq!(error.kind(), io::ErrorKind::TimedOut);
        assert_eq!(
            status_line(&mut client).await,
            "HTTP/1.1 408 Request Timeout"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn once_the_headers_are_complete_the_connection_may_stay_quiet_for_ever() {
        let (mut server, mut client) = connection();
        client
            .write_all(b"GET /ws HTTP/1.1\r\nHost: x\r\n\r\n")
            .await
            .unwrap();
        read_some(&mut server).await.unwrap();
        advance(REQUEST_DEADLINE * 10).await;
        client.write_all(b"a frame, much later").await.unwrap();
        assert_eq!(
            read_some(&mut server).await.unwrap(),
            b"a frame, much later"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn the_time_counts_from_the_connection_not_from_the_last_byte() {
        let (mut server, mut client) = connection();
        // One header line every few seconds: each arrives, but the whole never does.
        for line in [
            &b"GET / HTTP/1.1\r\n"[..],
            b"Host: x\r\n",
            b"Accept: */*\r\n",
        ] {
            client.write_all(line).await.unwrap();
            assert_eq!(read_some(&mut server).await.unwrap(), line);
            advance(Duration::from_secs(4)).await;
        }
        assert!(read_some(&mut server).await.is_err());
    }

    #[tokio::test(start_paused = true)]
    async fn a_request_still_arriving_at_the_shutdown_is_answered_503_at_once() {
        let http = CancellationToken::new();
        let (mut server, mut client) = connection_until(http.clone());
        client
            .write_all(b"GET /healthz HTTP/1.1\r\n")
            .await
            .unwrap();
        read_some(&mut server).await.unwrap();
        let started = tokio::time::Instant::now();
        let cancel = async {
            advance(Duration::from_secs(1)).await;
            http.cancel();
        };
        let (read, ()) = tokio::join!(read_some(&mut server), cancel);
        assert_eq!(read.unwrap_err().kind(), io::ErrorKind::TimedOut);
        assert_eq!(started.elapsed(), Duration::from_secs(1));
        let mut answer = vec![0u8; SHUTTING_DOWN.len()];
        client.read_exact(&mut answer).await.unwrap();
        assert_eq!(answer, SHUTTING_DOWN);
    }

    #[tokio::test(start_paused = true)]
    async fn a_request_complete_before_the_shutdown_is_not_cut_off_by_it() {
        let http = CancellationToken::new();
        let (mut server, mut client) = connection_until(http.clone());
        client.write_all(b"GET /ws HTTP/1.1\r\n\r\n").await.unwrap();
        read_some(&mut server).await.unwrap();
        http.cancel();
        client.write_all(b"a frame").await.unwrap();
        assert_eq!(read_some(&mut server).await.unwrap(), b"a frame");
    }

    #[test]
    fn the_end_of_the_headers_is_an_empty_line_after_a_line_of_text() {
        let ends = |chunks: &[&[u8]]| {
            let mut end = HeadersEnd::default();
            chunks.iter().any(|chunk| end.seen_in(chunk))
        };
        assert!(ends(&[b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"]));
        assert!(ends(&[b"GET / HTTP/1.1\nHost: x\n\n"]));
        // Split anywhere, even between the two line ends.
        assert!(ends(&[b"GET / HTTP/1.1\r\nHost: x\r", b"\n\r", b"\n"]));
        assert!(!ends(&[b"GET / HTTP/1.1\r\nHost: x\r\n"]));
        // Empty lines before the request line are not the end of anything.
        assert!(!ends(&[b"\r\n\r\n\r\nGET / HTTP/1.1\r\n"]));
        assert!(!ends(&[b""]));
    }

    /// The JSON error in a hand-written answer, after checking its length.
    fn error_of(answer: &[u8]) -> String {
        let text = std::str::from_utf8(answer).unwrap();
        let (head, body) = text.split_once("\r\n\r\n").unwrap();
        let length = format!("content-length: {}", body.len());
        assert!(head.contains(&length), "{head}");
        let json: serde_json::Value = serde_json::from_str(body).unwrap();
        json["error"].as_str().unwrap().to_string()
    }

    #[test]
    fn the_408_says_how_long_its_body_is_and_why() {
        let secs = REQUEST_DEADLINE.as_secs();
        assert!(error_of(TIMED_OUT).contains(&format!("{secs} seconds")));
    }

    #[test]
    fn the_503_says_what_readyz_and_the_close_frames_say() {
        assert_eq!(error_of(SHUTTING_DOWN), crate::shutdown::GOING_AWAY_REASON);
    }
}
