//! One client: connect and wait for `welcome`, then read every frame until the run
//! closes; a sender also talks, from a task of its own that owns the write half.
//!
//! The reader does the least work per frame it can: one borrowing `serde_json` parse of
//! the three fields it needs, a few integer operations, and a latency pushed into a
//! local buffer. The load tool must not become the bottleneck it is measuring.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use futures_util::stream::{SplitSink, SplitStream};
use futures_util::{SinkExt, StreamExt};
use serde::Deserialize;
use tokio::net::TcpStream;
use tokio::sync::{Semaphore, mpsc, watch};
use tokio::time::{MissedTickBehavior, interval_at, sleep_until, timeout};
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::{self, Message};
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream, connect_async_with_config};

use crate::{Phase, SendMode, Shared, Window};

type Socket = WebSocketStream<MaybeTlsStream<TcpStream>>;
type Sink = SplitSink<Socket, Message>;
type Stream = SplitStream<Socket>;

/// Latencies are handed to the shared histogram in batches of this many, so its lock is
/// taken once per batch rather than once per message.
const LATENCY_BATCH: usize = 512;

/// tungstenite zero-fills its read buffer up to this size before every read from the
/// socket. Its default, 128 KiB, made that `memset` a third of the tool's CPU time when
/// each read finds one small frame; 8 KiB still holds dozens of chat frames per read.
const READ_BUFFER_BYTES: usize = 8 * 1024;

/// How long a client waits for the server to answer its close frame.
const CLOSE_WAIT: Duration = Duration::from_secs(2);

/// What one client counted. Merged across clients for the report.
#[derive(Debug, Default, Clone)]
pub struct ClientStats {
    pub sent_total: u64,
    /// Messages sent inside the measured window.
    pub sent_in_window: u64,
    /// Rate mode: ticks a sender skipped because it fell behind its schedule.
    pub skipped_ticks: u64,
    /// Chat messages of this run received inside the measured window (by arrival time).
    pub received_in_window: u64,
    /// Copies received of messages sent inside the window (by send time).
    pub received_of_window: u64,
    /// A sender's message this member had already received.
    pub duplicates: u64,
    /// A sender's message that came after a later one of the same sender.
    pub out_of_order: u64,
    /// Sequence numbers skipped over: messages this member never got.
    pub missing: u64,
    /// Frames that are not chat messages of this run (`joined`, `left`, ...).
    pub other_frames: u64,
    /// `error` frames: the server refused something the tool sent.
    pub error_frames: u64,
    /// Frames the tool could not understand (binary, not JSON, a chat message of this
    /// run with a broken text).
    pub bad_frames: u64,
    /// Close codes of connections the server closed during the run, with counts.
    pub dropped_by_server: BTreeMap<u16, u64>,
    /// Connections that failed without a close frame during the run.
    pub connection_errors: u64,
    /// Sends that failed (the connection was gone).
    pub send_errors: u64,
    /// Clients that could not connect.
    pub connect_failures: u64,
    /// Example error messages, at most a few, for the report.
    pub error_examples: Vec<String>,
}

impl ClientStats {
    pub fn merge(&mut self, other: ClientStats) {
        self.sent_total += other.sent_total;
        self.sent_in_window += other.sent_in_window;
        self.skipped_ticks += other.skipped_ticks;
        self.received_in_window += other.received_in_window;
        self.received_of_window += other.received_of_window;
        self.duplicates += other.duplicates;
        self.out_of_order += other.out_of_order;
        self.missing += other.missing;
        self.other_frames += other.other_frames;
        self.error_frames += other.error_frames;
        self.bad_frames += other.bad_frames;
        for (code, count) in other.dropped_by_server {
            *self.dropped_by_server.entry(code).or_default() += count;
        }
        self.connection_errors += other.connection_errors;
        self.send_errors += other.send_errors;
        self.connect_failures += other.connect_failures;
        for example in other.error_examples {
            self.note(example);
        }
    }

    pub fn note(&mut self, error: String) {
        if self.error_examples.len() < 5 && !self.error_examples.contains(&error) {
            self.error_examples.push(error);
        }
    }
}

