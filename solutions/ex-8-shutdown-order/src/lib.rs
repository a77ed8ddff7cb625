//! Exercise 8: the shutdown, in order.
//!
//! A small model of what step 8 does on SIGTERM (`steps/step-8/src/shutdown.rs`). The
//! parts of the server are written: a [`Readiness`] flag that `/readyz` would report, a
//! [`Door`] that admits new sessions until it is closed, and a [`Session`] per client,
//! with a queue of frames waiting for it. [`shut_down`] is yours: it uses those parts in
//! the right order, and within one deadline. README.md says what it must do; `cargo
//! test` says whether it does.
//!
//! Every part writes what happens to it into the server's [`Event`] log, so the tests
//! can check the order.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use tokio::sync::Notify;

/// Close code 1001, "going away": what every client hears when the server shuts down.
pub const GOING_AWAY: u16 = 1001;
/// The reason that goes with [`GOING_AWAY`].
pub const GOING_AWAY_REASON: &str = "server shutting down";

/// Something that happened during a shutdown, in the order the server's log saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// `/readyz` started answering 503.
    NotReady,
    /// The door closed: no new session gets in from now on.
    DoorClosed,
    /// `user`'s session was told to close, keeping its queue (`close_after_queue`).
    ToldAfterQueue { user: String },
    /// `user`'s session was closed at once, throwing its queue away (`close_now`).
    ClosedNow { user: String },
}

/// The log every part writes to.
#[derive(Debug, Clone, Default)]
struct Log(Arc<Mutex<Vec<Event>>>);

impl Log {
    fn record(&self, event: Event) {
        lock(&self.0).push(event);
    }
}

/// A whole server, as far as shutting down is concerned.
pub struct Server {
    pub readiness: Readiness,
    pub door: Door,
    log: Log,
}

impl Server {
    /// A server that is ready, with its door open and no session yet.
    pub fn new() -> Server {
        let log = Log::default();
        Server {
            readiness: Readiness {
                ready: Mutex::new(true),
                log: log.clone(),
            },
            door: Door {
                state: Mutex::new(DoorState {
                    open: true,
                    sessions: Vec::new(),
                }),
                log: log.clone(),
            },
            log,
        }
    }

    /// Everything that happened so far, in order.
    pub fn events(&self) -> Vec<Event> {
        lock(&self.log.0).clone()
    }
}

impl Default for Server {
    fn default() -> Server {
        Server::new()
    }
}

/// What `/readyz` answers: 200 while ready, 503 after [`Readiness::set_not_ready`].
pub struct Readiness {
    ready: Mutex<bool>,
    log: Log,
}

impl Readiness {
    pub fn is_ready(&self) -> bool {
        *lock(&self.ready)
    }

    /// From now on `/readyz` answers 503, and a load balancer stops sending people here.
    pub fn set_not_ready(&self) {
        *lock(&self.ready) = false;
        self.log.record(Event::NotReady);
    }
}

/// Where new sessions come in.
pub struct Door {
    /// Whether it is open, and every session it let in: one lock for both, so that a
    /// session is either let in before the door closes, and listed, or refused.
    state: Mutex<DoorState>,
    log: Log,
}

struct DoorState {
    open: bool,
    sessions: Vec<Arc<Session>>,
}

impl Door {
    /// Lets `user` in, unless the door is closed.
    pub fn admit(&self, user: &str) -> Option<Arc<Session>> {
        let mut state = lock(&self.state);
        if !state.open {
            return None;
        }
        let session = Arc::new(Session::new(user, self.log.clone()));
        state.sessions.push(Arc::clone(&session));
        Some(session)
    }

    /// Closes the door for good and returns every session it ever let in, in the order
    /// they came.
    pub fn close(&self) -> Vec<Arc<Session>> {
        let mut state = lock(&self.state);
        state.open = false;
        self.log.record(Event::DoorClosed);
        state.sessions.clone()
    }
}

/// What a client receives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Frame {
    Text(String),
    Close { code: u16, reason: String },
}

/// One client's session: the frames waiting for it, and how it ends.
pub struct Session {
    user: String,
    state: Mutex<SessionState>,
    /// Wakes whoever waits in [`Session::receive`] or [`Session::finished`].
    changed: Notify,
    log: Log,
}

