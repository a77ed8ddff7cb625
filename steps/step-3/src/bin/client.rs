//! A terminal client for the step 3 server:
//!
//! ```text
//! cargo run -p step-3 --bin client -- --user bob [--url ws://127.0.0.1:3000]
//! ```
//!
//! Every line typed is sent as a text frame; every text frame received is printed.
//! End of input (Ctrl-D) closes the connection properly: a close frame, then the
//! server's answer. Chat goes to stdout, the client's own notices to stderr.

use std::process::ExitCode;

use anyhow::Context;
use clap::Parser;
use futures_util::{SinkExt, StreamExt};
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::{Error as WsError, Message};

#[derive(Parser, Debug)]
#[command(about = "Chat with a step 3 server from a terminal")]
struct Args {
    /// Your name in the chat.
    #[arg(long)]
    user: String,
    /// The server's address; the client adds `/ws?user=NAME`.
    #[arg(long, default_value = "ws://127.0.0.1:3000")]
    url: String,
}

#[tokio::main]
async fn main() -> anyhow::Result<ExitCode> {
    let args = Args::parse();
    let url = format!(
        "{}/ws?user={}",
        args.url.trim_end_matches('/'),
        percent_encode(&args.user)
    );
    let mut socket = match tokio_tungstenite::connect_async(&url).await {
        Ok((socket, _response)) => socket,
        // The server said no before the upgrade, with a JSON body saying why.
        Err(WsError::Http(response)) => {
            let body = response.body().as_deref().unwrap_or_default();
            eprintln!(
                "* refused: {} {}",
                response.status(),
                String::from_utf8_lossy(body)
            );
            return Ok(ExitCode::FAILURE);
        }
        Err(error) => return Err(error).with_context(|| format!("could not connect to {url}")),
    };
    eprintln!("* connected to {url}; type a line to send it, Ctrl-D to leave");

    // ANCHOR: client_loop
    let mut typed = stdin_lines();
    // Set once a close frame went either way: from then on we only read, until the
    // server ends the connection.
    let mut closing = false;
    loop {
        tokio::select! {
            line = typed.recv(), if !closing => match line {
                Some(line) => socket.send(Message::text(line)).await?,
                None => {
                    // End of input: start the close handshake and wait for its answer.
                    socket.close(None).await?;
                    closing = true;
                }
            },
            frame = socket.next() => match frame {
                Some(Ok(Message::Text(text))) => println!("{text}"),
                Some(Ok(Message::Close(frame))) => {
                    if !closing {
                        // The server closed first; tungstenite answers it for us.
                        let why = frame.map(|f| format!(": {} {}", u16::from(f.code), f.reason));
                        eprintln!("* the server closed the connection{}", why.unwrap_or_default());
                        closing = true;
                    }
                }
                // Pings are answered by tungstenite; the server sends no binary frames.
                Some(Ok(_)) => {}
                // E.g. the server stopped without a close frame (step 8 will send one).
                Some(Err(error)) => {
                    eprintln!("* connection lost: {error}");
                    return Ok(ExitCode::FAILURE);
                }
                None => break,
            },
        }
    }
    // ANCHOR_END: client_loop
    eprintln!("* disconnected");
    Ok(ExitCode::SUCCESS)
}

// ANCHOR: stdin_lines
/// The lines typed on stdin, read by a thread of our own. tokio's `stdin()` reads on a
/// blocking thread that nothing can interrupt, and the runtime waits for it on exit: the
/// client could not quit when the server closes until the user pressed Enter. Our thread
/// is simply left behind when `main` returns.
fn stdin_lines() -> mpsc::Receiver<String> {
    let (sender, receiver) = mpsc::channel(16);
    std::thread::spawn(move || {
        // Ends at end of input, on a read error, or on a line that is not UTF-8.
        for line in std::io::stdin().lines().map_while(Result::ok) {
            if sender.blocking_send(line).is_err() {
                break; // main has finished
            }
        }
    });
    receiver
}
// ANCHOR_END: stdin_lines

/// Escapes everything but unreserved URL characters, so `Zoë` travels as `Zo%C3%AB`.
fn percent_encode(text: &str) -> String {
    let mut encoded = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || b"-._~".contains(&byte) {
            encoded.push(char::from(byte));
        } else {
            encoded.push_str(&format!("%{byte:02X}"));
        }
    }
    encoded
}
