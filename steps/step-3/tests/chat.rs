//! Step 3 from the outside: the real binary and real WebSocket clients.

use chat_test_support::{Message, ServerProcess, Upgrade, WsClient};
use futures_util::{SinkExt, StreamExt};
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;

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
