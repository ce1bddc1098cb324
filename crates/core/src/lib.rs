//! tern's engine. It knows no front end: fronts send [`Op`]s into a
//! [`SessionHandle`] and render the [`Event`]s that come out.
//!
//! One session is one task, owned by its handle (dropping the handle ends
//! it). A turn runs inside that task: it streams the model's response,
//! runs the tool calls the model asks for, feeds the results back, and
//! repeats until the model answers without tools. Cancellation is one
//! tree: session → turn → tool call → child process.

mod asker;
mod compact;
mod diff;
mod figures;
mod guide;
mod hooks;
mod instructions;
mod lag;
mod log;
mod offer;
mod pipeline;
mod prompt;
mod refuse;
mod replay;
mod request;
mod results;
pub mod retention;
mod session;
mod slip;
mod turn;

pub use diff::session_changes;
pub use lag::LagHistogram;
/// The loader resume uses, for the fuzz target (`fuzz/`) and its tests.
#[doc(hidden)]
pub use log::{Loaded, load as load_session_log};
pub use log::{LogError, SessionSummary, find_session, list_sessions, sessions_dir, turn_prompts};
pub use replay::{Replayed, replay, replay_newest};

use futures_util::future::BoxFuture;
use std::path::PathBuf;
use tern_config::{Config, ToolProfile};
use tern_llm::{LlmError, ModelClient};
use tern_protocol::{Event, Op};
use tokio::sync::mpsc;
use tokio_util::task::AbortOnDropHandle;

/// Where a session's checkpoints (original bytes of changed files) live.
pub fn checkpoint_dir(data_dir: &std::path::Path, session_id: &str) -> std::path::PathBuf {
    data_dir.join("checkpoints").join(session_id)
}

/// A restored path, relative to the workspace when inside it.
pub fn restored_path(ws: &std::path::Path, r: &tern_files::checkpoint::Restored) -> String {
    let p = r.path();
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
    /// A new session starting from a copy of another's conversation (by id
    /// or unique prefix): its first `turns` turns, or all of it. The
    /// original is left as it was.
    Fork { id: String, turns: Option<usize> },
}

/// Errors that stop a session from starting.
#[derive(Debug, thiserror::Error)]
pub enum CoreError {
    /// The model client could not be built (or the model cannot be used).
    #[error("{0}")]
    Model(#[from] LlmError),
    #[error("no session found with id `{0}`; `tern sessions list` shows the ones on disk")]
    SessionNotFound(String),
    #[error("session id prefix `{0}` matches several sessions; give more of the id")]
    AmbiguousSession(String),
    #[error("no earlier session for {0}; start one with `tern exec \"…\"`")]
    NoSessions(String),
    #[error("session log {}: {source}", path.display())]
    Log {
        path: PathBuf,
        #[source]
        source: LogError,
    },
    #[error("workspace {}: {source}{note}", path.display())]
    Workspace {
        path: PathBuf,
        #[source]
        source: std::io::Error,
        /// Where the path came from, when not the working directory.
        note: &'static str,
    },
    #[error(
        "{0}; tern will not run commands unconfined without being told. Pass --no-sandbox (or set sandbox = false) \
         to run them without the sandbox, or use approval_policy = \"full-access\""
    )]
    Sandbox(#[source] tern_sandbox::SandboxError),
    #[error(
        "no sandbox helper is available to this program; pass --no-sandbox (or set sandbox = false) to run \
         commands without the sandbox"
    )]
    NoSandboxHelper,
    #[error("internal error: {0}")]
    Internal(#[from] tokio::task::JoinError),
}

/// Builds the model client a configuration names. The binary supplies it:
/// which clients exist (the embedded model, or a build without it) is
/// decided where they are linked, and the core uses what it is given.
pub trait Connector: Send + Sync {
    fn connect<'a>(&'a self, config: &'a Config) -> BoxFuture<'a, Result<Box<dyn ModelClient>, LlmError>>;
}

/// The providers served over HTTP (every wire API but the embedded
/// model), built off the runtime threads.
pub struct HttpConnector;

impl Connector for HttpConnector {
    fn connect<'a>(&'a self, config: &'a Config) -> BoxFuture<'a, Result<Box<dyn ModelClient>, LlmError>> {
        let config = config.clone();
        Box::pin(async move {
            tokio::task::spawn_blocking(move || tern_llm::connect(&config)).await.map_err(|e| {
                LlmError::new(tern_llm::ErrorKind::Unavailable, format!("building the model client: {e}")).caused_by(e)
            })?
        })
    }
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
/// standard tools and the model client `connector` builds.
pub async fn start(config: Config, resume: Resume, connector: &dyn Connector) -> Result<SessionHandle, CoreError> {
    let tools = standard_tools(&config);
    start_with_tools(config, resume, tools, connector).await
}

/// The tools a session with `config` offers: the profile its model's catalog entry names.
fn standard_tools(config: &Config) -> tern_tools::Registry {
    match config.model_info.tools {
        ToolProfile::Small => tern_tools::Registry::small_profile(),
        ToolProfile::Codex => tern_tools::Registry::codex_profile(),
        ToolProfile::Claude => tern_tools::Registry::claude_profile(),
    }
}

/// Gets the model ready for sessions in `config`'s working directory
/// without starting one (`tern models --prepare`): the local model
/// evaluates the system prompt and tools once and saves the result, so the
/// first turn of every later session pays only for its own messages.
/// Returns whether there was anything to prepare.
pub async fn prepare(config: Config, connector: &dyn Connector) -> Result<bool, CoreError> {
    let tools = standard_tools(&config);
    session::prepare(config, tools, connector).await
}

/// Starts a session offering `tools` to the model.
pub async fn start_with_tools(
    config: Config,
    resume: Resume,
    tools: tern_tools::Registry,
    connector: &dyn Connector,
) -> Result<SessionHandle, CoreError> {
    let (op_tx, op_rx) = mpsc::channel(32);
    let (ev_tx, ev_rx) = mpsc::channel(256);
    let session = session::Session::open(config, resume, tools, connector, ev_tx).await?;
    let task = AbortOnDropHandle::new(tokio::spawn(session.run(op_rx)));
    Ok(SessionHandle { ops: op_tx, events: ev_rx, task })
}
