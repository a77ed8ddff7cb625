//! The web client in a real headless Chromium, driven over WebDriver.
//!
//! Step 4's tests rely only on the page contract of PROTOCOL.md ("The web client"):
//! `?user=` skips the name form, the message box is a textbox named "Message", Enter
//! sends, and message text is shown as text. Step 5 adds `&room=`, and this page's own
//! controls: a member list named "Members" and a room field labelled "Go to room". Step 6
//! adds reconnecting by itself after the server closes the connection; step 7, noticing
//! a server that stopped answering; step 8, coming back after a restart on the same
//! port.
//! Without Chromium these tests print `SKIPPED` and pass; CI sets
//! `CHAT_REQUIRE_BROWSER=1` so that there they must run.

use std::collections::HashMap;
use std::time::Duration;

use chat_test_support::browser::{Browser, Key, Page};
use chat_test_support::{ServerProcess, WsClient, within};
use serde_json::{Value, json};
use tokio::process::Command;
use tokio::time::Instant;

/// A running step-8 server, plus a protocol-level watcher in each room the test uses:
/// the watcher hears `joined` once the server has subscribed a browser user, so nothing
/// sent afterwards can miss that user.
struct Chat {
    server: ServerProcess,
    watchers: HashMap<String, WsClient>,
}

impl Chat {
    async fn start() -> Chat {
        Chat::start_with(&[]).await
    }

    /// A server started with `args` on top of `--addr`.
    async fn start_with(args: &[&str]) -> Chat {
        let server = ServerProcess::start(env!("CARGO_BIN_EXE_step-8"), args).await;
        Chat {
            server,
            watchers: HashMap::new(),
        }
    }

    /// The watcher of `room`, connected on first use.
    async fn watcher(&mut self, room: &str) -> &mut WsClient {
        if !self.watchers.contains_key(room) {
            let url = self.server.ws_url(&format!("/ws?user=watcher&room={room}"));
            let mut watcher = WsClient::connect(&url).await;
            watcher.recv_type("welcome").await;
            self.watchers.insert(room.to_string(), watcher);
        }
        self.watchers.get_mut(room).expect("just inserted")
    }

    /// Waits until the watcher of `room` hears that `user` joined it.
    async fn wait_for_join(&mut self, room: &str, user: &str) {
        let watcher = self.watcher(room).await;
        while watcher.recv_type("joined").await["user"] != user {}
    }

    /// Opens the page as `user` in `room` and returns once that user can send and
    /// receive there.
    async fn open_as(&mut self, browser: &Browser, user: &str, room: &str) -> Page {
        self.watcher(room).await;
        let page = browser
            .open(&format!(
                "http://{}/?user={user}&room={room}",
                self.server.addr()
            ))
            .await;
        self.wait_for_join(room, user).await;
        page.message_box().await;
        page
    }

    /// A WebSocket user in `room` (after its welcome).
    async fn connect(&self, user: &str, room: &str) -> WsClient {
        let url = self.server.ws_url(&format!("/ws?user={user}&room={room}"));
        let mut client = WsClient::connect(&url).await;
        client.recv_type("welcome").await;
        client
    }
}

/// The names the page lists under "Members", in order.
async fn members(page: &Page) -> Value {
    page.execute(
        "const list = document.querySelector('[aria-label=\"Members\"]');
         return [...list.querySelectorAll('li')].map((item) => item.textContent);",
        vec![],
    )
    .await
}

/// Presses Tab until `script` (a function body returning the wanted element) names the
/// focused element; fails after 20 presses.
async fn tab_to(page: &Page, what: &str, script: &str) {
    let is_focused = format!(
        "const wanted = (() => {{ {script} }})(); return wanted === document.activeElement;"
    );
    for _ in 0..20 {
        if page.execute(&is_focused, vec![]).await == json!(true) {
            return;
        }
        page.press_keys(&Key::Tab).await;
    }
    panic!("20 presses of Tab never reached {what}");
}

/// The room field of the switcher, found by its label as a user would.
const ROOM_FIELD: &str = "const label = [...document.querySelectorAll('label')]
        .find((l) => l.textContent.trim() === 'Go to room' && l.offsetParent !== null);
    return label ? document.getElementById(label.htmlFor) : null;";

#[tokio::test]
async fn two_browsers_chat_both_ways() {
    let Some(browser) = Browser::start_or_skip("two_browsers_chat_both_ways").await else {
        return;
    };
    let mut chat = Chat::start().await;
    let alice = chat.open_as(&browser, "alice", "rust").await;
    let bob = chat.open_as(&browser, "bob", "rust").await;

    alice.send_message("hello bob, it's alice").await;
    bob.wait_for_text("hello bob, it's alice").await;
    // The sender sees its own message too: the server echoes it back with its id.
    alice.wait_for_text("hello bob, it's alice").await;

    bob.send_message("hi alice, bob here").await;
    alice.wait_for_text("hi alice, bob here").await;
    bob.wait_for_text("hi alice, bob here").await;
}

