//! The heartbeat's rule, one behaviour per test. Most tests do arithmetic on instants and
//! need no clock at all; the last two drive the heartbeat with a timer, as the server
//! does, on paused time: a minute of a connection's life runs in no real time.

use std::time::Duration;

use ex_7_heartbeat::{Action, Heartbeat, HeartbeatTimes};
use tokio::time::Instant;

/// The server's defaults: `--ping-interval 20s --pong-timeout 10s`.
const TIMES: HeartbeatTimes = HeartbeatTimes {
    ping_interval: Duration::from_secs(20),
    pong_timeout: Duration::from_secs(10),
};

fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

/// A heartbeat that opened at `start`, with [`TIMES`].
fn opened_at(start: Instant) -> Heartbeat {
    Heartbeat::new(TIMES, start)
}

#[test]
fn the_first_ping_is_due_one_interval_after_the_connection_opened() {
    let start = Instant::now();
    assert_eq!(opened_at(start).deadline(), start + secs(20));
}

#[test]
fn before_the_deadline_a_tick_does_nothing_and_changes_nothing() {
    let start = Instant::now();
    let mut heartbeat = opened_at(start);
    assert_eq!(heartbeat.on_tick(start + secs(19)), Action::Nothing);
    assert!(!heartbeat.is_waiting_for_answer());
    assert_eq!(heartbeat.deadline(), start + secs(20));
}

#[test]
fn a_quiet_client_is_pinged_once_the_interval_has_passed() {
    let start = Instant::now();
    let mut heartbeat = opened_at(start);
    assert_eq!(heartbeat.on_tick(start + secs(20)), Action::SendPing);
    assert!(heartbeat.is_waiting_for_answer());
}

#[test]
fn after_a_ping_the_deadline_is_the_end_of_the_wait_for_an_answer() {
    let start = Instant::now();
    let mut heartbeat = opened_at(start);
    heartbeat.on_tick(start + secs(20));
    assert_eq!(heartbeat.deadline(), start + secs(30));
    assert_eq!(heartbeat.on_tick(start + secs(29)), Action::Nothing);
}

#[test]
fn an_unanswered_ping_reaps_the_client_after_the_timeout() {
    let start = Instant::now();
    let mut heartbeat = opened_at(start);
    heartbeat.on_tick(start + secs(20));
    assert_eq!(heartbeat.on_tick(start + secs(30)), Action::Reap);
}

#[test]
fn any_frame_answers_the_ping_and_the_next_one_is_an_interval_later() {
    let start = Instant::now();
    let mut heartbeat = opened_at(start);
    heartbeat.on_tick(start + secs(20));
    heartbeat.on_frame(start + secs(25));
    assert!(!heartbeat.is_waiting_for_answer());
    assert_eq!(heartbeat.last_heard(), start + secs(25));
    assert_eq!(heartbeat.deadline(), start + secs(45));
    assert_eq!(heartbeat.on_tick(start + secs(30)), Action::Nothing);
    assert_eq!(heartbeat.on_tick(start + secs(45)), Action::SendPing);
}

#[test]
fn a_client_that_keeps_talking_is_never_pinged() {
    let start = Instant::now();
    let mut heartbeat = opened_at(start);
    for second in (15..=600).step_by(15) {
        heartbeat.on_frame(start + secs(second));
        assert_eq!(heartbeat.on_tick(start + secs(second + 5)), Action::Nothing);
    }
}

#[test]
fn the_wait_for_an_answer_counts_from_when_the_ping_went_out() {
    // The tick came late, at 50 s instead of 20 s: the client gets its 10 s from 50 s.
    let start = Instant::now();
    let mut heartbeat = opened_at(start);
    assert_eq!(heartbeat.on_tick(start + secs(50)), Action::SendPing);
    assert_eq!(heartbeat.deadline(), start + secs(60));
    assert_eq!(heartbeat.on_tick(start + secs(59)), Action::Nothing);
}

