//! Ordinary tests of the registry, one thread at a time. They live in a file of their
//! own, not in `registry.rs`: `tests/loom_registry.rs` compiles `registry.rs` against
//! loom, where these tests (using loom's types outside a model) could not run.

use crate::registry::{Refused, Registry, Room};
use crate::sync::Arc;

fn join(registry: &Registry<()>, room: &str, user: &str) -> Arc<Room<()>> {
    registry.join(room, user, || (), |_, _| ()).unwrap().0
}

#[test]
fn rooms_open_on_demand_and_close_with_their_last_member() {
    let registry = Registry::new();
    assert!(registry.rooms().is_empty());
    let rust = join(&registry, "rust", "alice");
    let general = join(&registry, "general", "bob");
    join(&registry, "rust", "carol");
    assert_eq!(
        registry.rooms(),
        [("general".to_string(), 1), ("rust".to_string(), 2)]
    );
    assert_eq!(
        registry.members("rust"),
        Some(vec!["alice".to_string(), "carol".to_string()])
    );

    registry.leave(&general, "bob", |_, _| ());
    assert_eq!(registry.members("general"), None);
    registry.leave(&rust, "alice", |_, _| ());
    registry.leave(&rust, "carol", |_, _| ());
    assert!(registry.rooms().is_empty());
}

#[test]
fn a_name_is_held_once_per_room() {
    let registry = Registry::new();
    let rust = join(&registry, "rust", "alice");
    let again = registry.join("rust", "alice", || (), |_, _| ());
    assert_eq!(again.err(), Some(Refused::NameTaken));
    join(&registry, "general", "alice");
    registry.leave(&rust, "alice", |_, _| ());
    join(&registry, "rust", "alice");
}

#[test]
fn enter_and_depart_see_the_members_and_the_contents() {
    let registry = Registry::new();
    let (rust, seen) = registry
        .join(
            "rust",
            "alice",
            || 10,
            |contents: &mut i32, members| {
                *contents += 1;
                members.to_vec()
            },
        )
        .unwrap();
    assert_eq!(seen, ["alice"]);
    let (_, seen) = registry
        .join(
            "rust",
            "bob",
            || 0,
            |contents, members| (*contents, members.to_vec()),
        )
        .unwrap();
    assert_eq!(seen, (11, vec!["alice".to_string(), "bob".to_string()]));
    let mut left_behind = Vec::new();
    registry.leave(&rust, "alice", |_, members| left_behind = members.to_vec());
    assert_eq!(left_behind, ["bob"]);
}

#[test]
fn close_seals_every_room_refuses_joins_and_still_lets_members_leave() {
    let registry = Registry::new();
    let rust = registry
        .join("rust", "alice", || false, |_, _| ())
        .unwrap()
        .0;
    registry.join("rust", "bob", || false, |_, _| ()).unwrap();
    let general = registry
        .join("general", "carol", || false, |_, _| ())
        .unwrap()
        .0;

    let mut sealed = Vec::new();
    registry.close(|is_sealed: &mut bool, members| {
        *is_sealed = true;
        sealed.extend(members.iter().cloned());
    });
    assert_eq!(sealed, ["carol", "alice", "bob"], "rooms in order of name");
    assert!(rust.with(|is_sealed, _| *is_sealed) && general.with(|is_sealed, _| *is_sealed));

    for room in ["rust", "a-new-room"] {
        let refused = registry.join(room, "dave", || false, |_, _| ());
        assert_eq!(refused.err(), Some(Refused::Closed), "{room}");
    }
    registry.leave(&rust, "alice", |_, _| ());
    registry.leave(&general, "carol", |_, _| ());
    assert_eq!(registry.rooms(), [("rust".to_string(), 1)]);
}
