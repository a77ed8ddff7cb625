//! Step 6: slow clients and backpressure. Each connection gets a bounded outbox and a
//! writer task of its own; a room pushes every frame into its members' outboxes and
//! never waits for any of them. A client that cannot keep up is dropped with close code
//! 1013, and one that talks faster than it listens is slowed down instead (PROTOCOL.md,
//! the rows marked 6: `--max-message-bytes`, `--queue-capacity`, 1009 and 1013).
//!
//! What this step adds, and where it lives:
//!
//! - [`outbox`]: the queue of frames waiting for one client, bounded in frames and in
//!   bytes, and the rule that a frame which does not fit drops the client.
//! - [`writer`]: the task that empties an outbox into the socket, a batch at a time with
//!   one flush, under a deadline, and closes the connection the way the outbox says.
//! - `connection`: the reader, which reads a client's next frame only while that
//!   client's own outbox is less than half full: the overload policy.
//! - [`room`]: the room's broadcast channel is gone; a room holds its members' outboxes
//!   and serializes each frame once for all of them.
//! - [`hub`]: a member carries its connection's outbox, also when it switches rooms.
//! - [`config`]: the two new flags, and the limits they set.
//! - [`web`]: the message limit from the flag, and tungstenite's buffers sized on
//!   purpose; `serve` below turns off Nagle's algorithm.
//! - `static/index.html`: the page reconnects by itself, with backoff, when the server
//!   drops it or the connection is lost.
//!
//! Unchanged from step 5: [`registry`] (with its loom model), [`sync`], [`protocol`],
//! [`name`].

pub mod config;
mod connection;
pub mod hub;
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

use axum::serve::ListenerExt;
use tokio::net::TcpListener;

use crate::config::Limits;
use crate::hub::Hub;

// ANCHOR: serve
/// Serves HTTP and WebSocket clients forever. The hub starts empty: rooms appear as
/// people join them. axum runs the accept loop and gives each connection a task of its
/// own.
pub async fn serve(listener: TcpListener, limits: Limits) -> anyhow::Result<()> {
    let hub = Arc::new(Hub::new(limits));
    // Nagle's algorithm holds a small write back while an earlier one is unacknowledged,
    // hoping to merge them; with the client delaying its acknowledgements, a chat message
    // can wait tens of milliseconds for nothing. The writer already merges what is ready
    // into one flush, so every flush should leave at once.
    let listener = listener.tap_io(|socket| {
        if let Err(error) = socket.set_nodelay(true) {
            tracing::warn!("could not turn off Nagle's algorithm: {error}");
        }
    });
    axum::serve(listener, web::router(hub)).await?;
    Ok(())
}
// ANCHOR_END: serve
