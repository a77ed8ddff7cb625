//! The numbers a run produces, and how they are printed: as text for a person, as JSON
//! (`--json FILE`) for a script or the book's performance chapter.

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use serde::{Serialize, Serializer};

use crate::client::ClientStats;
use crate::histogram::Histogram;
use crate::proc_stats::Memory;
use crate::{Config, SendMode};

/// Serializes a duration as seconds (a float), which reads better in JSON than serde's
/// `{"secs": .., "nanos": ..}`.
pub fn seconds<S: Serializer>(duration: &Duration, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_f64(duration.as_secs_f64())
}

/// Everything a run measured.
#[derive(Clone, Debug, Serialize)]
pub struct Report {
    pub config: Config,
    pub connect: ConnectReport,
    /// Length of the measured window as the clock saw it, in seconds.
    pub measured_seconds: f64,
    pub throughput: Throughput,
    pub delivery: Delivery,
    /// Send-to-receipt latency of every copy of every message sent in the window.
    pub latency_us: Latency,
    pub errors: Errors,
    /// Only with `--pid`.
    pub server: Option<ServerReport>,
    /// The tool's own CPU use in the window: near `threads` means the tool, not the
    /// server, may be what limits the numbers.
    pub loadgen_cpu_cores: Option<f64>,
}

#[derive(Clone, Debug, Serialize)]
pub struct ConnectReport {
    pub clients: usize,
    pub connected: usize,
    /// Clients still connected (not dropped by the server) when the server was read
    /// idle, when sending began, and when the measured window began and ended. A big
    /// room's `joined` storm, or the warmup's burst, can cost members before anything
    /// is measured: then the numbers describe a smaller room than asked for.
    pub alive_after_connect: u64,
    pub alive_when_sending: u64,
    pub alive_at_window_start: u64,
    pub alive_at_window_end: u64,
    pub failed: u64,
    /// Rooms the clients were welcomed into.
    pub rooms: usize,
    pub seconds: f64,
}

#[derive(Clone, Debug, Serialize)]
pub struct Throughput {
    /// Messages the senders sent in the window.
    pub sent: u64,
    pub sent_per_second: f64,
    /// Copies of this run's chat messages all clients received in the window.
    pub delivered: u64,
    pub delivered_per_second: f64,
    /// Rate mode: ticks skipped because a sender fell behind its schedule.
    pub skipped_ticks: u64,
}

#[derive(Clone, Debug, Serialize)]
pub struct Delivery {
    /// For each message sent in the window, the members its room had then.
    pub expected: u64,
    /// Copies of those messages received, during the window or the drain.
    pub received: u64,
    /// `received / expected`; 1.0 is perfect. `None` when nothing was expected.
    pub ratio: Option<f64>,
    /// Copies never seen by a member that stayed connected (sequence numbers skipped).
    pub missing: u64,
    /// Whether everything expected arrived before the drain limit.
    pub drained: bool,
    pub drain_seconds: f64,
}

#[derive(Clone, Debug, Default, Serialize)]
pub struct Latency {
    pub samples: u64,
    pub min: Option<u64>,
    pub p50: Option<u64>,
    pub p90: Option<u64>,
    pub p99: Option<u64>,
    pub p999: Option<u64>,
    pub max: Option<u64>,
    pub mean: Option<f64>,
}

impl Latency {
    pub fn from_histogram(histogram: &Histogram) -> Latency {
        Latency {
            samples: histogram.count(),
            min: histogram.min(),
            p50: histogram.percentile(50.0),
            p90: histogram.percentile(90.0),
            p99: histogram.percentile(99.0),
            p999: histogram.percentile(99.9),
            max: histogram.max(),
            mean: histogram.mean(),
        }
    }
}

#[derive(Clone, Debug, Serialize)]
pub struct Errors {
    /// Sum of everything below except `dropped_by_server`, which is listed by code.
    pub total: u64,
    pub connect_failures: u64,
    pub duplicates: u64,
    pub out_of_order: u64,
    /// `error` frames the server sent back.
    pub error_frames: u64,
    pub bad_frames: u64,
    pub connection_errors: u64,
    pub send_errors: u64,
    /// Clients that had not finished when the run closed.
    pub unfinished_clients: u64,
    /// Connections the server closed during the run, by close code (1013: too slow).
    pub dropped_by_server: BTreeMap<u16, u64>,
    pub examples: Vec<String>,
}

