//! A load generator for the chat server, step 4 and later.
//!
//! [`run`] opens many WebSocket clients in this one process, waits until every one has
//! its `welcome`, lets some of them talk, and measures what comes back: how many chat
//! messages per second are delivered, how long each took from send to receipt, whether
//! every member got every message once and in order, and (given the server's pid) what
//! the server spent in memory and CPU to do it.
//!
//! - [`Config`], [`SendMode`], [`Scenario`]: what to run; `cli` turns flags into one.
//! - `client`: one client's task: connect, read everything, and, for a sender, talk.
//! - [`histogram`]: latency percentiles in bounded memory.
//! - [`proc_stats`]: `/proc` readings and the open-file limit.
//! - [`report`]: the numbers, as text and as JSON.
//!
//! Every chat message the tool sends carries its own send time: `lg SENDER SEQ NANOS`,
//! nanoseconds since one `Instant` all clients share. A receiver subtracts that from its
//! own reading of the same monotonic clock, so latency needs no clock sync and no table
//! of pending messages.

pub mod cli;
mod client;
pub mod histogram;
pub mod proc_stats;
pub mod report;

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use serde::Serialize;
use tokio::sync::{Semaphore, mpsc, watch};
use tokio::time::{sleep, sleep_until, timeout};

use crate::client::ClientStats;
use crate::histogram::Histogram;
pub use crate::report::Report;

/// How senders pace themselves.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
#[serde(tag = "mode", rename_all = "snake_case")]
pub enum SendMode {
    /// Each sender sends `per_second` messages a second on a fixed schedule, whatever
    /// the server does: the offered load is known, the latency is what varies.
    Rate { per_second: f64 },
    /// Each sender sends as fast as it can while at most `in_flight` of its own messages
    /// are unanswered (sent, own copy not yet back): this finds the server's throughput.
    Window { in_flight: usize },
}

/// The measured targets, by name. A preset sets clients, senders and the send mode;
/// explicit flags override it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Scenario {
    /// One room, 100 clients, 10 senders at 10 messages a second each.
    S1,
    /// One room, 100 clients, 10 senders as fast as a window of 8 allows.
    S2,
    /// As S2 with a window of 64.
    S2b,
    /// 2000 mostly idle clients, 5 senders at 2 messages a second each.
    S3,
}

impl Scenario {
    /// (clients, senders, mode) of the preset.
    pub fn preset(self) -> (usize, usize, SendMode) {
        match self {
            Scenario::S1 => (100, 10, SendMode::Rate { per_second: 10.0 }),
            Scenario::S2 => (100, 10, SendMode::Window { in_flight: 8 }),
            Scenario::S2b => (100, 10, SendMode::Window { in_flight: 64 }),
            Scenario::S3 => (2000, 5, SendMode::Rate { per_second: 2.0 }),
        }
    }
}

/// Everything one run needs.
#[derive(Clone, Debug, Serialize)]
pub struct Config {
    /// Base URL of the server, like `ws://127.0.0.1:3000`; `/ws?user=...` is appended.
    pub url: String,
    /// The preset this config came from, for the report.
    pub scenario: Option<Scenario>,
    pub clients: usize,
    /// The first `senders` clients talk; the others only listen.
    pub senders: usize,
    pub mode: SendMode,
    /// Clients are spread over this many rooms, round-robin (step 5 and later).
    pub rooms: usize,
    /// The room name (with `rooms` > 1, the prefix of `NAME-0`, `NAME-1`, ...).
    pub room: Option<String>,
    /// Users are `PREFIX-0`, `PREFIX-1`, ...: two runs against one server need two
    /// prefixes, or step 5's rooms refuse the second set of names.
    pub user_prefix: String,
    /// Pad each message text to at least this many bytes (0: no padding).
    pub text_bytes: usize,
    #[serde(serialize_with = "report::seconds")]
    pub warmup: Duration,
    #[serde(serialize_with = "report::seconds")]
    pub duration: Duration,
    /// The longest wait, after sending stops, for messages still in flight.
    #[serde(serialize_with = "report::seconds")]
    pub drain: Duration,
    /// How many clients may be connecting at once.
    pub connect_concurrency: usize,
    /// Start at most this many connections a second (`None`: as fast as
    /// `connect_concurrency` allows). Every join is announced to every member, so a
    /// room joined all at once gets N² frames in a burst.
    pub connect_rate: Option<f64>,
    /// How long one client may take from TCP connect to `welcome`.
    #[serde(serialize_with = "report::seconds")]
    pub connect_timeout: Duration,
    /// The server's process id, for memory and CPU readings.
    pub pid: Option<u32>,
}

