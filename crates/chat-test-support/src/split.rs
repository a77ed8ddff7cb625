//! A WebSocket client split in two halves, for the tests where one task talks while
//! another listens (or does not): a [`crate::WsClient`] can do only one at a time.

use futures_util::StreamExt;
use futures_util::stream::{SplitSink, SplitStream};
use serde_json::Value;
use tokio::net::{TcpSocket, TcpStream};
use tokio_tungstenite::WebSocketStream;

use crate::{Message, ServerProcess, within};

/// A WebSocket connection over a plain TCP socket of our own making.
pub type Socket = WebSocketStream<TcpStream>;

/// A WebSocket client whose halves can be used from two tasks, over a socket with a
/// small receive buffer; its `welcome` is read already.
pub async fn split_client(
    server: &ServerProcess,
    user: &str,
) -> (SplitSink<Socket, Message>, SplitStream<Socket>) {
    let socket = TcpSocket::new_v4().expect("a socket");
    socket.set_recv_buffer_size(16 * 1024).expect("SO_RCVBUF");
    let stream = within("a TCP connection", socket.connect(server.addr()))
        .await
        .expect("connect");
    let url = server.ws_url(&format!("/ws?user={user}"));
    let (socket, _) = within(
        "a WebSocket handshake",
        tokio_tungstenite::client_async(url, stream),
    )
    .await
    .expect("upgrade");
    let (sink, mut stream) = socket.split();
    assert_eq!(next_json(&mut stream).await["type"], "welcome");
    (sink, stream)
}

/// The next text frame of `stream` as JSON, answering pings on the way; fails on
/// anything else, a close included.
pub async fn next_json(stream: &mut SplitStream<Socket>) -> Value {
    within("a frame from the server", async {
        loop {
            match stream.next().await {
                Some(Ok(Message::Text(text))) => return serde_json::from_str(&text).unwrap(),
                Some(Ok(Message::Ping(_) | Message::Pong(_))) => continue,
                other => panic!("expected a text frame, got {other:?}"),
            }
        }
    })
    .await
}
