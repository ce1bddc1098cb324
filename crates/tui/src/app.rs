//! The UI's state and what input and core events do to it. Nothing here
//! draws or touches the session: keys turn into [`Action`]s that the event
//! loop carries out, and core events update the state.

use crate::composer::Composer;
use crate::files::{IndexState, Matches};
use crate::status::Status;
use crate::transcript::{Kind, Transcript};
use crossterm::event::{KeyCode, KeyEvent, KeyEventKind, KeyModifiers};
use std::collections::VecDeque;
use std::time::{Duration, Instant};
use tern_protocol::{ApprovalDecision, ApprovalPolicy, ApprovalRequest, ContextUsage, Event};

/// How long a first Ctrl+C on an idle, empty composer waits for the second.
const QUIT_WINDOW: Duration = Duration::from_secs(2);

/// The slash commands, with what they do.
pub const COMMANDS: &[(&str, &str)] = &[
    ("/help", "keys and commands"),
    ("/model", "switch model: a list of those usable now, or /model NAME (the conversation continues)"),
    ("/new", "start a new session"),
    ("/resume", "pick a past session of this directory"),
    ("/diff", "what this session changed, as a diff"),
    ("/undo", "restore the files the last turn changed"),
    ("/compact", "summarize the conversation to free context; /compact FOCUS says what to keep"),
    ("/fork", "a new session from this conversation, or from before one of your messages"),
    ("/approvals", "/approvals read-only | auto | full-auto | full-access"),
    ("/mcp", "MCP servers and their state; /mcp restart NAME"),
    ("/status", "model, context, tokens, cost, runtime lag"),
    ("/quit", "exit"),
];

/// Something only the event loop can do.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    /// Start a turn with this text.
    Send(String),
    Interrupt,
    Approve {
        id: String,
        decision: ApprovalDecision,
    },
    /// A slash command that needs the session: name and argument.
    Command(String, String),
    /// Resume this session (chosen in the picker).
    Resume(String),
    /// Start a new session from another's first `turns` turns (chosen in
    /// the picker), with `text` back in the composer.
    Fork {
        id: String,
        turns: Option<usize>,
        text: Option<String>,
    },
    /// Continue the conversation with this provider and model (chosen in the picker).
    SwitchModel {
        provider: String,
        model: String,
    },
    Suspend,
    Quit,
}

/// Completions offered under the composer.
#[derive(Debug, Clone, PartialEq)]
pub struct Popup {
    /// Where the completed token starts in the composer.
    pub start: usize,
    pub items: Vec<(String, String)>,
    pub selected: usize,
    /// A line under the items that cannot be chosen: the `@` index still
    /// being built, or full.
    pub note: Option<String>,
}

/// Everything the UI shows.
#[derive(Debug, Default)]
pub struct App {
    pub transcript: Transcript,
    pub composer: Composer,
    /// Follow-ups typed while a turn runs, sent in order when it ends.
    pub queued: VecDeque<String>,
    pub approvals: VecDeque<ApprovalRequest>,
    pub popup: Option<Popup>,
    pub picker: Option<crate::picker::Picker>,
    pub status: Status,
    /// Rows scrolled up from the bottom of the transcript (0: following).
    pub scroll: usize,
    pub running: bool,
    /// The session is starting (e.g. the local model is loading).
    pub starting: bool,
    pub focused: bool,
    pub notifications: bool,
    /// A hint shown in the status line until the next key.
    pub hint: Option<String>,
    quit_armed: Option<Instant>,
    /// The last `@` query sent to the file search.
    pub file_query: Option<String>,
}

impl App {
    /// A fresh UI for a session of `model`.
    pub fn new(context_window: u64, approval_policy: ApprovalPolicy, notifications: bool) -> Self {
        App {
            focused: true,
            notifications,
            starting: true,
            status: Status {
                context: ContextUsage { window: context_window, ..ContextUsage::default() },
                approval_policy: Some(approval_policy),
                ..Status::default()
            },
            ..App::default()
        }
    }

