//! The tool pipeline: every tool call, built-in or MCP, whichever front
//! started the turn, passes these layers in this order.
//!
//! 0. **the small model's guide**: an edit that misses the request (a
//!    test's in a turn about a failure, say) is refused unless made
//!    again, or made as the addition it means (`refuse.rs`); asked to fix
//!    a failure, a failed command's result gets the code its failing
//!    lines call (`guide.rs`);
//! 1. **hooks before** (`PreToolUse`): may block the call, rewrite its
//!    input, or decide its permission;
//! 2. **approval**: the tool's own check under the approval policy (and
//!    the user's answer), unless a hook allowed the call; a hook's "ask"
//!    asks whatever the policy;
//! 3. **cache lookup**: a read the cache can answer (see `results.rs`)
//!    does not run again;
//! 4. **cancellation and timeout**: an interrupt stops the call (with a
//!    grace to report), within the tool's own time limit;
//! 5. **retry**: a transient failure of an idempotent tool is tried again
//!    with backoff;
//! 6. **executor**: [`Tool::call`];
//! 7. **hooks after** (`PostToolUse` / `PostToolUseFailure`): feedback
//!    and context for the model, a new result for an MCP tool;
//! 8. **cache store**: the result is kept, and one the model already has
//!    is sent as "unchanged since step N".

use crate::figures::CallFacts;
use crate::hooks::input;
use crate::refuse::Guard;
use crate::results::{Key, Results, Reuse};
use crate::session::Session;
use serde_json::Value;
use std::time::Duration;
use tern_hooks::{Outcome, Permission};
use tern_llm::ToolCall;
use tern_protocol::{ApprovalPolicy, HookEvent};
use tern_tools::{Tool, ToolCtx, ToolError, ToolOutput};
use tokio_util::sync::CancellationToken;

/// How long a cancelled tool call may take to stop on its own.
const CANCEL_GRACE: Duration = Duration::from_secs(2);
/// Retries of a transient failure, and the first backoff (doubled each time).
const MAX_RETRIES: u32 = 2;
const FIRST_BACKOFF: Duration = Duration::from_millis(250);

/// A call's way through the pipeline.
pub(crate) struct Passed {
    pub result: Result<ToolOutput, ToolError>,
    pub facts: CallFacts,
    /// A hook ended the turn (`continue: false`), with its reason.
    pub stop: Option<String>,
}

