//! The tools a model can call, behind one trait, and the registry that
//! offers them.
//!
//! A tool declares whether it mutates anything; the agent loop runs the
//! read-only calls of one model response concurrently and the others in
//! order. Blocking work (file reads, walks, searches) runs in
//! `spawn_blocking` and polls the call's cancellation token.

pub mod approvals;
mod built;
mod claude;
mod definitions;
mod deltas;
mod edit;
mod exec_command;
pub mod failing;
mod glob_files;
mod grep_files;
mod list_dir;
pub mod nearby;
mod path;
mod processes;
mod read_file;
pub mod relevant;
mod small;
mod tally;
mod update_plan;
mod write_stdin;

pub use claude::{claude_view, from_claude_view};
pub use definitions::is_test;
pub use deltas::{DeltaCounters, DeltaSink, OUTPUT_PENDING_CAP};
pub use edit::apply_patch::{PatchReport, apply_patch};
pub use edit::edit_file::without_numbers;
pub use edit::repeats::{Merged, Repeat, merged, repeated_after};
pub use path::{Workspace, normalize, resolve_for_read, resolve_in_workspace};
pub use processes::Processes;
pub use tern_files::FileState;

use futures_util::future::BoxFuture;
use std::borrow::Cow;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
pub use tern_protocol::ToolKind;
use tern_protocol::{CommandOutcome, FileChange, PlanItem};
use tokio_util::sync::CancellationToken;

/// What a tool call may use.
pub struct ToolCtx {
    /// Where tools may work; paths outside it are refused.
    pub workspace: Arc<Workspace>,
    /// Cancelled when the call's turn is interrupted.
    pub cancel: CancellationToken,
    pub exec_timeout: Duration,
    pub output_cap: usize,
    /// Where live output goes (command output deltas).
    pub output: DeltaSink,
    /// The item id of this call's events.
    pub item_id: String,
    /// Read stamps and checkpoints, shared by the session's tools.
    pub files: Arc<FileState>,
    /// Where large command output is saved in full (readable by the tools).
    pub spool_dir: Option<PathBuf>,
    /// Interactive processes kept between calls (exec_command / write_stdin).
    pub processes: Arc<Processes>,
    /// The approval policy and its round trip to the user.
    pub approvals: Arc<approvals::Approvals>,
    /// The id of this call (for approval requests).
    pub call_id: String,
    /// How commands are confined, when they are.
    pub sandbox: Option<tern_process::Sandbox>,
    /// Variables removed from the commands' environment (the API keys).
    pub hidden_env: Arc<[String]>,
}

impl ToolCtx {
    /// Sends live output without ever waiting (see [`DeltaSink`]): a slow
    /// front gets it merged, at worst without its oldest bytes, and never
    /// loses the result (the full output is in the call's end event).
    pub fn output_delta(&self, bytes: &[u8]) {
        self.output.push(&String::from_utf8_lossy(bytes));
    }
}

/// A tool's result, as the model will see it, plus what fronts need.
#[derive(Debug, Clone, Default)]
pub struct ToolOutput {
    pub content: String,
    pub success: bool,
    /// It worked and found nothing (a search without a match).
    pub empty: bool,
    pub command: Option<CommandOutcome>,
    pub plan: Option<(Option<String>, Vec<PlanItem>)>,
    /// Files the call changed.
    pub changes: Vec<FileChange>,
    /// Images for the model (an MCP tool's), when it takes images.
    pub images: Vec<tern_protocol::Image>,
}

impl ToolOutput {
    /// A successful result with this text.
    pub fn text(content: impl Into<String>) -> Self {
        ToolOutput { content: content.into(), success: true, ..Default::default() }
    }

    /// A successful result that changed files.
    pub fn changed(content: impl Into<String>, changes: Vec<FileChange>) -> Self {
        ToolOutput { changes, ..Self::text(content) }
    }
}

