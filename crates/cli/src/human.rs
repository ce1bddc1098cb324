//! `tern exec` progress for people, on stderr.
//!
//! The answer streams as it arrives; tool calls show as one line each with
//! their outcome. Text from the model or a command is stripped of control
//! sequences before it reaches the terminal.

use std::collections::HashMap;
use std::io::IsTerminal;
use tern_protocol::{
    Event, FileChange, FileChangeKind, McpServerState, PlanStatus, ToolCallBegin, ToolCallEnd, ToolKind,
};
use tern_tui::text::sanitize;
use tokio::io::AsyncWriteExt;

/// Lines of command output shown under a finished command.
const OUTPUT_PREVIEW_LINES: usize = 6;
/// Diff lines shown per changed file.
const DIFF_PREVIEW_LINES: usize = 40;

pub(crate) struct Human {
    err: tokio::io::Stderr,
    color: bool,
    /// The cursor is mid-line (after streamed text).
    mid_line: bool,
    /// Streaming reasoning (dimmed) rather than the answer.
    in_reasoning: bool,
    /// The answer was streamed to the same terminal stdout would print to.
    streamed_to_tty: bool,
    /// Summaries of running non-command calls, printed when they end
    /// (read-only calls run in parallel, so begin and end interleave).
    running: HashMap<String, String>,
}

impl Human {
    pub(crate) fn new() -> Self {
        let tty = std::io::stderr().is_terminal();
        Human {
            err: tokio::io::stderr(),
            color: tty && std::env::var_os("NO_COLOR").is_none(),
            mid_line: false,
            in_reasoning: false,
            streamed_to_tty: tty && std::io::stdout().is_terminal(),
            running: HashMap::new(),
        }
    }

    fn style(&self, code: &str, text: &str) -> String {
        if self.color { format!("\x1b[{code}m{text}\x1b[0m") } else { text.to_string() }
    }

    async fn write(&mut self, s: &str) -> std::io::Result<()> {
        self.err.write_all(s.as_bytes()).await?;
        self.err.flush().await
    }

    /// Starts a block on a fresh line.
    async fn line(&mut self, s: &str) -> std::io::Result<()> {
        let mut out = String::new();
        if self.mid_line {
            out.push('\n');
            self.mid_line = false;
        }
        self.in_reasoning = false;
        out.push_str(s);
        out.push('\n');
        self.write(&out).await
    }

    async fn stream(&mut self, text: &str, reasoning: bool) -> std::io::Result<()> {
        let mut out = String::new();
        if reasoning != self.in_reasoning && self.mid_line {
            out.push('\n');
        }
        self.in_reasoning = reasoning;
        let clean = sanitize(text);
        out.push_str(&if reasoning { self.style("2;3", &clean) } else { clean });
        self.mid_line = !out.ends_with('\n');
        self.write(&out).await
    }