/// The fields of a server frame the tool looks at; everything else in the frame is
/// skipped by the parser. Each borrows from the frame's text unless it holds an escape
/// (`Cow`: serde only borrows into a bare `Cow`, not an `Option<Cow>`, so a missing
/// field is the empty string).
#[derive(Deserialize)]
struct Incoming<'a> {
    #[serde(rename = "type", borrow)]
    kind: Cow<'a, str>,
    #[serde(borrow, default)]
    room: Cow<'a, str>,
    #[serde(borrow, default)]
    text: Cow<'a, str>,
}

/// A chat message of this run, read back from its text `lg SENDER SEQ NANOS [padding]`.
#[derive(Debug, PartialEq, Eq)]
struct Stamp {
    sender: usize,
    seq: u64,
    sent_nanos: u64,
}

fn parse_stamp(text: &str) -> Option<Stamp> {
    let mut parts = text.strip_prefix("lg ")?.split(' ');
    Some(Stamp {
        sender: parts.next()?.parse().ok()?,
        seq: parts.next()?.parse().ok()?,
        sent_nanos: parts.next()?.parse().ok()?,
    })
}

fn message_frame(sender: usize, seq: u64, sent_nanos: u64, pad_to: usize) -> String {
    let mut text = format!("lg {sender} {seq} {sent_nanos}");
    if text.len() < pad_to {
        text.push(' ');
        while text.len() < pad_to {
            text.push('x');
        }
    }
    // The text is ASCII digits, spaces and letters: nothing to escape.
    format!(r#"{{"type":"message","text":"{text}"}}"#)
}

/// Runs client `index` for the whole run and returns what it counted.
pub async fn run(
    index: usize,
    shared: Arc<Shared>,
    connect_permits: Arc<Semaphore>,
    ready: mpsc::UnboundedSender<Result<(), String>>,
    mut phase: watch::Receiver<Phase>,
) -> ClientStats {
    let mut stats = ClientStats::default();
    if let Some(rate) = shared.config.connect_rate {
        let at = Duration::from_secs_f64(index as f64 / rate);
        tokio::time::sleep_until((shared.start + at).into()).await;
    }
    let connected = {
        let _permit = connect_permits.acquire().await;
        let limit = shared.config.connect_timeout;
        match timeout(limit, connect(index, &shared)).await {
            Ok(result) => result,
            Err(_) => Err(format!("no welcome within {limit:?}")),
        }
    };
    let (socket, room) = match connected {
        Ok(connected) => connected,
        Err(why) => {
            let why = format!("client {index}: {why}");
            stats.connect_failures = 1;
            stats.note(why.clone());
            let _ = ready.send(Err(why));
            return stats;
        }
    };
    let members = shared.room_members(&room);
    members.fetch_add(1, Ordering::Relaxed);
    let _ = ready.send(Ok(()));

    let (sink, mut stream) = socket.split();
    let is_sender = index < shared.config.senders;
    let in_flight = match shared.config.mode {
        SendMode::Window { in_flight } if is_sender => Some(Arc::new(Semaphore::new(in_flight))),
        _ => None,
    };
    let (sender_task, idle_sink) = if is_sender {
        let task = tokio::spawn(send(
            index,
            sink,
            Arc::clone(&shared),
            Arc::clone(&members),
            in_flight.clone(),
            phase.clone(),
        ));
        (Some(task), None)
    } else {
        (None, Some(sink))
    };

    let mut reader = Reader {
        index,
        shared: &shared,
        stats,
        last_seq: vec![0; shared.config.senders],
        latencies: Vec::with_capacity(LATENCY_BATCH),
        in_flight,
    };
    let still_open = reader.read_until_closing(&mut stream, &mut phase).await;
    if !still_open {
        // The server dropped this member: it no longer counts in its room.
        members.fetch_sub(1, Ordering::Relaxed);
    }
    let Reader {
        mut stats,
        latencies,
        ..
    } = reader;
    shared.record_latencies(&latencies);

    let sink = match sender_task {
        Some(task) => match task.await {
            Ok((sent, sink)) => {
                stats.merge(sent);
                Some(sink)
            }
            Err(_) => None,
        },
        None => idle_sink,
    };
    if let (true, Some(mut sink)) = (still_open, sink) {
        // Close politely, so the server logs a normal leave rather than a reset. Frames
        // still arriving are drained and not counted: the run is over.
        let _ = timeout(CLOSE_WAIT, async {
            let _ = sink.send(Message::Close(None)).await;
            while let Some(Ok(_)) = stream.next().await {}
        })
        .await;
    }
    stats
}

/// Opens the WebSocket and waits for `welcome`; returns the socket and the room the
/// welcome names.
async fn connect(index: usize, shared: &Shared) -> Result<(Socket, String), String> {
    let url = shared.config.client_url(index);
    let config = WebSocketConfig::default().read_buffer_size(READ_BUFFER_BYTES);
    // Nagle's algorithm would hold a small frame back until the previous one is
    // acknowledged, adding up to tens of milliseconds to the latency being measured.
    let (mut socket, _) = connect_async_with_config(url.as_str(), Some(config), true)
        .await
        .map_err(|e| describe_connect_error(&url, e))?;
    loop {
        let message = match socket.next().await {
            Some(Ok(message)) => message,
            Some(Err(e)) => return Err(format!("{url}: failed before welcome: {e}")),
            None => return Err(format!("{url}: closed before welcome")),
        };
        shared.frames.fetch_add(1, Ordering::Relaxed);
        match message {
            Message::Text(text) => {
                let frame: Incoming = serde_json::from_str(text.as_str())
                    .map_err(|e| format!("{url}: unreadable first frame: {e}"))?;
                if frame.kind == "welcome" {
                    return Ok((socket, frame.room.into_owned()));
                }
                return Err(format!("{url}: expected welcome, got {text}"));
            }
            Message::Close(frame) => {
                return Err(format!("{url}: closed before welcome: {frame:?}"));
            }
            _ => continue,
        }
    }
}

fn describe_connect_error(url: &str, error: tungstenite::Error) -> String {
    match error {
        tungstenite::Error::Http(response) => {
            let body = response
                .body()
                .as_deref()
                .map(String::from_utf8_lossy)
                .unwrap_or_default();
            format!("{url}: HTTP {} {body}", response.status())
        }
        other => format!("{url}: {other}"),
    }
}

/// The receiving side of one client.
struct Reader<'a> {
    index: usize,
    shared: &'a Shared,
    stats: ClientStats,
    /// The last sequence number seen from each sender.
    last_seq: Vec<u64>,
    latencies: Vec<u64>,
    /// A sender's window: each of its own messages coming back frees a place.
    in_flight: Option<Arc<Semaphore>>,
}

