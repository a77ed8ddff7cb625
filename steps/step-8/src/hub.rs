//! The hub: every room of the server, each with the outboxes of its members, and a
//! connection's membership in one of them.
//!
//! The lifecycle of rooms (open on the first join, remove after the last leave, one
//! connection per name and room) is the registry's job, in `registry.rs`, which loom
//! checks. This file adds what the server needs on top: subscribing an outbox,
//! `welcome`, `joined` and `left`, all published from inside the registry's critical
//! sections.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::config::Limits;
use crate::outbox::Outbox;
use crate::protocol::ServerFrame;
use crate::registry::{self, Refused, Registry};
use crate::room::{Audience, Channel, ConnectionId};

/// Every room, and the outboxes inside each.
pub struct Hub {
    /// Which rooms exist and who is in them; each room holds its `Channel`.
    registry: Registry<Channel>,
    /// The limits from the flags: each new connection gets an outbox of this size, and
    /// `/ws` reads the largest message a client may send from here.
    limits: Limits,
    /// Hands out connection ids; only uniqueness matters, so `Relaxed` is enough.
    next_connection_id: AtomicU64,
}

impl Hub {
    pub fn new(limits: Limits) -> Hub {
        Hub {
            registry: Registry::new(),
            limits,
            next_connection_id: AtomicU64::new(1),
        }
    }

    pub fn limits(&self) -> Limits {
        self.limits
    }

    /// Adds `user` to `room`, opening it if needed, unless the name is already connected
    /// there or the server is shutting down. The new member comes with a new, empty
    /// outbox.
    pub fn join(self: &Arc<Self>, room: &str, user: &str) -> Result<Member, Refused> {
        let outbox = Arc::new(Outbox::new(self.limits.outbox));
        self.enter(room, user, outbox, None)
    }

    /// Adds `user` to `room` with `outbox`, unless the name is already connected there.
    /// `leaving` is the membership this one replaces, when a connection switches rooms.
    ///
    /// In one turn of the room's lock the outbox is subscribed, the member listed, sent
    /// its `welcome` and announced to the others. From that moment on it misses nothing,
    /// and every `joined` or `left` it receives changes the list its `welcome` gave it.
    fn enter(
        self: &Arc<Self>,
        room: &str,
        user: &str,
        outbox: Arc<Outbox>,
        leaving: Option<(&registry::Room<Channel>, ConnectionId)>,
    ) -> Result<Member, Refused> {
        let id = ConnectionId(self.next_connection_id.fetch_add(1, Ordering::Relaxed));
        let enter = |channel: &mut Channel, members: &[String]| {
            if let Some((old_room, old_id)) = leaving {
                // The outbox outlives the old membership, so the old room must stop
                // pushing into it before the new `welcome` goes in: after it, the
                // client expects nothing but this room. Two room locks at once, but
                // only ever under the registry's lock, so no other thread can hold
                // them the other way round.
                old_room.with(|old, _| old.unsubscribe(old_id));
            }
            channel.subscribe(id, Arc::clone(&outbox));
            let welcome = ServerFrame::Welcome {
                user,
                room,
                members,
            };
            channel.publish(Audience::Only(id), &welcome);
            channel.publish(Audience::AllBut(id), &ServerFrame::Joined { room, user });
        };
        let (entered, ()) = self.registry.join(room, user, Channel::open, enter)?;
        tracing::info!(user, room, "joined");
        Ok(Member {
            id,
            user: user.to_string(),
            hub: Arc::clone(self),
            room: entered,
            outbox,
        })
    }

    // ANCHOR: close
    /// Shutting down: from now on every join is refused, and every member's outbox is
    /// sealed behind the frames already in it (see `Channel::seal`). Returns how many
    /// outboxes were sealed.
    pub fn close(&self) -> usize {
        let mut sealed = 0;
        self.registry.close(|channel, _| sealed += channel.seal());
        sealed
    }
    // ANCHOR_END: close

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

/// One connection's place in one room. Dropping it is leaving: the others are told
/// `left` however the connection ended (closed, failed, too slow, or a bug that made it
/// panic), and the room is removed if it was the last member.
pub struct Member {
    /// Which frames published in the room are for this member.
    id: ConnectionId,
    /// The name the others see.
    user: String,
    /// Where `leave` and `switch_to` go.
    hub: Arc<Hub>,
    /// The room, held directly so that speaking never takes the registry's lock.
    room: Arc<registry::Room<Channel>>,
    /// Where every frame for this connection waits for its writer. It belongs to the
    /// connection, not to one membership: a switch of rooms keeps it, with whatever is
    /// still waiting in it.
    outbox: Arc<Outbox>,
}

impl Member {
    pub fn user(&self) -> &str {
        &self.user
    }