    /// Whether something is in progress that a timer should show.
    pub fn busy(&self) -> bool {
        self.running || self.starting || self.transcript.running_tools()
    }

    /// Handles a bracketed paste: inserted whole.
    pub fn paste(&mut self, text: &str) {
        self.composer.insert(text);
        self.refresh_popup(None);
    }

    /// Handles a key; returns what the loop must do, if anything.
    pub fn key(&mut self, key: KeyEvent) -> Option<Action> {
        if key.kind == KeyEventKind::Release {
            return None;
        }
        self.hint = None;
        let ctrl = key.modifiers.contains(KeyModifiers::CONTROL);
        if ctrl && key.code == KeyCode::Char('c') {
            return self.ctrl_c();
        }
        if ctrl && key.code == KeyCode::Char('z') {
            return Some(Action::Suspend);
        }
        if let Some(req) = self.approvals.front() {
            let decision = match key.code {
                KeyCode::Char('y' | '1') | KeyCode::Enter => Some(ApprovalDecision::Once),
                KeyCode::Char('s' | '2') => Some(ApprovalDecision::Session),
                KeyCode::Char('a' | '3') => Some(ApprovalDecision::Always),
                KeyCode::Char('n' | '4') | KeyCode::Esc => Some(ApprovalDecision::Deny),
                _ => None,
            };
            let decision = decision?;
            let id = req.id.clone();
            self.approvals.pop_front();
            return Some(Action::Approve { id, decision });
        }
        if self.picker.is_some() {
            return self.picker_key(key);
        }
        if self.popup.is_some()
            && let Some(a) = self.popup_key(key)
        {
            return a;
        }
        match key.code {
            KeyCode::Char('d') if ctrl => {
                if self.composer.is_empty() {
                    return Some(Action::Quit);
                }
                self.composer.delete();
            }
            KeyCode::Char('o') if ctrl => {
                self.transcript.expanded = !self.transcript.expanded;
            }
            KeyCode::Char('w') if ctrl => self.composer.delete_word(),
            KeyCode::Char('u') if ctrl => self.composer.kill_to_start(),
            KeyCode::Char('k') if ctrl => self.composer.kill_to_end(),
            KeyCode::Char('a') if ctrl => self.composer.home(),
            KeyCode::Char('e') if ctrl => self.composer.end(),
            KeyCode::Char('j') if ctrl => self.composer.insert("\n"),
            KeyCode::Char(c) if !ctrl => self.composer.insert(c.encode_utf8(&mut [0; 4])),
            KeyCode::Enter if key.modifiers.intersects(KeyModifiers::SHIFT | KeyModifiers::ALT) => {
                self.composer.insert("\n");
            }
            KeyCode::Enter => return self.submit(),
            KeyCode::Esc if self.running => return Some(Action::Interrupt),
            KeyCode::Esc => self.scroll = 0,
            KeyCode::Backspace => self.composer.backspace(),
            KeyCode::Delete => self.composer.delete(),
            KeyCode::Left => self.composer.left(),
            KeyCode::Right => self.composer.right(),
            KeyCode::Home => self.composer.home(),
            KeyCode::End => self.composer.end(),
            KeyCode::Up => self.composer.up(),
            KeyCode::Down => self.composer.down(),
            KeyCode::PageUp => self.scroll = self.scroll.saturating_add(10),
            KeyCode::PageDown => self.scroll = self.scroll.saturating_sub(10),
            KeyCode::Tab => {}
            _ => return None,
        }
        self.refresh_popup(None);
        None
    }

