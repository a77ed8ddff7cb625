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

/// What share of "every frame as large as a client may send" an outbox may hold in
/// bytes: a quarter.
const OUTBOX_SHARE_OF_LARGEST: usize = 4;

impl Config {
    /// The outbox is bounded twice. `--queue-capacity` frames bound the number; the bytes
    /// are bounded at a quarter of what that many of the largest messages would take, so
    /// 1 MiB with the defaults (256 × 16 KiB / 4). Ordinary chat, a few hundred bytes a
    /// frame, never comes near the byte bound: 256 such frames take well under 256 KiB.
    /// It is there for the worst case, a client falling behind a room of people
    /// pasting 16 KiB walls of text, which would otherwise hold 4 MiB per client.
    pub fn limits(&self) -> Limits {
        let largest = self.queue_capacity.saturating_mul(self.max_message_bytes);
        Limits {
            max_message_bytes: self.max_message_bytes,
            outbox: OutboxLimits {
                frames: self.queue_capacity,
                bytes: (largest / OUTBOX_SHARE_OF_LARGEST).max(1),
            },
        }
    }
}
// ANCHOR_END: limits

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    #[test]
    fn the_defaults_give_a_one_mebibyte_outbox_of_256_frames() {
        let config = Config::try_parse_from(["step-6"]).unwrap();
        assert_eq!(
            config.limits(),
            Limits {
                max_message_bytes: 16384,
                outbox: OutboxLimits {
                    frames: 256,
                    bytes: 1 << 20
                },
            }
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
