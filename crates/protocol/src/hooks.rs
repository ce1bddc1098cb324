//! Hooks: the user's commands run at points of a session (Claude Code's
//! events), and what they did.

use serde::{Deserialize, Serialize};

/// Where in a session a hook runs (Claude Code's event names).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum HookEvent {
    /// A session started or resumed, or the conversation was compacted.
    SessionStart,
    /// The user sent a message (before the model sees it).
    UserPromptSubmit,
    /// A tool call is about to run.
    PreToolUse,
    /// A tool call succeeded.
    PostToolUse,
    /// A tool call failed.
    PostToolUseFailure,
    /// The conversation is about to be compacted.
    PreCompact,
    /// tern needs the user (an approval is waiting).
    Notification,
    /// The model has answered and the turn would end.
    Stop,
    /// The session is ending.
    SessionEnd,
}

impl HookEvent {
    /// Every event, in the order of a session.
    pub const ALL: [HookEvent; 9] = [
        HookEvent::SessionStart,
        HookEvent::UserPromptSubmit,
        HookEvent::PreToolUse,
        HookEvent::PostToolUse,
        HookEvent::PostToolUseFailure,
        HookEvent::PreCompact,
        HookEvent::Notification,
        HookEvent::Stop,
        HookEvent::SessionEnd,
    ];

    /// The name in settings files and in a hook's input.
    pub fn name(self) -> &'static str {
        match self {
            HookEvent::SessionStart => "SessionStart",
            HookEvent::UserPromptSubmit => "UserPromptSubmit",
            HookEvent::PreToolUse => "PreToolUse",
            HookEvent::PostToolUse => "PostToolUse",
            HookEvent::PostToolUseFailure => "PostToolUseFailure",
            HookEvent::PreCompact => "PreCompact",
            HookEvent::Notification => "Notification",
            HookEvent::Stop => "Stop",
            HookEvent::SessionEnd => "SessionEnd",
        }
    }

    /// The event called `name`, if tern runs it.
    pub fn from_name(name: &str) -> Option<HookEvent> {
        Self::ALL.into_iter().find(|e| e.name() == name)
    }
}

/// What a hook did that the user should know about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HookEffect {
    /// It stopped the tool call, prompt, or end of the turn (`message` says why).
    Blocked,
    /// It approved a tool call (no question to the user).
    Allowed,
    /// It asked for the user's approval of a tool call.
    Asked,
    /// It changed a tool call's input.
    ChangedInput,
    /// It changed a tool's result.
    ChangedOutput,
    /// It gave the model more context.
    AddedContext,
    /// It ended the turn (`continue: false`).
    Stopped,
    /// It exited with an error (fail-open: the action went on).
    Failed,
    /// It ran past its timeout and was killed with its processes.
    TimedOut,
    /// A message for the user (`systemMessage`).
    Message,
}

/// One hook's run, when it did something worth showing.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HookRun {
    pub event: HookEvent,
    /// The command as configured.
    pub command: String,
    pub effect: HookEffect,
    /// The reason, context, or error text (shortened).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// The tool call it was about, for tool events.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub call_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool: Option<String>,
    pub duration_ms: u64,
}

impl HookRun {
    /// One line for a transcript: which hook did what to what.
    pub fn describe(&self) -> String {
        let what = match self.effect {
            HookEffect::Blocked => "blocked",
            HookEffect::Allowed => "allowed",
            HookEffect::Asked => "asks about",
            HookEffect::ChangedInput => "changed the input of",
            HookEffect::ChangedOutput => "changed the result of",
            HookEffect::AddedContext => "added context",
            HookEffect::Stopped => "ended the turn",
            HookEffect::Failed => "failed",
            HookEffect::TimedOut => "timed out",
            HookEffect::Message => "says",
        };
        let mut text = format!("{} hook {what}", self.event.name());
        if let Some(tool) = &self.tool
            && !matches!(
                self.effect,
                HookEffect::AddedContext | HookEffect::Message | HookEffect::Failed | HookEffect::TimedOut
            )
        {
            text.push_str(&format!(" {tool}"));
        }
        if let Some(m) = &self.message {
            text.push_str(&format!(": {}", m.lines().next().unwrap_or_default()));
        }
        let command: String = self.command.chars().take(60).collect();
        let more = if self.command.chars().count() > 60 { "…" } else { "" };
        text.push_str(&format!(" ({command}{more})"));
        text
    }

    /// Whether it stopped or broke something (shown as a warning).
    pub fn is_warning(&self) -> bool {
        matches!(self.effect, HookEffect::Blocked | HookEffect::Stopped | HookEffect::Failed | HookEffect::TimedOut)
    }
}

/// One tool's figures over a session: how often, how fast, how often from the cache.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ToolFigures {
    pub tool: String,
    pub calls: u64,
    pub errors: u64,
    /// Calls answered from the result cache, or by "unchanged since".
    pub cache_hits: u64,
    pub p50_ms: u64,
    pub p99_ms: u64,
    /// Calls a hook blocked or a retry repeated.
    #[serde(default)]
    pub blocked: u64,
    #[serde(default)]
    pub retries: u64,
}
