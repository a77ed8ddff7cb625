//! Step 2 from the outside: the real binary, real TCP clients, as `nc` would be.

use chat_test_support::{ServerProcess, TcpClient};

const SERVER: &str = env!("CARGO_BIN_EXE_step-2");

/// Connects, answers the name prompt and waits for the welcome: once it has arrived, the
/// client is subscribed to the room and will see every later line.
async fn join(server: &ServerProcess, name: &str) -> TcpClient {
    let mut client = TcpClient::connect(server.addr()).await;
    assert_eq!(client.recv_line().await, "* what is your name?");
    client.send_line(name).await;
    assert_eq!(client.recv_line().await, format!("* welcome, {name}"));
    client
}

#[tokio::test]
async fn two_clients_chat_both_ways() {
    let server = ServerProcess::start(SERVER, &[]).await;
    let mut alice = join(&server, "alice").await;
    let mut bob = join(&server, "bob").await;
    assert_eq!(alice.recv_line().await, "* bob joined");

    alice.send_line("hi bob").await;
    assert_eq!(bob.recv_line().await, "alice: hi bob");
    bob.send_line("hello alice").await;
    assert_eq!(alice.recv_line().await, "bob: hello alice");
}

// ANCHOR: no_echo_test
#[tokio::test]
async fn a_sender_never_gets_its_own_line_back() {
    let server = ServerProcess::start(SERVER, &[]).await;
    let mut alice = join(&server, "alice").await;
    let mut bob = join(&server, "bob").await;
    assert_eq!(alice.recv_line().await, "* bob joined");

    alice.send_line("one").await;
    assert_eq!(bob.recv_line().await, "alice: one");
    // The room delivers in order, and "alice: one" was published before bob's reply
    // (bob had already received it). So if alice were echoed, she would see her own
    // line before bob's.
    bob.send_line("two").await;
    assert_eq!(alice.recv_line().await, "bob: two");
}
// ANCHOR_END: no_echo_test

#[tokio::test]
async fn an_invalid_name_is_explained_and_asked_again() {
    let server = ServerProcess::start(SERVER, &[]).await;
    let mut alice = join(&server, "alice").await;

    let mut newcomer = TcpClient::connect(server.addr()).await;
    assert_eq!(newcomer.recv_line().await, "* what is your name?");
    let rule = "* a name is 1 to 32 letters, digits, '_', '-' or '.'; try again";
    for bad in ["", "   ", "zoë smith", "zoë:", &"z".repeat(33)] {
        newcomer.send_line(bad).await;
        assert_eq!(newcomer.recv_line().await, rule, "name {bad:?}");
    }
    // Surrounding spaces are trimmed; letters outside ASCII are letters too.
    newcomer.send_line("  Zoë.2  ").await;
    assert_eq!(newcomer.recv_line().await, "* welcome, Zoë.2");

    // Nobody heard about the refused attempts: the first thing alice sees is the join.
    assert_eq!(alice.recv_line().await, "* Zoë.2 joined");
}

#[tokio::test]
async fn clients_that_leave_do_not_disturb_the_others() {
    let server = ServerProcess::start(SERVER, &[]).await;
    let mut alice = join(&server, "alice").await;
    let mut bob = join(&server, "bob").await;
    assert_eq!(alice.recv_line().await, "* bob joined");

    // carol ends her input, as `nc` does on Ctrl-D: the server says goodbye by closing.
    let mut carol = join(&server, "carol").await;
    assert_eq!(alice.recv_line().await, "* carol joined");
    assert_eq!(bob.recv_line().await, "* carol joined");
    carol.shutdown_write().await;
    assert_eq!(carol.recv_until_closed().await, Vec::<String>::new());
    assert_eq!(alice.recv_line().await, "* carol left");
    assert_eq!(bob.recv_line().await, "* carol left");

    // dave vanishes without a word, and erin before even giving a name.
    let dave = join(&server, "dave").await;
    assert_eq!(alice.recv_line().await, "* dave joined");
    assert_eq!(bob.recv_line().await, "* dave joined");
    drop(dave);
    drop(TcpClient::connect(server.addr()).await);
    assert_eq!(alice.recv_line().await, "* dave left");
    assert_eq!(bob.recv_line().await, "* dave left");

    alice.send_line("still here?").await;
    assert_eq!(bob.recv_line().await, "alice: still here?");
    bob.send_line("yes").await;
    assert_eq!(alice.recv_line().await, "bob: yes");
}

