//! Step 3: the chat of step 2 over WebSocket. A client connects to `/ws?user=NAME` and
//! every text frame it sends goes to everyone else as `name: text`.
//!
//! What this step adds, and where it lives:
//!
//! - [`serve`] (this file): accept connections and give each one its own task.
//! - [`handshake`]: the HTTP upgrade; the user name from the URL, refusals as JSON (also
//!   for a request that is no WebSocket handshake), and the message size limit.
//! - `connection`: one client's life, now in frames: text is relayed, binary refused,
//!   close answered, a broken rule closed with its code (1009 too big, 1007 not UTF-8,
//!   1002 the rest) and the connection drained so that the close frame arrives. The
//!   socket is split into a reader and a writer.
//! - [`room`]: the step 1 broadcast channel, carrying who sent each line (as in step 2).
//! - [`visible`]: control characters in a frame shown, not obeyed (as in step 2); a
//!   newline too, since a frame is one message.
//! - [`name`]: the rule for user names.
//! - [`config`]: the command-line flags every server step shares.

pub mod config;
mod connection;
pub mod handshake;
pub mod name;
pub mod room;
pub mod visible;

use std::time::Duration;

use tokio::net::TcpListener;

use crate::room::{ConnectionId, Room};

/// Accepts clients forever, each in a task of its own, all in one room.
pub async fn serve(listener: TcpListener) {
    let room = Room::new();
    let mut next_id = 0;
    loop {
        let (stream, peer) = match listener.accept().await {
            Ok(accepted) => accepted,
            Err(error) => {
                // E.g. out of file descriptors: it passes when clients leave. The pause
                // keeps this loop from spinning on the error meanwhile.
                tracing::warn!(%error, "could not accept a connection");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        next_id += 1;
        let id = ConnectionId(next_id);
        let room = room.clone();
        // A task per client: one slow or silent client never holds up the others.
        tokio::spawn(async move {
            tracing::debug!(%peer, "connected");
            if let Err(error) = connection::handle(stream, id, room).await {
                tracing::info!(%peer, %error, "connection failed");
            }
        });
    }
}
