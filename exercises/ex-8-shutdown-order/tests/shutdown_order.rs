//! The order of a shutdown, and its deadline, one behaviour per test. Time is paused:
//! a grace period of seconds passes in no real time at all, and exactly.

use std::sync::Arc;
use std::time::Duration;

use ex_8_shutdown_order::{
    Event, Frame, GOING_AWAY, GOING_AWAY_REASON, Report, Server, Session, shut_down,
};
use tokio::task::JoinHandle;
use tokio::time::Instant;

const GRACE: Duration = Duration::from_secs(5);

fn server_with(users: &[&str]) -> (Server, Vec<Arc<Session>>) {
    let server = Server::new();
    let sessions = users
        .iter()
        .map(|user| server.door.admit(user).expect("the door is open"))
        .collect();
    (server, sessions)
}

/// Runs `shut_down`, and fails the test (instead of hanging it) if it never returns: an
/// hour of paused time passes in an instant once nothing else is left to run.
async fn shut_down_bounded(server: &Server, grace: Duration) -> Report {
    tokio::time::timeout(Duration::from_secs(3600), shut_down(server, grace))
        .await
        .expect("shut_down never returned: is something waiting without a deadline?")
}

fn going_away() -> Frame {
    Frame::Close {
        code: GOING_AWAY,
        reason: GOING_AWAY_REASON.to_string(),
    }
}

/// A client that waits `delay`, then reads everything up to its close frame, and
/// returns what it read and when it read the close frame.
fn reader(session: &Arc<Session>, delay: Duration) -> JoinHandle<(Vec<Frame>, Instant)> {
    let session = Arc::clone(session);
    tokio::spawn(async move {
        tokio::time::sleep(delay).await;
        let mut frames = Vec::new();
        while let Some(frame) = session.receive().await {
            frames.push(frame);
        }
        (frames, Instant::now())
    })
}

fn told(users: &[&str]) -> Vec<Event> {
    users
        .iter()
        .map(|user| Event::ToldAfterQueue {
            user: user.to_string(),
        })
        .collect()
}

#[tokio::test(start_paused = true)]
async fn readiness_goes_first() {
    let (server, sessions) = server_with(&["alice"]);
    let _alice = reader(&sessions[0], Duration::ZERO);
    shut_down_bounded(&server, GRACE).await;
    assert!(!server.readiness.is_ready());
    assert_eq!(server.events().first(), Some(&Event::NotReady));
}

#[tokio::test(start_paused = true)]
async fn the_door_closes_before_anyone_is_told() {
    let (server, sessions) = server_with(&["alice", "bob"]);
    let _readers: Vec<_> = sessions
        .iter()
        .map(|session| reader(session, Duration::ZERO))
        .collect();
    shut_down_bounded(&server, GRACE).await;
    let events = server.events();
    let door = events.iter().position(|event| *event == Event::DoorClosed);
    let first_told = events
        .iter()
        .position(|event| matches!(event, Event::ToldAfterQueue { .. }));
    assert!(
        door.is_some() && door < first_told,
        "the door must close before the first goodbye: {events:?}"
    );
    assert!(
        server.door.admit("latecomer").is_none(),
        "the door stays closed"
    );
}

#[tokio::test(start_paused = true)]
async fn every_session_is_told_and_gets_its_queue_before_the_1001() {
    let (server, sessions) = server_with(&["alice", "bob"]);
    for text in ["one", "two", "three"] {
        assert!(sessions[0].push(text));
    }
    let readers: Vec<_> = sessions
        .iter()
        .map(|session| reader(session, Duration::from_secs(1)))
        .collect();
    shut_down_bounded(&server, GRACE).await;

    let events = server.events();
    assert_eq!(events[events.len() - 2..], told(&["alice", "bob"]));
    let mut heard = Vec::new();
    for reader in readers {
        heard.push(reader.await.unwrap().0);
    }
    assert_eq!(
        heard[0],
        [
            Frame::Text("one".into()),
            Frame::Text("two".into()),
            Frame::Text("three".into()),
            going_away()
        ],
        "alice's queue, then the 1001"
    );
    assert_eq!(heard[1], [going_away()]);
}

#[tokio::test(start_paused = true)]
async fn it_waits_until_every_client_has_its_close_frame() {
    let (server, sessions) = server_with(&["alice", "bob", "carol"]);
    let started = Instant::now();
    let _readers: Vec<_> = sessions
        .iter()
        .zip([3, 1, 2])
        .map(|(session, seconds)| reader(session, Duration::from_secs(seconds)))
        .collect();
    let report = shut_down_bounded(&server, GRACE).await;
    assert_eq!(
        started.elapsed(),
        Duration::from_secs(3),
        "alice is the last to read"
    );
    assert_eq!(
        report,
        Report {
            finished: 3,
            abandoned: 0
        }
    );
    assert!(sessions.iter().all(|session| session.is_finished()));
}

#[tokio::test(start_paused = true)]
async fn a_client_that_never_reads_holds_up_the_exit_only_until_the_deadline() {
    let (server, sessions) = server_with(&["sloth", "alice"]);
    let alice = reader(&sessions[1], Duration::ZERO);
    let started = Instant::now();
    let report = shut_down_bounded(&server, GRACE).await;
    assert_eq!(started.elapsed(), GRACE);
    assert_eq!(
        report,
        Report {
            finished: 1,
            abandoned: 1
        }
    );
    let (frames, closed_at) = alice.await.unwrap();
    assert_eq!(frames, [going_away()]);
    assert_eq!(closed_at, started, "alice did not wait for sloth");
}

#[tokio::test(start_paused = true)]
async fn the_grace_period_is_one_deadline_for_all_the_sessions() {
    let (server, _sessions) = server_with(&["sloth", "snail", "tortoise"]);
    let started = Instant::now();
    let report = shut_down_bounded(&server, GRACE).await;
    assert_eq!(
        started.elapsed(),
        GRACE,
        "three stuck clients, one grace period"
    );
    assert_eq!(
        report,
        Report {
            finished: 0,
            abandoned: 3
        }
    );
}

#[tokio::test(start_paused = true)]
async fn with_nobody_connected_it_returns_at_once() {
    let server = Server::new();
    let started = Instant::now();
    let report = shut_down_bounded(&server, GRACE).await;
    assert_eq!(started.elapsed(), Duration::ZERO);
    assert_eq!(
        report,
        Report {
            finished: 0,
            abandoned: 0
        }
    );
    assert_eq!(server.events(), [Event::NotReady, Event::DoorClosed]);
}
