//! The WebSocket side of step 6 that step 4 already had, in the default room `general`:
//! every row of PROTOCOL.md marked 4, spoken to the real binary by real WebSocket
//! clients. `tests/rooms.rs` has the rows marked 5, `tests/backpressure.rs` those marked 6.

use std::time::{SystemTime, UNIX_EPOCH};

use chat_test_support::{Message, ServerProcess, WsClient, raw_client, read_raw_frame, within};
use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::protocol::frame::Frame;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::frame::coding::{Data as OpData, OpCode};

async fn start() -> ServerProcess {
    ServerProcess::start(env!("CARGO_BIN_EXE_step-6"), &[]).await
}

/// Connects as `user`, checks that `welcome` is the first frame and returns it.
async fn connect(server: &ServerProcess, user: &str) -> (WsClient, Value) {
    let mut client = WsClient::connect(&server.ws_url(&format!("/ws?user={user}"))).await;
    let welcome = client.recv_json().await;
    assert_eq!(welcome["type"], "welcome", "{welcome}");
    assert_eq!(welcome["user"], user, "{welcome}");
    assert_eq!(welcome["room"], "general", "{welcome}");
    (client, welcome)
}

/// Connects as `user` into a room where only `already_there` (in join order) are.
async fn join_after(server: &ServerProcess, user: &str, already_there: &[&str]) -> WsClient {
    let (client, welcome) = connect(server, user).await;
    let mut members = already_there.to_vec();
    members.push(user);
    assert_eq!(
        welcome,
        json!({"type": "welcome", "user": user, "room": "general", "members": members})
    );
    client
}

/// Connects as `user` into an empty room.
async fn join(server: &ServerProcess, user: &str) -> WsClient {
    join_after(server, user, &[]).await
}

/// `alice` and `bob`, with alice's notice that bob joined already consumed.
async fn alice_and_bob(server: &ServerProcess) -> (WsClient, WsClient) {
    let mut alice = join(server, "alice").await;
    let bob = join_after(server, "bob", &["alice"]).await;
    assert_eq!(
        alice.recv_json().await,
        json!({"type": "joined", "room": "general", "user": "bob"})
    );
    (alice, bob)
}

fn say(text: &str) -> Value {
    json!({"type": "message", "text": text})
}

fn now_millis() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64
}

/// Receives the next frame and checks it is the error `code`, with a message.
async fn expect_error(client: &mut WsClient, code: &str, after: &str) {
    let frame = client.recv_json().await;
    assert_eq!(frame["type"], "error", "after {after}: {frame}");
    assert_eq!(frame["code"], code, "after {after}: {frame}");
    assert!(
        frame["message"].as_str().is_some_and(|m| !m.is_empty()),
        "after {after}: no message in {frame}"
    );
}

#[tokio::test]
async fn a_message_reaches_every_member_including_its_author() {
    let server = start().await;
    let (mut alice, mut bob) = alice_and_bob(&server).await;

    let before = now_millis();
    alice.send_json(&say("hello, bob")).await;
    let to_alice = alice.recv_json().await;
    let to_bob = bob.recv_json().await;
    let after = now_millis();

    assert_eq!(to_alice, to_bob, "everyone gets the same frame");
    assert_eq!(to_bob["type"], "message");
    assert_eq!(to_bob["room"], "general");
    assert_eq!(to_bob["user"], "alice");
    assert_eq!(to_bob["text"], "hello, bob");
    assert!(to_bob["id"].is_u64(), "{to_bob}");
    let ts = to_bob["ts"].as_u64().expect("ts is a number");
    assert!(
        (before..=after).contains(&ts),
        "ts {ts} not in {before}..={after}"
    );
}

#[tokio::test]
async fn ids_increase_in_the_order_members_receive_messages() {
    let server = start().await;
    let (mut alice, mut bob) = alice_and_bob(&server).await;

    // Both speak without waiting, so their messages interleave in the server.
    for n in 0..20 {
        alice.send_json(&say(&format!("a{n}"))).await;
        bob.send_json(&say(&format!("b{n}"))).await;
    }
    let mut seen_by = Vec::new();
    for client in [&mut alice, &mut bob] {
        let mut ids = Vec::new();
        for _ in 0..40 {
            let frame = client.recv_type("message").await;
            ids.push((frame["id"].as_u64().unwrap(), frame["text"].clone()));
        }
        assert!(
            ids.windows(2).all(|pair| pair[0].0 < pair[1].0),
            "ids go backwards: {ids:?}"
        );
        seen_by.push(ids);
    }
    assert_eq!(seen_by[0], seen_by[1], "both members see one order");
}

