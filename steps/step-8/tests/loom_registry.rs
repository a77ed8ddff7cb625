//! loom models of the room registry: joins and leaves racing each other, under every
//! interleaving loom can find (up to a bound on preemptions).
//!
//! As in step 1, this test crate compiles `src/registry.rs` itself, with its own `sync`
//! module standing in for the library's, so that `crate::sync` means loom inside it. A
//! room holds `()` here: the models are about who is in which room, not about what the
//! room carries.
//!
//! It all runs under a plain `cargo test`, in a few seconds.

/// What `crate::sync` means inside this test crate: loom's types, under std's names.
mod sync {
    pub use loom::sync::{Arc, Mutex, MutexGuard};
}

/// The real registry, compiled against the `sync` module above.
#[allow(dead_code)] // the models use only part of the registry's API
#[path = "../src/registry.rs"]
mod registry;

use std::sync::atomic::AtomicUsize;
use std::sync::atomic::Ordering::SeqCst;

use loom::sync::Arc;
use loom::thread;
use registry::{Refused, Registry, Room};

/// Checks `model` under every interleaving with at most 2 forced thread switches. The
/// race below needs one; 2 leaves a margin and keeps the whole file at a few seconds.
/// Set here, not in the environment, so that a plain `cargo test` is the whole command.
fn check(model: impl Fn() + Sync + Send + 'static) {
    const PREEMPTIONS: usize = 2;
    let mut builder = loom::model::Builder::new();
    builder.preemption_bound = Some(PREEMPTIONS);
    builder.check(model);
}

type Rooms = Registry<()>;

/// Joins `user` to `room` and returns the room with the members `user` saw on entering.
fn join(rooms: &Rooms, room: &str, user: &str) -> Result<(Arc<Room<()>>, Vec<String>), Refused> {
    rooms.join(room, user, || (), |_, members| members.to_vec())
}

fn leave(rooms: &Rooms, room: &Arc<Room<()>>, user: &str) {
    rooms.leave(room, user, |_, _| ());
}

/// Starts `user`'s leave of `room` on a thread of its own.
fn leave_on_a_thread(
    rooms: &Arc<Rooms>,
    room: Arc<Room<()>>,
    user: &'static str,
) -> thread::JoinHandle<()> {
    let rooms = Arc::clone(rooms);
    thread::spawn(move || leave(&rooms, &room, user))
}

fn names(list: &[&str]) -> Vec<String> {
    list.iter().map(|name| name.to_string()).collect()
}

/// alice is alone in `rust` and leaves it while bob joins it. Whichever goes first, bob
/// must end up in the room the registry lists under `rust`, alone: never in a room that
/// alice's leave removed.
#[test]
fn a_join_racing_the_last_leave_lands_in_a_listed_room() {
    check(|| {
        let rooms = Arc::new(Rooms::new());
        let (rust, _) = join(&rooms, "rust", "alice").unwrap();
        let alice = leave_on_a_thread(&rooms, rust, "alice");

        let (bobs_room, _) = join(&rooms, "rust", "bob").unwrap();
        alice.join().unwrap();

        assert_eq!(rooms.members("rust"), Some(names(&["bob"])));
        assert_eq!(bobs_room.with(|_, members| members.to_vec()), ["bob"]);
    });
}

/// Three threads: alice leaves `rust` while bob and carol join it. The counts always add
/// up: each newcomer sees itself on entering, once, and at the end the registry lists
/// `rust` with exactly bob and carol.
#[test]
fn member_counts_stay_right_while_people_come_and_go() {
    check(|| {
        let rooms = Arc::new(Rooms::new());
        let (rust, _) = join(&rooms, "rust", "alice").unwrap();
        let alice = leave_on_a_thread(&rooms, rust, "alice");
        let bob = {
            let rooms = Arc::clone(&rooms);
            thread::spawn(move || join(&rooms, "rust", "bob").unwrap().1)
        };

        let (_, seen_by_carol) = join(&rooms, "rust", "carol").unwrap();
        let seen_by_bob = bob.join().unwrap();
        alice.join().unwrap();

        for (who, seen) in [("bob", &seen_by_bob), ("carol", &seen_by_carol)] {
            assert_eq!(seen.last().map(String::as_str), Some(who), "{seen:?}");
            assert_eq!(seen.iter().filter(|name| *name == who).count(), 1);
        }
        assert_eq!(rooms.rooms(), [("rust".to_string(), 2)]);
        let mut members = rooms.members("rust").unwrap();
        members.sort();
        assert_eq!(members, names(&["bob", "carol"]));
    });
}

