//! Command-line flags. Every server step takes the same flags (see PROTOCOL.md); later
//! steps add theirs here, the same way.

use std::net::SocketAddr;

/// How to run the chat server.
#[derive(clap::Parser, Debug, Clone)]
#[command(version, about = "A chat in the browser: open http://127.0.0.1:3000")]
pub struct Config {
    /// Where to listen. Port 0 asks the OS for a free port; the log line says which.
    #[arg(long, env = "CHAT_ADDR", default_value = "127.0.0.1:3000")]
    pub addr: SocketAddr,
}
