//! Graceful shutdown: what happens between SIGTERM (or SIGINT, Ctrl-C) and the exit.
//!
//! The order is the point. Readiness says 503 first, so a load balancer stops sending
//! people here; then no new chat session is accepted; then every open connection is
//! told, behind what was already on its way to it; then the server waits for them to
//! finish, but never longer than the grace period; then the HTTP listener closes; then
//! the process exits 0.
//!
//! Two tools from `tokio-util` do the bookkeeping: a [`CancellationToken`] that every
//! part of the server can ask "has shutdown begun?", and a [`TaskTracker`] that knows
//! which WebSocket connections are still open. The one piece of hand-written
//! synchronization, closing the door and telling every member in one step, is
//! `Registry::close`, modelled with loom in `tests/loom_registry.rs`.

use std::io;
use std::time::Duration;

use axum::extract::ws::close_code;
use tokio::task::JoinHandle;
use tokio::time::{Instant, timeout_at};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tokio_util::task::task_tracker::TaskTrackerToken;

use crate::hub::Hub;

// ANCHOR: going_away
/// Close code 1001, "going away": the code PROTOCOL.md gives a shutdown. axum calls it
/// `AWAY`.
pub const GOING_AWAY: u16 = close_code::AWAY;

/// The reason sent with [`GOING_AWAY`]. Step 7 closes a client that stopped answering
/// pings with 1001 too, with another reason; the page tells the two apart by it, shows
/// "Server restarting" for this one, and reconnects by itself after either.
pub const GOING_AWAY_REASON: &str = "server shutting down";

// ANCHOR_END: going_away

// ANCHOR: shutdown
/// What the rest of the server needs to know about shutting down. Cloning it is cheap:
/// both fields are handles to shared state.
#[derive(Clone, Default)]
pub struct Shutdown {
    /// Cancelled once, when the shutdown begins. `/readyz` answers 503 from then on, and
    /// `/ws` refuses new sessions. A flag that can also be awaited: nothing here waits
    /// for this one, but the sequence hands axum another token of the same kind, whose
    /// `cancelled_owned()` is the future axum's graceful shutdown waits for.
    begun: CancellationToken,
    /// Every WebSocket connection, from the moment `/ws` accepts its upgrade to the
    /// moment its tasks end. axum's own graceful shutdown knows nothing of them: once
    /// a connection is upgraded, it is no longer an HTTP request in flight.
    connections: TaskTracker,
}

impl Shutdown {
    pub fn new() -> Shutdown {
        Shutdown::default()
    }

    /// Whether the shutdown has begun.
    pub fn has_begun(&self) -> bool {
        self.begun.is_cancelled()
    }

    /// Counts one more open connection until the returned token is dropped. `/ws`
    /// takes it *before* it checks [`Shutdown::has_begun`]: a connection that saw "not
    /// yet" is then certainly counted before the sequence starts waiting.
    pub fn track_connection(&self) -> TaskTrackerToken {
        self.connections.token()
    }
}
// ANCHOR_END: shutdown

// ANCHOR: signals
/// The signals that ask for a shutdown: SIGTERM (what `kill`, systemd, Docker and
/// Kubernetes send) and SIGINT (Ctrl-C in a terminal). On Windows, Ctrl-C.
///
/// Created before the server prints its `listening on` line: from then on a signal
/// starts a shutdown instead of killing the process on the spot, which is what the
/// default handler of both signals would do.
pub struct Signals {
    #[cfg(unix)]
    terminate: tokio::signal::unix::Signal,
    #[cfg(unix)]
    interrupt: tokio::signal::unix::Signal,
    #[cfg(windows)]
    ctrl_c: tokio::signal::windows::CtrlC,
}

impl Signals {
    pub fn listen() -> io::Result<Signals> {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{SignalKind, signal};
            Ok(Signals {
                terminate: signal(SignalKind::terminate())?,
                interrupt: signal(SignalKind::interrupt())?,
            })
        }
        #[cfg(windows)]
        {
            Ok(Signals {
                ctrl_c: tokio::signal::windows::ctrl_c()?,
            })
        }
    }

    /// Waits for the next signal and says which it was.
    pub async fn next(&mut self) -> &'static str {
        #[cfg(unix)]
        {
            tokio::select! {
                _ = self.terminate.recv() => "SIGTERM",
                _ = self.interrupt.recv() => "SIGINT",
            }
        }
        #[cfg(windows)]
        {
            self.ctrl_c.recv().await;
            "Ctrl-C"
        }
    }
}
// ANCHOR_END: signals

// ANCHOR: sequence
/// Shuts the server down, in order, because `cause` (a signal) asked for it. Returns
/// when everything is closed or `grace` has run out, whichever comes first; a second
/// signal cuts the wait short.
///
/// `http` is the token axum's graceful shutdown waits for, and `server` the task
/// running axum: both are only told at the end.
pub async fn run(
    cause: &str,
    shutdown: &Shutdown,
    hub: &Hub,
    grace: Duration,
    signals: &mut Signals,
    http: CancellationToken,
    server: JoinHandle<io::Result<()>>,
) {
    let started = Instant::now();
    let deadline = started + grace;
    tracing::info!("shutting down ({cause}): at most {grace:?}");

    // 1. Readiness first: from here on `/readyz` says 503, so that a load balancer
    //    stops sending new people here, and `/ws` refuses them with 503 too.
    shutdown.begun.cancel();

    // 2 and 3. The door closes and everyone is told, in one step: joins are refused
    //    from now on, and every member's outbox takes nothing more and ends, behind
    //    what it already holds, with 1001.
    let told = hub.close();
    tracing::info!(
        connections = told,
        "told to close once their queued frames are sent"
    );

    // 4 and 5. Each connection's writer flushes what was queued and sends its 1001;
    //    its reader waits for the client to answer. Wait for all of them, until the
    //    deadline at most.
    shutdown.connections.close();
    let everyone_closed = tokio::select! {
        waited = timeout_at(deadline, shutdown.connections.wait()) => waited.is_ok(),
        again = signals.next() => {
            tracing::warn!("{again} during the shutdown: not waiting any longer");
            false
        }
    };
    if everyone_closed {
        tracing::info!("every connection closed in {:?}", started.elapsed());
    } else {
        let open = shutdown.connections.len();
        let elapsed = started.elapsed();
        tracing::warn!(
            connections = open,
            "still open after {elapsed:?}: dropping them"
        );
    }

    // 6. Only now the listener: axum stops accepting and finishes the HTTP requests in
    //    flight (a `/readyz` probe, say), within what is left of the grace period.
    http.cancel();
    if timeout_at(deadline, server).await.is_err() {
        tracing::warn!("HTTP requests still in flight at the deadline: dropping them");
    }
    // 7. Returning lets `main` return `Ok`: exit status 0. Any task still running is
    //    dropped with the runtime, and its socket closed by the operating system.
}
// ANCHOR_END: sequence
