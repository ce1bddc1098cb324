//! What hooks answered, combined: Claude Code's exit codes (0 success, 2
//! block with stderr, anything else a non-blocking error) and JSON output.

use crate::run::{Exit, Ran};
use crate::{noted, shorten};
use serde::Deserialize;
use serde_json::Value;
use tern_config::HookConfig;
use tern_protocol::{HookEffect, HookEvent, HookRun};

/// Context one hook may add (Claude Code's cap).
const CONTEXT_CAP: usize = 10_000;

/// A PreToolUse hook's decision on a tool call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Permission {
    /// Run it without asking the user.
    Allow,
    /// Ask the user, whatever the approval policy says.
    Ask,
    /// Do not run it.
    Deny,
}

/// What an event's hooks decided, together.
#[derive(Debug, Default)]
pub struct Outcome {
    /// Why the action is blocked (exit 2's stderr, `decision: "block"`'s
    /// reason, a fail-closed hook's failure); several are joined.
    pub block: Option<String>,
    /// The strongest decision on a tool call (deny > ask > allow) and its reason.
    pub permission: Option<(Permission, Option<String>)>,
    /// The tool call's input as a hook rewrote it (Claude Code's field names).
    pub updated_input: Option<Value>,
    /// An MCP tool's result as a PostToolUse hook rewrote it.
    pub updated_output: Option<Value>,
    /// Text for the model (`additionalContext`; plain stdout of
    /// SessionStart and UserPromptSubmit hooks).
    pub context: Vec<String>,
    /// `continue: false`: end the turn, with this reason for the user.
    pub stop: Option<String>,
    /// Runs the user should see (blocks, changes, failures), in config order.
    pub runs: Vec<HookRun>,
}

