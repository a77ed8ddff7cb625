//! The HTTP side of step 7: the page, `/healthz`, JSON error bodies, the checks `/ws`
//! makes before it upgrades (names, rooms, a name taken in the room), and the JSON API
//! about rooms. Every test runs the real binary.

use chat_test_support::{ServerProcess, Upgrade, WAIT, WsClient, http_get};
use serde_json::{Value, json};
use tokio::time::Instant;

async fn start() -> ServerProcess {
    ServerProcess::start(env!("CARGO_BIN_EXE_step-8"), &[]).await
}

/// Percent-encodes a query value (the test client needs an ASCII URL).
fn encode(value: &str) -> String {
    value
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// Asserts a refusal before the upgrade: `400` and `{"error": "<something>"}`, and
/// returns the error text.
async fn assert_refused(server: &ServerProcess, path_and_query: &str) -> String {
    match WsClient::try_connect(&server.ws_url(path_and_query)).await {
        Upgrade::Refused { status, body } => {
            assert_eq!(status, 400, "{path_and_query}: body {body}");
            let json: serde_json::Value = serde_json::from_str(&body)
                .unwrap_or_else(|e| panic!("{path_and_query}: body is not JSON ({e}): {body}"));
            let error = json["error"].as_str().unwrap_or_default();
            assert!(
                !error.is_empty(),
                "{path_and_query}: no error text in {body}"
            );
            error.to_string()
        }
        Upgrade::Accepted(_) => panic!("{path_and_query} was upgraded, expected 400"),
    }
}

/// Asserts an error answer of the API: `status` and a JSON `{"error": ...}` body.
async fn assert_api_error(server: &ServerProcess, path: &str, status: u16) -> String {
    let answer = http_get(server.addr(), path).await;
    assert_eq!(answer.status, status, "{path}: {}", answer.body);
    assert_eq!(
        answer.header("content-type"),
        Some("application/json"),
        "{path}"
    );
    let error = answer.json()["error"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(!error.is_empty(), "{path}: {}", answer.body);
    error
}

/// `GET path`, expecting 200 and a JSON body.
async fn api(server: &ServerProcess, path: &str) -> Value {
    let answer = http_get(server.addr(), path).await;
    assert_eq!(answer.status, 200, "{path}: {}", answer.body);
    assert_eq!(
        answer.header("content-type"),
        Some("application/json"),
        "{path}"
    );
    answer.json()
}

/// Connects `user` to `room` and waits for its welcome.
async fn enter(server: &ServerProcess, user: &str, room: &str) -> WsClient {
    let url = server.ws_url(&format!("/ws?user={user}&room={room}"));
    let mut client = WsClient::connect(&url).await;
    assert_eq!(client.recv_json().await["type"], "welcome");
    client
}

#[tokio::test]
async fn the_page_is_served_at_the_root() {
    let server = start().await;
    let page = http_get(server.addr(), "/").await;
    assert_eq!(page.status, 200);
    let content_type = page.header("content-type").unwrap_or_default();
    assert!(content_type.starts_with("text/html"), "{content_type}");
    assert!(
        page.body
            .contains(r#"<label for="message">Message</label>"#)
    );
    assert!(page.body.contains(r#"id="message""#));
    assert!(page.body.contains(r#"aria-live="polite""#));
    assert!(page.body.contains(r#"aria-label="Members""#));
    assert!(
        page.body
            .contains(r#"<label for="switch-room">Go to room</label>"#)
    );
    assert!(page.body.contains("/ws?${query}"));
}

#[tokio::test]
async fn healthz_answers_ok() {
    let server = start().await;
    let health = http_get(server.addr(), "/healthz").await;
    assert_eq!((health.status, health.body.as_str()), (200, "ok"));
}

#[tokio::test]
async fn an_unknown_route_is_404_with_a_json_error() {
    let server = start().await;
    let missing = http_get(server.addr(), "/no/such/page").await;
    assert_eq!(missing.status, 404);
    assert_eq!(missing.header("content-type"), Some("application/json"));
    assert!(
        missing.json()["error"]
            .as_str()
            .unwrap()
            .contains("/no/such/page")
    );
}

#[tokio::test]
async fn a_plain_get_of_ws_is_refused_with_a_json_error() {
    let server = start().await;
    let plain = http_get(server.addr(), "/ws?user=alice").await;
    assert!(
        (400..500).contains(&plain.status),
        "status {}",
        plain.status
    );
    assert!(
        plain.json()["error"]
            .as_str()
            .unwrap()
            .contains("WebSocket")
    );
}

#[tokio::test]
async fn bad_user_names_are_refused_before_the_upgrade() {
    let server = start().await;
    let too_long = "x".repeat(33);
    for path in [
        "/ws".to_string(),
        "/ws?room=general".to_string(),
        "/ws?user=".to_string(),
        format!("/ws?user={too_long}"),
        format!("/ws?user={}", encode("a b")),
        format!("/ws?user={}", encode("<b>")),
        format!("/ws?user={}", encode("tab\t")),
        "/ws?user=a+b".to_string(),
        "/ws?user=%FF".to_string(),
        "/ws?user=alice&user=bob".to_string(),
    ] {
        assert_refused(&server, &path).await;
    }
}

#[tokio::test]
async fn the_refusal_says_what_is_wrong_with_the_name() {
    let server = start().await;
    let body = match WsClient::try_connect(&server.ws_url("/ws?user=a%20b")).await {
        Upgrade::Refused { body, .. } => body,
        Upgrade::Accepted(_) => panic!("a name with a space was accepted"),
    };
    let error: serde_json::Value = serde_json::from_str(&body).unwrap();
    let error = error["error"].as_str().unwrap();
    assert!(
        error.contains("a b") && error.contains("letters, digits"),
        "{body}"
    );
}

#[tokio::test]
async fn unicode_letters_digits_and_punctuation_make_valid_names() {
    let server = start().await;
    let longest = "é".repeat(32);
    for user in ["José", "名前", "a.b-c_d", "user42", longest.as_str()] {
        let url = server.ws_url(&format!("/ws?user={}", encode(user)));
        let mut client = WsClient::connect(&url).await;
        let welcome = client.recv_json().await;
        assert_eq!(welcome["type"], "welcome");
        assert_eq!(welcome["user"], user);
    }
}

#[tokio::test]
async fn bad_room_names_are_refused_before_the_upgrade() {
    let server = start().await;
    let too_long = "r".repeat(65);
    for room in [
        "",
        "Rust",
        "GENERAL",
        &too_long,
        "a%20b",
        "a+b",
        "..",
        "a.b",
        "a%2Fb",
        "caf%C3%A9",
        "%FF",
        "rust&room=general",
    ] {
        let error = assert_refused(&server, &format!("/ws?user=alice&room={room}")).await;
        assert!(error.contains("room"), "{room}: {error}");
    }
    // The longest name is fine, and nobody was let in by the refusals.
    let longest = "r".repeat(64);
    let _alice = enter(&server, "alice", &longest).await;
    assert_eq!(
        api(&server, "/api/rooms").await,
        json!([{"room": longest, "members": 1}])
    );
}

#[tokio::test]
async fn the_user_is_checked_before_the_room() {
    let server = start().await;
    let error = assert_refused(&server, "/ws?user=a%20b&room=Bad").await;
    assert!(error.contains("bad user"), "{error}");
}

#[tokio::test]
async fn a_name_taken_in_the_room_is_409_with_a_json_error() {
    let server = start().await;
    let _alice = enter(&server, "alice", "rust").await;
    match WsClient::try_connect(&server.ws_url("/ws?user=alice&room=rust")).await {
        Upgrade::Refused { status, body } => {
            assert_eq!(status, 409, "{body}");
            let error: Value = serde_json::from_str(&body).expect("a JSON body");
            assert!(error["error"].as_str().unwrap().contains("alice"), "{body}");
        }
        Upgrade::Accepted(_) => panic!("two alices in rust"),
    }
    // Not a WebSocket request at all: the upgrade check comes first, so 400, not 409.
    let plain = http_get(server.addr(), "/ws?user=alice&room=rust").await;
    assert_eq!(plain.status, 400, "{}", plain.body);
    assert_eq!(
        api(&server, "/api/rooms/rust/members").await,
        json!(["alice"])
    );
}

#[tokio::test]
async fn the_api_lists_rooms_by_name_and_members_in_join_order() {
    let server = start().await;
    assert_eq!(api(&server, "/api/rooms").await, json!([]));

    let _zoe = enter(&server, "zoe", "rust").await;
    let _bob = enter(&server, "bob", "general").await;
    let _alice = enter(&server, "alice", "rust").await;
    let _carol = enter(&server, "carol", "a-team").await;
    assert_eq!(
        api(&server, "/api/rooms").await,
        json!([
            {"room": "a-team", "members": 1},
            {"room": "general", "members": 1},
            {"room": "rust", "members": 2},
        ])
    );
    assert_eq!(
        api(&server, "/api/rooms/rust/members").await,
        json!(["zoe", "alice"])
    );
    assert_eq!(
        api(&server, "/api/rooms/general/members").await,
        json!(["bob"])
    );
}

#[tokio::test]
async fn members_of_an_unknown_room_is_404_and_of_a_bad_name_400() {
    let server = start().await;
    let _alice = enter(&server, "alice", "general").await;
    let error = assert_api_error(&server, "/api/rooms/nowhere/members", 404).await;
    assert!(error.contains("nowhere"), "{error}");
    for bad in ["Rust", "a%20b", "caf%C3%A9", "a.b", &"r".repeat(65)] {
        let error = assert_api_error(&server, &format!("/api/rooms/{bad}/members"), 400).await;
        assert!(error.contains("room"), "{bad}: {error}");
    }
    assert_api_error(&server, "/api/rooms/general/nothing", 404).await;
}

/// Polls `GET path` until its JSON body is `expected`. Bounded by [`WAIT`]; no sleeps:
/// each poll is a real round trip to the server.
async fn api_becomes(server: &ServerProcess, path: &str, expected: Value) {
    let deadline = Instant::now() + WAIT;
    loop {
        let now = api(server, path).await;
        if now == expected {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{path} is still {now} after {WAIT:?}, expected {expected}"
        );
        tokio::task::yield_now().await;
    }
}

#[tokio::test]
async fn a_room_is_removed_when_its_last_member_leaves() {
    let server = start().await;
    let mut alice = enter(&server, "alice", "rust").await;
    let bob = enter(&server, "bob", "rust").await;
    let _carol = enter(&server, "carol", "general").await;

    bob.close().await;
    // alice hears `left` once the registry has removed bob: the API agrees at once.
    assert_eq!(alice.recv_type("left").await["user"], "bob");
    assert_eq!(
        api(&server, "/api/rooms/rust/members").await,
        json!(["alice"])
    );

    // Nobody is left in rust to hear alice go, so the API is polled instead.
    alice.close().await;
    api_becomes(
        &server,
        "/api/rooms",
        json!([{"room": "general", "members": 1}]),
    )
    .await;
    assert_api_error(&server, "/api/rooms/rust/members", 404).await;
}
