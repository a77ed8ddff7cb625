//! Heartbeats and timeouts: the rows of PROTOCOL.md marked 7, against the real binary,
//! in real time with short flags (`--ping-interval 200ms --pong-timeout 200ms`). The
//! heartbeat's rule itself is unit-tested on paused time (`src/heartbeat.rs`); these
//! tests check what paused time cannot: real sockets, a real client's automatic pongs,
//! and a silent peer that TCP alone would keep forever.
//!
//! Every wait is bounded. The one place a test lets time pass on purpose is where the
//! behaviour *is* time: a client stays quiet for longer than the server would allow a
//! dead one, and must still be there.

use std::time::Duration;

use chat_test_support::{
    ServerProcess, WsClient, assert_help_mentions, next_json, parse_response, raw_client,
    read_raw_frame, refused_from_flag_and_environment, split_client, within,
};
use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::Message;

const BINARY: &str = env!("CARGO_BIN_EXE_step-7");

const PING_INTERVAL: Duration = Duration::from_millis(200);
const PONG_TIMEOUT: Duration = Duration::from_millis(200);

/// The flags for [`PING_INTERVAL`] and [`PONG_TIMEOUT`].
const SHORT: &[&str] = &["--ping-interval", "200ms", "--pong-timeout", "200ms"];

/// How much later than `ping-interval + pong-timeout` a silent client may still be
/// connected: scheduling on a busy two-core machine, not the server's rule.
const SLACK: Duration = Duration::from_secs(2);

fn say(text: &str) -> Value {
    json!({"type": "message", "text": text})
}

/// Connects `user` to `room` and waits for its welcome. A [`WsClient`] answers the
/// server's pings only while a test is waiting for one of its frames: with the short
/// flags, a test keeps every such client busy receiving, or it is reaped.
async fn enter(server: &ServerProcess, user: &str, room: &str) -> WsClient {
    let url = server.ws_url(&format!("/ws?user={user}&room={room}"));
    let mut client = WsClient::connect(&url).await;
    client.recv_type("welcome").await;
    client
}

const TEXT: u8 = 0x1;
const CLOSE: u8 = 0x8;
const PING: u8 = 0x9;

/// Sends `text` as one masked text frame, as RFC 6455 asks of a client (shorter than
/// 126 bytes, which is all these tests need).
async fn write_raw_text(stream: &mut TcpStream, text: &str) {
    let payload = text.as_bytes();
    assert!(payload.len() < 126);
    let mask = [0x37, 0xfa, 0x21, 0x3d];
    let mut frame = vec![0x80 | TEXT, 0x80 | payload.len() as u8];
    frame.extend_from_slice(&mask);
    frame.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
    stream.write_all(&frame).await.expect("write a frame");
}

#[tokio::test]
async fn help_names_both_heartbeat_flags_with_their_defaults_and_variables() {
    assert_help_mentions(
        BINARY,
        &[
            "--ping-interval",
            "CHAT_PING_INTERVAL",
            "[default: 20s]",
            "--pong-timeout",
            "CHAT_PONG_TIMEOUT",
            "[default: 10s]",
        ],
    )
    .await;
}

#[tokio::test]
async fn a_zero_or_unitless_duration_is_refused_at_startup_from_a_flag_or_the_environment() {
    for (flag, variable) in [
        ("--ping-interval", "CHAT_PING_INTERVAL"),
        ("--pong-timeout", "CHAT_PONG_TIMEOUT"),
    ] {
        for (value, expected) in [("0s", "longer than 0"), ("20", "a number and a unit")] {
            for stderr in refused_from_flag_and_environment(BINARY, flag, variable, value).await {
                assert!(
                    stderr.contains(flag) && stderr.contains(expected),
                    "{flag} {value}: {stderr}"
                );
            }
        }
    }
}

