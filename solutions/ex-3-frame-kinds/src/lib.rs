//! Exercise 3: what each kind of frame means.
//!
//! A small WebSocket chat in the shape of step 3. The handshake, the room and the
//! connection loop are written; the loop asks [`on_frame`] what to do with each item it
//! reads from a client, and carries out the [`Action`] it gets back. [`on_frame`] is
//! yours to write.

use futures_util::{SinkExt, StreamExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::broadcast::{self, error::RecvError};
use tokio_tungstenite::tungstenite::handshake::server::{Request, Response};
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::{CloseFrame, WebSocketConfig};
use tokio_tungstenite::tungstenite::{Error as WsError, Message};

/// The largest message a client may send, in bytes.
pub const MAX_MESSAGE_BYTES: usize = 16 * 1024;

/// The reply to a binary frame.
pub const BINARY_REFUSED: &str = "* binary frames are not supported; send text";

/// What the connection loop does with one item read from the client.
#[derive(Debug)]
pub enum Action {
    /// Publish this line to the room: every other member gets it, the sender does not.
    Relay(String),
    /// Send this frame to this client only, and keep reading.
    Reply(Message),
    /// Nothing to do; keep reading.
    Ignore,
    /// Flush what tungstenite has queued (its answer to a close frame), then end the
    /// connection.
    FlushAndEnd,
    /// Send this close frame, then end the connection.
    Close(CloseFrame),
    /// End the connection now.
    End,
}

/// Decides what the server does with `item`, the result of one `next()` on the client's
/// half of the socket, for the client called `name`:
///
/// - a text frame: relay `name: text`, the text trimmed; ignore it if it is blank;
/// - a binary frame: reply with a text frame holding [`BINARY_REFUSED`];
/// - a ping or a pong: nothing to do, because tungstenite has already queued the pong
///   and sends it on the next read or write (and a pong needs no answer);
/// - a close frame: tungstenite has queued the answer; flush it and end;
/// - the error tungstenite gives for a message over [`MAX_MESSAGE_BYTES`]
///   (`WsError::Capacity`): close with code 1009 (`CloseCode::Size`) and a reason;
/// - any other error, or the end of the stream (`None`): end.
///
/// (`Message::Frame` is never returned by a read; treat it as nothing to do.)
pub fn on_frame(name: &str, item: Option<Result<Message, WsError>>) -> Action {
    match item {
        Some(Ok(Message::Text(text))) => {
            let text = text.trim();
            if text.is_empty() {
                Action::Ignore
            } else {
                Action::Relay(format!("{name}: {text}"))
            }
        }
        Some(Ok(Message::Binary(_))) => Action::Reply(Message::text(BINARY_REFUSED)),
        Some(Ok(Message::Ping(_) | Message::Pong(_) | Message::Frame(_))) => Action::Ignore,
        Some(Ok(Message::Close(_))) => Action::FlushAndEnd,
        Some(Err(WsError::Capacity(_))) => Action::Close(CloseFrame {
            code: CloseCode::Size,
            reason: "message too big".into(),
        }),
        Some(Err(_)) | None => Action::End,
    }
}

/// One line for everyone in the room except its sender.
#[derive(Clone, Debug)]
struct Broadcast {
    from: u64,
    line: String,
}

/// Accepts WebSocket clients on `/ws?user=NAME` forever, all in one room.
pub async fn serve(listener: TcpListener) {
    let (room, _) = broadcast::channel(64);
    let mut next_id = 0;
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        next_id += 1;
        tokio::spawn(handle(stream, next_id, room.clone()));
    }
}

async fn handle(stream: TcpStream, id: u64, room: broadcast::Sender<Broadcast>) {
    let mut name = String::new();
    #[allow(clippy::result_large_err, reason = "tungstenite's type")]
    let read_name = |request: &Request, response: Response| {
        let query = request.uri().query().unwrap_or_default();
        name = query
            .split('&')
            .find_map(|pair| pair.strip_prefix("user="))
            .unwrap_or("anonymous")
            .to_string();
        Ok(response)
    };
    let config = WebSocketConfig::default()
        .max_message_size(Some(MAX_MESSAGE_BYTES))
        .max_frame_size(Some(MAX_MESSAGE_BYTES));
    let Ok(socket) =
        tokio_tungstenite::accept_hdr_async_with_config(stream, read_name, Some(config)).await
    else {
        return;
    };
    let (mut writer, mut reader) = socket.split();

    let mut inbox = room.subscribe();
    let _ = room.send(Broadcast {
        from: id,
        line: format!("* {name} joined"),
    });
    if writer
        .send(Message::text(format!("* welcome, {name}")))
        .await
        .is_err()
    {
        return;
    }

    loop {
        tokio::select! {
            item = reader.next() => match on_frame(&name, item) {
                Action::Relay(line) => {
                    let _ = room.send(Broadcast { from: id, line });
                }
                Action::Reply(message) => {
                    if writer.send(message).await.is_err() {
                        break;
                    }
                }
                Action::Ignore => {}
                Action::FlushAndEnd => {
                    let _ = writer.flush().await;
                    break;
                }
                Action::Close(frame) => {
                    let _ = writer.send(Message::Close(Some(frame))).await;
                    break;
                }
                Action::End => break,
            },
            received = inbox.recv() => match received {
                Ok(Broadcast { from, .. }) if from == id => {}
                Ok(Broadcast { line, .. }) => {
                    if writer.send(Message::text(line)).await.is_err() {
                        break;
                    }
                }
                Err(RecvError::Lagged(missed)) => {
                    let notice = format!("* you missed {missed} message{}", if missed == 1 { "" } else { "s" });
                    if writer.send(Message::text(notice)).await.is_err() {
                        break;
                    }
                }
                Err(RecvError::Closed) => break,
            },
        }
    }
    let _ = room.send(Broadcast {
        from: id,
        line: format!("* {name} left"),
    });
}
