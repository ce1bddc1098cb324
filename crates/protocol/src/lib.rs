//! The plain types that pass between tern's core and its fronts.
//!
//! A front sends [`Op`]s and renders [`Event`]s; it never sees a provider or
//! a tool. Everything here is serde data so that events can be logged,
//! replayed and projected (for example into `tern exec --json`).

mod context;
mod hooks;
mod mcp;
pub use context::{CompactTrigger, Compaction, ContextUsage};
pub use hooks::{HookEffect, HookEvent, HookRun, ToolFigures};
pub use mcp::{McpCall, McpServerState, McpServerStatus, McpStartupFailure};

use serde::{Deserialize, Serialize};

/// A request from a front to the core.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Op {
    /// Start a turn with this user message (queued if a turn is running).
    UserTurn { text: String },
    /// Cancel the running turn: its model stream, tools and processes.
    Interrupt,
    /// Restore the files changed by the last `turns` turns (at least 1).
    Undo { turns: u32 },
    /// Report what the session has changed so far ([`Event::SessionDiff`]);
    /// answered at once, even while a turn runs.
    Diff,
    /// Answers an [`Event::ApprovalRequest`]; `note` tells the model why
    /// when declining.
    Approval { id: String, decision: ApprovalDecision, note: Option<String> },
    /// Report every MCP server's state ([`Event::McpServers`]).
    McpList,
    /// Stop and start an MCP server again (once; a start in progress is left alone).
    McpRestart { name: String },
    /// Compact the conversation now (queued if a turn is running); `focus`
    /// says what the summary should keep above all.
    Compact { focus: Option<String> },
    /// End the session after flushing its log.
    Shutdown,
}

/// Something the core reports to its front.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Event {
    /// The session is ready; sent once, first.
    SessionConfigured(SessionInfo),
    /// A turn began.
    TurnStarted { turn_id: String },
    /// The user's message that began a turn (fronts that showed it as it
    /// was typed need not show it again).
    UserMessage { item_id: String, text: String },
    /// Part of the assistant's visible answer.
    AgentMessageDelta { item_id: String, delta: String },
    /// The assistant's full message for one model response.
    AgentMessage { item_id: String, text: String },
    /// Part of the model's reasoning, where the provider exposes it.
    ReasoningDelta { item_id: String, delta: String },
    /// The model's full reasoning for one response.
    Reasoning { item_id: String, text: String },
    /// A tool call is about to run.
    ToolCallBegin(ToolCallBegin),
    /// Output a running tool produced so far (command output).
    ToolCallOutputDelta { item_id: String, delta: String },
    /// A tool call finished (successfully or not).
    ToolCallEnd(ToolCallEnd),
    /// A command needs the user's approval before it runs; answer with
    /// [`Op::Approval`] carrying the same id.
    ApprovalRequest(ApprovalRequest),
    /// A tool changed files; one unified diff per file.
    FilesChanged { item_id: String, changes: Vec<FileChange> },
    /// An undo restored these files (paths relative to the workspace).
    UndoCompleted { restored: Vec<String> },
    /// Every file the session has changed, as it is now against before
    /// the session (the answer to [`Op::Diff`]).
    SessionDiff { changes: Vec<FileChange> },
    /// The model replaced its plan.
    PlanUpdated { item_id: String, explanation: Option<String>, plan: Vec<PlanItem> },
    /// Something worth telling the user that did not stop the turn.
    Warning { message: String },
    /// A model request is being retried.
    Retrying { attempt: u32, max_attempts: u32, delay_ms: u64, reason: String },
    /// The turn ended normally.
    TurnCompleted(TurnSummary),
    /// The turn ended with an error.
    TurnFailed {
        turn_id: String,
        error: String,
        usage: Usage,
        #[serde(default)]
        deltas: DeltaStats,
    },
    /// The turn was interrupted.
    TurnAborted {
        turn_id: String,
        reason: String,
        #[serde(default)]
        deltas: DeltaStats,
    },
    /// An MCP server changed state (starting, ready, failed).
    McpServerUpdate(McpServerStatus),
    /// Every MCP server configured at start has settled (ready or failed).
    McpStartupComplete { ready: Vec<String>, failed: Vec<McpStartupFailure> },
    /// Every MCP server's state (the answer to [`Op::McpList`]).
    McpServers { servers: Vec<McpServerStatus> },
    /// How full the context is, after each model call and compaction.
    ContextUpdated(ContextUsage),
    /// A compaction began (a summary may take a model call).
    CompactionStarted { trigger: CompactTrigger },
    /// The conversation was compacted.
    Compacted(Compaction),
    /// A hook blocked, changed or added something, or failed.
    Hook(HookRun),
    /// The session has stopped and its log is on disk.
    ShutdownComplete,
}

