//! The hub: every room of the server, each with its broadcast channel, and a
//! connection's membership in one of them.
//!
//! The lifecycle of rooms (open on the first join, remove after the last leave, one
//! connection per name and room) is the registry's job, in `registry.rs`, which loom
//! checks. This file adds what the server needs on top: subscribing, `welcome`,
//! `joined` and `left`, all published from inside the registry's critical sections.

use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use axum::extract::ws::Utf8Bytes;
use tokio::sync::broadcast::{
    self,
    error::{RecvError, TryRecvError},
};

use crate::protocol::ServerFrame;
use crate::registry::{self, NameTaken, Registry};
use crate::room::{Audience, Broadcast, Channel, ConnectionId};

// ANCHOR: hub
/// Every room, and the channel inside each.
pub struct Hub {
    /// Which rooms exist and who is in them; each room holds its `Channel`.
    registry: Registry<Channel>,
    /// How many frames each room's channel keeps for a member that has not read them.
    capacity: usize,
    /// Hands out connection ids; only uniqueness matters, so `Relaxed` is enough.
    next_connection_id: AtomicU64,
}
// ANCHOR_END: hub

impl Hub {
    pub fn new(capacity: usize) -> Hub {
        Hub {
            registry: Registry::new(),
            capacity,
            next_connection_id: AtomicU64::new(1),
        }
    }

    // ANCHOR: join
    /// Adds `user` to `room`, opening it if needed, unless the name is already connected
    /// there.
    ///
    /// In one turn of the room's lock the new member is subscribed, listed, sent its
    /// `welcome` and announced to the others. From that moment on it misses nothing,
    /// and every `joined` or `left` it receives changes the list its `welcome` gave it.
    pub fn join(self: &Arc<Self>, room: &str, user: &str) -> Result<Member, NameTaken> {
        let id = ConnectionId(self.next_connection_id.fetch_add(1, Ordering::Relaxed));
        let open = || Channel::open(self.capacity);
        let enter = |channel: &mut Channel, members: &[String]| {
            let receiver = channel.subscribe();
            let welcome = ServerFrame::Welcome {
                user,
                room,
                members,
            };
            channel.publish(Audience::Only(id), &welcome);
            channel.publish(Audience::AllBut(id), &ServerFrame::Joined { room, user });
            receiver
        };
        let (entered, receiver) = self.registry.join(room, user, open, enter)?;
        tracing::info!(user, room, "joined");
        Ok(Member {
            id,
            user: user.to_string(),
            hub: Arc::clone(self),
            room: entered,
            receiver,
            earlier: VecDeque::new(),
        })
    }
    // ANCHOR_END: join

    /// Every room, sorted by name, with its number of members (`GET /api/rooms`).
    pub fn rooms(&self) -> Vec<(String, usize)> {
        self.registry.rooms()
    }

    /// The members of `room` in the order they joined, or `None` if nobody is in it
    /// (`GET /api/rooms/ROOM/members`).
    pub fn members(&self, room: &str) -> Option<Vec<String>> {
        self.registry.members(room)
    }
}

// ANCHOR: member
/// One connection's place in one room. Dropping it is leaving: the others are told
/// `left` however the connection ended (closed, failed, too slow, or a bug that made it
/// panic), and the room is removed if it was the last member.
pub struct Member {
    /// Which frames on the room's channel are for this member.
    id: ConnectionId,
    /// The name the others see.
    user: String,
    /// Where `leave` and `switch_to` go.
    hub: Arc<Hub>,
    /// The room, held directly so that speaking never takes the registry's lock.
    room: Arc<registry::Room<Channel>>,
    /// This member's view of the room's channel: every frame published since it joined.
    receiver: broadcast::Receiver<Broadcast>,
    /// Frames from rooms this connection left with a `join`, published for it before
    /// it left and not read yet. They go out before anything from the current room.
    earlier: VecDeque<Result<Utf8Bytes, RecvError>>,
}

impl Member {
    pub fn user(&self) -> &str {
        &self.user
    }

    pub fn room(&self) -> &str {
        self.room.name()
    }

    /// Says `text` (already checked by `protocol`) in the room.
    pub fn say(&self, text: &str) {
        let room = self.room.name();
        self.room
            .with(|channel, _| channel.say(room, &self.user, text));
    }

    /// The next frame for this member, as JSON; frames for others are skipped.
    /// Cancel-safe: `select!` may drop this future and call it again without losing a
    /// frame, because the position in the channel lives in `receiver`, not in the future.
    pub async fn recv(&mut self) -> Result<Utf8Bytes, RecvError> {
        if let Some(earlier) = self.earlier.pop_front() {
            return earlier;
        }
        loop {
            let broadcast = self.receiver.recv().await?;
            if broadcast.is_for(self.id) {
                return Ok(broadcast.json().clone());
            }
        }
    }
}

impl Drop for Member {
    fn drop(&mut self) {
        let (id, user) = (self.id, self.user.as_str());
        let room = self.room.name();
        self.hub.registry.leave(&self.room, user, |channel, _| {
            channel.publish(Audience::AllBut(id), &ServerFrame::Left { room, user });
        });
        tracing::info!(user, room, "left");
    }
}
// ANCHOR_END: member

