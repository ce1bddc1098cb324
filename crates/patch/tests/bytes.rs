//! Property: for random files (mixed line endings, odd whitespace, Unicode
//! punctuation, with or without a final newline) and random patches whose
//! context and removed lines are spelled loosely (trimmed, ASCII
//! punctuation), every byte outside the changed lines is the file's own.
#![allow(clippy::disallowed_methods, clippy::unwrap_used, clippy::expect_used)]

use proptest::prelude::*;
use tern_patch::{Hunk, apply_chunks, parse};

/// One line of the file: its text and its terminator.
#[derive(Debug, Clone)]
struct Line {
    text: String,
    eol: &'static str,
}

#[derive(Debug, Clone)]
struct Case {
    lines: Vec<Line>,
    /// (start, len, replacement): in order, at least 2 lines apart, never
    /// touching the first or the last line.
    edits: Vec<(usize, usize, Vec<String>)>,
}

const EOLS: [&str; 2] = ["\n", "\r\n"];
const LEADS: [&str; 4] = ["", "    ", "\t", "  \t"];
const TAILS: [&str; 4] = ["", "  ", "\t", " \u{a0}"];
const PUNCT: [&str; 5] = ["-", "\u{2014}", "\u{2013}", "\u{201c}q\u{201d}", "\u{2018}s\u{2019}"];

fn line(i: usize, (lead, tail, punct, eol): (usize, usize, usize, usize)) -> Line {
    Line { text: format!("{}item {i} {} end{}", LEADS[lead], PUNCT[punct], TAILS[tail]), eol: EOLS[eol] }
}

/// How a careless model spells a line: trimmed, with ASCII punctuation.
fn loose(text: &str) -> String {
    text.trim()
        .replace(['\u{2014}', '\u{2013}'], "-")
        .replace(['\u{201c}', '\u{201d}'], "\"")
        .replace(['\u{2018}', '\u{2019}'], "'")
}

fn case() -> impl Strategy<Value = Case> {
    let style = (0usize..4, 0usize..4, 0usize..5, 0usize..2);
    (
        proptest::collection::vec(style, 4..50),
        any::<bool>(),
        proptest::collection::vec((0usize..4, 1usize..4, 0usize..4), 1..6),
    )
        .prop_map(|(styles, final_newline, raw)| {
            let n = styles.len();
            let mut lines: Vec<Line> = styles.into_iter().enumerate().map(|(i, s)| line(i, s)).collect();
            if !final_newline {
                lines[n - 1].eol = "";
            }
            let mut edits = Vec::new();
            let mut at = 0;
            for (k, (gap, len, count)) in raw.into_iter().enumerate() {
                let start = at + gap + 1;
                if start + len + 1 >= n {
                    break;
                }
                let new = (0..count).map(|j| format!("new {k}.{j}")).collect();
                edits.push((start, len, new));
                at = start + len + 1;
            }
            Case { lines, edits }
        })
        .prop_filter("a patch needs at least one change", |c| !c.edits.is_empty())
}

/// The patch: per edit, the line before and after as loose context and
/// the removed lines spelled loosely too.
fn patch(c: &Case) -> String {
    let mut p = String::from("*** Begin Patch\n*** Update File: f.txt\n");
    for (start, len, new) in &c.edits {
        p.push_str("@@\n");
        p.push_str(&format!(" {}\n", loose(&c.lines[start - 1].text)));
        for l in &c.lines[*start..start + len] {
            p.push_str(&format!("-{}\n", loose(&l.text)));
        }
        for l in new {
            p.push_str(&format!("+{l}\n"));
        }
        p.push_str(&format!(" {}\n", loose(&c.lines[start + len].text)));
    }
    p.push_str("*** End Patch\n");
    p
}

/// What applying must give: the file's lines byte for byte, and the new
/// lines with the file's usual ending.
fn expected(c: &Case) -> String {
    let crlf = c.lines.iter().filter(|l| l.eol == "\r\n").count();
    let lf = c.lines.iter().filter(|l| l.eol == "\n").count();
    let eol = if crlf > lf { "\r\n" } else { "\n" };
    let mut out = String::new();
    let mut next = 0;
    for (start, len, new) in &c.edits {
        for l in &c.lines[next..*start] {
            out.push_str(&l.text);
            out.push_str(l.eol);
        }
        for l in new {
            out.push_str(l);
            out.push_str(eol);
        }
        next = start + len;
    }
    for l in &c.lines[next..] {
        out.push_str(&l.text);
        out.push_str(l.eol);
    }
    out
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]
    #[test]
    fn bytes_outside_the_changed_lines_are_the_files(c in case()) {
        let original: String = c.lines.iter().flat_map(|l| [l.text.as_str(), l.eol]).collect();
        let chunks = match parse(&patch(&c)).unwrap().remove(0) {
            Hunk::Update { chunks, .. } => chunks,
            other => panic!("{other:?}"),
        };
        let patched = apply_chunks(&original, &chunks, "f.txt").unwrap();
        prop_assert_eq!(patched, expected(&c));
    }
}
