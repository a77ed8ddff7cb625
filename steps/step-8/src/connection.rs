//! One WebSocket connection, from the upgrade to the end: a writer task that empties the
//! outbox into the socket, and this task, the reader, which handles what the client
//! sends, but only while the client keeps up with what it is sent, and keeps the
//! heartbeat: a client that goes quiet is pinged, and one that stops answering is
//! reaped.

use std::pin::Pin;
use std::sync::Arc;

use axum::extract::ws::{Message, WebSocket, close_code};
use futures_util::StreamExt;
use futures_util::stream::SplitStream;
use tokio::task::JoinHandle;
use tokio::time::{Instant, Sleep, sleep, sleep_until};
use tokio_tungstenite::tungstenite;
use tokio_tungstenite::tungstenite::error::{CapacityError, ProtocolError as WsProtocolError};

use crate::config::CLOSE_ANSWER;
use crate::heartbeat::{Action, Heartbeat, HeartbeatTimes};
use crate::hub::Member;
use crate::outbox::{Closing, Outbox};
use crate::protocol::{ClientFrame, ProtocolError, ServerFrame, parse_client_frame};
use crate::registry::Refused;
use crate::writer;

/// Whether the connection goes on after handling one event.
enum Flow {
    Continue,
    Stop,
}

/// What the reader waits for.
enum Event {
    /// What the client sent: a frame, an error, or the end of the stream.
    FromClient(Option<Result<Message, axum::Error>>),
    /// The heartbeat's deadline came, and this is what it says to do.
    Heartbeat(Action),
}

// ANCHOR: handle
/// Serves one upgraded connection for `member` until either side ends it. The member
/// joined its room before the upgrade was answered (see `web::upgrade`), so its
/// `welcome` is already the first frame in its outbox.
pub async fn handle(socket: WebSocket, mut member: Member, times: HeartbeatTimes) {
    let outbox = Arc::clone(member.outbox());
    let (sink, mut stream) = socket.split();
    let writer = tokio::spawn(writer::run(
        sink,
        Arc::clone(&outbox),
        member.user().to_string(),
    ));
    // Whatever ends this task, a panic included, the writer is told to stop.
    let close_on_exit = CloseOnDrop(Arc::clone(&outbox));
    let mut heartbeat = Heartbeat::new(times, Instant::now());
    // One timer for the life of the connection, moved as the heartbeat says.
    let timer = sleep_until(heartbeat.deadline());
    tokio::pin!(timer);
    let mut turns = Turns::default();

    loop {
        // Both futures are cancel-safe: whichever loses the race is dropped and created
        // again on the next turn, and neither loses anything by being dropped (the
        // position lives in `stream`, the frames in `outbox`, the time in `heartbeat`
        // and `timer`).
        let flow = tokio::select! {
            // A closed outbox is checked first: once it is closed, nothing more is
            // read from the client.
            biased;
            // The member was dropped as too slow, the writer failed, or the reader
            // itself closed the outbox (below): the connection is over.
            _ = outbox.closed() => Flow::Stop,
            event = next_event(&outbox, &mut stream, &mut heartbeat, timer.as_mut(), &mut turns)
                => match event {
                    Event::FromClient(incoming) => from_client(&mut member, incoming),
                    Event::Heartbeat(action) => on_heartbeat(&member, action, times),
                },
        };
        if let Flow::Stop = flow {
            break;
        }
    }
    // The order matters: the outbox closes (if nobody closed it yet), the member leaves
    // at once, so the others hear `left` now, and only then does this task wait for the
    // writer to say goodbye to the client, which may take up to its deadline.
    drop(close_on_exit);
    drop(member);
    if outbox.closing() == Some(Closing::ShuttingDown) {
        finish_shutdown(&mut stream, writer).await;
    } else {
        let _ = writer.await;
    }
}
// ANCHOR_END: handle

// ANCHOR: finish_shutdown
/// The end of a connection at a shutdown. The writer is still sending what was queued,
/// then 1001; meanwhile the reader goes on reading, and throws away what it reads,
/// until the client answers with a close frame of its own.
///
/// Reading on is what makes the queued frames arrive. The client may have been sending
/// when its outbox was sealed, and a socket closed with unread bytes in it is reset by
/// the operating system; the reset can overtake the frames still on their way, and the
/// client's system then throws them away unread. Waiting for the client's close frame
/// is also simply the closing handshake of RFC 6455: whoever sends the first close frame
/// waits for the answer before closing the TCP connection.
///
/// How long to wait for that answer is the question. The client answers only after it
/// has read everything queued ahead of the 1001, which on a slow link or a busy machine
/// takes far longer than a round trip. But while it has not read the 1001 it may still
/// be talking, and once it has read it, it must stop (RFC 6455 allows only the answer).
/// So a client that is still sending is waited for, up to `--shutdown-grace`; one that
/// has been quiet for [`CLOSE_ANSWER`] after the 1001 was written is let go. By then
/// everything it sent has been read, so closing the socket sends a polite FIN, not a
/// reset, and whatever it has not read yet still reaches it.
async fn finish_shutdown(stream: &mut SplitStream<WebSocket>, mut writer: JoinHandle<()>) {
    let mut writing = true;
    loop {
        // Created anew on every turn: a frame from the client starts the wait again.
        let quiet = async {
            if writing {
                std::future::pending::<()>().await;
            }
            sleep(CLOSE_ANSWER).await;
        };
        tokio::select! {
            _ = &mut writer, if writing => writing = false,
            frame = stream.next() => match frame {
                // The answer, or the end of the connection.
                Some(Ok(Message::Close(_)) | Err(_)) | None => break,
                // Not taken: the room is sealed, and the client learns that its last
                // words were not accepted from having no echo of them.
                Some(Ok(_)) => {}
            },
            () = quiet => break,
        }
    }
    if writing {
        // The client closed first (or vanished): the writer's deadlines bound the rest.
        let _ = writer.await;
    }
}
// ANCHOR_END: finish_shutdown

