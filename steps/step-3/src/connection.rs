//! One client, from its handshake to its last frame.

use std::time::Duration;

use futures_util::stream::{SplitSink, SplitStream};
use futures_util::{SinkExt, StreamExt};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::broadcast::{self, error::RecvError};
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::error::ProtocolError;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::{Error as WsError, Message};

use crate::handshake::{self, MAX_MESSAGE_BYTES};
use crate::room::{Broadcast, ConnectionId, Room};
use crate::visible::visible;

/// The half of the socket we read frames from.
type Reader = SplitStream<WebSocketStream<TcpStream>>;
/// The half of the socket we write frames to.
type Writer = SplitSink<WebSocketStream<TcpStream>, Message>;

// ANCHOR: handle
/// Serves one client: checks its request, joins the room, relays frames both ways until
/// the client leaves, then tells the others.
pub async fn handle(stream: TcpStream, id: ConnectionId, room: Room) -> Result<(), WsError> {
    // The name now comes with the request, so there is nothing to ask.
    let (socket, name) = handshake::accept(stream).await?;
    // Two halves, so the reading and the writing side are separate values.
    let (mut writer, mut reader) = socket.split();

    // Subscribe first: every line published after this point reaches us. Announce before
    // welcoming: once the client reads its welcome, the news of its arrival is already in
    // the room, so nobody who joins after that moment hears of it.
    let mut inbox = room.subscribe();
    room.publish(id, format!("* {name} joined"));
    send(&mut writer, &format!("* welcome, {name}")).await?;
    tracing::info!(name, "joined");

    let result = chat(id, &name, &mut reader, &mut writer, &room, &mut inbox).await;

    // Also after an error: the others should not wait for someone who is gone.
    room.publish(id, format!("* {name} left"));
    tracing::info!(name, "left");
    if result.is_err() {
        // The connection failed, or the client broke a rule and was sent a close frame
        // that it may not have read yet: see `drain`.
        if let Ok(socket) = reader.reunite(writer) {
            drain(socket.into_inner()).await;
        }
    }
    result
}
// ANCHOR_END: handle

// ANCHOR: chat
/// The heart of the step: wait for whichever comes first, a frame from this client or a
/// line from the room, handle it, and wait again.
async fn chat(
    id: ConnectionId,
    name: &str,
    reader: &mut Reader,
    writer: &mut Writer,
    room: &Room,
    inbox: &mut broadcast::Receiver<Broadcast>,
) -> Result<(), WsError> {
    loop {
        // Both futures are cancel safe: the one that loses the race is dropped, and
        // nothing it had already read is lost. The handlers run after that, so they may
        // `.await` a write without racing anything.
        tokio::select! {
            frame = reader.next() => match frame {
                Some(Ok(Message::Text(text))) => {
                    let text = text.trim();
                    if !text.is_empty() {
                        room.publish(id, format!("{name}: {}", visible(text)));
                    }
                }
                Some(Ok(Message::Binary(_))) => {
                    send(writer, "* binary frames are not supported; send text").await?;
                }
                // tungstenite has queued the reply to this close frame; flushing sends it.
                Some(Ok(Message::Close(_))) => return writer.flush().await,
                // tungstenite queues the pong for a ping itself and sends it on our next
                // read or write. Pongs answer nothing we asked; raw frames are never read.
                Some(Ok(Message::Ping(_) | Message::Pong(_) | Message::Frame(_))) => {}
                Some(Err(error)) => {
                    // The stream ends after any error. If the client broke a rule of
                    // WebSocket, it is told which one before the connection goes.
                    if let Some(frame) = close_for(&error) {
                        let _ = writer.send(Message::Close(Some(frame))).await;
                    }
                    return Err(error);
                }
                None => return Ok(()), // the connection is gone
            },
            received = inbox.recv() => match received {
                Ok(Broadcast { from, .. }) if from == id => {} // our own line: no echo
                Ok(Broadcast { line, .. }) => send(writer, &line).await?,
                Err(RecvError::Lagged(missed)) => send(writer, &missed_notice(missed)).await?,
                // Only if the room itself is gone; `serve` keeps it for the life of the process.
                Err(RecvError::Closed) => return Ok(()),
            },
        }
    }
}
// ANCHOR_END: chat

// ANCHOR: close_for
/// The close frame owed to a client whose frame tungstenite refused: 1009 for a message
/// over [`MAX_MESSAGE_BYTES`], 1007 for a text frame that is not UTF-8, 1002 for any other
/// broken rule of RFC 6455. tungstenite reports these and stops reading, but leaves
/// telling the client to us. `None` means the network failed: nobody is left to tell.
fn close_for(error: &WsError) -> Option<CloseFrame> {
    let (code, reason) = match error {
        WsError::Capacity(_) => (
            CloseCode::Size,
            format!("message too big (limit {MAX_MESSAGE_BYTES} bytes)"),
        ),
        WsError::Utf8(_) => (CloseCode::Invalid, "text frame is not valid UTF-8".into()),
        // The client went away without a close frame: nobody to tell.
        WsError::Protocol(ProtocolError::ResetWithoutClosingHandshake) => return None,
        WsError::Protocol(broken) => (CloseCode::Protocol, format!("protocol error: {broken}")),
        _ => return None,
    };
    Some(CloseFrame {
        code,
        reason: reason.into(),
    })
}
// ANCHOR_END: close_for

// ANCHOR: drain
/// How long, at most, [`drain`] waits for a client to finish and close.
const DRAIN_TIME: Duration = Duration::from_secs(2);
/// How much, at most, [`drain`] reads: more than any message a client could still be
/// sending honestly, little enough that a client cannot keep a task busy for long.
const DRAIN_BYTES: usize = 1024 * 1024;

/// Reads and throws away what the client still sends after the connection ended, until
/// it closes its side, [`DRAIN_TIME`] passes or [`DRAIN_BYTES`] have come.
///
/// A client that sent a message too big may still be writing the rest of it when our
/// close frame goes out, and tungstenite stopped reading at the frame's header. Closing a
/// socket with unread bytes in it makes the operating system reset the connection: the
/// client's write fails, and a client that gives up on a failed write never reads the
/// close frame that said why. So we end our side first (the client reads the close frame,
/// then the end of the stream), and read until the client has finished writing and closed
/// its side too.
async fn drain(mut stream: TcpStream) {
    let _ = stream.shutdown().await;
    let mut discard = vec![0; 16 * 1024];
    let mut remaining = DRAIN_BYTES;
    let until_closed = async {
        while remaining > 0 {
            match stream.read(&mut discard).await {
                Ok(0) | Err(_) => break, // closed, or reset: nothing more to wait for
                Ok(read) => remaining = remaining.saturating_sub(read),
            }
        }
    };
    let _ = tokio::time::timeout(DRAIN_TIME, until_closed).await;
}
// ANCHOR_END: drain

/// What a member is told when the room dropped lines it had not read yet.
fn missed_notice(missed: u64) -> String {
    let lines = if missed == 1 { "message" } else { "messages" };
    format!("* you missed {missed} {lines}")
}

/// Sends `line` as one text frame.
async fn send(writer: &mut Writer, line: &str) -> Result<(), WsError> {
    writer.send(Message::text(line)).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_missed_notice_counts_in_words() {
        assert_eq!(missed_notice(1), "* you missed 1 message");
        assert_eq!(missed_notice(2), "* you missed 2 messages");
        assert_eq!(missed_notice(1000), "* you missed 1000 messages");
    }
}
