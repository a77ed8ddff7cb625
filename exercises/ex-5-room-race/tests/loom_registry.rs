//! loom models of the room registry. Each one races joins and leaves on two or three
//! threads and checks one promise of the registry under every interleaving loom finds
//! (up to two preemptions). An ordinary test could not: the races below need one
//! thread to stop for a moment at exactly the wrong line, which a test run almost
//! never does.
//!
//! As in step 5, this test crate compiles `src/registry.rs` itself, with its own `sync`
//! module standing in for the library's, so that `crate::sync` means loom inside it.

/// What `crate::sync` means inside this test crate: loom's types, under std's names.
mod sync {
    pub use loom::sync::{Arc, Mutex, MutexGuard};
}

/// The registry under test, compiled against the `sync` module above.
///
/// `include!` with `CARGO_MANIFEST_DIR`, not `#[path]`: a path would be read relative to
/// this file, which the reference solution runs from another crate, so it would always
/// find the exercise's copy. `CARGO_MANIFEST_DIR` names the crate being tested.
#[allow(dead_code)] // the models use only part of the registry's API
mod registry {
    include!(concat!(env!("CARGO_MANIFEST_DIR"), "/src/registry.rs"));
}

use loom::sync::Arc;
use loom::thread;
use registry::{Registry, Room};

/// Runs `model` under every interleaving with at most two forced thread switches.
fn check(model: impl Fn() + Sync + Send + 'static) {
    let mut builder = loom::model::Builder::new();
    // Few preemptions find most bugs (each race here needs one); each one more
    // multiplies the runs.
    builder.preemption_bound = Some(2);
    builder.check(model);
}

fn names(list: &[&str]) -> Vec<String> {
    list.iter().map(|name| name.to_string()).collect()
}

/// Starts `user`'s leave of `room` on a thread of its own.
fn leave_on_a_thread(
    rooms: &Arc<Registry>,
    room: Arc<Room>,
    user: &'static str,
) -> thread::JoinHandle<()> {
    let rooms = Arc::clone(rooms);
    thread::spawn(move || rooms.leave(&room, user))
}

/// Starts `user`'s join of `room` on a thread of its own; the thread returns the room
/// it entered, or `None` if it was refused.
fn join_on_a_thread(
    rooms: &Arc<Registry>,
    room: &'static str,
    user: &'static str,
) -> thread::JoinHandle<Option<Arc<Room>>> {
    let rooms = Arc::clone(rooms);
    thread::spawn(move || rooms.join(room, user).ok())
}

/// alice is alone in `rust` and leaves while bob joins. bob must end up in the room the
/// registry lists, never in one that alice's leave removed.
#[test]
fn a_join_racing_the_last_leave_lands_in_a_listed_room() {
    check(|| {
        let rooms = Arc::new(Registry::new());
        let rust = rooms.join("rust", "alice").unwrap();
        let alice = leave_on_a_thread(&rooms, rust, "alice");

        let bobs_room = rooms.join("rust", "bob").unwrap();
        alice.join().unwrap();

        assert_eq!(
            rooms.members("rust"),
            Some(names(&["bob"])),
            "bob's room has {:?}, the registry lists {:?}",
            bobs_room.members(),
            rooms.rooms()
        );
    });
}

/// alice leaves `rust` while bob and carol join it: afterwards the registry counts
/// exactly those two there.
#[test]
fn member_counts_stay_right_while_people_come_and_go() {
    check(|| {
        let rooms = Arc::new(Registry::new());
        let rust = rooms.join("rust", "alice").unwrap();
        let alice = leave_on_a_thread(&rooms, rust, "alice");
        let bob = join_on_a_thread(&rooms, "rust", "bob");

        rooms.join("rust", "carol").unwrap();
        assert!(bob.join().unwrap().is_some(), "bob was refused");
        alice.join().unwrap();

        assert_eq!(rooms.rooms(), [("rust".to_string(), 2)]);
    });
}

/// alice and bob leave `rust` at the same time. One of them is the last to go, and the
/// room must be removed: no room may outlive its members.
#[test]
fn two_last_members_leaving_at_once_remove_the_room() {
    check(|| {
        let rooms = Arc::new(Registry::new());
        let rust = rooms.join("rust", "alice").unwrap();
        let same_room = rooms.join("rust", "bob").unwrap();
        let alice = leave_on_a_thread(&rooms, rust, "alice");

        rooms.leave(&same_room, "bob");
        alice.join().unwrap();

        assert_eq!(rooms.rooms(), [], "an empty room was left behind");
    });
}

/// alice leaves `rust` while bob joins it and leaves again. Once both are gone, the
/// registry is empty.
#[test]
fn no_room_outlives_its_last_member() {
    check(|| {
        let rooms = Arc::new(Registry::new());
        let rust = rooms.join("rust", "alice").unwrap();
        let alice = leave_on_a_thread(&rooms, rust, "alice");

        let bobs_room = rooms.join("rust", "bob").unwrap();
        rooms.leave(&bobs_room, "bob");
        alice.join().unwrap();

        assert_eq!(rooms.rooms(), [], "a room was left behind");
    });
}

/// bob, alone in `rust`, leaves while two connections both try to join it as alice.
/// Exactly one of them may.
#[test]
fn a_name_is_held_once_per_room() {
    check(|| {
        let rooms = Arc::new(Registry::new());
        let rust = rooms.join("rust", "bob").unwrap();
        let bob = leave_on_a_thread(&rooms, rust, "bob");
        let first_alice = join_on_a_thread(&rooms, "rust", "alice");

        let second_alice = rooms.join("rust", "alice").is_ok();
        let first_alice = first_alice.join().unwrap().is_some();
        bob.join().unwrap();

        assert!(
            first_alice != second_alice,
            "both alices were let into rust: {first_alice}, {second_alice}"
        );
        assert_eq!(rooms.members("rust"), Some(names(&["alice"])));
    });
}