#[tokio::test]
async fn an_app_level_ping_is_answered_with_pong_to_the_sender_alone() {
    let server = ServerProcess::start(BINARY, &[]).await;
    let mut alice = enter(&server, "alice", "general").await;
    let mut bob = enter(&server, "bob", "general").await;
    alice.recv_type("joined").await;

    alice.send_json(&json!({"type": "ping"})).await;
    assert_eq!(alice.recv_json().await, json!({"type": "pong"}));
    // bob hears nothing of it: the next frame he gets is what alice says next.
    alice.send_json(&say("after the ping")).await;
    assert_eq!(bob.recv_json().await["text"], "after the ping");
}

/// What a silent client finds when, too late, it reads: its welcome and whatever else
/// was sent, the server's ping, then a close frame, then the end. Returns the close
/// frame's code and reason.
async fn read_until_the_end(silent: &mut TcpStream) -> (u16, String) {
    within("the silent client to read to the end", async {
        let mut opcodes = Vec::new();
        while let Some((opcode, payload)) = read_raw_frame(silent).await {
            opcodes.push(opcode);
            if opcode == CLOSE {
                assert_eq!(opcodes[0], TEXT, "welcome came first");
                assert!(opcodes.contains(&PING), "no ping before the close");
                assert_eq!(read_raw_frame(silent).await, None, "the end");
                let code = u16::from_be_bytes([payload[0], payload[1]]);
                return (code, String::from_utf8_lossy(&payload[2..]).into_owned());
            }
        }
        panic!("the connection ended without a close frame: {opcodes:?}");
    })
    .await
}

// ANCHOR: real-time
#[tokio::test]
async fn a_client_that_goes_silent_after_the_handshake_is_reaped_and_the_room_hears_left() {
    let mut server = ServerProcess::start(BINARY, SHORT).await;
    // Taken before the handshake, so that it is no later than the moment the server
    // starts the client's heartbeat.
    let connected = Instant::now();
    let mut silent = raw_client(&server, "silent", "general").await;
    let mut bob = enter(&server, "bob", "general").await;

    // bob waits, answering the server's pings as he does; silent never reads or writes.
    let left = bob.recv_type("left").await;
    let gone_after = connected.elapsed();
    assert_eq!(
        left,
        json!({"type": "left", "room": "general", "user": "silent"})
    );
    assert!(
        gone_after >= PING_INTERVAL + PONG_TIMEOUT,
        "reaped after {gone_after:?}, before its time"
    );
    assert!(
        gone_after < PING_INTERVAL + PONG_TIMEOUT + SLACK,
        "reaped only after {gone_after:?}"
    );
    let reaped = server
        .wait_for_line("reaped: no answer to a ping within 200ms")
        .await;
    assert!(reaped.contains("silent"), "{reaped}");

    let (code, reason) = read_until_the_end(&mut silent).await;
    assert_eq!(code, 1001);
    assert_eq!(reason, "no answer to a ping within 200ms");

    // bob, who answered every ping, is still there.
    bob.send_json(&say("still here")).await;
    assert_eq!(bob.recv_type("message").await["text"], "still here");
}
// ANCHOR_END: real-time

#[tokio::test]
async fn the_heartbeat_durations_can_come_from_the_environment() {
    let server = ServerProcess::start_with_env(
        BINARY,
        &[],
        &[
            ("CHAT_PING_INTERVAL", "200ms"),
            ("CHAT_PONG_TIMEOUT", "300ms"),
        ],
    )
    .await;
    let connected = Instant::now();
    let mut silent = raw_client(&server, "silent", "general").await;
    let mut bob = enter(&server, "bob", "general").await;
    assert_eq!(bob.recv_type("left").await["user"], "silent");
    let gone_after = connected.elapsed();
    let expected = Duration::from_millis(500);
    assert!(
        (expected..expected + SLACK).contains(&gone_after),
        "reaped after {gone_after:?}"
    );
    let (code, reason) = read_until_the_end(&mut silent).await;
    assert_eq!(
        (code, reason.as_str()),
        (1001, "no answer to a ping within 300ms")
    );
}

