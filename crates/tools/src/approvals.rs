//! The approval policy: which commands run without asking, which are
//! refused, and which wait for the user (a round trip through the session:
//! `ApprovalRequest` event out, `Approval` op back).

use crate::ToolError;
use futures_util::future::BoxFuture;
use parking_lot::Mutex;
use serde::{Deserialize, Serialize};
use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use tern_protocol::{ApprovalDecision, ApprovalPolicy, ApprovalRequest};
use tern_safety::Verdict;
use tokio_util::sync::CancellationToken;

/// Asks the user (implemented by the session, which owns the round trip).
pub trait Asker: Send + Sync {
    /// Resolves to the user's decision, or `Deny` if `cancel` fires first.
    fn ask<'a>(
        &'a self,
        request: ApprovalRequest,
        cancel: &'a CancellationToken,
    ) -> BoxFuture<'a, (ApprovalDecision, Option<String>)>;
}

/// Command prefixes and tools approved for a workspace, as saved on disk.
#[derive(Debug, Default, Serialize, Deserialize)]
struct Saved {
    workspace: String,
    prefixes: Vec<Vec<String>>,
    /// Tools (by the name the model calls them) approved "always".
    #[serde(default)]
    tools: Vec<String>,
}

/// A "no" to an approval question: the call was interrupted (the question
/// went with it), or the user declined, with why it asked and their note.
fn declined(cancel: &CancellationToken, reason: Option<&str>, note: Option<String>) -> ToolError {
    if cancel.is_cancelled() {
        return ToolError::Cancelled;
    }
    ToolError::Failed(format!(
        "not run: the user declined it{}{}",
        reason.map(|r| format!(" ({r})")).unwrap_or_default(),
        note.map(|n| format!(". {n}")).unwrap_or_default()
    ))
}

/// When a tool other than a command (an MCP server's) asks before it runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ToolGate {
    /// Never (configured so).
    Never,
    /// Always, whatever the policy (configured so); a full-access session still runs it.
    Always,
    /// By the policy: a tool that only reads runs unasked (in read-only
    /// sessions too); others ask in `auto` and are refused in `read-only`.
    ByPolicy { read_only: bool },
}

/// A session's approval state.
pub struct Approvals {
    policy: ApprovalPolicy,
    asker: Arc<dyn Asker>,
    /// Approved command prefixes (this session's, plus saved ones).
    prefixes: Mutex<Vec<Vec<String>>>,
    /// Whole scripts approved for the session (when they are too complex
    /// to split into commands).
    scripts: Mutex<HashSet<String>>,
    /// Tools approved for the session (or saved).
    tools: Mutex<HashSet<String>>,
    /// Where "always" decisions are saved, and for which workspace.
    store: Option<(PathBuf, String)>,
    /// Background saves: bounded in time, ended with the session.
    saves: Mutex<tokio::task::JoinSet<()>>,
}

const SAVE_TIMEOUT: Duration = Duration::from_secs(5);
/// How long the end of a session waits for saves still running.
const FLUSH_TIMEOUT: Duration = Duration::from_secs(2);

impl Approvals {
    /// Approval state for a session. `store` is the rules file and the
    /// workspace it belongs to; saved prefixes are loaded from it.
    /// Blocking (reads the file): call before the runtime or in `spawn_blocking`.
    #[allow(clippy::disallowed_methods)] // see the doc: blocking by contract
    pub fn new(policy: ApprovalPolicy, asker: Arc<dyn Asker>, store: Option<(PathBuf, String)>) -> Self {
        let saved: Saved = store
            .as_ref()
            .and_then(|(path, _)| std::fs::read(path).ok())
            .and_then(|b| serde_json::from_slice::<Saved>(&b).ok())
            .unwrap_or_default();
        Approvals {
            policy,
            asker,
            prefixes: Mutex::new(saved.prefixes),
            scripts: Mutex::new(HashSet::new()),
            tools: Mutex::new(saved.tools.into_iter().collect()),
            store,
            saves: Mutex::new(tokio::task::JoinSet::new()),
        }
    }

    pub fn policy(&self) -> ApprovalPolicy {
        self.policy
    }

    /// Refuses file edits in read-only mode.
    pub fn check_write(&self) -> Result<(), ToolError> {
        match self.policy {
            ApprovalPolicy::ReadOnly => Err(ToolError::Failed(
                "the session is read-only (approval_policy = \"read-only\"); files cannot be changed".into(),
            )),
            _ => Ok(()),
        }
    }