impl Session {
    /// Runs one call through every layer.
    pub(crate) async fn pipeline(
        &self,
        tool: &dyn Tool,
        call: &ToolCall,
        mut args: Value,
        ctx: &ToolCtx,
        cancel: &CancellationToken,
    ) -> Passed {
        let name = call.name.as_str();
        let step = self.results.step();
        let mut facts = CallFacts::default();
        let mut stop = None;
        let blocked = |reason: String, stop: Option<String>| Passed {
            result: Err(ToolError::Failed(format!("blocked by a hook: {reason}"))),
            facts: CallFacts { blocked: true, ..Default::default() },
            stop,
        };

        // 0. A small model's edit that misses the request (a test's or the
        // README's in a fix, lines taken away when asked to add, lines
        // written twice): refused unless made again, or made as the
        // addition it means (refuse.rs).
        let mut guide_note = None;
        match self.edit_guard(tool.kind(), &args, cancel).await {
            Some(Guard::Refuse(note)) => return Passed { result: Err(ToolError::Failed(note)), facts, stop },
            Some(Guard::Merge { args: merged, note }) => {
                args = merged;
                guide_note = Some(note);
            }
            None => {}
        }

        // 1. Hooks before.
        let mut permission = None;
        let mut before_context = Vec::new();
        if self.hooks.any(HookEvent::PreToolUse) {
            let (twin, view) = tern_tools::claude_view(name, &args);
            let fields = input([
                ("tool_name", twin.clone().into()),
                ("tool_input", view),
                ("tool_use_id", call.id.clone().into()),
            ]);
            let o = self.hooks.run(HookEvent::PreToolUse, &[&twin, name], fields, cancel).await;
            self.show_hooks(&o, Some((&call.id, name))).await;
            if let Some(reason) = o.stop {
                return blocked(format!("the hook ended the turn: {reason}"), Some(reason));
            }
            if let Some(reason) = o.block {
                return blocked(reason, None);
            }
            if let Some((Permission::Deny, reason)) = &o.permission {
                return blocked(reason.clone().unwrap_or_else(|| "denied by a PreToolUse hook".into()), None);
            }
            if let Some(changed) = o.updated_input {
                args = tern_tools::from_claude_view(name, changed);
            }
            permission = o.permission;
            before_context = o.context;
        }

        // 2. Approval.
        // A hook's allow (or the user's answer to its ask) stands for the
        // policy's question; only read-only's refusals still apply.
        let read_only = self.config.approval_policy == ApprovalPolicy::ReadOnly;
        let approved = match permission {
            Some((Permission::Allow, _)) if !read_only => Ok(()),
            Some((Permission::Ask, reason)) => {
                let (command, cwd) = tool.command_line(&args).unwrap_or_else(|| (args.to_string(), String::new()));
                let reason = reason.unwrap_or_else(|| "a PreToolUse hook asks for your approval".into());
                match self.approvals.confirm(&command, &cwd, tool.mcp(), &reason, &call.id, cancel).await {
                    Ok(()) if read_only => tool.approve(ctx, &args).await,
                    r => r,
                }
            }
            _ => tool.approve(ctx, &args).await,
        };
        if let Err(e) = approved {
            return Passed { result: Err(e), facts, stop };
        }

        // 3. Cache lookup.
        let reuse =
            if self.config.result_cache { Results::reuse(tool, name, &args, &self.workspace) } else { Reuse::No };
        let key = (reuse != Reuse::No).then(|| Key::new(name, &args, &reuse));
        let stamp = match &reuse {
            Reuse::File { path, .. } => crate::results::stamp(&self.roots, path).await,
            _ => None,
        };
        let hit = match &key {
            Some(key) => self.results.lookup(key, &reuse, stamp).await,
            None => None,
        };
        // The arguments are only needed again to retry or for hooks after.
        let again = tool.idempotent()
            || self.hooks.any(HookEvent::PostToolUse)
            || self.hooks.any(HookEvent::PostToolUseFailure);

        // 4–6. Cancellation, retry, executor.
        let mut result = match hit {
            Some(content) => {
                facts.cached = true;
                if let Reuse::File { path, .. } = &reuse {
                    crate::results::mark_read(&self.files, &self.roots, path).await;
                }
                Ok(ToolOutput::text(content))
            }
            None if !again => execute(tool, ctx, std::mem::take(&mut args), cancel).await,
            None => loop {
                let r = execute(tool, ctx, args.clone(), cancel).await;
                match r {
                    Err(ToolError::Transient(e)) if tool.idempotent() && facts.retries < MAX_RETRIES => {
                        let wait =
                            FIRST_BACKOFF * 2u32.pow(facts.retries) + Duration::from_millis(fastrand::u64(..100));
                        tracing::info!(
                            tool = name,
                            attempt = facts.retries + 1,
                            "retrying after a transient failure: {e}"
                        );
                        facts.retries += 1;
                        tokio::select! {
                            () = tokio::time::sleep(wait) => {}
                            () = cancel.cancelled() => break Err(ToolError::Cancelled),
                        }
                    }
                    r => break r,
                }
            },
        };
        if tool.mutates() {
            self.results.mutated();
        }
        self.results.sweep().await;

        // 7. Hooks after.
        let after = self.after_hooks(name, call, &args, &result, cancel).await;
        if let Some(reason) = after.stop.clone() {
            stop = Some(reason);
        }

        // 8. Cache store, and "unchanged since" for what the model has.
        if let (Ok(out), Some(key)) = (&mut result, &key) {
            if out.success && !facts.cached {
                self.results.store(key.clone(), &out.content, stamp).await;
            }
            if out.success
                && out.images.is_empty()
                && let Some(note) = self.results.dedupe(key, &reuse, stamp, (step, &call.id), &out.content)
            {
                out.content = note;
                facts.cached = true;
            }
        }
        facts.ok = matches!(&result, Ok(o) if o.success);
        if let (Ok(out), Some(note)) = (&mut result, guide_note)
            && out.success
        {
            out.content = format!("{}\n\n{note}", out.content);
        }
        // A small model asked to fix a failure gets the code a failed
        // command's failing lines call (guide.rs).
        if let Ok(out) = &mut result
            && let Some(note) = self.failure_note(tool.kind(), out, cancel).await
        {
            out.content = format!("{}\n\n{note}\n", out.content.trim_end());
        }
        Passed { result: apply_after(result, before_context, after, tool.mcp().is_some()), facts, stop }
    }