/// An image (a tool's result), base64-encoded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Image {
    /// `image/png`, `image/jpeg`, …
    pub mime_type: String,
    /// The bytes, base64.
    pub data: String,
}

/// What a front needs to know about a session.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SessionInfo {
    pub session_id: String,
    pub model: String,
    pub provider: String,
    pub cwd: String,
    pub log_path: String,
    /// True when the session continues one loaded from disk.
    pub resumed: bool,
    /// Something to tell the user once (e.g. that tern fell back to the
    /// local model, and how to configure a cloud one).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notice: Option<String>,
}

/// The start of a tool call.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ToolCallBegin {
    pub item_id: String,
    pub call_id: String,
    pub tool: String,
    pub kind: ToolKind,
    /// The raw JSON arguments the model sent.
    pub arguments: String,
    /// For shell tools: the command line, so fronts can show it.
    pub command: Option<String>,
    /// For shell tools: where it runs, relative to the workspace.
    pub cwd: Option<String>,
    /// For MCP tools: the server and the tool's own name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mcp: Option<McpCall>,
}

/// What a tool does, so fronts can show a call without knowing tool names.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ToolKind {
    /// Runs a command (or talks to a running one).
    Execute,
    /// Reads a file.
    Read,
    /// Searches or lists files.
    Search,
    /// Changes files.
    Edit,
    /// Updates the model's plan.
    Plan,
    /// A tool of an MCP server.
    Mcp,
    #[default]
    Other,
}

/// The end of a tool call.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ToolCallEnd {
    pub item_id: String,
    pub call_id: String,
    pub tool: String,
    pub kind: ToolKind,
    /// What the model sees as the result (written for the model: fronts
    /// show `error` and `command` instead).
    pub output: String,
    pub success: bool,
    pub duration_ms: u64,
    /// Why the call failed, for the user, when the tool refused or failed
    /// (a command that ran and exited non-zero is not an error: see `command`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// For commands: how it ran and what it printed.
    pub command: Option<CommandOutcome>,
    /// For MCP tools: the server and the tool's own name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mcp: Option<McpCall>,
}

/// How a command run by a tool went.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct CommandOutcome {
    pub command: String,
    pub cwd: String,
    /// The exit status; `None` when a signal ended it or it still runs.
    pub exit_code: Option<i32>,
    /// The signal that ended it, if one did.
    #[serde(default)]
    pub signal: Option<i32>,
    #[serde(default)]
    pub duration_ms: u64,
    /// What it printed, stdout and stderr interleaved, as the user should
    /// see it: the beginning and end when it was long (`omitted_bytes`
    /// left out of the middle), the whole in `spool_path`.
    #[serde(default)]
    pub output: String,
    /// Bytes it printed in all.
    #[serde(default)]
    pub total_bytes: u64,
    /// Bytes left out of `output`.
    #[serde(default)]
    pub omitted_bytes: u64,
    /// The file holding the whole output, when it was too long to keep.
    #[serde(default)]
    pub spool_path: Option<String>,
    pub timed_out: bool,
    /// Ended by tern (timeout, interrupt) or by a signal.
    pub killed: bool,
    /// Whether it ran inside the sandbox.
    pub sandboxed: bool,
    /// Still running, as an interactive session `write_stdin` continues.
    #[serde(default)]
    pub session_id: Option<u32>,
}

/// A command waiting for the user's decision.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ApprovalRequest {
    pub id: String,
    pub call_id: String,
    pub command: String,
    pub cwd: String,
    /// Why it is not known to be safe.
    pub reason: String,
    /// Set when the call is an MCP server's tool (then `command` holds its
    /// arguments and `cwd` is empty).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mcp: Option<McpCall>,
}

/// What tools may do without asking the user, and how commands are confined.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ApprovalPolicy {
    /// Only known read-only commands run, sandboxed with no writes; files
    /// cannot be changed.
    ReadOnly,
    /// Workspace edits and known read-only commands run; other commands
    /// ask. Commands run in the sandbox (workspace writes, no network).
    Auto,
    /// Every command runs without asking, inside the sandbox (workspace
    /// writes, no network): Codex's `--full-auto`.
    FullAuto,
    /// Everything runs without asking and without the sandbox.
    FullAccess,
}

impl ApprovalPolicy {
    /// Every policy, from the most to the least restrictive.
    pub const ALL: [ApprovalPolicy; 4] =
        [ApprovalPolicy::ReadOnly, ApprovalPolicy::Auto, ApprovalPolicy::FullAuto, ApprovalPolicy::FullAccess];

