//! What a session changed: the one place that turns its checkpoints into
//! diffs, for `/diff` ([`tern_protocol::Op::Diff`]) and `tern diff`, and
//! undoes them (`/undo`).

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

impl crate::session::Session {
    /// Restores the files of the last `turns` turns and tells the model.
    pub(crate) async fn undo(&mut self, turns: u32) {
        let root = crate::checkpoint_dir(&self.config.data_dir, &self.id);
        let ws = self.workspace.clone();
        let result =
            tokio::task::spawn_blocking(move || tern_files::checkpoint::undo(&root, turns.max(1) as usize, false))
                .await;
        match result {
            Ok(Ok(done)) => {
                use tern_files::checkpoint::Restored;
                let (left, back): (Vec<&Restored>, Vec<&Restored>) =
                    done.iter().partition(|r| matches!(r, Restored::NotKept(..)));
                let restored: Vec<String> = back.iter().map(|r| crate::restored_path(&ws, r)).collect();
                let left: Vec<String> = left
                    .iter()
                    .filter_map(|r| match r {
                        Restored::NotKept(_, why) => Some(format!("{} ({why})", crate::restored_path(&ws, r))),
                        _ => None,
                    })
                    .collect();
                let mut note = format!(
                    "[tern] The user undid the file changes of the last {} turn(s). These files are back as they were before: {}. \
                     Read them again before editing them.",
                    turns.max(1),
                    restored.join(", ")
                );
                if !left.is_empty() {
                    let message = format!(
                        "undo left these files as they are, their originals were not kept: {}",
                        left.join(", ")
                    );
                    note.push_str(&format!(" These keep the turn's changes: {}.", left.join(", ")));
                    self.emit(Event::Warning { message }).await;
                }
                let note = tern_llm::Message::User { content: note };
                self.history.push(note.clone());
                self.log.append(&crate::log::Record::Undo { restored: restored.clone(), note }).await;
                self.emit(Event::UndoCompleted { restored }).await;
            }
            Ok(Err(e)) => {
                tracing::warn!(session = %self.id, "undo: {e}");
                self.emit(Event::Warning { message: format!("undo: {e}") }).await
            }
            Err(e) => {
                tracing::error!(session = %self.id, "undo: {e}");
                self.emit(Event::Warning { message: format!("undo: {e}") }).await
            }
        }
    }
}
