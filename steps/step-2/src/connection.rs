//! One client, from its first line to its last.

use std::io;

use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::sync::broadcast::{self, error::RecvError};

use crate::line::{Line, LineReader, MAX_LINE_BYTES};
use crate::name::{NAME_RULE, is_valid_name};
use crate::room::{Broadcast, ConnectionId, Room};
use crate::visible::visible;

// ANCHOR: handle
/// Serves one client: asks its name, joins the room, relays lines both ways until the
/// client leaves, then tells the others.
pub async fn handle(stream: TcpStream, id: ConnectionId, room: Room) -> io::Result<()> {
    // Two owned halves, so the reading and the writing side are separate values.
    let (reader, mut writer) = stream.into_split();
    let mut lines = LineReader::new(reader);

    let Some(name) = ask_name(&mut lines, &mut writer).await? else {
        return Ok(()); // gone before saying who they are
    };

    // Subscribe first: every line published after this point reaches us. Announce before
    // welcoming: once the client reads its welcome, the news of its arrival is already in
    // the room, so nobody who joins after that moment hears of it.
    let mut inbox = room.subscribe();
    room.publish(id, format!("* {name} joined"));
    send(&mut writer, &format!("* welcome, {name}")).await?;
    tracing::info!(name, "joined");

    let result = chat(id, &name, &mut lines, &mut writer, &room, &mut inbox).await;

    // Also after an error: the others should not wait for someone who is gone.
    room.publish(id, format!("* {name} left"));
    tracing::info!(name, "left");
    result
}
// ANCHOR_END: handle

// ANCHOR: ask_name
/// Asks for a name until the client gives a valid one; `None` if it leaves first.
/// Asking again is what a person at `nc` expects; an invalid name costs the server nothing.
async fn ask_name(
    lines: &mut LineReader<OwnedReadHalf>,
    writer: &mut OwnedWriteHalf,
) -> io::Result<Option<String>> {
    send(writer, "* what is your name?").await?;
    loop {
        match lines.next_line().await? {
            None => return Ok(None),
            Some(Line::Text(text)) if is_valid_name(text.trim()) => {
                return Ok(Some(text.trim().to_string()));
            }
            Some(_) => send(writer, &format!("* {NAME_RULE}; try again")).await?,
        }
    }
}
// ANCHOR_END: ask_name

// ANCHOR: chat
/// The heart of the step: wait for whichever comes first, a line from this client or a
/// line from the room, handle it, and wait again.
async fn chat(
    id: ConnectionId,
    name: &str,
    lines: &mut LineReader<OwnedReadHalf>,
    writer: &mut OwnedWriteHalf,
    room: &Room,
    inbox: &mut broadcast::Receiver<Broadcast>,
) -> io::Result<()> {
    loop {
        // Both futures are cancel safe: the one that loses the race is dropped, and
        // nothing it had already read is lost. The handlers run after that, so they may
        // `.await` a write without racing anything.
        tokio::select! {
            line = lines.next_line() => match line? {
                Some(Line::Text(text)) => {
                    let text = text.trim();
                    if !text.is_empty() {
                        room.publish(id, format!("{name}: {}", visible(text)));
                    }
                }
                Some(Line::TooLong) => {
                    let notice = format!("* line too long (limit {MAX_LINE_BYTES} bytes); not sent");
                    send(writer, &notice).await?;
                }
                Some(Line::NotUtf8) => send(writer, "* line is not valid UTF-8; not sent").await?,
                None => return Ok(()), // the client closed its side
            },
            received = inbox.recv() => match received {
                Ok(Broadcast { from, .. }) if from == id => {} // our own line: no echo
                Ok(Broadcast { line, .. }) => send(writer, &line).await?,
                Err(RecvError::Lagged(missed)) => send(writer, &missed_notice(missed)).await?,
                // Only if the room itself is gone; `serve` keeps it for the life of the process.
                Err(RecvError::Closed) => return Ok(()),
            },
        }
    }
}
// ANCHOR_END: chat

/// What a member is told when the room dropped lines it had not read yet.
fn missed_notice(missed: u64) -> String {
    let lines = if missed == 1 { "message" } else { "messages" };
    format!("* you missed {missed} {lines}")
}

/// Writes `line` and its newline with one `write_all`.
async fn send(writer: &mut OwnedWriteHalf, line: &str) -> io::Result<()> {
    let mut bytes = Vec::with_capacity(line.len() + 1);
    bytes.extend_from_slice(line.as_bytes());
    bytes.push(b'\n');
    writer.write_all(&bytes).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_missed_notice_counts_in_words() {
        assert_eq!(missed_notice(1), "* you missed 1 message");
        assert_eq!(missed_notice(2), "* you missed 2 messages");
        assert_eq!(missed_notice(1000), "* you missed 1000 messages");
    }
}
