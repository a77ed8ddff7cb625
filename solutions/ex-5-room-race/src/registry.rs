// Which rooms exist and who is in each: your copy of step 5's registry, without the
// broadcast channels. A room is opened by its first member, removed when its last member
// leaves, and holds a user name at most once.
//
// Two kinds of lock: the registry's, over the map of rooms, and each room's, over its
// members. `rooms` and `members` below are finished. `join` and `leave` are what you fix.
//
// (Plain `//` comments up here, not `//!`: `tests/loom_registry.rs` pastes this file into
// a module with `include!`, where inner doc comments are not allowed.)

use std::collections::BTreeMap;
// loom's `Mutex` reports poisoning with std's error type, so this one import serves both
// builds.
use std::sync::PoisonError;

use crate::sync::{Arc, Mutex, MutexGuard};

/// Every room that has members, and who they are.
pub struct Registry {
    /// The rooms by name. Only rooms with at least one member may be in it.
    rooms: Mutex<BTreeMap<String, Arc<Room>>>,
}

/// One room. Its members hold an `Arc` to it.
pub struct Room {
    name: String,
    /// User names in the order they joined. No name appears twice.
    members: Mutex<Vec<String>>,
}

/// A `join` was refused because the room already has a member with that name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NameTaken;

impl Default for Registry {
    fn default() -> Self {
        Registry::new()
    }
}

impl Registry {
    pub fn new() -> Self {
        Registry {
            rooms: Mutex::new(BTreeMap::new()),
        }
    }

    /// Adds `user` to `room`, opening the room if nobody is in it, unless the room
    /// already has a member called `user`. Returns the room.
    pub fn join(&self, room: &str, user: &str) -> Result<Arc<Room>, NameTaken> {
        let mut rooms = lock(&self.rooms);
        let found = rooms
            .entry(room.to_string())
            .or_insert_with(|| Room::open(room));
        // Still holding the registry's lock: no `leave` can remove this room before we
        // are in it. (A room just opened is empty, so the name check cannot fail there
        // and leave an empty room behind.)
        let mut members = lock(&found.members);
        if members.iter().any(|member| member == user) {
            return Err(NameTaken);
        }
        members.push(user.to_string());
        drop(members);
        Ok(Arc::clone(found))
    }

    /// Removes `user` from `room`, and the room from the registry if it is now empty.
    /// Leaving a room one is not in changes nothing.
    pub fn leave(&self, room: &Arc<Room>, user: &str) {
        // The registry's lock first, as in `join`, and held to the end: deciding that
        // the room is empty and removing it happen in one step that no `join` can enter.
        let mut rooms = lock(&self.rooms);
        let mut members = lock(&room.members);
        let Some(at) = members.iter().position(|member| member == user) else {
            return;
        };
        members.remove(at);
        if members.is_empty() {
            rooms.remove(&room.name);
        }
    }

    /// Every room, sorted by name, with its number of members.
    pub fn rooms(&self) -> Vec<(String, usize)> {
        let rooms = lock(&self.rooms);
        rooms
            .iter()
            .map(|(name, room)| (name.clone(), lock(&room.members).len()))
            .collect()
    }

    /// The members of `room` in the order they joined, or `None` if the registry lists
    /// no such room.
    pub fn members(&self, room: &str) -> Option<Vec<String>> {
        let rooms = lock(&self.rooms);
        let room = rooms.get(room)?;
        Some(lock(&room.members).clone())
    }
}

impl Room {
    fn open(name: &str) -> Arc<Room> {
        Arc::new(Room {
            name: name.to_string(),
            members: Mutex::new(Vec::new()),
        })
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// The members of this room, whether or not the registry still lists it.
    pub fn members(&self) -> Vec<String> {
        lock(&self.members).clone()
    }
}

/// Takes a lock, also one that a panic elsewhere left poisoned: every change under these
/// locks is one push, one removal or one insert, never half of one.
fn lock<S>(mutex: &Mutex<S>) -> MutexGuard<'_, S> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}
