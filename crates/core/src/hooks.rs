//! The session's hooks at its own events (start, prompt, stop,
//! compaction, end); tool calls' hooks are layers of the pipeline.

use crate::session::Session;
use serde_json::{Map, Value};
use std::path::Path;
use tern_config::Config;
use tern_hooks::{HookEnv, Hooks, Outcome};
use tern_protocol::{ApprovalPolicy, Event, HookEvent};
use tokio_util::sync::CancellationToken;

/// How long SessionEnd hooks may hold up the end of a session.
const SESSION_END_LIMIT: std::time::Duration = std::time::Duration::from_secs(10);

/// Claude Code's name for an approval policy (`permission_mode`).
fn permission_mode(policy: ApprovalPolicy) -> &'static str {
    match policy {
        ApprovalPolicy::ReadOnly => "plan",
        ApprovalPolicy::Auto => "default",
        ApprovalPolicy::FullAuto => "acceptEdits",
        ApprovalPolicy::FullAccess => "bypassPermissions",
    }
}

/// The hooks of a session with this id and log.
pub(crate) fn for_session(config: &Config, workspace: &Path, id: &str, log: &Path) -> Hooks {
    let env = HookEnv {
        project_dir: workspace.to_path_buf(),
        session_id: id.to_string(),
        transcript_path: log.display().to_string(),
        permission_mode: permission_mode(config.approval_policy),
    };
    Hooks::new(&config.hooks, env)
}

/// An event's own fields, as a hook's input.
pub(crate) fn input<const N: usize>(fields: [(&str, Value); N]) -> Map<String, Value> {
    fields.into_iter().map(|(k, v)| (k.to_string(), v)).collect()
}

impl Session {
    /// Runs `event`'s hooks (when there are any) and shows what they did.
    pub(crate) async fn hook(
        &self,
        event: HookEvent,
        targets: &[&str],
        fields: Map<String, Value>,
        cancel: &CancellationToken,
    ) -> Outcome {
        if !self.hooks.any(event) {
            return Outcome::default();
        }
        let outcome = self.hooks.run(event, targets, fields, cancel).await;
        self.show_hooks(&outcome, None).await;
        outcome
    }

    /// Tells the front what hooks did (`call`: the tool call's id and name).
    pub(crate) async fn show_hooks(&self, outcome: &Outcome, call: Option<(&str, &str)>) {
        for run in &outcome.runs {
            let mut run = run.clone();
            if let Some((id, tool)) = call {
                run.call_id = Some(id.to_string());
                run.tool = Some(tool.to_string());
            }
            tracing::info!(session = %self.id, event = run.event.name(), effect = ?run.effect, command = %run.command, "hook");
            self.emit(Event::Hook(run)).await;
        }
    }

    /// SessionStart (`startup` or `resume`), after what tern could not load is said.
    pub(crate) async fn session_start_hooks(&mut self, resumed: bool) {
        for note in &self.config.hook_notes {
            self.emit(Event::Warning { message: note.clone() }).await;
        }
        let source = if resumed { "resume" } else { "startup" };
        let fields = input([("source", source.into()), ("model", self.config.model.clone().into())]);
        let start = self.hook(HookEvent::SessionStart, &[source], fields, &CancellationToken::new()).await;
        self.keep_context(&start, HookEvent::SessionStart);
    }

    /// SessionEnd, with why (`prompt_input_exit`: the user quit; `other`).
    /// tern is exiting: the hooks get at most [`SESSION_END_LIMIT`].
    pub(crate) async fn session_end_hooks(&self, reason: &str) {
        let fields = input([("reason", reason.into())]);
        let never = CancellationToken::new();
        // Dropped at the limit: each hook's process tree ends with it.
        let targets = [reason];
        let hooks = self.hook(HookEvent::SessionEnd, &targets, fields, &never);
        if tokio::time::timeout(SESSION_END_LIMIT, hooks).await.is_err() {
            tracing::warn!(session = %self.id, "SessionEnd hooks ran past {SESSION_END_LIMIT:?} and were ended");
        }
    }

    /// Context hooks gave, for the model with the next user message.
    pub(crate) fn keep_context(&mut self, outcome: &Outcome, event: HookEvent) {
        for c in &outcome.context {
            self.hook_context.push(format!("[{} hook] {c}", event.name()));
        }
    }
}