#[tokio::test]
async fn bad_lines_are_refused_to_their_sender_only() {
    let server = ServerProcess::start(SERVER, &[]).await;
    let mut alice = join(&server, "alice").await;
    let mut bob = join(&server, "bob").await;
    assert_eq!(alice.recv_line().await, "* bob joined");

    // 64 KiB without a newline for a while: the server drops it as it arrives.
    alice.send_raw(&vec![b'x'; 64 * 1024]).await;
    alice.send_raw(b"\n").await;
    assert_eq!(
        alice.recv_line().await,
        "* line too long (limit 4096 bytes); not sent"
    );
    alice.send_raw(b"caf\xe9 latin-1\n").await;
    assert_eq!(
        alice.recv_line().await,
        "* line is not valid UTF-8; not sent"
    );
    alice.send_line("   ").await; // blank: nothing to say, nothing sent

    // None of that reached bob: the next line he sees is the next good one.
    alice.send_line("  a line of exactly what I meant  ").await;
    assert_eq!(
        bob.recv_line().await,
        "alice: a line of exactly what I meant"
    );
    bob.send_line("got it").await;
    assert_eq!(alice.recv_line().await, "bob: got it");
}

#[tokio::test]
async fn a_line_split_across_writes_arrives_whole() {
    let server = ServerProcess::start(SERVER, &[]).await;
    let mut alice = join(&server, "alice").await;
    let mut bob = join(&server, "bob").await;
    assert_eq!(alice.recv_line().await, "* bob joined");

    // Three writes, and a multi-byte character cut in half: only the newline ends a line.
    alice.send_raw(b"half a ").await;
    alice.send_raw(b"caf\xc3").await;
    alice.send_raw(b"\xa9 line\r\n").await;
    assert_eq!(bob.recv_line().await, "alice: half a café line");
}

#[tokio::test]
async fn control_characters_are_shown_not_obeyed() {
    let server = ServerProcess::start(SERVER, &[]).await;
    let mut alice = join(&server, "alice").await;
    let mut bob = join(&server, "bob").await;
    assert_eq!(alice.recv_line().await, "* bob joined");

    // In bob's terminal, `\r` would go back to the start of the line and print a line
    // from carol over alice's name; the escape sequence would erase the line instead.
    alice.send_line("hi\rcarol: I owe alice $100").await;
    assert_eq!(bob.recv_line().await, "alice: hi␍carol: I owe alice $100");
    alice.send_line("gone\x1b[2K\x1b[1Gcarol: hi").await;
    assert_eq!(bob.recv_line().await, "alice: gone␛[2K␛[1Gcarol: hi");
}

// ANCHOR: paste_test
#[tokio::test]
async fn a_paste_of_a_thousand_lines_reaches_a_reader_whole() {
    let server = ServerProcess::start(SERVER, &[]).await;
    let mut alice = join(&server, "alice").await;
    let mut bob = join(&server, "bob").await;
    assert_eq!(alice.recv_line().await, "* bob joined");

    // One write, as a terminal sends a paste: the room gets a thousand lines at once,
    // faster than bob's task can pass them on. The room's capacity must hold them.
    let paste: String = (1..=1000).map(|n| format!("line {n}\n")).collect();
    alice.send_raw(paste.as_bytes()).await;
    for n in 1..=1000 {
        assert_eq!(bob.recv_line().await, format!("alice: line {n}"));
    }
}
// ANCHOR_END: paste_test
