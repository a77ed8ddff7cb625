//! Ordinary tests of the registry, one thread at a time. They live in a file of their
//! own, not in `registry.rs`: `tests/loom_registry.rs` compiles `registry.rs` against
//! loom, where these tests (using loom's types outside a model) could not run.

use crate::registry::{NameTaken, Registry, Room};
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
    assert_eq!(again.err(), Some(NameTaken));
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