/// The next frame from the client, or the heartbeat's next deadline, whichever comes
/// first; read only once the client's own outbox is less than half full.
///
/// Step 6's overload policy on the reading side: a client that talks must also keep up
/// with listening. While its outbox is half full, nothing more is read from it, its
/// frames wait in TCP's buffers, and once those are full its own sends slow down.
///
/// That pause is the server's doing, not the client's, and the heartbeat must not hold
/// it against the client: its answer to a ping may be waiting, unread, behind what it
/// said meanwhile. So the heartbeat is not consulted during a pause, and afterwards
/// ([`Heartbeat::on_resume`]) an unanswered ping gets a whole `pong_timeout` again. A
/// pause cannot hide a dead client for long: the outbox only stays half full while the
/// writer is stuck on a batch, and `WRITE_DEADLINE` drops a client whose socket takes
/// nothing for that long.
async fn next_event(
    outbox: &Outbox,
    stream: &mut SplitStream<WebSocket>,
    heartbeat: &mut Heartbeat,
    mut timer: Pin<&mut Sleep>,
    turns: &mut Turns,
) -> Event {
    turns.take_one().await;
    if !outbox.has_room() {
        outbox.wait_for_room().await;
        heartbeat.on_resume(Instant::now());
    }
    tokio::select! {
        incoming = stream.next() => {
            // Any frame at all, a pong, a chat message, a close, proves the client is
            // there. The timer is not moved for it: a busy client would move it for
            // every frame. It goes off at the old deadline, the heartbeat answers
            // `Nothing`, and it is set again then. Only a deadline that came *closer*
            // moves it now (the next ping, when it is due before the end of a long
            // pong timeout).
            heartbeat.on_frame(Instant::now());
            if heartbeat.deadline() < timer.deadline() {
                timer.as_mut().reset(heartbeat.deadline());
            }
            Event::FromClient(incoming)
        }
        () = timer.as_mut() => {
            let action = heartbeat.on_tick(Instant::now());
            timer.as_mut().reset(heartbeat.deadline());
            Event::Heartbeat(action)
        }
    }
}

/// Does what the heartbeat said. The ping goes through the outbox, because only the
/// writer may touch the socket; it is sent ahead of any frames waiting there. A reaped
/// client's outbox closes, the loop in `handle` stops, and the member leaves its room
/// at once: the others hear `left` without waiting for the close frame to be written.
fn on_heartbeat(member: &Member, action: Action, times: HeartbeatTimes) -> Flow {
    match action {
        Action::Nothing => Flow::Continue,
        Action::SendPing => {
            member.outbox().request_ping();
            Flow::Continue
        }
        Action::Reap => {
            let reason = format!("no answer to a ping within {:?}", times.pong_timeout);
            member.outbox().close(Closing::Unresponsive(reason));
            Flow::Stop
        }
    }
}

/// How many frames a reader handles in a row before it lets the other tasks run.
const FRAMES_PER_TURN: u32 = 8;

/// Makes a reader take turns with the writers of its room. Every frame it publishes
/// wakes the writer of every member; after [`FRAMES_PER_TURN`] frames the reader
/// yields, and those writers run before it reads again.
///
/// Why turns at all: a reader whose own writer happened to run first could otherwise
/// read and publish a whole burst while the other writers were still waiting for the
/// same core, and their outboxes, not their clients, would overflow. That dropped 96
/// of 100 clients in loadgen's S2b. With turns, one turn of every talker adds at most
/// `FRAMES_PER_TURN` frames per talker to an outbox before its writer runs.
///
/// Why eight frames and not one: a writer's turn ends in one write to its socket, and
/// that system call costs about the same for one frame as for eight. Yielding after
/// every frame kept the batches small; see the performance chapter for what it cost.
#[derive(Default)]
struct Turns {
    frames: u32,
}

