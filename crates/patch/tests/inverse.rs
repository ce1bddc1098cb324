//! Property: a generated patch applied, then its inverse applied, gives
//! back the original bytes (line endings and final newline included).
#![allow(clippy::disallowed_methods, clippy::unwrap_used, clippy::expect_used)]

use proptest::prelude::*;
use tern_patch::{Chunk, Hunk, apply_chunks, parse};

#[derive(Debug, Clone)]
struct Case {
    lines: Vec<String>,
    crlf: bool,
    final_newline: bool,
    /// (start, len, replacement): non-overlapping, in order, gaps of 2+.
    edits: Vec<(usize, usize, Vec<String>)>,
}

fn case() -> impl Strategy<Value = Case> {
    (3usize..60, any::<bool>(), any::<bool>(), proptest::collection::vec((0usize..4, 0usize..4, any::<u16>()), 1..6))
        .prop_map(|(n, crlf, final_newline, raw)| {
            // Unique lines, with some Unicode and inner whitespace.
            let lines: Vec<String> = (0..n).map(|i| format!("line {i} – «{}»  x", i * 7919 % 1000)).collect();
            let mut edits = Vec::new();
            let mut at = 0;
            for (k, (gap, len, seed)) in raw.into_iter().enumerate() {
                let start = at + gap + 1;
                let len = len.min(n.saturating_sub(start + 1)).max(1);
                if start + len + 1 > n {
                    break;
                }
                let new: Vec<String> = (0..(seed % 4) as usize).map(|j| format!("new {k}.{j} {seed}")).collect();
                edits.push((start, len, new));
                at = start + len + 1;
            }
            Case { lines, crlf, final_newline, edits }
        })
        .prop_filter("a patch needs at least one change", |c| !c.edits.is_empty())
}

fn text(lines: &[String], crlf: bool, final_newline: bool) -> String {
    let eol = if crlf { "\r\n" } else { "\n" };
    let mut t = lines.join(eol);
    if final_newline && !lines.is_empty() {
        t.push_str(eol);
    }
    t
}

/// One chunk per edit: the line before as context, then the edit.
fn chunks(lines: &[String], edits: &[(usize, usize, Vec<String>)], inverse: bool) -> Vec<Chunk> {
    edits
        .iter()
        .map(|(start, len, new)| {
            let ctx = lines[start - 1].clone();
            let orig: Vec<String> = lines[*start..start + len].to_vec();
            let (from, to) = if inverse { (new.clone(), orig) } else { (orig, new.clone()) };
            Chunk {
                context: None,
                old_lines: std::iter::once(ctx.clone()).chain(from).collect(),
                kept: std::iter::once(Some(0)).chain(to.iter().map(|_| None)).collect(),
                new_lines: std::iter::once(ctx).chain(to).collect(),
                end_of_file: false,
            }
        })
        .collect()
}

/// The same chunks written out as patch text and parsed back.
fn through_text(chunks: Vec<Chunk>) -> Vec<Chunk> {
    let mut p = String::from("*** Begin Patch\n*** Update File: f.txt\n");
    for c in &chunks {
        p.push_str("@@\n");
        p.push_str(&format!(" {}\n", c.old_lines[0]));
        for l in &c.old_lines[1..] {
            p.push_str(&format!("-{l}\n"));
        }
        for l in &c.new_lines[1..] {
            p.push_str(&format!("+{l}\n"));
        }
    }
    p.push_str("*** End Patch\n");
    match parse(&p).unwrap().remove(0) {
        Hunk::Update { chunks, .. } => chunks,
        other => panic!("{other:?}"),
    }
}

proptest! {
    #[test]
    fn patch_then_inverse_is_identity(c in case()) {
        let original = text(&c.lines, c.crlf, c.final_newline);
        let forward = through_text(chunks(&c.lines, &c.edits, false));
        let patched = apply_chunks(&original, &forward, "f.txt").unwrap();
        let backward = through_text(chunks(&c.lines, &c.edits, true));
        let restored = apply_chunks(&patched, &backward, "f.txt").unwrap();
        prop_assert_eq!(restored.as_bytes(), original.as_bytes());
        if c.crlf {
            prop_assert!(!patched.replace("\r\n", "").contains('\n'), "a new line lost CRLF: {:?}", patched);
        }
        prop_assert_eq!(patched.ends_with('\n'), c.final_newline);
    }
}
