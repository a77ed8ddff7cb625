//! The heartbeat of one connection: when to ping a quiet client, and when to give up on
//! one that stopped answering.
//!
//! Only the decision lives here, with no socket, no task and no timer: the connection's
//! reader tells the heartbeat what happened and when (`on_frame`, `on_resume`), asks it
//! when to look again (`deadline`), and does what `on_tick` says. The time is always
//! passed in, so the unit tests below can run a whole minute of a connection's life in
//! no time at all.

use std::time::Duration;

use tokio::time::Instant;

/// The two heartbeat flags, `--ping-interval` and `--pong-timeout`.
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
    /// The client has been quiet for a whole `ping_interval`: ask it whether it is
    /// still there.
    SendPing,
    /// A ping went unanswered for a whole `pong_timeout`: the client is presumed gone,
    /// and its connection is closed.
    Reap,
    /// The deadline has not come yet: a frame arrived since the timer was set, and
    /// moved it later.
    Nothing,
}

/// One connection's heartbeat.
///
/// The rule: **any** frame from the client proves it is alive, a pong, a chat message
/// or an app-level `ping` alike. After `ping_interval` without one, the server sends a
/// ping; if `pong_timeout` then passes without a frame either, the client is reaped.
/// There is never more than one unanswered ping, so a client that stops answering is
/// reaped `ping_interval + pong_timeout` after it was last heard from, whichever of
/// the two is longer.
#[derive(Debug, Clone)]
pub struct Heartbeat {
    times: HeartbeatTimes,
    /// When the client was last heard from (or the connection opened).
    last_heard: Instant,
    /// When the unanswered ping was sent, if one is unanswered. Any frame clears it.
    ping_sent: Option<Instant>,
}

impl Heartbeat {
    /// A heartbeat for a connection that opened at `now`: opening counts as hearing
    /// from the client.
    pub fn new(times: HeartbeatTimes, now: Instant) -> Heartbeat {
        Heartbeat {
            times,
            last_heard: now,
            ping_sent: None,
        }
    }

    /// A frame of any kind arrived from the client at `now`.
    pub fn on_frame(&mut self, now: Instant) {
        self.last_heard = now;
        self.ping_sent = None;
    }

    /// When [`Heartbeat::on_tick`] has something to do: the next ping, or the end of the
    /// wait for an answer.
    pub fn deadline(&self) -> Instant {
        match self.ping_sent {
            Some(sent) => sent + self.times.pong_timeout,
            None => self.last_heard + self.times.ping_interval,
        }
    }

    /// The reader looks at the heartbeat at `now`, usually because the deadline came.
    pub fn on_tick(&mut self, now: Instant) -> Action {
        if now < self.deadline() {
            return Action::Nothing;
        }
        if self.ping_sent.is_some() {
            return Action::Reap;
        }
        self.ping_sent = Some(now);
        Action::SendPing
    }
}