impl Turns {
    /// Counts the frame about to be read, yielding first if this turn is used up.
    /// Cancel-safe: a read that never happens only ends the turn one frame early.
    async fn take_one(&mut self) {
        if self.frames == FRAMES_PER_TURN {
            self.frames = 0;
            tokio::task::yield_now().await;
        }
        self.frames += 1;
    }
}

/// Closes the outbox when dropped (a no-op if it is closed already).
struct CloseOnDrop(Arc<Outbox>);

impl Drop for CloseOnDrop {
    fn drop(&mut self) {
        self.0.close(Closing::Gone);
    }
}

/// Handles what the client sent: a frame, an error, or the end of the stream. Nothing
/// here writes to the socket: answers go into the outbox, behind the frames already
/// waiting, and the writer sends them.
fn from_client(member: &mut Member, incoming: Option<Result<Message, axum::Error>>) -> Flow {
    let message = match incoming {
        Some(Ok(message)) => message,
        Some(Err(error)) => {
            // The stream ends after any error. If the client broke a rule of WebSocket
            // itself, it is told which one before the connection goes.
            if let Some((code, reason)) = close_for(&error) {
                tracing::warn!(user = member.user(), "closing with {code}: {error}");
                member.outbox().close(Closing::Refused { code, reason });
            } else {
                tracing::debug!(user = member.user(), "connection failed: {error}");
            }
            return Flow::Stop;
        }
        None => return Flow::Stop,
    };

    let refused = match message {
        Message::Text(raw) => match parse_client_frame(&raw).and_then(|frame| apply(member, frame))
        {
            Ok(()) => return Flow::Continue,
            Err(refused) => refused,
        },
        Message::Binary(_) => ProtocolError::BadJson(
            "binary frames are not part of the protocol; send JSON in a text frame".into(),
        ),
        // tungstenite queues the pong itself; it goes out with the next read or write.
        // A pong is the answer to our ping; `next_event` has already told the
        // heartbeat.
        Message::Ping(_) | Message::Pong(_) => return Flow::Continue,
        Message::Close(_) => {
            // tungstenite has queued the answering close frame (same code); the writer
            // flushes it, and then the server closes the TCP connection, as RFC 6455
            // asks.
            member.outbox().close(Closing::ByClient);
            return Flow::Stop;
        }
    };

    let message = refused.to_string();
    let error = ServerFrame::Error {
        code: refused.code(),
        message: &message,
    };
    // A full outbox closes itself here as it would for a room's frame; the loop in
    // `handle` then sees it closed.
    let _ = member.outbox().push(error.to_json().into());
    Flow::Continue
}

/// Does what a parsed frame asks. A `join` can still be refused here: whether a name is
/// free in a room is only known when the hub tries to join it.
fn apply(member: &mut Member, frame: ClientFrame) -> Result<(), ProtocolError> {
    match frame {
        ClientFrame::Message { text } => {
            member.say(&text);
            Ok(())
        }
        ClientFrame::Join { room } => match member.switch_to(&room) {
            Ok(()) => Ok(()),
            Err(Refused::NameTaken) => Err(ProtocolError::NameTaken {
                user: member.user().to_string(),
                room,
            }),
            // The server is shutting down. This connection's outbox is sealed, so no
            // answer could reach the client; its 1001 is on the way.
            Err(Refused::Closed) => Ok(()),
        },
        ClientFrame::Ping => {
            // Behind whatever is already waiting for this client, like any answer: the
            // pong tells the page that the server is there and that it has read
            // everything sent before it. A full outbox closes itself, as for any frame.
            let _ = member.outbox().push(ServerFrame::Pong.to_json().into());
            Ok(())
        }
    }
}

/// The close frame owed to a client whose frame tungstenite refused, if any: 1009 for a
/// message over `--max-message-bytes`, 1007 for a text frame that is not UTF-8, 1002 for
/// any other broken rule of RFC 6455. tungstenite reports these and stops reading, but
/// leaves telling the client to us; axum wraps its error, so we look inside for
/// tungstenite's own type. `None` means the network failed: nobody is left to tell.
fn close_for(error: &axum::Error) -> Option<(u16, String)> {
    let inner = std::error::Error::source(error)?.downcast_ref::<tungstenite::Error>()?;
    match inner {
        tungstenite::Error::Capacity(CapacityError::MessageTooLong { size, max_size }) => Some((
            close_code::SIZE,
            format!("message too big: {size} bytes, the limit is {max_size}"),
        )),
        tungstenite::Error::Capacity(too_big) => {
            Some((close_code::SIZE, format!("message too big: {too_big}")))
        }
        tungstenite::Error::Utf8(_) => {
            Some((close_code::INVALID, "text frame is not valid UTF-8".into()))
        }
        // The client went away without a close frame: nobody to tell.
        tungstenite::Error::Protocol(WsProtocolError::ResetWithoutClosingHandshake) => None,
        tungstenite::Error::Protocol(broken) => {
            Some((close_code::PROTOCOL, format!("protocol error: {broken}")))
        }
        _ => None,
    }
}
