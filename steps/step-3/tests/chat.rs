//! Step 3 from the outside: the real binary and real WebSocket clients.

use chat_test_support::{Message, ServerProcess, Upgrade, WsClient, http_get, within};
use futures_util::{SinkExt, StreamExt};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::protocol::frame::Frame;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::frame::coding::{Data as OpData, OpCode};

const SERVER: &str = env!("CARGO_BIN_EXE_step-3");

/// Connects as `name` and waits for the welcome: once it has arrived, the client is
/// subscribed to the room and will see every later line.
async fn join(server: &ServerProcess, name: &str) -> WsClient {
    let mut client = WsClient::connect(&server.ws_url(&format!("/ws?user={name}"))).await;
    assert_eq!(client.recv_text().await, format!("* welcome, {name}"));
    client
}

/// alice and bob, both in the room, alice having seen bob arrive.
async fn alice_and_bob(server: &ServerProcess) -> (WsClient, WsClient) {
    let mut alice = join(server, "alice").await;
    let bob = join(server, "bob").await;
    assert_eq!(alice.recv_text().await, "* bob joined");
    (alice, bob)
}

#[tokio::test]
async fn two_clients_chat_both_ways() {
    let server = ServerProcess::start(SERVER, &[]).await;
    let (mut alice, mut bob) = alice_and_bob(&server).await;

    alice.send_text("hi bob").await;
    assert_eq!(bob.recv_text().await, "alice: hi bob");
    bob.send_text("hello alice").await;
    assert_eq!(alice.recv_text().await, "bob: hello alice");
}

#[tokio::test]
async fn a_sender_never_gets_its_own_message_back() {
    let server = ServerProcess::start(SERVER, &[]).await;
    let (mut alice, mut bob) = alice_and_bob(&server).await;

    alice.send_text("one").await;
    assert_eq!(bob.recv_text().await, "alice: one");
    // "alice: one" went into the room before bob's reply, and the room keeps order:
    // were alice echoed, her own line would reach her first.
    bob.send_text("two").await;
    assert_eq!(alice.recv_text().await, "bob: two");
}

#[tokio::test]
async fn an_upgrade_without_a_valid_user_is_refused_with_a_json_error() {
    let server = ServerProcess::start(SERVER, &[]).await;
    let refusals = [
        ("/ws", 400, "missing user"),
        ("/ws?room=general", 400, "missing user"),
        ("/ws?user=", 400, "bad user"),
        ("/ws?user=alice%20smith", 400, "bad user"),
        ("/chat?user=alice", 404, "not found"),
    ];
    for (path, expected_status, expected_error) in refusals {
        match WsClient::try_connect(&server.ws_url(path)).await {
            Upgrade::Refused { status, body } => {
                assert_eq!(status, expected_status, "{path}");
                let body: serde_json::Value = serde_json::from_str(&body)
                    .unwrap_or_else(|e| panic!("{path}: body is not JSON ({e}): {body}"));
                let error = body["error"].as_str().expect("an error string");
                assert!(error.starts_with(expected_error), "{path}: {error}");
            }
            Upgrade::Accepted(_) => panic!("{path} was accepted"),
        }
    }
    // The refusals hurt nobody: a good request is still welcome.
    join(&server, "alice").await;
}

#[tokio::test]
async fn a_percent_encoded_name_is_decoded() {
    let server = ServerProcess::start(SERVER, &[]).await;
    let mut alice = join(&server, "alice").await;
    let mut zoe = WsClient::connect(&server.ws_url("/ws?user=Zo%C3%AB")).await;
    assert_eq!(zoe.recv_text().await, "* welcome, Zoë");
    assert_eq!(alice.recv_text().await, "* Zoë joined");
    zoe.send_text("salut").await;
    assert_eq!(alice.recv_text().await, "Zoë: salut");
}

#[tokio::test]
async fn a_close_frame_is_answered_and_the_others_are_told() {
    let server = ServerProcess::start(SERVER, &[]).await;
    let (mut alice, mut bob) = alice_and_bob(&server).await;

    let goodbye = CloseFrame {
        code: CloseCode::Normal,
        reason: "bye".into(),
    };
    alice.send(Message::Close(Some(goodbye))).await;
    let answer = alice
        .recv_close()
        .await
        .expect("the server answers with a close frame");
    assert_eq!(answer.code, CloseCode::Normal);
    assert_eq!(bob.recv_text().await, "* alice left");
}

