//! Command-line flags. Every server step takes the same flags (see PROTOCOL.md); later
//! steps add theirs here, the same way. Every time limit of a connection is here too,
//! flag or not, so that they can be read, and weighed against each other, in one place.

use std::net::SocketAddr;
use std::time::Duration;

use crate::heartbeat::HeartbeatTimes;
use crate::outbox::OutboxLimits;

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

    /// How long a client may stay quiet before the server pings it, as in 20s or 250ms.
    #[arg(
        long,
        env = "CHAT_PING_INTERVAL",
        default_value = DEFAULT_PING_INTERVAL,
        value_name = "DURATION",
        value_parser = duration
    )]
    pub ping_interval: Duration,

    /// How long the server waits for any frame after a ping before it closes the
    /// connection. May be longer than the ping interval: there is only ever one ping
    /// waiting for an answer.
    #[arg(
        long,
        env = "CHAT_PONG_TIMEOUT",
        default_value = DEFAULT_PONG_TIMEOUT,
        value_name = "DURATION",
        value_parser = duration
    )]
    pub pong_timeout: Duration,

    // ANCHOR: shutdown-grace
    /// How long a shutdown (SIGTERM, or SIGINT from Ctrl-C) may take. Every client gets
    /// what was already on its way to it, then close code 1001; a connection still open
    /// when this runs out is dropped, and the process exits 0 all the same.
    #[arg(
        long,
        env = "CHAT_SHUTDOWN_GRACE",
        default_value = DEFAULT_SHUTDOWN_GRACE,
        value_name = "DURATION",
        value_parser = duration
    )]
    pub shutdown_grace: Duration,
    // ANCHOR_END: shutdown-grace
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

// ANCHOR: duration
/// The longest `--ping-interval`, `--pong-timeout` or `--shutdown-grace`: a day. A
/// longer one is surely a typo, and a deadline that far ahead may not fit in an
/// `Instant` at all.
const LONGEST: Duration = Duration::from_secs(24 * 60 * 60);

/// Parses a duration such as `20s`, `250ms` or `1m 30s` (humantime's format), and
/// refuses 0, which would ping without pause, give up on everyone at once, or leave no
/// time at all to say goodbye.
fn duration(value: &str) -> Result<Duration, String> {
    match humantime::parse_duration(value) {
        Ok(duration) if duration.is_zero() => Err("must be longer than 0".into()),
        Ok(duration) if duration > LONGEST => Err("must be at most a day (24h)".into()),
        Ok(duration) => Ok(duration),
        Err(error) => Err(format!(
            "{error} (a duration is a number and a unit, as in 20s or 250ms)"
        )),
    }
}
// ANCHOR_END: duration

/// `--ping-interval` when neither the flag nor `CHAT_PING_INTERVAL` is given.
pub const DEFAULT_PING_INTERVAL: &str = "20s";

/// `--pong-timeout` when neither the flag nor `CHAT_PONG_TIMEOUT` is given. A client
/// that stops answering is gone from its room within 30 seconds with the defaults.
pub const DEFAULT_PONG_TIMEOUT: &str = "10s";

/// How long one batch (or the final close frame) may take to write. A client whose
/// socket takes no bytes for this long is not reading: it is dropped as too slow.
///
/// Ten seconds is long enough for a big batch over a poor mobile link, and short
/// enough that a vanished client does not hold its socket and buffers for long. It
/// also bounds the one time the heartbeat does not count: while the server is not
/// reading a client because that client's outbox is half full (see `connection`), the
/// writer is stuck on a batch, and this deadline runs instead.
pub const WRITE_DEADLINE: Duration = Duration::from_secs(10);

/// How long a new connection has to send its first request's headers (see `listener`).
///
/// The heartbeat only starts once a connection is a WebSocket; before that, this is
/// what frees the task and the socket of a client that connected and then sent nothing,
/// or half a request. Ten seconds is ages for a request line and a few headers, even
/// over a poor mobile link, and short enough that a pile of such connections drains.
pub const REQUEST_DEADLINE: Duration = Duration::from_secs(10);

/// How long the close frame to a client that stopped answering pings may take to
/// write. The client is presumed gone, so this is short: if the frame does not fit in
/// the socket's buffer at once, the connection is dropped without it.
pub const UNANSWERED_CLOSE_DEADLINE: Duration = Duration::from_secs(1);

/// How long the socket of a client that broke a rule stays open after its close frame.
///
/// Such a client may still be sending the rest of what broke the rule (most of a message
/// that was too big, say), which nobody will read: tungstenite stopped at the frame's
/// header. A socket closed with unread bytes in it is reset by the operating system, and
/// a client whose write fails with that reset may give up before it reads our close
/// frame, and report 1006 instead of the code we sent. Holding the socket open a moment
/// lets its write land and our close frame be read.
pub const LINGER: Duration = Duration::from_secs(1);

