//! The spec of `relay`: a real TCP server in this test's runtime, real TCP clients.

use chat_test_support::TcpClient;
use ex_2_connection_loop::serve;
use std::net::SocketAddr;
use tokio::net::TcpListener;

/// Starts the chat on a free port; the server lives as long as the test's runtime.
async fn start(capacity: usize) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("local addr");
    tokio::spawn(serve(listener, capacity));
    addr
}

/// Connects and sends the name; once the welcome arrives the client is in the room.
async fn join(addr: SocketAddr, name: &str) -> TcpClient {
    let mut client = TcpClient::connect(addr).await;
    client.send_line(name).await;
    assert_eq!(client.recv_line().await, format!("* welcome, {name}"));
    client
}

/// alice and bob in the room, alice having seen bob arrive.
async fn alice_and_bob(addr: SocketAddr) -> (TcpClient, TcpClient) {
    let mut alice = join(addr, "alice").await;
    let bob = join(addr, "bob").await;
    assert_eq!(alice.recv_line().await, "* bob joined");
    (alice, bob)
}

#[tokio::test]
async fn lines_go_both_ways_as_name_colon_text() {
    let addr = start(16).await;
    let (mut alice, mut bob) = alice_and_bob(addr).await;

    alice.send_line("hi bob").await;
    assert_eq!(bob.recv_line().await, "alice: hi bob");
    bob.send_line("hi alice").await;
    assert_eq!(alice.recv_line().await, "bob: hi alice");
}

#[tokio::test]
async fn nobody_gets_their_own_line_back() {
    let addr = start(16).await;
    let (mut alice, mut bob) = alice_and_bob(addr).await;

    alice.send_line("one").await;
    assert_eq!(bob.recv_line().await, "alice: one");
    // "alice: one" entered the room before "bob: two", and the room keeps order: if
    // alice got her own line back, it would be the next thing she reads.
    bob.send_line("two").await;
    assert_eq!(alice.recv_line().await, "bob: two");
}

#[tokio::test]
async fn text_is_trimmed_and_blank_lines_are_not_sent() {
    let addr = start(16).await;
    let (mut alice, mut bob) = alice_and_bob(addr).await;

    alice.send_line("").await;
    alice.send_line("   ").await;
    alice.send_line("  spaced out  ").await;
    assert_eq!(bob.recv_line().await, "alice: spaced out");
}

#[tokio::test]
async fn a_client_that_ends_its_input_leaves_the_room() {
    let addr = start(16).await;
    let (mut alice, mut bob) = alice_and_bob(addr).await;

    alice.shutdown_write().await; // what `nc -N` does at Ctrl-D
    assert_eq!(alice.recv_until_closed().await, Vec::<String>::new());
    assert_eq!(bob.recv_line().await, "* alice left");

    // The room goes on without her.
    let mut carol = join(addr, "carol").await;
    assert_eq!(bob.recv_line().await, "* carol joined");
    carol.send_line("hello?").await;
    assert_eq!(bob.recv_line().await, "carol: hello?");
}

#[tokio::test]
async fn a_member_that_falls_behind_is_told_how_many_it_missed() {
    // A room that keeps only 4 lines. This test's runtime has one thread, shared by the
    // test and the server: while alice's connection task relays her 20 lines (they all
    // arrive in one read), bob's task cannot run, so bob falls 16 behind.
    let addr = start(4).await;
    let (mut alice, mut bob) = alice_and_bob(addr).await;

    let burst: String = (1..=20).map(|n| format!("line {n}\n")).collect();
    alice.send_raw(burst.as_bytes()).await;

    let notice = bob.recv_line().await;
    let missed = notice
        .strip_prefix("* you missed ")
        .and_then(|rest| rest.strip_suffix(" messages"))
        .unwrap_or_else(|| panic!("expected `* you missed N messages`, got {notice:?}"));
    let missed: u64 = missed.parse().expect("N is a number");
    assert_eq!(missed, 16);
    // After the notice, bob goes on with what the room still holds.
    for n in 17..=20 {
        assert_eq!(bob.recv_line().await, format!("alice: line {n}"));
    }
    bob.send_line("sorry, I was away").await;
    // alice's own inbox overflowed too (with her own lines, which she skips), so she
    // may have been told she missed some: skip those notices, bob's line must follow.
    for _ in 0..=20 {
        let line = alice.recv_line().await;
        if line == "bob: sorry, I was away" {
            return;
        }
        assert!(line.starts_with("* you missed "), "alice got {line:?}");
    }
    panic!("bob's line never reached alice");
}
