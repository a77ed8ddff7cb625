//! Step 2: a chat over plain TCP. Each client is a line-based terminal (`nc`); its
//! first line is its name and every later line goes to everyone else as `name: text`.
//!
//! What this step adds, and where it lives:
//!
//! - [`serve`] (this file): accept connections and give each one its own task.
//! - [`room`]: the step 1 broadcast channel, now carrying who sent each line.
//! - `connection`: one client's life; its `chat` loop is a `tokio::select!` between
//!   the client's next line and the room's next line, without echo.
//! - [`line`]: reading lines of bounded length, cancel safe, from a client we do not
//!   trust.
//! - [`visible`]: control characters in a line shown, not obeyed, so that no line can
//!   pass for someone else's in a terminal.
//! - [`name`]: the rule for user names.
//! - [`config`]: the command-line flags every server step shares.

pub mod config;
mod connection;
pub mod line;
pub mod name;
pub mod room;
pub mod visible;

use std::time::Duration;

use tokio::net::TcpListener;

use crate::room::{ConnectionId, Room};

// ANCHOR: serve
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
// ANCHOR_END: serve