impl Reader<'_> {
    /// Reads until the run closes (returns true) or the connection ends (false).
    async fn read_until_closing(
        &mut self,
        stream: &mut Stream,
        phase: &mut watch::Receiver<Phase>,
    ) -> bool {
        let closing = phase.wait_for(|phase| *phase == Phase::Closing);
        tokio::pin!(closing);
        loop {
            let message = tokio::select! {
                biased;
                _ = &mut closing => return true,
                message = stream.next() => message,
            };
            match message {
                Some(Ok(Message::Text(text))) => self.on_text(text.as_str()),
                Some(Ok(Message::Close(frame))) => {
                    // 1005 is RFC 6455's "no status code was present".
                    let code = frame.map_or(1005, |frame| u16::from(frame.code));
                    *self.stats.dropped_by_server.entry(code).or_default() += 1;
                    return false;
                }
                Some(Ok(Message::Binary(_))) => self.stats.bad_frames += 1,
                // Pings are answered by tungstenite on the next read.
                Some(Ok(_)) => {}
                Some(Err(error)) => {
                    self.stats.connection_errors += 1;
                    self.stats.note(format!("client {}: {error}", self.index));
                    return false;
                }
                None => {
                    self.stats.connection_errors += 1;
                    self.stats.note(format!(
                        "client {}: connection ended without a close frame",
                        self.index
                    ));
                    return false;
                }
            }
        }
    }

    fn on_text(&mut self, text: &str) {
        let now = self.shared.nanos_now();
        self.shared.frames.fetch_add(1, Ordering::Relaxed);
        let Ok(frame) = serde_json::from_str::<Incoming>(text) else {
            self.stats.bad_frames += 1;
            return;
        };
        match &*frame.kind {
            "message" => {}
            "error" => {
                self.stats.error_frames += 1;
                self.stats
                    .note(format!("client {}: server said {text}", self.index));
                return;
            }
            _ => {
                self.stats.other_frames += 1;
                return;
            }
        }
        let Some(stamp) = parse_stamp(&frame.text) else {
            // Somebody else's chat (a person in a browser, another tool).
            self.stats.other_frames += 1;
            return;
        };
        let (Some(window), Some(last)) = (
            self.shared.window.get(),
            self.last_seq.get_mut(stamp.sender),
        ) else {
            self.stats.bad_frames += 1;
            return;
        };

        // Each sender's messages must arrive once each, in the order it sent them.
        if stamp.seq == *last + 1 {
            *last = stamp.seq;
        } else if stamp.seq > *last {
            self.stats.missing += stamp.seq - *last - 1;
            *last = stamp.seq;
        } else if stamp.seq == *last {
            self.stats.duplicates += 1;
        } else {
            self.stats.out_of_order += 1;
        }

        if stamp.sender == self.index {
            if let Some(in_flight) = &self.in_flight {
                in_flight.add_permits(1);
            }
        }
        if window.contains(now) {
            self.stats.received_in_window += 1;
        }
        if window.contains(stamp.sent_nanos) {
            self.stats.received_of_window += 1;
            self.shared
                .received_of_window
                .fetch_add(1, Ordering::Relaxed);
            self.latencies
                .push(now.saturating_sub(stamp.sent_nanos) / 1_000);
            if self.latencies.len() == LATENCY_BATCH {
                self.shared.record_latencies(&self.latencies);
                self.latencies.clear();
            }
        }
    }
}

