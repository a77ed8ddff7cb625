//! The one room of step 4, `general`: a broadcast channel that every connection
//! subscribes to, and the counter that numbers its messages.
//!
//! Every frame is serialized once, here, and the channel carries the finished JSON, so a
//! message to a hundred members is one `serde_json` call and a hundred reference-count
//! increments, not a hundred copies.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{SystemTime, UNIX_EPOCH};

use axum::extract::ws::Utf8Bytes;
use tokio::sync::broadcast::{self, error::RecvError};

use crate::protocol::ServerFrame;

// ANCHOR: capacity
/// How many frames the room keeps for a member that has not read them yet. A member that
/// falls further behind is disconnected with close code 1013 (see `connection`); step 6
/// replaces this one shared limit with a queue per member.
///
/// Why 1024: members who read as fast as they can still fall behind for a moment when
/// many frames are published at once, because on a busy machine their tasks wait their
/// turn. Two hundred people connecting together is such a burst (a `joined` frame each),
/// and so are two hundred leaving, or a paste of many lines; the channel must hold the
/// burst until every task has caught up. With 128, a burst of 200 arrivals dropped most
/// of the crowd, and each drop sent a `left` frame that made the burst worse. A frame is
/// dropped once everyone has it, so the memory this costs is only what the members who
/// are behind have not read yet.
pub const ROOM_CAPACITY: usize = 1024;
// ANCHOR_END: capacity

/// A number the room gives each member. Names may repeat in this step (nothing checks),
/// ids never do, so "not about yourself" compares ids.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ConnectionId(pub u64);

// ANCHOR: broadcast
/// What travels on the room's channel.
#[derive(Debug, Clone)]
pub struct Broadcast {
    /// The one connection this frame is not for: `joined` and `left` are about somebody
    /// else, never yourself. `None` for chat messages, which their author receives too.
    skip: Option<ConnectionId>,
    /// The frame as JSON. `Utf8Bytes` is reference-counted: cloning it for every member
    /// shares one buffer.
    json: Utf8Bytes,
}
// ANCHOR_END: broadcast

// ANCHOR: room
/// The room every connection joins.
pub struct Room {
    /// The room's name, written into every frame.
    name: &'static str,
    /// Each member holds a receiver; the room keeps the sender so that it can publish
    /// even while nobody is connected, and so that `subscribe` is always possible.
    sender: broadcast::Sender<Broadcast>,
    /// Who is here, and the id of the next chat message. Every frame is published with
    /// this lock held, so frames enter the channel in the order they changed the room:
    /// two members speaking at once cannot take ids 7 and 8 but enter the channel as 8
    /// then 7, and a newcomer's member list is exactly what the `joined` and `left`
    /// frames after it start from. A `std` mutex, not tokio's, because it is never held
    /// across an `.await`.
    state: Mutex<RoomState>,
    /// Hands out connection ids; only uniqueness matters, so `Relaxed` is enough.
    next_connection_id: AtomicU64,
}

/// What the room's lock protects.
struct RoomState {
    /// The id the next chat message gets.
    next_message_id: u64,
    /// Every connection in the room, in the order they joined, with its user name. Names
    /// may repeat in this step, so a name connected twice is listed twice.
    members: Vec<(ConnectionId, String)>,
}
// ANCHOR_END: room

impl Room {
    pub fn new(name: &'static str, capacity: usize) -> Room {
        let (sender, _) = broadcast::channel(capacity);
        Room {
            name,
            sender,
            state: Mutex::new(RoomState {
                next_message_id: 1,
                members: Vec::new(),
            }),
            next_connection_id: AtomicU64::new(1),
        }
    }

    pub fn name(&self) -> &'static str {
        self.name
    }

    // ANCHOR: join
    /// Adds a member, and returns it with the names of everyone in the room, its own
    /// included. It is subscribed, listed and announced in one turn of the lock: from
    /// this moment on it misses nothing, and every `joined` or `left` it receives
    /// changes the list it was given (it never hears of someone already on it).
    pub fn join(self: &Arc<Self>, user: &str) -> (Member, Vec<String>) {
        let id = ConnectionId(self.next_connection_id.fetch_add(1, Ordering::Relaxed));
        let mut state = self.lock();
        let receiver = self.sender.subscribe();
        state.members.push((id, user.to_string()));
        let members = state.members.iter().map(|(_, name)| name.clone()).collect();
        self.publish(
            Some(id),
            &ServerFrame::Joined {
                room: self.name,
                user,
            },
        );
        drop(state);
        let member = Member {
            id,
            user: user.to_string(),
            room: Arc::clone(self),
            receiver,
        };
        (member, members)
    }
    // ANCHOR_END: join

    // ANCHOR: say
    /// Numbers a chat message and sends it to every member, its author included.
    fn say(&self, user: &str, text: &str) {
        let mut state = self.lock();
        let id = state.next_message_id;
        state.next_message_id += 1;
        self.publish(
            None,
            &ServerFrame::Message {
                id,
                room: self.name,
                user,
                text,
                ts: now_millis(),
            },
        );
    }
    // ANCHOR_END: say

    /// The room's state. A panic elsewhere while holding this lock cannot leave a
    /// half-made change behind (each change is one push, one removal or one increment),
    /// so a poisoned lock is still safe to use.
    fn lock(&self) -> MutexGuard<'_, RoomState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Sends `frame` to the members. Always called with the room's lock held, so that
    /// the channel's order is the order in which the room changed.
    fn publish(&self, skip: Option<ConnectionId>, frame: &ServerFrame<'_>) {
        let broadcast = Broadcast {
            skip,
            json: frame.to_json().into(),
        };
        // `send` fails only when no receiver exists. Every call comes from a member,
        // which holds a receiver (`left` is published before it is dropped), so the
        // error cannot happen, and if it did there would be nobody to tell.
        let _ = self.sender.send(broadcast);
    }
}