    fn ctrl_c(&mut self) -> Option<Action> {
        if self.running || !self.approvals.is_empty() {
            self.approvals.clear();
            return Some(Action::Interrupt);
        }
        if self.picker.take().is_some() || self.popup.take().is_some() {
            return None;
        }
        if !self.composer.is_empty() {
            self.composer.set("");
            return None;
        }
        if self.quit_armed.is_some_and(|t| t.elapsed() < QUIT_WINDOW) {
            return Some(Action::Quit);
        }
        self.quit_armed = Some(Instant::now());
        self.hint = Some("press ctrl+c again to quit".into());
        None
    }

    fn submit(&mut self) -> Option<Action> {
        let text = self.composer.take();
        let trimmed = text.trim();
        if trimmed.is_empty() {
            return None;
        }
        self.popup = None;
        self.scroll = 0;
        if let Some(rest) = trimmed.strip_prefix('/')
            && !rest.is_empty()
            && !rest.contains('\n')
        {
            let (name, arg) = rest.split_once(' ').unwrap_or((rest, ""));
            return self.command(name, arg.trim());
        }
        if self.running || self.starting {
            self.queued.push_back(text);
            return None;
        }
        Some(self.start_turn(text))
    }

    /// Shows the user's message and asks the loop to send it.
    pub fn start_turn(&mut self, text: String) -> Action {
        self.transcript.push(Kind::User(text.clone()));
        self.running = true;
        self.status.turn_started = Some(Instant::now());
        Action::Send(text)
    }

    fn command(&mut self, name: &str, arg: &str) -> Option<Action> {
        match name {
            "help" => {
                self.transcript.push(Kind::Info(help()));
                None
            }
            "status" => {
                self.transcript.push(Kind::Info(self.status.text()));
                None
            }
            "quit" | "exit" => Some(Action::Quit),
            "new" | "model" | "resume" | "diff" | "undo" | "approvals" | "mcp" | "compact" | "fork" => {
                if self.running && !matches!(name, "diff" | "mcp") {
                    self.transcript
                        .push(Kind::Warning(format!("/{name} waits until the turn ends (esc interrupts it)")));
                    return None;
                }
                Some(Action::Command(name.into(), arg.into()))
            }
            _ => {
                self.transcript.push(Kind::Warning(format!("unknown command /{name}; /help lists them")));
                None
            }
        }
    }

    fn picker_key(&mut self, key: KeyEvent) -> Option<Action> {
        use crate::picker::{Outcome, Pick};
        match self.picker.as_mut()?.key(key) {
            Outcome::Stay => None,
            Outcome::Close => {
                self.picker = None;
                None
            }
            Outcome::Chose(pick) => {
                self.picker = None;
                Some(match pick {
                    Pick::Session(id) => Action::Resume(id),
                    Pick::Model { provider, model } => Action::SwitchModel { provider, model },
                    Pick::Fork { id, turns, text } => Action::Fork { id, turns, text },
                })
            }
        }
    }

    /// Keys the completion popup takes; None lets the composer have it.
    fn popup_key(&mut self, key: KeyEvent) -> Option<Option<Action>> {
        let popup = self.popup.as_mut()?;
        match key.code {
            KeyCode::Up => popup.selected = popup.selected.saturating_sub(1),
            KeyCode::Down => popup.selected = (popup.selected + 1).min(popup.items.len().saturating_sub(1)),
            KeyCode::Esc => self.popup = None,
            KeyCode::Tab | KeyCode::Enter => {
                let (start, item) = (popup.start, popup.items.get(popup.selected).map(|i| i.0.clone()));
                let Some(item) = item else {
                    self.popup = None;
                    return None;
                };
                let is_command = item.starts_with('/');
                self.composer.replace_token(start, &item);
                self.popup = None;
                // Enter on a command that needs no argument runs it.
                if key.code == KeyCode::Enter && is_command && !COMMANDS_WITH_ARGS.contains(&item.as_str()) {
                    return Some(self.submit());
                }
            }
            _ => return None,
        }
        Some(None)
    }

