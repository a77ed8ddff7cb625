//! Rooms over WebSocket: every row of PROTOCOL.md marked 5, spoken to the real binary
//! by real WebSocket clients. `?room=`, the `join` frame with its `bad_room` and
//! `name_taken` refusals, rooms that never hear each other, and ids counted per room.

use chat_test_support::{ServerProcess, Upgrade, WsClient, http_get};
use serde_json::{Value, json};

async fn start() -> ServerProcess {
    ServerProcess::start(env!("CARGO_BIN_EXE_step-7"), &[]).await
}

fn welcome(user: &str, room: &str, members: &[&str]) -> Value {
    json!({"type": "welcome", "user": user, "room": room, "members": members})
}

/// Connects `user` to `room` and checks its welcome, whose `members` must be exactly
/// `members`, in join order.
async fn enter(server: &ServerProcess, user: &str, room: &str, members: &[&str]) -> WsClient {
    let url = server.ws_url(&format!("/ws?user={user}&room={room}"));
    let mut client = WsClient::connect(&url).await;
    assert_eq!(client.recv_json().await, welcome(user, room, members));
    client
}

fn say(text: &str) -> Value {
    json!({"type": "message", "text": text})
}

fn join(room: &str) -> Value {
    json!({"type": "join", "room": room})
}

/// `speaker` says `text`, and it is the very next frame both `speaker` and `listener`
/// receive. Whatever `listener` should not have received, but did, would come first:
/// that is how these tests show that something did *not* happen.
async fn next_is(speaker: &mut WsClient, listener: &mut WsClient, text: &str) {
    speaker.send_json(&say(text)).await;
    let own = speaker.recv_json().await;
    assert_eq!(
        (own["type"].as_str(), own["text"].as_str()),
        (Some("message"), Some(text))
    );
    assert_eq!(listener.recv_json().await, own, "the listener's next frame");
}

/// `client` says `text` and its own copy is its next frame: nothing else was waiting.
async fn nothing_waiting(client: &mut WsClient, text: &str) {
    client.send_json(&say(text)).await;
    let own = client.recv_json().await;
    assert_eq!(
        (own["type"].as_str(), own["text"].as_str()),
        (Some("message"), Some(text))
    );
}

/// `GET path`, expecting 200 and JSON.
async fn api(server: &ServerProcess, path: &str) -> Value {
    let answer = http_get(server.addr(), path).await;
    assert_eq!(answer.status, 200, "{path}: {}", answer.body);
    answer.json()
}

async fn expect_error(client: &mut WsClient, code: &str, after: &str) -> Value {
    let frame = client.recv_json().await;
    assert_eq!(frame["type"], "error", "after {after}: {frame}");
    assert_eq!(frame["code"], code, "after {after}: {frame}");
    frame
}

#[tokio::test]
async fn without_a_room_you_join_general() {
    let server = start().await;
    let mut alice = WsClient::connect(&server.ws_url("/ws?user=alice")).await;
    assert_eq!(
        alice.recv_json().await,
        welcome("alice", "general", &["alice"])
    );
    enter(&server, "bob", "general", &["alice", "bob"]).await;
}

#[tokio::test]
async fn messages_stay_in_their_room() {
    let server = start().await;
    let mut alice = enter(&server, "alice", "rust", &["alice"]).await;
    let mut bob = enter(&server, "bob", "rust", &["alice", "bob"]).await;
    assert_eq!(alice.recv_json().await["user"], "bob");
    let mut carol = enter(&server, "carol", "general", &["carol"]).await;
    let mut dave = enter(&server, "dave", "general", &["carol", "dave"]).await;
    assert_eq!(carol.recv_json().await["user"], "dave");

    next_is(&mut alice, &mut bob, "said in rust").await;
    next_is(&mut dave, &mut carol, "said in general").await;
    next_is(&mut bob, &mut alice, "rust again").await;
    next_is(&mut carol, &mut dave, "general heard nothing from rust").await;
}

#[tokio::test]
async fn presence_stays_in_its_room() {
    let server = start().await;
    let mut carol = enter(&server, "carol", "general", &["carol"]).await;

    let alice = enter(&server, "alice", "rust", &["alice"]).await;
    let mut bob = enter(&server, "bob", "rust", &["alice", "bob"]).await;
    alice.close().await;
    assert_eq!(
        bob.recv_json().await,
        json!({"type": "left", "room": "rust", "user": "alice"})
    );

    // carol heard none of it: her next frame is about her own room.
    let _dave = enter(&server, "dave", "general", &["carol", "dave"]).await;
    assert_eq!(
        carol.recv_json().await,
        json!({"type": "joined", "room": "general", "user": "dave"})
    );
}