    /// The name used in config and on the command line.
    pub fn name(self) -> &'static str {
        match self {
            ApprovalPolicy::ReadOnly => "read-only",
            ApprovalPolicy::Auto => "auto",
            ApprovalPolicy::FullAuto => "full-auto",
            ApprovalPolicy::FullAccess => "full-access",
        }
    }

    /// The policy called `name`, if any.
    pub fn from_name(name: &str) -> Option<ApprovalPolicy> {
        Self::ALL.into_iter().find(|p| p.name() == name)
    }

    /// Whether commands run inside the sandbox under this policy (unless
    /// the user opted out of it).
    pub fn sandboxed(self) -> bool {
        self != ApprovalPolicy::FullAccess
    }
}

/// The user's answer to an approval request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ApprovalDecision {
    /// Run it this once.
    Once,
    /// Run it, and commands starting the same way, for the rest of the session.
    Session,
    /// As `Session`, and remembered for this workspace.
    Always,
    Deny,
}

/// One file a tool changed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FileChange {
    /// Relative to the workspace.
    pub path: String,
    pub kind: FileChangeKind,
    /// For a move: where the file went.
    pub move_path: Option<String>,
    /// Unified diff of the change.
    pub diff: String,
}

/// What happened to a file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FileChangeKind {
    Add,
    Delete,
    Update,
}

/// One step of the model's plan.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PlanItem {
    pub step: String,
    pub status: PlanStatus,
}

/// The state of a plan step.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PlanStatus {
    Pending,
    InProgress,
    Completed,
}

/// Token counts as the provider reported them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Usage {
    pub input_tokens: u64,
    pub cached_input_tokens: u64,
    pub output_tokens: u64,
    pub reasoning_output_tokens: u64,
}

impl Usage {
    /// Adds another response's counts to these (saturating: the counts
    /// come from the server, which may send anything).
    pub fn add(&mut self, other: &Usage) {
        self.input_tokens = self.input_tokens.saturating_add(other.input_tokens);
        self.cached_input_tokens = self.cached_input_tokens.saturating_add(other.cached_input_tokens);
        self.output_tokens = self.output_tokens.saturating_add(other.output_tokens);
        self.reasoning_output_tokens = self.reasoning_output_tokens.saturating_add(other.reasoning_output_tokens);
    }
}

/// Scheduling-lag percentiles measured during a turn (RUNTIME rule 10).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LagStats {
    pub samples: u64,
    pub p50_us: u64,
    pub p99_us: u64,
    pub max_us: u64,
}

/// How a completed turn went.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TurnSummary {
    pub turn_id: String,
    /// The assistant's last message, the turn's answer.
    pub last_message: String,
    pub usage: Usage,
    /// What this turn cost in USD, when the model's prices are known.
    pub cost_usd: Option<f64>,
    /// Tokens and cost of the whole session so far (this process).
    pub session_usage: Usage,
    pub session_cost_usd: Option<f64>,
    pub model_calls: u32,
    pub tool_calls: u32,
    /// How full the context is at the turn's end.
    #[serde(default)]
    pub context: ContextUsage,
    /// Compactions during the turn.
    #[serde(default)]
    pub compactions: u32,
    pub lag: LagStats,
    /// How streamed deltas fared on their way to the front this turn.
    #[serde(default)]
    pub deltas: DeltaStats,
    /// Each tool's figures over the session so far, by name.
    #[serde(default)]
    pub tools: Vec<ToolFigures>,
}

/// Streamed deltas (message, reasoning, command output) a slow front could
/// not take at once. Message and reasoning deltas are coalesced and never
/// lost; command output waiting beyond a cap loses its oldest bytes (the
/// tool's end event carries the output in full).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeltaStats {
    /// Deltas sent.
    pub sent: u64,
    /// Deltas merged into a later one because the channel was full.
    pub coalesced: u64,
    /// Bytes of live command output dropped.
    pub dropped_bytes: u64,
}

impl DeltaStats {
    /// Adds another turn's counts to these.
    pub fn add(&mut self, other: &DeltaStats) {
        self.sent += other.sent;
        self.coalesced += other.coalesced;
        self.dropped_bytes += other.dropped_bytes;
    }

    /// The counts since `earlier` (a snapshot of the same counters).
    pub fn since(&self, earlier: &DeltaStats) -> DeltaStats {
        DeltaStats {
            sent: self.sent.saturating_sub(earlier.sent),
            coalesced: self.coalesced.saturating_sub(earlier.coalesced),
            dropped_bytes: self.dropped_bytes.saturating_sub(earlier.dropped_bytes),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usage_from_a_server_sending_huge_counts_saturates() {
        let huge =
            Usage { input_tokens: u64::MAX, cached_input_tokens: 1, output_tokens: u64::MAX - 1, ..Usage::default() };
        let mut total = Usage { input_tokens: 5, output_tokens: 5, ..Usage::default() };
        total.add(&huge);
        assert_eq!((total.input_tokens, total.cached_input_tokens, total.output_tokens), (u64::MAX, 1, u64::MAX));
    }
}