    /// Recomputes the popup from the token at the cursor; `files` are the
    /// newest `@` matches, if any arrived.
    pub fn refresh_popup(&mut self, files: Option<&Matches>) {
        let Some((start, word)) = self.composer.token_at_cursor() else {
            self.popup = None;
            self.file_query = None;
            return;
        };
        let (items, note): (Vec<(String, String)>, Option<String>) = if let Some(q) = word.strip_prefix('/') {
            self.file_query = None;
            let items = COMMANDS
                .iter()
                .filter(|(c, _)| c[1..].starts_with(q))
                .map(|(c, d)| (c.to_string(), d.to_string()))
                .collect();
            (items, None)
        } else {
            let q = word.trim_start_matches('@').to_string();
            let answer = match files {
                Some(m) if m.query == q && !q.is_empty() => {
                    let mut items: Vec<_> = m.paths.iter().map(|p| (format!("@{p}"), String::new())).collect();
                    // The best so far: said on the first row, so the popup
                    // keeps its height when the full answer replaces them.
                    if let Some(first) = items.first_mut().filter(|_| m.partial) {
                        first.1 = "searching…".to_string();
                    }
                    Some((items, index_note(m.index)))
                }
                _ => None,
            };
            self.file_query = Some(q);
            // Until this query's answer comes, the last one's stays up.
            answer.unwrap_or_else(|| self.popup.as_ref().map(|p| (p.items.clone(), p.note.clone())).unwrap_or_default())
        };
        let selected = self.popup.as_ref().map_or(0, |p| p.selected.min(items.len().saturating_sub(1)));
        self.popup = (!items.is_empty() || note.is_some()).then_some(Popup { start, items, selected, note });
    }

    /// Applies a core event: session state here, the conversation in the
    /// transcript.
    pub fn event(&mut self, ev: Event) {
        match &ev {
            Event::SessionConfigured(info) => {
                self.starting = false;
                if let Some(n) = &info.notice {
                    self.transcript.push(Kind::Info(n.clone()));
                }
                if info.resumed {
                    self.transcript.push(Kind::Info(format!("resumed session {}", info.session_id)));
                }
                self.status.info = Some(info.clone());
                // This session's servers report from now on.
                self.status.mcp.clear();
                return;
            }
            Event::TurnStarted { .. } => {
                self.running = true;
                self.status.turn_started.get_or_insert_with(Instant::now);
            }
            // Shown when it was sent.
            Event::UserMessage { .. } => return,
            Event::ApprovalRequest(r) => self.approvals.push_back(r.clone()),
            Event::McpServerUpdate(status) => self.status.mcp_update(status),
            Event::ContextUpdated(usage) => self.status.context = *usage,
            // A compaction the user asked for runs like a turn (esc interrupts it).
            Event::CompactionStarted { .. } => self.status.compacting = true,
            Event::Compacted(_) => {
                self.status.compacting = false;
                self.status.compactions += 1;
            }
            Event::McpServers { servers } => {
                for s in servers {
                    self.status.mcp_update(s);
                }
            }
            Event::TurnCompleted(s) => {
                self.end_turn();
                self.status.session_usage = s.session_usage;
                self.status.session_cost = s.session_cost_usd;
                self.status.lag = s.lag;
                self.status.tools = s.tools.clone();
                self.status.deltas.add(&s.deltas);
                if s.context.used_tokens > 0 {
                    self.status.context = s.context;
                }
            }
            Event::TurnFailed { deltas, .. } | Event::TurnAborted { deltas, .. } => {
                self.end_turn();
                self.status.deltas.add(deltas);
            }
            _ => {}
        }
        self.transcript.apply(ev);
    }

    fn end_turn(&mut self) {
        self.running = false;
        self.status.compacting = false;
        self.approvals.clear();
        self.status.turn_started = None;
        self.transcript.stop_running();
    }