/// Why a tool call failed. The message is written for the model.
#[derive(Debug, thiserror::Error)]
pub enum ToolError {
    #[error("invalid arguments: {0}")]
    InvalidArgs(String),
    #[error("{0} is outside the workspace {1}; only paths inside it can be used")]
    OutsideWorkspace(String, String),
    #[error("{0}")]
    Failed(String),
    /// A file change could not be made (nothing was written).
    #[error(transparent)]
    Files(#[from] tern_files::FilesError),
    /// A command could not be started or talked to.
    #[error(transparent)]
    Process(#[from] tern_process::ExecError),
    /// The patch does not apply.
    #[error(transparent)]
    Patch(#[from] tern_patch::ApplyError),
    #[error("internal error: {0}")]
    Internal(#[from] tokio::task::JoinError),
    #[error("the call was cancelled")]
    Cancelled,
    /// A failure that may pass if the call is repeated (the connection to
    /// an HTTP server failed); idempotent tools are retried.
    #[error("{0}")]
    Transient(String),
    #[error("unknown tool `{0}`; available tools: {1}")]
    Unknown(String, String),
}

/// The JSON Schema and description offered to the model.
#[derive(Debug, Clone)]
pub struct ToolSchema {
    pub name: Cow<'static, str>,
    pub description: Cow<'static, str>,
    pub parameters: serde_json::Value,
}

/// One model-facing tool.
pub trait Tool: Send + Sync {
    fn name(&self) -> &str;
    fn schema(&self) -> ToolSchema;
    /// What kind of thing the tool does (fronts show calls by kind).
    fn kind(&self) -> ToolKind {
        ToolKind::Other
    }
    /// Whether the tool can change files or run arbitrary commands.
    fn mutates(&self) -> bool;
    /// Whether this call may run at the same time as the other
    /// parallel-safe calls of one model response: decided per call, so a
    /// command known to only read (`rg`, `git status`) runs alongside
    /// reads. `workspace` is the root commands start in.
    fn parallel_safe(&self, args: &serde_json::Value, workspace: &std::path::Path) -> bool {
        let _ = (args, workspace);
        !self.mutates()
    }
    /// The command line and working directory (as given, relative to the
    /// workspace), for tools that run a command; shown by fronts.
    fn command_line(&self, _args: &serde_json::Value) -> Option<(String, String)> {
        None
    }
    /// For an MCP server's tool: the server and the tool's own name.
    fn mcp(&self) -> Option<tern_protocol::McpCall> {
        None
    }
    /// Whether this call may run under the approval policy, asking the
    /// user when the policy says so. The pipeline calls it before `call`
    /// (unless a hook has decided); the default lets every call run.
    fn approve<'a>(&'a self, ctx: &'a ToolCtx, args: &'a serde_json::Value) -> BoxFuture<'a, Result<(), ToolError>> {
        let _ = (ctx, args);
        Box::pin(std::future::ready(Ok(())))
    }
    /// Whether the same call with the same arguments gives the same result
    /// and may be repeated after a transient failure (MCP tools that say so).
    fn idempotent(&self) -> bool {
        false
    }
    fn call<'a>(&'a self, ctx: &'a ToolCtx, args: serde_json::Value) -> BoxFuture<'a, Result<ToolOutput, ToolError>>;
}

/// The tools offered in a session.
pub struct Registry {
    tools: Vec<Box<dyn Tool>>,
    /// Tools from elsewhere (MCP servers), replaced as they come and go.
    extra: Vec<Arc<dyn Tool>>,
    /// Names of `extra` tools that can be called but whose schemas are not
    /// offered (lazy MCP tools not loaded yet).
    hidden: std::collections::BTreeSet<String>,
}

impl Registry {
    /// The Codex-style vocabulary (exec_command, write_stdin, apply_patch,
    /// read_file, list_dir, grep_files, update_plan) plus edit_file and
    /// write_file for models that prefer search/replace edits.
    pub fn codex_profile() -> Self {
        Registry {
            extra: Vec::new(),
            hidden: Default::default(),
            tools: vec![
                Box::new(exec_command::ExecCommand),
                Box::new(write_stdin::WriteStdin),
                Box::new(edit::apply_patch::ApplyPatch),
                Box::new(edit::edit_file::EditFile),
                Box::new(edit::write_file::WriteFile),
                Box::new(read_file::ReadFile),
                Box::new(list_dir::ListDir),
                Box::new(grep_files::GrepFiles),
                Box::new(update_plan::UpdatePlan),
            ],
        }
    }

    /// A registry of exactly these tools (embedders, extra tool sources, tests).
    pub fn with_tools(tools: Vec<Box<dyn Tool>>) -> Self {
        Registry { tools, extra: Vec::new(), hidden: Default::default() }
    }

    /// Replaces the tools that come from elsewhere (MCP servers); the
    /// built-in ones stay.
    /// `hidden` names those that are callable without their schemas offered.
    pub fn set_extra(&mut self, extra: Vec<Arc<dyn Tool>>, hidden: std::collections::BTreeSet<String>) {
        self.extra = extra;
        self.hidden = hidden;
    }

    /// Whether `name` is callable but its schema not offered.
    pub fn is_hidden(&self, name: &str) -> bool {
        self.hidden.contains(name)
    }

    fn all(&self) -> impl Iterator<Item = &dyn Tool> {
        self.tools.iter().map(|b| b.as_ref()).chain(self.extra.iter().map(|a| a.as_ref()))
    }

    /// The schemas offered to the model.
    pub fn schemas(&self) -> Vec<ToolSchema> {
        self.all().filter(|t| !self.hidden.contains(t.name())).map(|t| t.schema()).collect()
    }

    pub fn get(&self, name: &str) -> Option<&dyn Tool> {
        self.all().find(|t| t.name() == name)
    }

    /// The unknown-tool error, listing what exists.
    pub fn unknown(&self, name: &str) -> ToolError {
        let names: Vec<_> = self.all().map(|t| t.name()).collect();
        ToolError::Unknown(name.to_string(), names.join(", "))
    }
}

/// Parses tool arguments, with an error the model can act on.
pub(crate) fn parse_args<T: serde::de::DeserializeOwned>(args: serde_json::Value) -> Result<T, ToolError> {
    serde_json::from_value(args)
        .map_err(|e| ToolError::InvalidArgs(format!("{e}; send a JSON object matching the tool's schema")))
}

/// Runs blocking work (file system, walks) off the runtime threads, with
/// the workspace root and the call's cancellation token.
pub(crate) async fn blocking<T: Send + 'static>(
    ctx: &ToolCtx,
    f: impl FnOnce(&Workspace, &CancellationToken) -> Result<T, ToolError> + Send + 'static,
) -> Result<T, ToolError> {
    let workspace = ctx.workspace.clone();
    let cancel = ctx.cancel.clone();
    tokio::task::spawn_blocking(move || f(&workspace, &cancel)).await.map_err(ToolError::Internal)?
}