    /// Decides whether `script` may run; asks the user when the policy says so.
    pub async fn check_command(
        &self,
        script: &str,
        cwd: &Path,
        workspace: &Path,
        call_id: &str,
        cancel: &CancellationToken,
    ) -> Result<(), ToolError> {
        if matches!(self.policy, ApprovalPolicy::FullAuto | ApprovalPolicy::FullAccess) {
            return Ok(());
        }
        let parsed = parse_off_runtime(script).await;
        let Verdict::Ask { reason } = tern_safety::classify_parsed(&parsed, cwd, workspace) else { return Ok(()) };
        if self.policy == ApprovalPolicy::ReadOnly {
            return Err(ToolError::Failed(format!(
                "not run: the session is read-only and this command is not known to only read ({reason})"
            )));
        }
        let commands = parsed.ok();
        if self.approved(script, commands.as_deref(), cwd, workspace) {
            return Ok(());
        }
        let request = ApprovalRequest {
            id: format!("approval_{:08x}", fastrand::u32(..)),
            call_id: call_id.to_string(),
            command: script.to_string(),
            cwd: cwd.display().to_string(),
            reason: reason.clone(),
            mcp: None,
        };
        let (decision, note) = self.asker.ask(request, cancel).await;
        match decision {
            ApprovalDecision::Once => Ok(()),
            ApprovalDecision::Session | ApprovalDecision::Always => {
                self.remember(script, commands.as_deref(), decision == ApprovalDecision::Always);
                Ok(())
            }
            ApprovalDecision::Deny => Err(declined(cancel, Some(&reason), note)),
        }
    }

    /// Whether every part of the script is safe or approved before.
    fn approved(&self, script: &str, commands: Option<&[Vec<String>]>, cwd: &Path, workspace: &Path) -> bool {
        if self.scripts.lock().contains(script) {
            return true;
        }
        let Some(commands) = commands else { return false };
        let prefixes = self.prefixes.lock();
        commands.iter().all(|argv| {
            tern_safety::unsafe_reason(argv, cwd, workspace).is_none() || prefixes.iter().any(|p| argv.starts_with(p))
        })
    }

    fn remember(&self, script: &str, commands: Option<&[Vec<String>]>, save: bool) {
        self.scripts.lock().insert(script.to_string());
        let Some(commands) = commands else { return };
        let new: Vec<Vec<String>> = commands.iter().map(|argv| prefix_of(argv)).collect();
        {
            let mut prefixes = self.prefixes.lock();
            for p in new {
                if !prefixes.contains(&p) {
                    prefixes.push(p);
                }
            }
        }
        if save {
            self.save();
        }
    }

    /// Decides whether the MCP tool `name` (`call` says which server and
    /// tool it is) may run; asks the user when `gate` and the policy say so.
    pub async fn check_tool(
        &self,
        name: &str,
        call: tern_protocol::McpCall,
        gate: ToolGate,
        arguments: &str,
        call_id: &str,
        cancel: &CancellationToken,
    ) -> Result<(), ToolError> {
        let reason = match (gate, self.policy) {
            (ToolGate::Never, _) | (_, ApprovalPolicy::FullAccess) => return Ok(()),
            (ToolGate::ByPolicy { read_only: true }, _) => return Ok(()),
            (ToolGate::ByPolicy { read_only: false }, ApprovalPolicy::FullAuto) => return Ok(()),
            (ToolGate::ByPolicy { read_only: false }, ApprovalPolicy::ReadOnly) => {
                return Err(ToolError::Failed(format!(
                    "not run: the session is read-only and `{name}` does not declare itself read-only (readOnlyHint)"
                )));
            }
            (ToolGate::ByPolicy { read_only: false }, ApprovalPolicy::Auto) => {
                "the tool does not declare itself read-only (readOnlyHint)"
            }
            (ToolGate::Always, _) => "its configuration asks for approval of every call (approval_mode = \"prompt\")",
        };
        if gate != ToolGate::Always && self.tools.lock().contains(name) {
            return Ok(());
        }
        let request = ApprovalRequest {
            id: format!("approval_{:08x}", fastrand::u32(..)),
            call_id: call_id.to_string(),
            command: arguments.to_string(),
            cwd: String::new(),
            reason: reason.to_string(),
            mcp: Some(call),
        };
        let (decision, note) = self.asker.ask(request, cancel).await;
        match decision {
            ApprovalDecision::Once => Ok(()),
            ApprovalDecision::Session | ApprovalDecision::Always => {
                self.tools.lock().insert(name.to_string());
                if decision == ApprovalDecision::Always {
                    self.save();
                }
                Ok(())
            }
            ApprovalDecision::Deny => Err(declined(cancel, None, note)),
        }
    }