impl Config {
    /// Scenario S1's load against `url`, with the default timings.
    pub fn new(url: impl Into<String>) -> Config {
        let (clients, senders, mode) = Scenario::S1.preset();
        Config {
            url: url.into(),
            scenario: None,
            clients,
            senders,
            mode,
            rooms: 1,
            room: None,
            user_prefix: "lg".into(),
            text_bytes: 0,
            warmup: Duration::from_secs(2),
            duration: Duration::from_secs(10),
            drain: Duration::from_secs(5),
            connect_concurrency: 64,
            connect_rate: None,
            connect_timeout: Duration::from_secs(10),
            pid: None,
        }
    }

    pub fn validate(&self) -> anyhow::Result<()> {
        if self.clients == 0 {
            bail!("--clients must be at least 1");
        }
        if self.senders > self.clients {
            bail!(
                "--senders ({}) cannot exceed --clients ({})",
                self.senders,
                self.clients
            );
        }
        if self.rooms == 0 {
            bail!("--rooms must be at least 1");
        }
        if self.connect_concurrency == 0 {
            bail!("--connect-concurrency must be at least 1");
        }
        if let Some(rate) = self.connect_rate {
            if !(rate > 0.0 && rate.is_finite()) {
                bail!("--connect-rate must be a positive number of connections a second");
            }
        }
        if self.duration.is_zero() {
            bail!("--duration must be more than zero");
        }
        match self.mode {
            SendMode::Rate { per_second } if !(per_second > 0.0 && per_second.is_finite()) => {
                bail!("--rate must be a positive number of messages a second")
            }
            SendMode::Window { in_flight: 0 } => bail!("--window must be at least 1"),
            _ => {}
        }
        if !self.url.starts_with("ws://") && !self.url.starts_with("wss://") {
            bail!("--url must start with ws:// (got {:?})", self.url);
        }
        Ok(())
    }

    /// The room client `index` asks for, if any. Step 4 ignores `room`; the room a
    /// client is really in is read from its `welcome`.
    pub fn room_of(&self, index: usize) -> Option<String> {
        if self.rooms > 1 {
            let base = self.room.as_deref().unwrap_or(&self.user_prefix);
            Some(format!("{base}-{}", index % self.rooms))
        } else {
            self.room.clone()
        }
    }

    /// The WebSocket URL of client `index`.
    pub fn client_url(&self, index: usize) -> String {
        let mut url = format!(
            "{}/ws?user={}-{index}",
            self.url.trim_end_matches('/'),
            self.user_prefix
        );
        if let Some(room) = self.room_of(index) {
            url.push_str("&room=");
            url.push_str(&room);
        }
        url
    }
}

/// Where the run is; every client watches it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    Connecting,
    Sending,
    Closing,
}

/// The send window, in nanoseconds since [`Shared::start`].
#[derive(Clone, Copy, Debug)]
struct Window {
    sending_from: u64,
    measure_from: u64,
    measure_until: u64,
}

impl Window {
    fn contains(&self, nanos: u64) -> bool {
        (self.measure_from..self.measure_until).contains(&nanos)
    }
}

/// What all clients share. Counters the main task polls while the run goes on are
/// atomics; everything else each client counts alone and hands back at the end.
struct Shared {
    config: Config,
    /// The clock every timestamp is measured from.
    start: Instant,
    /// Set once, before the phase turns to `Sending`.
    window: OnceLock<Window>,
    /// Members per room, as the clients' `welcome`s named the rooms. A sender adds its
    /// room's count to `expected` for every message, so the count is the room "at the
    /// time"; a client the server drops takes itself out.
    rooms: Mutex<HashMap<String, Arc<AtomicU64>>>,
    /// Copies owed for messages sent inside the measured window.
    expected: AtomicU64,
    /// Copies received of those messages, whenever they arrived.
    received_of_window: AtomicU64,
    /// Every frame any client received: the main task waits for this to stand still
    /// before it calls the server idle.
    frames: AtomicU64,
    latencies: Mutex<Histogram>,
}

impl Shared {
    fn nanos_now(&self) -> u64 {
        self.start.elapsed().as_nanos() as u64
    }

    fn instant_at(&self, nanos: u64) -> tokio::time::Instant {
        (self.start + Duration::from_nanos(nanos)).into()
    }