#[tokio::test]
async fn joined_and_left_go_to_the_others_not_to_yourself() {
    let server = start().await;
    let (mut alice, mut bob) = alice_and_bob(&server).await;

    // bob's first frame after welcome is his own message, not a notice about himself.
    bob.send_json(&say("hi")).await;
    assert_eq!(bob.recv_json().await["type"], "message");
    assert_eq!(alice.recv_json().await["text"], "hi");

    bob.close().await;
    assert_eq!(
        alice.recv_json().await,
        json!({"type": "left", "room": "general", "user": "bob"})
    );
}

#[tokio::test]
async fn welcome_lists_the_members_and_presence_follows_it() {
    let server = start().await;
    let (mut alice, mut bob) = alice_and_bob(&server).await;
    let mut carol = join_after(&server, "carol", &["alice", "bob"]).await;
    assert_eq!(alice.recv_json().await["user"], "carol");
    assert_eq!(bob.recv_json().await["user"], "carol");

    alice.close().await;
    assert_eq!(
        carol.recv_json().await,
        json!({"type": "left", "room": "general", "user": "alice"})
    );
    assert_eq!(bob.recv_type("left").await["user"], "alice");
    // Once bob has heard that alice left, a newcomer's list no longer has her.
    join_after(&server, "dave", &["bob", "carol"]).await;
}

#[tokio::test]
async fn a_newcomer_s_list_and_the_presence_stream_agree_under_churn() {
    let server = start().await;
    let mut watcher = join(&server, "watcher").await;

    // Others come and go while a newcomer connects. Wherever its welcome falls among
    // their arrivals and departures, each later `joined` must be for someone not on its
    // list and each `left` for someone on it.
    let churn = async {
        for round in 0..10 {
            let user = format!("c{round}");
            let (client, _) = connect(&server, &user).await;
            client.close().await;
            // The room publishes `left` once the connection's task has ended; waiting
            // for it here means that after the loop every departure is published.
            assert_eq!(watcher.recv_type("left").await["user"], user.as_str());
        }
    };
    let newcomer = connect(&server, "newcomer");
    let ((), (mut newcomer, welcome)) = tokio::join!(churn, newcomer);

    let _sentinel = connect(&server, "sentinel").await;
    let mut members: Vec<String> = serde_json::from_value(welcome["members"].clone()).unwrap();
    loop {
        let frame = newcomer.recv_json().await;
        let user = frame["user"].as_str().unwrap().to_string();
        match frame["type"].as_str() {
            Some("joined") => {
                assert!(
                    !members.contains(&user),
                    "joined {user}, listed: {members:?}"
                );
                members.push(user.clone());
            }
            Some("left") => {
                assert!(
                    members.contains(&user),
                    "left {user}, not listed: {members:?}"
                );
                members.retain(|m| *m != user);
            }
            _ => panic!("unexpected {frame}"),
        }
        if user == "sentinel" {
            break;
        }
    }
    assert_eq!(members, ["watcher", "newcomer", "sentinel"]);
}

#[tokio::test]
async fn welcome_is_the_first_frame_even_when_the_client_speaks_at_once() {
    let server = start().await;
    let mut alice = WsClient::connect(&server.ws_url("/ws?user=alice")).await;
    // Sent before reading anything: the answer to it must not overtake the welcome.
    alice.send_text("not json").await;
    assert_eq!(alice.recv_json().await["type"], "welcome");
    expect_error(&mut alice, "bad_json", "not json").await;
}

#[tokio::test]
async fn text_is_trimmed_before_it_is_relayed() {
    let server = start().await;
    let (mut alice, mut bob) = alice_and_bob(&server).await;
    alice.send_json(&say(" \t hello  \n")).await;
    assert_eq!(bob.recv_json().await["text"], "hello");
    assert_eq!(alice.recv_json().await["text"], "hello");
}

#[tokio::test]
async fn markup_is_relayed_as_text() {
    let server = start().await;
    let (mut alice, mut bob) = alice_and_bob(&server).await;
    let hostile = r#"<img src=x onerror=alert(1)> & "quotes" </script>"#;
    alice.send_json(&say(hostile)).await;
    assert_eq!(bob.recv_json().await["text"], hostile);
}