    /// Asks the user about a call a hook wants confirmed (`permissionDecision:
    /// "ask"`), whatever the policy; an answer is for this call only, as
    /// the hook asks again next time. `command` is the command line or the
    /// arguments; `cwd` is empty for tools that are not commands.
    pub async fn confirm(
        &self,
        command: &str,
        cwd: &str,
        mcp: Option<tern_protocol::McpCall>,
        reason: &str,
        call_id: &str,
        cancel: &CancellationToken,
    ) -> Result<(), ToolError> {
        let request = ApprovalRequest {
            id: format!("approval_{:08x}", fastrand::u32(..)),
            call_id: call_id.to_string(),
            command: command.to_string(),
            cwd: cwd.to_string(),
            reason: reason.to_string(),
            mcp,
        };
        match self.asker.ask(request, cancel).await {
            (ApprovalDecision::Deny, note) => Err(declined(cancel, None, note)),
            _ => Ok(()),
        }
    }

    /// Saves the approved prefixes and tools in the background (bounded).
    fn save(&self) {
        let Some((path, workspace)) = self.store.clone() else { return };
        let mut tools: Vec<String> = self.tools.lock().iter().cloned().collect();
        tools.sort();
        let saved = Saved { workspace, prefixes: self.prefixes.lock().clone(), tools };
        self.saves.lock().spawn(async move {
            let shown = path.display().to_string();
            let write = tokio::task::spawn_blocking(move || {
                let json = serde_json::to_vec_pretty(&saved).map_err(|e| e.to_string())?;
                tern_files::write::atomic_write(&path, &json, Some(0o600)).map_err(|e| e.to_string())
            });
            // A save that cannot finish in time is given up on, not waited for.
            match tokio::time::timeout(SAVE_TIMEOUT, write).await {
                Ok(Ok(Ok(()))) => tracing::debug!(path = shown, "saved the workspace's approvals"),
                Ok(Ok(Err(e))) => tracing::warn!(path = shown, "saving an \"always\" approval: {e}"),
                Ok(Err(e)) => tracing::warn!(path = shown, "saving an \"always\" approval: {e}"),
                Err(_) => tracing::warn!(path = shown, "saving an \"always\" approval took over {SAVE_TIMEOUT:?}"),
            }
        });
    }

    /// Waits (bounded) for pending saves, e.g. before the session ends.
    pub async fn flush(&self) {
        let mut set = std::mem::take(&mut *self.saves.lock());
        let _ = tokio::time::timeout(FLUSH_TIMEOUT, async { while set.join_next().await.is_some() {} }).await;
    }
}

/// Programs whose first argument is a subcommand worth approving on its own.
const SUBCOMMAND_TOOLS: &[&str] = &[
    "cargo",
    "git",
    "npm",
    "npx",
    "pnpm",
    "yarn",
    "bun",
    "deno",
    "go",
    "make",
    "docker",
    "kubectl",
    "pip",
    "pip3",
    "uv",
    "poetry",
    "dotnet",
    "mvn",
    "gradle",
    "rustup",
    "just",
    "nix",
    "brew",
    "apt",
    "apt-get",
    "systemctl",
];

/// Scripts up to this many bytes are parsed where they are asked about:
/// ordinary commands parse in microseconds. Longer ones go to the
/// blocking pool, since tree-sitter's error recovery on a malformed script
/// near the 4 KB cap (`tern_safety`'s `MAX_SCRIPT`) took tens of
/// milliseconds, too long for a runtime thread.
pub const INLINE_PARSE: usize = 256;

/// [`tern_safety::parse_commands`], off the runtime's threads when long.
async fn parse_off_runtime(script: &str) -> Result<Vec<Vec<String>>, String> {
    if script.len() <= INLINE_PARSE {
        return tern_safety::parse_commands(script);
    }
    let owned = script.to_string();
    tokio::task::spawn_blocking(move || tern_safety::parse_commands(&owned))
        .await
        .unwrap_or_else(|e| Err(format!("the command could not be parsed ({e})")))
}