struct SessionState {
    queue: VecDeque<String>,
    /// The close frame, once the session is closing. Nothing is queued after it.
    close: Option<Frame>,
    /// The client has received its close frame.
    finished: bool,
}

impl Session {
    fn new(user: &str, log: Log) -> Session {
        Session {
            user: user.to_string(),
            state: Mutex::new(SessionState {
                queue: VecDeque::new(),
                close: None,
                finished: false,
            }),
            changed: Notify::new(),
            log,
        }
    }

    pub fn user(&self) -> &str {
        &self.user
    }

    /// Queues `text` for the client, as a room does. Refused (`false`) once the session
    /// is closing.
    pub fn push(&self, text: &str) -> bool {
        let mut state = lock(&self.state);
        if state.close.is_some() {
            return false;
        }
        state.queue.push_back(text.to_string());
        drop(state);
        self.changed.notify_waiters();
        true
    }

    /// Closes at once: the frames still waiting are thrown away, and the close frame is
    /// the next thing the client receives. For a client that broke a rule, or fell too
    /// far behind. Does nothing if the session is closing already.
    pub fn close_now(&self, code: u16, reason: &str) {
        if self.start_closing(code, reason) {
            lock(&self.state).queue.clear();
            self.log.record(Event::ClosedNow {
                user: self.user.clone(),
            });
        }
    }

    /// Closes behind the queue: nothing more is queued, the frames already waiting are
    /// delivered, and the close frame comes after them. Does nothing if the session is
    /// closing already.
    pub fn close_after_queue(&self, code: u16, reason: &str) {
        if self.start_closing(code, reason) {
            self.log.record(Event::ToldAfterQueue {
                user: self.user.clone(),
            });
        }
    }

    fn start_closing(&self, code: u16, reason: &str) -> bool {
        let mut state = lock(&self.state);
        if state.close.is_some() {
            return false;
        }
        state.close = Some(Frame::Close {
            code,
            reason: reason.to_string(),
        });
        drop(state);
        self.changed.notify_waiters();
        true
    }

    /// For the client (the tests play it): the next frame, waiting until there is one.
    /// `None` after the close frame.
    pub async fn receive(&self) -> Option<Frame> {
        loop {
            let changed = self.changed.notified();
            {
                let mut state = lock(&self.state);
                if state.finished {
                    return None;
                }
                if let Some(text) = state.queue.pop_front() {
                    return Some(Frame::Text(text));
                }
                if let Some(close) = state.close.clone() {
                    state.finished = true;
                    drop(state);
                    self.changed.notify_waiters();
                    return Some(close);
                }
            }
            changed.await;
        }
    }

    /// Waits until the client has received its close frame: the session is over.
    pub async fn finished(&self) {
        loop {
            let changed = self.changed.notified();
            if self.is_finished() {
                return;
            }
            changed.await;
        }
    }

    pub fn is_finished(&self) -> bool {
        lock(&self.state).finished
    }
}

/// What [`shut_down`] reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Report {
    /// Sessions whose client received its close frame in time.
    pub finished: usize,
    /// Sessions still open when the grace period ran out.
    pub abandoned: usize,
}

/// Shuts `server` down, and says how it went.
///
/// - `/readyz` says 503 before anything else changes;
/// - the door closes before any session is told, so that no session can get in
///   after the goodbyes and never hear one;
/// - every session the door let in is told with [`GOING_AWAY`] and
///   [`GOING_AWAY_REASON`], and still receives what was queued for it first;
/// - it returns once every session has finished, or once `grace` has passed since it
///   was called, whichever comes first: one deadline for all the sessions together.
///
/// README.md says why each comes before the next.
pub async fn shut_down(server: &Server, grace: Duration) -> Report {
    let deadline = tokio::time::Instant::now() + grace;
    server.readiness.set_not_ready();
    let sessions = server.door.close();
    for session in &sessions {
        session.close_after_queue(GOING_AWAY, GOING_AWAY_REASON);
    }
    for session in &sessions {
        // One deadline for all: a session that never finishes uses up the grace period
        // once, not once per session.
        if tokio::time::timeout_at(deadline, session.finished())
            .await
            .is_err()
        {
            break;
        }
    }
    let finished = sessions
        .iter()
        .filter(|session| session.is_finished())
        .count();
    Report {
        finished,
        abandoned: sessions.len() - finished,
    }
}

/// Every change under these locks is complete before anything could panic, so a
/// poisoned lock still guards a consistent state.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}
