//! The writer task: the one place that writes to a client's socket. It empties the
//! connection's outbox in batches, writes each batch with one flush under a deadline,
//! and ends the connection the way the outbox's [`Closing`] says.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::ws::{CloseFrame, Message, Utf8Bytes, close_code};
use futures_util::{Sink, SinkExt};
use tokio::time::timeout;

use crate::outbox::{Closing, Outbox};

// ANCHOR: deadline
/// How long one batch (or the final close frame) may take to write. A client whose
/// socket takes no bytes for this long is not reading: it is dropped as too slow.
///
/// Ten seconds is long enough for a big batch over a poor mobile link, and short
/// enough that a vanished client does not hold its socket and buffers for long.
pub const WRITE_DEADLINE: Duration = Duration::from_secs(10);
// ANCHOR_END: deadline

/// How long the socket of a client that broke a rule stays open after its close frame.
///
/// Such a client may still be sending the rest of what broke the rule (most of a message
/// that was too big, say), which nobody will read: tungstenite stopped at the frame's
/// header. A socket closed with unread bytes in it is reset by the operating system, and
/// a client whose write fails with that reset may give up before it reads our close
/// frame, and report 1006 instead of the code we sent. Holding the socket open a moment
/// lets its write land and our close frame be read.
pub const LINGER: Duration = Duration::from_secs(1);

/// Close code 1013 ("try again later"): PROTOCOL.md uses it for a member that could not
/// keep up with its room. axum names the codes it knows; this one it calls `AGAIN`.
pub const COULD_NOT_KEEP_UP: u16 = close_code::AGAIN;

// ANCHOR: run
/// Writes what arrives in `outbox` to `sink` (the sending half of `user`'s socket)
/// until the outbox closes or the socket fails.
pub async fn run<S>(mut sink: S, outbox: Arc<Outbox>, user: String)
where
    S: Sink<Message, Error = axum::Error> + Unpin,
{
    let mut batch = Vec::new();
    let closing = loop {
        if let Err(closing) = outbox.next_batch(&mut batch).await {
            break closing;
        }
        tokio::select! {
            written = timeout(WRITE_DEADLINE, write_batch(&mut sink, &mut batch)) => {
                match written {
                    Ok(Ok(())) => continue,
                    Ok(Err(error)) => {
                        // The socket failed: nobody is left to tell, but the reader and
                        // the rooms must stop.
                        tracing::debug!(user, "write failed: {error}");
                        outbox.close(Closing::Gone);
                        return;
                    }
                    Err(_) => {
                        let too_slow = format!(
                            "could not keep up: writing took longer than {WRITE_DEADLINE:?}"
                        );
                        outbox.close(Closing::TooSlow(too_slow));
                    }
                }
            }
            // The outbox closed while a batch was being written (the member was
            // dropped, or the client broke a rule): the rest of the batch is dropped.
            _ = outbox.closed() => {}
        }
        batch.clear();
        // Whoever closed it first decides how the connection ends.
        break outbox.closing().unwrap_or(Closing::Gone);
    };
    say_goodbye(&mut sink, closing, &user).await;
}

/// Hands every frame of `batch` to the socket, then flushes once: one system call for
/// the lot when the socket takes it, instead of one per frame.
async fn write_batch<S>(sink: &mut S, batch: &mut Vec<Utf8Bytes>) -> Result<(), axum::Error>
where
    S: Sink<Message, Error = axum::Error> + Unpin,
{
    for frame in batch.drain(..) {
        // `feed` queues the frame in tungstenite's write buffer without flushing; it
        // writes to the socket by itself only when that buffer is full.
        sink.feed(Message::Text(frame)).await?;
    }
    sink.flush().await
}
// ANCHOR_END: run

// ANCHOR: goodbye
/// Ends the connection as `closing` says: a close frame for a client that is dropped
/// or broke a rule, the answer to the client's own close, or nothing when the
/// connection is already gone. The close frame gets one more [`WRITE_DEADLINE`]; if
/// the client does not take it by then, the socket is dropped without it. After a
/// rule was broken, the socket stays open for [`LINGER`] more.
async fn say_goodbye<S>(sink: &mut S, closing: Closing, user: &str)
where
    S: Sink<Message, Error = axum::Error> + Unpin,
{
    let (frame, linger) = match closing {
        Closing::TooSlow(reason) => {
            tracing::warn!(user, "dropped: {reason}");
            let frame = CloseFrame {
                code: COULD_NOT_KEEP_UP,
                reason: reason.into(),
            };
            (frame, false)
        }
        Closing::Refused { code, reason } => {
            let frame = CloseFrame {
                code,
                reason: reason.into(),
            };
            (frame, true)
        }
        Closing::ByClient => {
            // tungstenite queued the answer (the same code) when it read the client's
            // close frame; flushing sends it.
            let _ = timeout(WRITE_DEADLINE, sink.flush()).await;
            return;
        }
        Closing::Gone => return,
    };
    match timeout(WRITE_DEADLINE, sink.send(Message::Close(Some(frame)))).await {
        Ok(_) if linger => tokio::time::sleep(LINGER).await,
        Ok(_) => {}
        Err(_) => tracing::debug!(user, "the close frame was not taken in time"),
    }
}
// ANCHOR_END: goodbye

#[cfg(test)]
mod tests {
    use std::pin::Pin;
    use std::sync::Mutex;
    use std::task::{Context, Poll};

    use super::*;
    use crate::outbox::OutboxLimits;

