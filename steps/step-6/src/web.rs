//! The HTTP side: axum's router, the web page, `/healthz`, the JSON API about rooms, the
//! checks before a WebSocket upgrade, and the JSON body every error status carries.

use std::sync::Arc;

use axum::Json;
use axum::Router;
use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::extract::ws::WebSocketUpgrade;
use axum::extract::ws::rejection::WebSocketUpgradeRejection;
use axum::extract::{Path, Query, State};
use axum::http::{Method, StatusCode, Uri};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use serde::{Deserialize, Serialize};

use crate::connection;
use crate::hub::Hub;
use crate::name::{NAME_RULE, ROOM_RULE, is_valid_name, is_valid_room_name};
use crate::protocol::DEFAULT_ROOM;
use crate::registry::NameTaken;

// ANCHOR: buffers
/// tungstenite's read buffer, per connection. It is allocated at the upgrade and filled
/// with zeros on the first read, so all of it is resident memory from then on. With the
/// default, 128 KiB (and the default write buffer below), 2000 idle connections cost
/// 146 KiB each; with these two constants, about 15 KiB (with 4 KiB to read, 18 KiB).
/// A chat frame is a few hundred bytes at most; a larger message is simply read in
/// several turns, a system call per KiB for a message that is rare anyway.
pub const READ_BUFFER_BYTES: usize = 1024;

/// How many bytes tungstenite collects before it writes to the socket by itself. The
/// writer flushes after every batch anyway, so this only splits a big batch into
/// writes of this size; it also caps what the buffer keeps between batches (the
/// default, 128 KiB, stays allocated in every connection that once received a burst).
pub const WRITE_BUFFER_BYTES: usize = 16 * 1024;

/// tungstenite's hard cap on its write buffer, which only matters when the code keeps
/// handing it frames after the socket stopped taking bytes. The writer never does: each
/// `feed` waits until the buffer is below [`WRITE_BUFFER_BYTES`], so the buffer holds at
/// most that plus one frame. What piles up behind a slow client is bounded by its
/// outbox, so this is left unlimited on purpose: any lower cap would only turn one
/// large frame (a `welcome` listing a huge room) into an error.
pub const MAX_WRITE_BUFFER_BYTES: usize = usize::MAX;
// ANCHOR_END: buffers

/// The web client: one HTML file with its CSS and JavaScript inline, compiled into the
/// binary so the server is one file to copy and the page can never be missing.
const PAGE: &str = include_str!("../static/index.html");

/// Every route of step 6. The hub is the router's state: axum hands a clone of the
/// `Arc` to each handler that asks for `State<Arc<Hub>>`.
pub fn router(hub: Arc<Hub>) -> Router {
    Router::new()
        .route("/", get(page))
        .route("/ws", get(upgrade))
        .route("/healthz", get(healthz))
        .route("/api/rooms", get(list_rooms))
        .route("/api/rooms/{room}/members", get(list_members))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .with_state(hub)
}

async fn page() -> Html<&'static str> {
    Html(PAGE)
}

/// Answers while the process can serve requests at all; a load balancer or a container
/// runtime polls it. Step 8 adds `/readyz`, which also knows about shutting down.
async fn healthz() -> &'static str {
    "ok"
}

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

/// The query string of `/ws`. Parameters this step does not know are ignored.
#[derive(Debug, Deserialize)]
pub struct JoinQuery {
    user: Option<String>,
    room: Option<String>,
}

/// `GET /ws?user=NAME&room=ROOM`. The names are checked, and the user joins the room,
/// *before* the upgrade, while the answer can still be an HTTP status with a JSON body;
/// once the connection is a WebSocket, the only way left to refuse is to close it.
///
/// Both extractors are wrapped in `Result` so that their failures reach this function
/// instead of becoming axum's plain-text answers.
async fn upgrade(
    State(hub): State<Arc<Hub>>,
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

    let room = query.room.unwrap_or_else(|| DEFAULT_ROOM.to_string());
    check_room(&room)?;

    let upgrade = upgrade.map_err(|rejection| {
        ApiError::new(
            rejection.status(),
            format!(
                "/ws speaks WebSocket only, and this request is not a WebSocket upgrade: {}",
                rejection.body_text()
            ),
        )
    })?;

    // Joining here, not after the upgrade, is what makes the 409 honest: the check and
    // the claim on the name are one step of the hub, so no other connection can take
    // the name between them. If the upgrade never completes, `member` is dropped with
    // the closure, which leaves the room again.
    let member = hub.join(&room, &user).map_err(|NameTaken| {
        ApiError::new(
            StatusCode::CONFLICT,
            format!("{user:?} is already connected in room {room:?}"),
        )
    })?;
    // ANCHOR: upgrade-config
    let max_message_bytes = hub.limits().max_message_bytes;
    Ok(upgrade
        // A message may come in several frames: this bounds their sum...
        .max_message_size(max_message_bytes)
        // ...and this each frame, checked from its header before its payload is read.
        .max_frame_size(max_message_bytes)
        .read_buffer_size(READ_BUFFER_BYTES)
        .write_buffer_size(WRITE_BUFFER_BYTES)
        .max_write_buffer_size(MAX_WRITE_BUFFER_BYTES)
        .on_upgrade(move |socket| connection::handle(socket, member)))
    // ANCHOR_END: upgrade-config
}

/// Refuses a room name that breaks the rule, with 400 and the rule.
fn check_room(room: &str) -> Result<(), ApiError> {
    if is_valid_room_name(room) {
        Ok(())
    } else {
        Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            format!("bad room {room:?}: {ROOM_RULE}"),
        ))
    }
}

/// One entry of `GET /api/rooms`.
#[derive(Debug, Serialize)]
struct RoomSummary {
    room: String,
    members: usize,
}

/// `GET /api/rooms`: every room that has members, sorted by name, with how many.
async fn list_rooms(State(hub): State<Arc<Hub>>) -> Json<Vec<RoomSummary>> {
    let rooms = hub.rooms().into_iter();
    Json(
        rooms
            .map(|(room, members)| RoomSummary { room, members })
            .collect(),
    )
}

/// `GET /api/rooms/ROOM/members`: the user names in `ROOM`, in the order they joined.
/// A name that cannot be a room is 400; a room nobody is in does not exist, so 404.
async fn list_members(
    State(hub): State<Arc<Hub>>,
    room: Result<Path<String>, PathRejection>,
) -> Result<Json<Vec<String>>, ApiError> {
    let Path(room) =
        room.map_err(|rejection| ApiError::new(rejection.status(), rejection.body_text()))?;
    check_room(&room)?;
    match hub.members(&room) {
        Some(members) => Ok(Json(members)),
        None => Err(ApiError::new(
            StatusCode::NOT_FOUND,
            format!("no room {room:?}: a room exists while someone is in it"),
        )),
    }
}
