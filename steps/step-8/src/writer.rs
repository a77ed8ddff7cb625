//! The writer task: the one place that writes to a client's socket. It empties the
//! connection's outbox in batches, writes each batch (behind a ping, when one is due)
//! with one flush under a deadline, and ends the connection the way the outbox's
//! [`Closing`] says.

use std::sync::Arc;

use axum::extract::ws::{CloseFrame, Message, Utf8Bytes, close_code};
use futures_util::{Sink, SinkExt};
use tokio::time::timeout;

use crate::config::{LINGER, UNANSWERED_CLOSE_DEADLINE, WRITE_DEADLINE};
use crate::outbox::{Closing, Outbox};
use crate::shutdown::{GOING_AWAY, GOING_AWAY_REASON};

/// Close code 1013 ("try again later"): PROTOCOL.md uses it for a member that could not
/// keep up with its room. axum names the codes it knows; this one it calls `AGAIN`.
pub const COULD_NOT_KEEP_UP: u16 = close_code::AGAIN;

/// Close code 1001 ("going away") for a client that did not answer a ping. PROTOCOL.md
/// has no code of its own for it, and 1001 is what a client would expect: the other end
/// is gone from the conversation, and trying again is the right answer (the page does).
/// The reason says which: `no answer to a ping within 10s`, where step 8's shutdown
/// says `server shutting down`.
pub const UNRESPONSIVE: u16 = close_code::AWAY;

