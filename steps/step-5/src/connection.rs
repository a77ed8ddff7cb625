//! One WebSocket connection, from the upgrade to the end: forward `welcome`, then wait
//! for whichever comes first, a frame from the client or a frame from the room.

use std::time::Duration;

use axum::extract::ws::{CloseFrame, Message, Utf8Bytes, WebSocket, close_code};
use futures_util::SinkExt;
use tokio::sync::broadcast::error::RecvError;
use tokio_tungstenite::tungstenite;
use tokio_tungstenite::tungstenite::error::ProtocolError as WsProtocolError;

use crate::hub::Member;
use crate::protocol::{ClientFrame, ProtocolError, ServerFrame, parse_client_frame};
use crate::registry::NameTaken;
use crate::web::MAX_MESSAGE_BYTES;

/// Close code 1013 ("try again later"): PROTOCOL.md uses it for a member that could not
/// keep up with its room. axum names the codes it knows; this one it calls `AGAIN`.
const COULD_NOT_KEEP_UP: u16 = close_code::AGAIN;

/// How long a connection closed for breaking a rule stays open after its close frame:
/// see [`linger`].
const LINGER: Duration = Duration::from_secs(1);

/// Whether the connection goes on after handling one event.
enum Flow {
    Continue,
    Stop,
    /// Stop, but keep the socket open for [`LINGER`] first: the client broke a rule and
    /// was sent a close frame that it may not have read yet.
    Linger,
}

// ANCHOR: handle
/// Serves one upgraded connection for `member` until either side ends it. The member
/// joined its room before the upgrade was answered (see `web::upgrade`).
pub async fn handle(mut socket: WebSocket, mut member: Member) {
    // Joining put this member's `welcome` first in its receiver. Forwarding it before
    // reading anything from the client keeps it the first frame on the connection: an
    // `error` answering an early client frame cannot overtake it.
    let welcome = member.recv().await;
    if let Flow::Stop = to_client(&mut socket, welcome).await {
        return;
    }

    let ending = loop {
        // Both futures are cancel-safe: whichever loses the race is dropped and created
        // again on the next turn, and neither loses a frame by being dropped (the
        // positions live in `socket` and `member`, not in the futures).
        let flow = tokio::select! {
            incoming = socket.recv() => from_client(&mut socket, &mut member, incoming).await,
            outgoing = member.recv() => to_client(&mut socket, outgoing).await,
        };
        if !matches!(flow, Flow::Continue) {
            break flow;
        }
    };
    // Dropping `member` tells the others `left`: now, even if the socket lingers.
    drop(member);
    if let Flow::Linger = ending {
        linger(socket).await;
    }
}
// ANCHOR_END: handle

/// Handles what the client sent: a frame, an error, or the end of the stream.
async fn from_client(
    socket: &mut WebSocket,
    member: &mut Member,
    incoming: Option<Result<Message, axum::Error>>,
) -> Flow {
    let message = match incoming {
        Some(Ok(message)) => message,
        Some(Err(error)) => {
            // The stream ends after any error. If the client broke a rule of WebSocket
            // itself, it is told which one before the connection goes.
            if let Some((code, reason)) = close_for(&error) {
                tracing::warn!(user = member.user(), "closing with {code}: {error}");
                close(socket, code, reason).await;
                return Flow::Linger;
            }
            tracing::debug!(user = member.user(), "connection failed: {error}");
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
            // tungstenite has queued the answering close frame (same code); flushing
            // sends it, and then the server closes the TCP connection, as RFC 6455 asks.
            let _ = socket.flush().await;
            return Flow::Stop;
        }
    };

    let message = refused.to_string();
    let error = ServerFrame::Error {
        code: refused.code(),
        message: &message,
    };
    match socket.send(Message::Text(error.to_json().into())).await {
        Ok(()) => Flow::Continue,
        Err(_) => Flow::Stop,
    }
}

// ANCHOR: apply
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
// ANCHOR_END: apply

/// Forwards a frame from the room, or ends the connection if the room gave up on it.
async fn to_client(socket: &mut WebSocket, outgoing: Result<Utf8Bytes, RecvError>) -> Flow {
    match outgoing {
        Ok(json) => match socket.send(Message::Text(json)).await {
            Ok(()) => Flow::Continue,
            Err(_) => Flow::Stop,
        },
        // The channel overwrote frames this member had not read yet. Carrying on would
        // show a conversation with a hole in it, and there is no frame in the protocol
        // that says "you missed some", so the client is told why and disconnected; a
        // client that reconnects starts whole again.
        Err(RecvError::Lagged(missed)) => {
            tracing::warn!("a member fell {missed} frames behind and was disconnected");
            let reason = format!("could not keep up: {missed} frames missed");
            close(socket, COULD_NOT_KEEP_UP, reason).await;
            Flow::Stop
        }
        // The room keeps its sender for as long as the server runs, so this means the
        // server is going away.
        Err(RecvError::Closed) => Flow::Stop,
    }
}

/// Sends a close frame with `code` and `reason`. Errors are ignored: the connection is
/// ending either way.
async fn close(socket: &mut WebSocket, code: u16, reason: String) {
    let frame = CloseFrame {
        code,
        reason: reason.into(),
    };
    let _ = socket.send(Message::Close(Some(frame))).await;
}

/// Holds the connection of a client that broke a rule open for [`LINGER`] after its close
/// frame, then drops it.
///
/// The client may still be sending the rest of what broke the rule (most of a message too
/// big, say), and tungstenite stopped reading at the frame's header. Closing a socket
/// with unread bytes in it makes the operating system reset the connection, and a client
/// whose write fails with that reset may give up before it reads our close frame: it
/// reports 1006 (gone without a close frame) instead of the code we sent. Waiting gives
/// its write time to land in the socket buffers and our close frame time to be read.
/// Better would be to read and throw away what it still sends, as step 3 does, but axum
/// gives us no way to read past the frame tungstenite refused.
async fn linger(socket: WebSocket) {
    tokio::time::sleep(LINGER).await;
    drop(socket);
}

/// The close frame owed to a client whose frame tungstenite refused, if any: 1009 for a
/// message over [`MAX_MESSAGE_BYTES`], 1007 for a text frame that is not UTF-8, 1002 for
/// any other broken rule of RFC 6455. tungstenite reports these and stops reading, but
/// leaves telling the client to us; axum wraps its error, so we look inside for
/// tungstenite's own type. `None` means the network failed: nobody is left to tell.
fn close_for(error: &axum::Error) -> Option<(u16, String)> {
    let inner = std::error::Error::source(error)?.downcast_ref::<tungstenite::Error>()?;
    match inner {
        tungstenite::Error::Capacity(_) => Some((
            close_code::SIZE,
            format!("message too big: the limit is {MAX_MESSAGE_BYTES} bytes"),
        )),
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