// ANCHOR: shutdown-times
/// `--shutdown-grace` when neither the flag nor `CHAT_SHUTDOWN_GRACE` is given: within
/// the 30 seconds Kubernetes gives a pod by default, and as long as `docker stop` waits.
pub const DEFAULT_SHUTDOWN_GRACE: &str = "10s";

/// How long a connection waits, at a shutdown, for the client's next frame once its 1001
/// is written (see `connection::finish_shutdown`). A client that keeps talking has not
/// read the 1001 yet and is waited for; one quiet this long has nothing left unread on
/// our side, so closing now loses nothing.
pub const CLOSE_ANSWER: Duration = Duration::from_secs(1);
// ANCHOR_END: shutdown-times

/// What the flags limit, in the form the server uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// The largest message a client may send (`--max-message-bytes`).
    pub max_message_bytes: usize,
    /// How much may wait in each member's outbox.
    pub outbox: OutboxLimits,
    /// How long a client may stay quiet (`--ping-interval`, `--pong-timeout`).
    pub heartbeat: HeartbeatTimes,
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
            heartbeat: HeartbeatTimes {
                ping_interval: self.ping_interval,
                pong_timeout: self.pong_timeout,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;
    use crate::name::{MAX_NAME_CHARS, MAX_ROOM_CHARS};
    use crate::outbox::Queue;
    use crate::protocol::{MAX_TEXT_CHARS, ServerFrame};

    #[test]
    fn the_defaults_give_an_outbox_of_256_of_the_largest_frames_and_a_20s_heartbeat() {
        let config = Config::try_parse_from(["step-8"]).unwrap();
        assert_eq!(
            config.limits(),
            Limits {
                max_message_bytes: 16384,
                outbox: OutboxLimits {
                    frames: 256,
                    bytes: 256 * (16384 + 512)
                },
                heartbeat: HeartbeatTimes {
                    ping_interval: Duration::from_secs(20),
                    pong_timeout: Duration::from_secs(10),
                },
            }
        );
    }

    #[test]
    fn durations_take_a_unit_and_may_combine_several() {
        let config = Config::try_parse_from([
            "step-8",
            "--ping-interval",
            "250ms",
            "--pong-timeout",
            "1m 30s",
        ])
        .unwrap();
        assert_eq!(config.ping_interval, Duration::from_millis(250));
        assert_eq!(config.pong_timeout, Duration::from_secs(90));
    }

    #[test]
    fn a_zero_missing_unit_or_huge_duration_is_refused() {
        for flag in ["--ping-interval", "--pong-timeout"] {
            for (value, expected) in [
                ("0s", "longer than 0"),
                ("0ms", "longer than 0"),
                ("0", "longer than 0"),
                ("20", "a number and a unit"),
                ("soon", "a number and a unit"),
                ("ten seconds", "a number and a unit"),
                ("2days", "at most a day"),
            ] {
                let error = Config::try_parse_from(["step-8", flag, value]).unwrap_err();
                assert!(
                    error.to_string().contains(expected),
                    "{flag} {value}: {error}"
                );
            }
        }
    }

    #[test]
    fn the_shutdown_grace_is_10s_unless_a_duration_is_given() {
        let config = Config::try_parse_from(["step-8"]).unwrap();
        assert_eq!(config.shutdown_grace, Duration::from_secs(10));
        let config = Config::try_parse_from(["step-8", "--shutdown-grace", "1m 500ms"]).unwrap();
        assert_eq!(config.shutdown_grace, Duration::from_millis(60_500));
        for (value, expected) in [("0s", "longer than 0"), ("soon", "a number and a unit")] {
            let error = Config::try_parse_from(["step-8", "--shutdown-grace", value]).unwrap_err();
            assert!(error.to_string().contains(expected), "{value}: {error}");
        }
    }

    /// `--queue-capacity` counts messages, however large: a client that fell behind by
    /// that many of the largest messages anyone can send is not yet too slow.
    #[test]
    fn an_outbox_takes_queue_capacity_of_the_largest_messages() {
        let config = Config::try_parse_from(["step-8", "--queue-capacity", "16"]).unwrap();
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
            let error = Config::try_parse_from(["step-8", flag, "0"]).unwrap_err();
            assert!(error.to_string().contains("at least 1"), "{flag}: {error}");
        }
        let error = Config::try_parse_from(["step-8", "--queue-capacity", "lots"]).unwrap_err();
        assert!(error.to_string().contains("whole number"), "{error}");
    }
}
