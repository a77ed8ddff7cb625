//! Step 8: graceful shutdown. On SIGTERM (or SIGINT, Ctrl-C) the server stops in an
//! order that loses nothing it accepted: `/readyz` answers 503 first, the door closes
//! to new sessions, every connection gets what was already queued for it and then
//! close code 1001, and the process exits 0 once they are all closed, or once
//! `--shutdown-grace` has run out (PROTOCOL.md, the rows marked 8).
//!
//! What this step adds, and where it lives:
//!
//! - [`shutdown`]: the signals, the `Shutdown` handles every part can reach (a
//!   `CancellationToken` and a `TaskTracker` from tokio-util), and the sequence itself.
//! - [`registry`]: `close`, which refuses every join from then on and seals every room,
//!   in one critical section (modelled with loom in `tests/loom_shutdown.rs`).
//! - [`hub`] and [`room`]: closing the hub seals every member's outbox.
//! - [`outbox`]: `ShuttingDown`, the one close that keeps the frames waiting.
//! - [`writer`]: sends them, then 1001 `server shutting down`.
//! - `connection`: after the 1001, the reader waits for the client's answering close
//!   frame.
//! - [`web`]: `/readyz`; `/ws` refuses newcomers with 503 and counts every upgraded
//!   connection until it ends.
//! - [`config`]: the flag `--shutdown-grace`, and how long a client may take to answer
//!   the 1001.
//! - [`listener`]: a request still arriving when axum's graceful shutdown starts is
//!   answered 503 at once instead of being waited for.
//! - `static/index.html`: "Server restarting" for a 1001 from a shutdown.
//!
//! Unchanged from step 7: [`heartbeat`], [`protocol`], [`sync`], [`name`].

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
pub mod shutdown;
pub mod sync;
pub mod web;
pub mod writer;

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::config::Limits;
use crate::hub::Hub;
use crate::listener::ChatListener;
use crate::shutdown::{Shutdown, Signals};

// ANCHOR: serve
/// Serves HTTP and WebSocket clients until a signal in `signals` asks for a shutdown,
/// then shuts down within `grace` and returns `Ok`. The hub starts empty: rooms appear
/// as people join them. axum runs the accept loop and gives each connection a task of
/// its own.
pub async fn serve(
    listener: TcpListener,
    limits: Limits,
    grace: Duration,
    mut signals: Signals,
) -> anyhow::Result<()> {
    let hub = Arc::new(Hub::new(limits));
    let shutdown = Shutdown::new();
    // axum's graceful shutdown stops accepting and lets the HTTP requests in flight
    // finish. It starts when `http` is cancelled, which the shutdown sequence does last;
    // a request still arriving then is answered 503 by the listener.
    let http = CancellationToken::new();
    let listener = ChatListener::new(listener, http.clone());
    let app = web::router(Arc::clone(&hub), shutdown.clone());
    let server = axum::serve(listener, app).with_graceful_shutdown(http.clone().cancelled_owned());
    let mut server = tokio::spawn(server.into_future());

    let cause = tokio::select! {
        cause = signals.next() => cause,
        ended = &mut server => {
            // axum's accept loop never gives up by itself, so this is a panic.
            ended.context("the HTTP server stopped")??;
            anyhow::bail!("the HTTP server stopped by itself");
        }
    };
    shutdown::run(cause, &shutdown, &hub, grace, &mut signals, http, server).await;
    Ok(())
}
// ANCHOR_END: serve