#[tokio::test]
async fn a_client_that_vanishes_is_noticed_and_the_chat_goes_on() {
    let server = ServerProcess::start(SERVER, &[]).await;
    let (mut alice, mut bob) = alice_and_bob(&server).await;
    let carol = join(&server, "carol").await;
    assert_eq!(alice.recv_text().await, "* carol joined");
    assert_eq!(bob.recv_text().await, "* carol joined");

    drop(carol); // no close frame, just the TCP connection going away
    assert_eq!(alice.recv_text().await, "* carol left");
    assert_eq!(bob.recv_text().await, "* carol left");
    alice.send_text("still here").await;
    assert_eq!(bob.recv_text().await, "alice: still here");
}

#[tokio::test]
async fn a_binary_frame_is_refused_politely_and_the_connection_stays() {
    let server = ServerProcess::start(SERVER, &[]).await;
    let (mut alice, mut bob) = alice_and_bob(&server).await;

    alice
        .send(Message::binary(vec![0xde, 0xad, 0xbe, 0xef]))
        .await;
    assert_eq!(
        alice.recv_text().await,
        "* binary frames are not supported; send text"
    );
    alice.send_text("   ").await; // blank: nothing to relay
    alice.send_text("  text works  ").await;
    // Neither the binary nor the blank frame reached bob.
    assert_eq!(bob.recv_text().await, "alice: text works");
}

#[tokio::test]
async fn a_ping_is_answered_with_a_pong() {
    let server = ServerProcess::start(SERVER, &[]).await;
    // WsClient hides pongs, so this test speaks tungstenite directly.
    let url = server.ws_url("/ws?user=alice");
    let (mut socket, _) = tokio_tungstenite::connect_async(url)
        .await
        .expect("connect");
    socket
        .send(Message::Ping(b"are you there?"[..].into()))
        .await
        .expect("send ping");
    let pong = chat_test_support::within("a pong", async {
        loop {
            match socket.next().await.expect("a frame").expect("no error") {
                Message::Pong(payload) => return payload,
                Message::Text(_) => continue, // the welcome
                other => panic!("unexpected {other:?}"),
            }
        }
    })
    .await;
    assert_eq!(&pong[..], b"are you there?");
}

// ANCHOR: too_big_test
#[tokio::test]
async fn a_message_over_the_limit_closes_that_client_with_1009_only() {
    let server = ServerProcess::start(SERVER, &[]).await;
    let (mut alice, mut bob) = alice_and_bob(&server).await;

    // Exactly at the limit is fine.
    let largest = "x".repeat(16 * 1024);
    alice.send_text(&largest).await;
    assert_eq!(bob.recv_text().await, format!("alice: {largest}"));

    // One byte more closes alice's connection with "message too big".
    alice.send_text(&"x".repeat(16 * 1024 + 1)).await;
    let close = alice.recv_close().await.expect("a close frame");
    assert_eq!(close.code, CloseCode::Size);
    assert_eq!(u16::from(close.code), 1009);
    assert_eq!(bob.recv_text().await, "* alice left");

    // Everyone else carries on.
    let mut carol = join(&server, "carol").await;
    assert_eq!(bob.recv_text().await, "* carol joined");
    carol.send_text("hello?").await;
    assert_eq!(bob.recv_text().await, "carol: hello?");
}
// ANCHOR_END: too_big_test

#[tokio::test]
async fn a_client_still_sending_an_oversized_message_reads_the_1009() {
    let server = ServerProcess::start(SERVER, &[]).await;
    // A small send buffer, so that most of the message below is still on its way, in
    // the client's `write`, when the server refuses it. Were the server to close its
    // socket now, with those bytes unread, the operating system would answer them with a
    // reset: the write would fail, and a client that gives up on a failed write would
    // never read the close frame.
    let tcp = TcpSocket::new_v4().expect("a socket");
    tcp.set_send_buffer_size(4096).expect("SO_SNDBUF");
    let stream = within("a TCP connection", tcp.connect(server.addr()))
        .await
        .expect("connect");
    let url = server.ws_url("/ws?user=alice");
    let (mut socket, _) = within("a handshake", tokio_tungstenite::client_async(url, stream))
        .await
        .expect("upgrade");
    let welcome = within("welcome", socket.next()).await;
    assert!(matches!(welcome, Some(Ok(Message::Text(_)))), "{welcome:?}");

    let sent = within(
        "the oversized message to be written",
        socket.send(Message::text("x".repeat(1_000_000))),
    )
    .await;
    assert!(sent.is_ok(), "the write failed: {sent:?}");
    let close = within("a close frame", async {
        loop {
            match socket.next().await {
                Some(Ok(Message::Close(frame))) => return frame,
                Some(Ok(_)) => continue,
                other => panic!("no close frame, but {other:?}"),
            }
        }
    })
    .await
    .expect("a close code");
    assert_eq!(u16::from(close.code), 1009, "reason: {}", close.reason);
}

