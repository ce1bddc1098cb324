//! The conversation as the user sees it: a bounded list of cells, each
//! laid out at most once per width and change. Drawing walks from the
//! newest cell up and stops when the screen is full, so only what is
//! visible is laid out, however long the session.

use crate::highlight::Highlights;
use crate::markdown;
use crate::text::{ansi_lines, display, wrap};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use std::collections::VecDeque;
use std::time::{Duration, Instant};
use tern_protocol::{FileChange, FileChangeKind};

/// Cells kept in memory; older ones are dropped (the session log on disk
/// has them all).
pub const MAX_CELLS: usize = 2000;
/// Output kept per tool call: its last bytes.
const MAX_OUTPUT: usize = 64 * 1024;
/// Lines of output shown while folded.
const FOLDED_LINES: usize = 5;

/// What a cell shows.
#[derive(Debug, Clone)]
pub enum Kind {
    User(String),
    Assistant { text: String },
    Reasoning { text: String },
    Tool(Tool),
    Diff(Vec<FileChange>),
    Info(String),
    Warning(String),
    Error(String),
}

/// A tool call, running or finished.
#[derive(Debug, Clone)]
pub struct Tool {
    pub call_id: String,
    pub item_id: String,
    pub tool: String,
    /// The command line, or a summary of the arguments.
    pub title: String,
    pub output: String,
    /// Bytes dropped from the front of `output`.
    pub dropped: usize,
    pub started: Instant,
    /// None while it runs.
    pub ended: Option<End>,
}

/// How a tool call ended.
#[derive(Debug, Clone)]
pub struct End {
    pub success: bool,
    /// None for calls replayed from a session log, which keeps no timings.
    pub duration: Option<Duration>,
    pub exit_code: Option<i32>,
}

/// A cell and its layout cache.
#[derive(Debug)]
pub struct Cell {
    pub kind: Kind,
    cache: Option<(usize, bool, Vec<Line<'static>>)>,
}

impl Cell {
    fn new(kind: Kind) -> Self {
        Cell { kind, cache: None }
    }

    /// The cell's lines at `width`, laid out again only after a change.
    pub fn lines(&mut self, width: usize, expanded: bool, hl: &mut Highlights) -> &[Line<'static>] {
        let fresh = matches!(&self.cache, Some((w, e, _)) if *w == width && *e == expanded);
        if !fresh {
            self.cache = Some((width, expanded, layout(&self.kind, width, expanded, hl)));
        }
        self.cache.as_ref().map_or(&[], |(_, _, l)| l.as_slice())
    }

    fn changed(&mut self) {
        self.cache = None;
    }
}

/// The list of cells.
#[derive(Debug, Default)]
pub struct Transcript {
    cells: VecDeque<Cell>,
    /// Cells dropped from the front to stay within [`MAX_CELLS`].
    pub dropped: usize,
    /// Whether folded tool output is shown whole.
    pub expanded: bool,
    /// Colours of code blocks in assistant messages.
    pub highlights: Highlights,
}

impl Transcript {
    /// Adds a cell at the end.
    pub fn push(&mut self, kind: Kind) {
        if self.cells.len() >= MAX_CELLS {
            self.cells.pop_front();
            self.dropped += 1;
        }
        self.cells.push_back(Cell::new(kind));
    }

    pub fn len(&self) -> usize {
        self.cells.len()
    }

    pub fn is_empty(&self) -> bool {
        self.cells.is_empty()
    }

    /// Appends streamed text to the open assistant (or reasoning) cell,
    /// opening one if the last cell is something else.
    pub fn stream(&mut self, delta: &str, reasoning: bool) {
        let open = match self.cells.back_mut().map(|c| &mut c.kind) {
            Some(Kind::Assistant { text }) if !reasoning => Some(text),
            Some(Kind::Reasoning { text }) if reasoning => Some(text),
            _ => None,
        };
        match open {
            Some(text) => text.push_str(delta),
            None if reasoning => self.push(Kind::Reasoning { text: delta.to_string() }),
            None => self.push(Kind::Assistant { text: delta.to_string() }),
        }
        if let Some(c) = self.cells.back_mut() {
            c.changed();
        }
    }

    /// Replaces the streamed text of the last assistant or reasoning cell
    /// with the final text (or adds it if nothing streamed).
    pub fn finish_message(&mut self, full: &str, reasoning: bool) {
        let last = self.cells.back_mut().map(|c| &mut c.kind);
        match last {
            Some(Kind::Assistant { text }) if !reasoning => *text = full.to_string(),
            Some(Kind::Reasoning { text }) if reasoning => *text = full.to_string(),
            _ if full.trim().is_empty() => return,
            _ if reasoning => self.push(Kind::Reasoning { text: full.to_string() }),
            _ => self.push(Kind::Assistant { text: full.to_string() }),
        }
        if let Some(c) = self.cells.back_mut() {
            c.changed();
        }
    }

