//! WebSocket over a bare [`TcpStream`], for the tests that need a client no library
//! would be: one that never reads, never answers a ping, or breaks a rule of RFC 6455.
//! The handshake is done by hand and frames are read one at a time, so such a client
//! does only what its test tells it to.

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};

use crate::{ServerProcess, within};

/// Completes a WebSocket handshake as `user` in `room` over raw TCP and returns the
/// socket, which from then on does only what the test tells it: the client of a
/// frozen process, or of a laptop whose lid was closed.
pub async fn raw_client(server: &ServerProcess, user: &str, room: &str) -> TcpStream {
    let stream = within("a TCP connection", TcpStream::connect(server.addr()))
        .await
        .expect("connect");
    handshake(stream, server, user, room).await
}

/// Completes a WebSocket handshake as `user` in `room` over a socket with a small
/// receive buffer, and returns it, reading nothing more: the client of a frozen browser
/// tab, or of a phone whose network vanished without TCP noticing yet.
pub async fn never_reading_client(server: &ServerProcess, user: &str, room: &str) -> TcpStream {
    let socket = TcpSocket::new_v4().expect("a socket");
    // Small, so that it is the server, not this process's kernel, that ends up holding
    // what cannot be delivered.
    socket.set_recv_buffer_size(16 * 1024).expect("SO_RCVBUF");
    let stream = within("a TCP connection", socket.connect(server.addr()))
        .await
        .expect("connect");
    handshake(stream, server, user, room).await
}

/// Sends the upgrade request for `/ws?user={user}&room={room}` and waits for the
/// server's `101 Switching Protocols`, reading the answer byte by byte so that not one
/// byte of the first frame after it is taken.
async fn handshake(
    mut stream: TcpStream,
    server: &ServerProcess,
    user: &str,
    room: &str,
) -> TcpStream {
    let request = format!(
        "GET /ws?user={user}&room={room} HTTP/1.1\r\nHost: {}\r\nUpgrade: websocket\r\n\
         Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
         Sec-WebSocket-Version: 13\r\n\r\n",
        server.addr()
    );
    within(
        "the upgrade request to be sent",
        stream.write_all(request.as_bytes()),
    )
    .await
    .expect("request");
    let head = within("the 101 answer", async {
        let mut head = Vec::new();
        while !head.ends_with(b"\r\n\r\n") {
            head.push(stream.read_u8().await.expect("response byte"));
        }
        head
    })
    .await;
    assert!(
        head.starts_with(b"HTTP/1.1 101"),
        "{}",
        String::from_utf8_lossy(&head)
    );
    stream
}

/// Reads one unmasked frame sent by the server: its opcode and payload. `None` once the
/// connection has ended.
///
/// Not bounded by itself, because some tests read a whole backlog in one go: wrap the
/// call, or the loop around it, in [`within`].
pub async fn read_raw_frame(stream: &mut TcpStream) -> Option<(u8, Vec<u8>)> {
    let mut head = [0u8; 2];
    stream.read_exact(&mut head).await.ok()?;
    let len = match head[1] & 0x7f {
        126 => stream.read_u16().await.ok()? as usize,
        127 => stream.read_u64().await.ok()? as usize,
        short => short as usize,
    };
    let mut payload = vec![0; len];
    stream.read_exact(&mut payload).await.ok()?;
    Some((head[0] & 0x0f, payload))
}