#[tokio::test]
async fn control_characters_and_newlines_are_shown_not_obeyed() {
    let server = ServerProcess::start(SERVER, &[]).await;
    let (mut alice, mut bob) = alice_and_bob(&server).await;

    // Printed as it came, the newline would start a line that seems to be carol's.
    alice.send_text("hi\ncarol: I owe alice $100").await;
    assert_eq!(bob.recv_text().await, "alice: hi␊carol: I owe alice $100");
    alice.send_text("hi\rcarol: \x1b[31mred").await;
    assert_eq!(bob.recv_text().await, "alice: hi␍carol: ␛[31mred");
}

#[tokio::test]
async fn a_paste_of_a_thousand_messages_reaches_a_reader_whole() {
    let server = ServerProcess::start(SERVER, &[]).await;
    let (mut alice, mut bob) = alice_and_bob(&server).await;

    // Sent without waiting: the room gets them faster than bob's task passes them on.
    for n in 1..=1000 {
        alice.send_text(&format!("line {n}")).await;
    }
    for n in 1..=1000 {
        assert_eq!(bob.recv_text().await, format!("alice: line {n}"));
    }
}

#[tokio::test]
async fn a_text_frame_that_is_not_utf8_closes_with_1007() {
    let server = ServerProcess::start(SERVER, &[]).await;
    let (mut alice, mut bob) = alice_and_bob(&server).await;
    let not_utf8 = Frame::message(b"caf\xe9".to_vec(), OpCode::Data(OpData::Text), true);
    alice.send(Message::Frame(not_utf8)).await;
    let close = alice.recv_close().await.expect("a close frame");
    assert_eq!(u16::from(close.code), 1007, "reason: {}", close.reason);
    assert_eq!(bob.recv_text().await, "* alice left");
}

/// Reads one unmasked frame sent by the server: its opcode and payload.
async fn read_raw_frame(stream: &mut TcpStream) -> (u8, Vec<u8>) {
    let mut head = [0u8; 2];
    stream.read_exact(&mut head).await.expect("frame header");
    let len = match head[1] & 0x7f {
        126 => stream.read_u16().await.expect("length") as usize,
        127 => panic!("unexpectedly long frame"),
        short => short as usize,
    };
    let mut payload = vec![0; len];
    stream.read_exact(&mut payload).await.expect("payload");
    (head[0] & 0x0f, payload)
}

#[tokio::test]
async fn a_broken_websocket_rule_closes_with_1002() {
    let server = ServerProcess::start(SERVER, &[]).await;
    let mut stream = TcpStream::connect(server.addr()).await.expect("connect");
    let request = format!(
        "GET /ws?user=mallory HTTP/1.1\r\nHost: {}\r\nUpgrade: websocket\r\n\
         Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
         Sec-WebSocket-Version: 13\r\n\r\n",
        server.addr()
    );
    stream.write_all(request.as_bytes()).await.expect("request");
    within("the 101 answer", async {
        let mut head = Vec::new();
        while !head.ends_with(b"\r\n\r\n") {
            head.push(stream.read_u8().await.expect("response byte"));
        }
        assert!(
            head.starts_with(b"HTTP/1.1 101"),
            "{}",
            String::from_utf8_lossy(&head)
        );
    })
    .await;
    let (opcode, welcome) = within("welcome", read_raw_frame(&mut stream)).await;
    assert_eq!((opcode, &welcome[..]), (0x1, &b"* welcome, mallory"[..]));

    // RFC 6455: every frame from a client must be masked. This one is not.
    stream
        .write_all(&[0x81, 0x02, b'h', b'i'])
        .await
        .expect("frame");
    let (opcode, payload) = within("a close frame", read_raw_frame(&mut stream)).await;
    assert_eq!(opcode, 0x8, "expected a close frame");
    assert_eq!(u16::from_be_bytes([payload[0], payload[1]]), 1002);
}

#[tokio::test]
async fn a_plain_http_request_is_answered_with_a_json_error() {
    let server = ServerProcess::start(SERVER, &[]).await;
    // A browser tab or `curl`: a GET without the headers that ask for a WebSocket.
    for path in ["/ws?user=alice", "/"] {
        let answer = http_get(server.addr(), path).await;
        assert_eq!(answer.status, 400, "{path}: {}", answer.body);
        assert_eq!(answer.header("content-type"), Some("application/json"));
        let error = answer.json()["error"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        assert!(error.contains("WebSocket"), "{path}: {error}");
    }
    // Nobody else noticed: the chat works.
    join(&server, "alice").await;
}