    /// The running or finished tool cell for `item_id`, searched from the end.
    pub fn tool_mut(&mut self, item_id: &str) -> Option<&mut Tool> {
        let cell =
            self.cells.iter_mut().rev().take(64).find(|c| matches!(&c.kind, Kind::Tool(t) if t.item_id == item_id))?;
        cell.changed();
        match &mut cell.kind {
            Kind::Tool(t) => Some(t),
            _ => None,
        }
    }

    /// Ends every tool still shown as running (the turn was interrupted).
    pub fn stop_running(&mut self) {
        for c in self.cells.iter_mut().rev().take(64) {
            if let Kind::Tool(t) = &mut c.kind
                && t.ended.is_none()
            {
                t.ended = Some(End { success: false, duration: Some(t.started.elapsed()), exit_code: None });
                c.cache = None;
            }
        }
    }

    /// Whether any tool call is still running (its cell shows a timer).
    pub fn running_tools(&self) -> bool {
        self.cells.iter().rev().take(64).any(|c| matches!(&c.kind, Kind::Tool(t) if t.ended.is_none()))
    }

    /// Lays out, from the newest cell up, enough lines to fill `height`
    /// rows after skipping `scroll` rows from the bottom. Returns the lines
    /// top to bottom and whether there is more above.
    pub fn visible(&mut self, width: usize, height: usize, scroll: usize) -> (Vec<Line<'static>>, bool) {
        let want = height + scroll;
        let mut rows: Vec<Line<'static>> = Vec::new();
        let mut more = false;
        let expanded = self.expanded;
        let mut first = true;
        for cell in self.cells.iter_mut().rev() {
            if rows.len() >= want {
                more = true;
                break;
            }
            if !first {
                rows.push(Line::default());
            }
            first = false;
            for l in cell.lines(width, expanded, &mut self.highlights).iter().rev() {
                rows.push(l.clone());
            }
        }
        if !more && self.dropped > 0 && rows.len() < want {
            rows.push(Line::default());
            rows.push(Line::styled(
                format!("… {} earlier items are in the session log", self.dropped),
                Style::default().fg(Color::DarkGray),
            ));
        }
        let skip = scroll.min(rows.len().saturating_sub(height.min(rows.len())));
        let end = (skip + height).min(rows.len());
        let mut out: Vec<Line<'static>> = rows[skip..end].to_vec();
        out.reverse();
        more |= end < rows.len();
        (out, more)
    }

    /// Forgets layouts (after a resize every width changes anyway).
    pub fn clear_layouts(&mut self) {
        for c in &mut self.cells {
            c.cache = None;
        }
    }

    /// A position to [`Transcript::insert`] at later, however many cells
    /// are added or dropped meanwhile.
    pub fn mark(&self) -> usize {
        self.dropped + self.cells.len()
    }

    /// Inserts cells at a [`Transcript::mark`], keeping the newest
    /// [`MAX_CELLS`].
    pub fn insert(&mut self, mark: usize, kinds: Vec<Kind>) {
        let at = mark.saturating_sub(self.dropped).min(self.cells.len());
        let tail = self.cells.split_off(at);
        self.cells.extend(kinds.into_iter().map(Cell::new));
        self.cells.extend(tail);
        while self.cells.len() > MAX_CELLS {
            self.cells.pop_front();
            self.dropped += 1;
        }
    }

    /// Stores highlighted code blocks and lays out again the messages that
    /// may show them.
    pub fn highlighted(&mut self, done: Vec<crate::highlight::Done>) {
        if self.highlights.store(done) {
            for c in &mut self.cells {
                if matches!(c.kind, Kind::Assistant { .. }) {
                    c.cache = None;
                }
            }
        }
    }

    /// Marks tool cells as needing a new layout (their timers moved).
    pub fn refresh_running(&mut self) {
        for c in self.cells.iter_mut().rev().take(64) {
            if matches!(&c.kind, Kind::Tool(t) if t.ended.is_none()) {
                c.cache = None;
            }
        }
    }
}

impl Tool {
    /// A new running call.
    pub fn new(item_id: &str, call_id: &str, tool: &str, title: String) -> Self {
        Tool {
            call_id: call_id.into(),
            item_id: item_id.into(),
            tool: tool.into(),
            title,
            output: String::new(),
            dropped: 0,
            started: Instant::now(),
            ended: None,
        }
    }