    pub(crate) async fn event(&mut self, ev: &Event) -> std::io::Result<()> {
        match ev {
            Event::SessionConfigured(s) => {
                let verb = if s.resumed { "resumed session" } else { "session" };
                let head = format!(
                    "tern {} · {} via {} · {verb} {}",
                    env!("CARGO_PKG_VERSION"),
                    s.model,
                    s.provider,
                    s.session_id
                );
                let head = self.style("2", &head);
                self.line(&head).await?;
                match &s.notice {
                    Some(n) => self.line(&self.style("36", &format!("note: {}", sanitize(n)))).await,
                    None => Ok(()),
                }
            }
            Event::ReasoningDelta { delta, .. } => self.stream(delta, true).await,
            Event::AgentMessageDelta { delta, .. } => self.stream(delta, false).await,
            Event::ToolCallBegin(b) if b.command.is_some() => {
                let l = self.begin_line(b);
                // Shown now (commands take time); the end prints under it.
                self.running.insert(b.item_id.clone(), String::new());
                self.line(&l).await
            }
            Event::ToolCallBegin(b) => {
                let l = self.begin_line(b);
                self.running.insert(b.item_id.clone(), l);
                Ok(())
            }
            // The plan itself is printed by PlanUpdated.
            Event::ToolCallEnd(e) if e.kind == ToolKind::Plan && e.success => Ok(()),
            Event::ToolCallEnd(e) => {
                let l = self.end_lines(e);
                self.line(&l).await
            }
            Event::PlanUpdated { plan, explanation, .. } => {
                let mut s = self.style("1", "plan");
                if let Some(x) = explanation {
                    s.push_str(&format!(" — {}", sanitize(x)));
                }
                for p in plan {
                    let mark = match p.status {
                        PlanStatus::Completed => "[x]",
                        PlanStatus::InProgress => "[~]",
                        PlanStatus::Pending => "[ ]",
                    };
                    s.push_str(&format!("\n  {mark} {}", sanitize(&p.step)));
                }
                self.line(&s).await
            }
            Event::FilesChanged { changes, .. } | Event::SessionDiff { changes } => {
                let mut out = String::new();
                for c in changes {
                    if !out.is_empty() {
                        out.push('\n');
                    }
                    out.push_str(&self.change_block(c));
                }
                self.line(&out).await
            }
            Event::ApprovalRequest(r) => {
                let l = self.style(
                    "33",
                    &format!(
                        "approval needed: {} ({}); declined — tern exec has nobody to ask (use --full-auto to allow)",
                        sanitize(&crate::json::approval_subject(r, false)),
                        sanitize(&r.reason)
                    ),
                );
                self.line(&l).await
            }
            Event::UndoCompleted { restored } => {
                let l = format!("undo: restored {}", restored.join(", "));
                self.line(&l).await
            }
            Event::Warning { message } => {
                let l = self.style("33", &format!("warning: {}", sanitize(message)));
                self.line(&l).await
            }
            Event::McpServerUpdate(s) => match &s.state {
                McpServerState::Failed { error } => {
                    let l = self.style("33", &format!("warning: MCP server {}: {}", s.name, sanitize(error)));
                    self.line(&l).await
                }
                _ => Ok(()),
            },
            Event::McpStartupComplete { ready, .. } if !ready.is_empty() => {
                let l = self.style("2", &format!("mcp: {} ready", ready.join(", ")));
                self.line(&l).await
            }
            Event::McpStartupComplete { .. } | Event::McpServers { .. } => Ok(()),
            Event::Compacted(c) => {
                let l = self.style("2", &c.describe());
                self.line(&l).await
            }
            Event::Hook(run) => {
                let l = self.style(if run.is_warning() { "33" } else { "2" }, &sanitize(&run.describe()));
                self.line(&l).await
            }
            Event::ContextUpdated(_) | Event::CompactionStarted { .. } => Ok(()),
            Event::Retrying { attempt, max_attempts, delay_ms, reason } => {
                let l = format!(
                    "retrying in {:.1}s ({attempt}/{max_attempts}): {}",
                    *delay_ms as f64 / 1000.0,
                    sanitize(reason)
                );
                let l = self.style("33", &l);
                self.line(&l).await
            }
            Event::TurnCompleted(t) => {
                let u = &t.usage;
                let mut l = format!(
                    "tokens: {} in ({} cached), {} out · {} model calls, {} tool calls",
                    u.input_tokens, u.cached_input_tokens, u.output_tokens, t.model_calls, t.tool_calls
                );
                if let Some(c) = t.cost_usd {
                    l.push_str(&format!(" · ${c:.4}"));
                }
                if t.lag.samples > 0 {
                    l.push_str(&format!(" · lag p99 {:.1} ms", t.lag.p99_us as f64 / 1000.0));
                }
                // Only when the output could not keep up: stderr was slower than the stream.
                if t.deltas.coalesced > 0 || t.deltas.dropped_bytes > 0 {
                    l.push_str(&format!(
                        " · {} deltas merged, {} bytes of live output dropped",
                        t.deltas.coalesced, t.deltas.dropped_bytes
                    ));
                }
                let l = self.style("2", &l);
                self.line(&l).await
            }
            Event::TurnFailed { error, .. } => {
                let l = self.style("31", &format!("error: {}", sanitize(error)));
                self.line(&l).await
            }
            Event::TurnAborted { .. } => {
                let l = self.style("33", "interrupted; the session is saved (resume with `tern exec resume --last`)");
                self.line(&l).await
            }
            Event::TurnStarted { .. }
            // The user typed it.
            | Event::UserMessage { .. }
            | Event::AgentMessage { .. }
            | Event::Reasoning { .. }
            | Event::ToolCallOutputDelta { .. }
            | Event::ShutdownComplete => Ok(()),
        }
    }

