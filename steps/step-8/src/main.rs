//! `cargo run -p step-8`, then open http://127.0.0.1:3000/?user=alice&room=rust and
//! http://127.0.0.1:3000/?user=bob&room=rust in two browser tabs.

use std::io::IsTerminal;

use anyhow::Context;
use clap::Parser;
use tokio::net::TcpListener;
use tracing_subscriber::EnvFilter;

use step_8::config::Config;
use step_8::shutdown::Signals;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let config = Config::parse();
    tracing_subscriber::fmt()
        .with_env_filter(EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()))
        .with_ansi(std::io::stdout().is_terminal())
        .with_writer(std::io::stdout)
        .init();

    // Before the `listening on` line tells the world we are here: a SIGTERM that comes
    // right after it must start a shutdown, not kill the process.
    let signals = Signals::listen().context("could not listen for signals")?;
    let listener = TcpListener::bind(config.addr)
        .await
        .with_context(|| format!("could not listen on {}", config.addr))?;
    // Printed, not logged: PROTOCOL.md promises this line, and people, scripts and tests
    // wait for it to learn the port, so no RUST_LOG setting may hide it.
    println!("listening on http://{}", listener.local_addr()?);
    step_8::serve(listener, config.limits(), config.shutdown_grace, signals).await
}