#[tokio::test]
async fn hostile_text_is_shown_literally_and_runs_nothing() {
    let Some(browser) =
        Browser::start_or_skip("hostile_text_is_shown_literally_and_runs_nothing").await
    else {
        return;
    };
    let mut chat = Chat::start().await;
    let mallory = chat.open_as(&browser, "mallory", "general").await;
    let bob = chat.open_as(&browser, "bob", "general").await;

    let image = r#"<img src=x onerror="document.title='pwned'">"#;
    let bold = "<b>bold</b>";
    mallory.send_message(image).await;
    mallory.send_message(bold).await;
    bob.wait_for_text(image).await;
    bob.wait_for_text(bold).await;
    // Had an <img> been created, its request for /x would fail and its handler would run
    // by the time a later message has made the round trip.
    mallory.send_message("that was all").await;
    bob.wait_for_text("that was all").await;

    for (who, page) in [("bob", &bob), ("mallory", &mallory)] {
        let injected = page
            .execute(
                "return {
                    images: document.querySelectorAll('img').length,
                    handlers: document.querySelectorAll('[onerror]').length,
                    bold: [...document.querySelectorAll('b')]
                        .filter((b) => b.textContent === 'bold').length,
                    fetchedX: performance.getEntriesByType('resource')
                        .some((r) => new URL(r.name).pathname === '/x'),
                };",
                vec![],
            )
            .await;
        assert_eq!(
            injected,
            json!({ "images": 0, "handlers": 0, "bold": 0, "fetchedX": false }),
            "{who}'s page turned message text into markup"
        );
        assert!(
            !page.title().await.contains("pwned"),
            "{who}'s page ran the message's script"
        );
    }
}

#[tokio::test]
async fn the_message_box_is_reachable_and_usable_by_keyboard() {
    let Some(browser) =
        Browser::start_or_skip("the_message_box_is_reachable_and_usable_by_keyboard").await
    else {
        return;
    };
    let mut chat = Chat::start().await;
    let alice = chat.open_as(&browser, "alice", "general").await;
    let message_box = alice.message_box().await;

    // Start from nowhere, as after a click on empty space, and move only with Tab.
    alice
        .execute(
            "document.activeElement && document.activeElement.blur();",
            vec![],
        )
        .await;
    let mut tabs = 0;
    while !alice.is_focused(&message_box).await {
        assert!(
            tabs < 20,
            "20 presses of Tab never reached the Message textbox"
        );
        alice.press_keys(&Key::Tab).await;
        tabs += 1;
    }

    alice.press_keys("typed, never clicked").await;
    alice.press_keys(&Key::Enter).await;
    let message = chat.watcher("general").await.recv_type("message").await;
    assert_eq!(
        (message["user"].as_str(), message["text"].as_str()),
        (Some("alice"), Some("typed, never clicked"))
    );
    alice.wait_for_text("typed, never clicked").await;
}

#[tokio::test]
async fn rooms_are_isolated_in_the_page() {
    let Some(browser) = Browser::start_or_skip("rooms_are_isolated_in_the_page").await else {
        return;
    };
    let mut chat = Chat::start().await;
    let alice = chat.open_as(&browser, "alice", "rust").await;
    let carol = chat.open_as(&browser, "carol", "rust").await;
    let bob = chat.open_as(&browser, "bob", "general").await;

    alice.send_message("a plan for rust only").await;
    carol.wait_for_text("a plan for rust only").await;

    // Something said in general after alice's message: once bob sees it, alice's
    // message would have reached him first, had it leaked.
    let general = chat.watcher("general").await;
    general
        .send_json(&json!({"type": "message", "text": "meanwhile in general"}))
        .await;
    bob.wait_for_text("meanwhile in general").await;
    let seen_by_bob = bob.text().await;
    assert!(
        !seen_by_bob.contains("a plan for rust only"),
        "{seen_by_bob}"
    );
    assert!(!seen_by_bob.contains("alice"), "{seen_by_bob}");
    assert_eq!(members(&bob).await, json!(["watcher", "bob"]));
    assert!(!carol.text().await.contains("meanwhile in general"));
}

