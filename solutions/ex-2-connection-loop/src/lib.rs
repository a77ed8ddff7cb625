//! Exercise 2: the connection loop.
//!
//! A small TCP chat in the shape of step 2. Everything around the connection loop is
//! written: accepting clients, reading the name, joining the room, saying goodbye. What
//! is missing is [`relay`], the loop each connection runs while its client is in the room.

use std::io;

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader, Lines};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::broadcast::{self, error::RecvError};

/// One line for everyone in the room except its sender.
#[derive(Clone, Debug)]
pub struct Broadcast {
    /// The id of the connection that sent it.
    pub from: u64,
    /// The line as clients see it, without the newline: `alice: hi` or `* alice joined`.
    pub line: String,
}

/// The client's lines, read one at a time. `next_line` is cancel safe.
pub type ClientLines = Lines<BufReader<OwnedReadHalf>>;

/// Accepts clients forever. They all join one room, a broadcast channel that keeps
/// `capacity` lines for members that have not read them yet.
pub async fn serve(listener: TcpListener, capacity: usize) {
    let (room, _) = broadcast::channel(capacity);
    let mut next_id = 0;
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        next_id += 1;
        tokio::spawn(handle(stream, next_id, room.clone()));
    }
}

/// One client: its first line is its name; then it is in the room until [`relay`] returns.
async fn handle(stream: TcpStream, id: u64, room: broadcast::Sender<Broadcast>) {
    let (reader, mut writer) = stream.into_split();
    let mut lines = BufReader::new(reader).lines();
    let name = match lines.next_line().await {
        Ok(Some(name)) if !name.trim().is_empty() => name.trim().to_string(),
        _ => return,
    };

    let mut inbox = room.subscribe();
    let _ = room.send(Broadcast {
        from: id,
        line: format!("* {name} joined"),
    });
    let welcome = format!("* welcome, {name}\n");
    if writer.write_all(welcome.as_bytes()).await.is_ok() {
        let _ = relay(id, &name, &mut lines, &mut writer, &room, &mut inbox).await;
    }
    let _ = room.send(Broadcast {
        from: id,
        line: format!("* {name} left"),
    });
}

/// Relays lines both ways until the client leaves:
///
/// - a line from the client (`lines`) goes to the room as `name: text`, with the text
///   trimmed; a line that is blank after trimming is not sent at all;
/// - a line from the room (`inbox`) goes to the client, followed by `\n`, unless this
///   connection sent it (`from == id`): nobody gets their own lines back;
/// - when the room reports `RecvError::Lagged(n)`, the client is told
///   `* you missed n messages` and the loop goes on;
/// - the loop ends, returning `Ok(())`, when the client ends its input (`next_line`
///   gives `None`) or the room is closed; it ends with the error if reading from or
///   writing to the client fails.
pub async fn relay(
    id: u64,
    name: &str,
    lines: &mut ClientLines,
    writer: &mut OwnedWriteHalf,
    room: &broadcast::Sender<Broadcast>,
    inbox: &mut broadcast::Receiver<Broadcast>,
) -> io::Result<()> {
    loop {
        tokio::select! {
            line = lines.next_line() => match line? {
                Some(text) => {
                    let text = text.trim();
                    if !text.is_empty() {
                        let line = format!("{name}: {text}");
                        let _ = room.send(Broadcast { from: id, line });
                    }
                }
                None => return Ok(()),
            },
            received = inbox.recv() => match received {
                Ok(Broadcast { from, .. }) if from == id => {}
                Ok(Broadcast { line, .. }) => writer.write_all(format!("{line}\n").as_bytes()).await?,
                Err(RecvError::Lagged(missed)) => {
                    let notice = format!("* you missed {missed} message{}\n", if missed == 1 { "" } else { "s" });
                    writer.write_all(notice.as_bytes()).await?;
                }
                Err(RecvError::Closed) => return Ok(()),
            },
        }
    }
}
