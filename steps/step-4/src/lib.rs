//! Step 4: the chat in a browser. axum serves a web page at `/` and upgrades
//! `/ws?user=NAME` to a WebSocket that speaks a typed JSON protocol (PROTOCOL.md, the rows
//! marked 4): `welcome`, `message` with ids, `joined`/`left`, and `error` with a code.
//!
//! What this step adds, and where it lives:
//!
//! - [`serve`] (this file): hand the listener to axum, with one room as shared state.
//! - [`web`]: axum's router: the page, `/healthz`, the checks before the upgrade, the
//!   message size limit, and a JSON body on every error status.
//! - [`protocol`]: the frames as serde types, and the checks a client frame passes, in
//!   order, before it may change anything.
//! - [`room`]: one broadcast channel of frames serialized once; message ids assigned in
//!   the order members receive them; who is in the room, for `welcome`; leaving is
//!   dropping a [`room::Member`].
//! - `connection`: one client's life: `welcome`, then frames both ways until it leaves;
//!   the close codes for a normal close, a message too big, a broken rule of WebSocket
//!   and a member that fell behind.
//! - [`name`]: the rule for user names (unchanged since step 3).
//! - [`config`]: the command-line flags every server step shares.
//! - `static/index.html`: the web client, compiled into the binary.

pub mod config;
mod connection;
pub mod name;
pub mod protocol;
pub mod room;
pub mod web;

use std::sync::Arc;

use tokio::net::TcpListener;

use crate::room::{ROOM_CAPACITY, Room};

// ANCHOR: serve
/// Serves HTTP and WebSocket clients forever, all in one room. axum runs the accept loop
/// and gives each connection a task of its own.
pub async fn serve(listener: TcpListener) -> anyhow::Result<()> {
    let room = Arc::new(Room::new(protocol::ROOM, ROOM_CAPACITY));
    axum::serve(listener, web::router(room)).await?;
    Ok(())
}
// ANCHOR_END: serve
