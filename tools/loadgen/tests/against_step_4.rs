//! A short, small load against step 4, both in this process: step 4's library serves on
//! an ephemeral port, and the load generator's library runs against it.

use std::net::SocketAddr;
use std::time::Duration;

use loadgen::{Config, Report, SendMode};
use tokio::net::TcpListener;
use tokio::time::timeout;

/// The whole run (connect, warmup, window, drain, close) must fit in this.
const RUN_LIMIT: Duration = Duration::from_secs(30);

async fn start_step_4() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(step_4::serve(listener));
    addr
}

fn small_load(addr: SocketAddr, mode: SendMode) -> Config {
    let mut config = Config::new(format!("ws://{addr}"));
    config.clients = 10;
    config.senders = 3;
    config.mode = mode;
    config.warmup = Duration::from_millis(200);
    config.duration = Duration::from_secs(1);
    config.drain = Duration::from_secs(5);
    config.connect_timeout = Duration::from_secs(10);
    config
}

async fn run(config: Config) -> Report {
    timeout(RUN_LIMIT, loadgen::run(config))
        .await
        .expect("the run finished in time")
        .expect("the run could start")
}

fn assert_clean(report: &Report) {
    assert_eq!(report.connect.connected, 10, "{report}");
    assert_eq!(report.connect.alive_at_window_end, 10, "{report}");
    assert_eq!(report.errors.total, 0, "{report}");
    assert_eq!(report.dropped_by_server(), 0, "{report}");
    assert!(report.delivery.expected > 0, "{report}");
    assert_eq!(report.delivery.ratio, Some(1.0), "{report}");
    assert_eq!(report.delivery.missing, 0, "{report}");
    assert!(report.delivery.drained, "{report}");
    // Every sender's message reaches all ten clients, its author included.
    assert_eq!(
        report.delivery.expected,
        report.throughput.sent * 10,
        "{report}"
    );
    let latency = &report.latency_us;
    assert_eq!(latency.samples, report.delivery.received, "{report}");
    let (p50, p99, max) = (
        latency.p50.unwrap(),
        latency.p99.unwrap(),
        latency.max.unwrap(),
    );
    assert!(p50 <= p99 && p99 <= max, "{report}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_windowed_load_is_delivered_whole_once_and_in_order() {
    let addr = start_step_4().await;
    let report = run(small_load(addr, SendMode::Window { in_flight: 4 })).await;
    assert_clean(&report);
    assert!(report.throughput.delivered_per_second > 0.0, "{report}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_paced_load_sends_at_the_rate_asked() {
    let addr = start_step_4().await;
    let report = run(small_load(addr, SendMode::Rate { per_second: 20.0 })).await;
    assert_clean(&report);
    // 3 senders at 20 msg/s for 1 s: 60 ticks, give or take one at each edge. A busy
    // machine may make a sender miss a tick; it is skipped and counted, not sent late.
    let ticks = report.throughput.sent + report.throughput.skipped_ticks;
    assert!((57..=63).contains(&ticks), "{ticks} ticks\n{report}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_json_report_has_every_number() {
    let addr = start_step_4().await;
    let report = run(small_load(addr, SendMode::Window { in_flight: 2 })).await;
    let json = serde_json::to_value(&report).unwrap();
    for field in ["p50", "p90", "p99", "max"] {
        assert!(json["latency_us"][field].is_u64(), "{field} in {json}");
    }
    assert_eq!(json["delivery"]["ratio"], 1.0);
    assert!(json["throughput"]["delivered_per_second"].as_f64().unwrap() > 0.0);
    assert_eq!(json["config"]["mode"]["mode"], "window");
}

#[tokio::test]
async fn a_server_that_is_not_there_is_an_error_not_a_hang() {
    // Bind and drop a listener to find a port nobody listens on.
    let addr = TcpListener::bind("127.0.0.1:0")
        .await
        .unwrap()
        .local_addr()
        .unwrap();
    let mut config = small_load(addr, SendMode::Window { in_flight: 1 });
    config.connect_timeout = Duration::from_secs(2);
    let error = timeout(RUN_LIMIT, loadgen::run(config))
        .await
        .expect("gave up in time")
        .unwrap_err();
    assert!(
        error.to_string().contains("no client could connect"),
        "{error}"
    );
}