#[tokio::test]
async fn ids_count_per_room_and_increase_in_delivery_order() {
    let server = start().await;
    let mut alice = enter(&server, "alice", "rust", &["alice"]).await;
    let mut bob = enter(&server, "bob", "rust", &["alice", "bob"]).await;
    alice.recv_type("joined").await;
    let mut carol = enter(&server, "carol", "general", &["carol"]).await;
    let mut dave = enter(&server, "dave", "general", &["carol", "dave"]).await;
    carol.recv_type("joined").await;

    // Everyone speaks without waiting, so the rooms' messages interleave in the server.
    for n in 0..10 {
        for (name, client) in [
            ("a", &mut alice),
            ("b", &mut bob),
            ("c", &mut carol),
            ("d", &mut dave),
        ] {
            client.send_json(&say(&format!("{name}{n}"))).await;
        }
    }
    for (room, client) in [
        ("rust", &mut alice),
        ("rust", &mut bob),
        ("general", &mut carol),
        ("general", &mut dave),
    ] {
        let mut ids = Vec::new();
        for _ in 0..20 {
            let frame = client.recv_type("message").await;
            assert_eq!(frame["room"], room, "{frame}");
            ids.push(frame["id"].as_u64().unwrap());
        }
        // Unique and increasing within the room; each room counts on its own, from 1.
        assert_eq!(ids, (1..=20).collect::<Vec<u64>>(), "{room}");
    }
}

#[tokio::test]
async fn a_name_is_refused_with_409_in_a_room_where_it_is_connected() {
    let server = start().await;
    let first = enter(&server, "alice", "rust", &["alice"]).await;
    let mut bob = enter(&server, "bob", "rust", &["alice", "bob"]).await;

    match WsClient::try_connect(&server.ws_url("/ws?user=alice&room=rust")).await {
        Upgrade::Refused { status, body } => {
            assert_eq!(status, 409, "{body}");
            let error: Value = serde_json::from_str(&body).expect("a JSON body");
            let error = error["error"].as_str().unwrap_or_default();
            assert!(error.contains("alice") && error.contains("rust"), "{body}");
        }
        Upgrade::Accepted(_) => panic!("a second alice was let into rust"),
    }
    // The refusal reached nobody, and the same name is welcome in another room.
    nothing_waiting(&mut bob, "no second alice here").await;
    enter(&server, "alice", "general", &["alice"]).await;

    // Once the first alice has left rust, the name is free there again.
    first.close().await;
    assert_eq!(bob.recv_json().await["type"], "left");
    enter(&server, "alice", "rust", &["bob", "alice"]).await;
}

#[tokio::test]
async fn join_moves_the_connection_to_another_room() {
    let server = start().await;
    let mut alice = enter(&server, "alice", "general", &["alice"]).await;
    let mut bob = enter(&server, "bob", "general", &["alice", "bob"]).await;
    alice.recv_type("joined").await;
    let mut carol = enter(&server, "carol", "rust", &["carol"]).await;

    alice.send_json(&join("rust")).await;
    assert_eq!(
        alice.recv_json().await,
        welcome("alice", "rust", &["carol", "alice"])
    );
    assert_eq!(
        carol.recv_json().await,
        json!({"type": "joined", "room": "rust", "user": "alice"})
    );
    assert_eq!(
        bob.recv_json().await,
        json!({"type": "left", "room": "general", "user": "alice"})
    );

    // alice now speaks in rust, and hears nothing about herself.
    next_is(&mut carol, &mut alice, "welcome to rust").await;
    next_is(&mut alice, &mut carol, "thanks").await;
    nothing_waiting(&mut bob, "general is quiet").await;
    assert_eq!(
        api(&server, "/api/rooms").await,
        json!([{"room": "general", "members": 1}, {"room": "rust", "members": 2}])
    );
}

#[tokio::test]
async fn a_join_into_a_bad_room_is_refused_and_changes_nothing() {
    let server = start().await;
    let mut alice = enter(&server, "alice", "general", &["alice"]).await;
    let mut bob = enter(&server, "bob", "general", &["alice", "bob"]).await;
    alice.recv_type("joined").await;

    let too_long = "r".repeat(65);
    for room in [
        "", "Rust", "a b", "..", "a.b", "a/b", "café", " rust", &too_long,
    ] {
        alice.send_json(&join(room)).await;
        let error = expect_error(&mut alice, "bad_room", room).await;
        let message = error["message"].as_str().unwrap_or_default();
        assert!(message.contains("lower-case"), "the rule is in {error}");
        next_is(
            &mut alice,
            &mut bob,
            &format!("still in general after {room:?}"),
        )
        .await;
    }
    assert_eq!(
        api(&server, "/api/rooms").await,
        json!([{"room": "general", "members": 2}])
    );
}

