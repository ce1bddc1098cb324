//! The conversation as the user sees it: a bounded list of cells, each
//! laid out at most once per width and change. Drawing walks from the
//! newest cell up and stops when the screen is full, so only what is
//! visible is laid out, however long the session.

use crate::cells::layout;
use crate::highlight::Highlights;
use ratatui::style::{Color, Style};
use ratatui::text::Line;
use std::collections::VecDeque;
use std::time::{Duration, Instant};
use tern_protocol::{Event, FileChange, McpServerState, PlanStatus, ToolCallEnd};

/// Cells kept in memory; older ones are dropped (the session log on disk
/// has them all).
pub const MAX_CELLS: usize = 2000;

/// Records of a resumed session's log played back: enough for
/// [`MAX_CELLS`] cells (a tool call takes three records: the response that
/// asked for it, its end and its result), so resuming costs the same
/// however long the session.
pub const REPLAY_RECORDS: usize = 4 * MAX_CELLS;
/// Output kept per tool call: its last bytes.
pub(crate) const MAX_OUTPUT: usize = 64 * 1024;

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
    /// None when not known.
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
    /// Shows what a core event says about the conversation (a live one, or
    /// one replayed from a session log): messages, tool calls, diffs,
    /// plans, warnings, how a turn failed. Session state is the app's.
    pub fn apply(&mut self, ev: Event) {
        match ev {
            Event::UserMessage { text, .. } => self.push(Kind::User(text)),
            Event::AgentMessageDelta { delta, .. } => self.stream(&delta, false),
            Event::AgentMessage { text, .. } => self.finish_message(&text, false),
            Event::ReasoningDelta { delta, .. } => self.stream(&delta, true),
            Event::Reasoning { text, .. } => self.finish_message(&text, true),
            Event::ToolCallBegin(b) => {
                let title = b.command.clone().unwrap_or_else(|| crate::app::summarize_args(&b.arguments));
                // An MCP tool by its server and own name, not the model's alias.
                let name = b.mcp.as_ref().map_or_else(|| b.tool.clone(), |m| format!("{} · {}", m.server, m.tool));
                self.push(Kind::Tool(Tool::new(&b.item_id, &b.call_id, &name, title)));
            }
            Event::ToolCallOutputDelta { item_id, delta } => {
                if let Some(t) = self.tool_mut(&item_id) {
                    t.append(&delta);
                }
            }
            Event::ToolCallEnd(e) => {
                if let Some(t) = self.tool_mut(&e.item_id) {
                    t.end(&e);
                }
            }
            Event::FilesChanged { changes, .. } => self.push(Kind::Diff(changes)),
            Event::SessionDiff { changes } if changes.is_empty() => {
                self.push(Kind::Info("this session changed no files".into()));
            }
            Event::SessionDiff { changes } => self.push(Kind::Diff(changes)),
            Event::UndoCompleted { restored } => {
                let text = if restored.is_empty() {
                    "nothing to undo".to_string()
                } else {
                    format!("restored {}", restored.join(", "))
                };
                self.push(Kind::Info(text));
            }
            Event::PlanUpdated { explanation, plan, .. } => {
                let mut text = explanation.map(|e| format!("{e}\n")).unwrap_or_default();
                for item in plan {
                    let mark = match item.status {
                        PlanStatus::Completed => "✔",
                        PlanStatus::InProgress => "▸",
                        PlanStatus::Pending => "□",
                    };
                    text.push_str(&format!("{mark} {}\n", item.step));
                }
                self.push(Kind::Info(format!("plan\n{}", text.trim_end())));
            }
            Event::Warning { message } => self.push(Kind::Warning(message)),
            Event::Retrying { attempt, max_attempts, delay_ms, reason } => self.push(Kind::Warning(format!(
                "{reason}; retrying ({attempt}/{max_attempts}) in {:.1}s",
                delay_ms as f64 / 1000.0
            ))),
            Event::TurnFailed { error, .. } => {
                self.stop_running();
                self.push(Kind::Error(error));
            }
            Event::TurnAborted { reason, .. } => {
                self.stop_running();
                self.push(Kind::Info(format!("turn {reason}")));
            }
            Event::TurnCompleted(_) => self.stop_running(),
            Event::McpServerUpdate(s) => {
                if let McpServerState::Failed { error } = &s.state {
                    self.push(Kind::Warning(format!("MCP server {}: {error}", s.name)));
                }
            }
            Event::McpServers { servers } => self.push(Kind::Info(crate::status::mcp_text(&servers))),
            Event::Compacted(c) => self.push(Kind::Info(format!("── {}", c.describe()))),
            Event::Hook(run) if run.is_warning() => self.push(Kind::Warning(run.describe())),
            Event::Hook(run) => self.push(Kind::Info(run.describe())),
            Event::SessionConfigured(_)
            | Event::TurnStarted { .. }
            | Event::ApprovalRequest(_)
            | Event::McpStartupComplete { .. }
            | Event::ContextUpdated(_)
            | Event::CompactionStarted { .. }
            | Event::ShutdownComplete => {}
        }
    }

    /// The newest [`MAX_CELLS`] cells a replayed session's events make,
    /// after a note when the replay left out its start.
    pub fn replayed(replayed: tern_core::Replayed) -> Vec<Kind> {
        let mut t = Transcript::default();
        if replayed.earlier {
            t.push(Kind::Info("… the session's earlier conversation is in its log".into()));
        }
        for ev in replayed.events {
            t.apply(ev);
        }
        t.cells.into_iter().map(|c| c.kind).collect()
    }

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

    /// Records how the call ended. Commands show what they printed (when
    /// it did not stream); other tools show why they failed.
    pub fn end(&mut self, e: &ToolCallEnd) {
        if self.output.is_empty() {
            match (&e.command, &e.error) {
                (Some(c), _) => self.append(&c.output),
                (None, Some(error)) => self.append(error),
                (None, None) => {}
            }
        }
        // A command kept running (to be continued with write_stdin) started
        // as asked: the call went well, though it has no exit code yet.
        let running = e.command.as_ref().is_some_and(|c| c.session_id.is_some() && c.exit_code.is_none());
        self.ended = Some(End {
            success: e.success || running,
            duration: Some(Duration::from_millis(e.duration_ms)),
            exit_code: e.command.as_ref().and_then(|c| c.exit_code),
        });
    }

    /// Appends output, keeping only the last [`MAX_OUTPUT`] bytes.
    pub fn append(&mut self, delta: &str) {
        self.output.push_str(delta);
        if self.output.len() > MAX_OUTPUT {
            // Down to three quarters, so a flood of small deltas moves the
            // buffer once per 16 KB rather than once per delta.
            let mut cut = self.output.len() - MAX_OUTPUT * 3 / 4;
            while !self.output.is_char_boundary(cut) {
                cut += 1;
            }
            self.dropped += cut;
            self.output.drain(..cut);
        }
    }
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

    /// A replayed session (the core's events from its log) shows as the
    /// conversation did live.
    #[test]
    fn a_replayed_conversation_becomes_cells() {
        use tern_protocol::{CommandOutcome, ToolCallBegin, ToolKind};
        let begin = |item: &str, call: &str, tool: &str, args: &str, command: Option<&str>| {
            Event::ToolCallBegin(ToolCallBegin {
                item_id: item.into(),
                call_id: call.into(),
                tool: tool.into(),
                kind: ToolKind::Other,
                arguments: args.into(),
                command: command.map(String::from),
                cwd: None,
                mcp: None,
            })
        };
        let events = vec![
            Event::UserMessage { item_id: "u".into(), text: "list files".into() },
            Event::AgentMessage { item_id: "m".into(), text: "Looking.".into() },
            begin("r1", "c1", "exec_command", r#"{"cmd":"ls"}"#, Some("ls")),
            begin("r2", "c2", "read_file", r#"{"path":"missing.rs"}"#, None),
            Event::ToolCallEnd(ToolCallEnd {
                item_id: "r1".into(),
                call_id: "c1".into(),
                tool: "exec_command".into(),
                kind: ToolKind::Execute,
                output: "Exit code: 2\n…".into(),
                success: false,
                duration_ms: 250,
                error: None,
                command: Some(CommandOutcome {
                    exit_code: Some(2),
                    output: "ls: cannot access\n".into(),
                    ..Default::default()
                }),
                mcp: None,
            }),
            Event::ToolCallEnd(ToolCallEnd {
                item_id: "r2".into(),
                call_id: "c2".into(),
                tool: "read_file".into(),
                kind: ToolKind::Read,
                output: "error: no such file".into(),
                success: false,
                duration_ms: 1,
                error: Some("no such file".into()),
                command: None,
                mcp: None,
            }),
            Event::AgentMessage { item_id: "m2".into(), text: "Done.".into() },
        ];
        let cells = Transcript::replayed(tern_core::Replayed { events, earlier: false });
        assert_eq!(cells.len(), 5, "{cells:?}");
        assert!(matches!(&cells[0], Kind::User(t) if t == "list files"));
        assert!(matches!(&cells[1], Kind::Assistant { text } if text == "Looking."));
        let Kind::Tool(ls) = &cells[2] else { panic!("{:?}", cells[2]) };
        assert_eq!((ls.title.as_str(), ls.output.as_str()), ("ls", "ls: cannot access\n"));
        let end = ls.ended.as_ref().unwrap();
        assert_eq!((end.success, end.exit_code, end.duration), (false, Some(2), Some(Duration::from_millis(250))));
        let Kind::Tool(read) = &cells[3] else { panic!("{:?}", cells[3]) };
        assert_eq!(read.title, "missing.rs");
        assert!(!read.ended.as_ref().unwrap().success && read.output.contains("no such file"));
        assert!(matches!(&cells[4], Kind::Assistant { text } if text == "Done."));
    }
}
