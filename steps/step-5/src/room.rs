//! What each room holds in the server: a broadcast channel that its members subscribe
//! to, and the counter that numbers its messages. The registry keeps the member list and
//! decides when a room exists; this file is what travels inside one.
//!
//! Every frame is serialized once, here, and the channel carries the finished JSON, so a
//! message to a hundred members is one `serde_json` call and a hundred reference-count
//! increments, not a hundred copies.

use std::time::{SystemTime, UNIX_EPOCH};

use axum::extract::ws::Utf8Bytes;
use tokio::sync::broadcast;

use crate::protocol::ServerFrame;

/// How many frames a room keeps for a member that has not read them yet. A member that
/// falls further behind is disconnected with close code 1013 (see `connection`); step 6
/// replaces this one shared limit with a queue per member.
///
/// Why 1024: members who read as fast as they can still fall behind for a moment when
/// many frames are published at once, because on a busy machine their tasks wait their
/// turn. Two hundred people joining a room together is such a burst (a `welcome` and a
/// `joined` frame each), and so are two hundred leaving, or a paste of many lines; the
/// channel must hold the burst until every task has caught up. With 128, a burst of 200
/// arrivals dropped most of the crowd, and each drop sent a `left` frame that made the
/// burst worse. A frame is dropped once everyone has it, so the memory this costs is the
/// channel's slots (a few dozen bytes each, allocated when the room opens) and what the
/// members who are behind have not read yet.
pub const ROOM_CAPACITY: usize = 1024;

/// A number the hub gives each membership. Frames are addressed by it rather than by
/// name: a name can leave a room and come back on another connection, an id never
/// returns.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ConnectionId(pub u64);

// ANCHOR: broadcast
/// Who a frame on the room's channel is for.
#[derive(Debug, Clone, Copy)]
pub enum Audience {
    /// Chat messages: every member, their author included.
    Everyone,
    /// `joined` and `left`: news about one member, for everyone else.
    AllBut(ConnectionId),
    /// `welcome`: for one member only. It travels on the room's channel so that it
    /// takes its place in the room's order (see `hub::Member::welcome_again`).
    Only(ConnectionId),
}

/// What travels on the room's channel.
#[derive(Debug, Clone)]
pub struct Broadcast {
    /// Which members this frame is for; the others skip it.
    audience: Audience,
    /// The frame as JSON. `Utf8Bytes` is reference-counted: cloning it for every member
    /// shares one buffer.
    json: Utf8Bytes,
}

impl Broadcast {
    /// Whether the member `id` should receive this frame.
    pub fn is_for(&self, id: ConnectionId) -> bool {
        match self.audience {
            Audience::Everyone => true,
            Audience::AllBut(skip) => skip != id,
            Audience::Only(only) => only == id,
        }
    }

    pub fn json(&self) -> &Utf8Bytes {
        &self.json
    }
}
// ANCHOR_END: broadcast

// ANCHOR: channel
/// What a room holds besides its member list. It lives inside the room's lock (see
/// `registry::Room`), and every method here is called with that lock held, so frames
/// enter the channel in the order in which they changed the room.
pub struct Channel {
    /// Each member holds a receiver. The room keeps the sender for as long as the room
    /// exists, so that `subscribe` is always possible.
    sender: broadcast::Sender<Broadcast>,
    /// The id of the next chat message in this room. Ids count per room, from 1: they
    /// only need to be unique and increasing among the messages one room's members
    /// receive. Taken and sent under the room's lock: otherwise two members speaking at
    /// once could take ids 7 and 8 but enter the channel as 8 then 7.
    next_message_id: u64,
}

impl Channel {
    pub fn open(capacity: usize) -> Channel {
        let (sender, _) = broadcast::channel(capacity);
        Channel {
            sender,
            next_message_id: 1,
        }
    }

    pub fn subscribe(&self) -> broadcast::Receiver<Broadcast> {
        self.sender.subscribe()
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

    pub fn publish(&self, audience: Audience, frame: &ServerFrame<'_>) {
        let broadcast = Broadcast {
            audience,
            json: frame.to_json().into(),
        };
        // `send` fails only when no receiver exists: the last member's `left` goes to
        // nobody, and there is nobody to tell.
        let _ = self.sender.send(broadcast);
    }
}
// ANCHOR_END: channel

/// Milliseconds since the Unix epoch. A clock set before 1970 gives 0 rather than a
/// panic.
fn now_millis() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.as_millis() as u64)
}
