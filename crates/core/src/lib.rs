//! tern's engine. It knows no front end: fronts send [`Op`]s into a
//! [`SessionHandle`] and render the [`Event`]s that come out.
//!
//! One session is one task, owned by its handle (dropping the handle ends
//! it). A turn runs inside that task: it streams the model's response,
//! runs the tool calls the model asks for, feeds the results back, and
//! repeats until the model answers without tools. Cancellation is one
//! tree: session → turn → tool call → child process.

mod asker;
mod instructions;
mod lag;
pub mod log;
mod prompt;
mod session;
mod turn;

pub use log::{SessionSummary, list_sessions};

use tern_config::Config;
use tern_protocol::{Event, Op};
use tokio::sync::mpsc;
use tokio_util::task::AbortOnDropHandle;

/// Where a session's checkpoints (original bytes of changed files) live.
pub fn checkpoint_dir(data_dir: &std::path::Path, session_id: &str) -> std::path::PathBuf {
    data_dir.join("checkpoints").join(session_id)
}

/// A restored path, relative to the workspace when inside it.
pub fn restored_path(ws: &std::path::Path, r: &tern_files::checkpoint::Restored) -> String {
    let (tern_files::checkpoint::Restored::Restored(p) | tern_files::checkpoint::Restored::Removed(p)) = r;
    p.strip_prefix(ws).unwrap_or(p).display().to_string()
}

/// Which conversation a session starts from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Resume {
    /// A new, empty session.
    New,
    /// The most recent session recorded for this working directory.
    Last,
    /// A session by id (or unique id prefix).
    Id(String),
}

/// Errors that stop a session from starting.
#[derive(Debug, thiserror::Error)]
pub enum CoreError {
    #[error("{0}")]
    Model(#[from] tern_llm::LlmError),
    #[error("{0}")]
    Local(tern_local::LocalError),
    #[error("no session found with id `{0}`; `tern sessions list` shows the ones on disk")]
    SessionNotFound(String),
    #[error("session id prefix `{0}` matches several sessions; give more of the id")]
    AmbiguousSession(String),
    #[error("no earlier session for {0}; start one with `tern exec \"…\"`")]
    NoSessions(String),
    #[error("session log {path}: {reason}")]
    Log { path: String, reason: String },
    #[error("workspace {path}: {reason}")]
    Workspace { path: String, reason: String },
    #[error(
        "{0}; tern will not run commands unconfined without being told. Pass --no-sandbox (or set sandbox = false) \
         to run them without the sandbox, or use approval_policy = \"full-access\""
    )]
    Sandbox(String),
}

/// A running session: send ops, receive events. Dropping it ends the
/// session task (after which its log has been flushed only if a
/// [`Op::Shutdown`] was processed; send one for an orderly end).
pub struct SessionHandle {
    pub ops: mpsc::Sender<Op>,
    pub events: mpsc::Receiver<Event>,
    task: AbortOnDropHandle<()>,
}

impl SessionHandle {
    /// Waits until the session task has finished.
    pub async fn join(self) {
        let SessionHandle { ops, events, task } = self;
        drop(ops);
        drop(events);
        let _ = task.await;
    }
}

/// Starts a session in the working directory of `config`, with the
/// standard tools.
pub async fn start(config: Config, resume: Resume) -> Result<SessionHandle, CoreError> {
    let tools = standard_tools(&config);
    start_with_tools(config, resume, tools).await
}

/// The tools a session with `config` offers: the small-model profile or Codex's.
fn standard_tools(config: &Config) -> tern_tools::Registry {
    match config.model_info.tools.as_str() {
        "small" => tern_tools::Registry::small_profile(),
        _ => tern_tools::Registry::codex_profile(),
    }
}

/// Gets the model ready for sessions in `config`'s working directory
/// without starting one (`tern models --prepare`): the local model
/// evaluates the system prompt and tools once and saves the result, so the
/// first turn of every later session pays only for its own messages.
/// Returns whether there was anything to prepare.
pub async fn prepare(config: Config) -> Result<bool, CoreError> {
    let tools = standard_tools(&config);
    session::prepare(config, tools).await
}

/// Starts a session offering `tools` to the model.
pub async fn start_with_tools(
    config: Config,
    resume: Resume,
    tools: tern_tools::Registry,
) -> Result<SessionHandle, CoreError> {
    let (op_tx, op_rx) = mpsc::channel(32);
    let (ev_tx, ev_rx) = mpsc::channel(256);
    let session = session::Session::open(config, resume, tools, ev_tx).await?;
    let task = AbortOnDropHandle::new(tokio::spawn(session.run(op_rx)));
    Ok(SessionHandle { ops: op_tx, events: ev_rx, task })
}
