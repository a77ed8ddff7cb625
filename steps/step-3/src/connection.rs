//! One client, from its handshake to its last frame.

use futures_util::stream::{SplitSink, SplitStream};
use futures_util::{SinkExt, StreamExt};
use tokio::net::TcpStream;
use tokio::sync::broadcast::{self, error::RecvError};
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::{Error as WsError, Message};

use crate::handshake::{self, MAX_MESSAGE_BYTES};
use crate::room::{Broadcast, ConnectionId, Room};

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
                        room.publish(id, format!("{name}: {text}"));
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
                Some(Err(WsError::Capacity(_))) => return close_too_big(writer).await,
                Some(Err(error)) => return Err(error),
                None => return Ok(()), // the connection is gone
            },
            received = inbox.recv() => match received {
                Ok(Broadcast { from, .. }) if from == id => {} // our own line: no echo
                Ok(Broadcast { line, .. }) => send(writer, &line).await?,
                Err(RecvError::Lagged(missed)) => {
                    send(writer, &format!("* you missed {missed} messages")).await?;
                }
                // Only if the room itself is gone; `serve` keeps it for the life of the process.
                Err(RecvError::Closed) => return Ok(()),
            },
        }
    }
}
// ANCHOR_END: chat

// ANCHOR: close_too_big
/// Ends a connection whose client sent more than [`MAX_MESSAGE_BYTES`]. tungstenite
/// refuses the message but leaves telling the client to us: close code 1009, "too big".
async fn close_too_big(writer: &mut Writer) -> Result<(), WsError> {
    let reason = format!("message too big (limit {MAX_MESSAGE_BYTES} bytes)");
    let frame = CloseFrame {
        code: CloseCode::Size,
        reason: reason.into(),
    };
    writer.send(Message::Close(Some(frame))).await
}
// ANCHOR_END: close_too_big

/// Sends `line` as one text frame.
async fn send(writer: &mut Writer, line: &str) -> Result<(), WsError> {
    writer.send(Message::text(line)).await
}
