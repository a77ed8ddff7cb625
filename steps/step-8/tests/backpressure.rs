//! Slow clients and backpressure: the rows of PROTOCOL.md marked 6, against the real
//! binary. The two flags and their environment variables; 1009 at a custom limit; a
//! client that never reads, dropped alone (and with bounded memory) while everyone else
//! goes on chatting; a client that talks without listening, slowed down rather than
//! dropped; and ids that keep one order while several clients talk at full speed.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use chat_test_support::{
    ServerProcess, WsClient, assert_help_mentions, never_reading_client, next_json, read_raw_frame,
    refused_at_startup, refused_from_flag_and_environment, split_client, within,
};
use futures_util::SinkExt;
use serde_json::{Value, json};
use tokio::sync::oneshot;
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::Message;

const BINARY: &str = env!("CARGO_BIN_EXE_step-8");

/// The server's write deadline (`writer::WRITE_DEADLINE`). A server that waited for a
/// slow client would hold the others up for about this long.
const WRITE_DEADLINE: Duration = Duration::from_secs(10);

async fn start(args: &[&str]) -> ServerProcess {
    ServerProcess::start(BINARY, args).await
}

/// Connects `user` to `room` and waits for its welcome.
async fn enter(server: &ServerProcess, user: &str, room: &str) -> WsClient {
    let url = server.ws_url(&format!("/ws?user={user}&room={room}"));
    let mut client = WsClient::connect(&url).await;
    client.recv_type("welcome").await;
    client
}

fn say(text: &str) -> Value {
    json!({"type": "message", "text": text})
}

#[tokio::test]
async fn help_names_both_limits_with_their_defaults_and_variables() {
    assert_help_mentions(
        BINARY,
        &[
            "--max-message-bytes",
            "CHAT_MAX_MESSAGE_BYTES",
            "16384",
            "--queue-capacity",
            "CHAT_QUEUE_CAPACITY",
            "256",
        ],
    )
    .await;
}

#[tokio::test]
async fn a_limit_of_zero_is_refused_at_startup_from_a_flag_or_the_environment() {
    for (flag, variable) in [
        ("--max-message-bytes", "CHAT_MAX_MESSAGE_BYTES"),
        ("--queue-capacity", "CHAT_QUEUE_CAPACITY"),
    ] {
        for stderr in refused_from_flag_and_environment(BINARY, flag, variable, "0").await {
            assert!(
                stderr.contains(flag) && stderr.contains("at least 1"),
                "{stderr}"
            );
        }
    }
    let stderr = refused_at_startup(BINARY, &["--queue-capacity", "lots"], &[]).await;
    assert!(stderr.contains("whole number"), "{stderr}");
}

/// A `message` frame of exactly `bytes` bytes.
fn frame_of_length(bytes: usize) -> String {
    let empty = say("").to_string();
    let frame = say(&"a".repeat(bytes - empty.len())).to_string();
    assert_eq!(frame.len(), bytes);
    frame
}

#[tokio::test]
async fn a_frame_over_a_custom_max_message_bytes_closes_with_1009() {
    let server = start(&["--max-message-bytes", "256"]).await;
    let mut alice = enter(&server, "alice", "general").await;
    let mut bob = enter(&server, "bob", "general").await;
    alice.recv_type("joined").await;

    // At the limit is fine.
    alice.send_text(&frame_of_length(256)).await;
    assert_eq!(bob.recv_json().await["type"], "message");
    assert_eq!(alice.recv_json().await["type"], "message");

    alice.send_text(&frame_of_length(257)).await;
    let close = alice.recv_close().await.expect("a close frame");
    assert_eq!(u16::from(close.code), 1009, "reason: {}", close.reason);
    assert!(close.reason.contains("256"), "{}", close.reason);
    assert_eq!(
        bob.recv_json().await,
        json!({"type": "left", "room": "general", "user": "alice"})
    );
}