#[tokio::test]
async fn the_member_list_follows_joins_and_leaves() {
    let Some(browser) = Browser::start_or_skip("the_member_list_follows_joins_and_leaves").await
    else {
        return;
    };
    let mut chat = Chat::start().await;
    let alice = chat.open_as(&browser, "alice", "rust").await;
    assert_eq!(members(&alice).await, json!(["watcher", "alice"]));

    let bob = chat.connect("bob", "rust").await;
    alice.wait_for_text("bob joined.").await;
    assert_eq!(members(&alice).await, json!(["watcher", "alice", "bob"]));

    let _carol = chat.connect("carol", "rust").await;
    alice.wait_for_text("carol joined.").await;
    // Someone in another room changes nothing here.
    let _dave = chat.connect("dave", "general").await;
    bob.close().await;
    alice.wait_for_text("bob left.").await;
    assert_eq!(members(&alice).await, json!(["watcher", "alice", "carol"]));
    assert!(!alice.text().await.contains("dave"));
}

#[tokio::test]
async fn switching_rooms_with_the_keyboard_alone() {
    let Some(browser) = Browser::start_or_skip("switching_rooms_with_the_keyboard_alone").await
    else {
        return;
    };
    let mut chat = Chat::start().await;
    chat.watcher("rust").await;
    let alice = chat.open_as(&browser, "alice", "general").await;

    alice
        .execute(
            "document.activeElement && document.activeElement.blur();",
            vec![],
        )
        .await;
    tab_to(&alice, "the \"Go to room\" field", ROOM_FIELD).await;
    alice.press_keys("rust").await;
    alice.press_keys(&Key::Enter).await;

    chat.wait_for_join("rust", "alice").await;
    assert_eq!(
        chat.watcher("general").await.recv_type("left").await["user"],
        "alice"
    );
    alice.wait_for_text("You joined #rust as alice.").await;
    assert_eq!(members(&alice).await, json!(["watcher", "alice"]));

    // After a switch the focus is back in the message box: type and press Enter.
    alice.press_keys("hello rust").await;
    alice.press_keys(&Key::Enter).await;
    let message = chat.watcher("rust").await.recv_type("message").await;
    assert_eq!(
        (
            message["room"].as_str(),
            message["user"].as_str(),
            message["text"].as_str()
        ),
        (Some("rust"), Some("alice"), Some("hello rust"))
    );
    // The address now names the room, so a reload comes back to it.
    let search = alice.execute("return location.search;", vec![]).await;
    assert_eq!(search, json!("?user=alice&room=rust"));
}

#[tokio::test]
async fn a_refused_join_is_shown_and_the_page_stays_in_its_room() {
    let Some(browser) =
        Browser::start_or_skip("a_refused_join_is_shown_and_the_page_stays_in_its_room").await
    else {
        return;
    };
    let mut chat = Chat::start().await;
    let _other_alice = chat.connect("alice", "rust").await;
    let alice = chat.open_as(&browser, "alice", "general").await;

    for (room, code) in [("Not A Room", "bad_room"), ("rust", "name_taken")] {
        tab_to(&alice, "the \"Go to room\" field", ROOM_FIELD).await;
        alice.press_keys(room).await;
        alice.press_keys(&Key::Enter).await;
        alice.wait_for_text(&format!("Refused ({code})")).await;
    }
    // Still in general, and still chatting there.
    alice.send_message("still in general").await;
    let message = chat.watcher("general").await.recv_type("message").await;
    assert_eq!(message["text"], "still in general");
    let heading = alice
        .execute("return document.querySelector('h1').textContent;", vec![])
        .await;
    assert_eq!(heading, json!("Chat: #general"));
}

#[tokio::test]
async fn after_the_server_closes_it_the_page_says_why_and_reconnects_by_itself() {
    let Some(browser) = Browser::start_or_skip(
        "after_the_server_closes_it_the_page_says_why_and_reconnects_by_itself",
    )
    .await
    else {
        return;
    };
    // A limit of 64 bytes: a message of 100 characters is over it, "back again" is not.
    let mut chat = Chat::start_with(&["--max-message-bytes", "64"]).await;
    let alice = chat.open_as(&browser, "alice", "general").await;

    alice.send_message(&"x".repeat(100)).await;
    // The server closes the connection with 1009; the page says so in the conversation
    // and, without anyone pressing a button, comes back.
    alice
        .wait_for_text("Disconnected (code 1009: message too big")
        .await;
    assert_eq!(
        chat.watcher("general").await.recv_type("left").await["user"],
        "alice"
    );
    chat.wait_for_join("general", "alice").await;
    alice.wait_for_text("Connected as alice in #general").await;
    alice.send_message("back again").await;
    let message = chat.watcher("general").await.recv_type("message").await;
    assert_eq!(
        (message["user"].as_str(), message["text"].as_str()),
        (Some("alice"), Some("back again"))
    );

    // With the server gone, the page keeps trying, and says when it will next.
    drop(chat);
    alice
        .wait_for_text("Disconnected (connection lost or refused). Reconnecting in")
        .await;
}

