//! The HTTP side of step 4: the page, `/healthz`, JSON error bodies, and the checks
//! `/ws` makes before it upgrades. Every test runs the real binary.

use chat_test_support::{ServerProcess, Upgrade, WsClient, http_get};

async fn start() -> ServerProcess {
    ServerProcess::start(env!("CARGO_BIN_EXE_step-4"), &[]).await
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

/// Asserts a refusal before the upgrade: `400` and `{"error": "<something>"}`.
async fn assert_refused(server: &ServerProcess, path_and_query: &str) {
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
        }
        Upgrade::Accepted(_) => panic!("{path_and_query} was upgraded, expected 400"),
    }
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
    assert!(page.body.contains("/ws?user="));
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