#[tokio::test]
async fn a_join_where_the_name_is_taken_is_refused_and_the_connection_stays() {
    let server = start().await;
    let mut alice = enter(&server, "alice", "general", &["alice"]).await;
    let mut bob = enter(&server, "bob", "general", &["alice", "bob"]).await;
    alice.recv_type("joined").await;
    let mut other_alice = enter(&server, "alice", "rust", &["alice"]).await;

    alice.send_json(&join("rust")).await;
    let error = expect_error(&mut alice, "name_taken", "join rust").await;
    assert!(
        error["message"]
            .as_str()
            .unwrap_or_default()
            .contains("rust"),
        "{error}"
    );

    // Nobody heard of it: bob's next frame is alice speaking in general, and the alice
    // in rust has nothing waiting either.
    next_is(&mut alice, &mut bob, "still here").await;
    nothing_waiting(&mut other_alice, "no one joined").await;
    assert_eq!(
        api(&server, "/api/rooms/general/members").await,
        json!(["alice", "bob"])
    );
    assert_eq!(
        api(&server, "/api/rooms/rust/members").await,
        json!(["alice"])
    );
}

#[tokio::test]
async fn a_join_into_your_current_room_sends_welcome_again() {
    let server = start().await;
    let mut alice = enter(&server, "alice", "general", &["alice"]).await;
    let mut bob = enter(&server, "bob", "general", &["alice", "bob"]).await;
    alice.recv_type("joined").await;

    alice.send_json(&join("general")).await;
    assert_eq!(
        alice.recv_json().await,
        welcome("alice", "general", &["alice", "bob"])
    );
    // Nothing else happened: no `left`, no `joined` for bob.
    next_is(&mut alice, &mut bob, "same room").await;
}

#[tokio::test]
async fn welcome_again_comes_after_what_it_already_counts() {
    let server = start().await;
    let mut alice = enter(&server, "alice", "general", &["alice"]).await;
    // carol joins before alice asks for her welcome again, and alice has not read the
    // `joined` yet: it must reach her before the welcome that lists carol.
    let _carol = enter(&server, "carol", "general", &["alice", "carol"]).await;
    alice.send_json(&join("general")).await;
    assert_eq!(
        alice.recv_json().await,
        json!({"type": "joined", "room": "general", "user": "carol"})
    );
    assert_eq!(
        alice.recv_json().await,
        welcome("alice", "general", &["alice", "carol"])
    );
}

#[tokio::test]
async fn switching_away_and_back_keeps_each_room_s_ids() {
    let server = start().await;
    let mut alice = enter(&server, "alice", "general", &["alice"]).await;
    let mut bob = enter(&server, "bob", "general", &["alice", "bob"]).await;
    alice.recv_type("joined").await;
    next_is(&mut alice, &mut bob, "one").await;

    alice.send_json(&join("rust")).await;
    assert_eq!(
        alice.recv_json().await,
        welcome("alice", "rust", &["alice"])
    );
    alice.send_json(&say("first in rust")).await;
    assert_eq!(alice.recv_json().await["id"], 1);
    bob.recv_type("left").await;
    bob.send_json(&say("two")).await;
    assert_eq!(bob.recv_json().await["id"], 2);

    alice.send_json(&join("general")).await;
    assert_eq!(
        alice.recv_json().await,
        welcome("alice", "general", &["bob", "alice"])
    );
    assert_eq!(bob.recv_json().await["type"], "joined");
    alice.send_json(&say("back")).await;
    assert_eq!(alice.recv_json().await["id"], 3);
    assert_eq!(bob.recv_json().await["id"], 3);
    // rust lost its last member when alice came back.
    assert_eq!(
        api(&server, "/api/rooms").await,
        json!([{"room": "general", "members": 2}])
    );
}

/// Leaving a room loses nothing the client was owed there. Messages and joins sent back
/// to back come back each in its place: the client's own copy of a message before the
/// `welcome` of the `join` that followed it, and one `welcome` for every `join`.
#[tokio::test]
async fn back_to_back_joins_lose_nothing_owed_in_the_room_left() {
    let server = start().await;
    let mut juggler = enter(&server, "juggler", "ra", &["juggler"]).await;
    let mut expected = Vec::new();
    for round in 0..10 {
        for room in ["rb", "ra"] {
            let text = format!("round {round}, then off to {room}");
            juggler.send_json(&say(&text)).await;
            juggler.send_json(&join(room)).await;
            expected.push(format!("message: {text}"));
            expected.push(format!("welcome: {room}"));
        }
    }
    let mut received = Vec::new();
    for _ in 0..expected.len() {
        let frame = juggler.recv_json().await;
        received.push(match frame["type"].as_str() {
            Some("message") => format!("message: {}", frame["text"].as_str().unwrap()),
            Some("welcome") => {
                assert_eq!(frame["members"], json!(["juggler"]), "{frame}");
                format!("welcome: {}", frame["room"].as_str().unwrap())
            }
            _ => format!("unexpected: {frame}"),
        });
    }
    assert_eq!(received, expected);
}