/// Claude Code's JSON output (every field optional).
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Reply {
    #[serde(rename = "continue")]
    proceed: Option<bool>,
    stop_reason: Option<String>,
    system_message: Option<String>,
    decision: Option<String>,
    reason: Option<String>,
    hook_specific_output: Option<Specific>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Specific {
    permission_decision: Option<String>,
    permission_decision_reason: Option<String>,
    updated_input: Option<Value>,
    additional_context: Option<String>,
    #[serde(rename = "updatedMCPToolOutput")]
    updated_mcp_tool_output: Option<Value>,
}

/// Whether exit 2 (or a fail-closed failure) stops something at `event`;
/// at the others it is only shown to the user.
fn blocks(event: HookEvent) -> bool {
    matches!(
        event,
        HookEvent::PreToolUse
            | HookEvent::PostToolUse
            | HookEvent::PostToolUseFailure
            | HookEvent::UserPromptSubmit
            | HookEvent::Stop
    )
}

impl Outcome {
    fn push_block(&mut self, reason: String) {
        self.block = Some(match self.block.take() {
            Some(prev) => format!("{prev}\n{reason}"),
            None => reason,
        });
    }

    fn decide(&mut self, p: Permission, reason: Option<String>) {
        if self.permission.as_ref().is_none_or(|(old, _)| p > *old) {
            self.permission = Some((p, reason));
        }
    }

    /// Adds one hook's run.
    pub(crate) fn add(&mut self, event: HookEvent, config: &HookConfig, ran: Ran) {
        let ms = ran.duration.as_millis() as u64;
        let note =
            |o: &mut Outcome, effect, message: Option<&str>| o.runs.push(noted(event, config, effect, message, ms));
        let failure = match &ran.exit {
            Exit::Code(0) => None,
            Exit::Code(2) => {
                let reason = if ran.stderr.trim().is_empty() {
                    format!("blocked by the hook `{}` (exit 2)", config.command)
                } else {
                    cap(ran.stderr.trim())
                };
                if blocks(event) {
                    note(self, HookEffect::Blocked, Some(&reason));
                    self.push_block(reason);
                } else {
                    note(self, HookEffect::Failed, Some(&reason));
                }
                return;
            }
            Exit::Code(code) => Some((HookEffect::Failed, format!("exit {code}: {}", shorten(&ran.stderr)))),
            Exit::Signal => Some((HookEffect::Failed, format!("killed by a signal: {}", shorten(&ran.stderr)))),
            Exit::TimedOut => Some((
                HookEffect::TimedOut,
                format!("no answer within {} s; it was killed with its processes", config.timeout.as_secs_f64()),
            )),
            Exit::NotStarted(e) => Some((HookEffect::Failed, e.clone())),
            // The turn is ending anyway.
            Exit::Cancelled => return,
        };
        if let Some((effect, what)) = failure {
            return self.failed(event, config, effect, what, ms);
        }
        let text = ran.stdout.trim();
        if !text.starts_with('{') {
            if matches!(event, HookEvent::SessionStart | HookEvent::UserPromptSubmit) && !text.is_empty() {
                note(self, HookEffect::AddedContext, Some(text));
                self.context.push(cap(text));
            }
            return;
        }
        let reply: Reply = match serde_json::from_str(text) {
            Ok(r) => r,
            Err(e) => {
                return self.failed(
                    event,
                    config,
                    HookEffect::Failed,
                    format!("its JSON output does not parse: {e}"),
                    ms,
                );
            }
        };
        if let Some(m) = &reply.system_message {
            note(self, HookEffect::Message, Some(m));
        }
        if reply.proceed == Some(false) {
            let reason =
                reply.stop_reason.clone().unwrap_or_else(|| format!("the hook `{}` ended the turn", config.command));
            note(self, HookEffect::Stopped, Some(&reason));
            self.stop.get_or_insert(reason);
        }
        let specific = reply.hook_specific_output.unwrap_or_default();
        // This hook's own decision on a tool call, if it made one.
        let mut decision = None;
        match (event, reply.decision.as_deref()) {
            // Claude Code's older PreToolUse form.
            (HookEvent::PreToolUse, Some("approve")) => decision = Some((Permission::Allow, reply.reason.clone())),
            (HookEvent::PreToolUse, Some("block")) => decision = Some((Permission::Deny, reply.reason.clone())),
            (e, Some("block")) if blocks(e) => {
                let reason =
                    reply.reason.clone().unwrap_or_else(|| format!("blocked by the hook `{}`", config.command));
                note(self, HookEffect::Blocked, Some(&reason));
                self.push_block(reason);
            }
            _ => {}
        }
        if event == HookEvent::PreToolUse {
            let reason = specific.permission_decision_reason.clone();
            match specific.permission_decision.as_deref() {
                Some("allow") => decision = Some((Permission::Allow, reason)),
                Some("ask") => decision = Some((Permission::Ask, reason)),
                Some("deny") => decision = Some((Permission::Deny, reason)),
                _ => {}
            }
            if let Some(input) = specific.updated_input.filter(Value::is_object) {
                note(self, HookEffect::ChangedInput, None);
                self.updated_input.get_or_insert(input);
            }
        }
        if let Some((p, reason)) = decision {
            let effect = match p {
                Permission::Allow => HookEffect::Allowed,
                Permission::Ask => HookEffect::Asked,
                Permission::Deny => HookEffect::Blocked,
            };
            note(self, effect, reason.as_deref());
            self.decide(p, reason);
        }
        if event == HookEvent::PostToolUse
            && let Some(output) = specific.updated_mcp_tool_output
        {
            note(self, HookEffect::ChangedOutput, None);
            self.updated_output.get_or_insert(output);
        }
        if let Some(context) = specific.additional_context.filter(|c| !c.trim().is_empty()) {
            note(self, HookEffect::AddedContext, Some(&context));
            self.context.push(cap(&context));
        }
    }

    /// A hook that failed: shown, and a block when it is fail-closed at an
    /// event that can block.
    fn failed(&mut self, event: HookEvent, config: &HookConfig, effect: HookEffect, what: String, ms: u64) {
        let message = format!("the hook `{}` failed ({what})", config.command);
        if config.fail_closed && blocks(event) {
            let reason = format!("{message}; it is fail_closed, so this was blocked");
            self.runs.push(noted(event, config, HookEffect::Blocked, Some(&reason), ms));
            self.push_block(reason);
        } else {
            self.runs.push(noted(event, config, effect, Some(&what), ms));
        }
    }
}

fn cap(text: &str) -> String {
    let kept = crate::head(text, CONTEXT_CAP);
    if kept.len() == text.len() {
        return text.to_string();
    }
    format!("{kept}\n[cut at {CONTEXT_CAP} characters]")
}