    pub fn room(&self) -> &str {
        self.room.name()
    }

    pub fn outbox(&self) -> &Arc<Outbox> {
        &self.outbox
    }

    /// Says `text` (already checked by `protocol`) in the room.
    pub fn say(&self, text: &str) {
        let room = self.room.name();
        self.room
            .with(|channel, _| channel.say(room, &self.user, text));
    }
}

impl Drop for Member {
    fn drop(&mut self) {
        let (id, user) = (self.id, self.user.as_str());
        let room = self.room.name();
        self.hub.registry.leave(&self.room, user, |channel, _| {
            channel.unsubscribe(id);
            channel.publish(Audience::AllBut(id), &ServerFrame::Left { room, user });
        });
        tracing::info!(user, room, "left");
    }
}

impl Member {
    /// The `join` frame: moves this connection to `room`. If the name is taken there,
    /// nothing changes and the connection stays where it was.
    ///
    /// The new room is joined before the old one is left, so a refusal costs nothing:
    /// leaving first would mean joining the old room again after a refusal, and by then
    /// someone else could have taken the name there too.
    pub fn switch_to(&mut self, room: &str) -> Result<(), Refused> {
        if room == self.room() {
            self.welcome_again();
            return Ok(());
        }
        let outbox = Arc::clone(&self.outbox);
        let moved = self
            .hub
            .enter(room, &self.user, outbox, Some((&self.room, self.id)))?;
        // Assigning drops the old membership, which leaves the old room.
        *self = moved;
        Ok(())
    }

    /// A `join` into the room this member is already in: `welcome` again, with the
    /// members as they are now.
    ///
    /// It is published in the room, not pushed straight into the outbox, so that it
    /// takes its place after every frame it already reflects: pushed directly from
    /// outside the room's lock, a fresh list could overtake a `joined` it already
    /// counts, and the client would list that member twice.
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

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use serde_json::{Value, json};

    use super::*;
    use crate::heartbeat::HeartbeatTimes;
    use crate::outbox::{Closing, OutboxLimits};

    fn hub(frames: usize) -> Arc<Hub> {
        Arc::new(Hub::new(Limits {
            max_message_bytes: 16384,
            outbox: OutboxLimits {
                frames,
                bytes: 1 << 20,
            },
            heartbeat: HeartbeatTimes {
                ping_interval: Duration::from_secs(20),
                pong_timeout: Duration::from_secs(10),
            },
        }))
    }

    /// Every frame waiting in `member`'s outbox, oldest first, as JSON.
    async fn waiting(member: &Member) -> Vec<Value> {
        let mut batch = Vec::new();
        let next = member.outbox().next_batch(&mut batch);
        tokio::time::timeout(Duration::from_secs(5), next)
            .await
            .expect("a frame is waiting")
            .expect("the outbox is open");
        batch
            .iter()
            .map(|json| serde_json::from_str(json).unwrap())
            .collect()
    }

    fn kinds(frames: &[Value]) -> Vec<&str> {
        frames.iter().map(|f| f["type"].as_str().unwrap()).collect()
    }

    #[tokio::test]
    async fn welcome_comes_first_then_presence_and_messages_stay_in_their_room() {
        let hub = hub(16);
        let alice = hub.join("rust", "alice").unwrap();
        let bob = hub.join("rust", "bob").unwrap();
        let carol = hub.join("general", "carol").unwrap();
        let to_alice = waiting(&alice).await;
        assert_eq!(to_alice[0]["members"], json!(["alice"]));
        assert_eq!(to_alice[1]["user"], "bob");
        assert_eq!(waiting(&bob).await[0]["members"], json!(["alice", "bob"]));
        assert_eq!(kinds(&waiting(&carol).await), ["welcome"]);

        bob.say("hi");
        carol.say("elsewhere");
        assert_eq!(waiting(&alice).await[0]["text"], "hi");
        assert_eq!(waiting(&bob).await[0]["id"], 1);
        assert_eq!(waiting(&carol).await[0]["id"], 1, "ids count per room");
    }

