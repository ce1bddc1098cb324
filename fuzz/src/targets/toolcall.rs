//! Target `toolcall`: the local model's tool-call parser (tern-local's
//! `toolcall` module: the marker filter, the bare-call check, reading a
//! finished call), fed as the engine feeds it.
//!
//! The input is the model's output, cut into pieces (sizes drawn from its
//! first byte, on character boundaries). The filter shows exactly the text
//! before the first `<tool_call>` (all of it when there is none), however
//! the marker is split; the lead check never panics on a prefix; and a
//! call read from the text after the marker, piece by piece, has JSON
//! arguments.

use crate::toolcall::{Lead, MarkerFilter, OPEN, classify_lead, complete_call};

pub fn run(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let pieces = cut(&text, data.first().copied().unwrap_or(0));
    let mut lead = String::new();
    for piece in &pieces {
        lead.push_str(piece);
        if classify_lead(&lead) != Lead::Undecided {
            break; // as the engine does
        }
    }
    let mut filter = MarkerFilter::default();
    let mut shown = String::new();
    let mut opened = false;
    for piece in &pieces {
        let out = filter.push(piece);
        shown.push_str(&out.text);
        if out.call_opened {
            opened = true;
            break;
        }
    }
    let Some(first) = text.find(OPEN) else {
        assert!(!opened, "a call opened without a marker");
        shown.push_str(&filter.finish());
        assert_eq!(shown, text, "the filter lost or changed text");
        return;
    };
    assert!(opened, "the marker at {first} was missed");
    assert_eq!(shown, text[..first], "the text before the marker is not what was shown");
    // The engine reads the call a token at a time (quadratic): 4 KiB is plenty.
    let after = &text[first + OPEN.len()..];
    let end = (0..=after.len().min(4096)).rev().find(|&i| after.is_char_boundary(i)).unwrap_or(0);
    let after = &after[..end];
    let mut json = String::new();
    for piece in cut(after, data.get(1).copied().unwrap_or(0)) {
        json.push_str(piece);
        if let Some((_, arguments)) = complete_call(&json) {
            let parsed = serde_json::from_str::<serde_json::Value>(&arguments);
            assert!(parsed.is_ok(), "arguments {arguments:?} do not parse: {parsed:?}");
            break;
        }
    }
}

/// `text` in pieces of 1 to 8 characters, their sizes drawn from `seed`.
fn cut(text: &str, seed: u8) -> Vec<&str> {
    let mut state = u32::from(seed) | 1;
    let mut out = Vec::new();
    let mut rest = text;
    while !rest.is_empty() {
        state = state.wrapping_mul(1_103_515_245).wrapping_add(12_345);
        let chars = (state >> 16) as usize % 8 + 1;
        let at = rest.char_indices().nth(chars).map_or(rest.len(), |(i, _)| i);
        let (piece, tail) = rest.split_at(at);
        out.push(piece);
        rest = tail;
    }
    out
}