    /// Appends output, keeping only the last [`MAX_OUTPUT`] bytes.
    pub fn append(&mut self, delta: &str) {
        self.output.push_str(delta);
        if self.output.len() > MAX_OUTPUT {
            let mut cut = self.output.len() - MAX_OUTPUT;
            while !self.output.is_char_boundary(cut) {
                cut += 1;
            }
            self.dropped += cut;
            self.output.drain(..cut);
        }
    }
}

fn layout(kind: &Kind, width: usize, expanded: bool, hl: &mut Highlights) -> Vec<Line<'static>> {
    let dim = Style::default().fg(Color::DarkGray);
    match kind {
        Kind::User(text) => {
            let mut out = Vec::new();
            for (i, l) in display(text).split('\n').enumerate() {
                let lead = if i == 0 { "› " } else { "  " };
                let line = Line::from(vec![
                    Span::styled(lead, Style::default().fg(Color::Cyan).add_modifier(Modifier::BOLD)),
                    Span::raw(l.to_string()),
                ]);
                out.extend(wrap(&line, width, "  "));
            }
            out
        }
        Kind::Assistant { text } => {
            let body = markdown::render(text, width.saturating_sub(2), hl);
            body.into_iter()
                .enumerate()
                .map(|(i, mut l)| {
                    let lead = if i == 0 {
                        Span::styled("• ", Style::default().fg(Color::Magenta))
                    } else {
                        Span::raw("  ")
                    };
                    l.spans.insert(0, lead);
                    l
                })
                .collect()
        }
        Kind::Reasoning { text } => {
            let clean = display(text);
            let mut out = vec![Line::styled("thinking", dim.add_modifier(Modifier::ITALIC))];
            let lines: Vec<&str> = clean.lines().filter(|l| !l.trim().is_empty()).collect();
            if expanded {
                for l in lines {
                    out.extend(wrap(&Line::styled(format!("  {l}"), dim.add_modifier(Modifier::ITALIC)), width, "  "));
                }
            } else if let Some(last) = lines.last() {
                let summary = format!("  {} (ctrl+o to expand)", last.trim());
                out.extend(
                    wrap(&Line::styled(summary, dim.add_modifier(Modifier::ITALIC)), width, "  ").into_iter().take(2),
                );
            }
            out
        }
        Kind::Tool(t) => tool_lines(t, width, expanded),
        Kind::Diff(changes) => diff_lines(changes, width, expanded),
        Kind::Info(text) => wrap_plain(text, width, dim),
        Kind::Warning(text) => wrap_plain(&format!("⚠ {text}"), width, Style::default().fg(Color::Yellow)),
        Kind::Error(text) => wrap_plain(&format!("✗ {text}"), width, Style::default().fg(Color::Red)),
    }
}

fn wrap_plain(text: &str, width: usize, style: Style) -> Vec<Line<'static>> {
    display(text).split('\n').flat_map(|l| wrap(&Line::styled(l.to_string(), style), width, "  ")).collect()
}

fn tool_lines(t: &Tool, width: usize, expanded: bool) -> Vec<Line<'static>> {
    let dim = Style::default().fg(Color::DarkGray);
    let (mark, mark_style, status) = match &t.ended {
        None => ("◌", Style::default().fg(Color::Yellow), format!(" ({})", seconds(t.started.elapsed()))),
        Some(e) => {
            let mut parts: Vec<String> = e.duration.map(seconds).into_iter().collect();
            if let Some(c) = e.exit_code.filter(|c| *c != 0) {
                parts.push(format!("exit {c}"));
            }
            let mark = if e.success { "✓" } else { "✗" };
            let color = if e.success { Color::Green } else { Color::Red };
            let status = if parts.is_empty() { String::new() } else { format!(" ({})", parts.join(", ")) };
            (mark, Style::default().fg(color), status)
        }
    };
    let head = Line::from(vec![
        Span::styled(format!("{mark} "), mark_style),
        Span::styled(format!("{} ", t.tool), Style::default().add_modifier(Modifier::BOLD)),
        Span::raw(display(&t.title).replace('\n', " ")),
        Span::styled(status, dim),
    ]);
    let mut out = wrap(&head, width, "    ");
    let lines = ansi_lines(&t.output, Style::default());
    let total = lines.len();
    let shown: Vec<Line<'static>> = if expanded || total <= FOLDED_LINES + 1 {
        lines
    } else {
        lines.into_iter().skip(total - FOLDED_LINES).collect()
    };
    if t.dropped > 0 && expanded {
        out.push(Line::styled(format!("  … {} earlier bytes not kept", t.dropped), dim));
    }
    if shown.len() < total {
        out.push(Line::styled(format!("  … {} more lines (ctrl+o to expand)", total - shown.len()), dim));
    }
    for mut l in shown {
        l.spans.insert(0, Span::styled("  │ ", dim));
        out.extend(wrap(&l, width, "  │ "));
    }
    out
}