    #[tokio::test]
    async fn the_last_member_to_leave_removes_the_room() {
        let hub = hub(16);
        let alice = hub.join("rust", "alice").unwrap();
        assert!(matches!(hub.join("rust", "alice"), Err(Refused::NameTaken)));
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
        let hub = hub(16);
        let mut alice = hub.join("general", "alice").unwrap();
        let watcher = hub.join("general", "watcher").unwrap();
        let _other_alice = hub.join("rust", "alice").unwrap();
        waiting(&alice).await;
        waiting(&watcher).await;

        assert_eq!(alice.switch_to("rust"), Err(Refused::NameTaken));
        assert_eq!(alice.room(), "general");
        alice.switch_to("python").unwrap();
        assert_eq!(alice.room(), "python");
        assert_eq!(waiting(&alice).await[0]["room"], "python");
        assert_eq!(kinds(&waiting(&watcher).await), ["left"]);
        assert_eq!(hub.members("general"), Some(vec!["watcher".to_string()]));

        alice.switch_to("python").unwrap();
        let again = &waiting(&alice).await[0];
        assert_eq!(
            (again["type"].as_str(), again["room"].as_str()),
            (Some("welcome"), Some("python"))
        );
    }

    #[tokio::test]
    async fn the_old_room_stops_reaching_the_outbox_before_the_new_welcome() {
        let hub = hub(16);
        let alice = hub.join("general", "alice").unwrap();
        let bob = hub.join("general", "bob").unwrap();
        waiting(&alice).await;
        waiting(&bob).await;
        bob.say("before the move");
        // The new membership exists and the old one is not dropped yet: the moment
        // between the two steps of `switch_to`.
        let outbox = Arc::clone(alice.outbox());
        let moved = hub
            .enter("rust", "alice", outbox, Some((&alice.room, alice.id)))
            .unwrap();
        bob.say("after the move");
        let frames = waiting(&moved).await;
        assert_eq!(kinds(&frames), ["message", "welcome"]);
        assert_eq!(frames[0]["text"], "before the move");
        drop(alice);
        assert_eq!(kinds(&waiting(&bob).await), ["message", "message", "left"]);
    }

    #[tokio::test]
    async fn a_full_outbox_drops_its_member_and_nobody_else() {
        let hub = hub(4);
        let alice = hub.join("general", "alice").unwrap();
        let bob = hub.join("general", "bob").unwrap();
        waiting(&alice).await;
        // bob's writer takes nothing: welcome and three messages fill his outbox.
        for n in 0..10 {
            alice.say(&format!("message {n}"));
            assert_eq!(waiting(&alice).await[0]["text"], format!("message {n}"));
        }
        let Some(Closing::TooSlow(reason)) = bob.outbox().closing() else {
            panic!("bob was not dropped: {:?}", bob.outbox().closing());
        };
        assert!(reason.contains("4 frames"), "{reason}");
        // bob is still a member until his connection ends and drops him.
        assert_eq!(hub.members("general").unwrap().len(), 2);
        drop(bob);
        assert_eq!(kinds(&waiting(&alice).await), ["left"]);
    }

    #[tokio::test]
    async fn close_tells_every_member_after_what_is_waiting_and_refuses_joins() {
        let hub = hub(16);
        let alice = hub.join("rust", "alice").unwrap();
        let mut bob = hub.join("general", "bob").unwrap();
        alice.say("said before the close");
        assert_eq!(hub.close(), 2);
        alice.say("said after the close");

        let frames = waiting(&alice).await;
        assert_eq!(kinds(&frames), ["welcome", "message"]);
        assert_eq!(frames[1]["text"], "said before the close");
        assert_eq!(
            alice.outbox().next_batch(&mut Vec::new()).await,
            Err(Closing::ShuttingDown),
            "nothing after the seal, then the close"
        );
        assert_eq!(kinds(&waiting(&bob).await), ["welcome"]);
        assert_eq!(bob.outbox().closing(), Some(Closing::ShuttingDown));

        assert!(matches!(hub.join("rust", "carol"), Err(Refused::Closed)));
        assert_eq!(bob.switch_to("rust"), Err(Refused::Closed));
        assert_eq!(bob.room(), "general");
        drop((alice, bob));
        assert!(
            hub.rooms().is_empty(),
            "members still leave after the close"
        );
    }
}