// ANCHOR: switch
impl Member {
    /// The `join` frame: moves this connection to `room`. If the name is taken there,
    /// nothing changes and the connection stays where it was.
    ///
    /// The new room is joined before the old one is left, so a refusal costs nothing:
    /// leaving first would mean joining the old room again after a refusal, and by then
    /// someone else could have taken the name there too.
    pub fn switch_to(&mut self, room: &str) -> Result<(), NameTaken> {
        if room == self.room() {
            self.welcome_again();
            return Ok(());
        }
        let moved = self.hub.join(room, &self.user)?;
        // What the old room published for us before we left is still ours: our own
        // last message there, say, or the `welcome` of an earlier `join`. Its receiver
        // is kept aside; assigning then drops the old membership, which leaves the room.
        let id = self.id;
        let mut earlier = std::mem::take(&mut self.earlier);
        let fresh = self.receiver.resubscribe();
        let mut left_behind = std::mem::replace(&mut self.receiver, fresh);
        *self = moved;
        // Nothing more arrives in `left_behind` once we are out, so this ends.
        loop {
            match left_behind.try_recv() {
                Ok(broadcast) if broadcast.is_for(id) => {
                    earlier.push_back(Ok(broadcast.json().clone()));
                }
                Ok(_) => {}
                Err(TryRecvError::Lagged(missed)) => {
                    // Behind in the old room already: `recv` reports it, and the
                    // connection is closed as for any lag.
                    earlier.push_back(Err(RecvError::Lagged(missed)));
                    break;
                }
                Err(TryRecvError::Empty | TryRecvError::Closed) => break,
            }
        }
        self.earlier = earlier;
        Ok(())
    }

    /// A `join` into the room this member is already in: `welcome` again, with the
    /// members as they are now.
    ///
    /// It goes through the room's channel, not straight to the socket, because frames
    /// published before it may still wait in this member's receiver. Sent directly, a
    /// fresh list could arrive ahead of a `joined` it already counts, and the client
    /// would list that member twice; in the channel, the list comes after every frame
    /// it already reflects, as on the first join.
    fn welcome_again(&self) {
        let (id, user, room) = (self.id, self.user.as_str(), self.room.name());
        self.room.with(|channel, members| {
            let welcome = ServerFrame::Welcome {
                user,
                room,
                members,
            };
            channel.publish(Audience::Only(id), &welcome);
        });
    }
}
// ANCHOR_END: switch

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(json: Utf8Bytes) -> serde_json::Value {
        serde_json::from_str(json.as_str()).unwrap()
    }

    async fn next(member: &mut Member) -> serde_json::Value {
        frame(member.recv().await.unwrap())
    }

    #[tokio::test]
    async fn welcome_comes_first_then_presence_and_messages_stay_in_their_room() {
        let hub = Arc::new(Hub::new(16));
        let mut alice = hub.join("rust", "alice").unwrap();
        let mut bob = hub.join("rust", "bob").unwrap();
        let mut carol = hub.join("general", "carol").unwrap();
        assert_eq!(
            next(&mut alice).await["members"],
            serde_json::json!(["alice"])
        );
        assert_eq!(next(&mut alice).await["user"], "bob");
        assert_eq!(
            next(&mut bob).await["members"],
            serde_json::json!(["alice", "bob"])
        );
        assert_eq!(next(&mut carol).await["type"], "welcome");

        bob.say("hi");
        carol.say("elsewhere");
        assert_eq!(next(&mut alice).await["text"], "hi");
        assert_eq!(next(&mut bob).await["id"], 1);
        assert_eq!(next(&mut carol).await["id"], 1, "ids count per room");
    }

    #[tokio::test]
    async fn the_last_member_to_leave_removes_the_room() {
        let hub = Arc::new(Hub::new(16));
        let alice = hub.join("rust", "alice").unwrap();
        assert!(matches!(hub.join("rust", "alice"), Err(NameTaken)));
        let bob = hub.join("rust", "bob").unwrap();
        assert_eq!(hub.rooms(), [("rust".to_string(), 2)]);
        drop(alice);
        assert_eq!(hub.members("rust"), Some(vec!["bob".to_string()]));
        drop(bob);
        assert!(hub.rooms().is_empty());
        assert_eq!(hub.members("rust"), None);
    }

    #[tokio::test]
    async fn switching_rooms_moves_the_member_or_changes_nothing() {
        let hub = Arc::new(Hub::new(16));
        let mut alice = hub.join("general", "alice").unwrap();
        let mut watcher = hub.join("general", "watcher").unwrap();
        let _other_alice = hub.join("rust", "alice").unwrap();
        next(&mut alice).await;
        next(&mut alice).await;
        next(&mut watcher).await;

        assert_eq!(alice.switch_to("rust"), Err(NameTaken));
        assert_eq!(alice.room(), "general");
        alice.switch_to("python").unwrap();
        assert_eq!(alice.room(), "python");
        assert_eq!(next(&mut alice).await["room"], "python");
        assert_eq!(next(&mut watcher).await["type"], "left");
        assert_eq!(hub.members("general"), Some(vec!["watcher".to_string()]));

        alice.switch_to("python").unwrap();
        let again = next(&mut alice).await;
        assert_eq!(
            (again["type"].as_str(), again["room"].as_str()),
            (Some("welcome"), Some("python"))
        );
    }
}