/// The prefix an approval covers: the program, plus its subcommand for
/// tools that have them (`cargo test`, `npm run`), so approving
/// `cargo test` does not approve `cargo publish`.
fn prefix_of(argv: &[String]) -> Vec<String> {
    match argv {
        [prog, sub, ..] if SUBCOMMAND_TOOLS.contains(&prog.as_str()) && !sub.starts_with('-') => {
            vec![prog.clone(), sub.clone()]
        }
        [prog, ..] => vec![prog.clone()],
        [] => vec![],
    }
}

#[cfg(test)]
#[allow(clippy::disallowed_methods, clippy::unwrap_used)] // tests may block
mod tests {
    use super::*;

    /// Answers every request with one decision and counts the questions.
    struct Fixed(ApprovalDecision, std::sync::atomic::AtomicUsize);

    impl Asker for Fixed {
        fn ask<'a>(
            &'a self,
            _: ApprovalRequest,
            _: &'a CancellationToken,
        ) -> BoxFuture<'a, (ApprovalDecision, Option<String>)> {
            self.1.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            Box::pin(async move { (self.0, Some("because".into())) })
        }
    }

    fn asked(a: &Fixed) -> usize {
        a.1.load(std::sync::atomic::Ordering::SeqCst)
    }

    #[tokio::test]
    async fn modes_and_remembered_prefixes() {
        let ws = Path::new("/w");
        let c = CancellationToken::new();
        let deny = Arc::new(Fixed(ApprovalDecision::Deny, Default::default()));
        let a = Approvals::new(ApprovalPolicy::Auto, deny.clone(), None);
        assert!(a.check_command("ls -la", ws, ws, "c", &c).await.is_ok());
        let e = a.check_command("cargo test", ws, ws, "c", &c).await.unwrap_err().to_string();
        assert!(e.contains("declined") && e.contains("because"), "{e}");
        assert_eq!(asked(&deny), 1);

        let ro = Approvals::new(ApprovalPolicy::ReadOnly, deny.clone(), None);
        assert!(ro.check_command("cargo test", ws, ws, "c", &c).await.unwrap_err().to_string().contains("read-only"));
        assert!(ro.check_write().is_err());
        assert_eq!(asked(&deny), 1, "read-only refuses without asking");

        let full = Approvals::new(ApprovalPolicy::FullAccess, deny.clone(), None);
        assert!(full.check_command("rm -rf /tmp/x", ws, ws, "c", &c).await.is_ok());
        let full_auto = Approvals::new(ApprovalPolicy::FullAuto, deny.clone(), None);
        assert!(full_auto.check_command("cargo build", ws, ws, "c", &c).await.is_ok());
        assert!(full_auto.check_write().is_ok());
        assert_eq!(asked(&deny), 1, "full-auto runs commands without asking (the sandbox confines them)");

        let dir = tempfile::tempdir().unwrap();
        let store = dir.path().join("rules.json");
        let always = Arc::new(Fixed(ApprovalDecision::Always, Default::default()));
        let a = Approvals::new(ApprovalPolicy::Auto, always.clone(), Some((store.clone(), "/w".into())));
        assert!(a.check_command("cargo test --all && ls", ws, ws, "c", &c).await.is_ok());
        assert!(a.check_command("cargo test -p x", ws, ws, "c", &c).await.is_ok());
        assert_eq!(asked(&always), 1, "the prefix `cargo test` is remembered");
        assert!(a.check_command("cargo build", ws, ws, "c", &c).await.is_ok());
        assert_eq!(asked(&always), 2);
        a.flush().await;
        let again = Approvals::new(ApprovalPolicy::Auto, deny.clone(), Some((store, "/w".into())));
        assert!(again.check_command("cargo test", ws, ws, "c", &c).await.is_ok(), "saved for the workspace");
        assert!(again.check_command("npm install", ws, ws, "c", &c).await.is_err());
    }

    /// A long script is parsed on the blocking pool, with the same verdicts.
    #[tokio::test(flavor = "current_thread")]
    async fn long_scripts_get_the_same_verdicts() {
        let ws = Path::new("/w");
        let c = CancellationToken::new();
        let deny = Arc::new(Fixed(ApprovalDecision::Deny, Default::default()));
        let a = Approvals::new(ApprovalPolicy::Auto, deny.clone(), None);
        let reads = format!("ls {}", "src ".repeat(INLINE_PARSE));
        assert!(reads.len() > INLINE_PARSE);
        assert!(a.check_command(&reads, ws, ws, "c", &c).await.is_ok());
        assert_eq!(asked(&deny), 0);
        assert!(a.check_command(&format!("{reads}; rm -rf x"), ws, ws, "c", &c).await.is_err());
        assert_eq!(asked(&deny), 1);
    }
}