/// Milliseconds since the Unix epoch. A clock set before 1970 gives 0 rather than a
/// panic.
fn now_millis() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.as_millis() as u64)
}

// ANCHOR: member
/// One connection's place in the room. Dropping it is leaving: the others are told
/// `left` however the connection ended (closed, failed, too slow, or a bug that made it
/// panic).
pub struct Member {
    /// Which `joined`/`left` frames to hold back from this member.
    id: ConnectionId,
    /// The name the others see.
    user: String,
    /// Where `say` and `left` go.
    room: Arc<Room>,
    /// This member's view of the channel: every frame published since it joined.
    receiver: broadcast::Receiver<Broadcast>,
}

impl Member {
    pub fn user(&self) -> &str {
        &self.user
    }

    /// Says `text` (already checked by `protocol`) in the room.
    pub fn say(&self, text: &str) {
        self.room.say(&self.user, text);
    }

    /// The next frame for this member, as JSON; frames about itself are skipped.
    /// Cancel-safe: `select!` may drop this future and call it again without losing a
    /// frame, because the position in the channel lives in `receiver`, not in the future.
    pub async fn recv(&mut self) -> Result<Utf8Bytes, RecvError> {
        loop {
            let broadcast = self.receiver.recv().await?;
            if broadcast.skip != Some(self.id) {
                return Ok(broadcast.json);
            }
        }
    }
}

impl Drop for Member {
    fn drop(&mut self) {
        let mut state = self.room.lock();
        state.members.retain(|(id, _)| *id != self.id);
        self.room.publish(
            Some(self.id),
            &ServerFrame::Left {
                room: self.room.name,
                user: &self.user,
            },
        );
    }
}
// ANCHOR_END: member

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(json: Utf8Bytes) -> serde_json::Value {
        serde_json::from_str(json.as_str()).unwrap()
    }

    #[tokio::test]
    async fn presence_goes_to_the_others_and_messages_to_everyone() {
        let room = Arc::new(Room::new("general", 16));
        let (mut alice, _) = room.join("alice");
        let (mut bob, _) = room.join("bob");
        assert_eq!(frame(alice.recv().await.unwrap())["type"], "joined");

        bob.say("hi");
        let to_alice = frame(alice.recv().await.unwrap());
        let to_bob = frame(bob.recv().await.unwrap());
        assert_eq!(to_alice, to_bob);
        assert_eq!(to_alice["id"], 1);

        drop(bob);
        let left = frame(alice.recv().await.unwrap());
        assert_eq!(
            (left["type"].as_str(), left["user"].as_str()),
            (Some("left"), Some("bob"))
        );
    }

    #[tokio::test]
    async fn the_member_list_includes_yourself_and_follows_presence() {
        let room = Arc::new(Room::new("general", 16));
        let (alice, members) = room.join("alice");
        assert_eq!(members, ["alice"]);
        let (bob, members) = room.join("bob");
        assert_eq!(members, ["alice", "bob"]);
        // Names may repeat in step 4: each connection is listed.
        let (_second_alice, members) = room.join("alice");
        assert_eq!(members, ["alice", "bob", "alice"]);
        drop(alice);
        drop(bob);
        let (_carol, members) = room.join("carol");
        assert_eq!(members, ["alice", "carol"]);
    }

    #[tokio::test]
    async fn ids_increase_in_delivery_order() {
        let room = Arc::new(Room::new("general", 64));
        let (mut watcher, _) = room.join("watcher");
        let speakers: Vec<_> = (0..4).map(|n| room.join(&format!("s{n}")).0).collect();
        let speakers = Arc::new(speakers);
        let mut tasks = Vec::new();
        for n in 0..4 {
            let speakers = Arc::clone(&speakers);
            tasks.push(std::thread::spawn(move || {
                for _ in 0..8 {
                    speakers[n].say("x");
                }
            }));
        }
        for task in tasks {
            task.join().unwrap();
        }
        let mut last = 0;
        let mut seen = 0;
        while seen < 32 {
            let f = frame(watcher.recv().await.unwrap());
            if f["type"] == "message" {
                let id = f["id"].as_u64().unwrap();
                assert!(id > last, "id {id} arrived after {last}");
                last = id;
                seen += 1;
            }
        }
    }
}
