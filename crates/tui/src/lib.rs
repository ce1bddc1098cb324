//! tern's interactive terminal UI.
//!
//! One task serves the terminal (RUNTIME rule 9): a biased `select!` over
//! terminal input, the session's events, the `@` file search and a frame
//! deadline. Input is drawn in the wake-up that read it; everything else
//! marks the screen dirty and is drawn at most 60 times a second. Nothing
//! ticks while idle: the only timer runs while a turn, a tool or the
//! session start is in progress.

pub mod app;
mod cells;
pub mod composer;
pub mod files;
mod finder;
pub mod highlight;
pub mod markdown;
pub mod picker;
mod run;
pub mod screen;
mod session;
pub mod status;
pub mod terminal;
pub mod text;
pub mod transcript;
pub mod view;

pub use run::run;
use std::path::PathBuf;
use std::sync::Arc;

/// How the UI starts.
#[derive(Clone)]
pub struct Options {
    pub load: tern_config::LoadOptions,
    /// Sent as the first message once the session is ready.
    pub prompt: Option<String>,
    pub start: Start,
    /// The program that applies the sandbox (`tern-sandbox`, else `tern`).
    pub sandbox_helper: Option<PathBuf>,
    /// Builds model clients for the sessions the UI opens.
    pub connector: Arc<dyn tern_core::Connector>,
    /// For tests of terminal restoration: panic on the first key.
    pub panic_on_key: bool,
}

/// Which session to open.
#[derive(Debug, Clone, PartialEq)]
pub enum Start {
    New,
    /// Offer a picker of this directory's past sessions.
    Pick,
    Last,
    Id(String),
}

/// Why the UI could not run.
#[derive(Debug, thiserror::Error)]
pub enum TuiError {
    #[error("{0}")]
    Config(#[from] tern_config::ConfigError),
    #[error("the interactive UI needs a terminal on stdin and stdout; use `tern exec` for scripts")]
    NotATerminal,
    #[error("terminal: {0}")]
    Terminal(#[from] std::io::Error),
    #[error("internal error: {0}")]
    Internal(#[from] tokio::task::JoinError),
}

/// How the UI ended.
#[derive(Debug, Default)]
pub struct Exit {
    /// The session that was open, to resume later.
    pub session_id: Option<String>,
}
