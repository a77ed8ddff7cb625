//! Which rooms exist and who is in each: a room is opened by its first member, removed
//! when its last member leaves, and holds a user name at most once.
//!
//! Nothing here knows about tokio, sockets or JSON. What a room holds besides its member
//! list is a type parameter `T`: in the server, the room's `Channel` (its members'
//! outboxes and its message counter, see `room.rs`); in the loom model
//! (`tests/loom_registry.rs`), which compiles this very file against loom's `Mutex` and
//! `Arc` through `crate::sync`, a plain value.
//!
//! Two kinds of lock, and one rule. The registry's lock guards the map of rooms; each
//! room's lock guards its members and its contents. **Whoever changes who is in a room
//! holds the registry's lock from the moment it looks the room up until the change is
//! made**, taking the room's lock inside it (always in that order, so two threads can
//! never wait for each other). Then "is this room still listed?" and "is anybody in
//! it?" can never disagree: a join cannot enter a room that a leave is removing, and a
//! leave cannot remove a room that a join has just entered. A chat message changes no
//! membership and takes the room's lock alone, so busy rooms do not wait for each other.

use std::collections::BTreeMap;
// loom's `Mutex` reports poisoning with std's error type, so this one import serves both
// builds.
use std::sync::PoisonError;

use crate::sync::{Arc, Mutex, MutexGuard};

/// Every room that has members, and who they are.
pub struct Registry<T> {
    /// The rooms by name. A `BTreeMap`, so that listing them is already sorted by name.
    /// Only rooms with at least one member are in it.
    rooms: Mutex<BTreeMap<String, Arc<Room<T>>>>,
}

/// One room. Its members hold an `Arc` to it, so that speaking in the room never needs
/// the registry's lock.
pub struct Room<T> {
    name: String,
    /// The members and the contents, behind the room's own lock.
    state: Mutex<RoomState<T>>,
}

/// What a room's lock guards.
struct RoomState<T> {
    /// User names in the order they joined. No name appears twice.
    members: Vec<String>,
    /// What the room holds besides its members: in the server, the outboxes
    /// of its audience and the counter that numbers its messages.
    contents: T,
}

/// A `join` was refused because the room already has a member with that name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NameTaken;

impl<T> Default for Registry<T> {
    fn default() -> Self {
        Registry::new()
    }
}

impl<T> Registry<T> {
    pub fn new() -> Self {
        Registry {
            rooms: Mutex::new(BTreeMap::new()),
        }
    }

    /// Adds `user` to `room`, opening the room with `open()` if nobody is in it, unless
    /// the room already has a member called `user`.
    ///
    /// `enter` runs under the room's lock, with the room's contents and its members
    /// (`user` last): what it publishes is ordered with every other join, leave and
    /// message of the room. Returns the room and what `enter` returned.
    pub fn join<R>(
        &self,
        room: &str,
        user: &str,
        open: impl FnOnce() -> T,
        enter: impl FnOnce(&mut T, &[String]) -> R,
    ) -> Result<(Arc<Room<T>>, R), NameTaken> {
        let mut rooms = lock(&self.rooms);
        let room = rooms
            .entry(room.to_string())
            .or_insert_with(|| Room::open(room, open()));
        // Still holding the registry's lock: no leave can remove this room before we are
        // in it. (A room just opened is empty, so the name check cannot fail there and
        // leave an empty room behind.)
        let mut state = lock(&room.state);
        if state.members.iter().any(|member| member == user) {
            return Err(NameTaken);
        }
        state.members.push(user.to_string());
        let RoomState { members, contents } = &mut *state;
        let entered = enter(contents, members);
        drop(state);
        Ok((Arc::clone(room), entered))
    }

    /// Removes `user` from `room`, and the room from the registry if it is now empty.
    ///
    /// `depart` runs under the room's lock with the members that remain, like `enter`
    /// in [`Registry::join`]. Leaving a room one is not in changes nothing.
    pub fn leave(&self, room: &Arc<Room<T>>, user: &str, depart: impl FnOnce(&mut T, &[String])) {
        // The registry's lock first, as in `join`: a join that wants this room waits
        // until we have decided whether it still exists.
        let mut rooms = lock(&self.rooms);
        let mut state = lock(&room.state);
        let Some(at) = state.members.iter().position(|member| member == user) else {
            return;
        };
        state.members.remove(at);
        let RoomState { members, contents } = &mut *state;
        depart(contents, members);
        if state.members.is_empty() {
            // A room with members is always the one listed under its name (both are only
            // changed under the registry's lock), so this removes `room` itself.
            rooms.remove(&room.name);
        }
    }

    /// Every room, sorted by name, with its number of members.
    pub fn rooms(&self) -> Vec<(String, usize)> {
        let rooms = lock(&self.rooms);
        rooms
            .iter()
            .map(|(name, room)| (name.clone(), lock(&room.state).members.len()))
            .collect()
    }

    /// The members of `room` in the order they joined, or `None` if there is no such
    /// room (nobody is in it).
    pub fn members(&self, room: &str) -> Option<Vec<String>> {
        let rooms = lock(&self.rooms);
        let room = rooms.get(room)?;
        Some(lock(&room.state).members.clone())
    }
}

impl<T> Room<T> {
    fn open(name: &str, contents: T) -> Arc<Room<T>> {
        Arc::new(Room {
            name: name.to_string(),
            state: Mutex::new(RoomState {
                members: Vec::new(),
                contents,
            }),
        })
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// Runs `f` with the room's contents and members, under the room's lock and no
    /// other: for what happens inside a room without changing who is in it, such as a
    /// chat message.
    pub fn with<R>(&self, f: impl FnOnce(&mut T, &[String]) -> R) -> R {
        let mut state = lock(&self.state);
        let RoomState { members, contents } = &mut *state;
        f(contents, members)
    }
}

/// Takes a lock. Every change under these locks is one push, one removal or one insert,
/// so a panic elsewhere while one was held cannot have left half a change behind, and a
/// poisoned lock is still safe to use.
fn lock<S>(mutex: &Mutex<S>) -> MutexGuard<'_, S> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// A deliberately broken join, kept only for the loom model that catches it. It is the
/// natural first attempt: find the room under the registry's lock, then enter it under
/// the room's lock. Each half is correct on its own; the bug is the gap between them.
#[cfg(test)]
impl<T> Registry<T> {
    /// The first half: finds `room`, or opens it, and lets go of the registry's lock.
    pub fn find_racy(&self, room: &str, open: impl FnOnce() -> T) -> Arc<Room<T>> {
        let mut rooms = lock(&self.rooms);
        let found = rooms
            .entry(room.to_string())
            .or_insert_with(|| Room::open(room, open()));
        Arc::clone(found)
        // The registry's lock is released here. If the last member leaves now, the
        // room we hold is removed from the registry, and we are about to enter it.
    }

    /// The second half: enters the room found, under the room's lock only.
    pub fn enter_racy<R>(
        &self,
        room: &Arc<Room<T>>,
        user: &str,
        enter: impl FnOnce(&mut T, &[String]) -> R,
    ) -> Result<R, NameTaken> {
        let mut state = lock(&room.state);
        if state.members.iter().any(|member| member == user) {
            return Err(NameTaken);
        }
        state.members.push(user.to_string());
        let RoomState { members, contents } = &mut *state;
        Ok(enter(contents, members))
    }
}
