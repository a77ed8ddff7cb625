//! The room: one broadcast channel that every connection publishes to and reads from.

use tokio::sync::broadcast;

/// How many lines the room keeps for a member that has not read them yet. A member that
/// falls further behind is told how many it missed (`RecvError::Lagged`) and carries on.
///
/// Why 1024: members who read as fast as they can still fall behind for a moment when
/// many lines arrive at once, because their tasks must wait for their turn to run. A
/// paste of a thousand lines is such a burst, and so is a crowd connecting together (a
/// `joined` line each). The channel must hold the burst until every task has caught up,
/// which 128, say, does not. A line is dropped once everyone has it, so what this costs
/// is only the lines that members who are behind have not read yet.
pub const ROOM_CAPACITY: usize = 1024;

/// A number the accept loop gives each connection. Names may repeat in this step (nothing
/// checks), ids never do, so the no-echo filter compares ids.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ConnectionId(pub u64);

/// One line for everyone in the room except its sender.
#[derive(Clone, Debug)]
pub struct Broadcast {
    /// Who sent it, so that the sender's own task can skip it: we never echo.
    pub from: ConnectionId,
    /// The line as clients see it, without the newline: `alice: hi` or `* alice joined`.
    pub line: String,
}

/// The chat room. Cloning it is cheap: every clone publishes into the same channel.
#[derive(Clone, Debug)]
pub struct Room {
    sender: broadcast::Sender<Broadcast>,
}

impl Room {
    pub fn new() -> Room {
        // The first receiver is dropped at once: members subscribe when they join.
        let (sender, _) = broadcast::channel(ROOM_CAPACITY);
        Room { sender }
    }

    /// A receiver that sees every line published from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<Broadcast> {
        self.sender.subscribe()
    }

    pub fn publish(&self, from: ConnectionId, line: String) {
        // `send` fails only when nobody is subscribed: a line nobody hears is not an error.
        let _ = self.sender.send(Broadcast { from, line });
    }
}

impl Default for Room {
    fn default() -> Room {
        Room::new()
    }
}
