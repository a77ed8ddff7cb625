//! Reading lines from a client that we do not trust.
//!
//! A naive `read_line` lets a client send one endless line and make the server buffer it
//! all, and it fails on bytes that are not UTF-8. [`LineReader`] bounds every line to
//! [`MAX_LINE_BYTES`], reports bad lines instead of failing, and is cancel safe, so it
//! can be one branch of a `select!`.

use std::io;

use tokio::io::{AsyncBufReadExt, AsyncRead, BufReader};

/// The longest line a client may send, in bytes, not counting the newline.
pub const MAX_LINE_BYTES: usize = 4096;

/// One line from a client.
#[derive(Debug, PartialEq, Eq)]
pub enum Line {
    /// A line of text, without its `\n` or `\r\n`.
    Text(String),
    /// A line longer than [`MAX_LINE_BYTES`]. Its bytes were dropped as they arrived, so
    /// it never used more memory than the limit.
    TooLong,
    /// A line that is not valid UTF-8.
    NotUtf8,
}

// ANCHOR: line_reader
/// Splits what a client sends into [`Line`]s of bounded length.
pub struct LineReader<R> {
    reader: BufReader<R>,
    /// The line read so far. It lives here, not inside the future `next_line` returns, so
    /// that dropping that future (as `select!` does to the branch that loses) loses nothing.
    partial: Vec<u8>,
    /// The current line went over the limit: drop the rest of it, up to its newline.
    too_long: bool,
}

impl<R: AsyncRead + Unpin> LineReader<R> {
    pub fn new(reader: R) -> LineReader<R> {
        LineReader {
            reader: BufReader::new(reader),
            partial: Vec::new(),
            too_long: false,
        }
    }

    /// The next line, or `None` once the client has closed its side.
    ///
    /// Cancel safe: the only `.await` is `fill_buf`, which is cancel safe (it takes nothing
    /// out of the buffer), and every byte we take out is stored in `self` before the next
    /// `.await`. Dropping this future and calling again carries on where it stopped.
    pub async fn next_line(&mut self) -> io::Result<Option<Line>> {
        loop {
            let buffered = self.reader.fill_buf().await?;
            if buffered.is_empty() {
                // End of input. A last line without a newline still counts.
                let pending = !self.partial.is_empty() || self.too_long;
                return Ok(pending.then(|| self.finish_line()));
            }
            let newline = buffered.iter().position(|&byte| byte == b'\n');
            let chunk = &buffered[..newline.unwrap_or(buffered.len())];
            if self.partial.len() + chunk.len() > MAX_LINE_BYTES {
                self.too_long = true;
                self.partial = Vec::new();
            } else if !self.too_long {
                self.partial.extend_from_slice(chunk);
            }
            let used = chunk.len() + usize::from(newline.is_some());
            self.reader.consume(used);
            if newline.is_some() {
                return Ok(Some(self.finish_line()));
            }
        }
    }

    fn finish_line(&mut self) -> Line {
        let mut bytes = std::mem::take(&mut self.partial);
        if std::mem::take(&mut self.too_long) {
            return Line::TooLong;
        }
        // telnet and Windows terminals end lines with \r\n.
        if bytes.last() == Some(&b'\r') {
            bytes.pop();
        }
        match String::from_utf8(bytes) {
            Ok(text) => Line::Text(text),
            Err(_) => Line::NotUtf8,
        }
    }
}
// ANCHOR_END: line_reader

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::AsyncWriteExt;

    async fn all_lines(input: &[u8]) -> Vec<Line> {
        let mut reader = LineReader::new(input);
        let mut lines = Vec::new();
        while let Some(line) = reader.next_line().await.unwrap() {
            lines.push(line);
        }
        lines
    }

    fn text(s: &str) -> Line {
        Line::Text(s.to_string())
    }

    #[tokio::test]
    async fn splits_on_newlines_and_strips_carriage_returns() {
        let lines = all_lines(b"alice\nhello there\r\n\nlast").await;
        assert_eq!(
            lines,
            [text("alice"), text("hello there"), text(""), text("last")]
        );
    }

    #[tokio::test]
    async fn reports_a_line_that_is_not_utf8_and_goes_on() {
        let lines = all_lines(b"ok\n\xff\xfe\nstill ok\n").await;
        assert_eq!(lines, [text("ok"), Line::NotUtf8, text("still ok")]);
    }

    #[tokio::test]
    async fn drops_an_overlong_line_and_goes_on_after_its_newline() {
        let mut input = vec![b'x'; MAX_LINE_BYTES];
        input.extend_from_slice(b"\n");
        input.extend(vec![b'y'; 3 * MAX_LINE_BYTES]);
        input.extend_from_slice(b"\nafter\n");
        let lines = all_lines(&input).await;
        assert_eq!(
            lines,
            [
                text(&"x".repeat(MAX_LINE_BYTES)),
                Line::TooLong,
                text("after")
            ]
        );
    }

    // ANCHOR: cancel_safety_test
    #[tokio::test]
    async fn a_cancelled_read_loses_nothing() {
        let (mut client, server) = tokio::io::duplex(64);
        let mut reader = LineReader::new(server);
        client.write_all(b"hel").await.unwrap();
        // `biased` polls `next_line` first: it takes "hel" and waits for more. Then the
        // ready branch wins and the `next_line` future is dropped, as in the chat loop.
        tokio::select! {
            biased;
            _ = reader.next_line() => panic!("there is no whole line yet"),
            _ = std::future::ready(()) => {}
        }
        client.write_all(b"lo\n").await.unwrap();
        assert_eq!(reader.next_line().await.unwrap(), Some(text("hello")));
    }
    // ANCHOR_END: cancel_safety_test
}
