//! Step 5: rooms. `/ws?user=NAME&room=ROOM` puts a connection in a room (`general` by
//! default), a `join` frame moves it to another, and each room has its own members,
//! presence and message ids. Rooms are opened by their first member and removed with
//! their last, and `GET /api/rooms` lists them (PROTOCOL.md, the rows marked 5).
//!
//! What this step adds, and where it lives:
//!
//! - [`registry`]: which rooms exist and who is in each, free of tokio and generic over
//!   what a room holds, so that `tests/loom_registry.rs` can check it with loom. It also
//!   keeps, for that test only, a racy join that loom catches.
//! - [`sync`]: the one door through which the registry reaches `Arc` and `Mutex` (std's
//!   here, loom's in the model).
//! - [`hub`]: the registry with a broadcast channel in each room; joining, switching and
//!   leaving, with `welcome`, `joined` and `left` published in the room's order.
//! - [`room`]: what a room holds: its channel of frames serialized once, addressed to
//!   everyone, everyone but one, or one member; message ids per room.
//! - [`web`]: `?room=`, the name checked and claimed before the upgrade (400, 409), and
//!   the JSON API `/api/rooms` and `/api/rooms/ROOM/members`.
//! - [`protocol`]: the `join` frame and the `bad_room` and `name_taken` errors.
//! - `connection`: one client's life, now able to move between rooms.
//! - [`name`]: the rules for user names and, new, room names.
//! - [`config`]: the command-line flags every server step shares.
//! - `static/index.html`: the web client, with a room switcher and a member list.

pub mod config;
mod connection;
pub mod hub;
pub mod name;
pub mod protocol;
pub mod registry;
#[cfg(test)]
mod registry_tests;
pub mod room;
pub mod sync;
pub mod web;

use std::sync::Arc;

use tokio::net::TcpListener;

use crate::hub::Hub;
use crate::room::ROOM_CAPACITY;

// ANCHOR: serve
/// Serves HTTP and WebSocket clients forever. The hub starts empty: rooms appear as
/// people join them. axum runs the accept loop and gives each connection a task of its
/// own.
pub async fn serve(listener: TcpListener) -> anyhow::Result<()> {
    let hub = Arc::new(Hub::new(ROOM_CAPACITY));
    axum::serve(listener, web::router(hub)).await?;
    Ok(())
}
// ANCHOR_END: serve