#[derive(Clone, Debug, Serialize)]
pub struct ServerReport {
    pub pid: u32,
    pub before_connect: Memory,
    pub after_connect: Memory,
    pub end: Memory,
    /// (RSS after connecting - RSS before) / clients connected, in bytes. `None` if the
    /// server dropped clients before it was read idle.
    pub memory_per_connection_bytes: Option<f64>,
    /// User plus system CPU the server used in the window.
    pub cpu_seconds: Option<f64>,
    /// `cpu_seconds / measured_seconds`: 1.0 is one core kept busy.
    pub cpu_cores: Option<f64>,
    /// Server CPU per delivered copy, in nanoseconds.
    pub cpu_ns_per_delivered_message: Option<f64>,
    pub clock_ticks_per_second: u64,
}

/// What [`crate::run`] hands over to build a report.
pub(crate) struct Inputs {
    pub config: Config,
    pub connected: usize,
    /// Clients alive after connecting, when sending began, at the window's start, at
    /// its end.
    pub alive: [u64; 4],
    pub connect_seconds: f64,
    pub first_connect_failure: Option<String>,
    pub rooms: usize,
    pub measured_seconds: f64,
    pub drain_seconds: f64,
    pub drained: bool,
    pub expected: u64,
    pub stats: ClientStats,
    pub unfinished_clients: u64,
    pub latencies: Histogram,
    pub server_memory: [Option<Memory>; 3],
    pub server_cpu_ticks: Option<(u64, u64)>,
    pub own_cpu_ticks: Option<(u64, u64)>,
    pub clock_ticks_per_second: u64,
}

/// `part / whole`, or `None` when `whole` is zero.
pub fn ratio(part: f64, whole: f64) -> Option<f64> {
    (whole > 0.0).then(|| part / whole)
}

/// Server memory per connection in bytes: the growth of RSS (KiB) from before to after
/// connecting, spread over the connections.
pub fn memory_per_connection(before: Memory, after: Memory, connections: usize) -> Option<f64> {
    let grown_bytes = (after.rss_kib as f64 - before.rss_kib as f64) * 1024.0;
    ratio(grown_bytes, connections as f64)
}

impl Report {
    pub(crate) fn build(inputs: Inputs) -> Report {
        let Inputs {
            config,
            connected,
            alive,
            connect_seconds,
            first_connect_failure,
            rooms,
            measured_seconds,
            drain_seconds,
            drained,
            expected,
            mut stats,
            unfinished_clients,
            latencies,
            server_memory,
            server_cpu_ticks,
            own_cpu_ticks,
            clock_ticks_per_second,
        } = inputs;
        let [
            alive_after_connect,
            alive_when_sending,
            alive_at_window_start,
            alive_at_window_end,
        ] = alive;
        if let Some(failure) = first_connect_failure {
            stats.note(failure);
        }
        let ticks_to_seconds = |(from, until): (u64, u64)| {
            until.saturating_sub(from) as f64 / clock_ticks_per_second as f64
        };

        let delivered = stats.received_in_window;
        let server = match (config.pid, server_memory) {
            (Some(pid), [Some(before), Some(after), Some(end)]) => {
                let cpu_seconds = server_cpu_ticks.map(ticks_to_seconds);
                Some(ServerReport {
                    pid,
                    before_connect: before,
                    after_connect: after,
                    end,
                    // Once the server has dropped some clients, the RSS it keeps is
                    // not the cost of the ones left: no figure beats a wrong one.
                    memory_per_connection_bytes: (alive_after_connect == connected as u64)
                        .then(|| memory_per_connection(before, after, connected))
                        .flatten(),
                    cpu_seconds,
                    cpu_cores: cpu_seconds.and_then(|cpu| ratio(cpu, measured_seconds)),
                    cpu_ns_per_delivered_message: cpu_seconds
                        .and_then(|cpu| ratio(cpu * 1e9, delivered as f64)),
                    clock_ticks_per_second,
                })
            }
            _ => None,
        };

        let errors = Errors {
            total: stats.connect_failures
                + stats.duplicates
                + stats.out_of_order
                + stats.error_frames
                + stats.bad_frames
                + stats.connection_errors
                + stats.send_errors
                + unfinished_clients,
            connect_failures: stats.connect_failures,
            duplicates: stats.duplicates,
            out_of_order: stats.out_of_order,
            error_frames: stats.error_frames,
            bad_frames: stats.bad_frames,
            connection_errors: stats.connection_errors,
            send_errors: stats.send_errors,
            unfinished_clients,
            dropped_by_server: stats.dropped_by_server.clone(),
            examples: stats.error_examples.clone(),
        };

        Report {
            connect: ConnectReport {
                clients: config.clients,
                connected,
                alive_after_connect,
                alive_when_sending,
                alive_at_window_start,
                alive_at_window_end,
                failed: stats.connect_failures,
                rooms,
                seconds: connect_seconds,
            },
            measured_seconds,
            throughput: Throughput {
                sent: stats.sent_in_window,
                sent_per_second: ratio(stats.sent_in_window as f64, measured_seconds)
                    .unwrap_or(0.0),
                delivered,
                delivered_per_second: ratio(delivered as f64, measured_seconds).unwrap_or(0.0),
                skipped_ticks: stats.skipped_ticks,
            },
            delivery: Delivery {
                expected,
                received: stats.received_of_window,
                ratio: ratio(stats.received_of_window as f64, expected as f64),
                missing: stats.missing,
                drained,
                drain_seconds,
            },
            latency_us: Latency::from_histogram(&latencies),
            errors,
            server,
            loadgen_cpu_cores: own_cpu_ticks
                .map(ticks_to_seconds)
                .and_then(|cpu| ratio(cpu, measured_seconds)),
            config,
        }
    }

