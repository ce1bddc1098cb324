//! What a session changed: the one place that turns its checkpoints into
//! diffs, for `/diff` ([`tern_protocol::Op::Diff`]) and `tern diff`.

use std::path::{Path, PathBuf};
use tern_files::FilesError;
use tern_protocol::{Event, FileChange, FileChangeKind};

/// Every file the session whose checkpoints are in `checkpoints` changed,
/// as it is now against before the session, with paths relative to
/// `workspace`. Blocking: call from `spawn_blocking`.
pub fn session_changes(checkpoints: &Path, workspace: &Path) -> Result<Vec<FileChange>, FilesError> {
    let changes = tern_files::checkpoint::session_changes(checkpoints)?;
    Ok(changes
        .iter()
        .map(|c| {
            let rel = c.path.strip_prefix(workspace).unwrap_or(&c.path).display().to_string();
            let kind = match (&c.before, &c.now) {
                (None, _) => FileChangeKind::Add,
                (_, None) => FileChangeKind::Delete,
                _ => FileChangeKind::Update,
            };
            let diff = tern_files::diff::unified(&rel, c.before.as_deref(), c.now.as_deref());
            FileChange { path: rel, kind, move_path: None, diff }
        })
        .collect())
}

/// A session's diff, computed off the runtime threads.
#[derive(Debug, Clone)]
pub(crate) struct SessionDiff {
    pub(crate) checkpoints: PathBuf,
    pub(crate) workspace: PathBuf,
}

impl SessionDiff {
    /// The answer to [`tern_protocol::Op::Diff`].
    pub(crate) async fn changes(&self) -> Event {
        let this = self.clone();
        match tokio::task::spawn_blocking(move || session_changes(&this.checkpoints, &this.workspace)).await {
            Ok(Ok(changes)) => Event::SessionDiff { changes },
            Ok(Err(e)) => Event::Warning { message: format!("reading the session's changes: {e}") },
            Err(e) => Event::Warning { message: format!("reading the session's changes: {e}") },
        }
    }
}