/// The sending side of sender `index`: waits for the run to start sending, talks until
/// the measured window ends, and hands the write half back for the close.
async fn send(
    index: usize,
    mut sink: Sink,
    shared: Arc<Shared>,
    members: Arc<AtomicU64>,
    in_flight: Option<Arc<Semaphore>>,
    mut phase: watch::Receiver<Phase>,
) -> (ClientStats, Sink) {
    if phase
        .wait_for(|phase| *phase != Phase::Connecting)
        .await
        .is_err()
    {
        return (ClientStats::default(), sink);
    }
    let Some(&window) = shared.window.get() else {
        return (ClientStats::default(), sink);
    };
    let end = sleep_until(shared.instant_at(window.measure_until));
    tokio::pin!(end);
    let mut talker = Talker {
        index,
        seq: 0,
        window,
        shared: &shared,
        members: &members,
        stats: ClientStats::default(),
    };

    match shared.config.mode {
        SendMode::Rate { per_second } => {
            let period = Duration::from_secs_f64(1.0 / per_second);
            // Senders start spread over one period, not all on the same instant.
            let offset = period.mul_f64(index as f64 / shared.config.senders as f64);
            let first = shared.instant_at(window.sending_from) + offset;
            let mut ticks = interval_at(first, period);
            // A sender that falls behind its schedule does not burst to catch up (that
            // would measure a burst, not the rate asked for). It skips the ticks it
            // missed and counts them, so an offered rate the tool could not keep shows
            // in the report instead of hiding in it.
            ticks.set_missed_tick_behavior(MissedTickBehavior::Skip);
            let mut due = first;
            loop {
                let tick = tokio::select! {
                    biased;
                    _ = &mut end => break,
                    tick = ticks.tick() => tick,
                };
                if tick > due {
                    talker.stats.skipped_ticks +=
                        ((tick - due).as_nanos() / period.as_nanos().max(1)) as u64;
                }
                due = tick + period;
                if !talker.queue_next(&mut sink).await {
                    break;
                }
                if let Err(error) = sink.flush().await {
                    talker.send_failed(error);
                    break;
                }
            }
        }
        SendMode::Window { .. } => {
            let in_flight = in_flight.expect("a window sender has a window");
            loop {
                // While places are free, frames are only queued; the socket is written
                // once the window is full, so a window of 64 costs one write, not 64.
                let permit = match in_flight.try_acquire() {
                    Ok(permit) => permit,
                    Err(_) => {
                        if let Err(error) = sink.flush().await {
                            talker.send_failed(error);
                            break;
                        }
                        tokio::select! {
                            biased;
                            _ = &mut end => break,
                            permit = in_flight.acquire() => match permit {
                                Ok(permit) => permit,
                                Err(_) => break,
                            },
                        }
                    }
                };
                // The place is given back by the reader, not by dropping the permit.
                permit.forget();
                if !talker.queue_next(&mut sink).await {
                    break;
                }
            }
            let _ = sink.flush().await;
        }
    }
    (talker.stats, sink)
}

