//! Target `sse`: the SSE parser ([`tern_llm::sse::Parser`]).
//!
//! The input is a response body. However it is cut into chunks (whole, in
//! pieces sized from its first byte, one byte at a time) the events are
//! the same; no event holds a `\r` (it always ends a line); and a blank
//! line after it dispatches what was pending, leaving nothing held.

use std::collections::VecDeque;
use tern_llm::sse::Parser;

pub fn run(data: &[u8]) {
    let whole = parse(&[data]).0;
    assert!(whole.iter().all(|e| !e.contains('\r')), "an event holds a CR: {whole:?}");
    let pieces = cut(data, data.first().copied().unwrap_or(0));
    assert_eq!(parse(&pieces).0, whole, "cut into {} pieces", pieces.len());
    if data.len() <= 4096 {
        let bytes: Vec<&[u8]> = data.chunks(1).collect();
        assert_eq!(parse(&bytes).0, whole, "byte by byte");
    }
    let (ended, pending) = parse(&[data, b"\n\n"]);
    assert_eq!(pending, 0, "a blank line leaves nothing pending");
    assert!(ended.len() >= whole.len() && ended[..whole.len()] == whole[..], "{ended:?} does not extend {whole:?}");
}

/// The events of `chunks` fed in order, and the bytes still held.
fn parse(chunks: &[&[u8]]) -> (Vec<String>, usize) {
    let mut parser = Parser::default();
    let mut out = VecDeque::new();
    for c in chunks {
        parser.feed(c, &mut out);
    }
    (out.into_iter().collect(), parser.pending())
}

/// `data` in pieces of 0 to 16 bytes, their sizes drawn from `seed`.
fn cut(data: &[u8], seed: u8) -> Vec<&[u8]> {
    let mut state = u32::from(seed) | 1;
    let mut rest = data;
    let mut out = Vec::new();
    while !rest.is_empty() {
        state = state.wrapping_mul(1_103_515_245).wrapping_add(12_345);
        let (piece, tail) = rest.split_at(((state >> 16) as usize % 17).min(rest.len()));
        out.push(piece);
        rest = tail;
    }
    out
}
