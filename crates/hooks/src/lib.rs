//! Hooks: the user's commands run at points of a session, with Claude
//! Code's input on stdin and Claude Code's meaning of exit codes and JSON
//! output, so a hook written for Claude Code (or Codex) works unchanged.
//!
//! All the hooks that match an event run at once; their answers are
//! combined (a block or deny from any wins). tern adds one thing:
//! `fail_closed`, which turns a guard that crashes or hangs into a block
//! where Claude Code would let the action through.

mod reply;
mod run;

pub use reply::{Outcome, Permission};

use futures_util::future::{BoxFuture, join_all};
use regex::Regex;
use serde_json::{Map, Value};
use std::path::PathBuf;
use tern_config::HookConfig;
use tern_protocol::{HookEffect, HookEvent, HookRun};
use tokio_util::sync::CancellationToken;

/// What every hook's input says about the session.
#[derive(Debug, Clone)]
pub struct HookEnv {
    /// The workspace: hooks run there, and see it as `CLAUDE_PROJECT_DIR`.
    pub project_dir: PathBuf,
    pub session_id: String,
    /// The session's log (tern's JSONL, not Claude Code's transcript format).
    pub transcript_path: String,
    /// Claude Code's name for the approval policy (`default`, `plan`, …).
    pub permission_mode: &'static str,
}

struct Hook {
    config: HookConfig,
    matcher: Matcher,
}

enum Matcher {
    All,
    /// Anchored: `Bash` matches `Bash` only, as in Claude Code.
    Regex(Regex),
    /// Did not compile (the configuration check should have said so).
    Broken,
}

/// A session's hooks.
pub struct Hooks {
    hooks: Vec<Hook>,
    env: HookEnv,
}

impl Hooks {
    /// The hooks of `configs` (their matchers were checked when the
    /// configuration loaded; one that does not compile never matches).
    pub fn new(configs: &[HookConfig], env: HookEnv) -> Hooks {
        let hooks = configs
            .iter()
            .map(|c| Hook {
                matcher: match &c.matcher {
                    None => Matcher::All,
                    Some(m) => Regex::new(&format!("^(?:{m})$")).map_or_else(
                        |e| {
                            tracing::warn!("hook matcher `{m}` from {}: {e}", c.source);
                            Matcher::Broken
                        },
                        Matcher::Regex,
                    ),
                },
                config: c.clone(),
            })
            .collect();
        Hooks { hooks, env }
    }

    /// Whether any hook is configured for `event` (nothing to build or run otherwise).
    pub fn any(&self, event: HookEvent) -> bool {
        self.hooks.iter().any(|h| h.config.event == event)
    }

    /// How many hooks there are, for `/status`.
    pub fn len(&self) -> usize {
        self.hooks.len()
    }

    pub fn is_empty(&self) -> bool {
        self.hooks.is_empty()
    }

    /// Runs every hook of `event` whose matcher matches one of `targets`
    /// (tool events: Claude Code's name of the tool and tern's; others:
    /// the event's source, trigger or type), all at once, with `input`
    /// plus the common fields on stdin. Events whose hooks Claude Code
    /// does not match (`UserPromptSubmit`, `Stop`) pass no targets and
    /// run them all.
    ///
    /// Boxed: one copy of this future serves every event's call site.
    pub fn run<'a>(
        &'a self,
        event: HookEvent,
        targets: &'a [&'a str],
        input: Map<String, Value>,
        cancel: &'a CancellationToken,
    ) -> BoxFuture<'a, Outcome> {
        Box::pin(self.run_inner(event, targets, input, cancel))
    }

    async fn run_inner(
        &self,
        event: HookEvent,
        targets: &[&str],
        mut input: Map<String, Value>,
        cancel: &CancellationToken,
    ) -> Outcome {
        let chosen: Vec<&Hook> = self
            .hooks
            .iter()
            .filter(|h| h.config.event == event)
            .filter(|h| match &h.matcher {
                Matcher::All => true,
                Matcher::Broken => false,
                Matcher::Regex(_) if targets.is_empty() => true,
                Matcher::Regex(m) => targets.iter().any(|t| m.is_match(t)),
            })
            .collect();
        if chosen.is_empty() {
            return Outcome::default();
        }
        let common = [
            ("session_id", Value::from(self.env.session_id.clone())),
            ("transcript_path", self.env.transcript_path.clone().into()),
            ("cwd", self.env.project_dir.display().to_string().into()),
            ("permission_mode", self.env.permission_mode.into()),
            ("hook_event_name", event.name().into()),
        ];
        for (k, v) in common {
            input.insert(k.into(), v);
        }
        let stdin = serde_json::to_vec(&Value::Object(input)).unwrap_or_default();
        let env = self.process_env();
        let runs = chosen.iter().map(|h| {
            let c = &h.config;
            run::run(&c.command, &self.env.project_dir, env.clone(), &stdin, c.timeout, cancel)
        });
        let ran = join_all(runs).await;
        let mut outcome = Outcome::default();
        for (hook, ran) in chosen.iter().zip(ran) {
            tracing::debug!(event = event.name(), command = %hook.config.command, exit = ?ran.exit, "hook ran");
            outcome.add(event, &hook.config, ran);
        }
        outcome
    }

    /// The environment hooks run with: tern's own (hooks are the user's
    /// programs, as in Claude Code) plus `CLAUDE_PROJECT_DIR`.
    fn process_env(&self) -> Vec<(String, String)> {
        let dir = self.env.project_dir.display().to_string();
        let mut env: Vec<(String, String)> = std::env::vars().filter(|(k, _)| k != "CLAUDE_PROJECT_DIR").collect();
        env.push(("CLAUDE_PROJECT_DIR".into(), dir));
        env
    }
}

/// A short form of `text` for the transcript.
fn shorten(text: &str) -> String {
    let text = text.trim();
    let head = head(text, 600);
    if head.len() == text.len() { head.to_string() } else { format!("{head}…") }
}

/// At most `max` bytes of `text`, cut at a character boundary.
fn head(text: &str, max: usize) -> &str {
    let mut end = max.min(text.len());
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

/// A notable run, for the front.
fn noted(event: HookEvent, config: &HookConfig, effect: HookEffect, message: Option<&str>, ms: u64) -> HookRun {
    HookRun {
        event,
        command: config.command.clone(),
        effect,
        message: message.map(shorten).filter(|m| !m.is_empty()),
        call_id: None,
        tool: None,
        duration_ms: ms,
    }
}