#[test]
fn one_ping_at_a_time_even_when_the_timeout_is_longer_than_the_interval() {
    let times = HeartbeatTimes {
        ping_interval: secs(1),
        pong_timeout: secs(5),
    };
    let start = Instant::now();
    let mut heartbeat = Heartbeat::new(times, start);
    assert_eq!(heartbeat.on_tick(start + secs(1)), Action::SendPing);
    for second in 2..6 {
        assert_eq!(
            heartbeat.on_tick(start + secs(second)),
            Action::Nothing,
            "at {second} s"
        );
    }
    assert_eq!(heartbeat.on_tick(start + secs(6)), Action::Reap);
}

#[test]
fn after_a_pause_a_ping_waiting_for_an_answer_gets_a_whole_timeout_again() {
    let start = Instant::now();
    let mut heartbeat = opened_at(start);
    heartbeat.on_tick(start + secs(20));
    // The server stopped reading at 22 s and reads again at 40 s: the answer may be
    // there, unread, behind what the client said meanwhile.
    heartbeat.on_resume(start + secs(40));
    assert!(heartbeat.is_waiting_for_answer());
    assert_eq!(heartbeat.deadline(), start + secs(50));
    assert_eq!(heartbeat.on_tick(start + secs(45)), Action::Nothing);
    assert_eq!(heartbeat.on_tick(start + secs(50)), Action::Reap);
}

#[test]
fn after_a_pause_with_no_ping_waiting_nothing_changes() {
    let start = Instant::now();
    let mut heartbeat = opened_at(start);
    heartbeat.on_frame(start + secs(5));
    heartbeat.on_resume(start + secs(40));
    assert!(!heartbeat.is_waiting_for_answer());
    assert_eq!(heartbeat.last_heard(), start + secs(5));
    // The ping fell due during the pause: it goes out at once.
    assert_eq!(heartbeat.deadline(), start + secs(25));
    assert_eq!(heartbeat.on_tick(start + secs(40)), Action::SendPing);
}

/// Sleeps until each deadline and ticks, as the server's reader does, until the heartbeat
/// says `Reap` (at most `ticks` times). Returns the actions in order.
async fn run_until_reaped(heartbeat: &mut Heartbeat, ticks: usize) -> Vec<Action> {
    let mut actions = Vec::new();
    while actions.last() != Some(&Action::Reap) {
        assert!(actions.len() < ticks, "not reaped: {actions:?}");
        tokio::time::sleep_until(heartbeat.deadline()).await;
        actions.push(heartbeat.on_tick(Instant::now()));
    }
    actions
}

#[tokio::test(start_paused = true)]
async fn on_a_timer_a_silent_client_is_reaped_interval_plus_timeout_after_it_went_quiet() {
    let start = Instant::now();
    let mut heartbeat = opened_at(start);
    let actions = run_until_reaped(&mut heartbeat, 10).await;
    assert_eq!(actions, [Action::SendPing, Action::Reap]);
    // Paused time: the clock moved exactly to each deadline, in no real time.
    assert_eq!(start.elapsed(), secs(30));
}

#[tokio::test(start_paused = true)]
async fn on_a_timer_a_client_that_answers_every_ping_stays_until_it_stops() {
    let start = Instant::now();
    let mut heartbeat = opened_at(start);
    let mut pings = 0;
    // Ten pings, each answered after a round trip of 100 ms.
    while pings < 10 {
        tokio::time::sleep_until(heartbeat.deadline()).await;
        match heartbeat.on_tick(Instant::now()) {
            Action::SendPing => {
                pings += 1;
                tokio::time::advance(Duration::from_millis(100)).await;
                heartbeat.on_frame(Instant::now());
            }
            Action::Reap => panic!("reaped after {:?}", start.elapsed()),
            Action::Nothing => {}
        }
    }
    let answered_last = start.elapsed();
    assert_eq!(answered_last, 10 * (secs(20) + Duration::from_millis(100)));
    // Then it falls silent.
    run_until_reaped(&mut heartbeat, 10).await;
    assert_eq!(start.elapsed(), answered_last + secs(30));
}