impl Heartbeat {
    /// The server starts listening to the client again at `now`, after a pause of its
    /// own making (step 6's pacing: nothing is read from a client while its outbox is
    /// half full).
    ///
    /// Whatever the client sent during the pause is still unread, its answer to the
    /// ping perhaps among it, so the pause is not the client's silence: an unanswered
    /// ping counts as sent now, and the client gets a whole `pong_timeout` of listening
    /// to answer it. Without one, nothing changes: if a ping fell due during the pause,
    /// it goes out at once.
    pub fn on_resume(&mut self, now: Instant) {
        if let Some(sent) = &mut self.ping_sent {
            *sent = now;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TIMES: HeartbeatTimes = HeartbeatTimes {
        ping_interval: Duration::from_secs(20),
        pong_timeout: Duration::from_secs(10),
    };

    fn secs(n: u64) -> Duration {
        Duration::from_secs(n)
    }

    #[test]
    fn a_quiet_client_is_pinged_after_the_interval_and_reaped_after_the_timeout() {
        let start = Instant::now();
        let mut heartbeat = Heartbeat::new(TIMES, start);
        assert_eq!(heartbeat.deadline(), start + secs(20));
        assert_eq!(heartbeat.on_tick(start + secs(19)), Action::Nothing);
        assert_eq!(heartbeat.on_tick(start + secs(20)), Action::SendPing);
        assert_eq!(heartbeat.deadline(), start + secs(30));
        assert_eq!(heartbeat.on_tick(start + secs(29)), Action::Nothing);
        assert_eq!(heartbeat.on_tick(start + secs(30)), Action::Reap);
    }

    #[test]
    fn any_frame_answers_the_ping_and_restarts_the_interval() {
        let start = Instant::now();
        let mut heartbeat = Heartbeat::new(TIMES, start);
        assert_eq!(heartbeat.on_tick(start + secs(20)), Action::SendPing);
        heartbeat.on_frame(start + secs(25));
        assert_eq!(heartbeat.deadline(), start + secs(45));
        assert_eq!(heartbeat.on_tick(start + secs(30)), Action::Nothing);
        assert_eq!(heartbeat.on_tick(start + secs(45)), Action::SendPing);
    }

    #[test]
    fn a_client_that_talks_is_never_pinged() {
        let start = Instant::now();
        let mut heartbeat = Heartbeat::new(TIMES, start);
        for second in (5..=300).step_by(5) {
            heartbeat.on_frame(start + secs(second));
            assert_eq!(heartbeat.on_tick(start + secs(second)), Action::Nothing);
        }
    }

    #[test]
    fn a_late_tick_counts_the_timeout_from_when_the_ping_really_went_out() {
        let start = Instant::now();
        let mut heartbeat = Heartbeat::new(TIMES, start);
        assert_eq!(heartbeat.on_tick(start + secs(50)), Action::SendPing);
        assert_eq!(heartbeat.deadline(), start + secs(60));
    }

    #[test]
    fn a_pong_timeout_longer_than_the_interval_still_means_one_ping_at_a_time() {
        let times = HeartbeatTimes {
            ping_interval: secs(1),
            pong_timeout: secs(5),
        };
        let start = Instant::now();
        let mut heartbeat = Heartbeat::new(times, start);
        assert_eq!(heartbeat.on_tick(start + secs(1)), Action::SendPing);
        for second in 2..6 {
            assert_eq!(heartbeat.on_tick(start + secs(second)), Action::Nothing);
        }
        assert_eq!(heartbeat.on_tick(start + secs(6)), Action::Reap);
    }

    #[test]
    fn after_a_pause_an_unanswered_ping_gets_a_whole_timeout_again() {
        let start = Instant::now();
        let mut heartbeat = Heartbeat::new(TIMES, start);
        assert_eq!(heartbeat.on_tick(start + secs(20)), Action::SendPing);
        // The reader stopped listening at 21 s and listens again at 40 s: the answer may
        // be waiting, unread, behind what the client said meanwhile.
        heartbeat.on_resume(start + secs(40));
        assert_eq!(heartbeat.on_tick(start + secs(40)), Action::Nothing);
        assert_eq!(heartbeat.deadline(), start + secs(50));
        assert_eq!(heartbeat.on_tick(start + secs(50)), Action::Reap);
    }

    #[test]
    fn after_a_pause_without_a_ping_a_ping_that_fell_due_goes_out_at_once() {
        let start = Instant::now();
        let mut heartbeat = Heartbeat::new(TIMES, start);
        heartbeat.on_resume(start + secs(35));
        assert_eq!(heartbeat.on_tick(start + secs(35)), Action::SendPing);
        assert_eq!(heartbeat.deadline(), start + secs(45));
    }

    /// The way the reader drives it: sleep until the deadline, tick, repeat. With paused
    /// time the sleeps take no real time, and the clock says exactly when each action
    /// came.
    #[tokio::test(start_paused = true)]
    async fn driven_by_a_timer_a_silent_client_is_reaped_after_interval_plus_timeout() {
        let start = Instant::now();
        let mut heartbeat = Heartbeat::new(TIMES, start);
        let mut actions = Vec::new();
        while actions.last() != Some(&Action::Reap) {
            tokio::time::sleep_until(heartbeat.deadline()).await;
            let action = heartbeat.on_tick(Instant::now());
            actions.push(action);
            assert!(actions.len() < 10, "never reaped: {actions:?}");
        }
        assert_eq!(actions, [Action::SendPing, Action::Reap]);
        assert_eq!(start.elapsed(), TIMES.ping_interval + TIMES.pong_timeout);
    }

    #[tokio::test(start_paused = true)]
    async fn driven_by_a_timer_a_client_that_answers_every_ping_is_never_reaped() {
        let start = Instant::now();
        let mut heartbeat = Heartbeat::new(TIMES, start);
        let round_trip = Duration::from_millis(80);
        let mut pings = 0;
        while pings < 180 {
            tokio::time::sleep_until(heartbeat.deadline()).await;
            match heartbeat.on_tick(Instant::now()) {
                Action::SendPing => {
                    pings += 1;
                    tokio::time::advance(round_trip).await;
                    heartbeat.on_frame(Instant::now());
                }
                Action::Reap => panic!("reaped after {:?}", start.elapsed()),
                Action::Nothing => {}
            }
        }
        // A ping every 20 s plus a round trip: just over an hour, in no real time.
        assert_eq!(start.elapsed(), 180 * (TIMES.ping_interval + round_trip));
    }
}