#[tokio::test]
async fn a_healthy_idle_client_answers_the_pings_and_stays() {
    let server = ServerProcess::start(BINARY, SHORT).await;
    let url = server.ws_url("/ws?user=idle");
    let (mut idle, _) = within("a handshake", tokio_tungstenite::connect_async(url))
        .await
        .expect("upgrade");

    // idle says nothing at all. Reading is what makes tungstenite answer each ping
    // with a pong, as any WebSocket client (a browser too) does by itself.
    let started = Instant::now();
    let pings = within("three pings from the server", async {
        let mut pings = 0;
        while pings < 3 {
            match idle.next().await {
                Some(Ok(Message::Ping(_))) => pings += 1,
                Some(Ok(Message::Text(text))) => assert!(text.contains("welcome"), "{text}"),
                other => panic!("expected pings, got {other:?}"),
            }
        }
        pings
    })
    .await;
    assert_eq!(pings, 3);
    // Three quiet intervals, each answered: longer than a silent client is allowed.
    assert!(started.elapsed() >= 2 * PING_INTERVAL + PONG_TIMEOUT);

    idle.send(Message::text(say("still here").to_string()))
        .await
        .expect("send");
    let echo = within("the echo", async {
        loop {
            match idle.next().await {
                Some(Ok(Message::Text(text))) => return text,
                Some(Ok(Message::Ping(_))) => continue,
                other => panic!("expected the echo, got {other:?}"),
            }
        }
    })
    .await;
    assert!(echo.contains("still here"), "{echo}");

    // And the room still counts it.
    let mut bob = WsClient::connect(&server.ws_url("/ws?user=bob")).await;
    assert_eq!(
        bob.recv_type("welcome").await["members"],
        json!(["idle", "bob"])
    );
}

