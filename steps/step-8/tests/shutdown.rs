//! Graceful shutdown, the rows of PROTOCOL.md marked 8, against the real binary and real
//! signals: `--shutdown-grace` and its variable; `/readyz`, which says 503 from the
//! moment a shutdown begins while the process is still alive; newcomers refused; every
//! client given what was already on its way, then close code 1001; no message the
//! server accepted lost under load; the grace period honoured when a client never
//! reads; SIGINT as well as SIGTERM; and exit status 0 every time.
//!
//! Signals are a Unix thing, and so is this file.
#![cfg(unix)]

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::time::Duration;

use chat_test_support::{
    ServerProcess, Upgrade, WsClient, assert_help_mentions, http_get, never_reading_client,
    parse_response, read_raw_frame, refused_from_flag_and_environment, split_client, within,
};
use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::net::TcpStream;
use tokio::sync::oneshot;
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;

const BINARY: &str = env!("CARGO_BIN_EXE_step-8");

/// What every client hears at a shutdown (PROTOCOL.md, close codes).
const GOING_AWAY: u16 = 1001;
const GOING_AWAY_REASON: &str = "server shutting down";

async fn start(args: &[&str]) -> ServerProcess {
    ServerProcess::start(BINARY, args).await
}

/// Sends `signal` to the server process, as `kill -TERM PID` would.
fn send_signal(server: &ServerProcess, signal: libc::c_int) {
    let pid = libc::pid_t::try_from(server.pid()).expect("a pid that fits");
    // SAFETY: `kill` takes two integers and touches no memory of ours; the pid is that of
    // a child we started and have not reaped yet (`ServerProcess` owns it).
    let sent = unsafe { libc::kill(pid, signal) };
    assert_eq!(sent, 0, "kill: {}", std::io::Error::last_os_error());
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

fn assert_going_away(who: &str, close: Option<CloseFrame>) {
    let close = close.unwrap_or_else(|| panic!("{who} got no close frame"));
    assert_eq!(
        (u16::from(close.code), close.reason.as_str()),
        (GOING_AWAY, GOING_AWAY_REASON),
        "{who}'s close frame"
    );
}

#[tokio::test]
async fn help_names_the_grace_period_with_its_default_and_variable() {
    assert_help_mentions(BINARY, &["--shutdown-grace", "CHAT_SHUTDOWN_GRACE", "10s"]).await;
}

#[tokio::test]
async fn a_grace_period_that_is_not_a_positive_duration_is_refused_at_startup() {
    let (flag, variable) = ("--shutdown-grace", "CHAT_SHUTDOWN_GRACE");
    for (value, expected) in [("soon", "a number and a unit"), ("0s", "longer than 0")] {
        for stderr in refused_from_flag_and_environment(BINARY, flag, variable, value).await {
            assert!(
                stderr.contains(flag) && stderr.contains(expected),
                "{value}: {stderr}"
            );
        }
    }
}

#[tokio::test]
async fn readyz_answers_ok_while_the_server_takes_new_sessions() {
    let server = start(&[]).await;
    let ready = http_get(server.addr(), "/readyz").await;
    assert_eq!((ready.status, ready.body.as_str()), (200, "ok"));
}

/// How many messages of [`BACKLOG_TEXT`] talker says while sloth reads nothing: 4 MB,
/// far more than the kernel's buffers take for sloth, so that most of it waits in
/// sloth's outbox and sloth's writer is stuck on a full socket.
const BACKLOG: usize = 1000;
const BACKLOG_TEXT: &str = concat!(
    "A long line, said again and again until a client that does not read has a backlog. ",
    "A long line, said again and again until a client that does not read has a backlog. ",
);
/// Enough room in every outbox for the whole backlog: sloth must be stuck, not dropped.
const ROOMY: [&str; 2] = ["--queue-capacity", "8192"];

/// Starts sloth (never reading) and talker in `general`, and has talker say [`BACKLOG`]
/// messages of 4 KB, each waited for (talker's echo), so that every one of them has
/// been pushed into sloth's outbox by the time this returns. Returns sloth's socket;
/// the server's writer for sloth stays stuck while it is open and unread.
async fn stuck_sloth(server: &mut ServerProcess) -> (TcpStream, WsClient) {
    let sloth = never_reading_client(server, "sloth", "general").await;
    let mut talker = enter(server, "talker", "general").await;
    let text = BACKLOG_TEXT.repeat(4000 / BACKLOG_TEXT.len());
    for _ in 0..BACKLOG {
        talker.send_json(&say(&text)).await;
        talker.recv_type("message").await;
    }
    (sloth, talker)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn during_a_shutdown_readyz_says_503_newcomers_are_refused_and_healthz_says_ok() {
    // A long grace: the shutdown lasts as long as sloth holds it up, and the test ends
    // it by closing sloth's socket.
    let mut server = start(&[ROOMY[0], ROOMY[1], "--shutdown-grace", "60s"]).await;
    let (sloth, _talker) = stuck_sloth(&mut server).await;

    send_signal(&server, libc::SIGTERM);
    server.wait_for_line("shutting down (SIGTERM)").await;

    let ready = http_get(server.addr(), "/readyz").await;
    assert_eq!(ready.status, 503, "{}", ready.body);
    assert!(
        ready.json()["error"]
            .as_str()
            .unwrap()
            .contains("shutting down"),
        "{}",
        ready.body
    );
    let alive = http_get(server.addr(), "/healthz").await;
    assert_eq!((alive.status, alive.body.as_str()), (200, "ok"));
    let Upgrade::Refused { status, body } =
        WsClient::try_connect(&server.ws_url("/ws?user=latecomer")).await
    else {
        panic!("a new session was accepted during the shutdown");
    };
    assert_eq!(status, 503, "{body}");
    assert!(body.contains("shutting down"), "{body}");

    // sloth gives up: the last connection ends, and so does the server, with 0.
    drop(sloth);
    server.wait_for_line("every connection closed").await;
    assert_eq!(server.wait_for_exit().await, Some(0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_behind_gets_its_whole_backlog_then_1001() {
    let mut server = start(&ROOMY).await;
    let (mut sloth, mut talker) = stuck_sloth(&mut server).await;
    let mut bob = enter(&server, "bob", "quiet").await;

    send_signal(&server, libc::SIGTERM);
    server.wait_for_line("shutting down").await;
    assert_going_away("bob", bob.recv_close().await);
    assert_going_away("talker", talker.recv_close().await);

    // sloth reads at last: everything talker said, in order, then the close frame.
    let (messages, close) = within("sloth to read its backlog", async {
        let mut messages = 0;
        loop {
            match read_raw_frame(&mut sloth).await {
                Some((0x1, json)) => {
                    let frame: Value = serde_json::from_slice(&json).expect("JSON");
                    if frame["type"] == "message" {
                        messages += 1;
                        assert_eq!(frame["id"], messages, "in order, none missing");
                    }
                }
                Some((0x8, payload)) => return (messages, Some(payload)),
                Some((opcode, _)) => panic!("sloth got a frame with opcode {opcode}"),
                None => return (messages, None),
            }
        }
    })
    .await;
    assert_eq!(messages, BACKLOG, "sloth's backlog, all of it");
    let payload = close.expect("a close frame after the backlog");
    assert_eq!(u16::from_be_bytes([payload[0], payload[1]]), GOING_AWAY);
    assert_eq!(&payload[2..], GOING_AWAY_REASON.as_bytes());

    drop(sloth);
    assert_eq!(server.wait_for_exit().await, Some(0));
}

/// One member of the load test: what it received until its close frame.
struct Heard {
    user: String,
    /// The texts of every chat message received, in order, with their ids.
    messages: Vec<(u64, String)>,
    close: Option<CloseFrame>,
}

type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// Joins `general` as `user` and waits for the welcome.
async fn join_general(server: SocketAddr, user: &str) -> Socket {
    let url = format!("ws://{server}/ws?user={user}&room=general");
    let (mut socket, _) = within("a handshake", tokio_tungstenite::connect_async(url))
        .await
        .expect("connect");
    let welcome = within("the welcome", socket.next()).await;
    assert!(matches!(welcome, Some(Ok(Message::Text(_)))), "{welcome:?}");
    socket
}

/// Keeps saying `"{user} {n}"` for n = 0, 1, ... as fast as the server takes it, while
/// reading everything, until the server closes the connection. Reports on `warmed_up`
/// once 20 of its own messages have come back.
async fn chatter(socket: Socket, user: String, warmed_up: oneshot::Sender<()>) -> Heard {
    let (mut sink, mut stream) = socket.split();
    let talking = tokio::spawn({
        let user = user.clone();
        async move {
            // Bounded: the server closes long before, and a send after its close fails.
            for n in 0..1_000_000 {
                let text = say(&format!("{user} {n}")).to_string();
                if sink.send(Message::text(text)).await.is_err() {
                    return;
                }
            }
        }
    });
    let mut heard = Heard {
        user: user.clone(),
        messages: Vec::new(),
        close: None,
    };
    let (mut echoes, mut warmed_up) = (0, Some(warmed_up));
    within("the server's close frame", async {
        while let Some(frame) = stream.next().await {
            match frame {
                Ok(Message::Text(json)) => {
                    let frame: Value = serde_json::from_str(&json).expect("JSON");
                    if frame["type"] != "message" {
                        continue;
                    }
                    let text = frame["text"].as_str().expect("text").to_string();
                    if frame["user"] == user.as_str() {
                        echoes += 1;
                        if echoes == 20 {
                            let _ = warmed_up.take().map(|tell| tell.send(()));
                        }
                    }
                    heard
                        .messages
                        .push((frame["id"].as_u64().expect("an id"), text));
                }
                Ok(Message::Close(close)) => {
                    heard.close = close;
                    break;
                }
                Ok(_) => {}
                Err(error) => panic!("{user}: {error}"),
            }
        }
    })
    .await;
    talking.abort();
    heard
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_under_load_loses_no_message_the_server_accepted() {
    const MEMBERS: usize = 4;
    // Four clients flood the room while sharing this process's two threads, so now and
    // then one reads more slowly than the other three talk. With the default outbox it
    // would fall a whole outbox behind and be dropped with 1013, as step 6 intends; with
    // a roomy one every chatter stays a member, and the test is about the shutdown.
    let mut server = start(&ROOMY).await;
    // Everyone is in the room before anyone speaks, so everyone should hear everything.
    let mut sockets = Vec::new();
    for n in 0..MEMBERS {
        sockets.push(join_general(server.addr(), &format!("chatter{n}")).await);
    }
    let (mut chatters, mut warm) = (Vec::new(), Vec::new());
    for (n, socket) in sockets.into_iter().enumerate() {
        let (tell, warmed_up) = oneshot::channel();
        chatters.push(chatter(socket, format!("chatter{n}"), tell));
        warm.push(warmed_up);
    }
    let everyone = futures_util::future::join_all(chatters);
    tokio::pin!(everyone);
    // The signal goes once every member has had 20 of its messages back, while all of
    // them keep talking.
    let warmed_up = async {
        for warmed_up in warm {
            within("20 echoes for each member", warmed_up)
                .await
                .expect("warmed up");
        }
    };
    let heard = tokio::select! {
        heard = &mut everyone => panic!("the chat ended before the signal: {} closed", heard.len()),
        () = warmed_up => {
            send_signal(&server, libc::SIGTERM);
            everyone.await
        }
    };

    // What the server accepted: every message that came back to its author.
    let accepted: BTreeSet<&str> = heard
        .iter()
        .flat_map(|member| {
            let mine = format!("{} ", member.user);
            member
                .messages
                .iter()
                .map(|(_, text)| text.as_str())
                .filter(move |text| text.starts_with(&mine))
        })
        .collect();
    assert!(accepted.len() >= 20 * MEMBERS);
    for member in &heard {
        assert_going_away(&member.user, member.close.clone());
        let ids: Vec<u64> = member.messages.iter().map(|(id, _)| *id).collect();
        assert!(
            ids.windows(2).all(|pair| pair[0] < pair[1]),
            "{}: ids out of order",
            member.user
        );
        let received: BTreeSet<&str> = member.messages.iter().map(|(_, t)| t.as_str()).collect();
        let missing: Vec<&&str> = accepted.difference(&received).collect();
        assert!(
            missing.is_empty(),
            "{} never received {} accepted messages, e.g. {:?}",
            member.user,
            missing.len(),
            missing.first()
        );
    }
    assert_eq!(server.wait_for_exit().await, Some(0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_server_exits_within_the_grace_period_when_a_client_never_reads() {
    const GRACE: Duration = Duration::from_secs(2);
    let mut server = start(&[ROOMY[0], ROOMY[1], "--shutdown-grace", "2s"]).await;
    let (_sloth, mut talker) = stuck_sloth(&mut server).await;

    let signalled = Instant::now();
    send_signal(&server, libc::SIGTERM);
    // Everyone who reads is told at once; sloth holds up only the exit, and only until
    // the grace period is over.
    assert_going_away("talker", talker.recv_close().await);
    let still_open = server.wait_for_line("still open after").await;
    assert!(still_open.contains("connections=1"), "{still_open}");
    assert_eq!(server.wait_for_exit().await, Some(0));
    let took = signalled.elapsed();
    assert!(
        took >= GRACE && took < GRACE + Duration::from_secs(3),
        "exited {took:?} after the signal, with a grace period of {GRACE:?}"
    );
}

#[tokio::test]
async fn sigint_shuts_down_the_same_way() {
    let mut server = start(&[]).await;
    let mut alice = enter(&server, "alice", "general").await;
    let mut bob = enter(&server, "bob", "rust").await;
    send_signal(&server, libc::SIGINT);
    server.wait_for_line("shutting down (SIGINT)").await;
    assert_going_away("alice", alice.recv_close().await);
    assert_going_away("bob", bob.recv_close().await);
    assert_eq!(server.wait_for_exit().await, Some(0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_signal_stops_the_wait_at_once() {
    let mut server = start(&[ROOMY[0], ROOMY[1], "--shutdown-grace", "1h"]).await;
    let (_sloth, _talker) = stuck_sloth(&mut server).await;
    send_signal(&server, libc::SIGTERM);
    server.wait_for_line("shutting down").await;
    send_signal(&server, libc::SIGINT);
    server.wait_for_line("SIGINT during the shutdown").await;
    // An hour of grace, and the server is gone within `wait_for_exit`'s few seconds.
    assert_eq!(server.wait_for_exit().await, Some(0));
}

/// A client that is still talking after the server wrote its 1001 has not read the 1001
/// yet: the server goes on reading (and dropping) what it says, for longer than
/// `CLOSE_ANSWER`'s second of quiet, until the client answers. Closing the socket while
/// it still talked would reset the connection, and the 1001 would be lost to it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_talks_on_after_the_1001_is_waited_for_and_gets_it() {
    // Longer than CLOSE_ANSWER, in steps shorter than it.
    const TALKING: usize = 25;
    const PAUSE: Duration = Duration::from_millis(100);
    let mut server = start(&[]).await;
    let (mut says, mut hears) = split_client(&server, "chatty").await;

    send_signal(&server, libc::SIGTERM);
    // chatty does not read: the 1001 waits, unread, in its socket.
    for n in 0..TALKING {
        let text = say(&format!("still talking {n}")).to_string();
        within("a frame to be sent", says.send(Message::text(text)))
            .await
            .expect("the server is still reading");
        tokio::time::sleep(PAUSE).await;
    }
    within(
        "the close frame to be sent",
        says.send(Message::Close(None)),
    )
    .await
    .expect("the server is still reading");

    // Now it reads: what it said after the seal gets no echo, and then comes the 1001.
    let close = within("the server's close frame", async {
        loop {
            match hears.next().await {
                Some(Ok(Message::Close(close))) => return close,
                Some(Ok(_)) => continue,
                other => panic!("expected the server's close frame, got {other:?}"),
            }
        }
    })
    .await;
    assert_going_away("chatty", close);
    assert_eq!(server.wait_for_exit().await, Some(0));
}

/// A request that is still arriving when axum's graceful shutdown starts would hold the
/// exit until its own deadline: it is answered 503 at once instead, and the server exits
/// long before `REQUEST_DEADLINE`, with the default grace period of 10 seconds.
#[tokio::test]
async fn a_request_still_arriving_at_the_shutdown_is_answered_503_and_does_not_hold_the_exit() {
    use step_8::config::REQUEST_DEADLINE;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    let mut server = start(&[]).await;
    let mut slow = TcpStream::connect(server.addr()).await.expect("connect");
    slow.write_all(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: ")
        .await
        .expect("write half a request");
    // The server takes connections in the order they arrived, so once a request on a
    // later connection is answered, this one has been accepted: the signal must find it
    // open in the server, not still waiting in the kernel's queue.
    assert_eq!(http_get(server.addr(), "/healthz").await.status, 200);
    let signalled = Instant::now();
    send_signal(&server, libc::SIGTERM);
    server.wait_for_line("shutting down").await;

    let mut answer = Vec::new();
    within(
        "the 503 and the end of the connection",
        slow.read_to_end(&mut answer),
    )
    .await
    .expect("read the answer");
    let answer = parse_response(&answer);
    assert_eq!(answer.status, 503, "{answer:?}");
    assert_eq!(answer.json()["error"], GOING_AWAY_REASON, "{answer:?}");
    assert_eq!(server.wait_for_exit().await, Some(0));
    let took = signalled.elapsed();
    assert!(
        took < REQUEST_DEADLINE / 2,
        "exited {took:?} after the signal: the half request held the exit"
    );
}
