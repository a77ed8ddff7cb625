//! One WebSocket connection, from the upgrade to the end: a writer task that empties the
//! outbox into the socket, and this task, the reader, which handles what the client
//! sends, but only while the client keeps up with what it is sent.

use std::sync::Arc;

use axum::extract::ws::{Message, WebSocket, close_code};
use futures_util::StreamExt;
use futures_util::stream::SplitStream;
use tokio_tungstenite::tungstenite;
use tokio_tungstenite::tungstenite::error::{CapacityError, ProtocolError as WsProtocolError};

use crate::hub::Member;
use crate::outbox::{Closing, Outbox};
use crate::protocol::{ClientFrame, ProtocolError, ServerFrame, parse_client_frame};
use crate::registry::NameTaken;
use crate::writer;

/// Whether the connection goes on after handling one event.
enum Flow {
    Continue,
    Stop,
}

// ANCHOR: handle
/// Serves one upgraded connection for `member` until either side ends it. The member
/// joined its room before the upgrade was answered (see `web::upgrade`), so its
/// `welcome` is already the first frame in its outbox.
pub async fn handle(socket: WebSocket, mut member: Member) {
    let outbox = Arc::clone(member.outbox());
    let (sink, mut stream) = socket.split();
    let writer = tokio::spawn(writer::run(
        sink,
        Arc::clone(&outbox),
        member.user().to_string(),
    ));
    // Whatever ends this task, a panic included, the writer is told to stop.
    let close_on_exit = CloseOnDrop(Arc::clone(&outbox));
    let mut turns = Turns::default();

    loop {
        // Both futures are cancel-safe: whichever loses the race is dropped and created
        // again on the next turn, and neither loses a frame by being dropped (the
        // position lives in `stream`, the frames in `outbox`).
        let flow = tokio::select! {
            // A closed outbox is checked first: once it is closed, nothing more is
            // read from the client.
            biased;
            // The member was dropped as too slow, the writer failed, or the reader
            // itself closed the outbox (below): the connection is over.
            _ = outbox.closed() => Flow::Stop,
            incoming = next_from_client(&outbox, &mut stream, &mut turns) => {
                from_client(&mut member, incoming)
            }
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
    let _ = writer.await;
}
// ANCHOR_END: handle

// ANCHOR: pacing
/// The next frame from the client, read only once the client's own outbox is less than
/// half full.
///
/// This is the whole overload policy on the reading side. A client that talks must also
/// keep up with listening: while its outbox is half full, nothing more is read from it,
/// its frames wait in TCP's buffers, and once those are full its own sends slow down.
/// Under a burst, the talkers are paced by their own sockets and the readers are not
/// dropped. A client that never reads is not paced by anyone else's socket: its own
/// outbox fills, and it alone is dropped.
async fn next_from_client(
    outbox: &Outbox,
    stream: &mut SplitStream<WebSocket>,
    turns: &mut Turns,
) -> Option<Result<Message, axum::Error>> {
    turns.take_one().await;
    outbox.wait_for_room().await;
    stream.next().await
}
// ANCHOR_END: pacing

// ANCHOR: turns
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
// ANCHOR_END: turns

/// Closes the outbox when dropped (a no-op if it is closed already).
struct CloseOnDrop(Arc<Outbox>);

impl Drop for CloseOnDrop {
    fn drop(&mut self) {
        self.0.close(Closing::Gone);
    }
}

// ANCHOR: from_client
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
// ANCHOR_END: from_client

/// Does what a parsed frame asks. A `join` can still be refused here: whether a name is
/// free in a room is only known when the hub tries to join it.
fn apply(member: &mut Member, frame: ClientFrame) -> Result<(), ProtocolError> {
    match frame {
        ClientFrame::Message { text } => {
            member.say(&text);
            Ok(())
        }
        ClientFrame::Join { room } => {
            member
                .switch_to(&room)
                .map_err(|NameTaken| ProtocolError::NameTaken {
                    user: member.user().to_string(),
                    room,
                })
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