/// No room leaks: alice leaves `rust` while bob joins it and leaves again. Once both
/// are gone, the registry is empty.
#[test]
fn no_room_outlives_its_last_member() {
    check(|| {
        let rooms = Arc::new(Rooms::new());
        let (rust, _) = join(&rooms, "rust", "alice").unwrap();
        let alice = leave_on_a_thread(&rooms, rust, "alice");

        let (bobs_room, _) = join(&rooms, "rust", "bob").unwrap();
        leave(&rooms, &bobs_room, "bob");
        alice.join().unwrap();

        assert_eq!(rooms.rooms(), []);
    });
}

/// Two last members leave at the same time: one of them must remove the room.
#[test]
fn two_leaves_at_once_still_remove_the_room() {
    check(|| {
        let rooms = Arc::new(Rooms::new());
        let (rust, _) = join(&rooms, "rust", "alice").unwrap();
        let (same_room, _) = join(&rooms, "rust", "bob").unwrap();
        let alice = leave_on_a_thread(&rooms, rust, "alice");

        leave(&rooms, &same_room, "bob");
        alice.join().unwrap();

        assert_eq!(rooms.rooms(), []);
    });
}

/// bob, alone in `rust`, leaves it while two connections both try to join it as alice.
/// Exactly one of them may, whichever way the three interleave.
#[test]
fn a_name_is_held_once_per_room() {
    check(|| {
        let rooms = Arc::new(Rooms::new());
        let (rust, _) = join(&rooms, "rust", "bob").unwrap();
        let bob = leave_on_a_thread(&rooms, rust, "bob");
        let first_alice = {
            let rooms = Arc::clone(&rooms);
            thread::spawn(move || join(&rooms, "rust", "alice").is_ok())
        };

        let second_alice = join(&rooms, "rust", "alice").is_ok();
        let first_alice = first_alice.join().unwrap();
        bob.join().unwrap();

        assert!(
            first_alice != second_alice,
            "both joins as alice: {first_alice}, {second_alice}"
        );
        assert_eq!(rooms.members("rust"), Some(names(&["alice"])));
    });
}

/// What the model of the racy join saw, across all of loom's runs. Recorded instead of
/// asserted: a failed assertion inside the model would stop loom at the first bad run,
/// and we want to know how many runs there were, how many went wrong, and what the first
/// bad one looked like.
static RUNS: AtomicUsize = AtomicUsize::new(0);
static BAD_RUNS: AtomicUsize = AtomicUsize::new(0);
static FIRST_BAD_RUN: std::sync::Mutex<Vec<String>> = std::sync::Mutex::new(Vec::new());

/// The first model again, with bob joining through the racy `find_racy` + `enter_racy`.
/// loom must find a run in which bob ends up in a room the registry no longer lists.
#[test]
fn loom_finds_the_join_that_lands_in_a_removed_room() {
    check(|| {
        // What happened in this run, in order. A std mutex: it only records, and loom
        // must not count it as a place where threads can switch.
        let story = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let tell = |story: &std::sync::Mutex<Vec<String>>, line: String| {
            story.lock().unwrap().push(line);
        };

        let rooms = Arc::new(Rooms::new());
        let (rust, _) = join(&rooms, "rust", "alice").unwrap();
        let alice = {
            let (rooms, story) = (Arc::clone(&rooms), std::sync::Arc::clone(&story));
            thread::spawn(move || {
                // Told from inside the room's lock, so it takes its true place.
                rooms.leave(&rust, "alice", |_, left| {
                    let removed = if left.is_empty() {
                        ", so it is removed"
                    } else {
                        ""
                    };
                    tell(
                        &story,
                        format!("alice leaves; members left: {left:?}{removed}"),
                    );
                });
            })
        };

        let found = rooms.find_racy("rust", || ());
        tell(
            &story,
            "bob   finds room rust and lets go of the registry's lock".into(),
        );
        rooms
            .enter_racy(&found, "bob", |_, members| {
                tell(
                    &story,
                    format!("bob   enters the room he found; members: {members:?}"),
                );
            })
            .unwrap();
        alice.join().unwrap();

        RUNS.fetch_add(1, SeqCst);
        let listed = rooms.members("rust");
        if listed.is_none() {
            BAD_RUNS.fetch_add(1, SeqCst);
            let mut first = FIRST_BAD_RUN.lock().unwrap();
            if first.is_empty() {
                first.extend(story.lock().unwrap().drain(..));
                first.push(format!(
                    "then: the registry lists {:?}; bob is alone in a room nobody can find",
                    rooms.rooms()
                ));
            }
        }
    });

    let (runs, bad) = (RUNS.load(SeqCst), BAD_RUNS.load(SeqCst));
    assert!(bad > 0, "loom explored {runs} runs and never lost bob");
    println!("loom explored {runs} interleavings; in {bad} of them bob was lost. The first:");
    for (step, line) in FIRST_BAD_RUN.lock().unwrap().iter().enumerate() {
        println!("  {}. {line}", step + 1);
    }
}