fn diff_lines(changes: &[FileChange], width: usize, expanded: bool) -> Vec<Line<'static>> {
    let mut out = Vec::new();
    for c in changes {
        let (verb, color) = match c.kind {
            FileChangeKind::Add => ("added", Color::Green),
            FileChangeKind::Delete => ("deleted", Color::Red),
            FileChangeKind::Update => ("edited", Color::Yellow),
        };
        let (plus, minus) = c.diff.lines().fold((0, 0), |(p, m), l| match l.as_bytes().first() {
            Some(b'+') if !l.starts_with("+++") => (p + 1, m),
            Some(b'-') if !l.starts_with("---") => (p, m + 1),
            _ => (p, m),
        });
        let path = match &c.move_path {
            Some(to) => format!("{} → {}", c.path, to),
            None => c.path.clone(),
        };
        out.push(Line::from(vec![
            Span::styled(format!("✎ {verb} "), Style::default().fg(color)),
            Span::styled(display(&path), Style::default().add_modifier(Modifier::BOLD)),
            Span::styled(format!(" +{plus} -{minus}"), Style::default().fg(Color::DarkGray)),
        ]));
        let body: Vec<&str> = c.diff.lines().filter(|l| !l.starts_with("---") && !l.starts_with("+++")).collect();
        let limit = if expanded { body.len() } else { 40 };
        for l in body.iter().take(limit) {
            let style = match l.as_bytes().first() {
                Some(b'+') => Style::default().fg(Color::Green),
                Some(b'-') => Style::default().fg(Color::Red),
                Some(b'@') => Style::default().fg(Color::Cyan),
                _ => Style::default(),
            };
            out.extend(wrap(&Line::styled(format!("  {}", display(l)), style), width, "  "));
        }
        if body.len() > limit {
            out.push(Line::styled(
                format!("  … {} more diff lines (ctrl+o to expand)", body.len() - limit),
                Style::default().fg(Color::DarkGray),
            ));
        }
    }
    out
}

/// `3.2s`, `1m05s`.
pub fn seconds(d: Duration) -> String {
    let s = d.as_secs_f64();
    if s < 60.0 { format!("{s:.1}s") } else { format!("{}m{:02}s", d.as_secs() / 60, d.as_secs() % 60) }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(lines: &[Line]) -> Vec<String> {
        lines.iter().map(|l| l.spans.iter().map(|s| s.content.as_ref()).collect()).collect()
    }

    #[test]
    fn bounded_however_long_the_session() {
        let mut t = Transcript::default();
        for i in 0..MAX_CELLS + 500 {
            t.push(Kind::Info(format!("item {i}")));
        }
        assert_eq!(t.len(), MAX_CELLS);
        assert_eq!(t.dropped, 500);
        let (lines, more) = t.visible(40, 3, 0);
        assert_eq!(
            text(&lines),
            [format!("item {}", MAX_CELLS + 498), String::new(), format!("item {}", MAX_CELLS + 499)]
        );
        assert!(more);
    }

    #[test]
    fn scrolling_reveals_older_lines_and_stops_at_the_top() {
        let mut t = Transcript::default();
        for i in 0..5 {
            t.push(Kind::Info(format!("item {i}")));
        }
        let (lines, _) = t.visible(40, 2, 2);
        assert_eq!(text(&lines), ["", "item 3"]);
        let (lines, more) = t.visible(40, 3, 100);
        assert_eq!(text(&lines), ["item 0", "", "item 1"]);
        assert!(!more);
    }

    #[test]
    fn tool_output_is_folded_and_bounded() {
        let mut tool = Tool::new("i1", "c1", "exec_command", "cargo test".into());
        for i in 0..20 {
            tool.append(&format!("line {i}\n"));
        }
        let folded = text(&tool_lines(&tool, 60, false));
        assert!(folded[0].contains("exec_command cargo test"), "{folded:?}");
        assert!(folded[1].contains("15 more lines"), "{folded:?}");
        assert_eq!(folded.len(), 2 + FOLDED_LINES);
        assert_eq!(text(&tool_lines(&tool, 60, true)).len(), 21);
        tool.append(&"x".repeat(MAX_OUTPUT * 2));
        assert!(tool.output.len() <= MAX_OUTPUT && tool.dropped > MAX_OUTPUT);
    }

    #[test]
    fn streamed_text_goes_to_one_cell() {
        let mut t = Transcript::default();
        t.push(Kind::User("hi".into()));
        t.stream("Hel", false);
        t.stream("lo", false);
        t.finish_message("Hello!", false);
        assert_eq!(t.len(), 2);
        let (lines, _) = t.visible(40, 10, 0);
        assert_eq!(text(&lines), ["› hi", "", "• Hello!"]);
    }
}
