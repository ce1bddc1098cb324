//! Code-block highlighting, kept off the render path. Layout asks the
//! cache; a miss is drawn plain and queued; the run loop highlights the
//! queue on a blocking thread ([`run`]), stores the result, and the cells
//! are laid out again. Only closed blocks are asked for, so a block still
//! streaming is not highlighted over and over.

use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use std::collections::{HashMap, HashSet, VecDeque};
use std::hash::{DefaultHasher, Hash, Hasher};
use std::sync::Arc;

/// Blocks longer than this stay plain.
const MAX_BLOCK: usize = 64 * 1024;
/// Source bytes whose highlighting is kept; the oldest go first.
const MAX_CACHED: usize = 2 * 1024 * 1024;

/// Highlighted lines of one block.
pub type Highlighted = Arc<[Line<'static>]>;

/// A block to highlight.
#[derive(Debug)]
pub struct Job {
    key: u64,
    lang: String,
    code: String,
    truecolor: bool,
}

/// The result of a [`Job`]: None when the language has no grammar.
#[derive(Debug)]
pub struct Done {
    key: u64,
    bytes: usize,
    lines: Option<Highlighted>,
}

/// The cache and the queue.
#[derive(Debug)]
pub struct Highlights {
    done: HashMap<u64, Option<Highlighted>>,
    /// Keys in insertion order with their source sizes, for eviction.
    order: VecDeque<(u64, usize)>,
    cached: usize,
    queued: Vec<Job>,
    pending: HashSet<u64>,
    truecolor: bool,
}

impl Default for Highlights {
    fn default() -> Self {
        let truecolor = std::env::var("COLORTERM").is_ok_and(|v| v.contains("truecolor") || v.contains("24bit"));
        Highlights {
            done: HashMap::new(),
            order: VecDeque::new(),
            cached: 0,
            queued: Vec::new(),
            pending: HashSet::new(),
            truecolor,
        }
    }
}

impl Highlights {
    /// The highlighted lines of a closed block if they are ready; otherwise
    /// None (draw it plain), and the block is queued once.
    pub fn get(&mut self, lang: &str, code: &str) -> Option<Highlighted> {
        if lang.is_empty() || code.len() > MAX_BLOCK {
            return None;
        }
        let key = key(lang, code);
        if let Some(lines) = self.done.get(&key) {
            return lines.clone();
        }
        if self.pending.insert(key) {
            self.queued.push(Job { key, lang: lang.to_string(), code: code.to_string(), truecolor: self.truecolor });
        }
        None
    }

    /// The blocks waiting to be highlighted.
    pub fn take_queued(&mut self) -> Vec<Job> {
        std::mem::take(&mut self.queued)
    }

    /// Stores finished blocks; true when any has colour (cells need laying
    /// out again).
    pub fn store(&mut self, done: Vec<Done>) -> bool {
        let mut any = false;
        for d in done {
            self.pending.remove(&d.key);
            any |= d.lines.is_some();
            if self.done.insert(d.key, d.lines).is_none() {
                self.order.push_back((d.key, d.bytes));
                self.cached += d.bytes;
            }
        }
        while self.cached > MAX_CACHED {
            let Some((k, bytes)) = self.order.pop_front() else { break };
            self.done.remove(&k);
            self.cached -= bytes;
        }
        any
    }
}

fn key(lang: &str, code: &str) -> u64 {
    let mut h = DefaultHasher::new();
    (lang, code).hash(&mut h);
    h.finish()
}

/// Highlights `jobs` (blocking: grammars load on first use).
pub fn run(jobs: Vec<Job>) -> Vec<Done> {
    jobs.into_iter()
        .map(|j| {
            let lines = tern_highlight::highlight(&j.lang, &j.code).map(|lines| {
                lines
                    .into_iter()
                    .map(|tokens| Line::from(tokens.into_iter().map(|t| span(t, j.truecolor)).collect::<Vec<_>>()))
                    .collect::<Vec<_>>()
                    .into()
            });
            Done { key: j.key, bytes: j.code.len(), lines }
        })
        .collect()
}

fn span(t: tern_highlight::Token, truecolor: bool) -> Span<'static> {
    let [r, g, b] = t.rgb;
    let fg = if truecolor { Color::Rgb(r, g, b) } else { Color::Indexed(tern_highlight::xterm256(t.rgb)) };
    let mut style = Style::default().fg(fg);
    if t.bold {
        style = style.add_modifier(Modifier::BOLD);
    }
    if t.italic {
        style = style.add_modifier(Modifier::ITALIC);
    }
    if t.underline {
        style = style.add_modifier(Modifier::UNDERLINED);
    }
    Span::styled(t.text, style)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_block_is_queued_once_then_served_from_the_cache() {
        let mut h = Highlights::default();
        assert!(h.get("rust", "fn main() {}").is_none());
        assert!(h.get("rust", "fn main() {}").is_none());
        let jobs = h.take_queued();
        assert_eq!(jobs.len(), 1);
        assert!(h.store(run(jobs)));
        let lines = h.get("rust", "fn main() {}").unwrap();
        assert_eq!(lines.len(), 1);
        assert!(lines[0].spans.len() > 1, "{lines:?}");
        assert!(h.take_queued().is_empty());
        // No grammar: remembered as plain, not asked again.
        assert!(h.get("no-such-lang", "x").is_none());
        let jobs = h.take_queued();
        assert!(!h.store(run(jobs)));
        assert!(h.get("no-such-lang", "x").is_none());
        assert!(h.take_queued().is_empty());
    }

    #[test]
    fn the_cache_is_bounded() {
        let mut h = Highlights::default();
        let block = "x".repeat(MAX_BLOCK);
        for i in 0..(MAX_CACHED / MAX_BLOCK + 8) {
            h.get("no-such-lang", &format!("{i}{block}")[..MAX_BLOCK]);
        }
        let jobs = h.take_queued();
        h.store(run(jobs));
        assert!(h.cached <= MAX_CACHED);
        assert_eq!(h.done.len(), h.order.len());
    }
}
