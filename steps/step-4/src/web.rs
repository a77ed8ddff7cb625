//! The HTTP side: axum's router, the web page, `/healthz`, the checks before a WebSocket
//! upgrade, and the JSON body every error status carries.

use std::sync::Arc;

use axum::Json;
use axum::Router;
use axum::extract::rejection::QueryRejection;
use axum::extract::ws::WebSocketUpgrade;
use axum::extract::ws::rejection::WebSocketUpgradeRejection;
use axum::extract::{Query, State};
use axum::http::{Method, StatusCode, Uri};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use serde::Deserialize;

use crate::connection;
use crate::name::{NAME_RULE, is_valid_name};
use crate::room::Room;

// ANCHOR: message-limit
/// The largest message a client may send, in bytes; a bigger one closes the connection
/// with code 1009. axum keeps tungstenite's default of 64 MiB, which would let every
/// client make the server buffer 64 MiB before it could say no. 16 KiB holds the longest
/// valid chat message even when each of its 4000 characters takes four bytes of UTF-8.
pub const MAX_MESSAGE_BYTES: usize = 16 * 1024;
// ANCHOR_END: message-limit

// ANCHOR: page
/// The web client: one HTML file with its CSS and JavaScript inline, compiled into the
/// binary so the server is one file to copy and the page can never be missing.
const PAGE: &str = include_str!("../static/index.html");
// ANCHOR_END: page

// ANCHOR: router
/// Every route of step 4. The room is the router's state: axum hands a clone of the
/// `Arc` to each handler that asks for `State<Arc<Room>>`.
pub fn router(room: Arc<Room>) -> Router {
    Router::new()
        .route("/", get(page))
        .route("/ws", get(upgrade))
        .route("/healthz", get(healthz))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .with_state(room)
}
// ANCHOR_END: router

async fn page() -> Html<&'static str> {
    Html(PAGE)
}

/// Answers while the process can serve requests at all; a load balancer or a container
/// runtime polls it. Step 8 adds `/readyz`, which also knows about shutting down.
async fn healthz() -> &'static str {
    "ok"
}

// ANCHOR: api-error
/// An error answer: a status and `{"error": "..."}`. PROTOCOL.md wants this body on
/// every error status, so a client can always show the reason.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    message: String,
}

impl ApiError {
    fn new(status: StatusCode, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            message: message.into(),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = Json(serde_json::json!({ "error": self.message }));
        (self.status, body).into_response()
    }
}

async fn not_found(uri: Uri) -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        format!("no such route: {}", uri.path()),
    )
}

async fn method_not_allowed(method: Method, uri: Uri) -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        format!("{} does not answer {method}", uri.path()),
    )
}
// ANCHOR_END: api-error

// ANCHOR: upgrade
/// The query string of `/ws`. Parameters this step does not know (`room` arrives in
/// step 5) are ignored.
#[derive(Debug, Deserialize)]
pub struct JoinQuery {
    user: Option<String>,
}

/// `GET /ws?user=NAME`. The name is checked *before* the upgrade, while the answer can
/// still be an HTTP status with a JSON body; once the connection is a WebSocket, the
/// only way left to refuse is to close it.
///
/// Both extractors are wrapped in `Result` so that their failures reach this function
/// instead of becoming axum's plain-text answers.
async fn upgrade(
    State(room): State<Arc<Room>>,
    query: Result<Query<JoinQuery>, QueryRejection>,
    upgrade: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> Result<Response, ApiError> {
    let Query(query) =
        query.map_err(|rejection| ApiError::new(StatusCode::BAD_REQUEST, rejection.body_text()))?;
    let Some(user) = query.user else {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "missing `user` in the query string, as in /ws?user=alice",
        ));
    };
    if !is_valid_name(&user) {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            format!("bad user {user:?}: {NAME_RULE}"),
        ));
    }

    let upgrade = upgrade.map_err(|rejection| {
        ApiError::new(
            rejection.status(),
            format!(
                "/ws speaks WebSocket only, and this request is not a WebSocket upgrade: {}",
                rejection.body_text()
            ),
        )
    })?;

    // Several connections may share a name in step 4; PROTOCOL.md refuses that with
    // 409 from step 5, where each room checks its own members.
    Ok(upgrade
        // A message may come in several frames: this bounds their sum...
        .max_message_size(MAX_MESSAGE_BYTES)
        // ...and this each frame, checked from its header before its payload is read.
        .max_frame_size(MAX_MESSAGE_BYTES)
        .on_upgrade(move |socket| connection::handle(socket, room, user)))
}
// ANCHOR_END: upgrade