// ANCHOR: run
/// Writes what arrives in `outbox` to `sink` (the sending half of `user`'s socket)
/// until the outbox closes or the socket fails.
pub async fn run<S>(mut sink: S, outbox: Arc<Outbox>, user: String)
where
    S: Sink<Message, Error = axum::Error> + Unpin,
{
    let mut batch = Vec::new();
    let closing = loop {
        let ping = match outbox.next_batch(&mut batch).await {
            Ok(ping) => ping,
            Err(closing) => break closing,
        };
        tokio::select! {
            written = timeout(WRITE_DEADLINE, write_batch(&mut sink, ping, &mut batch)) => {
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
            // dropped, stopped answering, or broke a rule): the rest of the batch is
            // dropped. A shutdown does not count: the batch is owed to the client.
            () = outbox.cut_short() => {}
        }
        batch.clear();
        // Whoever closed it first decides how the connection ends.
        break outbox.closing().unwrap_or(Closing::Gone);
    };
    say_goodbye(&mut sink, closing, &user).await;
}

/// Hands a ping, if `ping`, and then every frame of `batch` to the socket, and flushes
/// once: one system call for the lot when the socket takes it, instead of one per frame.
///
/// The ping goes first so that its answer is not held up behind the batch: the client
/// reads it, and tungstenite on its side answers, before the frames that follow.
async fn write_batch<S>(
    sink: &mut S,
    ping: bool,
    batch: &mut Vec<Utf8Bytes>,
) -> Result<(), axum::Error>
where
    S: Sink<Message, Error = axum::Error> + Unpin,
{
    if ping {
        // The payload is not needed: any frame at all answers a ping.
        sink.feed(Message::Ping(Default::default())).await?;
    }
    for frame in batch.drain(..) {
        // `feed` queues the frame in tungstenite's write buffer without flushing; it
        // writes to the socket by itself only when that buffer is full.
        sink.feed(Message::Text(frame)).await?;
    }
    sink.flush().await
}
// ANCHOR_END: run

// ANCHOR: goodbye
/// Ends the connection as `closing` says: a close frame for a client that is dropped,
/// stopped answering or broke a rule, and for everyone at a shutdown; the answer to the
/// client's own close; or nothing when the connection is already gone. The close frame gets one more
/// [`WRITE_DEADLINE`] (only [`UNANSWERED_CLOSE_DEADLINE`] for a client presumed gone);
/// if the client does not take it by then, the socket is dropped without it. After a
/// rule was broken, the socket stays open for [`LINGER`] more.
async fn say_goodbye<S>(sink: &mut S, closing: Closing, user: &str)
where
    S: Sink<Message, Error = axum::Error> + Unpin,
{
    let (frame, deadline, linger) = match closing {
        Closing::TooSlow(reason) => {
            tracing::warn!(user, "dropped: {reason}");
            let frame = CloseFrame {
                code: COULD_NOT_KEEP_UP,
                reason: reason.into(),
            };
            (frame, WRITE_DEADLINE, false)
        }
        Closing::Unresponsive(reason) => {
            tracing::warn!(user, "reaped: {reason}");
            let frame = CloseFrame {
                code: UNRESPONSIVE,
                reason: reason.into(),
            };
            (frame, UNANSWERED_CLOSE_DEADLINE, false)
        }
        Closing::Refused { code, reason } => {
            let frame = CloseFrame {
                code,
                reason: reason.into(),
            };
            (frame, WRITE_DEADLINE, true)
        }
        Closing::ShuttingDown => {
            let frame = CloseFrame {
                code: GOING_AWAY,
                reason: GOING_AWAY_REASON.into(),
            };
            (frame, WRITE_DEADLINE, false)
        }
        Closing::ByClient => {
            // tungstenite queued the answer (the same code) when it read the client's
            // close frame; flushing sends it.
            let _ = timeout(WRITE_DEADLINE, sink.flush()).await;
            return;
        }
        Closing::Gone => return,
    };
    match timeout(deadline, sink.send(Message::Close(Some(frame)))).await {
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
    async fn a_ping_goes_out_ahead_of_the_batch_in_the_same_flush() {
        let (socket, outbox) = (FakeSocket::default(), outbox());
        outbox.push("hello".into()).unwrap();
        outbox.request_ping();
        let writer = tokio::spawn(run(socket.clone(), Arc::clone(&outbox), "alice".into()));
        while socket.sent().len() < 2 {
            tokio::task::yield_now().await;
        }
        outbox.close(Closing::Gone);
        writer.await.unwrap();
        let sent = socket.sent();
        assert!(matches!(sent[0], Message::Ping(_)), "{sent:?}");
        assert_eq!(text(&sent[1]), "hello");
        assert_eq!(socket.flushes(), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn an_unresponsive_client_gets_1001_or_nothing_after_a_short_deadline() {
        let reason = "no answer to a ping within 10s";
        let (socket, frank) = (FakeSocket::default(), outbox());
        frank.close(Closing::Unresponsive(reason.into()));
        run(socket.clone(), frank, "frank".into()).await;
        let sent = socket.sent();
        assert_eq!(close_code_of(&sent[0]), 1001);

        // A socket that takes nothing more: given up after the short deadline, not
        // after a whole write deadline, and without a linger.
        let (socket, grace) = (FakeSocket::stuck(), outbox());
        grace.close(Closing::Unresponsive(reason.into()));
        let started = tokio::time::Instant::now();
        run(socket.clone(), grace, "grace".into()).await;
        assert_eq!(started.elapsed(), UNANSWERED_CLOSE_DEADLINE);
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

    #[tokio::test]
    async fn a_shutdown_gets_what_was_waiting_then_1001() {
        let (socket, outbox) = (FakeSocket::default(), outbox());
        outbox.push("one".into()).unwrap();
        outbox.push("two".into()).unwrap();
        outbox.close(Closing::ShuttingDown);
        run(socket.clone(), outbox, "alice".into()).await;
        let sent = socket.sent();
        assert_eq!(sent.len(), 3, "{sent:?}");
        assert_eq!((text(&sent[0]), text(&sent[1])), ("one", "two"));
        let Message::Close(Some(frame)) = &sent[2] else {
            panic!("not a close frame: {:?}", sent[2]);
        };
        assert_eq!(
            (frame.code, frame.reason.as_str()),
            (1001, "server shutting down")
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_shutdown_during_a_stuck_write_does_not_abandon_the_batch() {
        let (socket, outbox) = (FakeSocket::stuck(), outbox());
        outbox.push("hello".into()).unwrap();
        let writer = tokio::spawn(run(socket.clone(), Arc::clone(&outbox), "erin".into()));
        while socket.sent().is_empty() {
            tokio::task::yield_now().await;
        }
        let started = tokio::time::Instant::now();
        outbox.close(Closing::ShuttingDown);
        writer.await.unwrap();
        // The batch kept its deadline, and the close frame had one of its own: a
        // shutdown does not cut a write short (the grace period bounds the whole).
        assert_eq!(started.elapsed(), 2 * WRITE_DEADLINE);
        assert_eq!(close_code_of(&socket.sent()[1]), 1001);
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