    /// Clients the server dropped during the run, all codes together.
    pub fn dropped_by_server(&self) -> u64 {
        self.errors.dropped_by_server.values().sum()
    }
}

fn or_dash<T: fmt::Display>(value: Option<T>) -> String {
    value.map_or_else(|| "-".into(), |value| value.to_string())
}

fn kib(memory: Memory) -> String {
    format!(
        "RSS {:.1} MiB (peak {:.1} MiB)",
        memory.rss_kib as f64 / 1024.0,
        memory.hwm_kib as f64 / 1024.0
    )
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let config = &self.config;
        let scenario = config
            .scenario
            .map(|s| format!(" (scenario {s:?})").to_lowercase())
            .unwrap_or_default();
        let mode = match config.mode {
            SendMode::Rate { per_second } => format!("{per_second} msg/s each"),
            SendMode::Window { in_flight } => format!("as fast as a window of {in_flight} allows"),
        };
        writeln!(f, "load against {}{scenario}", config.url)?;
        writeln!(
            f,
            "  {} clients, {} senders, {mode}; warmup {:?}, measured {:.2} s",
            config.clients, config.senders, config.warmup, self.measured_seconds
        )?;
        let c = &self.connect;
        writeln!(
            f,
            "connected      {}/{} in {:.2} s ({} failed), {} room(s)",
            c.connected, c.clients, c.seconds, c.failed, c.rooms
        )?;
        if c.alive_at_window_end < c.connected as u64 {
            writeln!(
                f,
                "  WARNING: the server dropped clients; still connected: {} when idle, {} when \
                 sending began, {} when the window began, {} when it ended",
                c.alive_after_connect,
                c.alive_when_sending,
                c.alive_at_window_start,
                c.alive_at_window_end
            )?;
        }
        let t = &self.throughput;
        writeln!(
            f,
            "sent           {} ({:.0} msg/s){}",
            t.sent,
            t.sent_per_second,
            if t.skipped_ticks > 0 {
                format!(", {} ticks skipped: senders fell behind", t.skipped_ticks)
            } else {
                String::new()
            }
        )?;
        writeln!(
            f,
            "delivered      {} ({:.0} msg/s)",
            t.delivered, t.delivered_per_second
        )?;
        let d = &self.delivery;
        writeln!(
            f,
            "delivery       {} of {} expected = {}{}; {} missing; drained in {:.3} s{}",
            d.received,
            d.expected,
            or_dash(d.ratio.map(|r| format!("{r:.6}"))),
            if d.ratio == Some(1.0) { " (all)" } else { "" },
            d.missing,
            d.drain_seconds,
            if d.drained { "" } else { " (gave up)" }
        )?;
        let l = &self.latency_us;
        writeln!(
            f,
            "latency (us)   p50 {}  p90 {}  p99 {}  p99.9 {}  max {}  (mean {}, {} samples)",
            or_dash(l.p50),
            or_dash(l.p90),
            or_dash(l.p99),
            or_dash(l.p999),
            or_dash(l.max),
            or_dash(l.mean.map(|m| format!("{m:.0}"))),
            l.samples
        )?;
        let e = &self.errors;
        writeln!(
            f,
            "errors         {} (connect {}, duplicate {}, out of order {}, error frames {}, \
             bad frames {}, connection {}, send {}, unfinished {})",
            e.total,
            e.connect_failures,
            e.duplicates,
            e.out_of_order,
            e.error_frames,
            e.bad_frames,
            e.connection_errors,
            e.send_errors,
            e.unfinished_clients
        )?;
        let drops: Vec<String> = e
            .dropped_by_server
            .iter()
            .map(|(code, n)| format!("{n} with {code}"))
            .collect();
        writeln!(
            f,
            "dropped        {}{}",
            self.dropped_by_server(),
            if drops.is_empty() {
                String::new()
            } else {
                format!(" ({})", drops.join(", "))
            }
        )?;
        for example in &e.examples {
            writeln!(f, "  e.g. {example}")?;
        }
        if let Some(s) = &self.server {
            writeln!(f, "server pid {}", s.pid)?;
            writeln!(f, "  before connect  {}", kib(s.before_connect))?;
            writeln!(f, "  after connect   {}", kib(s.after_connect))?;
            writeln!(f, "  end of window   {}", kib(s.end))?;
            writeln!(
                f,
                "  memory per connection  {}",
                s.memory_per_connection_bytes.map_or_else(
                    || "- (clients were dropped while connecting)".to_string(),
                    |b| format!("{b:.0} bytes")
                )
            )?;
            writeln!(
                f,
                "  CPU in window          {} s ({} cores)",
                or_dash(s.cpu_seconds.map(|c| format!("{c:.2}"))),
                or_dash(s.cpu_cores.map(|c| format!("{c:.2}")))
            )?;
            writeln!(
                f,
                "  CPU per delivered msg  {} ns",
                or_dash(s.cpu_ns_per_delivered_message.map(|n| format!("{n:.0}")))
            )?;
        }
        if let Some(cores) = self.loadgen_cpu_cores {
            writeln!(f, "loadgen CPU    {cores:.2} cores")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ratio_refuses_to_divide_by_zero() {
        assert_eq!(ratio(5.0, 0.0), None);
        assert_eq!(ratio(0.0, 0.0), None);
        assert_eq!(ratio(3.0, 4.0), Some(0.75));
    }

    #[test]
    fn memory_per_connection_is_growth_over_connections() {
        let before = Memory {
            rss_kib: 10_000,
            hwm_kib: 10_000,
        };
        let after = Memory {
            rss_kib: 12_000,
            hwm_kib: 12_500,
        };
        assert_eq!(
            memory_per_connection(before, after, 100),
            Some(2_000.0 * 1024.0 / 100.0)
        );
        assert_eq!(memory_per_connection(before, after, 0), None);
        // RSS can shrink (the allocator gave memory back): that is reported, not hidden.
        assert!(memory_per_connection(after, before, 10).unwrap() < 0.0);
    }

    fn inputs(stats: ClientStats, expected: u64) -> Inputs {
        Inputs {
            config: Config::new("ws://127.0.0.1:1"),
            connected: 10,
            alive: [10; 4],
            connect_seconds: 0.1,
            first_connect_failure: None,
            rooms: 1,
            measured_seconds: 2.0,
            drain_seconds: 0.0,
            drained: true,
            expected,
            stats,
            unfinished_clients: 0,
            latencies: Histogram::new(),
            server_memory: [None; 3],
            server_cpu_ticks: None,
            own_cpu_ticks: Some((100, 150)),
            clock_ticks_per_second: 100,
        }
    }

    #[test]
    fn delivery_ratio_and_rates() {
        let stats = ClientStats {
            sent_in_window: 20,
            received_in_window: 190,
            received_of_window: 198,
            ..ClientStats::default()
        };
        let report = Report::build(inputs(stats, 200));
        assert_eq!(report.delivery.ratio, Some(0.99));
        assert_eq!(report.throughput.sent_per_second, 10.0);
        assert_eq!(report.throughput.delivered_per_second, 95.0);
        assert_eq!(report.loadgen_cpu_cores, Some(0.25));
        assert_eq!(report.errors.total, 0);
    }

    #[test]
    fn duplicates_and_reordering_are_errors_and_drops_are_listed_by_code() {
        let mut stats = ClientStats {
            duplicates: 2,
            out_of_order: 1,
            ..ClientStats::default()
        };
        stats.dropped_by_server.insert(1013, 3);
        let mut inputs = inputs(stats, 0);
        inputs.alive = [10, 10, 9, 7];
        let report = Report::build(inputs);
        assert_eq!(report.errors.total, 3);
        assert_eq!(report.dropped_by_server(), 3);
        assert_eq!(report.delivery.ratio, None);
        let text = report.to_string();
        assert!(text.contains("3 with 1013"), "{text}");
        assert!(
            text.contains("9 when the window began, 7 when it ended"),
            "{text}"
        );
        let json = serde_json::to_value(&report).unwrap();
        assert_eq!(json["errors"]["dropped_by_server"]["1013"], 3);
        assert_eq!(json["config"]["warmup"], 2.0);
    }
}
