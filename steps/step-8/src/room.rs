//! What each room holds in the server: the outbox of every member, and the counter that
//! numbers its messages. The registry keeps the member list and decides when a room
//! exists; this file is what travels inside one.
//!
//! Every frame is serialized once, here, and each outbox gets a handle to the finished
//! JSON, so a message to a hundred members is one `serde_json` call and a hundred
//! reference-count increments, not a hundred copies.

use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use axum::extract::ws::Utf8Bytes;

use crate::outbox::{Closing, Outbox};
use crate::protocol::ServerFrame;

/// A number the hub gives each membership. Frames are addressed by it rather than by
/// name: a name can leave a room and come back on another connection, an id never
/// returns.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ConnectionId(pub u64);

/// Who a frame published in a room is for.
#[derive(Debug, Clone, Copy)]
pub enum Audience {
    /// Chat messages: every member, their author included.
    Everyone,
    /// `joined` and `left`: news about one member, for everyone else.
    AllBut(ConnectionId),
    /// `welcome`: for one member only. It is published in the room like the others so
    /// that it takes its place in the room's order (see `hub::Member::welcome_again`).
    Only(ConnectionId),
}

impl Audience {
    /// Whether the member `id` should receive this frame.
    pub fn includes(self, id: ConnectionId) -> bool {
        match self {
            Audience::Everyone => true,
            Audience::AllBut(skip) => skip != id,
            Audience::Only(only) => only == id,
        }
    }
}

/// What a room holds besides its member list. It lives inside the room's lock (see
/// `registry::Room`), and every method here is called with that lock held, so frames
/// enter every outbox in the order in which they changed the room.
pub struct Channel {
    /// Each member's outbox, by membership. Publishing pushes into them and never waits.
    outboxes: Vec<(ConnectionId, Arc<Outbox>)>,
    /// The id of the next chat message in this room. Ids count per room, from 1: they
    /// only need to be unique and increasing among the messages one room's members
    /// receive. Taken and published under the room's lock: otherwise two members
    /// speaking at once could take ids 7 and 8 but reach the outboxes as 8 then 7.
    next_message_id: u64,
}

impl Channel {
    pub fn open() -> Channel {
        Channel {
            outboxes: Vec::new(),
            next_message_id: 1,
        }
    }

    /// From now on, frames for `id` go into `outbox`.
    pub fn subscribe(&mut self, id: ConnectionId, outbox: Arc<Outbox>) {
        self.outboxes.push((id, outbox));
    }

    /// From now on, nothing published here reaches `id`.
    pub fn unsubscribe(&mut self, id: ConnectionId) {
        self.outboxes.retain(|(member, _)| *member != id);
    }

    /// Numbers a chat message and sends it to every member, its author included.
    pub fn say(&mut self, room: &str, user: &str, text: &str) {
        let id = self.next_message_id;
        self.next_message_id += 1;
        self.publish(
            Audience::Everyone,
            &ServerFrame::Message {
                id,
                room,
                user,
                text,
                ts: now_millis(),
            },
        );
    }

    /// Serializes `frame` once and pushes it into the outbox of each member in
    /// `audience`. A push never waits: an outbox that is full closes itself, its
    /// member is dropped with 1013, and it is taken off this list so that nothing
    /// more is pushed at it. Everyone else gets the frame as if nothing happened.
    pub fn publish(&mut self, audience: Audience, frame: &ServerFrame<'_>) {
        let json: Utf8Bytes = frame.to_json().into();
        self.outboxes
            .retain(|(id, outbox)| !audience.includes(*id) || outbox.push(json.clone()).is_ok());
    }
}

// ANCHOR: seal
impl Channel {
    /// The server is shutting down: every member's outbox takes no more frames, and its
    /// writer sends what is already waiting, then 1001. Called under the room's lock,
    /// like `publish`, so every message of the room is in all of these outboxes or in
    /// none. Sealed outboxes refuse what is published later, and `publish` forgets them.
    /// Returns how many outboxes it sealed.
    pub fn seal(&mut self) -> usize {
        for (_, outbox) in &self.outboxes {
            outbox.close(Closing::ShuttingDown);
        }
        self.outboxes.len()
    }
}
// ANCHOR_END: seal

/// Milliseconds since the Unix epoch. A clock set before 1970 gives 0 rather than a
/// panic.
fn now_millis() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.as_millis() as u64)
}
