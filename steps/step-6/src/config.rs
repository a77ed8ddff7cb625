//! Command-line flags. Every server step takes the same flags (see PROTOCOL.md); later
//! steps add theirs here, the same way.

use std::net::SocketAddr;

use crate::outbox::OutboxLimits;

// ANCHOR: config
/// How to run the chat server.
#[derive(clap::Parser, Debug, Clone)]
#[command(version, about = "A chat in the browser: open http://127.0.0.1:3000")]
pub struct Config {
    /// Where to listen. Port 0 asks the OS for a free port; the log line says which.
    #[arg(long, env = "CHAT_ADDR", default_value = "127.0.0.1:3000")]
    pub addr: SocketAddr,

    /// The largest WebSocket message a client may send, in bytes. A bigger one closes
    /// that client's connection with code 1009.
    #[arg(
        long,
        env = "CHAT_MAX_MESSAGE_BYTES",
        default_value = "16384",
        value_name = "BYTES",
        value_parser = at_least_one
    )]
    pub max_message_bytes: usize,

    /// How many frames may wait for one client. A client that falls further behind is
    /// dropped with close code 1013, and nobody else waits for it.
    #[arg(
        long,
        env = "CHAT_QUEUE_CAPACITY",
        default_value = "256",
        value_name = "FRAMES",
        value_parser = at_least_one
    )]
    pub queue_capacity: usize,
}

/// Refuses 0 at startup, with the flag's name in clap's message: a limit of 0 bytes
/// would refuse every message, and an outbox of 0 frames could not even hold `welcome`.
fn at_least_one(value: &str) -> Result<usize, String> {
    match value.parse::<usize>() {
        Ok(0) => Err("must be at least 1".into()),
        Ok(n) => Ok(n),
        Err(_) => Err("must be a whole number, at least 1".into()),
    }
}
// ANCHOR_END: config

// ANCHOR: limits
/// What the flags limit, in the form the server uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// The largest message a client may send (`--max-message-bytes`).
    pub max_message_bytes: usize,
    /// How much may wait in each member's outbox.
    pub outbox: OutboxLimits,
}

/// What a `message` frame adds around its text: the type, id, room, user and ts fields,
/// under 300 bytes even with the longest names. No frame a client can cause is larger
/// than `--max-message-bytes` plus this.
pub const MESSAGE_ENVELOPE_BYTES: usize = 512;

impl Config {
    /// The outbox is bounded twice. `--queue-capacity` counts frames, as PROTOCOL.md
    /// says, whatever their size. The bytes are bounded at what that many of the largest
    /// frames a client can cause would take (256 × (16 KiB + 512 B), a little over 4 MiB,
    /// with the defaults), so the byte bound never refuses a frame the count would take;
    /// it bounds the server's own frames, which have no size limit (a `welcome` listing
    /// a huge room). It is an upper bound on what one client can hold on to, not on what
    /// it costs: frames are shared, so a wall of text waiting in a hundred outboxes is in
    /// memory once.
    pub fn limits(&self) -> Limits {
        let largest_frame = self
            .max_message_bytes
            .saturating_add(MESSAGE_ENVELOPE_BYTES);
        Limits {
            max_message_bytes: self.max_message_bytes,
            outbox: OutboxLimits {
                frames: self.queue_capacity,
                bytes: self.queue_capacity.saturating_mul(largest_frame),
            },
        }
    }
}
// ANCHOR_END: limits

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;
    use crate::name::{MAX_NAME_CHARS, MAX_ROOM_CHARS};
    use crate::outbox::Queue;
    use crate::protocol::{MAX_TEXT_CHARS, ServerFrame};

    #[test]
    fn the_defaults_give_an_outbox_of_256_of_the_largest_frames() {
        let config = Config::try_parse_from(["step-6"]).unwrap();
        assert_eq!(
            config.limits(),
            Limits {
                max_message_bytes: 16384,
                outbox: OutboxLimits {
                    frames: 256,
                    bytes: 256 * (16384 + 512)
                },
            }
        );
    }

    /// `--queue-capacity` counts messages, however large: a client that fell behind by
    /// that many of the largest messages anyone can send is not yet too slow.
    #[test]
    fn an_outbox_takes_queue_capacity_of_the_largest_messages() {
        let config = Config::try_parse_from(["step-6", "--queue-capacity", "16"]).unwrap();
        // 4000 characters of 4 bytes each, from a name of 32 such letters, in a room
        // with the longest name: the largest `message` frame there can be.
        let text = "😀".repeat(MAX_TEXT_CHARS);
        let incoming = format!(r#"{{"type":"message","text":"{text}"}}"#);
        assert!(incoming.len() <= config.max_message_bytes);
        let user = "𝒜".repeat(MAX_NAME_CHARS);
        let room = "r".repeat(MAX_ROOM_CHARS);
        let frame = ServerFrame::Message {
            id: u64::MAX,
            room: &room,
            user: &user,
            text: &text,
            ts: u64::MAX,
        }
        .to_json();
        assert!(frame.len() <= config.max_message_bytes + MESSAGE_ENVELOPE_BYTES);

        let mut queue = Queue::new(config.limits().outbox);
        for _ in 0..16 {
            queue.push(frame.as_str().into()).unwrap();
        }
        assert!(
            queue.push(frame.as_str().into()).is_err(),
            "the 17th is one too many"
        );
    }

    #[test]
    fn zero_is_refused_for_either_limit() {
        for flag in ["--max-message-bytes", "--queue-capacity"] {
            let error = Config::try_parse_from(["step-6", flag, "0"]).unwrap_err();
            assert!(error.to_string().contains("at least 1"), "{flag}: {error}");
        }
        let error = Config::try_parse_from(["step-6", "--queue-capacity", "lots"]).unwrap_err();
        assert!(error.to_string().contains("whole number"), "{error}");
    }
}