    fn begin_line(&self, b: &ToolCallBegin) -> String {
        if let Some(cmd) = &b.command {
            return format!("{} {}", self.style("1;36", "$"), self.style("1", &sanitize(cmd)));
        }
        let args: serde_json::Value = serde_json::from_str(&b.arguments).unwrap_or_default();
        let key =
            ["path", "file_path", "pattern"].iter().find_map(|k| args.get(k).and_then(|v| v.as_str()).map(|v| (*k, v)));
        let detail = match (b.kind, key) {
            (ToolKind::Search, Some(("pattern", p))) => format!(" /{}/", sanitize(p)),
            (_, Some((_, p))) => format!(" {}", sanitize(p)),
            _ => String::new(),
        };
        format!("{} {}{detail}", self.style("36", "•"), b.tool)
    }

    fn end_lines(&mut self, e: &ToolCallEnd) -> String {
        let took = format!("{:.2}s", e.duration_ms as f64 / 1000.0);
        let head = self.running.remove(&e.item_id);
        match &e.command {
            Some(c) => {
                let status = match (c.timed_out, c.exit_code, c.signal, c.session_id) {
                    (true, ..) => self.style("31", "timed out"),
                    (false, Some(0), ..) => self.style("32", "exit 0"),
                    (false, Some(n), ..) => self.style("31", &format!("exit {n}")),
                    (false, None, Some(sig), _) => self.style("31", &format!("killed by signal {sig}")),
                    (false, None, None, Some(id)) => self.style("33", &format!("still running (session {id})")),
                    (false, None, None, None) => self.style("31", "killed"),
                };
                let lines: Vec<&str> = c.output.lines().collect();
                let mut s = format!("  {status} · {took}");
                for l in lines.iter().take(OUTPUT_PREVIEW_LINES) {
                    s.push_str(&format!("\n  {}", self.style("2", &sanitize(l))));
                }
                if lines.len() > OUTPUT_PREVIEW_LINES {
                    s.push_str(&format!(
                        "\n  {}",
                        self.style("2", &format!("… {} more lines", lines.len() - OUTPUT_PREVIEW_LINES))
                    ));
                }
                s
            }
            None => {
                let head = head.unwrap_or_else(|| e.tool.clone());
                // Why it failed: the tool's error (a command that never ran: refused,
                // interrupted), else that it did not succeed.
                let why = e.error.as_deref().unwrap_or("failed");
                let first = why.lines().next().unwrap_or("");
                if head.is_empty() {
                    return format!("  {} · {took}", self.style("31", &sanitize(first)));
                }
                if e.success {
                    format!("{head} {}", self.style("2", &format!("· {took}")))
                } else {
                    format!("{head} · {}", self.style("31", &sanitize(first)))
                }
            }
        }
    }

    /// A file change: a heading with line counts, then its diff (capped).
    fn change_block(&self, c: &FileChange) -> String {
        let added = c.diff.lines().filter(|l| l.starts_with('+') && !l.starts_with("+++")).count();
        let removed = c.diff.lines().filter(|l| l.starts_with('-') && !l.starts_with("---")).count();
        let verb = match c.kind {
            FileChangeKind::Add => "added",
            FileChangeKind::Delete => "deleted",
            FileChangeKind::Update if c.move_path.is_some() => "moved",
            FileChangeKind::Update => "edited",
        };
        let path = match &c.move_path {
            Some(to) => format!("{} → {}", sanitize(&c.path), sanitize(to)),
            None => sanitize(&c.path),
        };
        let mut s =
            format!("{} {verb} {path} {}", self.style("35", "•"), self.style("2", &format!("(+{added} -{removed})")));
        let body: Vec<&str> = c.diff.lines().filter(|l| !l.starts_with("---") && !l.starts_with("+++")).collect();
        for l in body.iter().take(DIFF_PREVIEW_LINES) {
            let code = match l.chars().next() {
                Some('+') => "32",
                Some('-') => "31",
                Some('@') => "36",
                _ => "2",
            };
            s.push_str(&format!("\n    {}", self.style(code, &sanitize(l))));
        }
        if body.len() > DIFF_PREVIEW_LINES {
            s.push_str(&format!(
                "\n    {}",
                self.style("2", &format!("… {} more diff lines", body.len() - DIFF_PREVIEW_LINES))
            ));
        }
        s
    }

    /// Prints the answer on stdout, unless it already streamed to the
    /// same terminal.
    pub(crate) async fn final_message(&self, msg: &str) -> std::io::Result<()> {
        let mut err = tokio::io::stderr();
        if self.mid_line {
            err.write_all(b"\n").await?;
            err.flush().await?;
        }
        if self.streamed_to_tty {
            return Ok(());
        }
        let mut out = tokio::io::stdout();
        out.write_all(msg.as_bytes()).await?;
        out.write_all(b"\n").await?;
        out.flush().await
    }
}