/// The server's resident memory in bytes, from `/proc` (Linux only).
fn resident_bytes(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|line| line.starts_with("VmRSS:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_never_reads_is_dropped_alone_while_the_others_chat() {
    // 2500 messages of 12 KB: 30 MB said in `general`, many times what TCP's buffers
    // and an outbox (256 frames, here about 3 MB) can hold for a client that reads
    // nothing.
    const FLOOD: usize = 2500;
    let mut server = start(&[]).await;
    let pid = server.pid();
    let mut sloth = never_reading_client(&server, "sloth", "general").await;
    let mut bob = enter(&server, "bob", "general").await;
    let mut talker = enter(&server, "talker", "general").await;
    bob.recv_type("joined").await;
    let mut alice = enter(&server, "alice", "quiet").await;
    let mut carol = enter(&server, "carol", "quiet").await;
    alice.recv_type("joined").await;
    let before = resident_bytes(pid);
    let flood_over = Arc::new(AtomicBool::new(false));

    // bob reads all of it, and notes where sloth's `left` came.
    let (sloth_gone, when_sloth_gone) = oneshot::channel();
    let bob_listens = tokio::spawn(async move {
        let (mut ids, mut sloth_gone) = (Vec::new(), Some(sloth_gone));
        while ids.len() < FLOOD {
            let frame = bob.recv_json().await;
            match frame["type"].as_str() {
                Some("message") => ids.push(frame["id"].as_u64().expect("an id")),
                Some("left") if frame["user"] == "sloth" => {
                    if let Some(tell) = sloth_gone.take() {
                        let _ = tell.send(());
                    }
                }
                _ => panic!("bob did not expect {frame}"),
            }
        }
        (ids, sloth_gone.is_none())
    });

    // Once dropped, sloth reads at last: what was already on its way, then the reason.
    let sloth_reads = tokio::spawn(async move {
        let _ = when_sloth_gone.await;
        within("sloth to read to the end", async {
            let (mut frames, mut last) = (0, None);
            while let Some(frame) = read_raw_frame(&mut sloth).await {
                frames += 1;
                last = Some(frame);
            }
            (frames, last)
        })
        .await
    });

    // alice and carol chat in another room the whole time; the slowest round trip is
    // kept.
    let quiet_room = tokio::spawn({
        let flood_over = Arc::clone(&flood_over);
        async move {
            let (mut round_trips, mut slowest) = (0, Duration::ZERO);
            let mut pace = tokio::time::interval(Duration::from_millis(20));
            while !flood_over.load(Ordering::Relaxed) {
                pace.tick().await;
                let sent = Instant::now();
                let text = format!("ping {round_trips}");
                alice.send_json(&say(&text)).await;
                assert_eq!(carol.recv_json().await["text"], text.as_str());
                slowest = slowest.max(sent.elapsed());
                assert_eq!(alice.recv_json().await["text"], text.as_str());
                round_trips += 1;
            }
            (round_trips, slowest)
        }
    });

    // The server's memory, sampled while the flood lasts.
    let memory = tokio::spawn({
        let flood_over = Arc::clone(&flood_over);
        async move {
            let mut peak = 0;
            while !flood_over.load(Ordering::Relaxed) {
                peak = peak.max(resident_bytes(pid).unwrap_or(0));
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            peak
        }
    });

    let text = "名".repeat(4000);
    for _ in 0..FLOOD {
        talker.send_json(&say(&text)).await;
        talker.recv_type("message").await;
    }
    flood_over.store(true, Ordering::Relaxed);

    // bob missed nothing, and heard that sloth left.
    let (ids, heard_sloth_leave) = bob_listens.await.expect("bob listened");
    assert!(heard_sloth_leave, "sloth was never dropped");
    assert!(
        ids.windows(2).all(|pair| pair[1] == pair[0] + 1),
        "bob's ids have a gap"
    );
    let dropped = server.wait_for_line("dropped: could not keep up").await;
    assert!(dropped.contains("sloth"), "{dropped}");

    // sloth got part of the flood, then 1013, then the end of the connection.
    let (frames, last) = sloth_reads.await.expect("sloth read");
    assert!(frames < FLOOD, "sloth received all {frames} frames");
    let (opcode, payload) = last.expect("sloth received something");
    assert_eq!(opcode, 0x8, "the last frame is a close frame");
    assert_eq!(u16::from_be_bytes([payload[0], payload[1]]), 1013);

    // The other room never waited for sloth.
    let (round_trips, slowest) = quiet_room.await.expect("alice and carol chatted");
    assert!(round_trips > 0);
    assert!(
        slowest < WRITE_DEADLINE / 2,
        "a round trip in the quiet room took {slowest:?}"
    );

    // What the server held for sloth stayed bounded: far less than the 30 MB said.
    let peak = memory.await.expect("memory sampled");
    if let Some(before) = before {
        let grew = peak.saturating_sub(before);
        assert!(grew < 16 << 20, "the server grew by {grew} bytes");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_talks_without_listening_is_slowed_down_not_dropped() {
    // 5000 messages of 4 KB: 20 MB of copies coming back to hasty, more than TCP's
    // buffers and half an outbox hold in both directions.
    const BURST: usize = 5000;
    /// How long bob hears nothing before the test takes it that hasty is held back.
    const QUIET: Duration = Duration::from_millis(500);
    let server = start(&[]).await;
    let mut bob = enter(&server, "bob", "general").await;
    let (mut hasty_says, mut hasty_hears) = split_client(&server, "hasty").await;
    bob.recv_type("joined").await;

    let sender = tokio::spawn(async move {
        let padding = "x".repeat(3990);
        for n in 0..BURST {
            let frame = say(&format!("{n} {padding}")).to_string();
            hasty_says.send(Message::text(frame)).await?;
        }
        Ok::<_, tokio_tungstenite::tungstenite::Error>(hasty_says)
    });

    // bob hears hasty until the server stops reading from hasty.
    let mut heard = 0;
    while let Ok(frame) = tokio::time::timeout(QUIET, bob.recv_json()).await {
        assert_eq!(frame["user"], "hasty", "{frame}");
        heard += 1;
        assert!(heard < BURST, "the server read all of hasty's burst");
    }
    assert!(!sender.is_finished(), "hasty's sends were never held back");

    // bob goes on listening, and hasty listens at last: every one of its messages comes
    // back, in order, and no close frame.
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
    let _hasty_says = sender
        .await
        .expect("the sender ran")
        .expect("every send went through");
    bob_listens.await.expect("bob heard all of it");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn under_a_burst_from_several_talkers_nobody_is_dropped_and_ids_keep_one_order() {
    const TALKERS: usize = 4;
    const LISTENERS: usize = 4;
    const EACH: usize = 300;
    let server = start(&[]).await;

    let mut listeners = Vec::new();
    for n in 0..LISTENERS {
        listeners.push(enter(&server, &format!("listener{n}"), "general").await);
    }
    let mut talkers = Vec::new();
    for n in 0..TALKERS {
        talkers.push(split_client(&server, &format!("talker{n}")).await);
    }

    // Every talker sends its messages at once, without waiting for anything.
    let mut hearing = Vec::new();
    for (n, (mut says, mut hears)) in talkers.into_iter().enumerate() {
        tokio::spawn(async move {
            let padding = "é".repeat(1000);
            for seq in 0..EACH {
                let frame = say(&format!("talker{n} {seq} {padding}")).to_string();
                says.send(Message::text(frame)).await.expect("send");
            }
            // Kept open until the test ends.
            std::future::pending::<()>().await;
        });
        hearing.push(tokio::spawn(async move {
            let mut heard = Vec::new();
            while heard.len() < TALKERS * EACH {
                let frame = next_json(&mut hears).await;
                if frame["type"] == "message" {
                    heard.push(frame);
                }
            }
            heard
        }));
    }
    for mut listener in listeners {
        hearing.push(tokio::spawn(async move {
            let mut heard = Vec::new();
            while heard.len() < TALKERS * EACH {
                heard.push(listener.recv_type("message").await);
            }
            heard
        }));
    }

    let mut orders = Vec::new();
    for heard in hearing {
        let heard = heard.await.expect("a client heard everything");
        let ids: Vec<u64> = heard.iter().map(|f| f["id"].as_u64().unwrap()).collect();
        assert_eq!(ids, (1..=(TALKERS * EACH) as u64).collect::<Vec<_>>());
        // Each talker's messages arrive in the order it sent them.
        for n in 0..TALKERS {
            let prefix = format!("talker{n} ");
            let seqs: Vec<usize> = heard
                .iter()
                .filter_map(|f| f["text"].as_str()?.strip_prefix(&prefix))
                .map(|rest| rest.split(' ').next().unwrap().parse().unwrap())
                .collect();
            assert_eq!(seqs, (0..EACH).collect::<Vec<_>>(), "talker{n}");
        }
        orders.push(heard.iter().map(|f| f["text"].clone()).collect::<Vec<_>>());
    }
    assert!(
        orders.windows(2).all(|pair| pair[0] == pair[1]),
        "everyone hears one order"
    );
}
