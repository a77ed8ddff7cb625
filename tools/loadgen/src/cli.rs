//! Command-line flags, and how a scenario preset and explicit flags combine into a
//! [`Config`].

use std::path::PathBuf;
use std::time::Duration;

use crate::{Config, Scenario, SendMode};

/// Load generator for the chat server (step 4 and later).
///
/// For benchmarking, pin the server and the tool to different cores, e.g.
/// `taskset -c 0 target/release/step-4 --addr 127.0.0.1:0` and
/// `taskset -c 1 target/release/loadgen --url ws://127.0.0.1:PORT --pid PID --scenario s1`.
#[derive(clap::Parser, Debug, Clone)]
#[command(version)]
pub struct Args {
    /// The server's base URL; `/ws?user=...` is appended.
    #[arg(long, default_value = "ws://127.0.0.1:3000")]
    pub url: String,
    /// A preset: s1, s2, s2b or s3 (see the README). Flags below override it.
    #[arg(long, value_enum)]
    pub scenario: Option<Scenario>,
    /// Number of WebSocket clients [default: 100].
    #[arg(long)]
    pub clients: Option<usize>,
    /// How many of the clients send [default: 10].
    #[arg(long)]
    pub senders: Option<usize>,
    /// Messages per second per sender, on a fixed schedule [default: 10].
    #[arg(long, conflicts_with = "window")]
    pub rate: Option<f64>,
    /// Send as fast as possible with at most this many own messages in flight.
    #[arg(long)]
    pub window: Option<usize>,
    /// Spread clients over this many rooms, round-robin (step 5 and later).
    #[arg(long, default_value_t = 1)]
    pub rooms: usize,
    /// Room name (with --rooms > 1, the prefix of NAME-0, NAME-1, ...).
    #[arg(long)]
    pub room: Option<String>,
    /// User names are PREFIX-0, PREFIX-1, ...
    #[arg(long, default_value = "lg")]
    pub user_prefix: String,
    /// Pad every message text to at least this many bytes.
    #[arg(long, default_value_t = 0)]
    pub text_bytes: usize,
    /// Sending before the measured window starts.
    #[arg(long, default_value = "2s", value_parser = humantime::parse_duration)]
    pub warmup: Duration,
    /// Length of the measured window.
    #[arg(long, default_value = "10s", value_parser = humantime::parse_duration)]
    pub duration: Duration,
    /// Longest wait for messages in flight after sending stops.
    #[arg(long, default_value = "5s", value_parser = humantime::parse_duration)]
    pub drain: Duration,
    /// Clients connecting at the same time.
    #[arg(long, default_value_t = 64)]
    pub connect_concurrency: usize,
    /// Start at most this many connections a second (default: no pacing).
    #[arg(long)]
    pub connect_rate: Option<f64>,
    /// Longest time from one client's TCP connect to its `welcome`.
    #[arg(long, default_value = "10s", value_parser = humantime::parse_duration)]
    pub connect_timeout: Duration,
    /// The server's process id: report its memory and CPU from /proc.
    #[arg(long)]
    pub pid: Option<u32>,
    /// Worker threads of the tool's runtime (1 when the tool is pinned to one core).
    #[arg(long, default_value_t = 1)]
    pub threads: usize,
    /// Also write the report as JSON to this file.
    #[arg(long)]
    pub json: Option<PathBuf>,
}

impl Args {
    /// The run these flags describe: the preset's numbers (S1's without one), then every
    /// flag given explicitly on top.
    pub fn to_config(&self) -> Config {
        let mut config = Config::new(self.url.clone());
        if let Some(scenario) = self.scenario {
            let (clients, senders, mode) = scenario.preset();
            config.scenario = Some(scenario);
            config.clients = clients;
            config.senders = senders;
            config.mode = mode;
        }
        if let Some(clients) = self.clients {
            config.clients = clients;
        }
        if let Some(senders) = self.senders {
            config.senders = senders;
        }
        if let Some(per_second) = self.rate {
            config.mode = SendMode::Rate { per_second };
        }
        if let Some(in_flight) = self.window {
            config.mode = SendMode::Window { in_flight };
        }
        config.rooms = self.rooms;
        config.room = self.room.clone();
        config.user_prefix = self.user_prefix.clone();
        config.text_bytes = self.text_bytes;
        config.warmup = self.warmup;
        config.duration = self.duration;
        config.drain = self.drain;
        config.connect_concurrency = self.connect_concurrency;
        config.connect_rate = self.connect_rate;
        config.connect_timeout = self.connect_timeout;
        config.pid = self.pid;
        config
    }
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    fn config(args: &[&str]) -> Config {
        Args::try_parse_from(std::iter::once("loadgen").chain(args.iter().copied()))
            .unwrap()
            .to_config()
    }

    #[test]
    fn presets_match_the_targets() {
        let s2 = config(&["--scenario", "s2"]);
        assert_eq!((s2.clients, s2.senders), (100, 10));
        assert_eq!(s2.mode, SendMode::Window { in_flight: 8 });
        let s3 = config(&["--scenario", "s3"]);
        assert_eq!((s3.clients, s3.senders), (2000, 5));
        assert_eq!(s3.mode, SendMode::Rate { per_second: 2.0 });
        assert_eq!(
            config(&["--scenario", "s2b"]).mode,
            SendMode::Window { in_flight: 64 }
        );
    }

    #[test]
    fn explicit_flags_override_the_preset() {
        let c = config(&["--scenario", "s3", "--clients", "50", "--window", "4"]);
        assert_eq!((c.clients, c.senders), (50, 5));
        assert_eq!(c.mode, SendMode::Window { in_flight: 4 });
        let c = config(&["--scenario", "s2", "--rate", "3", "--duration", "1500ms"]);
        assert_eq!(c.mode, SendMode::Rate { per_second: 3.0 });
        assert_eq!(c.duration, Duration::from_millis(1500));
    }

    #[test]
    fn rate_and_window_together_are_refused() {
        let both = Args::try_parse_from(["loadgen", "--rate", "5", "--window", "8"]);
        assert!(both.is_err());
    }
}