/// What a sender needs to write its next message.
struct Talker<'a> {
    index: usize,
    seq: u64,
    window: Window,
    shared: &'a Shared,
    /// Its room's member count: each message in the window is owed to all of them.
    members: &'a AtomicU64,
    stats: ClientStats,
}

impl Talker<'_> {
    /// Stamps and queues the next message; false once the window is over or the
    /// connection is gone.
    async fn queue_next(&mut self, sink: &mut Sink) -> bool {
        let sent_nanos = self.shared.nanos_now();
        if sent_nanos >= self.window.measure_until {
            return false;
        }
        self.seq += 1;
        let frame = message_frame(
            self.index,
            self.seq,
            sent_nanos,
            self.shared.config.text_bytes,
        );
        if let Err(error) = sink.feed(Message::text(frame)).await {
            self.send_failed(error);
            return false;
        }
        self.stats.sent_total += 1;
        if self.window.contains(sent_nanos) {
            self.stats.sent_in_window += 1;
            let owed = self.members.load(Ordering::Relaxed);
            self.shared.expected.fetch_add(owed, Ordering::Relaxed);
        }
        true
    }

    fn send_failed(&mut self, error: tungstenite::Error) {
        self.stats.send_errors += 1;
        self.stats.note(format!("sender {}: {error}", self.index));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stamp_survives_the_round_trip() {
        let frame = message_frame(3, 17, 123_456_789, 0);
        assert_eq!(frame, r#"{"type":"message","text":"lg 3 17 123456789"}"#);
        let parsed: Incoming = serde_json::from_str(&frame).unwrap();
        assert_eq!(
            parse_stamp(&parsed.text),
            Some(Stamp {
                sender: 3,
                seq: 17,
                sent_nanos: 123_456_789
            })
        );
    }

    #[test]
    fn padding_reaches_the_size_and_keeps_the_stamp() {
        let frame = message_frame(0, 1, 5, 100);
        let parsed: Incoming = serde_json::from_str(&frame).unwrap();
        assert_eq!(parsed.text.len(), 100);
        assert_eq!(parse_stamp(&parsed.text).map(|s| s.sent_nanos), Some(5));
    }

    #[test]
    fn other_texts_are_not_stamps() {
        assert_eq!(parse_stamp("hello"), None);
        assert_eq!(parse_stamp("lg x 1 2"), None);
        assert_eq!(parse_stamp("lg 1 2"), None);
    }

    #[test]
    fn a_server_frame_parses_with_the_fields_the_tool_needs() {
        let raw =
            r#"{"type":"message","id":9,"room":"general","user":"lg-1","text":"lg 1 2 3","ts":1}"#;
        let frame: Incoming = serde_json::from_str(raw).unwrap();
        assert_eq!(frame.kind, "message");
        assert_eq!(frame.room, "general");
        assert!(
            matches!(frame.text, Cow::Borrowed(_)),
            "no copy per message"
        );
        let welcome: Incoming = serde_json::from_str(r#"{"type":"welcome","user":"a"}"#).unwrap();
        assert_eq!((&*welcome.room, &*welcome.text), ("", ""));
    }
}
