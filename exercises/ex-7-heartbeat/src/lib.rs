//! Exercise 7: the heartbeat.
//!
//! A learner's copy of the decision inside step 7's heartbeat
//! (`steps/step-7/src/heartbeat.rs`): when to ping a client that has gone quiet, and when
//! to give up on one that stopped answering. There is no socket, no task and no timer
//! here: the server's reader says what happened and when, asks for the next deadline,
//! and does what `on_tick` answers. The types are written; `on_frame`, `deadline`,
//! `on_tick` and `on_resume` are yours. README.md says what each must do; `cargo test`
//! says whether it does.

use std::time::Duration;

use tokio::time::Instant;

/// The server's `--ping-interval` and `--pong-timeout`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HeartbeatTimes {
    /// How long a client may be quiet before the server pings it.
    pub ping_interval: Duration,
    /// How long the server waits, after a ping, for any frame from the client.
    pub pong_timeout: Duration,
}

/// What the reader should do when the heartbeat's deadline comes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Send the client a ping.
    SendPing,
    /// Close the connection: a ping went unanswered for a whole `pong_timeout`.
    Reap,
    /// Nothing yet: the deadline has not come.
    Nothing,
}

/// One connection's heartbeat.
#[derive(Debug, Clone)]
pub struct Heartbeat {
    times: HeartbeatTimes,
    /// When the client was last heard from (or the connection opened).
    last_heard: Instant,
    /// When the unanswered ping was sent, if a ping is waiting for an answer.
    ping_sent: Option<Instant>,
}

impl Heartbeat {
    /// A heartbeat for a connection that opened at `now`. Opening counts as hearing from
    /// the client, and no ping is waiting for an answer.
    pub fn new(times: HeartbeatTimes, now: Instant) -> Heartbeat {
        Heartbeat {
            times,
            last_heard: now,
            ping_sent: None,
        }
    }

    /// The durations this heartbeat was made with.
    pub fn times(&self) -> HeartbeatTimes {
        self.times
    }

    /// When the client was last heard from.
    pub fn last_heard(&self) -> Instant {
        self.last_heard
    }

    /// Whether a ping is waiting for an answer.
    pub fn is_waiting_for_answer(&self) -> bool {
        self.ping_sent.is_some()
    }

    /// A frame of any kind arrived from the client at `now`: a pong, a chat message, an
    /// app-level ping. The client is alive, and a ping waiting for an answer has it.
    pub fn on_frame(&mut self, now: Instant) {
        let _ = now;
        todo!("remember when the client was heard from; a waiting ping is answered")
    }

    /// When `on_tick` next has something to do: `pong_timeout` after the unanswered ping
    /// was sent, if one is waiting; otherwise `ping_interval` after the client was last
    /// heard from.
    pub fn deadline(&self) -> Instant {
        todo!("the end of the wait for an answer, or the time of the next ping")
    }

    /// The reader looks at the heartbeat at `now`. Before the deadline: `Nothing`, and
    /// nothing changes. At or after it: `Reap` if a ping is waiting for an answer;
    /// otherwise `SendPing`, and the ping counts as sent at `now`.
    pub fn on_tick(&mut self, now: Instant) -> Action {
        let _ = now;
        todo!("compare `now` with the deadline, then decide between a ping and giving up")
    }

    /// The server listens to the client again at `now`, after a pause of its own (it
    /// stopped reading while the client's outbox was half full). The client's answer may
    /// be waiting, unread, behind what it sent meanwhile, so a ping waiting for an answer
    /// counts as sent at `now`. With no ping waiting, nothing changes.
    pub fn on_resume(&mut self, now: Instant) {
        let _ = now;
        todo!("restart the wait of a ping that is waiting for an answer")
    }
}