    /// PostToolUse (the call succeeded) or PostToolUseFailure (it failed).
    async fn after_hooks(
        &self,
        name: &str,
        call: &ToolCall,
        args: &Value,
        result: &Result<ToolOutput, ToolError>,
        cancel: &CancellationToken,
    ) -> Outcome {
        let event = match result {
            Ok(o) if o.success => HookEvent::PostToolUse,
            // An interrupted call is not reported as a failure.
            Err(ToolError::Cancelled) => return Outcome::default(),
            _ => HookEvent::PostToolUseFailure,
        };
        if !self.hooks.any(event) {
            return Outcome::default();
        }
        let (twin, view) = tern_tools::claude_view(name, args);
        let mut fields =
            input([("tool_name", twin.clone().into()), ("tool_input", view), ("tool_use_id", call.id.clone().into())]);
        match result {
            Ok(o) if event == HookEvent::PostToolUse => {
                fields.insert("tool_response".into(), serde_json::json!({"output": o.content, "success": true}));
            }
            Ok(o) => {
                fields.insert("error".into(), o.content.clone().into());
            }
            Err(e) => {
                fields.insert("error".into(), e.to_string().into());
            }
        }
        let o = self.hooks.run(event, &[&twin, name], fields, cancel).await;
        self.show_hooks(&o, Some((&call.id, name))).await;
        o
    }
}

/// Layers 4–6 for one attempt: the executor, stopped by an interrupt.
async fn execute(
    tool: &dyn Tool,
    ctx: &ToolCtx,
    args: Value,
    cancel: &CancellationToken,
) -> Result<ToolOutput, ToolError> {
    let call = tool.call(ctx, args);
    tokio::pin!(call);
    tokio::select! {
        r = &mut call => r,
        // Output held for a busy front goes out once it has room.
        never = ctx.output.send_pending() => match never {},
        () = cancel.cancelled() => {
            // A tool gets a moment to stop cleanly and report (a command
            // says it was killed, with its output); one that ignores its
            // token is dropped.
            tokio::time::timeout(CANCEL_GRACE, call).await.unwrap_or(Err(ToolError::Cancelled))
        }
    }
}

/// What hooks before and after add to the result the model sees: their
/// context and feedback after it, and an MCP result a hook replaced.
fn apply_after(
    result: Result<ToolOutput, ToolError>,
    mut notes: Vec<String>,
    after: Outcome,
    mcp: bool,
) -> Result<ToolOutput, ToolError> {
    notes.extend(after.context);
    if let Some(reason) = after.block {
        notes.push(reason);
    }
    let mut result = result;
    if let (Ok(out), Some(replaced)) = (&mut result, after.updated_output)
        && mcp
    {
        out.content = match replaced {
            Value::String(s) => s,
            other => other.to_string(),
        };
    }
    if notes.is_empty() {
        return result;
    }
    let extra = notes.iter().map(|n| format!("\n\n[hook] {n}")).collect::<String>();
    match result {
        Ok(mut out) => {
            out.content.push_str(&extra);
            Ok(out)
        }
        Err(ToolError::Cancelled) => Err(ToolError::Cancelled),
        Err(e) => Err(ToolError::Failed(format!("{e}{extra}"))),
    }
}
