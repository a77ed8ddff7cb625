//! The web client in a real headless Chromium, driven over WebDriver.
//!
//! These tests rely only on the page contract of PROTOCOL.md ("The web client"): `?user=`
//! skips the name form, the message box is a textbox named "Message", Enter sends, and
//! message text is shown as text. Without Chromium they print `SKIPPED` and pass; CI sets
//! `CHAT_REQUIRE_BROWSER=1` so that there they must run.

use chat_test_support::browser::{Browser, Key, Page};
use chat_test_support::{ServerProcess, WsClient};
use serde_json::json;

/// A running step-4 server, plus a protocol-level watcher in its room: the watcher hears
/// `joined` once the server has subscribed a browser user, so nothing sent afterwards can
/// miss that user. (The page's own "connected" state comes a moment earlier, when the
/// upgrade is answered, before the server has registered the member.)
struct Chat {
    server: ServerProcess,
    watcher: WsClient,
}

impl Chat {
    async fn start() -> Chat {
        let server = ServerProcess::start(env!("CARGO_BIN_EXE_step-4"), &[]).await;
        let mut watcher = WsClient::connect(&server.ws_url("/ws?user=watcher")).await;
        watcher.recv_type("welcome").await;
        Chat { server, watcher }
    }

    /// Opens the page as `user` and returns once that user can send and receive.
    async fn open_as(&mut self, browser: &Browser, user: &str) -> Page {
        let page = browser
            .open(&format!("http://{}/?user={user}", self.server.addr()))
            .await;
        loop {
            let joined = self.watcher.recv_type("joined").await;
            if joined["user"] == user {
                break;
            }
        }
        page.message_box().await;
        page
    }
}

#[tokio::test]
async fn two_browsers_chat_both_ways() {
    let Some(browser) = Browser::start_or_skip("two_browsers_chat_both_ways").await else {
        return;
    };
    let mut chat = Chat::start().await;
    let alice = chat.open_as(&browser, "alice").await;
    let bob = chat.open_as(&browser, "bob").await;

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
    let mallory = chat.open_as(&browser, "mallory").await;
    let bob = chat.open_as(&browser, "bob").await;

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
        assert_ne!(
            page.title().await,
            "pwned",
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
    let alice = chat.open_as(&browser, "alice").await;
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
    let message = chat.watcher.recv_type("message").await;
    assert_eq!(
        (message["user"].as_str(), message["text"].as_str()),
        (Some("alice"), Some("typed, never clicked"))
    );
    alice.wait_for_text("typed, never clicked").await;
}
