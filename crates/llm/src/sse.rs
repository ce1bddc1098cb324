//! Server-sent events, parsed as the HTML standard describes them, in one
//! pass over the bytes: a line is scanned once however many chunks it
//! arrives in, so an endless event costs linear time (the body's size cap
//! bounds its memory; see `http.rs`).
//!
//! Only `data` matters to the model APIs (each event's JSON names its own
//! type), so `event`, `id` and `retry` fields are read and dropped.

use std::collections::VecDeque;

const BOM: &[u8] = b"\xEF\xBB\xBF";

/// An SSE parser fed with a body's chunks as they arrive.
#[derive(Debug, Default)]
pub struct Parser {
    /// The line not yet ended.
    line: Vec<u8>,
    /// The event's data lines so far, each followed by `\n`.
    data: String,
    /// The last chunk ended with `\r`: a `\n` starting the next one is
    /// the same line ending.
    after_cr: bool,
    /// The first line has been seen (it may start with a BOM).
    started: bool,
}

impl Parser {
    /// Feeds the next chunk of the body; appends the data of every event it
    /// completes to `out`.
    pub fn feed(&mut self, mut bytes: &[u8], out: &mut VecDeque<String>) {
        if bytes.is_empty() {
            return;
        }
        if self.after_cr {
            self.after_cr = false;
            bytes = bytes.strip_prefix(b"\n").unwrap_or(bytes);
        }
        while let Some(end) = bytes.iter().position(|&b| b == b'\n' || b == b'\r') {
            let crlf = bytes[end] == b'\r' && bytes.get(end + 1) == Some(&b'\n');
            if bytes[end] == b'\r' && end + 1 == bytes.len() {
                self.after_cr = true;
            }
            if self.line.is_empty() {
                self.process(&bytes[..end], out);
            } else {
                self.line.extend_from_slice(&bytes[..end]);
                let line = std::mem::take(&mut self.line);
                self.process(&line, out);
                self.line = line;
                self.line.clear();
            }
            bytes = &bytes[end + if crlf { 2 } else { 1 }..];
        }
        self.line.extend_from_slice(bytes);
    }

    /// Bytes held for a line not yet ended.
    pub fn pending(&self) -> usize {
        self.line.len() + self.data.len()
    }

    fn process(&mut self, mut line: &[u8], out: &mut VecDeque<String>) {
        if !self.started {
            self.started = true;
            line = line.strip_prefix(BOM).unwrap_or(line);
        }
        if line.is_empty() {
            // Dispatch: an event without data is no event.
            if !self.data.is_empty() {
                self.data.pop();
                out.push_back(std::mem::take(&mut self.data));
            }
            return;
        }
        if line[0] == b':' {
            return; // A comment (keep-alives).
        }
        let (name, value) = match line.iter().position(|&b| b == b':') {
            Some(i) => {
                let value = &line[i + 1..];
                (&line[..i], value.strip_prefix(b" ").unwrap_or(value))
            }
            None => (line, &[][..]),
        };
        if name == b"data" {
            // The standard decodes the stream as UTF-8 with replacement.
            self.data.push_str(&String::from_utf8_lossy(value));
            self.data.push('\n');
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_in(chunks: &[&[u8]]) -> Vec<String> {
        let mut p = Parser::default();
        let mut out = VecDeque::new();
        for c in chunks {
            p.feed(c, &mut out);
        }
        out.into_iter().collect()
    }

    fn parse(all: &[u8]) -> Vec<String> {
        let whole = parse_in(&[all]);
        // Any split into chunks, down to single bytes, gives the same events.
        let bytes: Vec<&[u8]> = all.chunks(1).collect();
        assert_eq!(parse_in(&bytes), whole, "byte by byte");
        for at in 0..=all.len() {
            assert_eq!(parse_in(&[&all[..at], &all[at..]]), whole, "split at {at}");
        }
        whole
    }

    #[test]
    fn the_standards_examples() {
        assert_eq!(parse(b"data: YHOO\ndata: +2\ndata: 10\n\n"), ["YHOO\n+2\n10"]);
        assert_eq!(
            parse(b": test stream\n\ndata: first event\nid: 1\n\ndata:second event\nid\n\ndata:  third event\n\n"),
            ["first event", "second event", " third event"]
        );
        assert_eq!(parse(b"data\n\ndata\ndata\n\ndata:"), ["", "\n"], "an unfinished event is dropped");
    }

    #[test]
    fn line_endings_bom_comments_and_other_fields() {
        assert_eq!(parse(b"\xEF\xBB\xBFdata: a\r\n\r\ndata: b\r\rdata: c\n\n"), ["a", "b", "c"]);
        assert_eq!(
            parse(b": keep-alive\n\nevent: ping\n\nevent: x\nid: 7\nretry: 10\ndata: {\"k\":1}\n\n"),
            ["{\"k\":1}"]
        );
        assert_eq!(parse(b"data: \xff\n\n"), ["\u{fffd}"], "invalid UTF-8 is replaced, as the standard says");
        assert_eq!(parse(b"data: a\n\xEF\xBB\xBFdata: b\n\n"), ["a"], "a BOM later is not stripped: an unknown field");
    }

    #[test]
    fn an_endless_line_is_held_not_rescanned() {
        let mut p = Parser::default();
        let mut out = VecDeque::new();
        p.feed(b"data: ", &mut out);
        let block = vec![b'x'; 1 << 16];
        for _ in 0..64 {
            p.feed(&block, &mut out);
        }
        assert!(out.is_empty());
        assert_eq!(p.pending(), 6 + 64 * (1 << 16));
        p.feed(b"\n\n", &mut out);
        assert_eq!(out[0].len(), 64 * (1 << 16));
    }
}