/// Sends `signal` (`STOP`, `CONT`) to the process `pid`, with the system's `kill`.
async fn signal(pid: u32, signal: &str) {
    let status = within(
        "kill",
        Command::new("kill")
            .arg(format!("-{signal}"))
            .arg(pid.to_string())
            .status(),
    )
    .await
    .expect("run kill");
    assert!(status.success(), "kill -{signal} {pid}");
}

/// Like `Page::wait_for_text`, for a wait that is longer than its bound by design:
/// polls the page's text until it holds `needle`, for at most `bound`.
async fn wait_longer_for_text(page: &Page, needle: &str, bound: Duration) {
    let deadline = Instant::now() + bound;
    loop {
        let text = page.text().await;
        if text.contains(needle) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "the page never showed {needle:?} within {bound:?}; it shows:\n{text}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn a_server_that_stops_answering_is_noticed_and_the_page_returns_when_it_answers() {
    let Some(browser) = Browser::start_or_skip(
        "a_server_that_stops_answering_is_noticed_and_the_page_returns_when_it_answers",
    )
    .await
    else {
        return;
    };
    let mut chat = Chat::start().await;
    let alice = chat.open_as(&browser, "alice", "general").await;

    // Freeze the server, as a crashed machine or a lost network would look from the
    // page: the connection stays open, and nothing comes through it, not even a close.
    // The page pings after 5 s of silence and gives up 3 s later.
    let pid = chat.server.pid();
    signal(pid, "STOP").await;
    wait_longer_for_text(
        &alice,
        "Disconnected (no answer from the server for 8 s). Reconnecting in",
        Duration::from_secs(20),
    )
    .await;

    // The server comes back: the page's next attempt gets through, by itself.
    signal(pid, "CONT").await;
    chat.wait_for_join("general", "alice").await;
    alice.wait_for_text("Connected as alice in #general").await;
    alice.send_message("back again").await;
    let message = chat.watcher("general").await.recv_type("message").await;
    assert_eq!(
        (message["user"].as_str(), message["text"].as_str()),
        (Some("alice"), Some("back again"))
    );
}

/// Starts the server on `addr` exactly, the port a page is trying to come back to
/// (`ServerProcess::start` always asks for a free port). Killed when dropped; its output
/// is read and thrown away after the `listening on` line, so it can never block.
async fn start_on(addr: std::net::SocketAddr) -> tokio::process::Child {
    use tokio::io::AsyncBufReadExt;
    let mut child = Command::new(env!("CARGO_BIN_EXE_step-8"))
        .args(["--addr", &addr.to_string()])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("start the server again");
    let stdout = child.stdout.take().expect("piped stdout");
    let mut lines = tokio::io::BufReader::new(stdout).lines();
    let listening = within("the restarted server's listening line", async {
        while let Some(line) = lines.next_line().await.expect("read stdout") {
            if let Some(bound) = chat_test_support::parse_listening_line(&line) {
                return bound;
            }
        }
        panic!("the restarted server exited before listening");
    })
    .await;
    assert_eq!(listening, addr);
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    child
}

#[tokio::test]
async fn after_a_restart_on_the_same_port_the_page_comes_back_and_chats_again() {
    let Some(browser) = Browser::start_or_skip(
        "after_a_restart_on_the_same_port_the_page_comes_back_and_chats_again",
    )
    .await
    else {
        return;
    };
    let mut chat = Chat::start().await;
    let addr = chat.server.addr();
    let alice = chat.open_as(&browser, "alice", "general").await;

    // SIGTERM, as a deployment sends it: the page says why, and plans to come back.
    signal(chat.server.pid(), "TERM").await;
    alice
        .wait_for_text("Server restarting (code 1001: server shutting down). Reconnecting in")
        .await;
    let mut watcher = chat.watchers.remove("general").expect("the watcher");
    watcher.recv_close().await;
    drop(watcher);
    assert_eq!(chat.server.wait_for_exit().await, Some(0));

    // A new server on the same port; nobody touches the page.
    let _restarted = start_on(addr).await;
    let url = format!("ws://{addr}/ws?user=watcher&room=general");
    let mut watcher = WsClient::connect(&url).await;
    // The page may be back before the watcher, or after it.
    let welcome = watcher.recv_type("welcome").await;
    if !welcome["members"]
        .as_array()
        .unwrap()
        .contains(&json!("alice"))
    {
        while watcher.recv_type("joined").await["user"] != "alice" {}
    }
    alice.wait_for_text("Connected as alice in #general").await;
    alice.send_message("back after the restart").await;
    let message = watcher.recv_type("message").await;
    assert_eq!(
        (message["user"].as_str(), message["text"].as_str()),
        (Some("alice"), Some("back after the restart"))
    );
}
