//! loom models of the shutdown's one piece of hand-written synchronization:
//! `Registry::close`, which refuses every join from then on and seals every room, racing
//! the joins, switches and messages that may be under way at that moment.
//!
//! Like `loom_registry.rs`, this test crate compiles `src/registry.rs` itself against
//! loom's `Mutex` and `Arc`. A room carries [`Inboxes`] here, a stand-in for the
//! server's `Channel`: each member's list of frames, and whether the room is sealed.
//! The registry is the real one; the closures play the hub's part as `hub.rs` does.

/// What `crate::sync` means inside this test crate: loom's types, under std's names.
mod sync {
    pub use loom::sync::{Arc, Mutex, MutexGuard};
}

/// The real registry, compiled against the `sync` module above.
#[allow(dead_code)] // the models use only part of the registry's API
#[path = "../src/registry.rs"]
mod registry;

use loom::sync::Arc;
use loom::thread;
use registry::{Refused, Registry, Room};

/// Every interleaving with at most 2 forced thread switches, as in `loom_registry.rs`.
fn check(model: impl Fn() + Sync + Send + 'static) {
    let mut builder = loom::model::Builder::new();
    builder.preemption_bound = Some(2);
    builder.check(model);
}

/// One member's inbox, a stand-in for its outbox.
struct Inbox {
    user: String,
    frames: Vec<&'static str>,
    /// Set by the seal: the member's connection will be told to close, after `frames`.
    sealed: bool,
}

/// A room's contents in these models: its members' inboxes.
#[derive(Default)]
struct Inboxes(Vec<Inbox>);

impl Inboxes {
    /// Like `Channel::publish`: `frame` goes into every inbox that is not sealed.
    fn publish(&mut self, frame: &'static str) {
        for inbox in self.0.iter_mut().filter(|inbox| !inbox.sealed) {
            inbox.frames.push(frame);
        }
    }

    /// Like `Channel::seal`: seals every inbox and says how many.
    fn seal(&mut self) -> usize {
        for inbox in &mut self.0 {
            inbox.sealed = true;
        }
        self.0.len()
    }

    fn inbox(&self, user: &str) -> Option<&Inbox> {
        self.0.iter().find(|inbox| inbox.user == user)
    }
}

type Rooms = Registry<Inboxes>;

/// Joins `user` to `room` with an empty inbox, as `Hub::join` subscribes an outbox.
fn join(rooms: &Rooms, room: &str, user: &str) -> Result<Arc<Room<Inboxes>>, Refused> {
    let entered = rooms.join(room, user, Inboxes::default, |contents, _| {
        contents.0.push(Inbox {
            user: user.to_string(),
            frames: Vec::new(),
            sealed: false,
        });
    });
    entered.map(|(room, ())| room)
}

/// Seals every room, as `Hub::close` does, and returns how many inboxes it sealed.
fn close(rooms: &Rooms) -> usize {
    let mut sealed = 0;
    rooms.close(|contents, _| sealed += contents.seal());
    sealed
}

/// Whether `user` is a member of `room` with a sealed inbox there: that member's
/// connection will be told to close.
fn is_sealed_in(room: &Room<Inboxes>, user: &str) -> bool {
    room.with(|contents, members| {
        let sealed = contents.inbox(user).is_some_and(|inbox| inbox.sealed);
        sealed && members.iter().any(|member| member == user)
    })
}

/// bob joins `rust`, where alice is, and carol opens a room of her own, both while the
/// server closes. Each join is refused, or its member ends up in a sealed room and was
/// counted among those told: no session escapes the shutdown.
#[test]
fn a_join_racing_the_close_is_refused_or_sealed() {
    check(|| {
        let rooms = Arc::new(Rooms::new());
        join(&rooms, "rust", "alice").unwrap();
        let joining = |room: &'static str, user: &'static str| {
            let rooms = Arc::clone(&rooms);
            thread::spawn(move || join(&rooms, room, user))
        };
        let bob = joining("rust", "bob");
        let carol = joining("go", "carol");

        let told = close(&rooms);
        let mut admitted = 0;
        for (user, joined) in [
            ("bob", bob.join().unwrap()),
            ("carol", carol.join().unwrap()),
        ] {
            match joined {
                Ok(room) => {
                    assert!(
                        is_sealed_in(&room, user),
                        "{user} joined and was not sealed"
                    );
                    admitted += 1;
                }
                Err(refused) => assert_eq!(refused, Refused::Closed, "{user}"),
            }
        }
        assert_eq!(
            told,
            1 + admitted,
            "alice and every admitted join were told"
        );
        assert_eq!(
            join(&rooms, "rust", "dave").err(),
            Some(Refused::Closed),
            "closed for good"
        );
    });
}

/// alice says something in `rust` while the server closes. The message reaches alice
/// (her echo: the server accepted it) and bob, or neither: never one without the other.
/// Checked on what each inbox held when it was sealed, which is what the writer sends
/// before the 1001.
#[test]
fn a_message_is_sealed_in_with_every_member_or_with_none() {
    check(|| {
        let rooms = Arc::new(Rooms::new());
        let rust = join(&rooms, "rust", "alice").unwrap();
        join(&rooms, "rust", "bob").unwrap();
        let alice = thread::spawn(move || rust.with(|contents, _| contents.publish("hi")));

        let mut at_the_seal = Vec::new();
        rooms.close(|contents, _| {
            for user in ["alice", "bob"] {
                let frames = &contents.inbox(user).unwrap().frames;
                at_the_seal.push(frames.contains(&"hi"));
            }
            contents.seal();
        });
        alice.join().unwrap();

        let [accepted, reached_bob] = at_the_seal[..] else {
            panic!("sealed {} inboxes", at_the_seal.len());
        };
        assert_eq!(accepted, reached_bob);
    });
}

/// bob switches from `general` to `rust` while the server closes. Like `Member::switch_to`
/// in the hub, the join into `rust` takes bob's inbox out of `general` under both rooms'
/// locks, and the old membership is left afterwards. Whichever way it goes, bob ends up
/// sealed in exactly one room: the switch is refused and he is sealed in `general`, or it
/// went through and he is sealed in `rust`.
#[test]
fn a_switch_racing_the_close_leaves_the_member_sealed_in_one_room() {
    check(|| {
        let rooms = Arc::new(Rooms::new());
        let general = join(&rooms, "general", "bob").unwrap();
        join(&rooms, "rust", "alice").unwrap();
        let switch = {
            let (rooms, general) = (Arc::clone(&rooms), Arc::clone(&general));
            thread::spawn(move || {
                let moved = rooms.join("rust", "bob", Inboxes::default, |contents, _| {
                    let inbox = general.with(|old, _| {
                        let at = old.0.iter().position(|inbox| inbox.user == "bob");
                        old.0.remove(at.unwrap())
                    });
                    contents.0.push(inbox);
                });
                if let Ok((rust, ())) = moved {
                    rooms.leave(&general, "bob", |_, _| ());
                    Some(rust)
                } else {
                    None
                }
            })
        };

        let told = close(&rooms);
        let switched = switch.join().unwrap();

        assert_eq!(told, 2, "bob's inbox was sealed once, wherever it was");
        match switched {
            Some(rust) => {
                assert!(is_sealed_in(&rust, "bob"));
                assert_eq!(rooms.members("general"), None);
            }
            None => assert!(is_sealed_in(&general, "bob")),
        }
    });
}
