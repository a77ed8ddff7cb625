//! The spec of `on_frame`: a real WebSocket server in this test's runtime, real clients.

use std::net::SocketAddr;

use chat_test_support::{Message, WsClient};
use ex_3_frame_kinds::{MAX_MESSAGE_BYTES, serve};
use tokio::net::TcpListener;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;

/// Starts the chat on a free port; the server lives as long as the test's runtime.
async fn start() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("local addr");
    tokio::spawn(serve(listener));
    addr
}

/// Connects as `name`; once the welcome arrives the client is in the room.
async fn join(addr: SocketAddr, name: &str) -> WsClient {
    let mut client = WsClient::connect(&format!("ws://{addr}/ws?user={name}")).await;
    assert_eq!(client.recv_text().await, format!("* welcome, {name}"));
    client
}

/// alice and bob in the room, alice having seen bob arrive.
async fn alice_and_bob(addr: SocketAddr) -> (WsClient, WsClient) {
    let mut alice = join(addr, "alice").await;
    let bob = join(addr, "bob").await;
    assert_eq!(alice.recv_text().await, "* bob joined");
    (alice, bob)
}

#[tokio::test]
async fn a_text_frame_is_relayed_trimmed_and_a_blank_one_is_not() {
    let addr = start().await;
    let (mut alice, mut bob) = alice_and_bob(addr).await;

    alice.send_text("  hi bob  ").await;
    assert_eq!(bob.recv_text().await, "alice: hi bob");
    alice.send_text(" \t ").await;
    alice.send_text("still there?").await;
    assert_eq!(bob.recv_text().await, "alice: still there?");
    bob.send_text("yes").await;
    assert_eq!(alice.recv_text().await, "bob: yes");
}

#[tokio::test]
async fn a_binary_frame_gets_a_polite_reply_and_the_connection_stays() {
    let addr = start().await;
    let (mut alice, mut bob) = alice_and_bob(addr).await;

    alice.send(Message::binary(vec![1, 2, 3])).await;
    assert_eq!(
        alice.recv_text().await,
        "* binary frames are not supported; send text"
    );
    alice.send_text("text then").await;
    // Nothing reached bob for the binary frame.
    assert_eq!(bob.recv_text().await, "alice: text then");
}

#[tokio::test]
async fn a_ping_changes_nothing_visible() {
    let addr = start().await;
    let (mut alice, mut bob) = alice_and_bob(addr).await;

    alice
        .send(Message::Ping(b"still with me?"[..].into()))
        .await;
    alice.send(Message::Pong(b"unasked"[..].into())).await;
    alice.send_text("after the ping").await;
    // Neither frame was relayed, and alice is still connected.
    assert_eq!(bob.recv_text().await, "alice: after the ping");
}

#[tokio::test]
async fn a_close_frame_is_answered_and_the_connection_ends() {
    let addr = start().await;
    let (mut alice, mut bob) = alice_and_bob(addr).await;

    let goodbye = CloseFrame {
        code: CloseCode::Normal,
        reason: "bye".into(),
    };
    alice.send(Message::Close(Some(goodbye))).await;
    let answer = alice.recv_close().await;
    let answer = answer.expect("the server answers the close frame with one of its own");
    assert_eq!(answer.code, CloseCode::Normal);
    assert_eq!(bob.recv_text().await, "* alice left");
}

#[tokio::test]
async fn a_message_over_the_limit_is_closed_with_1009() {
    let addr = start().await;
    let (mut alice, mut bob) = alice_and_bob(addr).await;

    alice.send_text(&"x".repeat(MAX_MESSAGE_BYTES + 1)).await;
    let close = alice.recv_close().await.expect("a close frame");
    assert_eq!(u16::from(close.code), 1009);
    assert_eq!(bob.recv_text().await, "* alice left");
}

#[tokio::test]
async fn a_client_that_vanishes_leaves_the_room() {
    let addr = start().await;
    let (alice, mut bob) = alice_and_bob(addr).await;

    drop(alice); // no close frame: the TCP connection just goes away
    assert_eq!(bob.recv_text().await, "* alice left");
    let mut carol = join(addr, "carol").await;
    assert_eq!(bob.recv_text().await, "* carol joined");
    carol.send_text("hi").await;
    assert_eq!(bob.recv_text().await, "carol: hi");
}