    /// The next queued follow-up, if the session is free for it.
    pub fn next_queued(&mut self) -> Option<Action> {
        if self.running || self.starting {
            return None;
        }
        let text = self.queued.pop_front()?;
        Some(self.start_turn(text))
    }
}

/// What the `@` popup says about its index, if anything: still being
/// built (how far), or full (the matches come from its first part).
fn index_note(state: IndexState) -> Option<String> {
    match state {
        IndexState::Indexing { files } => Some(format!("indexing the workspace: {} files so far", thousands(files))),
        IndexState::Ready { files, capped: true } => {
            Some(format!("searched the first {} files (the index is full)", thousands(files)))
        }
        IndexState::Ready { capped: false, .. } => None,
    }
}

/// `n` with thousands separated by commas.
fn thousands(n: usize) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// Commands that need an argument: completing them waits for it.
const COMMANDS_WITH_ARGS: &[&str] = &["/approvals"];

fn help() -> String {
    let mut s = String::from("commands\n");
    for (c, d) in COMMANDS {
        s.push_str(&format!("  {c:<11} {d}\n"));
    }
    s.push_str(
        "keys\n  enter       send (queued while a turn runs)\n  shift+enter newline (also ctrl+j, alt+enter)\n  \
         esc         interrupt the turn\n  ctrl+c      interrupt; on an empty composer twice: quit\n  \
         ctrl+d      quit on an empty composer\n  ctrl+o      expand or fold tool output\n  \
         pgup/pgdn   scroll\n  up/down     history\n  @           complete a file path",
    );
    s
}

/// A one-line summary of a tool call's arguments (`path`, `pattern`…).
pub(crate) fn summarize_args(args: &str) -> String {
    let Ok(serde_json::Value::Object(map)) = serde_json::from_str::<serde_json::Value>(args) else {
        return args.chars().take(80).collect();
    };
    for key in ["path", "file_path", "pattern", "query", "cmd", "command", "url"] {
        if let Some(v) = map.get(key).and_then(|v| v.as_str()) {
            return v.chars().take(120).collect();
        }
    }
    let s = serde_json::Value::Object(map).to_string();
    s.chars().take(80).collect()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn the_index_note_counts_in_thousands() {
        assert_eq!(
            index_note(IndexState::Indexing { files: 0 }).as_deref(),
            Some("indexing the workspace: 0 files so far")
        );
        assert_eq!(
            index_note(IndexState::Ready { files: 1_234_567, capped: true }).as_deref(),
            Some("searched the first 1,234,567 files (the index is full)")
        );
        assert_eq!(index_note(IndexState::Ready { files: 999, capped: false }), None);
        assert_eq!(thousands(1000), "1,000");
        assert_eq!(thousands(123_456), "123,456");
    }

    #[test]
    fn the_best_files_so_far_are_marked_and_then_replaced_in_place() {
        let mut app = App::default();
        app.composer.insert("@cor");
        let ready = IndexState::Ready { files: 3, capped: false };
        let answer = |paths: &[&str], partial| Matches {
            query: "cor".into(),
            paths: paths.iter().map(|p| p.to_string()).collect(),
            index: ready,
            partial,
        };
        app.refresh_popup(Some(&answer(&["src/core.rs", "core/a.rs"], true)));
        let p = app.popup.as_ref().unwrap();
        assert_eq!(p.items[0], ("@src/core.rs".to_string(), "searching…".to_string()));
        assert_eq!(p.items[1].1, "");
        app.refresh_popup(Some(&answer(&["core/a.rs", "src/core.rs"], false)));
        let p = app.popup.as_ref().unwrap();
        assert_eq!(p.items, [("@core/a.rs".to_string(), String::new()), ("@src/core.rs".to_string(), String::new())]);
        // An answer to an older query leaves the popup as it is.
        app.refresh_popup(Some(&Matches { query: "co".into(), ..answer(&["x"], true) }));
        assert_eq!(app.popup.as_ref().unwrap().items.len(), 2);
    }
}
