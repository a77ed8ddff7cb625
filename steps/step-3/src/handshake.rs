//! The HTTP request that opens a WebSocket: who is this client, and may it come in?
//!
//! A WebSocket starts life as an HTTP `GET` with `Upgrade: websocket`. tungstenite reads
//! that request and, before it answers `101 Switching Protocols`, hands it to a callback
//! of ours. The callback reads the user name from `/ws?user=NAME` and either lets the
//! upgrade go on or answers with an HTTP error and a JSON body instead. A request that is
//! no WebSocket handshake at all (a browser tab, `curl`) never reaches the callback:
//! tungstenite refuses it without a word, so we answer it ourselves.

use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Error as WsError;
use tokio_tungstenite::tungstenite::handshake::server::{ErrorResponse, Request, Response};
use tokio_tungstenite::tungstenite::http::{StatusCode, header};
use tokio_tungstenite::tungstenite::protocol::{Role, WebSocketConfig};

use crate::name::{NAME_RULE, is_valid_name};

// ANCHOR: limits
/// The largest message a client may send, in bytes. A chat line is far smaller; the
/// default (64 MiB) would let each client make the server buffer 64 MiB before it
/// could say no.
pub const MAX_MESSAGE_BYTES: usize = 16 * 1024;

/// How tungstenite reads from every client.
pub fn websocket_config() -> WebSocketConfig {
    WebSocketConfig::default()
        // A message may come in several frames: this bounds their sum...
        .max_message_size(Some(MAX_MESSAGE_BYTES))
        // ...and this each frame, checked from its header before its payload is read.
        .max_frame_size(Some(MAX_MESSAGE_BYTES))
}
// ANCHOR_END: limits

// ANCHOR: accept
/// Runs the WebSocket handshake on a fresh connection and returns the socket and the
/// user name from its URL. A refused request gets its HTTP error response here, and the
/// caller gets the error: `WsError::Http(..)` when our callback refused it,
/// `WsError::Protocol(..)` when it was no WebSocket handshake.
pub async fn accept(
    mut stream: TcpStream,
) -> Result<(WebSocketStream<TcpStream>, String), WsError> {
    let mut name = String::new();
    // tungstenite calls this once, with the parsed request, before it answers.
    #[allow(clippy::result_large_err, reason = "tungstenite's type")]
    let check = |request: &Request, response: Response| {
        name = user_from(request)?;
        Ok(response)
    };
    // The handshake borrows the connection rather than taking it, so that we still hold
    // it when tungstenite refuses a request before our callback runs.
    let config = Some(websocket_config());
    match tokio_tungstenite::accept_hdr_async_with_config(&mut stream, check, config).await {
        Ok(_) => {}
        Err(WsError::Protocol(not_websocket)) => {
            answer_plain_http(&mut stream, &not_websocket.to_string()).await;
            return Err(WsError::Protocol(not_websocket));
        }
        Err(error) => return Err(error),
    }
    // tungstenite refuses a request followed by anything else (`JunkAfterRequest`), so the
    // handshake read nothing past it: a socket made from the connection itself starts
    // exactly where the handshake stopped.
    let socket = WebSocketStream::from_raw_socket(stream, Role::Server, config).await;
    Ok((socket, name))
}
// ANCHOR_END: accept

// ANCHOR: plain_http
/// Answers a request that is not a WebSocket handshake (no `Upgrade: websocket`, say)
/// with `400` and a JSON body, as every refusal of this server. `why` is tungstenite's
/// reason. A client that is already gone gets nothing, and that is fine.
async fn answer_plain_http(stream: &mut TcpStream, why: &str) {
    let refusal = refuse(
        StatusCode::BAD_REQUEST,
        &format!("this server speaks only WebSocket, at /ws?user=NAME ({why})"),
    );
    // Status line, headers, blank line, body: the form in which tungstenite writes the
    // refusals of our callback.
    let mut answer = format!("HTTP/1.1 {}\r\n", refusal.status());
    for (name, value) in refusal.headers() {
        let value = value.to_str().unwrap_or_default();
        answer.push_str(&format!("{name}: {value}\r\n"));
    }
    answer.push_str("\r\n");
    answer.push_str(refusal.body().as_deref().unwrap_or_default());
    let _ = stream.write_all(answer.as_bytes()).await;
    let _ = stream.shutdown().await;
}
// ANCHOR_END: plain_http

