//! Step 7: heartbeats and timeouts. TCP does not notice a peer that vanished without a
//! word (a laptop closed, a phone out of range, a process frozen), so the server asks:
//! a client quiet for `--ping-interval` is sent a ping, and one that then says nothing
//! for `--pong-timeout` is closed and leaves its room at once. Browsers, which cannot
//! send pings, get an app-level `ping` frame answered with `pong` (PROTOCOL.md, the
//! rows marked 7).
//!
//! What this step adds, and where it lives:
//!
//! - [`heartbeat`]: the decision alone, with the time passed in: when to ping, when to
//!   give up. Unit-tested on paused time.
//! - `connection`: the reader keeps the heartbeat between the client's frames, and does
//!   not hold against the client the time step 6's pacing keeps the server from
//!   listening to it.
//! - [`outbox`]: the reader asks for a ping through the outbox, and the writer sends it
//!   ahead of the frames waiting; a new way for a connection to end, `Unresponsive`.
//! - [`writer`]: sends the ping; closes an unresponsive client with 1001 under a short
//!   deadline.
//! - [`config`]: the two new flags, which take durations, and every time limit of a
//!   connection (the write deadline included) in one place.
//! - [`listener`]: before the upgrade, a connection has `REQUEST_DEADLINE` to send its
//!   request's headers, or it is answered `408` and closed.
//! - [`protocol`]: the `ping` and `pong` frames.
//! - [`web`]: hands each connection the heartbeat's durations.
//! - `static/index.html`: the page pings the server, and reconnects when no answer
//!   comes; after a lost connection, it waits out the server's hold on its name.
//!
//! Unchanged from step 6: [`hub`], [`room`], [`registry`] (with its loom model),
//! [`sync`], [`name`].

pub mod config;
mod connection;
pub mod heartbeat;
pub mod hub;
pub mod listener;
pub mod name;
pub mod outbox;
pub mod protocol;
pub mod registry;
#[cfg(test)]
mod registry_tests;
pub mod room;
pub mod sync;
pub mod web;
pub mod writer;

use std::sync::Arc;

use tokio::net::TcpListener;

use crate::config::Limits;
use crate::hub::Hub;
use crate::listener::ChatListener;

/// Serves HTTP and WebSocket clients forever. The hub starts empty: rooms appear as
/// people join them. axum runs the accept loop and gives each connection a task of its
/// own.
pub async fn serve(listener: TcpListener, limits: Limits) -> anyhow::Result<()> {
    let hub = Arc::new(Hub::new(limits));
    axum::serve(ChatListener::new(listener), web::router(hub)).await?;
    Ok(())
}