    fn room_members(&self, room: &str) -> Arc<AtomicU64> {
        let mut rooms = self.rooms.lock().unwrap_or_else(PoisonError::into_inner);
        Arc::clone(rooms.entry(room.to_string()).or_default())
    }

    /// Clients connected and not dropped by the server.
    fn alive(&self) -> u64 {
        let rooms = self.rooms.lock().unwrap_or_else(PoisonError::into_inner);
        rooms.values().map(|n| n.load(Ordering::Relaxed)).sum()
    }

    fn record_latencies(&self, micros: &[u64]) {
        let mut histogram = self
            .latencies
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        for &value in micros {
            histogram.record(value);
        }
    }
}

/// How long the connection traffic (every `joined` to every member) must have stopped
/// before the server counts as idle, and the longest wait for it.
const SETTLE_QUIET: Duration = Duration::from_millis(200);
const SETTLE_LIMIT: Duration = Duration::from_secs(10);

/// A drain gives up after this long without a single copy arriving.
const DRAIN_QUIET: Duration = Duration::from_secs(1);

/// How long clients get to close politely and report back.
const CLOSE_LIMIT: Duration = Duration::from_secs(10);

/// Runs one load test and returns its report. Errors only when the run could not happen
/// at all (no client connected, `/proc` unreadable); everything that goes wrong during a
/// run is counted in the report instead.
pub async fn run(config: Config) -> anyhow::Result<Report> {
    config.validate()?;
    let pid = config.pid.map(|pid| pid.to_string());
    let read_memory = |when: &str| -> anyhow::Result<Option<proc_stats::Memory>> {
        pid.as_deref()
            .map(|pid| {
                proc_stats::memory(pid)
                    .with_context(|| format!("reading the server's memory ({when})"))
            })
            .transpose()
    };
    let read_cpu = || -> anyhow::Result<Option<u64>> {
        pid.as_deref()
            .map(|pid| proc_stats::cpu_ticks(pid).context("reading the server's CPU time"))
            .transpose()
    };
    let server_before = read_memory("before connecting")?;

    let (phase_tx, phase_rx) = watch::channel(Phase::Connecting);
    let shared = Arc::new(Shared {
        config: config.clone(),
        start: Instant::now(),
        window: OnceLock::new(),
        rooms: Mutex::new(HashMap::new()),
        expected: AtomicU64::new(0),
        received_of_window: AtomicU64::new(0),
        frames: AtomicU64::new(0),
        latencies: Mutex::new(Histogram::new()),
    });

    // Connect.
    let connect_permits = Arc::new(Semaphore::new(config.connect_concurrency));
    let (ready_tx, mut ready_rx) = mpsc::unbounded_channel();
    let connect_started = Instant::now();
    let tasks: Vec<_> = (0..config.clients)
        .map(|index| {
            tokio::spawn(client::run(
                index,
                Arc::clone(&shared),
                Arc::clone(&connect_permits),
                ready_tx.clone(),
                phase_rx.clone(),
            ))
        })
        .collect();
    drop(ready_tx);
    // Each client answers once, within its own connect timeout after it got a permit;
    // the rounds of permits bound the whole wait.
    let rounds = config.clients.div_ceil(config.connect_concurrency) as u32;
    let pacing = config.connect_rate.map_or(Duration::ZERO, |rate| {
        Duration::from_secs_f64(config.clients as f64 / rate)
    });
    let connect_limit = config.connect_timeout * rounds + pacing + Duration::from_secs(5);
    let mut connected = 0;
    let mut first_failure = None;
    let mut answers = 0;
    let _ = timeout(connect_limit, async {
        while let Some(answer) = ready_rx.recv().await {
            answers += 1;
            match answer {
                Ok(()) => connected += 1,
                Err(why) => {
                    first_failure.get_or_insert(why);
                }
            }
            if answers == config.clients {
                break;
            }
        }
    })
    .await;
    let connect_seconds = connect_started.elapsed().as_secs_f64();
    if connected == 0 {
        for task in &tasks {
            task.abort();
        }
        bail!(
            "no client could connect to {}: {}",
            config.url,
            first_failure.unwrap_or_else(|| "no answer".into())
        );
    }

    // Wait for the `joined` storm to pass, then read the idle server.
    let settle_started = Instant::now();
    let mut last_frames = shared.frames.load(Ordering::Relaxed);
    while settle_started.elapsed() < SETTLE_LIMIT {
        sleep(SETTLE_QUIET).await;
        let frames = shared.frames.load(Ordering::Relaxed);
        if frames == last_frames {
            break;
        }
        last_frames = frames;
    }
    let server_connected = read_memory("after connecting")?;
    let alive_after_connect = shared.alive();

    // Send: warmup, then the measured window.
    let sending_from = shared.nanos_now();
    let measure_from = sending_from + config.warmup.as_nanos() as u64;
    let measure_until = measure_from + config.duration.as_nanos() as u64;
    let window = Window {
        sending_from,
        measure_from,
        measure_until,
    };
    shared
        .window
        .set(window)
        .expect("the window is set once, here");
    phase_tx.send_replace(Phase::Sending);
    let alive_when_sending = shared.alive();

    sleep_until(shared.instant_at(measure_from)).await;
    let alive_at_window_start = shared.alive();
    let server_cpu_from = read_cpu()?;
    let own_cpu_from = proc_stats::cpu_ticks("self").ok();
    let measured_from = Instant::now();
    sleep_until(shared.instant_at(measure_until)).await;
    let server_cpu_until = read_cpu()?;
    let own_cpu_until = proc_stats::cpu_ticks("self").ok();
    let measured_seconds = measured_from.elapsed().as_secs_f64();
    let server_end = read_memory("at the end of the window")?;
    let alive_at_window_end = shared.alive();

    // Drain: senders have stopped; wait (bounded) for what is still in flight.
    // Copies owed to a client the server dropped never come, so a drain that has stopped
    // making progress is over even before its limit.
    let drain_started = Instant::now();
    let mut last_progress = (drain_started, 0);
    let drained = loop {
        sleep(Duration::from_millis(5)).await;
        let expected = shared.expected.load(Ordering::Relaxed);
        let received = shared.received_of_window.load(Ordering::Relaxed);
        if received >= expected {
            break true;
        }
        if received != last_progress.1 {
            last_progress = (Instant::now(), received);
        }
        if drain_started.elapsed() >= config.drain || last_progress.0.elapsed() >= DRAIN_QUIET {
            break false;
        }
    };
    let drain_seconds = drain_started.elapsed().as_secs_f64();

    phase_tx.send_replace(Phase::Closing);
    let mut stats = ClientStats::default();
    let mut unfinished = 0;
    let collect_deadline = tokio::time::Instant::now() + CLOSE_LIMIT;
    for task in tasks {
        match tokio::time::timeout_at(collect_deadline, task).await {
            Ok(Ok(client)) => stats.merge(client),
            Ok(Err(_panicked)) => unfinished += 1,
            Err(_) => unfinished += 1,
        }
    }

    let latencies = shared
        .latencies
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .clone();
    let rooms = shared
        .rooms
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .len();
    Ok(Report::build(report::Inputs {
        config,
        connected,
        alive: [
            alive_after_connect,
            alive_when_sending,
            alive_at_window_start,
            alive_at_window_end,
        ],
        connect_seconds,
        first_connect_failure: first_failure,
        rooms,
        measured_seconds,
        drain_seconds,
        drained,
        expected: shared.expected.load(Ordering::Relaxed),
        stats,
        unfinished_clients: unfinished,
        latencies,
        server_memory: [server_before, server_connected, server_end],
        server_cpu_ticks: server_cpu_from.zip(server_cpu_until),
        own_cpu_ticks: own_cpu_from.zip(own_cpu_until),
        clock_ticks_per_second: proc_stats::clock_ticks_per_second(),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_carry_user_and_room() {
        let mut config = Config::new("ws://127.0.0.1:3000/");
        assert_eq!(config.client_url(7), "ws://127.0.0.1:3000/ws?user=lg-7");
        config.room = Some("bench".into());
        assert_eq!(
            config.client_url(7),
            "ws://127.0.0.1:3000/ws?user=lg-7&room=bench"
        );
        config.rooms = 3;
        assert_eq!(
            config.client_url(7),
            "ws://127.0.0.1:3000/ws?user=lg-7&room=bench-1"
        );
        config.room = None;
        assert_eq!(config.room_of(5).as_deref(), Some("lg-2"));
    }

    #[test]
    fn nonsense_is_refused_before_connecting() {
        let mut config = Config::new("ws://127.0.0.1:3000");
        assert!(config.validate().is_ok());
        config.senders = config.clients + 1;
        assert!(config.validate().is_err());
        let mut config = Config::new("http://127.0.0.1:3000");
        assert!(config.validate().is_err());
        config.url = "ws://x".into();
        config.mode = SendMode::Window { in_flight: 0 };
        assert!(config.validate().is_err());
    }
}