#[tokio::test]
async fn refused_frames_get_their_error_code_and_change_nothing() {
    let server = start().await;
    let (mut alice, mut bob) = alice_and_bob(&server).await;

    let cases: Vec<(String, &str)> = vec![
        ("hello".into(), "bad_json"),
        ("{\"type\":\"message\"".into(), "bad_json"),
        (r#"["message", "hi"]"#.into(), "bad_json"),
        (r#""message""#.into(), "bad_json"),
        ("42".into(), "bad_json"),
        ("null".into(), "bad_json"),
        (r#"{"text": "hi"}"#.into(), "unknown_type"),
        (r#"{"type": 1, "text": "hi"}"#.into(), "unknown_type"),
        (r#"{"type": "shout", "text": "hi"}"#.into(), "unknown_type"),
        // Types from later steps are unknown to step 6.
        (r#"{"type": "ping"}"#.into(), "unknown_type"),
        (r#"{"type": "typing"}"#.into(), "unknown_type"),
        (r#"{"type": "message"}"#.into(), "bad_request"),
        (r#"{"type": "message", "text": 5}"#.into(), "bad_request"),
        (r#"{"type": "message", "text": null}"#.into(), "bad_request"),
        (
            r#"{"type": "message", "text": ["hi"]}"#.into(),
            "bad_request",
        ),
        (r#"{"type": "join"}"#.into(), "bad_request"),
        (r#"{"type": "join", "room": 5}"#.into(), "bad_request"),
        (
            r#"{"type": "join", "room": ["rust"]}"#.into(),
            "bad_request",
        ),
        (r#"{"type": "message", "text": ""}"#.into(), "empty_text"),
        (
            r#"{"type": "message", "text": "   \n\t "}"#.into(),
            "empty_text",
        ),
        (say(&"a".repeat(4001)).to_string(), "text_too_long"),
        (say(&"é".repeat(4001)).to_string(), "text_too_long"),
        (
            say(&format!("{} ", "a".repeat(4001))).to_string(),
            "text_too_long",
        ),
        (r#"{"type": "join", "room": "Rust"}"#.into(), "bad_room"),
        (r#"{"type": "join", "room": ""}"#.into(), "bad_room"),
    ];
    for (n, (frame, code)) in cases.iter().enumerate() {
        alice.send_text(frame).await;
        expect_error(&mut alice, code, frame).await;

        // The connection is still open, and the refused frame reached nobody: the next
        // thing bob sees is alice's next valid message.
        let check = format!("still here {n}");
        alice.send_json(&say(&check)).await;
        assert_eq!(alice.recv_json().await["text"], check.as_str());
        assert_eq!(bob.recv_json().await["text"], check.as_str());
    }
}

#[tokio::test]
async fn a_binary_frame_is_bad_json() {
    let server = start().await;
    let mut alice = join(&server, "alice").await;
    alice
        .send(Message::binary(say("hi").to_string().into_bytes()))
        .await;
    expect_error(&mut alice, "bad_json", "a binary frame").await;
    alice.send_json(&say("in a text frame")).await;
    assert_eq!(alice.recv_json().await["text"], "in a text frame");
}

#[tokio::test]
async fn unknown_fields_are_ignored() {
    let server = start().await;
    let mut alice = join(&server, "alice").await;
    alice
        .send_json(&json!({"type": "message", "text": "hi", "colour": "red"}))
        .await;
    let frame = alice.recv_json().await;
    assert_eq!(
        (frame["type"].as_str(), frame["text"].as_str()),
        (Some("message"), Some("hi"))
    );
}

#[tokio::test]
async fn the_limit_counts_characters_not_bytes() {
    let server = start().await;
    let (mut alice, mut bob) = alice_and_bob(&server).await;
    // 4000 two-byte characters: 8000 bytes of UTF-8, but exactly the limit.
    let longest = "é".repeat(4000);
    alice.send_json(&say(&longest)).await;
    assert_eq!(bob.recv_json().await["text"], longest.as_str());
    // 4000 four-byte characters still fit in one frame.
    let widest = "🦀".repeat(4000);
    alice.send_json(&say(&widest)).await;
    assert_eq!(alice.recv_type("message").await["text"], longest.as_str());
    assert_eq!(alice.recv_json().await["text"], widest.as_str());
}

#[tokio::test]
async fn an_oversized_frame_closes_that_connection_with_1009_only() {
    let server = start().await;
    let (mut alice, mut bob) = alice_and_bob(&server).await;

    let huge = "x".repeat(20 * 1024);
    alice.send_text(&huge).await;
    let close = alice.recv_close().await.expect("a close frame");
    assert_eq!(u16::from(close.code), 1009, "reason: {}", close.reason);

    assert_eq!(
        bob.recv_json().await,
        json!({"type": "left", "room": "general", "user": "alice"})
    );
    let mut carol = join_after(&server, "carol", &["bob"]).await;
    assert_eq!(bob.recv_json().await["type"], "joined");
    carol.send_json(&say("still working")).await;
    assert_eq!(bob.recv_json().await["text"], "still working");
}

#[tokio::test]
async fn a_close_frame_is_answered_with_the_same_code() {
    let server = start().await;
    let mut alice = join(&server, "alice").await;
    alice
        .send(Message::Close(Some(CloseFrame {
            code: CloseCode::Normal,
            reason: "bye".into(),
        })))
        .await;
    let answer = alice.recv_close().await.expect("a close frame");
    assert_eq!(u16::from(answer.code), 1000);
}

#[tokio::test]
async fn a_ping_frame_is_answered_with_a_pong() {
    let server = start().await;
    let url = server.ws_url("/ws?user=alice");
    let (mut socket, _) = within("a handshake", tokio_tungstenite::connect_async(url))
        .await
        .expect("upgrade");
    socket
        .send(Message::Ping("are you there".into()))
        .await
        .unwrap();
    let pong = within("a pong", async {
        loop {
            match socket.next().await {
                Some(Ok(Message::Pong(payload))) => return payload,
                Some(Ok(_)) => continue,
                other => panic!("no pong: {other:?}"),
            }
        }
    })
    .await;
    assert_eq!(&pong[..], b"are you there");
}

#[tokio::test]
async fn a_member_that_falls_behind_is_closed_with_1013() {
    let server = start().await;
    let (mut alice, mut bob) = alice_and_bob(&server).await;

    // bob reads nothing while alice says far more than the TCP buffers and bob's outbox
    // can hold between them. alice waits for each of her own copies, and stops when she
    // hears that bob left: he was dropped while she was still talking, not when he
    // finally read.
    let text = "名".repeat(4000);
    let mut said = 0;
    loop {
        assert!(said < 2000, "bob was never dropped");
        alice.send_json(&say(&text)).await;
        said += 1;
        let frame = alice.recv_json().await;
        if frame["type"] == "left" {
            assert_eq!(frame["user"], "bob");
            break;
        }
        assert_eq!(frame["type"], "message", "{frame}");
    }
    // When bob reads again, he gets what was already on its way, then the reason.
    let close = bob.recv_close().await.expect("a close frame");
    assert_eq!(u16::from(close.code), 1013, "reason: {}", close.reason);
    assert!(
        close.reason.contains("could not keep up"),
        "{}",
        close.reason
    );

    // alice did not suffer for it.
    alice.send_json(&say("bob?")).await;
    while alice.recv_type("message").await["text"] != "bob?" {}
}

#[tokio::test]
async fn a_text_frame_that_is_not_utf8_closes_with_1007() {
    let server = start().await;
    let (mut alice, mut bob) = alice_and_bob(&server).await;
    let not_utf8 = Frame::message(
        vec![b'"', 0xff, 0xfe, b'"'],
        OpCode::Data(OpData::Text),
        true,
    );
    alice.send(Message::Frame(not_utf8)).await;
    let close = alice.recv_close().await.expect("a close frame");
    assert_eq!(u16::from(close.code), 1007, "reason: {}", close.reason);
    assert_eq!(bob.recv_json().await["type"], "left");
}

#[tokio::test]
async fn a_broken_websocket_rule_closes_with_1002() {
    use tokio::io::AsyncWriteExt;
    let server = start().await;
    // `general` is where a connection without `room=` goes anyway.
    let mut stream = raw_client(&server, "mallory", "general").await;
    let (opcode, _) = within("welcome", read_raw_frame(&mut stream))
        .await
        .expect("welcome");
    assert_eq!(opcode, 0x1, "welcome is a text frame");

    // RFC 6455: every frame from a client must be masked. This one is not.
    stream.write_all(&[0x81, 0x02, b'h', b'i']).await.unwrap();
    let (opcode, payload) = within("a close frame", read_raw_frame(&mut stream))
        .await
        .expect("a close frame");
    assert_eq!(opcode, 0x8, "expected a close frame");
    assert_eq!(u16::from_be_bytes([payload[0], payload[1]]), 1002);
}