// ANCHOR: user_from
/// The user name in `/ws?user=NAME`, or the HTTP error that explains what is wrong.
#[allow(clippy::result_large_err, reason = "tungstenite's type")]
fn user_from(request: &Request) -> Result<String, ErrorResponse> {
    if request.uri().path() != "/ws" {
        return Err(refuse(
            StatusCode::NOT_FOUND,
            "not found: connect to /ws?user=NAME",
        ));
    }
    let query = request.uri().query().unwrap_or_default();
    let user = query
        .split('&')
        .find_map(|pair| pair.strip_prefix("user="))
        .ok_or_else(|| {
            refuse(
                StatusCode::BAD_REQUEST,
                "missing user: connect to /ws?user=NAME",
            )
        })?;
    match percent_decode(user) {
        Some(name) if is_valid_name(&name) => Ok(name),
        _ => Err(refuse(
            StatusCode::BAD_REQUEST,
            &format!("bad user: {NAME_RULE}"),
        )),
    }
}

/// An HTTP error response with a JSON body `{"error": "..."}`.
fn refuse(status: StatusCode, message: &str) -> ErrorResponse {
    let body = serde_json::json!({ "error": message }).to_string();
    Response::builder()
        .status(status)
        .header(header::CONTENT_TYPE, "application/json")
        .header(header::CONTENT_LENGTH, body.len())
        .header(header::CONNECTION, "close")
        .body(Some(body))
        .unwrap_or_else(|_| unreachable!("every header above is valid"))
}
// ANCHOR_END: user_from

/// Decodes `%XX` escapes and `+` (a space, in a query string). A browser or our client
/// sends `Zoë` as `Zo%C3%AB`. `None` if an escape is malformed or the bytes are not UTF-8.
fn percent_decode(encoded: &str) -> Option<String> {
    let mut bytes = Vec::with_capacity(encoded.len());
    let mut rest = encoded.as_bytes();
    while let Some((&byte, tail)) = rest.split_first() {
        rest = tail;
        match byte {
            b'%' => {
                let hex = std::str::from_utf8(rest.get(..2)?).ok()?;
                bytes.push(u8::from_str_radix(hex, 16).ok()?);
                rest = &rest[2..];
            }
            b'+' => bytes.push(b' '),
            _ => bytes.push(byte),
        }
    }
    String::from_utf8(bytes).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(uri: &str) -> Request {
        Request::builder().uri(uri).body(()).unwrap()
    }

    #[test]
    fn reads_the_user_from_the_query() {
        assert_eq!(user_from(&request("/ws?user=alice")).unwrap(), "alice");
        assert_eq!(user_from(&request("/ws?x=1&user=Zo%C3%AB")).unwrap(), "Zoë");
    }

    #[test]
    fn refuses_a_missing_or_invalid_user_with_400() {
        for uri in [
            "/ws",
            "/ws?",
            "/ws?name=alice",
            "/ws?user=",
            "/ws?user=a+b",
            "/ws?user=%ZZ",
            "/ws?user=%FF",
        ] {
            let refused = user_from(&request(uri)).unwrap_err();
            assert_eq!(refused.status(), StatusCode::BAD_REQUEST, "{uri}");
            let body: serde_json::Value =
                serde_json::from_str(refused.body().as_deref().unwrap()).unwrap();
            assert!(body["error"].is_string(), "{uri}");
        }
    }

    #[test]
    fn refuses_other_paths_with_404() {
        for uri in ["/", "/chat?user=alice", "/ws/?user=alice"] {
            assert_eq!(
                user_from(&request(uri)).unwrap_err().status(),
                StatusCode::NOT_FOUND
            );
        }
    }
}