    /// A socket that records what it was given and how often it was flushed, and can be
    /// told to stop taking bytes, as the socket of a client that does not read does.
    #[derive(Clone, Default)]
    struct FakeSocket {
        log: Arc<Mutex<Log>>,
    }

    #[derive(Default)]
    struct Log {
        sent: Vec<Message>,
        flushes: usize,
        stuck: bool,
    }

    impl FakeSocket {
        fn stuck() -> FakeSocket {
            let socket = FakeSocket::default();
            socket.log.lock().unwrap().stuck = true;
            socket
        }

        fn sent(&self) -> Vec<Message> {
            self.log.lock().unwrap().sent.clone()
        }

        fn flushes(&self) -> usize {
            self.log.lock().unwrap().flushes
        }
    }

    impl Sink<Message> for FakeSocket {
        type Error = axum::Error;

        fn poll_ready(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Result<(), axum::Error>> {
            Poll::Ready(Ok(()))
        }

        fn start_send(self: Pin<&mut Self>, message: Message) -> Result<(), axum::Error> {
            self.log.lock().unwrap().sent.push(message);
            Ok(())
        }

        fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Result<(), axum::Error>> {
            let mut log = self.log.lock().unwrap();
            if log.stuck {
                // Never woken: like a full socket whose client never reads.
                return Poll::Pending;
            }
            log.flushes += 1;
            Poll::Ready(Ok(()))
        }

        fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), axum::Error>> {
            self.poll_flush(cx)
        }
    }

    fn outbox() -> Arc<Outbox> {
        Arc::new(Outbox::new(OutboxLimits {
            frames: 8,
            bytes: 1000,
        }))
    }

    fn text(message: &Message) -> &str {
        match message {
            Message::Text(text) => text.as_str(),
            other => panic!("not a text frame: {other:?}"),
        }
    }

    fn close_code_of(message: &Message) -> u16 {
        match message {
            Message::Close(Some(frame)) => frame.code,
            other => panic!("not a close frame: {other:?}"),
        }
    }

    #[tokio::test]
    async fn frames_waiting_together_are_written_with_one_flush() {
        let (socket, outbox) = (FakeSocket::default(), outbox());
        for text in ["one", "two", "three"] {
            outbox.push(text.into()).unwrap();
        }
        let writer = tokio::spawn(run(socket.clone(), Arc::clone(&outbox), "alice".into()));
        // The writer takes all three at once; closing afterwards ends it.
        while socket.sent().len() < 3 {
            tokio::task::yield_now().await;
        }
        outbox.close(Closing::Gone);
        writer.await.unwrap();
        let sent = socket.sent();
        assert_eq!(
            sent.iter().map(text).collect::<Vec<_>>(),
            ["one", "two", "three"]
        );
        assert_eq!(socket.flushes(), 1);
    }

    #[tokio::test]
    async fn a_dropped_member_gets_1013_instead_of_what_was_waiting() {
        let (socket, outbox) = (FakeSocket::default(), outbox());
        outbox.push("never written".into()).unwrap();
        outbox.close(Closing::TooSlow("could not keep up".into()));
        run(socket.clone(), outbox, "bob".into()).await;
        let sent = socket.sent();
        assert_eq!(sent.len(), 1, "{sent:?}");
        assert_eq!(close_code_of(&sent[0]), 1013);
    }

    #[tokio::test(start_paused = true)]
    async fn a_client_that_broke_a_rule_gets_its_code_and_a_moment_to_read_it() {
        let (socket, outbox) = (FakeSocket::default(), outbox());
        outbox.close(Closing::Refused {
            code: 1009,
            reason: "message too big".into(),
        });
        let started = tokio::time::Instant::now();
        run(socket.clone(), outbox, "eve".into()).await;
        assert_eq!(started.elapsed(), LINGER);
        assert_eq!(close_code_of(&socket.sent()[0]), 1009);
    }

    #[tokio::test(start_paused = true)]
    async fn a_socket_that_takes_nothing_is_given_up_after_the_deadline() {
        let (socket, outbox) = (FakeSocket::stuck(), outbox());
        outbox.push("hello".into()).unwrap();
        let started = tokio::time::Instant::now();
        // Paused time jumps ahead whenever every task is waiting, so this takes no real
        // time: one deadline for the batch, one more for the close frame.
        run(socket.clone(), Arc::clone(&outbox), "carol".into()).await;
        assert_eq!(started.elapsed(), 2 * WRITE_DEADLINE);
        let Some(Closing::TooSlow(reason)) = outbox.closing() else {
            panic!("closed as {:?}", outbox.closing());
        };
        assert!(reason.contains("took longer"), "{reason}");
        let sent = socket.sent();
        assert_eq!(text(&sent[0]), "hello");
        assert_eq!(close_code_of(&sent[1]), 1013);
    }

    #[tokio::test(start_paused = true)]
    async fn a_drop_during_a_stuck_write_ends_the_writer_without_waiting_for_the_deadline() {
        let (socket, outbox) = (FakeSocket::stuck(), outbox());
        outbox.push("hello".into()).unwrap();
        let writer = tokio::spawn(run(socket.clone(), Arc::clone(&outbox), "dave".into()));
        while socket.sent().is_empty() {
            tokio::task::yield_now().await;
        }
        let started = tokio::time::Instant::now();
        outbox.close(Closing::TooSlow("could not keep up".into()));
        writer.await.unwrap();
        // Only the close frame's own deadline was spent, not the batch's.
        assert_eq!(started.elapsed(), WRITE_DEADLINE);
    }
}