#[tokio::test]
async fn app_level_pings_alone_keep_a_client_that_never_answers_protocol_pings() {
    let server = ServerProcess::start(BINARY, SHORT).await;
    let mut page = raw_client(&server, "page", "general").await;
    let (opcode, _) = within("welcome", read_raw_frame(&mut page))
        .await
        .expect("welcome");
    assert_eq!(opcode, TEXT);

    // Like the web page, which sends `ping` on a timer: here every 100 ms for 1.2 s,
    // three times what a silent client is allowed. This client ignores protocol pings
    // (it answers none), so only the app-level ones can keep it.
    let started = Instant::now();
    let mut every = tokio::time::interval(Duration::from_millis(100));
    let mut pongs = 0;
    while started.elapsed() < 3 * (PING_INTERVAL + PONG_TIMEOUT) {
        every.tick().await;
        write_raw_text(&mut page, r#"{"type":"ping"}"#).await;
        let (opcode, payload) = within("a pong", read_raw_frame(&mut page))
            .await
            .expect("the connection is open");
        assert_eq!(
            (opcode, String::from_utf8_lossy(&payload).as_ref()),
            (TEXT, r#"{"type":"pong"}"#),
            "every ping answered, and nothing else sent"
        );
        pongs += 1;
    }
    assert!(pongs >= 10, "{pongs} pongs");
}

/// Step 6 stops reading a client whose own outbox is half full. That silence is the
/// server's, not the client's: a client held back that way for longer than
/// `ping-interval + pong-timeout` must not be taken for dead.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_talker_held_back_by_pacing_is_not_reaped_for_the_server_s_own_silence() {
    const BURST: usize = 5000;
    /// Five times what a silent client is allowed.
    const HELD_BACK: Duration = Duration::from_secs(2);
    let server = ServerProcess::start(BINARY, SHORT).await;
    let mut bob = enter(&server, "bob", "general").await;
    let (mut hasty_says, mut hasty_hears) = split_client(&server, "hasty").await;
    bob.recv_type("joined").await;

    // hasty talks and does not listen, not even to pings, until the end of the test.
    let sender = tokio::spawn(async move {
        let padding = "x".repeat(3990);
        for n in 0..BURST {
            let frame = say(&format!("{n} {padding}")).to_string();
            hasty_says.send(Message::text(frame)).await?;
        }
        Ok::<_, tokio_tungstenite::tungstenite::Error>(hasty_says)
    });

    // bob hears hasty until the server stops reading hasty, and then hears nothing
    // for HELD_BACK: no message, and no `left` either.
    let mut heard = 0;
    while let Ok(frame) = tokio::time::timeout(HELD_BACK, bob.recv_json()).await {
        assert_ne!(
            frame["type"], "left",
            "hasty was reaped while the server was the one not listening"
        );
        assert_eq!(frame["user"], "hasty", "{frame}");
        heard += 1;
        assert!(heard < BURST, "the server read all of hasty's burst");
    }
    assert!(!sender.is_finished(), "hasty's sends were never held back");

    // hasty listens at last: every one of its messages comes back, in order, and no
    // close frame.
    let bob_listens = tokio::spawn(async move {
        while heard < BURST {
            assert_eq!(bob.recv_json().await["user"], "hasty");
            heard += 1;
        }
    });
    for n in 0..BURST {
        let frame = next_json(&mut hasty_hears).await;
        let text = frame["text"].as_str().unwrap_or_else(|| panic!("{frame}"));
        assert!(
            text.starts_with(&format!("{n} ")),
            "message {n} came as {text:.10}"
        );
    }
    let mut hasty_says = sender
        .await
        .expect("the sender ran")
        .expect("every send went through");
    bob_listens.await.expect("bob heard all of it");

    // Still a member. (bob, whom nobody reads any more, may be reaped meanwhile: his
    // `left` would come first.)
    let frame = say("was I held back?").to_string();
    hasty_says.send(Message::text(frame)).await.expect("send");
    let mut echo = next_json(&mut hasty_hears).await;
    if echo["type"] == "left" {
        echo = next_json(&mut hasty_hears).await;
    }
    assert_eq!(echo["text"], "was I held back?", "{echo}");
}

// ANCHOR: request_deadline_test
/// Before the upgrade, the heartbeat is not watching yet; `REQUEST_DEADLINE` is. A client
/// that sends half a request is answered `408` with a JSON body when the deadline comes,
/// and the connection closes; one that sends nothing is closed without an answer. A
/// WebSocket that was opened before them is still open after the deadline: once a
/// request's headers are complete, the deadline is gone.
#[tokio::test]
async fn half_a_request_is_answered_408_at_the_deadline_and_websockets_outlive_it() {
    use step_7::config::REQUEST_DEADLINE;
    use tokio::io::AsyncReadExt;

    let server = ServerProcess::start(BINARY, &[]).await;
    let mut alice = enter(&server, "alice", "general").await;
    let mut silent = TcpStream::connect(server.addr()).await.expect("connect");
    let mut slow = TcpStream::connect(server.addr()).await.expect("connect");
    slow.write_all(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: ")
        .await
        .expect("write half a request");
    let started = Instant::now();

    let mut answer = Vec::new();
    tokio::time::timeout(REQUEST_DEADLINE + SLACK, slow.read_to_end(&mut answer))
        .await
        .expect("an answer and the end of the connection, right after the deadline")
        .expect("read the answer");
    assert!(started.elapsed() + SLACK >= REQUEST_DEADLINE);
    let answer = parse_response(&answer);
    assert_eq!(answer.status, 408, "{answer:?}");
    assert!(answer.json()["error"].is_string(), "{answer:?}");

    let mut nothing = Vec::new();
    within(
        "the end of the silent connection",
        silent.read_to_end(&mut nothing),
    )
    .await
    .expect("a clean end, not a reset");
    assert_eq!(nothing, b"", "a client that sent nothing is owed no answer");

    alice.send_json(&say("still here")).await;
    assert_eq!(alice.recv_type("message").await["text"], "still here");
}
// ANCHOR_END: request_deadline_test
